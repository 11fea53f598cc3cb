//! How Topaz error bodies feed [`CutoutError`].
//!
//! Every error answer of the Topaz Image API has the same body, `{"code"?: int, "message": str}`
//! ([`types::ApiError`], read with both members optional). Implementing [`ErrorBody`](crate::ErrorBody) for it lets
//! [`Context::call`](crate::Context::call) put the provider's message and code into the
//! error the hand-written layer returns. An HTTP 409 (a job in the wrong state for the
//! operation) gets advice saying what the conflict is for that operation.
//!
//! # Examples
//!
//! ```
//! use topaz_image::ErrorBody;
//! use topaz_image::types::ApiError;
//!
//! let body: ApiError = serde_json::from_str(r#"{"code": 402, "message": "Not enough credits"}"#)?;
//! assert_eq!(body.message().as_deref(), Some("Not enough credits"));
//! assert_eq!(body.code(), Some(402));
//! # Ok::<(), serde_json::Error>(())
//! ```

use crate::{CutoutError, types};

impl cutout_runtime::ErrorBody for types::ApiError {
    fn message(&self) -> Option<String> {
        let message = self.message.as_deref()?.trim();
        (!message.is_empty()).then(|| message.to_owned())
    }

    fn code(&self) -> Option<i64> {
        self.code
    }
}

/// Adds what an HTTP 409 answer means for this operation (`explain`) as the error's advice,
/// keeping Topaz's own words as its message and the status for programmatic checks.
pub(crate) fn explain_conflict(
    error: CutoutError,
    explain: impl FnOnce() -> String,
) -> CutoutError {
    error.with_advice(|service| (service.status == 409).then(explain))
}
