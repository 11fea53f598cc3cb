//! How ModelsLab error bodies feed [`CutoutError`](crate::CutoutError).
//!
//! ModelsLab's error body ([`types::ModelsLabError`]) carries its text as `message`, or spelled
//! `messege` by some older endpoints; both are read. With HTTP 429 it may carry `retry_after`
//! (seconds), which the client honours before retrying and reports in
//! [`CutoutError::retry_after`](crate::CutoutError::retry_after).
//!
//! # Examples
//!
//! ```
//! use modelslab::ErrorBody;
//! use modelslab::types::ModelsLabError;
//! use std::time::Duration;
//!
//! let body: ModelsLabError =
//!     serde_json::from_str(r#"{"status": "error", "messege": "Invalid API key", "retry_after": 30}"#)?;
//! assert_eq!(body.message().as_deref(), Some("Invalid API key"));
//! assert_eq!(body.retry_after(), Some(Duration::from_secs(30)));
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::time::Duration;

use crate::types;

impl cutout_runtime::ErrorBody for types::ModelsLabError {
    fn message(&self) -> Option<String> {
        error_message(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
            .and_then(|seconds| u64::try_from(seconds).ok())
            .map(Duration::from_secs)
    }
}

/// The text of an error body, under either spelling.
pub(crate) fn error_message(error: &types::ModelsLabError) -> Option<String> {
    either_spelling(&error.message, &error.messege)
}

/// The first non-blank of `message` and its misspelling `messege`, trimmed.
pub(crate) fn either_spelling(
    message: &Option<String>,
    messege: &Option<String>,
) -> Option<String> {
    [message, messege]
        .into_iter()
        .flatten()
        .map(|text| text.trim())
        .find(|text| !text.is_empty())
        .map(str::to_owned)
}
