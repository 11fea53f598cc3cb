//! The command line: every command, flag and help text (clap derive).

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use cutout::Provider;

/// Shown under the top-level `--help`.
const TOP_AFTER_HELP: &str = "\
Keys and base URLs come from the same environment variables as the libraries:
  topaz          TOPAZ_API_KEY          TOPAZ_BASE_URL
  backgroundcut  BACKGROUNDCUT_API_KEY  BACKGROUNDCUT_BASE_URL
  modelslab      MODELSLAB_API_KEY      MODELSLAB_BASE_URL
  tengr          TENGR_API_KEY          TENGR_BASE_URL
With --sandbox none of them is needed: the simulators run inside this process.

Diagnostics go to stderr when RUST_LOG (or CUTOUT_LOG, which wins) is set: a level
(debug) or target=level pairs, e.g. RUST_LOG=cutout::router=info shows each fallback
decision, RUST_LOG=cutout_runtime=warn each retry. Off when unset; a value that does not
parse is a usage error.

Exit codes:
  0  every input succeeded
  1  some inputs failed (the summary on stderr says which and why)
  2  usage error (unknown flag, missing argument, conflicting options)
  3  configuration or setup error (missing API key, bad base URL, the sandbox, the
     output folder or the journal could not be set up); nothing was sent
  4  stopped by --max-credits: some inputs were not submitted (run again without it, or
     with a higher budget, to finish them; nothing is paid twice)
  130  interrupted (Ctrl-C); unfinished outputs are not written

