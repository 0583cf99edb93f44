//! CPU-heavy work (re-encoding a GIF, hashing a password) on a thread of its own at a lower priority than the
//! rest of the server. While people's requests want the CPU they get it first, and the heavy work takes what is
//! left: a flood of uploads or password attempts (each admitted within its limits) slows the uploads and the
//! password checks, not everyone's messages. On an idle machine it runs as fast as before.

use crate::error::{ServerError, ServerResult};

/// How much lower than the server's its priority is (nice values: 10 weighs about a tenth of 0 for the kernel's
/// scheduler).
const LOWER_BY: i32 = 10;

/// Runs `work` on a new thread of lower priority and waits for it. A panic in `work` is the caller's.
pub async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> ServerResult<T> {
    let (done, outcome) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("gif-chat-heavy".into())
        .spawn(move || {
            lower_this_threads_priority();
            let _ = done.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
        })
        .map_err(|source| ServerError::Io { context: "starting a thread for heavy work", source })?;
    match outcome.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => Err(ServerError::Io {
            context: "heavy work",
            source: std::io::Error::other("its thread ended without an answer"),
        }),
    }
}

/// On Linux a thread's nice value is its own (not the process's, as POSIX would have it), so this lowers the
/// calling thread alone. Raising it back would need privileges: the thread ends with its one piece of work.
fn lower_this_threads_priority() {
    use rustix::process::{getpriority_process, setpriority_process};
    let lowered = getpriority_process(None).and_then(|current| setpriority_process(None, (current + LOWER_BY).min(19)));
    if let Err(error) = lowered {
        tracing::debug!(%error, "could not lower a heavy thread's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn this_threads_priority() -> i32 {
        rustix::process::getpriority_process(None).unwrap()
    }

    #[tokio::test]
    async fn the_work_runs_at_a_lower_priority_and_the_callers_thread_keeps_its_own() {
        let before = this_threads_priority();
        let inside = run(this_threads_priority).await.unwrap();
        assert_eq!(inside, (before + LOWER_BY).min(19));
        assert_eq!(this_threads_priority(), before);
        // And the next piece of work starts from the server's priority again, not lower still.
        assert_eq!(run(this_threads_priority).await.unwrap(), inside);
    }

    #[tokio::test]
    #[should_panic(expected = "heavy and broken")]
    async fn a_panic_in_the_work_is_the_callers() {
        let _ = run(|| panic!("heavy and broken")).await;
    }
}
