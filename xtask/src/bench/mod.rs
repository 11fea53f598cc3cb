//! `cargo xtask bench`: the performance suite. Each measurement runs our code beside a peer in the
//! same run, interleaved, and reports ratios (the peer absorbs the machine's speed and load):
//!
//! | part | ours | peer |
//! |---|---|---|
//! | `upload` | a 1 GiB multipart upload by the Topaz and BackgroundCut clients | `curl -F`, and a hand-written reqwest stream |
//! | `calls` | a small JSON call (Topaz `get_status`), sequential and 16 at once | raw reqwest decoding the same type, without and with a time limit |
//! | `jobs` | 1000 sandbox jobs of 2 s through the CLI at `-j 64`, and through the Topaz client | the ideal makespan |
//! | `codegen` | `cargo xtask codegen --check` (all providers) | — |
//! | `journal` | the batch journal's three durable writes per job | a kept-alive loopback round trip |
//!
//! The measured programs are release builds of examples in `tests/examples/` and
//! `crates/cutout/examples/` (this crate builds them first, with cargo); each prints a JSON
//! summary as its last line. Uploads run as separate processes so that each one's peak memory
//! is its own (sampled from `/proc`). The result is a markdown section, printed, and with `--write` put into
//! BENCHMARKS.md between `<!-- bench:begin -->` and `<!-- bench:end -->`.

mod machine;
pub mod process;
pub mod report;
pub mod stats;

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

pub use machine::Machine;
use process::{Run, last_json, measure};

/// Which parts to run.
pub const PARTS: [&str; 5] = ["upload", "calls", "jobs", "codegen", "journal"];

/// What to run and how big.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    /// Parts to run (a subset of [`PARTS`]).
    pub parts: Vec<String>,
    /// Interleaved rounds of the upload and codegen parts.
    pub rounds: usize,
    /// Size of the uploaded file.
    pub upload_mib: u64,
    /// Jobs of the `jobs` part, at `concurrency`, each taking `job_ms`.
    pub jobs: usize,
    pub concurrency: usize,
    pub job_ms: u64,
    /// Calls per round of the `calls` part.
    pub calls: usize,
    /// Processes of the `calls` part, whose rounds are pooled (see [`pool_calls`]).
    pub call_processes: usize,
    /// Inputs of the journal part.
    pub journal_inputs: usize,
    /// Skip building (the binaries are already built).
    pub no_build: bool,
}

impl Options {
    /// The full suite, as BENCHMARKS.md reports it.
    pub fn full(root: PathBuf) -> Self {
        Self {
            root,
            parts: PARTS.iter().map(|p| p.to_string()).collect(),
            rounds: 5,
            upload_mib: 1024,
            jobs: 1000,
            concurrency: 64,
            job_ms: 2000,
            calls: 2000,
            call_processes: 5,
            journal_inputs: 10_000,
            no_build: false,
        }
    }

    /// A quick run to try the suite: small sizes, few rounds (the figures are noisier).
    pub fn quick(root: PathBuf) -> Self {
        Self {
            rounds: 3,
            upload_mib: 128,
            jobs: 128,
            job_ms: 1000,
            calls: 300,
            call_processes: 2,
            journal_inputs: 1000,
            ..Self::full(root)
        }
    }

    fn runs(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }
}

/// What one part gave: its figures, or why it failed (the other parts still report).
pub type Part<T> = Option<Result<T, String>>;

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Results {
    pub machine: Machine,
    pub upload: Part<Upload>,
    pub calls: Part<serde_json::Value>,
    pub jobs: Part<serde_json::Value>,
    pub codegen: Part<Codegen>,
    pub journal: Part<serde_json::Value>,
}