Examples:
  cutout --sandbox remove-bg crates/cutout-cli/samples/subject.jpg -o out/
  cutout remove-bg photos/*.jpg --provider modelslab --mask -o masks/
  cutout matte photo.jpg --trimap-from-mask photo.mask.png --band 12
  cutout segment https://example.com/street.jpg --prompt \"the red car\"
  cutout jobs list";

/// Background removal, matting and segmentation from the shell.
///
/// `cutout` sends images to one of four services (Topaz Labs, BackgroundCut, ModelsLab,
/// Tengr.ai) and writes the results next to you: cut-outs (the subject on a transparent
/// background) or masks (white where the subject is). Every command also runs against
/// local simulators of those services with --sandbox, without keys or network.
#[derive(Debug, Parser)]
#[command(name = "cutout", version, max_term_width = 100, after_help = TOP_AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags that every command accepts, before or after its name.
#[derive(Debug, Args)]
pub struct Global {
    /// Start the provider simulators inside this process and send everything there (no keys,
    /// no network). Local files work for every provider, URL-only ones included.
    #[arg(long, global = true, help_heading = "Global options")]
    pub sandbox: bool,

    /// Print one JSON object per input (or job) on stdout instead of the human summary.
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,

    /// No progress on stderr; failures and the summary still print.
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,

    /// How long a simulated job takes, in milliseconds (tests use a short one).
    #[arg(
        long,
        global = true,
        hide = true,
        env = "CUTOUT_SANDBOX_JOB_MS",
        value_name = "MS"
    )]
    pub sandbox_job_ms: Option<u64>,

    /// `cutout sandbox --credits` for the simulators of --sandbox, comma-separated.
    #[arg(
        long,
        global = true,
        hide = true,
        env = "CUTOUT_SANDBOX_CREDITS",
        value_name = "PROVIDER=N,…",
        value_delimiter = ','
    )]
    pub sandbox_credits: Vec<cutout_sandbox::ProviderCredits>,

    /// `cutout sandbox --fail` for the simulators of --sandbox, comma-separated.
    #[arg(
        long,
        global = true,
        hide = true,
        env = "CUTOUT_SANDBOX_FAIL",
        value_name = "PROVIDER=KIND[:RATE],…",
        value_delimiter = ','
    )]
    pub sandbox_fail: Vec<cutout_sandbox::ProviderFault>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Cut the subject out of images (or make their masks) with any provider.
    #[command(name = "remove-bg", after_help = remove_bg_after_help())]
    RemoveBg(RemoveBgArgs),

    /// Trimap-guided matting of images with BackgroundCut.
    #[command(after_help = MATTE_AFTER_HELP)]
    Matte(MatteArgs),

    /// Segment images by a text prompt or by points with Tengr.ai; writes the masks.
    #[command(after_help = SEGMENT_AFTER_HELP)]
    Segment(SegmentArgs),

    /// Make a trimap from a mask, locally (nothing is sent anywhere).
    #[command(after_help = TRIMAP_AFTER_HELP)]
    Trimap(TrimapArgs),

    /// Look after paid jobs: status and download for every provider, list, cancel, submit.
    #[command(subcommand, after_help = JOBS_AFTER_HELP)]
    Jobs(JobsCommand),

    /// Run every provider on the same images; write each result and a contact sheet.
    #[command(after_help = crate::commands::compare::AFTER_HELP)]
    Compare(crate::commands::compare::CompareArgs),

    /// What Topaz would charge for matting images, before sending them.
    #[command(after_help = ESTIMATE_AFTER_HELP)]
    Estimate(EstimateArgs),

    /// Summarise a batch journal: units per state, failures, uncertain submissions.
    #[command(after_help = JOURNAL_AFTER_HELP)]
    Journal(JournalArgs),

    /// Serve the provider simulators in the foreground and print their base URLs and keys.
    #[command(after_help = SANDBOX_AFTER_HELP)]
    Sandbox(SandboxArgs),
}

/// The text under `cutout remove-bg --help`; which providers make masks and which take URLs
/// only comes from the providers' facts.
fn remove_bg_after_help() -> String {
    let names = |keep: fn(Provider) -> bool| -> Vec<&'static str> {
        Provider::ALL
            .iter()
            .copied()
            .filter(|p| keep(*p))
            .map(Provider::name)
            .collect()
    };
    let elsewhere: Vec<String> = Provider::ALL
        .iter()
        .filter_map(|p| mask_command(*p).map(|command| format!("for {p} use `{command}`")))
        .collect();
    let mut text = String::from(
        "Each input is a local file, an http(s) URL, a folder (walked recursively: images are\n\
         recognised by their content, other files are skipped and counted; hidden files and\n\
         folders, named with a leading `.`, are left out and counted, but taken when named\n\
         explicitly) or a glob pattern (quoted or expanded by the shell). Results are named\n\
         <name>.cutout.<ext> (--mask: <name>.mask.<ext>), with the extension of the format the\n\
         provider returned, in the current directory or in the folder given with -o. <name> is\n\
         the file's stem, or for an image of a folder its path under the folder, so the\n\
         structure is mirrored: photos/a/b.jpg given as `photos` becomes OUT/a/b.cutout.png.\n\
         The output folder is never read as input.\n\n\
         The batch journal identifies a local file by its content and a URL by the URL as\n\
         given, query included: a re-signed URL of the same image is new (paid) work.\n\n",
    );
    text.push_str(&format!(
        "Masks: {} make them; {}.\n",
        names(Provider::makes_masks).join(" and "),
        elsewhere.join(", ")
    ));
    for name in names(|p| !p.accepts_local_files()) {
        text.push_str(&format!(
            "{name} fetches images by URL: pass a public URL (with --sandbox a local file works \
             too).\n"
        ));
    }
    text.push_str(
        "\nExamples:\n  cutout remove-bg photo.jpg\n  \
         cutout remove-bg a.jpg b.png c.jpg --provider backgroundcut -o cutouts/\n  \
         cutout remove-bg photos/ -o cutouts/\n  \
         cutout remove-bg 'photos/**/*.jpg' -j 8 -o cutouts/\n  \
         cutout remove-bg photo.jpg --provider modelslab --mask -o photo-mask.png\n  \
         cutout remove-bg photos/ --provider topaz,modelslab --json -o cutouts/",
    );
    text
}

/// The command that makes a mask with a provider whose background removal does not.
pub fn mask_command(provider: Provider) -> Option<&'static str> {
    match provider {
        Provider::BackgroundCut => Some("cutout matte --mask"),
        Provider::Tengr => Some("cutout segment"),
        _ => None,
    }
}

