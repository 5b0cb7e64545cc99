//! A run's progress while it runs: counters the client threads update ([`Progress`]),
//! and a live line on stderr that shows them ([`show_progress`]).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::config::{Config, Stop};

/// A client thread adds its counts to [`Progress`] once it has this many new ones…
pub(crate) const PUBLISH_BATCH: u64 = 64;

/// …or once this long has passed since it last added (if it has new ones).
pub(crate) const PUBLISH_INTERVAL: Duration = Duration::from_millis(50);

/// [`show_progress`] draws only for runs whose time limit is longer than this.
pub const PROGRESS_MIN_TIME_LIMIT: Duration = Duration::from_secs(3);

/// How often the progress line is redrawn.
const TICK: Duration = Duration::from_millis(200);

/// The line: `[elapsed/limit] bar counts`.
const TEMPLATE: &str = "{prefix} {bar:24} {msg}";

/// The request rate shown is measured over about this long.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// The live counts of a run: responses answered right and errors, counted as the
/// [`Report`](super::Report) counts them (after the warm-up only).
///
/// [`run_with`](super::run_with) adds to them as it goes, never taking a lock: each
/// client thread adds its new counts once it has 64 of them, or 50 ms after it last did
/// (so what another thread reads lags by about that much), and the rest when it stops. After the run, [`answered`](Self::answered)
/// and [`errors`](Self::errors) equal the report's `requests` and `errors_total`.
///
/// A `Progress` is a handle: its clones share the counters, so a watcher on another thread
/// can keep one. The counters are never reset: a `Progress` given to several runs totals
/// them.
///
/// ```
/// use std::time::Duration;
/// use net::Server as _;
/// use examples::loadgen::{self, Config, Progress, Proto, Stop};
///
/// let mut server = examples::Server::serve(
///     "127.0.0.1:0",
///     examples::http::HttpHandler::new(),
///     net::ServerParams::default(),
/// )?;
/// let mut config = Config::new(server.local_addr(), Proto::Http, Stop::Requests(30));
/// config.warmup = Duration::ZERO;
/// let progress = Progress::new();
/// let report = loadgen::run_with(&config, &progress)?;
/// assert_eq!((progress.answered(), progress.errors()), (30, 0));
/// assert_eq!(progress.answered(), report.requests);
/// server.shutdown(Duration::from_secs(1))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Progress {
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    answered: AtomicU64,
    errors: AtomicU64,
    /// When the run's clock started: the warm-up's first instant.
    started: OnceLock<Instant>,
}

impl Progress {
    /// Counters at zero.
    pub fn new() -> Progress {
        Progress::default()
    }

    /// Responses answered right so far (the report's `requests`).
    pub fn answered(&self) -> u64 {
        self.counts.answered.load(Ordering::Relaxed)
    }

    /// Errors so far, of every kind (the report's `errors_total`).
    pub fn errors(&self) -> u64 {
        self.counts.errors.load(Ordering::Relaxed)
    }

    /// When the run's clock started (the warm-up's first instant; the measured time
    /// follows the warm-up), once it has: background populations are opened before it.
    pub fn clock_started(&self) -> Option<Instant> {
        self.counts.started.get().copied()
    }

    /// Record when the run's clock started (the first call wins).
    pub(crate) fn start_clock(&self, at: Instant) {
        let _ = self.counts.started.set(at);
    }

    /// Add a thread's new counts.
    pub(crate) fn add(&self, answered: u64, errors: u64) {
        if answered > 0 {
            self.counts.answered.fetch_add(answered, Ordering::Relaxed);
        }
        if errors > 0 {
            self.counts.errors.fetch_add(errors, Ordering::Relaxed);
        }
    }
}

/// What one client thread has counted and how much of it [`Progress`] has.
#[derive(Debug)]
pub(crate) struct Publisher<'a> {
    progress: &'a Progress,
    answered: u64,
    errors: u64,
    next: Instant,
}

