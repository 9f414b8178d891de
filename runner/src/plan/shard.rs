//! Splitting one global plan between runner pods and their workers: request `i` belongs to
//! shard `i mod count`. A pod's shard split again between its workers is still of that form,
//! so the same arithmetic serves both levels.

/// Requests `i` with `i % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub count: u64,
    pub index: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { count: 1, index: 0 };

    pub fn new(count: u64, index: u64) -> Self {
        assert!(count > 0 && index < count, "shard {index} of {count}");
        Shard { count, index }
    }

    pub fn contains(self, i: u64) -> bool {
        i % self.count == self.index
    }

    /// Part `part` of `parts` of this shard: its requests are the `part`-th of every `parts`
    /// requests that this shard holds.
    pub fn split(self, parts: u64, part: u64) -> Shard {
        Shard::new(self.count * parts, self.index + self.count * part)
    }

    /// How many of the requests `0..total` this shard holds.
    pub fn len_of(self, total: u64) -> u64 {
        if total > self.index {
            (total - self.index).div_ceil(self.count)
        } else {
            0
        }
    }

    /// The shard's requests among `0..total`, in order.
    pub fn indices(self, total: u64) -> impl Iterator<Item = u64> {
        (self.index..total).step_by(self.count as usize)
    }
}

/// Divides `total` as evenly as possible into `parts`, earlier parts getting the remainder:
/// 10 over 4 → [3, 3, 2, 2].
pub fn even_split(total: u64, parts: u64) -> Vec<u64> {
    (0..parts)
        .map(|i| total / parts + u64::from(i < total % parts))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_partition_the_requests() {
        let pods = 3;
        let workers = 4;
        let mut seen = vec![0u32; 1000];
        for pod in 0..pods {
            for worker in 0..workers {
                let shard = Shard::new(pods, pod).split(workers, worker);
                assert_eq!(shard.len_of(1000), shard.indices(1000).count() as u64);
                for i in shard.indices(1000) {
                    assert!(shard.contains(i) && Shard::new(pods, pod).contains(i));
                    seen[i as usize] += 1;
                }
            }
        }
        assert!(seen.iter().all(|&n| n == 1));
    }

    #[test]
    fn even_split_matches_inference_perf() {
        assert_eq!(even_split(10, 4), vec![3, 3, 2, 2]);
        assert_eq!(even_split(3, 4), vec![1, 1, 1, 0]);
        assert_eq!(even_split(8, 4), vec![2, 2, 2, 2]);
    }
}