/// The facade's providers by name, each with its title (and "URL inputs" where it takes no
/// local files), for the help.
fn provider_values() -> impl Iterator<Item = PossibleValue> {
    Provider::ALL.iter().map(|provider| {
        let mut help = provider.title().to_owned();
        if !provider.accepts_local_files() {
            help.push_str(" (URL inputs)");
        }
        PossibleValue::new(provider.name()).help(help)
    })
}

/// `--provider`: one provider by name.
fn provider_parser() -> SingleProviderParser {
    SingleProviderParser
}

/// One provider (`jobs`, `matte`, `segment`, `estimate`…), listed in the help. A list (as
/// `CUTOUT_PROVIDER` may hold for `remove-bg`'s fallback) is refused with what to do instead.
#[derive(Debug, Clone, Copy)]
struct SingleProviderParser;

impl TypedValueParser for SingleProviderParser {
    type Value = Provider;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Provider, clap::Error> {
        if value.to_string_lossy().contains(',') {
            return clap::builder::StringValueParser::new()
                .try_map(|list: String| {
                    Err::<Provider, String>(format!(
                        "`{list}` is a list, and this command takes one provider (a fallback \
                         list is for `remove-bg`): pass one with -p/--provider, e.g. -p {}",
                        list.split(',').next().unwrap_or_default().trim()
                    ))
                })
                .parse_ref(command, arg, value);
        }
        PossibleValuesParser::new(provider_values())
            .try_map(|name: String| name.parse::<Provider>())
            .parse_ref(command, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(provider_values()))
    }
}

/// `remove-bg --provider a,b`: [`parse_provider_list`], with the providers listed in the help.
#[derive(Debug, Clone, Copy)]
struct ProviderListParser;

impl TypedValueParser for ProviderListParser {
    type Value = Vec<Provider>;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Vec<Provider>, clap::Error> {
        clap::builder::StringValueParser::new()
            .try_map(|text: String| parse_provider_list(&text))
            .parse_ref(command, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(provider_values()))
    }
}

/// An ordered list of providers, `topaz,modelslab`: the one parser of `remove-bg --provider`
/// and `compare --providers`. Items are trimmed and case-insensitive; an empty item, an unknown
/// name or a name given twice is an error that says which.
pub fn parse_provider_list(text: &str) -> Result<Vec<Provider>, String> {
    let mut list: Vec<Provider> = Vec::new();
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!(
                "empty provider name in `{text}`: separate names with single commas \
                 (topaz,modelslab)"
            ));
        }
        let provider: Provider = item.parse().map_err(|e| format!("{e}"))?;
        if list.contains(&provider) {
            return Err(format!(
                "`{text}` lists {provider} twice: name each provider once"
            ));
        }
        list.push(provider);
    }
    Ok(list)
}

/// How many inputs run at once unless `--concurrency` says otherwise: the provider's queue cap
/// where it documents one, else 4.
pub fn default_concurrency(provider: Provider) -> usize {
    provider.max_concurrent_jobs().unwrap_or(4)
}

fn concurrency_help() -> String {
    let capped: Vec<String> = Provider::ALL
        .iter()
        .filter_map(|p| {
            p.max_concurrent_jobs()
                .map(|cap| format!("{cap} for {p} (its queue cap)"))
        })
        .collect();
    let mut help = String::from("How many inputs run at once [default: ");
    for cap in &capped {
        help.push_str(cap);
        help.push_str(", ");
    }
    help.push_str("4 otherwise]");
    help
}

/// `-j` of a command that always uses `provider`.
fn provider_concurrency_help(provider: Provider) -> String {
    format!(
        "How many images run at once [default: {}]",
        default_concurrency(provider)
    )
}

