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
//!
//! Depending on a provider crate directly works just as well; this crate only re-exports.
//!
//! ```no_run
//! # #[cfg(feature = "topaz")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = cutout::topaz::Client::with_key(std::env::var("TOPAZ_API_KEY")?)?;
//! let estimate = client
//!     .post_estimate()
//!     .body_map(|b| {
//!         b.category(cutout::topaz::types::EstimateCategory::Matting)
//!             .model(cutout::topaz::types::EstimateRequestModel::RemoveBg)
//!             .input_width(4000)
//!             .input_height(3000)
//!     })
//!     .send()
//!     .await?;
//! println!("{} credits", estimate.credits);
//! # Ok(())
//! # }
//! ```

/// What every provider crate shares (API keys, multipart file parts).
pub use cutout_runtime as runtime;

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
