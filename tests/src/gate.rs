//! Gates that test handlers wait at until the test opens them, by name: a handler that
//! blocks for as long as the test wants, and no longer than a bound, so that a failing
//! test still ends and no server thread stays blocked.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long a handler waits at a gate the test never opens, unless [`Gates::bounded`]
/// says otherwise.
pub const GATE_BOUND: Duration = Duration::from_secs(20);

/// Named gates, all closed at first; an opened gate stays open.
#[derive(Debug)]
pub struct Gates {
    open: Mutex<Vec<String>>,
    opened: Condvar,
    /// Handlers waiting at a gate now.
    waiting: AtomicUsize,
    bound: Duration,
}

impl Default for Gates {
    fn default() -> Self {
        Gates::bounded(GATE_BOUND)
    }
}

impl Gates {
    /// Gates whose waits end after `bound` even if the test never opens them.
    pub fn bounded(bound: Duration) -> Gates {
        Gates {
            open: Mutex::new(Vec::new()),
            opened: Condvar::new(),
            waiting: AtomicUsize::new(0),
            bound,
        }
    }

    /// Wait until gate `name` is open, at most the bound.
    pub fn wait(&self, name: &str) {
        self.waiting.fetch_add(1, SeqCst);
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .opened
            .wait_timeout_while(open, self.bound, |open| !open.iter().any(|g| g == name))
            .unwrap_or_else(|e| e.into_inner());
        self.waiting.fetch_sub(1, SeqCst);
    }

    /// Open gate `name`: whoever waits there goes on, and later waits pass at once.
    pub fn open(&self, name: &str) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.push(name.to_string());
        self.opened.notify_all();
    }

    /// How many handlers wait at a gate now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(SeqCst)
    }
}

/// Opens the gates it names when dropped (also when the test panics), so no server
/// thread stays blocked past the test.
#[derive(Debug)]
pub struct OpenOnDrop(pub Arc<Gates>, pub Vec<&'static str>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        for g in &self.1 {
            self.0.open(g);
        }
    }
}