impl Results {
    /// The parts that failed, with why.
    pub fn failures(&self) -> Vec<(&'static str, &str)> {
        fn failed<'a, T>(name: &'static str, part: &'a Part<T>) -> Option<(&'static str, &'a str)> {
            match part {
                Some(Err(error)) => Some((name, error.as_str())),
                _ => None,
            }
        }
        [
            failed("upload", &self.upload),
            failed("calls", &self.calls),
            failed("jobs", &self.jobs),
            failed("codegen", &self.codegen),
            failed("journal", &self.journal),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The upload part: every competitor's runs, round by round.
#[derive(Debug, Default)]
pub struct Upload {
    pub mib: u64,
    pub rounds: usize,
    /// `(name, runs)`; runs are in round order, so index `i` of two competitors is one round.
    pub competitors: Vec<(String, Vec<Run>)>,
    /// The exact curl command (with the port and path of this run).
    pub curl_command: Option<String>,
}

/// The codegen part.
#[derive(Debug, Default)]
pub struct Codegen {
    pub profile: String,
    pub runs: Vec<Duration>,
}

fn report<T>(part: &str, result: &Result<T, String>) {
    if let Err(error) = result {
        eprintln!("bench: {part} failed: {error}");
    }
}

/// Runs the suite.
pub fn run(options: &Options) -> Result<Results, String> {
    let target = target_dir(&options.root);
    let release = target.join("release");
    if !options.no_build {
        build(options)?;
    }
    let work = target.join("bench");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut results = Results {
        machine: Machine::describe(&options.root),
        ..Results::default()
    };
    // Each part on its own: one that fails is reported as failed, the others still measure.
    if options.runs("upload") {
        eprintln!(
            "bench: upload ({} MiB, {} rounds)",
            options.upload_mib, options.rounds
        );
        let result = upload(options, &release, &work);
        report("upload", &result);
        results.upload = Some(result);
    }
    if options.runs("calls") {
        eprintln!("bench: calls ({} processes)", options.call_processes);
        let result = (0..options.call_processes)
            .map(|_| {
                measure(
                    Command::new(release.join(exe_in("examples", "bench_calls")))
                        .args(["--calls", &options.calls.to_string()])
                        .args(["--concurrency", "16", "--rounds", &CALL_ROUNDS.to_string()]),
                )
                .and_then(|run| last_json(&run.stdout))
            })
            .collect::<Result<Vec<_>, _>>()
            .and_then(|runs| pool_calls(&runs));
        report("calls", &result);
        results.calls = Some(result);
    }
    if options.runs("jobs") {
        eprintln!(
            "bench: jobs ({} at {}-way)",
            options.jobs, options.concurrency
        );
        let result = measure(
            Command::new(release.join(exe_in("examples", "bench_jobs")))
                .arg("--cli")
                .arg(release.join(exe("cutout")))
                .arg("--work")
                .arg(work.join("jobs"))
                .args(["--jobs", &options.jobs.to_string()])
                .args(["--concurrency", &options.concurrency.to_string()])
                .args(["--job-ms", &options.job_ms.to_string()]),
        )
        .and_then(|run| last_json(&run.stdout));
        report("jobs", &result);
        results.jobs = Some(result);
    }
    if options.runs("codegen") {
        eprintln!("bench: codegen");
        let result = codegen(options);
        report("codegen", &result);
        results.codegen = Some(result);
    }
    if options.runs("journal") {
        eprintln!("bench: journal");
        let dir = work.join("journal");
        let result = std::fs::create_dir_all(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))
            .and_then(|()| {
                measure(
                    Command::new(release.join(exe_in("examples", "journal_bench")))
                        .arg(options.journal_inputs.to_string())
                        .current_dir(&dir),
                )
            })
            .and_then(|run| last_json(&run.stdout));
        report("journal", &result);
        results.journal = Some(result);
    }
    Ok(results)
}

/// Rounds of each process of the `calls` part.
const CALL_ROUNDS: usize = 7;

/// The `calls` part's figures from several runs of `bench_calls`, each its own process. One
/// process's rounds agree with each other better than processes agree (each has its own memory
/// layout, and so its own cache conflicts: medians a few points apart on this machine), so the
/// rounds of all are pooled: the medians of the pooled rounds' times and of their per-round
/// ratios, in the shape of one run's JSON, with each process's own median ratios beside them
/// (`process_ratios`, `process_ratios_limited`) to show the spread.
pub fn pool_calls(runs: &[serde_json::Value]) -> Result<serde_json::Value, String> {
    let first = runs.first().ok_or("no run of bench_calls")?;
    let field = |run: &serde_json::Value, path: &[&str]| {
        path.iter()
            .try_fold(run, |value, key| value.get(key))
            .cloned()
            .ok_or_else(|| format!("bench_calls printed no `{}`", path.join(".")))
    };
    let numbers = |run: &serde_json::Value, path: &[&str]| -> Result<Vec<f64>, String> {
        let value = field(run, path)?;
        value
            .as_array()
            .map(|xs| xs.iter().filter_map(serde_json::Value::as_f64).collect())
            .ok_or_else(|| format!("bench_calls' `{}` is not a list", path.join(".")))
    };
    let round = |x: Option<f64>| x.map(|x| (x * 1000.0).round() / 1000.0);
    let mut pooled = serde_json::json!({
        "calls": field(first, &["calls"])?,
        "rounds": field(first, &["rounds"])?,
        "concurrency": field(first, &["concurrency"])?,
        "processes": runs.len(),
    });
    for mode in ["sequential", "concurrent"] {
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        let (mut ratios, mut ratios_limited) = (Vec::new(), Vec::new());
        for run in runs {
            let [client, reqwest, limited] = ["client_us", "reqwest_us", "limited_us"]
                .map(|path| numbers(run, &[mode, "per_round", path]));
            let (client, reqwest, limited) = (client?, reqwest?, limited?);
            // Each process's rounds pair up on their own (a short list in one and a long one
            // in another would pair rounds of different processes).
            if client.len() != reqwest.len() || client.len() != limited.len() {
                return Err(format!("bench_calls' {mode} rounds do not pair up"));
            }
            for (pool, own) in times.iter_mut().zip([client, reqwest, limited]) {
                pool.extend(own);
            }
            let own = |key| field(run, &[mode, key]).map(|v| v.as_f64());
            ratios.push(own("ratio")?);
            ratios_limited.push(own("ratio_limited")?);
        }
        let [client, reqwest, limited] = &times;
        pooled[mode] = serde_json::json!({
            "client_us": round(stats::median(client)),
            "reqwest_us": round(stats::median(reqwest)),
            "ratio": round(stats::median_ratio(client, reqwest)),
            "limited_us": round(stats::median(limited)),
            "ratio_limited": round(stats::median_ratio(client, limited)),
            "process_ratios": ratios,
            "process_ratios_limited": ratios_limited,
        });
    }
    Ok(pooled)
}

/// The commands that build what the suite runs (release builds).
pub fn build_commands(options: &Options) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
    let mut tests = words("build --release -p cutout-tests");
    for (part, example) in [
        ("upload", "bench_upload"),
        ("calls", "bench_calls"),
        ("jobs", "bench_jobs"),
    ] {
        if options.runs(part) {
            tests.extend(["--example".to_owned(), example.to_owned()]);
        }
    }
    if tests.len() > 4 {
        commands.push(tests);
    }
    if options.runs("jobs") {
        commands.push(words("build --release -p cutout-cli --bin cutout"));
    }
    if options.runs("journal") {
        commands.push(words(
            "build --release -p cutout --features batch --example journal_bench",
        ));
    }
    commands
}