impl<'a> Publisher<'a> {
    pub(crate) fn new(progress: &'a Progress, now: Instant) -> Self {
        Publisher {
            progress,
            answered: 0,
            errors: 0,
            next: now + PUBLISH_INTERVAL,
        }
    }

    /// Given the thread's totals so far, add what is new to the shared counters if
    /// there is a batch of it, if it is time, or if `last`.
    pub(crate) fn publish(&mut self, answered: u64, errors: u64, now: Instant, last: bool) {
        let new_answered = answered.saturating_sub(self.answered);
        let new_errors = errors.saturating_sub(self.errors);
        let new = new_answered.saturating_add(new_errors);
        if new == 0 || !(last || new >= PUBLISH_BATCH || now >= self.next) {
            return;
        }
        self.progress.add(new_answered, new_errors);
        self.answered = answered;
        self.errors = errors;
        self.next = now + PUBLISH_INTERVAL;
    }
}

/// The live progress line of a run, from [`show_progress`] or [`show_progress_on`].
/// Dropping it stops its thread (waiting for it) and clears the line.
#[derive(Debug)]
pub struct ProgressLine {
    drawing: Option<Drawing>,
}

#[derive(Debug)]
struct Drawing {
    /// Dropped to stop the thread.
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
    bar: ProgressBar,
}

impl ProgressLine {
    /// A line that draws nothing and has no thread.
    pub fn inactive() -> ProgressLine {
        ProgressLine { drawing: None }
    }

    /// Whether a thread is updating the line (even when its target hides it, as stderr
    /// does when it is not a terminal).
    pub fn is_active(&self) -> bool {
        self.drawing.is_some()
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        if let Some(Drawing { stop, thread, bar }) = self.drawing.take() {
            drop(stop);
            // The thread only formats and draws; should it panic, the run still ends.
            let _ = thread.join();
            bar.finish_and_clear();
        }
    }
}

/// Show the progress of the run `config` describes, counted in `progress`, on stderr:
/// [`show_progress_on`] with [`ProgressDrawTarget::stderr`], which draws nothing when
/// stderr is not a terminal.
///
/// Call it just before [`run_with`](super::run_with) (the line's clock starts here) and
/// drop the line when the run returns:
///
/// ```no_run
/// use examples::loadgen::{self, Config, Progress, Proto, Stop};
/// # fn main() -> std::io::Result<()> {
/// let config = Config::new("127.0.0.1:8080".parse().unwrap(), Proto::Http,
///     Stop::Duration(std::time::Duration::from_secs(10)));
/// let progress = Progress::new();
/// let line = loadgen::show_progress(&config, &progress);
/// let report = loadgen::run_with(&config, &progress)?;
/// drop(line); // the line is cleared before the report is printed
/// print!("{}", report.summary());
/// # Ok(())
/// # }
/// ```
pub fn show_progress(config: &Config, progress: &Progress) -> ProgressLine {
    show_progress_on(config, progress, ProgressDrawTarget::stderr())
}

