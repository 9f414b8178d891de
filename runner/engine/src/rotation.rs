//! The reuse order of the worker's interchangeable resources (connections, open-loop lanes):
//! mostly the one idle last, whose memory is still in the CPU's caches; every
//! [`ROTATE_EVERY`]th time the one idle longest, so that every one of them is in use early and
//! stays in use. Left idle until a burst first needs them, they would grow a run's memory with
//! its length (its worst burst), and a server would close idle connections.

/// One pick in this many takes the one idle longest.
const ROTATE_EVERY: u64 = 16;

#[derive(Debug, Default)]
pub struct Rotation {
    picks: u64,
}

impl Rotation {
    /// Whether this pick should take the one idle longest rather than the one idle last.
    pub fn oldest_next(&mut self) -> bool {
        self.picks += 1;
        self.picks.is_multiple_of(ROTATE_EVERY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pick_in_sixteen_takes_the_oldest() {
        let mut rotation = Rotation::default();
        let oldest: Vec<u64> = (1..=64).filter(|_| rotation.oldest_next()).collect();
        assert_eq!(oldest, vec![16, 32, 48, 64]);
    }
}
