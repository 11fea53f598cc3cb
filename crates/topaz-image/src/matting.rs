//! Submitting a matting job in one call, with every input checked before anything is sent.
//!
//! [`Client::matting`] takes an image (a local file, bytes in memory, or a URL Topaz fetches
//! itself) and returns a [`MattingRequest`]; [`MattingRequest::submit`] uploads it and returns a
//! [`Job`] to wait for and download, and [`MattingRequest::run`] does all three: submit, wait
//! (under [`wait`](MattingRequest::wait)'s policy) and download the output into memory. [`Client::matting_from_source_id`] reuses an image uploaded
//! by an earlier job.
//!
//! Checked locally, before any request (each failure is a [`CutoutError::InvalidInput`]):
//!
//! - a local file exists and its header says JPEG, PNG or TIFF (the types Topaz accepts);
//! - a `source_url` and a `webhook_url` are absolute `http(s)` URLs;
//! - a source id is not empty;
//! - free-form [`setting`](MattingRequest::setting)s have a name, and it is not one of the typed
//!   fields (`image`, `source_url`, `source_id`, `model`, `mode`, `output_format`, `webhook_url`).
//!
//! Files are streamed from disk in 64 KiB chunks, never read whole into memory, and re-opened if
//! the upload has to be sent again.
//!
//! # Defaults
//!
//! This layer uses the [`Model::RemoveBg`] ("Background Removal") model unless told otherwise,
//! because background removal is what the hand-written layer is for; the generated form (and the
//! API itself) default to [`Model::Object`]. The mode defaults to [`Mode::Segmentation`] (the
//! cut-out subject as RGBA) and the output format to PNG, as in the API.
//!
//! # Examples
//!
//! ```no_run
//! use topaz_image::{Client, ImageSource, Mode, Model, WaitPolicy};
//!
//! # async fn run() -> Result<(), topaz_image::CutoutError> {
//! let client = Client::from_env()?;
//! let job = client
//!     .matting(ImageSource::path("portrait.jpg"))
//!     .model(Model::Object)
//!     .mode(Mode::Alpha)
//!     .webhook_url("https://hooks.example.com/topaz")
//!     .on_upload_progress(|sent, total| eprintln!("{sent}/{total} bytes"))
//!     .submit()
//!     .await?;
//! job.wait(&WaitPolicy::default(), |p| eprintln!("{}: {:?}%", p.status, p.percent))
//!     .await?;
//! job.download_to("portrait.mask.png", false).await?;
//!
//! // Or submit, wait and download in one call:
//! let png = client
//!     .matting(ImageSource::path("portrait.jpg"))
//!     .wait(WaitPolicy::default())
//!     .on_progress(|p| eprintln!("{}: {:?}%", p.status, p.percent))
//!     .run()
//!     .await?;
//! # let _ = png;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use cutout_runtime::multipart::{FilePart, UploadProgress};
use cutout_runtime::probe::{ImageFormat, ImageInfo, probe_bytes, probe_file};
use cutout_runtime::validate::{display_url, http_url as check_http_url};

use crate::{
    Client, CutoutError, CutoutResult, ImageSource, Job, JobProgress, PROVIDER, WaitPolicy,
};

/// Called with each state of the job while [`MattingRequest::run`] waits.
type OnProgress = Arc<dyn Fn(&JobProgress) + Send + Sync>;

/// The matting model (the generated [`crate::types::MattingGanRequestModel`]): `Object` extracts the
/// main object; `RemoveBg` ("Background Removal") is tuned for clean subjects with fine edges.
pub use crate::types::MattingGanRequestModel as Model;

/// What the job returns (the generated [`crate::types::MattingGanRequestMode`]): `Alpha` is the
/// subject's mask, `Segmentation` the cut-out subject as an RGBA image.
pub use crate::types::MattingGanRequestMode as Mode;

/// The output image format (the generated [`crate::types::MattingGanRequestOutputFormat`]; only PNG).
pub use crate::types::MattingGanRequestOutputFormat as OutputFormat;

/// Form fields that have a typed setter; a free-form setting may not use these names.
const TYPED_FIELDS: &[&str] = &[
    "image",
    "source_url",
    "source_id",
    "model",
    "mode",
    "output_format",
    "webhook_url",
];

/// Where the image of a matting job comes from.
#[derive(Clone)]
enum Input {
    Source(ImageSource),
    SourceId(String),
}

/// A matting job being set up: made by [`Client::matting`] or
/// [`Client::matting_from_source_id`], sent by [`submit`](Self::submit) (returns the [`Job`]) or
/// [`run`](Self::run) (submits, waits and downloads the output).
pub struct MattingRequest<'a> {
    client: &'a Client,
    input: Input,
    model: Model,
    mode: Mode,
    output_format: OutputFormat,
    webhook_url: Option<String>,
    settings: Vec<(String, String)>,
    progress: Option<UploadProgress>,
    wait: WaitPolicy,
    on_progress: Option<OnProgress>,
}

