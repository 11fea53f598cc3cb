//! What the suite ran on, for the report's header.

use std::path::Path;
use std::process::Command;

/// The machine, toolchain and commit of a run.
#[derive(Debug, Default, Clone)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: Option<f64>,
    pub os: String,
    pub rustc: String,
    pub curl: Option<String>,
    pub commit: String,
    pub date: String,
}

impl Machine {
    /// Reads what the OS and tools tell (Linux's `/proc` where available).
    pub fn describe(root: &Path) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, name)| name.trim().to_owned())
            .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|line| line.strip_prefix("MemTotal:"))
                    .and_then(|rest| {
                        rest.trim()
                            .trim_end_matches("kB")
                            .trim()
                            .parse::<f64>()
                            .ok()
                    })
            })
            .map(|kib| kib / 1024.0 / 1024.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|release| format!(" {}", release.trim()))
            .unwrap_or_default();
        let commit = first_line(
            Command::new("git")
                .args(["rev-parse", "--short", "HEAD"])
                .current_dir(root),
        )
        .unwrap_or_else(|| "unknown".to_owned());
        let dirty = Command::new("git")
            // BENCHMARKS.md is what `--write` changes, not what was measured.
            .args([
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!BENCHMARKS.md",
            ])
            .current_dir(root)
            .output()
            .is_ok_and(|out| !out.stdout.is_empty());
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib,
            os: format!("{}{kernel}", std::env::consts::OS),
            rustc: first_line(Command::new("rustc").arg("-V")).unwrap_or_default(),
            curl: first_line(Command::new("curl").arg("--version"))
                .map(|line| line.split(' ').take(2).collect::<Vec<_>>().join(" ")),
            commit: if dirty {
                format!("{commit} with uncommitted changes")
            } else {
                commit
            },
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

fn first_line(command: &mut Command) -> Option<String> {
    let output = command.output().ok().filter(|o| o.status.success())?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .map(|line| line.trim().to_owned())
}
