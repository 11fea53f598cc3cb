//! What a matting job would cost and how long it would take, before submitting it.
//!
//! [`Client::estimate_matting`] asks Topaz (`POST /estimate`); [`credits_for_output`] computes
//! the Background Removal price locally from Topaz's published table, without a request.
//!
//! # Examples
//!
//! ```no_run
//! use topaz_image::{Client, Model, credits_for_output};
//!
//! # async fn run() -> Result<(), topaz_image::CutoutError> {
//! // Locally, from the published table: a 6000 × 4000 output is 24 MP, 1 credit.
//! assert_eq!(credits_for_output(6000, 4000), Some(1));
//!
//! // From the API.
//! let client = Client::from_env()?;
//! let estimate = client.estimate_matting(6000, 4000, Model::RemoveBg).await?;
//! println!("{} credits, about {:?}", estimate.credits, estimate.duration);
//! # Ok(()) }
//! ```

use std::time::Duration;

use crate::{Client, CutoutError, CutoutResult, Model, PROVIDER, types};

/// The largest width or height `POST /estimate` accepts, in pixels.
pub const MAX_ESTIMATE_SIDE: u32 = 32_000;

/// What a job would cost, from [`Client::estimate_matting`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Estimate {
    /// The expected processing time.
    pub duration: Duration,
    /// The credits the job would charge.
    pub credits: u32,
}

impl Client {
    /// Asks Topaz what matting a `width` × `height` image with `model` would cost and take.
    /// Each side must be within `1..=32000` pixels (checked before anything is sent).
    pub async fn estimate_matting(
        &self,
        width: u32,
        height: u32,
        model: Model,
    ) -> CutoutResult<Estimate> {
        check_side("input_width", "width", width)?;
        check_side("input_height", "height", height)?;
        let model = match model {
            Model::Object => types::EstimateRequestModel::Object,
            Model::RemoveBg => types::EstimateRequestModel::RemoveBg,
        };
        let operation = self.post_estimate().body_map(move |body| {
            body.category(types::EstimateCategory::Matting)
                .model(model)
                .input_width(u64::from(width))
                .input_height(u64::from(height))
        });
        let answer = self
            .context()
            .call("post_estimate", operation.send())
            .await?
            .into_inner();
        let (Ok(seconds), Ok(credits)) = (
            u64::try_from(answer.duration),
            u32::try_from(answer.credits),
        ) else {
            return Err(CutoutError::unexpected(
                PROVIDER.name,
                "post_estimate",
                format!(
                    "the estimate has a negative or too large value (duration {}, credits {})",
                    answer.duration, answer.credits
                ),
            )
            .with_status(200));
        };
        Ok(Estimate {
            duration: Duration::from_secs(seconds),
            credits,
        })
    }
}

fn check_side(field: &str, side: &str, value: u32) -> CutoutResult<()> {
    if (1..=MAX_ESTIMATE_SIDE).contains(&value) {
        Ok(())
    } else {
        Err(CutoutError::invalid(
            field,
            format!(
                "a {side} of {value} px is outside 1..={MAX_ESTIMATE_SIDE}: pass the input \
                 image's {side} in pixels (Topaz estimates images up to \
                 {MAX_ESTIMATE_SIDE} px a side)"
            ),
        ))
    }
}

/// The credits the Background Removal model charges for an output of `width` × `height`
/// pixels, from Topaz's published table (megapixels are decimal: width × height / 1,000,000):
///
/// | output          | credits |
/// |-----------------|---------|
/// | up to 24 MP     | 1       |
/// | 32 – 40 MP      | 2       |
/// | 50 – 64 MP      | 3       |
/// | 100 MP          | 5       |
///
/// The table has gaps (24–32, 40–50 and 64–100 MP). This function reads each gap as belonging
/// to the next published tier up, so it never under-estimates: 30 MP → 2, 45 MP → 3,
/// 80 MP → 5. Above 100 MP, or for an empty image, nothing is published and it returns `None`;
/// ask [`Client::estimate_matting`] instead, which is authoritative in every case.
pub fn credits_for_output(width: u32, height: u32) -> Option<u32> {
    let pixels = u64::from(width) * u64::from(height);
    const MP: u64 = 1_000_000;
    match pixels {
        0 => None,
        p if p <= 24 * MP => Some(1),
        p if p <= 40 * MP => Some(2),
        p if p <= 64 * MP => Some(3),
        p if p <= 100 * MP => Some(5),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_tiers_and_their_gaps() {
        assert_eq!(credits_for_output(1, 1), Some(1));
        assert_eq!(credits_for_output(6000, 4000), Some(1)); // 24 MP
        assert_eq!(credits_for_output(6000, 4001), Some(2)); // just over 24 MP: gap → next tier
        assert_eq!(credits_for_output(8000, 5000), Some(2)); // 40 MP
        assert_eq!(credits_for_output(9000, 5000), Some(3)); // 45 MP: gap
        assert_eq!(credits_for_output(8000, 8000), Some(3)); // 64 MP
        assert_eq!(credits_for_output(10_000, 8_000), Some(5)); // 80 MP: gap
        assert_eq!(credits_for_output(10_000, 10_000), Some(5)); // 100 MP
        assert_eq!(credits_for_output(10_000, 10_001), None);
        assert_eq!(credits_for_output(0, 10), None);
    }
}