/// Show the progress of the run `config` describes, counted in `progress`, on `target`:
/// when the run's [time limit](Config::time_limit) is longer than
/// [`PROGRESS_MIN_TIME_LIMIT`], a thread redraws a line like
///
/// ```text
/// [  4.2s/11.0s] ██████████░░░░░░░░░░░░░░ 12,345 ok  98.2k req/s  0 errors
/// ```
///
/// five times a second: the time since this call and the time limit, a bar of the time
/// limit (of the requests for [`Stop::Requests`], with only the time since this call in
/// brackets), the responses answered right, the rate over about the last second, and the
/// errors ("warming up" during the warm-up). For a shorter run, or if the thread cannot be
/// started, the line is [inactive](ProgressLine::is_active) and draws nothing.
///
/// ```
/// use std::time::Duration;
/// use indicatif::ProgressDrawTarget;
/// use examples::loadgen::{show_progress_on, Config, Progress, Proto, Stop};
///
/// let addr = "127.0.0.1:8080".parse().unwrap();
/// let progress = Progress::new();
/// let long = Config::new(addr, Proto::Http, Stop::Duration(Duration::from_secs(10)));
/// let line = show_progress_on(&long, &progress, ProgressDrawTarget::hidden());
/// assert!(line.is_active());
/// drop(line); // stops the thread
/// let short = Config::new(addr, Proto::Http, Stop::Duration(Duration::from_secs(1)));
/// assert!(!show_progress_on(&short, &progress, ProgressDrawTarget::hidden()).is_active());
/// ```
pub fn show_progress_on(
    config: &Config,
    progress: &Progress,
    target: ProgressDrawTarget,
) -> ProgressLine {
    let limit = config.time_limit();
    if limit <= PROGRESS_MIN_TIME_LIMIT {
        return ProgressLine::inactive();
    }
    let view = View {
        start: Instant::now(),
        limit,
        warmup: config.warmup,
        requests: match config.stop {
            Stop::Requests(n) => Some(n),
            Stop::Duration(_) => None,
        },
    };
    let len = view.requests.unwrap_or_else(|| millis(limit));
    let bar = ProgressBar::with_draw_target(Some(len), target);
    if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
        bar.set_style(style.progress_chars("█░"));
    }
    let (stop, stopped) = mpsc::channel::<()>();
    let (progress, drawn) = (progress.clone(), bar.clone());
    let thread = std::thread::Builder::new()
        .name("loadgen-progress".to_owned())
        .spawn(move || view.run(&drawn, &progress, &stopped));
    match thread {
        Ok(thread) => ProgressLine {
            drawing: Some(Drawing { stop, thread, bar }),
        },
        Err(_) => ProgressLine::inactive(),
    }
}

/// What the line shows, and the clock it shows it by.
#[derive(Debug, Clone, Copy)]
struct View {
    start: Instant,
    limit: Duration,
    warmup: Duration,
    /// `Some(n)` for [`Stop::Requests`]: the bar counts requests.
    requests: Option<u64>,
}