/// `cutout remove-bg`.
#[derive(Debug, Args)]
pub struct RemoveBgArgs {
    /// Images: local files (JPEG, PNG, WebP, TIFF…), folders, glob patterns or http(s) URLs.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// The service that does the work, or an ordered fallback list (`topaz,modelslab`): each
    /// input goes to the first listed provider that can take it and has credits and is up; a
    /// job that fails at one goes to the next. A submission the provider may have taken is
    /// never sent elsewhere. The journal recognises an input done (or paid and in flight) by any
    /// provider listed now, whatever list it was run with; switching to a provider that did NOT
    /// do it pays that provider.
    #[arg(
        short,
        long,
        value_name = "PROVIDER[,PROVIDER…]",
        value_parser = ProviderListParser,
        default_value = "topaz",
        env = "CUTOUT_PROVIDER"
    )]
    // Fully qualified: one value (the whole list, parsed by `parse_provider_list`), not clap's
    // one-value-per-occurrence `Vec`.
    pub provider: ::std::vec::Vec<Provider>,

    /// Write the subject's mask (white = subject) instead of the cut-out.
    #[arg(long)]
    pub mask: bool,

    #[arg(short = 'j', long, value_name = "N", help = concurrency_help(), value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub batch: BatchArgs,

    #[command(flatten)]
    pub wait: WaitArgs,
}

/// The journal of a batch: resume, plan, budget.
#[derive(Debug, Args, Clone)]
pub struct BatchArgs {
    /// The batch journal (default: .cutout-journal.sqlite in the output folder; beside the
    /// file for -o FILE; in the current directory without -o). Re-running a command with the
    /// same journal resumes it: finished inputs are skipped, paid jobs are picked up again.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,

    /// Print what would be submitted, skipped, re-attached or is uncertain, and the estimated
    /// credits; send nothing and create nothing (no key needed). With --max-credits, marks the
    /// inputs the budget would leave out.
    #[arg(long)]
    pub dry_run: bool,

    /// Stop submitting new work once the estimated credits would pass N (work already
    /// submitted finishes); exit code 4 when inputs were left out. The budget is per run:
    /// running `--max-credits 3` twice may submit 6.
    #[arg(long, value_name = "N")]
    pub max_credits: Option<u64>,

    /// Submit again the inputs a killed run left in the middle of a submission (the provider
    /// may have the job already: this may pay twice).
    #[arg(long)]
    pub resubmit_uncertain: bool,

    /// Submit again the inputs whose job failed in an earlier run after it was paid for (by
    /// default they are reported, not paid for again).
    #[arg(long)]
    pub retry_failed: bool,
}

/// `cutout journal`.
#[derive(Debug, Args)]
pub struct JournalArgs {
    /// The output folder whose journal to read (default: the current directory).
    #[arg(value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// The journal file itself (instead of OUT/.cutout-journal.sqlite).
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
}

const JOURNAL_AFTER_HELP: &str = "\
A journal is written by remove-bg, matte and segment into their output folder (.cutout-journal.sqlite, or the
path given with --journal): one row per unit of paid work. This prints how many are in each
state, the failures with their reasons, and the uncertain ones (a run was killed while
submitting them: check the provider's dashboard or `cutout jobs`, then re-run with
--resubmit-uncertain to pay again) with their inputs. Nothing is sent anywhere.";

/// Where results go.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Output folder (an existing one, or a path ending in `/`, created if missing), or, with a
    /// single input, the output file. Default: the current directory.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// Redo and overwrite: replace output files that already exist (by default they are never
    /// overwritten). remove-bg, matte and segment also submit again, and pay again for, inputs
    /// their journal says are done, and retry those whose paid job failed (as
    /// --retry-failed); a job paid for and not yet delivered is downloaded again, never paid
    /// again, and inputs a killed run left uncertain stay so (see --resubmit-uncertain).
    #[arg(short, long)]
    pub force: bool,
}

/// How long to wait for jobs.
#[derive(Debug, Args, Clone)]
pub struct WaitArgs {
    /// Give up on an input after this many seconds: uploading, waiting and downloading
    /// included (a job that was started may still finish).
    #[arg(long, value_name = "SECS", default_value_t = 1800)]
    pub wait_timeout: u64,
}

