//! What the tokio-based reference servers (`tokio_http`, `hyper_http`) share: their flags,
//! the runtime, the listener, the first line `compare` reads the address from,
//! and stopping on SIGINT/SIGTERM. Each binary brings only its per-connection code.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use tokio::net::{TcpListener, TcpStream};

/// The flags of a reference server.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    pub addr: String,

    /// Runtime worker threads (tokio's; not `net`'s pool).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub threads: usize,
}

/// Parse the flags (the binary is named `NAME_http`) and serve every accepted connection (with `TCP_NODELAY`) with
/// `serve`, each on its own task, until SIGINT or SIGTERM. Prints
/// `listening on http://ADDR (NAME)` first. Exit status 2 for a bad flag, 1 when the
/// server cannot start.
pub fn run<S, F>(name: &str, serve: S) -> ExitCode
where
    S: Fn(TcpStream) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let binary = format!("{name}_http");
    let matches = Args::command().name(binary).get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if args.threads == 0 {
        eprintln!("error: invalid value for --threads: must be at least 1");
        return ExitCode::from(crate::cli::EXIT_USAGE);
    }
    match serve_until_signal(name, &args, serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(crate::cli::EXIT_FAILURE)
        }
    }
}

fn serve_until_signal<S, F>(name: &str, args: &Args, serve: S) -> std::io::Result<()>
where
    S: Fn(TcpStream) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(&args.addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", args.addr))
        })?;
        println!("listening on http://{} ({name})", listener.local_addr()?);
        std::io::stdout().flush()?;
        let accept = async {
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(stream));
                }
            }
        };
        tokio::select! {
            _ = accept => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate() => {}
        }
        Ok(())
    })
}

async fn terminate() {
    if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        sig.recv().await;
    }
}
