//! Benchmarks of evnet's hot paths, on the internals that `evnet::__bench` re-exports
//! (not part of the API):
//!
//! - `handoff/round_trip/{1,16}`: a job from a loop to a worker and back, sent in batches
//!   of 1 and 16; time per job.
//! - `slab/*`: taking and returning a slot, and moving one through a request's phases.
//! - `timeouts/*`: filling the idle list in deadline order and expiring it.
//!
//! Run with `cargo bench -p evnet`; `cargo bench -p evnet -- --test` only checks that each
//! runs once.

use std::hint::black_box;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use evnet::__bench::{bounded, Kind, List, Phase, Receiver, Sender, Slab, SlotId, Timeouts};
use evnet::ServerParams;

/// What travels loop → worker → loop. The real `Job` also moves a `Connection` and a
/// session by value; the queue and the mailbox only move it, so its size barely matters.
struct Job {
    slot: u32,
    started: f64,
}

/// The return path, modelled on `worker::Mailbox`: served jobs are appended to a
/// `Mutex<Vec>` under one lock, the loop swaps the vector out, and a poster that finds
/// the box empty wakes the loop.
///
/// The real mailbox wakes a libev loop through `ev_async_send` (an eventfd write), which
/// needs a running loop; here the wake is a thread unpark (a futex). So this measures the
/// worker queue (the real one), the mailbox locking and two wake-ups per round trip, not
/// libev's eventfd.
struct Mailbox {
    returned: Mutex<Vec<Job>>,
    /// The loop's thread, unparked as `Waker::wake` would signal the loop.
    loop_thread: Thread,
}

impl Mailbox {
    /// As `Mailbox::post`.
    fn post(&self, item: Job) {
        let was_empty = {
            let mut returned = self.returned.lock().unwrap_or_else(PoisonError::into_inner);
            let was_empty = returned.is_empty();
            returned.push(item);
            was_empty
        };
        if was_empty {
            self.loop_thread.unpark();
        }
    }

    /// As `Mailbox::take_all`.
    fn take_all(&self, into: &mut Vec<Job>) {
        let mut returned = self.returned.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *returned, into);
    }
}

/// The worker's loop as in `worker::run_worker`, with an empty handler: take jobs one at a
/// time, hand each back at once.
fn worker(jobs: Receiver<Job>, mailbox: Arc<Mailbox>) {
    while let Some((job, _room)) = jobs.recv() {
        mailbox.post(black_box(job));
    }
}

/// One loop and one worker thread; the loop is the thread that made it.
struct Handoff {
    jobs: Option<Sender<Job>>,
    mailbox: Arc<Mailbox>,
    worker: Option<thread::JoinHandle<()>>,
    /// The loop's reused buffers: jobs to send, and jobs taken back.
    batch: Vec<(Job, Kind)>,
    back: Vec<Job>,
}

impl Handoff {
    fn new() -> Self {
        let (tx, rx) = bounded(1024);
        let mailbox = Arc::new(Mailbox {
            returned: Mutex::new(Vec::with_capacity(1024)),
            loop_thread: thread::current(),
        });
        let worker = {
            let mailbox = Arc::clone(&mailbox);
            thread::spawn(move || worker(rx, mailbox))
        };
        Handoff {
            jobs: Some(tx),
            mailbox,
            worker: Some(worker),
            batch: Vec::with_capacity(1024),
            back: Vec::with_capacity(1024),
        }
    }

    /// Send `n` jobs in batches of `batch` (one `send_all` each), waiting for each batch to
    /// come back before sending the next, as a loop whose connections all wait on their
    /// answers. Returns the time taken.
    fn run(&mut self, n: u64, batch: usize) -> Duration {
        let jobs = self.jobs.as_ref().expect("worker running");
        let start = Instant::now();
        let mut left = n;
        while left > 0 {
            let size = batch.min(usize::try_from(left).unwrap_or(usize::MAX));
            for slot in 0..size {
                let job = Job {
                    slot: slot as u32,
                    started: 0.0,
                };
                self.batch.push((job, Kind::Fresh));
            }
            let sent = jobs.send_all(&mut self.batch);
            assert_eq!(sent, size, "the queue has room for a whole batch");
            let mut returned = 0;
            while returned < size {
                self.mailbox.take_all(&mut self.back);
                if self.back.is_empty() {
                    // The loop sleeps in `ev_run` until the mailbox wakes it.
                    thread::park();
                    continue;
                }
                returned += self.back.len();
                for job in self.back.drain(..) {
                    black_box((job.slot, job.started));
                }
            }
            left -= size as u64;
        }
        start.elapsed()
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        // Closing the queue ends the worker.
        self.jobs = None;
        if let Some(worker) = self.worker.take() {
            worker.join().expect("worker thread");
        }
    }
}

fn handoff(c: &mut Criterion) {
    let mut group = c.benchmark_group("handoff");
    group.throughput(Throughput::Elements(1));
    for batch in [1, 16] {
        let mut handoff = Handoff::new();
        group.bench_with_input(
            BenchmarkId::new("round_trip", batch),
            &batch,
            |b, &batch| b.iter_custom(|iters| handoff.run(iters, batch)),
        );
    }
    group.finish();
}

