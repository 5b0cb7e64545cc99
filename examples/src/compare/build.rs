//! Building the servers `compare` runs, into the layout [`run`](super::run) expects.
//!
//! The same example programs are built twice, once per server, because the server is a
//! Cargo feature (`evented`): `cargo build --release` without it gives `net`'s binaries,
//! with it `evnet`'s. Each build is copied out of `target/release` before the next one
//! replaces it.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The example programs built for both servers.
pub const PROGRAMS: [&str; 3] = ["http", "echo", "resp"];

/// Build every server in release mode and lay them out in `bin_dir`; `workspace` is the
/// workspace root (where `Cargo.toml` and `scripts/epoll_floor.c` are).
///
/// The epoll floor is compiled with `cc` when there is one; without it, its rows are
/// skipped. Output of `cargo` goes to stderr.
pub fn build(workspace: &Path, bin_dir: &Path) -> io::Result<()> {
    let release = target_dir(workspace).join("release");
    const REFERENCES: [&str; 2] = ["tokio_http", "hyper_http"];
    let net_bins: Vec<&str> = PROGRAMS.iter().chain(&REFERENCES).copied().collect();
    cargo(workspace, "tokio-ref,hyper-ref,tls", &net_bins)?;
    copy(&release, &bin_dir.join("net"), &PROGRAMS)?;
    copy(&release, bin_dir, &REFERENCES)?;
    cargo(workspace, "evented,tls", &PROGRAMS)?;
    copy(&release, &bin_dir.join("evnet"), &PROGRAMS)?;
    let floor = bin_dir.join("epoll_floor");
    // No stale floor from an earlier build if this one cannot compile it.
    let _ = std::fs::remove_file(&floor);
    let compiled = Command::new("cc")
        .args(["-O2", "-Wall", "-Wextra", "-pthread", "-o"])
        .arg(&floor)
        .arg(workspace.join("scripts/epoll_floor.c"))
        .status();
    match compiled {
        Ok(s) if s.success() => {}
        _ => eprintln!("compare: the epoll floor was not compiled (no working `cc`)"),
    }
    Ok(())
}

/// `cargo build --release -p examples --features FEATURES --bin B...` for `bins`.
fn cargo(workspace: &Path, features: &str, bins: &[&str]) -> io::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut args = vec!["--features", features];
    for bin in bins {
        args.extend(["--bin", bin]);
    }
    let status = Command::new(&cargo)
        .current_dir(workspace)
        .args(["build", "--release", "--quiet", "-p", "examples"])
        .args(&args)
        .status()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run cargo: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "cargo build --release -p examples {} failed ({status})",
            args.join(" ")
        )))
    }
}

/// The target directory: `$CARGO_TARGET_DIR`, or `target` in the workspace.
fn target_dir(workspace: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

/// Copy `names` from `from` to `to` (created if needed).
fn copy(from: &Path, to: &Path, names: &[&str]) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for name in names {
        // Remove first: copying over a running binary fails with ETXTBSY.
        let dest = to.join(name);
        let _ = std::fs::remove_file(&dest);
        std::fs::copy(from.join(name), &dest).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot copy {} to {}: {e}",
                    from.join(name).display(),
                    dest.display()
                ),
            )
        })?;
    }
    Ok(())
}