impl fmt::Debug for MattingRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = match &self.input {
            Input::Source(source) => format!("{source:?}"),
            Input::SourceId(id) => format!("SourceId({id:?})"),
        };
        f.debug_struct("MattingRequest")
            .field("base_url", &self.client.baseurl)
            .field("input", &input)
            .field("model", &self.model)
            .field("mode", &self.mode)
            .field("output_format", &self.output_format)
            // A webhook URL may carry a token in its query.
            .field("webhook_url", &self.webhook_url.as_deref().map(display_url))
            .field("settings", &self.settings)
            .field("on_upload_progress", &self.progress.is_some())
            .field("wait", &self.wait)
            .field("on_progress", &self.on_progress.is_some())
            .finish()
    }
}

impl Client {
    /// Starts a matting job for `image`: a path (`&Path`, `PathBuf`), or any [`ImageSource`]
    /// (a file, bytes in memory, or a URL that Topaz downloads itself). Nothing is sent until
    /// [`MattingRequest::submit`].
    pub fn matting(&self, image: impl Into<ImageSource>) -> MattingRequest<'_> {
        self.new_matting(Input::Source(image.into()))
    }

    /// Starts a matting job on an image Topaz already has: the `source_id` of an earlier job
    /// ([`Job::source_id`]), so the image is not uploaded again.
    pub fn matting_from_source_id(&self, source_id: impl Into<String>) -> MattingRequest<'_> {
        self.new_matting(Input::SourceId(source_id.into()))
    }

    fn new_matting(&self, input: Input) -> MattingRequest<'_> {
        MattingRequest {
            client: self,
            input,
            model: Model::RemoveBg,
            mode: Mode::Segmentation,
            output_format: OutputFormat::Png,
            webhook_url: None,
            settings: Vec::new(),
            progress: None,
            wait: WaitPolicy::default(),
            on_progress: None,
        }
    }
}

impl<'a> MattingRequest<'a> {
    /// The model. Default here: [`Model::RemoveBg`] (the API's own default is `Object`).
    pub fn model(mut self, model: Model) -> Self {
        self.model = model;
        self
    }

    /// A mask ([`Mode::Alpha`]) or the cut-out subject ([`Mode::Segmentation`], the default).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The output format (PNG, the only one and the default).
    pub fn output_format(mut self, format: OutputFormat) -> Self {
        self.output_format = format;
        self
    }

    /// Where Topaz POSTs a notification at every status change (see [`crate::webhook`]). Must
    /// be an absolute `http://` or `https://` URL; checked when the job is submitted.
    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self
    }

    /// A model setting without a typed setter, sent as its own form field. Setting the same name
    /// twice keeps the last value. Names of typed fields (`model`, `mode`, `webhook_url`…) are
    /// refused when the job is submitted: use their setters.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Called with (bytes sent, total bytes) while a local file or in-memory image uploads.
    /// Called again from zero if the upload has to be retried. Not called for URLs and source ids.
    pub fn on_upload_progress(
        mut self,
        progress: impl Fn(u64, u64) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// How [`run`](Self::run) waits for the job (default [`WaitPolicy::default`]).
    pub fn wait(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    /// Called with each state of the job (status, percentage, ETA) while [`run`](Self::run)
    /// waits.
    pub fn on_progress(mut self, progress: impl Fn(&JobProgress) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(progress));
        self
    }

    /// Submits the job ([`submit`](Self::submit)), waits until it is `Completed`
    /// ([`Job::wait`], under [`wait`](Self::wait)'s policy) and downloads the output into memory
    /// (at most [`MAX_RESULT_BYTES`](crate::MAX_RESULT_BYTES)) without sending the key to the
    /// download host. A failed or cancelled job is a [`CutoutError::JobFailed`]; use
    /// [`submit`](Self::submit) to keep the [`Job`] (to stream the output to a file, cancel it…).
    pub async fn run(self) -> CutoutResult<bytes::Bytes> {
        let wait = self.wait.clone();
        let on_progress = self.on_progress.clone();
        let job = self.submit().await?;
        job.wait(&wait, |progress| {
            if let Some(on_progress) = &on_progress {
                on_progress(progress);
            }
        })
        .await?;
        job.download_bytes(crate::MAX_RESULT_BYTES).await
    }

    /// Checks the inputs, uploads the image and starts the job. Returns as soon as Topaz has
    /// accepted it; wait for it with [`Job::wait`].
    ///
    /// A `429`, `425` or `503` answer is retried under the client's [`RetryPolicy`](crate::RetryPolicy)
    /// (a submission is never sent twice when it may have been taken: see there).
    pub async fn submit(self) -> CutoutResult<Job> {
        let client = self.client;
        let prepared = self.prepare()?;
        let Prepared {
            part,
            source_url,
            source_id,
            model,
            mode,
            output_format,
            webhook_url,
            settings,
        } = prepared;
        let mut operation = client.post_matting().body_map(move |form| {
            form.model(model)
                .mode(mode)
                .output_format(output_format)
                .source_url(source_url)
                .source_id(source_id)
                .webhook_url(webhook_url)
                .extra(settings)
        });
        if let Some(part) = part {
            operation = operation.image(part);
        }
        let accepted = client
            .context()
            .call("post_matting", operation.send())
            .await?
            .into_inner();
        Ok(Job::accepted(client.clone(), accepted))
    }

    /// Every local check, and the parts of the form.
    fn prepare(self) -> CutoutResult<Prepared> {
        let webhook_url = match self.webhook_url {
            Some(url) => Some(check_http_url("webhook_url", &url)?),
            None => None,
        };
        let settings = check_settings(self.settings)?;
        let (part, source_url, source_id) = match self.input {
            Input::SourceId(id) => {
                let id = id.trim();
                if id.is_empty() {
                    return Err(CutoutError::invalid(
                        "source_id",
                        "the source id is empty: pass the `source_id` of an earlier job \
                         (`Job::source_id`)",
                    ));
                }
                (None, None, Some(id.to_owned()))
            }
            Input::Source(ImageSource::Url(url)) => {
                (None, Some(check_http_url("source_url", &url)?), None)
            }
            Input::Source(ImageSource::Path(path)) => {
                let format = check_file(&path)?;
                let part = FilePart::path(path).content_type(format.mime_type());
                (Some(part), None, None)
            }
            Input::Source(ImageSource::Bytes { bytes, file_name }) => {
                let format = check_format(probe_bytes(&bytes), &file_name)?;
                let part = FilePart::bytes(bytes, file_name).content_type(format.mime_type());
                (Some(part), None, None)
            }
        };
        let part = match (part, self.progress) {
            (Some(part), Some(progress)) => Some(part.on_progress(progress)),
            (part, _) => part,
        };
        Ok(Prepared {
            part,
            source_url,
            source_id,
            model: self.model,
            mode: self.mode,
            output_format: self.output_format,
            webhook_url,
            settings,
        })
    }
}