/// Slots kept on the idle list while a benchmark runs, so that lists are not empty.
const RESIDENT: usize = 1000;

/// A slab with `RESIDENT` idle slots (deadlines 0..RESIDENT) and room for more.
fn populated(capacity: usize) -> (Slab<()>, Vec<SlotId>) {
    let mut slab = Slab::new(capacity);
    let ids: Vec<SlotId> = (0..RESIDENT)
        .map(|i| {
            let id = slab.alloc().expect("capacity above RESIDENT");
            slab.set_phase(id, Phase::Idle, i as f64);
            id
        })
        .collect();
    (slab, ids)
}

fn slab(c: &mut Criterion) {
    let mut group = c.benchmark_group("slab");

    // A connection opens (alloc, goes idle at the tail of the idle list) and closes.
    group.bench_function("alloc_idle_release", |b| {
        let (mut slab, _) = populated(RESIDENT + 1);
        let mut now = RESIDENT as f64;
        b.iter(|| {
            let id = slab.alloc().expect("a free slot");
            now += 1e-3;
            slab.set_phase(id, Phase::Idle, black_box(now));
            slab.release(black_box(id));
        });
    });

    // A keep-alive request on an idle connection: idle → reading → busy (out with a
    // worker) → idle again at the tail. Every slot cycles in turn, so the one moved is the
    // head of the idle list.
    group.bench_function("request_cycle", |b| {
        request_cycles(b, &[(Phase::READING, 5.0), (Phase::BUSY, 0.0)]);
    });

    // As above, with output the loop must finish: busy → writing → idle.
    group.bench_function("request_cycle_with_writing", |b| {
        let phases = [
            (Phase::READING, 5.0),
            (Phase::BUSY, 0.0),
            (Phase::Writing { then_close: false }, 7.0),
        ];
        request_cycles(b, &phases);
    });

    group.finish();
}

fn timeouts(c: &mut Criterion) {
    let params = ServerParams::builder()
        .keep_alive_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(3))
        .build()
        .expect("valid params");
    let mut group = c.benchmark_group("timeouts");

    // `n` connections go idle one after another (each at the tail of the idle list, the
    // sweep timer re-armed after each change as the loop does), then all time out: the
    // sweep takes them from the head in deadline order and closes them.
    for n in [1_000usize, 10_000] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("idle_then_expire", n), &n, |b, &n| {
            let mut slab: Slab<()> = Slab::new(n);
            let mut timeouts = Timeouts::new(&params);
            b.iter(|| {
                for i in 0..n {
                    let id = slab.alloc().expect("a free slot");
                    let deadline = timeouts.idle_deadline(i as f64 * 1e-3);
                    slab.set_phase(id, Phase::Idle, deadline);
                    black_box(timeouts.rearm(&slab, false));
                }
                let now = timeouts.idle_deadline(n as f64);
                let mut expired = 0;
                while let Some((id, list)) = timeouts.expired(&slab, now) {
                    debug_assert_eq!(list, List::Idle);
                    slab.release(id);
                    expired += 1;
                }
                assert_eq!(expired, n);
                black_box(timeouts.rearm(&slab, true));
            });
        });
    }

    // The sweep timer fires with nothing due yet (a deadline moved later since it was
    // armed): find the earliest deadline over the three lists and re-arm.
    group.throughput(Throughput::Elements(1));
    group.bench_function("fire_nothing_due", |b| {
        let (slab, _) = populated(RESIDENT);
        let mut timeouts = Timeouts::new(&params);
        b.iter(|| {
            black_box(timeouts.expired(&slab, black_box(-1.0)));
            black_box(timeouts.rearm(&slab, true))
        });
    });

    group.finish();
}

/// Parsing a PROXY protocol header (once per connection behind a balancer), version 1
/// (text, IPv4) and version 2 (binary, IPv6).
fn proxy_header(c: &mut Criterion) {
    let v1 = b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n";
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24".to_vec();
    v2.extend_from_slice(&[7; 36]);
    let mut group = c.benchmark_group("proxy_header");
    group.bench_function("v1_tcp4", |b| b.iter(|| net::proxy::parse(black_box(v1))));
    group.bench_function("v2_tcp6", |b| b.iter(|| net::proxy::parse(black_box(&v2))));
    group.finish();
}

/// The benchmark groups (in a module: `criterion_group!` makes an undocumented `pub fn`).
mod groups {
    use super::{handoff, proxy_header, slab, timeouts};
    criterion::criterion_group!(benches, handoff, slab, timeouts, proxy_header);
}
criterion_main!(groups::benches);

/// Move each resident slot in turn through `phases` (each with its deadline from now,
/// ignored for phases without a list) and back to idle at the tail.
fn request_cycles(b: &mut criterion::Bencher<'_>, phases: &[(Phase, f64)]) {
    let (mut slab, ids) = populated(RESIDENT);
    let mut now = RESIDENT as f64;
    let mut i = 0;
    b.iter(|| {
        let id = ids[i];
        i = (i + 1) % ids.len();
        now += 1e-3;
        for &(phase, after) in phases {
            slab.set_phase(id, phase, now + after);
        }
        slab.set_phase(id, Phase::Idle, now + 10.0);
        black_box(slab.front(List::Idle));
    });
}