const MATTE_AFTER_HELP: &str = "\
Matting refines the edge of a subject you have roughly marked already. It needs the photo as
an RGB JPEG and a trimap: a grayscale JPEG of exactly the photo's size, white (255) where the
subject surely is, black (0) where it surely is not, and gray (128) over the uncertain band
along the edge. Pass a trimap you made, or a mask to make one from (--trimap-from-mask).

The result is <stem>.cutout.png (--mask: the matte as <stem>.mask.jpg).

Several photos (files, folders, glob patterns) need --trimap or --trimap-from-mask to be a
folder: each photo is paired by name, so the photo named a/b (photos/a/b.jpg given as
`photos`) takes TRIMAPS/a/b.trimap.<ext> or TRIMAPS/a/b.<ext> (masks: MASKS/a/b.mask.<ext> or
MASKS/a/b.<ext>), and its result goes to OUT/a/b.cutout.png. Photos without their pair are
listed before anything is sent. The folders may be one and the same.

Examples:
  cutout matte photo.jpg --trimap photo.trimap.jpg
  cutout matte photo.jpg --trimap-from-mask photo.mask.png --band 12 --mask
  cutout matte photos/ --trimap trimaps/ -o cutouts/";

/// `cutout matte`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("guide").required(true).args(["trimap", "trimap_from_mask"]))]
pub struct MatteArgs {
    /// The photos (RGB JPEGs): files, folders or glob patterns.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,

    /// The trimap: a grayscale JPEG of the photo's size (255 subject, 0 background, 128
    /// unknown); with several photos, a folder of them paired by name.
    #[arg(long, value_name = "TRIMAP")]
    pub trimap: Option<String>,

    /// Make the trimap from this mask (PNG, JPEG or WebP of the photo's size; white or opaque =
    /// subject) instead of passing one; with several photos, a folder of them paired by name.
    #[arg(long, value_name = "MASK")]
    pub trimap_from_mask: Option<PathBuf>,

    /// With --trimap-from-mask: how many pixels on each side of the mask's edge are uncertain.
    #[arg(
        long,
        value_name = "PX",
        default_value_t = 10,
        requires = "trimap_from_mask"
    )]
    pub band: u32,

    /// Write the matte (a grayscale JPEG, white = subject) instead of the cut-out.
    #[arg(long)]
    pub mask: bool,

    #[arg(short = 'j', long, value_name = "N", help = provider_concurrency_help(Provider::BackgroundCut), value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub batch: BatchArgs,

    #[command(flatten)]
    pub wait: WaitArgs,
}

const SEGMENT_AFTER_HELP: &str = "\
Points are fractions of the image's width and height, from 0 to 1 (0.5,0.5 is the centre),
marking the subject (fg, the default) or what to leave out (bg). At least one fg point.

Tengr fetches the image itself, so IMAGE is a public http(s) URL; with --sandbox local files,
folders and glob patterns work too. The mask is written as <name>.mask.png (more masks:
<name>.mask-2.png, …), <name> being the stem, or for an image of a folder its path under the
folder (mirrored under -o). Hidden files and folders (a leading `.`) are left out of folders.

The batch journal identifies a URL by the URL as given, query included: a re-signed URL of the
same image is new (paid) work. A local file is identified by its content.

Examples:
  cutout segment https://example.com/street.jpg --prompt \"the red car\"
  cutout segment https://example.com/dog.jpg --point 0.5,0.6 --point 0.1,0.1:bg
  cutout --sandbox segment crates/cutout-cli/samples/subject.jpg --point 0.5,0.5";

/// `cutout segment`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("how").required(true).args(["prompt", "points"]))]
pub struct SegmentArgs {
    /// Images: public http(s) URLs (local files, folders and glob patterns with --sandbox).
    #[arg(required = true, value_name = "IMAGE_URL")]
    pub images: Vec<String>,

    /// What to segment, in words ("the dog", "red car").
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,

