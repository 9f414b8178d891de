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

/// What decides a request's shard: its index, or — for multi-turn conversations, whose rounds
/// must run in order on one worker — the user it belongs to (request `i` is a round of user
/// `i mod users`). Either way the shard of a request depends on the plan alone, never on how
/// many shards there are for anything but the modulus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    Request,
    User { users: u64 },
}

impl Routing {
    fn key(self, i: u64) -> u64 {
        match self {
            Routing::Request => i,
            Routing::User { users } => i % users,
        }
    }

    pub fn contains(self, shard: Shard, i: u64) -> bool {
        shard.contains(self.key(i))
    }

    /// How many of the requests `0..total` `shard` holds.
    pub fn len_of(self, shard: Shard, total: u64) -> u64 {
        match self {
            Routing::Request => shard.len_of(total),
            Routing::User { users } => {
                (total / users) * shard.len_of(users) + shard.len_of(total % users)
            }
        }
    }

    /// The `j`-th request (from 0) that `shard` holds.
    pub fn nth(self, shard: Shard, j: u64) -> u64 {
        match self {
            Routing::Request => shard.index + j * shard.count,
            Routing::User { users } => {
                // Each cycle of `users` requests holds the same `per_cycle` users.
                let per_cycle = shard.len_of(users).max(1);
                (j / per_cycle) * users + shard.index + (j % per_cycle) * shard.count
            }
        }
    }

    /// The requests among `0..total` that `shard` holds, in order.
    pub fn indices(self, shard: Shard, total: u64) -> Box<dyn Iterator<Item = u64> + Send> {
        match self {
            Routing::Request => Box::new(shard.indices(total)),
            Routing::User { .. } => Box::new((0..total).filter(move |&i| self.contains(shard, i))),
        }
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
    fn user_routing_keeps_each_user_on_one_shard_and_partitions_requests() {
        let routing = Routing::User { users: 7 };
        let total = 45;
        let mut seen = vec![0u32; total as usize];
        for pod in 0..2 {
            for worker in 0..3 {
                let shard = Shard::new(2, pod).split(3, worker);
                let mine: Vec<u64> = routing.indices(shard, total).collect();
                assert_eq!(mine.len() as u64, routing.len_of(shard, total));
                for (j, &i) in mine.iter().enumerate() {
                    assert_eq!(routing.nth(shard, j as u64), i);
                    seen[i as usize] += 1;
                    // The user's next round is here too.
                    assert!(i + 7 >= total || mine.contains(&(i + 7)));
                }
            }
        }
        assert!(seen.iter().all(|&n| n == 1));
        assert_eq!(Routing::Request.nth(Shard::new(4, 1), 2), 9);
    }

    #[test]
    fn even_split_matches_inference_perf() {
        assert_eq!(even_split(10, 4), vec![3, 3, 2, 2]);
        assert_eq!(even_split(3, 4), vec![1, 1, 1, 0]);
        assert_eq!(even_split(8, 4), vec![2, 2, 2, 2]);
    }
}
