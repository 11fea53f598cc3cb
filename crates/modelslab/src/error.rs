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

/// The first non-blank of `message` and its misspelling `messege`, as text: a string as it is
/// (trimmed), anything else (validation failures send an object of fields and their messages)
/// flattened to `field: message; …`.
pub(crate) fn either_spelling(
    message: &Option<serde_json::Value>,
    messege: &Option<serde_json::Value>,
) -> Option<String> {
    [message, messege]
        .into_iter()
        .flatten()
        .map(as_text)
        .find(|text| !text.is_empty())
}

/// A JSON value as one line of text: strings as they are, arrays joined with `; `, objects as
/// `key: value` pairs.
fn as_text(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.trim().to_owned(),
        Value::Array(items) => join(items.iter().map(as_text)),
        Value::Object(fields) => join(fields.iter().map(|(key, value)| {
            let text = as_text(value);
            if text.is_empty() {
                key.clone()
            } else {
                format!("{key}: {text}")
            }
        })),
        other => other.to_string(),
    }
}

fn join(parts: impl Iterator<Item = String>) -> String {
    parts
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
