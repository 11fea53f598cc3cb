//! One dependency for every `cutout` client. Each provider is a module behind a feature of the
//! same name, so an application compiles only the providers it uses:
//!
//! | feature         | module            | crate           | API                                          |
//! |-----------------|-------------------|-----------------|----------------------------------------------|
//! | `topaz`         | `topaz`           | `topaz-image`   | Topaz Labs Image API (matting, job lifecycle) |
//! | `backgroundcut` | `backgroundcut`   | `backgroundcut` | BackgroundCut v3 (upload, trimap matting, remove-bg, ai-cut) |
//! | `modelslab`     | `modelslab`       | `modelslab`     | ModelsLab v6 (`removebg_mask`, fetch)        |
//! | `artworks`      | `artworks`        | `artworks-seg`  | Tengr.ai artworks v2 (segmentation, remove-background) |
//!
//! All four are on by default; `default-features = false, features = ["topaz"]` keeps one.
//! The feature `batch` (off by default) adds the module `batch`: a crash-safe SQLite journal and
//! a runner for batches of paid jobs that never pays twice for the same work.
//! Depending on a provider crate directly works just as well; this crate only re-exports.
//!
//! # One line to change provider, within what each provider takes
//!
//! Every provider's `Client` implements [`BackgroundRemover`]; [`Provider::remover_from_env`]
//! picks one at run time (keys from `TOPAZ_API_KEY`, `BACKGROUNDCUT_API_KEY`,
//! `MODELSLAB_API_KEY` or `TENGR_API_KEY`). Changing provider is changing one line for an
//! input every provider takes: an image **URL** the service can reach works everywhere, a
//! **local file** works where [`Provider::accepts_local_files`] says so (Topaz, BackgroundCut
//! and ModelsLab; Tengr fetches images by URL only), and a **mask** where
//! [`Provider::makes_masks`] says so (Topaz, ModelsLab). Ask before sending with
//! [`Provider::check`]; a remover given what its provider cannot take answers
//! [`Error::Unsupported`] before any request.
//!
//! ```no_run
//! use cutout::{ImageSource, Provider, RemoveOptions};
//!
//! # async fn run() -> Result<(), cutout::Error> {
//! let source = ImageSource::path("photo.jpg");
//! for provider in Provider::ALL {
//!     if provider.check(&source, cutout::CutoutKind::Rgba).is_err() {
//!         continue; // Tengr: a local file needs a public URL first
//!     }
//!     let remover = provider.remover_from_env()?;
//!     let cutout = remover
//!         .remove_background(source.clone(), RemoveOptions::default())
//!         .await?;
//!     cutout.save(format!("photo.{provider}.png"), false).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! The facts behind these answers (accepted formats, documented limits, queue caps, which
//! operations are paid) are [`Provider::info`]`().capabilities` and friends, generated from
//! `specs/providers.toml`. The clients are `async` and need a [tokio](https://tokio.rs) runtime.
//!
//! # Everything a provider offers
//!
//! ```no_run
//! # #[cfg(feature = "topaz")]
//! # async fn run() -> Result<(), cutout::Error> {
//! use cutout::topaz::{Client, Model};
//!
//! let client = Client::from_env()?;
//! let estimate = client.estimate_matting(4000, 3000, Model::RemoveBg).await?;
//! println!("{} credits, about {:?}", estimate.credits, estimate.duration);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]
// docs.rs (nightly, `--cfg docsrs`) labels each feature-gated item with the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::fmt;
use std::str::FromStr;

/// What every provider crate shares (keys, retries, waiting, downloads, errors).
pub use cutout_runtime as runtime;
pub use cutout_runtime::{
    ApiKey, BackgroundRemover, Capabilities, Cutout, CutoutKind, Error, ImageFormat, ImageSource,
    JobTicket, Progress, ProviderInfo, RemoveOptions, RetryPolicy, Timeouts, WaitPolicy,
};

#[cfg(feature = "batch")]
pub mod batch;
pub mod router;

/// Topaz Labs Image API: matting and its job lifecycle (crate `topaz-image`).
#[cfg(feature = "topaz")]
pub use topaz_image as topaz;

/// BackgroundCut API v3: upload, trimap-guided matting, remove-bg, ai-cut (crate `backgroundcut`).
#[cfg(feature = "backgroundcut")]
pub use backgroundcut;

/// ModelsLab API v6: `removebg_mask` and fetching queued results (crate `modelslab`).
#[cfg(feature = "modelslab")]
pub use modelslab;

