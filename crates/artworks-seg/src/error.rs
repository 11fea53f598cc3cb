//! How Tengr's error answers become [`CutoutError`]s.
//!
//! Every error answer of the artworks API has the documented shape `{message, statusCode,
//! error?}` (read with every member optional) ([`types::TengrError`]). [`ErrorBody`] shows
//! `message`, followed by `error` when the server adds details there.
//!
//! The workflows add what a 404 means here: Tengr deletes artworks 8 days after creation.
//!
//! # Examples
//!
//! ```
//! use artworks_seg::types::TengrError;
//! use artworks_seg::ErrorBody;
//!
//! let body: TengrError = serde_json::from_str(
//!     r#"{"message": "webhook must use https", "statusCode": 400, "error": "Bad Request"}"#,
//! )
//! .unwrap();
//! assert_eq!(body.message().as_deref(), Some("webhook must use https (Bad Request)"));
//! assert_eq!(body.code(), Some(400));
//! ```

use cutout_runtime::ErrorBody;

use crate::{CutoutError, types};

impl ErrorBody for types::TengrError {
    fn message(&self) -> Option<String> {
        let message = self.message.as_deref().map_or("", str::trim);
        let detail = self
            .error
            .as_deref()
            .map(str::trim)
            .filter(|detail| !detail.is_empty() && *detail != message);
        match (message.is_empty(), detail) {
            (false, Some(detail)) => Some(format!("{message} ({detail})")),
            (false, None) => Some(message.to_owned()),
            (true, Some(detail)) => Some(detail.to_owned()),
            (true, None) => None,
        }
    }

    fn code(&self) -> Option<i64> {
        self.status_code
    }
}

/// Says that artworks are deleted after 8 days when reading one answers 404.
pub(crate) fn explain(error: CutoutError, id: Option<&str>) -> CutoutError {
    error.with_advice(|service| {
        let subject = match id {
            Some(id) => format!("no artwork `{id}`"),
            None => "not found".to_owned(),
        };
        (service.status == 404).then(|| {
            format!(
                "{subject}: Tengr deletes artworks (records and images) 8 days after creation; \
                 check the id, or create the artwork again"
            )
        })
    })
}
