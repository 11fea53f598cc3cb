//! The calls ModelsLab makes to a request's `webhook`.
//!
//! When a request was sent with [`RemoveBgRequest::webhook`](crate::RemoveBgRequest::webhook),
//! ModelsLab POSTs its outcome there as JSON: `{status: "success", id, output, generationTime,
//! track_id, meta}` or `{status: "failed", id, message, track_id}`. [`parse`] reads one into the
//! generated [`types::WebhookPayload`]; a call with a status ModelsLab has not documented reads as
//! [`types::WebhookPayload::Other`] with its status word, rather than failing. ModelsLab's examples show `id` and `track_id` as strings
//! while the API itself sends numbers; both are accepted ([`types::FlexibleId`]), and
//! [`id_number`] reads either as a number.
//!
//! Delivery is best effort: a call that fails is not retried, so poll
//! [`Client::fetch`](crate::Client::fetch) for requests whose call never came. No signature
//! scheme is published: anyone who knows the URL can post to it, so use an unguessable URL and
//! confirm with `fetch` before acting on a call.
//!
//! # Examples
//!
//! ```
//! use modelslab::types::WebhookPayload;
//! use modelslab::webhook;
//!
//! let body = br#"{"status": "success", "id": "96708", "track_id": 7,
//!                 "output": ["https://cdn.example.com/out.png"], "generationTime": 4.7}"#;
//! match webhook::parse(body)? {
//!     WebhookPayload::Success(done) => {
//!         assert_eq!(done.id.as_ref().and_then(webhook::id_number), Some(96708));
//!         assert_eq!(done.track_id.as_ref().and_then(webhook::id_number), Some(7));
//!     }
//!     WebhookPayload::Failed(failed) => panic!("{:?}", failed.message),
//!     WebhookPayload::Other(other) => panic!("status {}", other.status),
//!     // Generated enums are `#[non_exhaustive]`: a kind of call a later spec adds lands here.
//!     _ => panic!("a call this version does not know"),
//! }
//! # Ok::<(), modelslab::CutoutError>(())
//! ```

use crate::{CutoutError, CutoutResult, types};

/// Reads a webhook call from the body of ModelsLab's POST. A JSON object with a `status` of
/// another word is [`types::WebhookPayload::Other`]; a body without a `status` string is a
/// [`CutoutError::InvalidInput`] for the field `webhook body`.
pub fn parse(body: &[u8]) -> CutoutResult<types::WebhookPayload> {
    serde_json::from_slice(body).map_err(|e| {
        CutoutError::invalid(
            "webhook body",
            format!(
                "not a ModelsLab webhook call ({e}); expected a JSON object with a `status` \
                 string: \"success\" (and `output`), \"failed\" (and `message`), or another \
                 word"
            ),
        )
    })
}

/// An id (`id` or `track_id`) as a number, whether ModelsLab sent a number or a numeric string.
pub fn id_number(id: &types::FlexibleId) -> Option<i64> {
    crate::jobs::id_number(id)
}