/// Tengr.ai artworks API v2: segmentation and background removal (crate `artworks-seg`).
#[cfg(feature = "artworks")]
pub use artworks_seg as artworks;

/// The providers this build includes, for choosing one at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// Topaz Labs (`topaz`).
    #[cfg(feature = "topaz")]
    Topaz,
    /// BackgroundCut (`backgroundcut`).
    #[cfg(feature = "backgroundcut")]
    BackgroundCut,
    /// ModelsLab (`modelslab`).
    #[cfg(feature = "modelslab")]
    ModelsLab,
    /// Tengr.ai (`tengr`).
    #[cfg(feature = "artworks")]
    Tengr,
}

impl Provider {
    /// Every provider compiled in.
    pub const ALL: &'static [Provider] = &[
        #[cfg(feature = "topaz")]
        Provider::Topaz,
        #[cfg(feature = "backgroundcut")]
        Provider::BackgroundCut,
        #[cfg(feature = "modelslab")]
        Provider::ModelsLab,
        #[cfg(feature = "artworks")]
        Provider::Tengr,
    ];

    /// Its position in [`Provider::ALL`], for per-provider arrays.
    pub fn index(self) -> usize {
        // Every variant compiled in is in `ALL`.
        Self::ALL
            .iter()
            .position(|p| *p == self)
            .unwrap_or_default()
    }

    /// The short name (`topaz`, `backgroundcut`, `modelslab`, `tengr`).
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The API's name for people (`Topaz Labs Image API`, `Tengr.ai artworks API v2`, …).
    pub fn title(self) -> &'static str {
        match self {
            #[cfg(feature = "topaz")]
            Provider::Topaz => "Topaz Labs Image API",
            #[cfg(feature = "backgroundcut")]
            Provider::BackgroundCut => "BackgroundCut API v3",
            #[cfg(feature = "modelslab")]
            Provider::ModelsLab => "ModelsLab API v6",
            #[cfg(feature = "artworks")]
            Provider::Tengr => "Tengr.ai artworks API v2",
        }
    }

    /// What the runtime knows about it: key and base-URL variables, default base URL, paid
    /// operations (`submissions`), queue cap and [`Capabilities`], from `specs/providers.toml`.
    pub fn info(self) -> &'static runtime::ProviderInfo {
        match self {
            #[cfg(feature = "topaz")]
            Provider::Topaz => &topaz_image::PROVIDER,
            #[cfg(feature = "backgroundcut")]
            Provider::BackgroundCut => &backgroundcut::PROVIDER,
            #[cfg(feature = "modelslab")]
            Provider::ModelsLab => &modelslab::PROVIDER,
            #[cfg(feature = "artworks")]
            Provider::Tengr => &artworks_seg::PROVIDER,
        }
    }

    /// What it can make and take (outputs, local files, formats, documented limits).
    pub fn capabilities(self) -> &'static Capabilities {
        &self.info().capabilities
    }

    /// Whether it takes local files ([`ImageSource::Path`], [`ImageSource::Bytes`]). `false`
    /// (Tengr): it fetches every image from a URL, so a local file must be put somewhere the
    /// service can reach first.
    pub fn accepts_local_files(self) -> bool {
        self.info().accepts_local_files()
    }

    /// Whether its background removal makes masks ([`CutoutKind::Mask`]).
    pub fn makes_masks(self) -> bool {
        self.info().makes_masks()
    }

    /// How many jobs an account may have queued at once, when the provider documents a cap.
    pub fn max_concurrent_jobs(self) -> Option<usize> {
        self.info().max_concurrent_jobs
    }

    /// Whether [`BackgroundRemover::remove_background`] of this provider can take `source` and
    /// make `kind`, answered from its documented capabilities without any request: an
    /// [`Error::Unsupported`] saying what to do otherwise.
    pub fn check(self, source: &ImageSource, kind: CutoutKind) -> Result<(), Error> {
        let info = self.info();
        info.check_source(source)?;
        info.check_output(kind)
    }

    /// A client configured from the environment, as a [`BackgroundRemover`].
    pub fn remover_from_env(self) -> Result<Box<dyn BackgroundRemover>, Error> {
        Ok(match self {
            #[cfg(feature = "topaz")]
            Provider::Topaz => Box::new(topaz_image::Client::from_env()?),
            #[cfg(feature = "backgroundcut")]
            Provider::BackgroundCut => Box::new(backgroundcut::Client::from_env()?),
            #[cfg(feature = "modelslab")]
            Provider::ModelsLab => Box::new(modelslab::Client::from_env()?),
            #[cfg(feature = "artworks")]
            Provider::Tengr => Box::new(artworks_seg::Client::from_env()?),
        })
    }

    /// A client configured from the environment (as [`remover_from_env`](Self::remover_from_env)),
    /// with the given retry policy: the [`router`] builds its clients with
    /// `RetryPolicy::default().retry_submissions(false)`, being the one retry loop for
    /// submissions.
    pub fn remover_from_env_with(
        self,
        retry: RetryPolicy,
    ) -> Result<Box<dyn BackgroundRemover>, Error> {
        Ok(match self {
            #[cfg(feature = "topaz")]
            Provider::Topaz => Box::new(
                topaz_image::Client::builder()
                    .from_env()
                    .retry(retry)
                    .build()?,
            ),
            #[cfg(feature = "backgroundcut")]
            Provider::BackgroundCut => Box::new(
                backgroundcut::Client::builder()
                    .from_env()
                    .retry(retry)
                    .build()?,
            ),
            #[cfg(feature = "modelslab")]
            Provider::ModelsLab => Box::new(
                modelslab::Client::builder()
                    .from_env()
                    .retry(retry)
                    .build()?,
            ),
            #[cfg(feature = "artworks")]
            Provider::Tengr => Box::new(
                artworks_seg::Client::builder()
                    .from_env()
                    .retry(retry)
                    .build()?,
            ),
        })
    }

    /// A client for `base_url` with `key` (a proxy, or a local sandbox), as a
    /// [`BackgroundRemover`], with the given retry policy.
    pub fn remover(
        self,
        base_url: &str,
        key: impl Into<ApiKey>,
        retry: RetryPolicy,
    ) -> Result<Box<dyn BackgroundRemover>, Error> {
        let key = key.into();
        Ok(match self {
            #[cfg(feature = "topaz")]
            Provider::Topaz => Box::new(
                topaz_image::Client::builder()
                    .base_url(base_url)
                    .key(key)
                    .retry(retry)
                    .build()?,
            ),
            #[cfg(feature = "backgroundcut")]
            Provider::BackgroundCut => Box::new(
                backgroundcut::Client::builder()
                    .base_url(base_url)
                    .key(key)
                    .retry(retry)
                    .build()?,
            ),
            #[cfg(feature = "modelslab")]
            Provider::ModelsLab => Box::new(
                modelslab::Client::builder()
                    .base_url(base_url)
                    .key(key)
                    .retry(retry)
                    .build()?,
            ),
            #[cfg(feature = "artworks")]
            Provider::Tengr => Box::new(
                artworks_seg::Client::builder()
                    .base_url(base_url)
                    .key(key)
                    .retry(retry)
                    .build()?,
            ),
        })
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A provider name that this build does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProvider(pub String);

impl fmt::Display for UnknownProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = Provider::ALL.iter().map(|p| p.name()).collect();
        write!(
            f,
            "unknown provider `{}`: expected one of {}",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownProvider {}

impl FromStr for Provider {
    type Err = UnknownProvider;

    /// Accepts the short names, case-insensitively (`tengr` also as `artworks`).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let lower = name.to_ascii_lowercase();
        Provider::ALL
            .iter()
            .copied()
            .find(|p| p.name() == lower || (lower == "artworks" && p.name() == "tengr"))
            .ok_or_else(|| UnknownProvider(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for provider in Provider::ALL {
            assert_eq!(provider.name().parse::<Provider>().unwrap(), *provider);
        }
        assert!(
            "Gimp"
                .parse::<Provider>()
                .unwrap_err()
                .to_string()
                .contains("topaz")
        );
    }

    #[test]
    #[cfg(all(feature = "topaz", feature = "artworks"))]
    fn indexes_follow_all_and_facts_come_from_each_crate() {
        for (position, provider) in Provider::ALL.iter().enumerate() {
            assert_eq!(provider.index(), position);
            assert_eq!(provider.info().name, provider.name());
        }
        assert!(!Provider::Tengr.accepts_local_files());
        assert!(Provider::Topaz.accepts_local_files() && Provider::Topaz.makes_masks());
    }

    #[test]
    #[cfg(feature = "modelslab")]
    fn a_missing_key_names_the_variable() {
        // No test sets this variable; CI machines must not have it.
        if std::env::var_os("MODELSLAB_API_KEY").is_none() {
            let error = Provider::ModelsLab.remover_from_env().err().unwrap();
            assert!(error.to_string().contains("MODELSLAB_API_KEY"), "{error}");
        }
    }
}

// The README's examples are compiled as doctests, so the crates.io page cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