/// A checked request, ready to be sent.
struct Prepared {
    part: Option<FilePart>,
    source_url: Option<String>,
    source_id: Option<String>,
    model: Model,
    mode: Mode,
    output_format: OutputFormat,
    webhook_url: Option<String>,
    settings: HashMap<String, String>,
}

/// A local image must exist and be JPEG, PNG or TIFF; its format is returned.
fn check_file(path: &Path) -> CutoutResult<ImageFormat> {
    if !path.exists() {
        return Err(CutoutError::invalid(
            "image",
            format!(
                "`{}` does not exist: check the path (relative paths start from the current \
                 directory)",
                path.display()
            ),
        ));
    }
    if path.is_dir() {
        return Err(CutoutError::invalid(
            "image",
            format!("`{}` is a directory: pass an image file", path.display()),
        ));
    }
    check_format(probe_file(path)?, &path.display().to_string())
}

/// The image must be in a format Topaz documents and state a size it accepts (both from
/// `specs/providers.toml`, as `PROVIDER.capabilities`).
fn check_format(info: Option<ImageInfo>, name: &str) -> CutoutResult<ImageFormat> {
    let capabilities = &PROVIDER.capabilities;
    let formats = capabilities.formats_text().unwrap_or_default();
    match info {
        Some(info) if capabilities.input_formats.contains(&info.format) => {
            let limit = capabilities.max_side.map(|side| ("Topaz", side));
            info.check_dimensions("image", name, limit)?;
            Ok(info.format)
        }
        Some(info) => Err(CutoutError::invalid(
            "image",
            format!(
                "`{name}` is a {}; Topaz accepts {formats}: convert it to one of those first",
                info.format
            ),
        )),
        None => Err(CutoutError::invalid(
            "image",
            format!(
                "`{name}` is not an image (its header is not {formats}); Topaz accepts {formats}"
            ),
        )),
    }
}

fn check_settings(settings: Vec<(String, String)>) -> CutoutResult<HashMap<String, String>> {
    let mut checked = BTreeMap::new();
    for (name, value) in settings {
        let name = name.trim().to_owned();
        if name.is_empty() {
            return Err(CutoutError::invalid(
                "setting",
                "a setting has an empty name: give every setting the name Topaz documents for it",
            ));
        }
        if TYPED_FIELDS.contains(&name.as_str()) {
            return Err(CutoutError::invalid(
                format!("setting `{name}`"),
                format!(
                    "`{name}` is a typed field, not a free-form setting: use {} instead",
                    setter_for(&name)
                ),
            ));
        }
        checked.insert(name, value);
    }
    Ok(checked.into_iter().collect())
}

fn setter_for(field: &str) -> &'static str {
    match field {
        "model" => "`.model(..)`",
        "mode" => "`.mode(..)`",
        "output_format" => "`.output_format(..)`",
        "webhook_url" => "`.webhook_url(..)`",
        "source_id" => "`Client::matting_from_source_id(..)`",
        _ => "`Client::matting(..)` with the image",
    }
}
