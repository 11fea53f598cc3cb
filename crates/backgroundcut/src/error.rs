//! How BackgroundCut's error answers become [`CutoutError`]s.
//!
//! BackgroundCut does not publish the shape of its error bodies. The generated
//! [`types::BackgroundCutError`] accepts any JSON object and picks out `detail`, `message` and
//! `error`; [`ErrorBody`] shows whichever of those is present (in that order). A body with none of
//! them but with per-field lists (`{"output_key": ["…"]}`, the usual Django REST shape) is shown as
//! `field: message` pairs.
//!
//! The workflows also add what the status means for this API: a 404 names the keys involved and
//! says that files are deleted 2 hours after upload, and a 504 from a tool says the job ran into
//! the server's time limit.
//!
//! # Examples
//!
//! ```
//! use backgroundcut::types::BackgroundCutError;
//! use backgroundcut::ErrorBody;
//!
//! let body: BackgroundCutError =
//!     serde_json::from_str(r#"{"detail": "Invalid token."}"#).unwrap();
//! assert_eq!(body.message().as_deref(), Some("Invalid token."));
//! ```

use cutout_runtime::ErrorBody;

use crate::{CutoutError, types};

impl ErrorBody for types::BackgroundCutError {
    fn message(&self) -> Option<String> {
        let named = [&self.detail, &self.message, &self.error]
            .into_iter()
            .flatten()
            .find(|text| !text.trim().is_empty());
        if let Some(text) = named {
            return Some(text.clone());
        }
        // Per-field messages: {"field": ["message", …]} or {"field": "message"}.
        let mut pairs = Vec::new();
        for (field, value) in &self.extra {
            let texts: Vec<&str> = match value {
                serde_json::Value::String(text) => vec![text.as_str()],
                serde_json::Value::Array(items) => {
                    items.iter().filter_map(|item| item.as_str()).collect()
                }
                _ => Vec::new(),
            };
            if !texts.is_empty() {
                pairs.push(format!("{field}: {}", texts.join(" ")));
            }
        }
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

/// Adds BackgroundCut's own explanation to errors whose status has a known cause here: a 404
/// means a key is missing (files expire 2 hours after upload, and storage is regional), a 504 from
/// a tool means it ran out of time on the server.
pub(crate) fn explain(error: CutoutError, keys: &[&str]) -> CutoutError {
    error.with_advice(|service| {
        Some(match service.status {
            404 => {
                let named = keys
                    .iter()
                    .map(|key| format!("`{key}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let subject = if named.is_empty() {
                    "the file is not in storage".to_owned()
                } else {
                    format!("no file under {named}")
                };
                format!(
                    "{subject}: BackgroundCut deletes files 2 hours after upload (and a request \
                     routed to another region also answers 404), so upload the inputs again"
                )
            }
            504 => "the tool timed out on the server (about 30 s); it was not sent again because \
                    it may have been taken: for matting, narrow the trimap's gray band and try \
                    again"
                .to_owned(),
            _ => return None,
        })
    })
}
