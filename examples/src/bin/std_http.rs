//! A minimal reference HTTP server on the standard library alone, for benchmark
//! comparisons: one thread per connection (spawned on accept, no pool, no limit),
//! keep-alive, `GET /` answered with the same 13-byte body as the `http` example, anything
//! else 404. It reuses the `http` example's parser so that both servers do the same
//! parsing work; request bodies are not supported (400 and close).
//!
//! Prints `listening on http://ADDR (std)` first. Stop it with SIGINT or SIGTERM (the
//! default action: the process ends at once).

examples::global_allocator!();

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::Parser;
use examples::cli::{format_duration, parse_duration, parse_millis};
use examples::http::parse::{self, Limits, Parsed};

/// `Hello, World!` before and after its `Date` line (the http example sends one too, as
/// RFC 9110 asks of a server with a clock: the comparison sends the same bytes).
const HELLO_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n";
const HELLO_BODY: &[u8] = b"\r\nHello, World!";
const NOT_FOUND: &[u8] =
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nNot Found\n";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Minimal std thread-per-connection HTTP server (reference for benchmarks).
#[derive(Debug, Parser)]
#[command(name = "std_http", version)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    addr: String,

    /// Close a connection idle for this long: `15s`, `500ms`, `2m`, … (a unit is
    /// required; `--keep-alive-ms N` takes milliseconds). The default is `net`'s.
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_duration,
        default_value = format_duration(net::ServerParams::default().keep_alive_timeout())
    )]
    keep_alive_timeout: Duration,

    /// `--keep-alive-timeout` in milliseconds (a bare number is milliseconds).
    #[arg(long, value_name = "MS", value_parser = parse_millis, hide = true, conflicts_with = "keep_alive_timeout")]
    keep_alive_ms: Option<Duration>,
}

fn main() -> ExitCode {
    let args = Cli::parse();
    let idle = args.keep_alive_ms.unwrap_or(args.keep_alive_timeout);
    if idle.is_zero() {
        eprintln!("error: invalid value for --keep-alive-timeout: must be more than zero");
        return ExitCode::from(examples::cli::EXIT_USAGE);
    }
    let listener = match TcpListener::bind(&args.addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr} (std)"),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let _ = io::stdout().flush();
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                if let Err(e) = thread::Builder::new().spawn(move || serve(stream, idle)) {
                    eprintln!("cannot spawn a thread: {e}");
                }
            }
            // EMFILE and the like: pause instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    ExitCode::SUCCESS
}

/// Serve one connection until the client closes it, asks to, or stays idle too long.
fn serve(mut stream: TcpStream, idle: Duration) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(idle))?;
    let limits = Limits::default();
    let mut buf = vec![0u8; 2 * limits.max_head];
    let (mut start, mut end) = (0, 0);
    let mut out = Vec::with_capacity(4096);
    loop {
        // Answer every complete request buffered (pipelining), then write once.
        let mut close = false;
        while start < end {
            match parse::parse_head(&buf[start..end], &limits) {
                Ok(Parsed::Complete(head)) => {
                    start += head.head_len();
                    if !head.body().is_empty() {
                        out.extend_from_slice(BAD_REQUEST);
                        close = true;
                        break;
                    }
                    let get_root = head.method() == "GET" && head.path() == "/";
                    if get_root {
                        out.extend_from_slice(HELLO_HEAD);
                        examples::http::date::push_header(&mut out);
                        out.extend_from_slice(HELLO_BODY);
                    } else {
                        out.extend_from_slice(NOT_FOUND);
                    }
                    if !head.keep_alive() {
                        close = true;
                        break;
                    }
                }
                Ok(Parsed::Partial) => break,
                Err(_) => {
                    out.extend_from_slice(BAD_REQUEST);
                    close = true;
                    break;
                }
            }
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
        }
        if close {
            return Ok(());
        }
        // Keep the partial request at the front; it is shorter than `max_head`.
        if start == end {
            (start, end) = (0, 0);
        } else if start > 0 {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        match stream.read(&mut buf[end..])? {
            0 => return Ok(()),
            n => end += n,
        }
    }
}
