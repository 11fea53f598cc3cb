//! The four simulated providers.

use std::fmt;
use std::str::FromStr;

/// One of the simulated APIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// Topaz Labs Image API (matting jobs), served under `/image/v1`.
    Topaz,
    /// BackgroundCut API v3 (key-space storage plus matting, remove-bg, AI Cut).
    BackgroundCut,
    /// ModelsLab API v6 image editing (`removebg_mask`, `fetch`), served under `/api/v6`.
    ModelsLab,
    /// Tengr.ai artworks API v2 (segmentation, remove-background).
    Tengr,
}

impl Provider {
    /// Every provider, in a fixed order.
    pub const ALL: [Provider; 4] = [
        Provider::Topaz,
        Provider::BackgroundCut,
        Provider::ModelsLab,
        Provider::Tengr,
    ];

    /// The provider's short lowercase name, as printed by [`Display`](fmt::Display).
    pub fn name(self) -> &'static str {
        match self {
            Provider::Topaz => "topaz",
            Provider::BackgroundCut => "backgroundcut",
            Provider::ModelsLab => "modelslab",
            Provider::Tengr => "tengr",
        }
    }

    /// Position in [`Provider::ALL`], for per-provider arrays.
    pub(crate) fn index(self) -> usize {
        match self {
            Provider::Topaz => 0,
            Provider::BackgroundCut => 1,
            Provider::ModelsLab => 2,
            Provider::Tengr => 3,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Provider`] from an unknown name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownProvider(
    /// The name that was not recognised.
    pub String,
);

impl fmt::Display for UnknownProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown provider `{}` (expected topaz, backgroundcut, modelslab or tengr)",
            self.0
        )
    }
}

impl std::error::Error for UnknownProvider {}

impl FromStr for Provider {
    type Err = UnknownProvider;

    /// Parses the short name (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}
