//! How many threads may wait on a peer at once.
//!
//! A handler only waits for a client in two cases, both beyond the loop's buffers: a
//! request larger than `max_request_buffer` (the handler reads its rest) and a response
//! larger than `max_output_buffer` (the handler streams it). Each such wait is a thread
//! held by a client, so the server caps them, per kind of thread:
//!
//! - **Workers**: at most `workers - 1` wait at the same moment, so at least one worker
//!   always stays for requests that are fully buffered.
//! - **Runners** (the threads that run loops and serve on them with adaptive dispatch,
//!   [`crate::runner`]): at most `spares - 1`, so at least one spare always stays to take
//!   over a loop whose handler blocks on something else. A runner waiting on its peer
//!   past the takeover threshold costs a spare (the loop moves on without it); without
//!   the cap, clients that never read a streamed response could hold every spare, and the
//!   next handler that blocked would stall its loop.
//!
//! A wait beyond the cap is refused at once (the handler's read or write fails, its
//! connection closes, and `Stats::shed_connections` counts each refused wait). With a
//! single worker (or spare) one wait is allowed (refusing every large request would break
//! handlers that worked there), so the guarantee holds from two up. A handler that keeps
//! [`Handler::frame`](net::Handler::frame)'s default (a request is "complete" at its
//! first byte) reads the rest of a request that arrives in pieces on its worker, which
//! is such a wait: implement `frame`.
//!
//! The permit is taken around each `poll(2)` wait, not for the whole request: what is
//! bounded is workers blocked on peers at any moment; a streaming handler that is
//! computing holds none. Worker threads find their server's permits in a thread-local
//! set when they start ([`enter`]); any other thread waits without a permit.

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use crate::shared::Shared;

/// The count of threads of one kind waiting on a peer now, and its cap.
#[derive(Debug)]
pub(crate) struct PeerWaits {
    waiting: AtomicUsize,
    cap: usize,
}

impl PeerWaits {
    /// Permits for a pool of `threads`: `threads - 1` may wait at once, and one with a
    /// single thread (the default on a one-core machine, where refusing every large
    /// request would break handlers that worked; the guarantee needs two).
    pub(crate) fn new(threads: usize) -> PeerWaits {
        PeerWaits {
            waiting: AtomicUsize::new(0),
            cap: threads.saturating_sub(1).max(1),
        }
    }

    /// Take a permit if one is free.
    fn try_take(&self) -> bool {
        self.waiting
            .fetch_update(Relaxed, Relaxed, |n| (n < self.cap).then_some(n + 1))
            .is_ok()
    }

    fn give_back(&self) {
        self.waiting.fetch_sub(1, Relaxed);
    }

    /// Workers waiting on a peer now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiting.load(Relaxed)
    }
}

/// The kinds of server threads that run handlers, each with its own permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A worker: `workers - 1` may wait on peers.
    Worker,
    /// A runner (loop thread or spare): `spares - 1` may wait on peers.
    Runner,
}

thread_local! {
    /// The server, and the role in it, of the thread (none on other threads).
    static SERVER: RefCell<Option<(Arc<Shared>, Role)>> = const { RefCell::new(None) };
}

/// Make the current thread one of `shared`'s threads in `role`: its waits on peers need
/// permits.
pub(crate) fn enter(shared: Arc<Shared>, role: Role) {
    SERVER.with(|s| *s.borrow_mut() = Some((shared, role)));
}

/// Run `wait` (a wait on a peer) under a permit of this thread's server and role:
/// refused with an error, and counted, when as many threads of its kind as may wait
/// already.
pub(crate) fn with_permit(wait: impl FnOnce() -> io::Result<bool>) -> io::Result<bool> {
    let server = SERVER.with(|s| s.borrow().clone());
    let Some((shared, role)) = server else {
        return wait();
    };
    let permits = match role {
        Role::Worker => &shared.peer_waits,
        Role::Runner => &shared.runner_waits,
    };
    run_with(permits, wait).inspect_err(|e| {
        if is_refusal(e) {
            shared.counters.shed();
        }
    })
}

/// The error of a refused wait.
const REFUSED: &str = "no thread may wait on this peer now: the others wait already";

fn is_refusal(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Other && e.to_string() == REFUSED
}

/// `wait` under a permit of `permits`, given back however `wait` ends.
fn run_with(permits: &PeerWaits, wait: impl FnOnce() -> io::Result<bool>) -> io::Result<bool> {
    struct Permit<'a>(&'a PeerWaits);
    impl Drop for Permit<'_> {
        fn drop(&mut self) {
            self.0.give_back();
        }
    }
    if !permits.try_take() {
        return Err(io::Error::other(REFUSED));
    }
    let _permit = Permit(permits);
    wait()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_workers_minus_one_wait_at_once() {
        let permits = PeerWaits::new(3);
        let inner = run_with(&permits, || {
            assert_eq!(permits.waiting(), 1);
            let second = run_with(&permits, || {
                assert_eq!(permits.waiting(), 2);
                // A third would leave no worker for buffered requests.
                let third = run_with(&permits, || Ok(true));
                assert!(is_refusal(&third.unwrap_err()));
                Ok(true)
            });
            assert!(second.unwrap());
            Ok(false)
        });
        assert!(!inner.unwrap());
        assert_eq!(permits.waiting(), 0, "every permit given back");
    }

    #[test]
    fn a_lone_worker_may_wait_once_and_errors_give_permits_back() {
        let lone = PeerWaits::new(1);
        let nested = run_with(&lone, || {
            assert!(is_refusal(&run_with(&lone, || Ok(true)).unwrap_err()));
            Ok(true)
        });
        assert!(nested.unwrap());
        let two = PeerWaits::new(2);
        let failed = run_with(&two, || Err(io::ErrorKind::BrokenPipe.into()));
        assert_eq!(failed.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert!(!is_refusal(&io::Error::other("something else")));
        assert_eq!(two.waiting(), 0);
        assert!(run_with(&two, || Ok(true)).unwrap());
    }

    #[test]
    fn threads_without_a_server_wait_freely() {
        assert!(with_permit(|| Ok(true)).unwrap());
    }
}