fn build(options: &Options) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for args in build_commands(options) {
        eprintln!("bench: cargo {}", args.join(" "));
        let status = Command::new(&cargo)
            .args(&args)
            .current_dir(&options.root)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("`cargo {}` failed", args.join(" ")));
        }
    }
    Ok(())
}

/// Where cargo puts its builds: `CARGO_TARGET_DIR`, else `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

fn exe_in(dir: &str, name: &str) -> PathBuf {
    Path::new(dir).join(exe(name))
}

/// The upload part: a sink process, then each competitor as its own process, interleaved.
fn upload(options: &Options, release: &Path, work: &Path) -> Result<Upload, String> {
    // `.jpg`: the clients take the part's type from the extension, and curl is told the same.
    let file = work.join(format!("upload-{}MiB.jpg", options.upload_mib));
    make_upload_file(&file, options.upload_mib)?;
    let result = upload_file(options, release, &file);
    // A gigabyte left behind in target/ on a small disk helps nobody.
    let _ = std::fs::remove_file(&file);
    result
}

fn upload_file(options: &Options, release: &Path, file: &Path) -> Result<Upload, String> {
    let bench_upload = release.join(exe_in("examples", "bench_upload"));
    let sink = Sink::start(&bench_upload)?;
    let base = format!("http://127.0.0.1:{}", sink.port);
    let curl = which("curl");
    let send = |via: &str| {
        let mut command = Command::new(&bench_upload);
        command
            .args(["send", "--via", via, "--url", &base, "--file"])
            .arg(file);
        command
    };
    // The same form and route as the Topaz client's upload (see tests/examples/bench_upload.rs).
    let curl_args = |file: &Path, base: &str| -> Vec<String> {
        vec![
            "-sSf".into(),
            "-o".into(),
            "/dev/null".into(),
            // curl waits up to a second for `100 Continue` before a large body; no client of ours does.
            "-H".into(),
            "Expect:".into(),
            "-H".into(),
            "Accept: application/json".into(),
            "-H".into(),
            "X-API-Key: bench-key".into(),
            "-F".into(),
            "mode=segmentation".into(),
            "-F".into(),
            "model=Object".into(),
            "-F".into(),
            "output_format=png".into(),
            "-F".into(),
            format!("image=@{};type=image/jpeg", file.display()),
            format!("{base}/image/v1/matting/async"),
        ]
    };
    let mut names: Vec<String> = Vec::new();
    if curl.is_some() {
        names.push("curl".into());
    }
    names.extend(
        [
            "reqwest (hand-written stream)",
            "topaz-image",
            "backgroundcut",
        ]
        .map(String::from),
    );
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); names.len()];
    // One untimed run first, so the file is in the page cache for every timed one.
    measure(&mut send("reqwest"))?;
    for round in 0..options.rounds {
        for index in stats::rotation(names.len(), round) {
            let run = match names[index].as_str() {
                "curl" => measure(
                    Command::new(curl.as_ref().expect("found")).args(curl_args(file, &base)),
                )?,
                "reqwest (hand-written stream)" => measure(&mut send("reqwest"))?,
                "topaz-image" => measure(&mut send("topaz"))?,
                _ => measure(&mut send("backgroundcut"))?,
            };
            runs[index].push(run);
        }
    }
    drop(sink);
    Ok(Upload {
        mib: options.upload_mib,
        rounds: options.rounds,
        curl_command: curl.map(|_| {
            format!(
                "curl {}",
                curl_args(Path::new("FILE"), "http://127.0.0.1:PORT")
                    .iter()
                    .map(|arg| shell_quote(arg))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }),
        competitors: names.into_iter().zip(runs).collect(),
    })
}