    /// A point on the subject (X,Y or X,Y:fg) or on what to leave out (X,Y:bg); X and Y are
    /// fractions 0..1 of the width and height. Repeat for more points.
    #[arg(long = "point", value_name = "X,Y[:fg|bg]", value_parser = parse_point)]
    pub points: Vec<Point>,

    /// The mask's image format.
    #[arg(long, value_enum, default_value_t = MaskFormat::Png)]
    pub format: MaskFormat,

    /// Grow (positive) or shrink (negative) the mask by this many pixels.
    #[arg(
        long,
        value_name = "PX",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub expand: i64,

    #[arg(short = 'j', long, value_name = "N", help = provider_concurrency_help(Provider::Tengr), value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub batch: BatchArgs,

    #[command(flatten)]
    pub wait: WaitArgs,
}

/// The format of a segmentation mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MaskFormat {
    /// PNG.
    Png,
    /// WebP (lossless).
    Webp,
}

/// A segmentation point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Fraction of the width.
    pub x: f64,
    /// Fraction of the height.
    pub y: f64,
    /// On the subject (true) or on what to leave out.
    pub foreground: bool,
}

/// `X,Y`, `X,Y:fg` or `X,Y:bg`, with X and Y in 0..=1.
pub fn parse_point(text: &str) -> Result<Point, String> {
    let (coordinates, label) = match text.rsplit_once(':') {
        Some((coordinates, label)) => (coordinates, Some(label)),
        None => (text, None),
    };
    let foreground = match label.map(|l| l.trim().to_ascii_lowercase()).as_deref() {
        None | Some("fg") | Some("+") => true,
        Some("bg") | Some("-") => false,
        Some(other) => {
            return Err(format!(
                "`{other}` is not a label: end the point with :fg (subject) or :bg (leave out)"
            ));
        }
    };
    let Some((x, y)) = coordinates.split_once(',') else {
        return Err(format!(
            "`{text}` is not a point: write X,Y with fractions of the width and height, e.g. \
             0.5,0.4 or 0.1,0.1:bg"
        ));
    };
    let number = |value: &str, axis: &str| -> Result<f64, String> {
        let parsed: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("{axis} `{}` is not a number", value.trim()))?;
        if !(0.0..=1.0).contains(&parsed) {
            return Err(format!(
                "{axis} {parsed} is outside 0..1: points are fractions of the image's width and \
                 height (0.5,0.5 is the centre), not pixels"
            ));
        }
        Ok(parsed)
    };
    Ok(Point {
        x: number(x, "x")?,
        y: number(y, "y")?,
        foreground,
    })
}

const TRIMAP_AFTER_HELP: &str = "\
The mask may be any PNG, JPEG or WebP: with an alpha channel (a cut-out) the alpha is the
mask, otherwise its gray levels are; values of 128 and above count as the subject. Every
pixel within --band pixels of the subject's edge, on either side, becomes gray (128). The
trimap is written as a grayscale JPEG, the format `cutout matte` needs.

Example:
  cutout trimap photo.mask.png -o photo.trimap.jpg --band 8";

/// `cutout trimap`.
#[derive(Debug, Args)]
pub struct TrimapArgs {
    /// The mask (white or opaque = subject).
    #[arg(value_name = "MASK")]
    pub mask: PathBuf,

    /// Where to write the trimap (a .jpg file or a folder). Default: <stem>.trimap.jpg in the
    /// current directory.
    #[arg(short, long, value_name = "TRIMAP")]
    pub output: Option<PathBuf>,

    /// How many pixels on each side of the edge are marked uncertain.
    #[arg(long, value_name = "PX", default_value_t = 10)]
    pub band: u32,

    /// Replace the trimap file if it exists.
    #[arg(short, long)]
    pub force: bool,
}

/// The text under `cutout jobs --help`.
const JOBS_AFTER_HELP: &str = "\
A job id is what the provider calls the paid work (the `job_id` of --json lines and of the
batch journal):
  topaz          the process id (a UUID)
  modelslab      the request id (a number)
  tengr          the artwork id
  backgroundcut  the output key (BackgroundCut answers only when the work is done, and keeps
                 outputs for 2 hours)
