//! CPU priority of worker threads. A worker sleeps until a request's send time; on a busy
//! machine the kernel may let it wait for the next scheduler tick (4 ms at HZ=250) before it
//! runs, which shows up as schedule delay. A higher priority shortens that wait; real-time
//! scheduling removes it.

use std::io;

use nix::libc;

/// Nice value of workers; lowered only with CAP_SYS_NICE, otherwise left as it is.
const WORKER_NICE: libc::c_int = -10;

/// Applies the worker priority to the calling thread. `realtime` (SCHED_RR, priority 1) is an
/// explicit request and fails loudly without the privilege; the nice value is best effort.
pub fn apply_to_current_thread(realtime: bool) -> io::Result<()> {
    if realtime {
        let param = libc::sched_param { sched_priority: 1 };
        // SAFETY: `param` outlives the call; thread 0 is the calling thread.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &param) } != 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("real-time worker priority needs CAP_SYS_NICE: {e}"),
            ));
        }
        return Ok(());
    }
    // SAFETY: plain syscall about the calling thread; no memory is passed.
    if unsafe {
        libc::setpriority(
            libc::PRIO_PROCESS,
            libc::gettid() as libc::id_t,
            WORKER_NICE,
        )
    } != 0
    {
        tracing::debug!(
            "worker keeps its CPU priority: {}",
            io::Error::last_os_error()
        );
    }
    Ok(())
}
