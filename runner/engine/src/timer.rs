//! Sub-millisecond sleeps. Tokio's timer wheel has millisecond granularity, which alone would
//! make the median schedule delay ~0.5 ms; a `timerfd` armed at an absolute CLOCK_MONOTONIC
//! deadline and awaited through the reactor wakes within tens of microseconds, without spinning.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use nix::time::{ClockId as TimeClockId, clock_gettime};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Deadlines closer than this are not worth a syscall round trip.
const MIN_SLEEP: Duration = Duration::from_micros(5);

pub struct PreciseTimer {
    fd: AsyncFd<Fd>,
    /// The same moment as an `Instant` and as a CLOCK_MONOTONIC reading.
    anchor: (Instant, Duration),
}

impl PreciseTimer {
    /// Must be created inside a Tokio runtime, on the thread that will use it. Also asks the
    /// kernel for 1 ns timer slack on that thread, since the default 50 µs slack would be added
    /// to every wake-up.
    pub fn new() -> io::Result<Self> {
        let _ = nix::sys::prctl::set_timerslack(1);
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // Instant first: the CLOCK_MONOTONIC reading is then the later one, so deadlines
        // translated through the anchor are never early.
        let instant = Instant::now();
        let monotonic = clock_gettime(TimeClockId::CLOCK_MONOTONIC)?;
        let anchor = (instant, Duration::from(monotonic));
        // SAFETY: `Fd` owns the timer, so the descriptor stays open and the same for as long as
        // the `AsyncFd` holds it.
        let fd = unsafe { AsyncFd::register_with_interest(Fd(timer), Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(PreciseTimer { fd, anchor })
    }

    pub async fn sleep_until(&self, deadline: Instant) -> io::Result<()> {
        if Instant::now() + MIN_SLEEP > deadline {
            return Ok(());
        }
        let at = self.anchor.1 + deadline.saturating_duration_since(self.anchor.0);
        // The expiration count is never read: arming resets it, and the reactor registers
        // descriptors edge-triggered, so every expiration is a new event. That saves a `read`
        // per sleep. Readiness left over from an abandoned sleep (its future dropped) is told
        // apart by the clock, and the timer is armed again so that a wake-up is still due.
        loop {
            self.fd.get_ref().0.set(
                Expiration::OneShot(TimeSpec::from_duration(at)),
                TimerSetTimeFlags::TFD_TIMER_ABSTIME,
            )?;
            let mut ready = self.fd.readable().await?;
            ready.clear_ready();
            if Instant::now() + MIN_SLEEP > deadline {
                return Ok(());
            }
        }
    }
}

/// `AsyncFd` wants `AsRawFd`, which nix's `TimerFd` does not implement.
struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_after_the_deadline_and_close_to_it() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let timer = PreciseTimer::new().unwrap();
            let mut lateness = Vec::new();
            for i in 0..50u64 {
                let deadline = Instant::now() + Duration::from_micros(300 + i * 37);
                timer.sleep_until(deadline).await.unwrap();
                let now = Instant::now();
                assert!(now >= deadline);
                lateness.push(now - deadline);
            }
            lateness.sort();
            // Median well below tokio's 1 ms granularity even on a busy machine.
            assert!(
                lateness[25] < Duration::from_micros(500),
                "median lateness {:?}",
                lateness[25]
            );
            timer
                .sleep_until(Instant::now() - Duration::from_millis(1))
                .await
                .unwrap();

            // A sleep abandoned after arming leaves an expiration behind; the next sleep must
            // still wait for its own deadline.
            {
                let abandoned = timer.sleep_until(Instant::now() + Duration::from_micros(100));
                let mut abandoned = std::pin::pin!(abandoned);
                assert!(futures::poll!(abandoned.as_mut()).is_pending());
            }
            std::thread::sleep(Duration::from_millis(2));
            let deadline = Instant::now() + Duration::from_millis(3);
            timer.sleep_until(deadline).await.unwrap();
            assert!(
                Instant::now() >= deadline,
                "woken by the abandoned sleep's expiration"
            );
        });
    }
}