`status` and `download` work with every provider; `list` with Topaz and Tengr; `cancel` and
`submit` with Topaz only.

Examples:
  cutout jobs list
  cutout jobs download 4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11 -o results/
  cutout jobs status -p modelslab 81234567
  cutout jobs download -p backgroundcut cutout/cutout-1764300000000-0-3fa85f64a1b2.png";

/// `--provider` of the `jobs` commands: whose job ids these are.
#[derive(Debug, Args, Clone, Copy)]
pub struct JobsProvider {
    /// Whose jobs: a Topaz process id, a ModelsLab request id (a number), a Tengr artwork id or
    /// a BackgroundCut output key.
    #[arg(
        short,
        long,
        value_parser = provider_parser(),
        ignore_case = true,
        default_value_t = Provider::Topaz,
        env = "CUTOUT_PROVIDER"
    )]
    pub provider: Provider,
}

/// `cutout jobs …`: looking after paid jobs of every provider.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List the account's jobs (Topaz: newest first; Tengr: its artworks).
    List {
        /// Topaz (its jobs) or Tengr (its artworks); the others keep no list to read.
        #[arg(
            short,
            long,
            value_parser = provider_parser(),
            ignore_case = true,
            default_value_t = Provider::Topaz,
            env = "CUTOUT_PROVIDER"
        )]
        provider: Provider,

        /// Stop with an error after this many pages of the list (a bound on a server whose
        /// pages never end).
        #[arg(long, value_name = "N", default_value_t = cutout::topaz::MAX_JOB_PAGES,
              value_parser = clap::value_parser!(usize))]
        max_pages: usize,
    },
    /// Show the status of jobs, one line each (BackgroundCut: whether the output is still kept).
    Status {
        #[command(flatten)]
        provider: JobsProvider,

        /// Job ids (see --provider for what an id is).
        #[arg(required = true, value_name = "JOB_ID")]
        ids: Vec<String>,
    },
    /// Cancel Topaz jobs that are still pending or processing.
    Cancel {
        /// Only topaz: the other providers are refused, with what they offer instead.
        #[arg(
            short,
            long,
            value_parser = provider_parser(),
            ignore_case = true,
            default_value_t = Provider::Topaz,
            env = "CUTOUT_PROVIDER"
        )]
        provider: Provider,

        /// Job ids (`process_id`).
        #[arg(required = true, value_name = "JOB_ID")]
        ids: Vec<String>,
    },
    /// Download the results of jobs, waiting for those still running. Named <job id>.<ext>
    /// (more results of one job: <job id>-2.<ext>, …); characters of an id that do not belong
    /// in a file name become `_`.
    Download {
        #[command(flatten)]
        provider: JobsProvider,

        /// Job ids (see --provider for what an id is).
        #[arg(required = true, value_name = "JOB_ID")]
        ids: Vec<String>,

        #[command(flatten)]
        output: OutputArgs,

        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Start Topaz matting jobs without waiting for them; prints their ids.
    Submit {
        /// Only topaz: the other providers are refused, with what they offer instead.
        #[arg(
            short,
            long,
            value_parser = provider_parser(),
            ignore_case = true,
            default_value_t = Provider::Topaz,
            env = "CUTOUT_PROVIDER"
        )]
        provider: Provider,

        /// Images: local files or http(s) URLs.
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,

        /// Make masks (mode alpha) instead of cut-outs (mode segmentation).
        #[arg(long)]
        mask: bool,

        /// The matting model.
        #[arg(long, value_enum, default_value_t = ModelArg::RemoveBg)]
        model: ModelArg,
    },
}

/// A Topaz matting model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// "Background Removal": clean subjects with fine edges.
    RemoveBg,
    /// "Object": the main object of the image.
    Object,
}

const ESTIMATE_AFTER_HELP: &str = "\
Image sizes are read from the files' headers; nothing is uploaded.