impl View {
    /// Redraw every [`TICK`] until `stopped` disconnects.
    fn run(&self, bar: &ProgressBar, progress: &Progress, stopped: &mpsc::Receiver<()>) {
        let mut samples = VecDeque::new();
        loop {
            let now = Instant::now();
            let (answered, errors) = (progress.answered(), progress.errors());
            samples.push_back((now, answered));
            while samples.len() > 2 && samples[1].0 + RATE_WINDOW <= now {
                samples.pop_front();
            }
            let rate = match samples.front() {
                Some(&(then, before)) if now > then => {
                    answered.saturating_sub(before) as f64 / (now - then).as_secs_f64()
                }
                _ => 0.0,
            };
            let elapsed = now - self.start;
            let (position, prefix) = match self.requests {
                Some(n) => (
                    answered.saturating_add(errors).min(n),
                    format!("[{:>5.1}s]", elapsed.as_secs_f64()),
                ),
                None => (
                    millis(elapsed.min(self.limit)),
                    format!(
                        "[{:>5.1}s/{:.1}s]",
                        elapsed.as_secs_f64(),
                        self.limit.as_secs_f64()
                    ),
                ),
            };
            bar.set_prefix(prefix);
            bar.set_position(position);
            bar.set_message(if elapsed < self.warmup && answered == 0 && errors == 0 {
                "warming up".to_owned()
            } else {
                counts(answered, rate, errors)
            });
            match stopped.recv_timeout(TICK) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

/// `12,345 ok  98.2k req/s  0 errors`.
fn counts(answered: u64, rate: f64, errors: u64) -> String {
    let mut out = String::new();
    let _ = write!(out, "{} ok  ", HumanCount(answered));
    let _ = if rate >= 999_950.0 {
        write!(out, "{:.2}M", rate / 1e6)
    } else if rate >= 999.95 {
        write!(out, "{:.1}k", rate / 1e3)
    } else {
        write!(out, "{rate:.0}")
    };
    let _ = write!(out, " req/s  {} errors", HumanCount(errors));
    out
}

/// Whole milliseconds of `d`, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_valid() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }

    #[test]
    fn counts_read_well() {
        assert_eq!(counts(0, 0.0, 0), "0 ok  0 req/s  0 errors");
        assert_eq!(
            counts(12_345, 98_210.0, 3),
            "12,345 ok  98.2k req/s  3 errors"
        );
        assert_eq!(counts(7, 999.4, 1_000), "7 ok  999 req/s  1,000 errors");
        assert_eq!(counts(7, 999.96, 0), "7 ok  1.0k req/s  0 errors");
        assert_eq!(counts(7, 1_234_567.0, 0), "7 ok  1.23M req/s  0 errors");
    }

    #[test]
    fn publisher_adds_in_batches_and_at_the_end() {
        let progress = Progress::new();
        let t0 = Instant::now();
        let mut p = Publisher::new(&progress, t0);
        p.publish(10, 1, t0, false);
        assert_eq!((progress.answered(), progress.errors()), (0, 0));
        p.publish(60, 4, t0, false);
        assert_eq!((progress.answered(), progress.errors()), (60, 4));
        p.publish(61, 4, t0, false);
        assert_eq!(progress.answered(), 60);
        p.publish(62, 4, t0 + PUBLISH_INTERVAL, false);
        assert_eq!(progress.answered(), 62);
        p.publish(63, 5, t0 + PUBLISH_INTERVAL, true);
        assert_eq!((progress.answered(), progress.errors()), (63, 5));
        // A clone shares the counters.
        let watcher = progress.clone();
        progress.add(1, 1);
        assert_eq!((watcher.answered(), watcher.errors()), (64, 6));
    }

    fn line_for(stop: Stop, warmup: Duration, progress: &Progress) -> ProgressLine {
        let mut config = Config::new(
            "127.0.0.1:1".parse().unwrap(),
            super::super::Proto::Http,
            stop,
        );
        config.warmup = warmup;
        show_progress_on(&config, progress, ProgressDrawTarget::hidden())
    }

    /// The message the line shows once its thread has drawn `answered`.
    fn wait_for_message(line: &ProgressLine, answered: &str) -> String {
        let bar = &line.drawing.as_ref().expect("active").bar;
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let message = bar.message();
            if message.starts_with(answered) || Instant::now() >= end {
                return message;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn the_line_follows_the_counters_then_stops() {
        let progress = Progress::new();
        let line = line_for(
            Stop::Duration(Duration::from_secs(10)),
            Duration::ZERO,
            &progress,
        );
        assert!(line.is_active());
        progress.add(1_234, 2);
        let message = wait_for_message(&line, "1,234 ok");
        assert!(message.ends_with(" req/s  2 errors"), "{message}");
        let bar = line.drawing.as_ref().expect("active").bar.clone();
        assert_eq!(bar.length(), Some(10_000));
        assert!(bar.prefix().ends_with("s/10.0s]"), "{}", bar.prefix());
        drop(line);
        assert!(bar.is_finished());
    }

    #[test]
    fn a_requests_run_counts_requests_and_a_warm_up_says_so() {
        let progress = Progress::new();
        let line = line_for(Stop::Requests(100), Duration::from_secs(60), &progress);
        let bar = line.drawing.as_ref().expect("active").bar.clone();
        assert_eq!(bar.length(), Some(100));
        assert_eq!(wait_for_message(&line, "warming up"), "warming up");
        progress.add(30, 5);
        assert!(wait_for_message(&line, "30 ok").starts_with("30 ok"));
        assert_eq!(bar.position(), 35);
        assert!(!bar.prefix().contains('/'), "{}", bar.prefix());
    }

    #[test]
    fn short_runs_show_nothing() {
        let progress = Progress::new();
        for stop in [
            Stop::Duration(Duration::from_secs(2)),
            Stop::Duration(Duration::from_millis(1999)),
        ] {
            assert!(!line_for(stop, Duration::from_secs(1), &progress).is_active());
        }
        assert!(line_for(
            Stop::Duration(Duration::from_secs(3)),
            Duration::from_millis(1),
            &progress
        )
        .is_active());
        assert!(!ProgressLine::inactive().is_active());
    }
}
