//! What `compare` reads about a child server from `/proc`: CPU time, memory, threads.

use std::io;
use std::sync::OnceLock;
use std::time::Duration;

/// One reading of a process's `/proc/PID/stat` and `/proc/PID/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sample {
    /// User plus system CPU time of every thread, living or exited.
    pub cpu: Duration,
    /// Resident memory now (`VmRSS`), bytes.
    pub rss_bytes: u64,
    /// Peak resident memory since the process started (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
    /// Threads now.
    pub threads: u64,
}

impl Sample {
    /// Read the process `pid`. Fails if it has exited or `/proc` is not mounted.
    pub fn read(pid: u32) -> io::Result<Sample> {
        let read = |path: String| {
            std::fs::read_to_string(&path)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot read {path}: {e}")))
        };
        let stat = read(format!("/proc/{pid}/stat"))?;
        let status = read(format!("/proc/{pid}/status"))?;
        Sample::parse(&stat, &status, clock_ticks())
    }

    /// A sample from the texts of `/proc/PID/stat` and `/proc/PID/status`, with `ticks`
    /// clock ticks per second (the unit of the CPU times in `stat`).
    ///
    /// ```
    /// use examples::compare::procfs::Sample;
    /// let stat = "42 (a (b) c) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
    /// let status = "Name:\ta\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t3\n";
    /// let s = Sample::parse(stat, status, 100)?;
    /// assert_eq!(s.cpu, std::time::Duration::from_secs(3));
    /// assert_eq!((s.rss_bytes, s.peak_rss_bytes, s.threads), (1 << 20, 2 << 20, 3));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn parse(stat: &str, status: &str, ticks: u64) -> io::Result<Sample> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        // The command name is in parentheses and may itself contain spaces and ')'; the
        // fields after the last ')' start with the state (field 3); utime and stime are
        // fields 14 and 15.
        let (_, rest) = stat
            .rsplit_once(')')
            .ok_or_else(|| bad("/proc/PID/stat has no ')'"))?;
        let mut fields = rest.split_whitespace().skip(11);
        let mut tick_field = |name: &str| -> io::Result<u64> {
            fields
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| bad(&format!("/proc/PID/stat: no {name}")))
        };
        let utime = tick_field("utime")?;
        let stime = tick_field("stime")?;
        let ticks = ticks.max(1);
        let total = utime.saturating_add(stime);
        let cpu = Duration::from_secs(total / ticks)
            + Duration::from_nanos((total % ticks) * 1_000_000_000 / ticks);
        let field = |key: &str| -> io::Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .ok_or_else(|| bad(&format!("/proc/PID/status: no {key}")))
        };
        Ok(Sample {
            cpu,
            rss_bytes: field("VmRSS")? * 1024,
            peak_rss_bytes: field("VmHWM")? * 1024,
            threads: field("Threads")?,
        })
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100, the Linux value, if that fails).
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\thttp\nVmPeak:\t 9000 kB\nVmHWM:\t    8 kB\n\
                          VmRSS:\t    4 kB\nThreads:\t5\n";

    #[test]
    fn cpu_is_utime_plus_stime_in_ticks() {
        let stat = "7 (http) R 1 7 7 0 -1 0 0 0 0 0 123 77 9 9 20 0 5 0";
        let s = Sample::parse(stat, STATUS, 100).unwrap();
        assert_eq!(s.cpu, Duration::from_secs(2));
        let s = Sample::parse(stat, STATUS, 1000).unwrap();
        assert_eq!(s.cpu, Duration::from_millis(200));
        assert_eq!((s.rss_bytes, s.peak_rss_bytes, s.threads), (4096, 8192, 5));
    }

    #[test]
    fn a_name_with_parentheses_and_spaces() {
        let stat = "7 (a) b (c d)) S 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0";
        assert_eq!(
            Sample::parse(stat, STATUS, 100).unwrap().cpu,
            Duration::from_millis(30)
        );
    }

    #[test]
    fn truncated_texts_are_errors() {
        assert!(Sample::parse("7 http S 1", STATUS, 100).is_err());
        assert!(Sample::parse("7 (http) S 1 7", STATUS, 100).is_err());
        let stat = "7 (http) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 5 0";
        assert!(Sample::parse(stat, "Threads:\t1\n", 100).is_err());
    }

    #[test]
    fn reads_this_process() {
        let s = Sample::read(std::process::id()).unwrap();
        assert!(s.threads >= 1);
        assert!(s.rss_bytes > 0 && s.peak_rss_bytes >= s.rss_bytes);
    }
}