fn shell_quote(arg: &str) -> String {
    if arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=@".contains(c))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Writes `mib` MiB of pseudo-random bytes (incompressible, so no layer can shortcut them),
/// unless the file already has that size.
fn make_upload_file(path: &Path, mib: u64) -> Result<(), String> {
    let size = mib * 1024 * 1024;
    if std::fs::metadata(path).is_ok_and(|m| m.len() == size) {
        return Ok(());
    }
    let mut block = vec![0u8; 1024 * 1024];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in block.chunks_mut(8) {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let partial = path.with_extension("partial");
    let mut write = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        for n in 0..mib {
            block[..8].copy_from_slice(&n.to_le_bytes());
            std::io::Write::write_all(&mut out, &block)?;
        }
        std::io::Write::flush(&mut out)?;
        std::fs::rename(&partial, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        format!("{}: {e}", path.display())
    })
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(exe(program)))
        .find(|candidate| candidate.is_file())
}

/// The upload sink (`bench_upload sink`): stops when its stdin closes (on drop).
struct Sink {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
}

impl Sink {
    fn start(program: &Path) -> Result<Self, String> {
        let mut child = Command::new(program)
            .arg("sink")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let stdin = child.stdin.take();
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout is piped"));
        std::io::BufRead::read_line(&mut stdout, &mut line)
            .map_err(|e| format!("the upload sink: {e}"))?;
        // Keep reading what it prints later, so that it never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let port = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v["port"].as_u64())
            .and_then(|p| u16::try_from(p).ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the upload sink printed `{}`, not {{\"port\":N}}",
                line.trim()
            ));
        };
        Ok(Self { child, stdin, port })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        drop(self.stdin.take());
        // It exits at the end of its stdin; kill it if it has not within a few seconds.
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `codegen --check` for every provider, by the xtask binary running now (the profile `cargo
/// xtask` builds), a warm-up and then `rounds` timed runs.
fn codegen(options: &Options) -> Result<Codegen, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find the xtask binary: {e}"))?;
    let mut command = Command::new(&me);
    command
        .args(["codegen", "--check", "--root"])
        .arg(&options.root);
    measure(&mut command)?;
    let mut runs = Vec::new();
    for _ in 0..options.rounds {
        runs.push(measure(&mut command)?.wall);
    }
    Ok(Codegen {
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .to_owned(),
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One `bench_calls` run's JSON, with the same rounds in both modes.
    fn run(client: &[f64], reqwest: &[f64], limited: &[f64], ratio: f64) -> serde_json::Value {
        let mode = serde_json::json!({
            "ratio": ratio, "ratio_limited": ratio - 0.01,
            "per_round": {"client_us": client, "reqwest_us": reqwest, "limited_us": limited},
        });
        serde_json::json!({
            "calls": 2000, "rounds": client.len(), "concurrency": 16,
            "sequential": mode.clone(), "concurrent": mode,
        })
    }

    #[test]
    fn the_rounds_of_several_processes_are_pooled() {
        let runs = [
            run(&[11.0, 12.0], &[10.0, 10.0], &[10.0, 12.0], 1.15),
            run(&[20.0], &[10.0], &[20.0], 2.0),
        ];
        let pooled = pool_calls(&runs).unwrap();
        assert_eq!(pooled["processes"], 2);
        assert_eq!(pooled["rounds"], 2);
        let seq = &pooled["sequential"];
        // Times: medians of 11, 12, 20 and of 10, 10, 10.
        assert_eq!(seq["client_us"], 12.0);
        assert_eq!(seq["reqwest_us"], 10.0);
        // Per-round ratios 1.1, 1.2, 2.0 (not 12 / 10 from the medians).
        assert_eq!(seq["ratio"], 1.2);
        // Against the limited peer: 1.1, 1.0, 1.0.
        assert_eq!(seq["ratio_limited"], 1.0);
        assert_eq!(seq["process_ratios"], serde_json::json!([1.15, 2.0]));
        assert_eq!(pooled["concurrent"]["ratio"], 1.2);
    }

    #[test]
    fn runs_that_cannot_be_pooled_are_an_error() {
        assert!(pool_calls(&[]).is_err());
        let mut old = run(&[1.0], &[1.0], &[1.0], 1.0);
        old["sequential"]
            .as_object_mut()
            .unwrap()
            .remove("per_round");
        let error = pool_calls(&[old]).unwrap_err();
        assert!(error.contains("sequential.per_round.client_us"), "{error}");
        let uneven = run(&[1.0, 2.0], &[1.0], &[1.0], 1.0);
        assert!(pool_calls(&[uneven]).unwrap_err().contains("pair up"));
        // Uneven in opposite ways in two processes: the totals agree, the rounds do not.
        let longer = run(&[1.0, 2.0], &[1.0], &[1.0, 1.0], 1.0);
        let shorter = run(&[1.0], &[1.0, 2.0], &[1.0], 1.0);
        assert!(
            pool_calls(&[longer, shorter])
                .unwrap_err()
                .contains("pair up")
        );
    }
}
