//! Running one measured program: its wall time and, where the OS tells, its peak memory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one run of a program cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// From spawning the process to its exit.
    pub wall: Duration,
    /// Its peak resident set size, in KiB, sampled (`None` where the OS does not report it).
    pub peak_rss_kib: Option<u64>,
    /// What it printed on stdout.
    pub stdout: String,
}

/// Runs `command` to the end with stdout captured (stderr passes through) and measures it. A
/// non-zero exit is an error that names the command.
pub fn measure(command: &mut Command) -> Result<Run, String> {
    let what = describe(command);
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    // Read stdout on a thread: a child blocked on a full pipe would never exit.
    let mut pipe = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut pipe, &mut text).map(|_| text)
    });
    let (success, code, peak_rss_kib) = wait(&mut child).map_err(|e| format!("{what}: {e}"))?;
    let wall = started.elapsed();
    let stdout = reader
        .join()
        .map_err(|_| format!("{what}: the stdout reader panicked"))?
        .map_err(|e| format!("{what}: reading its output: {e}"))?;
    if !success {
        return Err(format!("{what} failed (exit {code:?})"));
    }
    Ok(Run {
        wall,
        peak_rss_kib,
        stdout,
    })
}

/// The last line of `stdout` that parses as JSON (the measured programs end with one).
pub fn last_json(stdout: &str) -> Result<serde_json::Value, String> {
    stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line.trim()).ok())
        .ok_or_else(|| "the program printed no JSON summary line".to_owned())
}

fn describe(command: &Command) -> String {
    let program = Path::new(command.get_program())
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let args: Vec<_> = command
        .get_args()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    format!("`{program} {}`", args.join(" "))
}

/// The longest any measured program may run before it is killed (a hung server or CLI must not
/// hang the suite).
pub const TIME_LIMIT: Duration = Duration::from_secs(15 * 60);

/// Waits for `child`, sampling its peak RSS meanwhile. Linux keeps the peak in
/// `/proc/<pid>/status` (`VmHWM`), which is gone once the process has been reaped, so it is
/// read every 2 ms until then and the largest value kept; the child is reaped only by
/// `try_wait` in the same loop, so the pid read is always its own. (Reading the peak through
/// `wait4`'s rusage would need `unsafe`, which this workspace forbids;
/// `getrusage(RUSAGE_CHILDREN)` gives the largest of all children so far, not this one's.)
/// Elsewhere the peak is not reported. A child still running after [`TIME_LIMIT`] is killed.
fn wait(child: &mut Child) -> std::io::Result<(bool, Option<i32>, Option<u64>)> {
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let started = Instant::now();
    let mut peak: Option<u64> = None;
    loop {
        if let Some(kib) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|s| vm_hwm_kib(&s))
        {
            peak = Some(peak.map_or(kib, |peak| peak.max(kib)));
        }
        if let Some(status) = child.try_wait()? {
            return Ok((status.success(), status.code(), peak));
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other(format!(
                "still running after {} minutes: killed",
                TIME_LIMIT.as_secs() / 60
            )));
        }
        // 2 ms: the wall time is known to within this, and a sample costs about 20 µs.
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `VmHWM` (peak resident set size) from a `/proc/<pid>/status` text, in KiB.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_the_last_json_line() {
        let out = "warming up\n{\"a\":1}\nmore text\n{\"b\":2}\n\n";
        assert_eq!(last_json(out).unwrap(), serde_json::json!({"b": 2}));
        assert!(last_json("no json here").is_err());
    }

    #[test]
    fn the_peak_is_read_from_proc_status() {
        let status = "Name:\tcurl\nVmPeak:\t  20000 kB\nVmHWM:\t    8556 kB\nVmRSS:\t 8000 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(8556));
        assert_eq!(vm_hwm_kib("Name:\tzombie\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_run_reports_wall_time_peak_memory_and_failure() {
        let run =
            measure(Command::new("sh").args(["-c", "sleep 0.2; echo '{\"ok\":true}'"])).unwrap();
        assert!(run.wall >= Duration::from_millis(200), "{:?}", run.wall);
        assert!(
            run.peak_rss_kib.is_some_and(|kib| kib > 0),
            "{:?}",
            run.peak_rss_kib
        );
        assert_eq!(last_json(&run.stdout).unwrap()["ok"], true);
        let error = measure(Command::new("sh").args(["-c", "exit 3"])).unwrap_err();
        assert!(error.contains("exit Some(3)"), "{error}");
    }
}
