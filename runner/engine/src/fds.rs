//! The file descriptors a run needs, known before it starts: each worker's connections and its
//! event loop's own descriptors. A run past the process's limit (`num_workers: 10000`) failed
//! mid-start, after connections were open, and wrote no report.

/// Descriptors of the process besides the workers' (standard streams, the main event loop,
/// report files, resolver sockets, the simulator or bucket clients of a test), with room.
const BASE: u64 = 64;
/// A worker's event loop (epoll, its wake-up eventfd) and its timerfd.
const PER_WORKER: u64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdNeed {
    pub workers: u64,
    /// Connections per worker at most.
    pub connections: u64,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "the run needs {need} file descriptors ({} workers × ({} connections + {PER_WORKER}) + \
     {BASE}), but this process may open {hard} (RLIMIT_NOFILE, `ulimit -n`, now {soft}); lower \
     load.num_workers, load.worker_max_concurrency or load.worker_max_tcp_connections, or raise \
     the limit",
    .need_of.workers, .need_of.connections
)]
pub struct FdError {
    pub need: u64,
    pub need_of: FdNeed,
    pub soft: u64,
    pub hard: u64,
}

impl FdNeed {
    pub fn total(&self) -> u64 {
        self.workers
            .saturating_mul(self.connections.saturating_add(PER_WORKER))
            .saturating_add(BASE)
    }

    /// Refuses a need the process cannot meet even with its soft limit raised.
    pub fn check(&self) -> Result<(), FdError> {
        self.within(limits())
    }

    fn within(&self, (soft, hard): (u64, u64)) -> Result<(), FdError> {
        if self.total() > hard {
            return Err(FdError {
                need: self.total(),
                need_of: *self,
                soft,
                hard,
            });
        }
        Ok(())
    }

    /// Raises the soft limit to the need (within the hard limit), as the run is about to open
    /// the descriptors.
    pub fn reserve(&self) -> Result<(), FdError> {
        self.check()?;
        let (soft, hard) = limits();
        if self.total() > soft {
            let raised = libc::rlimit {
                rlim_cur: self.total(),
                rlim_max: hard,
            };
            // SAFETY: setrlimit reads the struct it is given.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
                return Err(FdError {
                    need: self.total(),
                    need_of: *self,
                    soft,
                    hard: soft,
                });
            }
        }
        Ok(())
    }
}

/// The soft and hard `RLIMIT_NOFILE`.
fn limits() -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return (u64::MAX, u64::MAX);
    }
    (limit.rlim_cur, limit.rlim_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_workers_need_more_than_the_limit_and_say_how_many() {
        let need = FdNeed {
            workers: 10_000,
            connections: 100,
        };
        assert_eq!(need.total(), 10_000 * 103 + 64);
        let e = need.within((1024, 524_288)).unwrap_err().to_string();
        assert!(
            e.contains(
                "needs 1030064 file descriptors (10000 workers × (100 connections + 3) + 64)"
            ) && e.contains("may open 524288 (RLIMIT_NOFILE, `ulimit -n`, now 1024)"),
            "{e}"
        );
        need.within((1024, 2_000_000)).unwrap();
        let small = FdNeed {
            workers: 1,
            connections: 1,
        };
        small.reserve().unwrap();
    }
}