Examples:
  cutout estimate photos/*.jpg
  cutout estimate --size 6000x4000 --model object";

/// `cutout estimate`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).multiple(true).args(["images", "size"]))]
pub struct EstimateArgs {
    /// Local images to estimate.
    #[arg(value_name = "IMAGE")]
    pub images: Vec<PathBuf>,

    /// An image size instead of files: WIDTHxHEIGHT in pixels (repeatable).
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Vec<(u32, u32)>,

    /// The matting model.
    #[arg(long, value_enum, default_value_t = ModelArg::RemoveBg)]
    pub model: ModelArg,
}

/// `WIDTHxHEIGHT`.
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let lower = text.to_ascii_lowercase();
    let parsed = lower
        .split_once(['x', '×'])
        .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)));
    match parsed {
        Some((w, h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(format!(
            "`{text}` is not a size: write WIDTHxHEIGHT in pixels, e.g. 6000x4000"
        )),
    }
}

const SANDBOX_AFTER_HELP: &str = "\
Point any client (this command, the libraries, curl) at the printed base URLs with the
printed keys, e.g. in another shell:
  export TOPAZ_BASE_URL=http://127.0.0.1:PORT/image/v1 TOPAZ_API_KEY=sandbox-topaz-key
  cutout jobs list
The simulators keep their state (jobs, files) until you stop them with Ctrl-C.";

/// `cutout sandbox`.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// First of five consecutive ports (Topaz, BackgroundCut, ModelsLab, Tengr, file host);
    /// 0 picks free ports.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub port_base: u16,

    /// How long a simulated job takes, in milliseconds [default: 1500].
    #[arg(long, value_name = "MS")]
    pub job_ms: Option<u64>,

    /// Starting credits of one provider's account (repeatable; the others have 1000). A paid
    /// submission that costs more than the balance (every one at 0) is answered 402 in the
    /// provider's own words (Topaz "not enough credits", BackgroundCut "insufficient credits",
    /// ModelsLab "Insufficient balance", Tengr "Insufficient credits"), which a --provider list
    /// takes as out of credits and falls back from. For the global --sandbox, put the values in
    /// CUTOUT_SANDBOX_CREDITS, comma-separated.
    #[arg(long, value_name = "PROVIDER=N")]
    pub credits: Vec<cutout_sandbox::ProviderCredits>,

    /// Faults of one provider's API (repeatable): KIND is unavailable (503), rate-limited (429
    /// with --retry-after), bad-gateway (502), internal (500), dropped (connection closed),
    /// answer-lost (the job is made and charged, the answer lost) or slow (held 5 s); RATE is
    /// the chance per request, 0..1 [default: 1]. Only paid submissions fail: jobs already
    /// accepted can still be polled and fetched. For the global --sandbox, put the values in
    /// CUTOUT_SANDBOX_FAIL, comma-separated.
    #[arg(long, value_name = "PROVIDER=KIND[:RATE]")]
    pub fail: Vec<cutout_sandbox::ProviderFault>,

    /// Seconds announced in Retry-After by the 429s of --fail PROVIDER=rate-limited.
    #[arg(long, value_name = "SECS", default_value_t = 1)]
    pub retry_after: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn points_parse_and_explain_mistakes() {
        assert_eq!(
            parse_point("0.5,0.25").unwrap(),
            Point {
                x: 0.5,
                y: 0.25,
                foreground: true
            }
        );
        assert!(!parse_point("0.1, 0.1:bg").unwrap().foreground);
        assert!(parse_point("0.1,0.1:fg").unwrap().foreground);
        assert!(parse_point("120,80").unwrap_err().contains("not pixels"));
        assert!(parse_point("0.5").unwrap_err().contains("X,Y"));
        assert!(parse_point("0.5,0.5:maybe").unwrap_err().contains(":bg"));
        assert!(parse_point("a,0.5").unwrap_err().contains("not a number"));
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("6000x4000").unwrap(), (6000, 4000));
        assert_eq!(parse_size("320×240").unwrap(), (320, 240));
        assert!(parse_size("0x5").is_err());
        assert!(parse_size("big").is_err());
    }
}
