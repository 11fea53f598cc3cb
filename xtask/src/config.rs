//! `specs/providers.toml`: the one place that says which crates are generated from which specs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result, io};

/// Where the provider table lives, relative to the repository root.
pub const CONFIG_PATH: &str = "specs/providers.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    providers: BTreeMap<String, Provider>,
}

/// One generated crate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Provider name (the table key), also the crate name.
    #[serde(skip)]
    pub name: String,
    /// The API description (JSON or YAML, OpenAPI 3.0.x or 3.1.x), relative to the root.
    pub spec: PathBuf,
    /// An optional JSON Merge Patch (RFC 7396, JSON or YAML) applied to `spec` before lowering.
    pub patch: Option<PathBuf>,
    /// Where the spec came from and what generated the code (`specs/<provider>/lock.toml`, see
    /// [`crate::lock`]); optional only so the xtask's own fixtures can go without one.
    pub lock: Option<PathBuf>,
    /// The crate directory the code is written to (`src/generated.rs`, `openapi.effective.json`).
    #[serde(rename = "crate")]
    pub crate_dir: PathBuf,
    /// The production base URL, emitted as `DEFAULT_BASE_URL`.
    pub base_url: String,
    /// How the API takes its key.
    pub auth: AuthConfig,
    /// Short provider name used in messages and logs (`topaz`).
    pub short_name: String,
    /// Environment variable holding the key (`TOPAZ_API_KEY`).
    pub key_env: String,
    /// Environment variable overriding the base URL (`TOPAZ_BASE_URL`).
    pub base_url_env: String,
    /// Operation ids that start paid work: re-sent only when the server surely did not take them.
    #[serde(default)]
    pub submissions: Vec<String>,
    /// The account's cap on queued jobs, if the provider documents one.
    pub max_concurrent_jobs: Option<usize>,
    /// What the provider can do and take, as documented: emitted into `ProviderInfo`.
    pub capabilities: Capabilities,
}

/// A provider's documented capabilities and limits (`[providers.<name>.capabilities]`). A limit
/// left out is one the provider does not document: it is emitted as `None`, never guessed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// What its one-call background removal makes: `cutout` and/or `mask`.
    pub outputs: Vec<Output>,
    /// Whether it takes local files (uploaded or sent inline); `false`: image URLs only.
    pub local_files: bool,
    /// The input formats it documents; empty when it documents none.
    #[serde(default)]
    pub input_formats: Vec<Format>,
    /// The largest upload in bytes, when documented.
    pub max_upload_bytes: Option<u64>,
    /// The longest side in pixels, when documented.
    pub max_side: Option<u32>,
    /// The most pixels (width × height), when documented.
    pub max_pixels: Option<u64>,
}

/// What a background removal can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// The subject on a transparent background.
    Cutout,
    /// A grayscale mask.
    Mask,
}

/// An image format as named in the table (the runtime's `ImageFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// WebP.
    Webp,
    /// TIFF.
    Tiff,
    /// GIF.
    Gif,
    /// BMP.
    Bmp,
}

/// How a provider authenticates; emitted as the generated `auth()` function.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, untagged)]
pub enum AuthConfig {
    /// A header, optionally with a scheme word before the key (`Token`, `Bearer`).
    Header {
        /// Header name.
        header: String,
        /// Word before the key.
        prefix: Option<String>,
    },
    /// A field of the JSON body.
    BodyField {
        /// Field name.
        body_field: String,
    },
}

/// Reads the provider table.
pub fn load(root: &Path) -> Result<Vec<Provider>> {
    let path = root.join(CONFIG_PATH);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let file: File = toml::from_str(&text).map_err(|e| Error::Config {
        path: PathBuf::from(CONFIG_PATH),
        message: e.to_string(),
    })?;
    Ok(file
        .providers
        .into_iter()
        .map(|(name, mut provider)| {
            provider.name = name;
            provider
        })
        .collect())
}

/// The providers named on the command line (all of them when none is named).
pub fn select(all: Vec<Provider>, names: &[String]) -> Result<Vec<Provider>> {
    if names.is_empty() {
        return Ok(all);
    }
    let known: Vec<String> = all.iter().map(|p| p.name.clone()).collect();
    names
        .iter()
        .map(|name| {
            all.iter()
                .find(|p| &p.name == name)
                .cloned()
                .ok_or_else(|| Error::UnknownProvider {
                    name: name.clone(),
                    known: known.clone(),
                })
        })
        .collect()
}
