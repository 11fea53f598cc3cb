//! The notifications Topaz POSTs to a job's `webhook_url`.
//!
//! Topaz sends one JSON notification at every status change of a job that was submitted with
//! [`MattingRequest::webhook_url`](crate::MattingRequest::webhook_url). [`parse`] reads one into a
//! [`WebhookNotification`].
//!
//! Delivery rules, as Topaz documents them:
//!
//! - **Retries.** When your endpoint answers with a 5xx status, Topaz retries with exponential
//!   backoff: 5 s, then doubling (10 s, 20 s, 40 s…), capped at 15 minutes between attempts. A 4xx
//!   answer drops the notification for good, so answer 2xx once you have stored it and 5xx only
//!   when you want it again.
//! - **Order.** Retries can deliver notifications out of order. `notification_id` is a ULID,
//!   which sorts by creation time: keep the one with the greatest id per job.
//! - **Authenticity.** Topaz publishes no signature scheme: anyone who knows the URL can post to
//!   it. Use an unguessable URL, and treat a notification as a hint: confirm with
//!   [`Job::status`](crate::Job::status) before acting on it.
//!
//! # Examples
//!
//! ```
//! use topaz_image::types::JobStatus;
//! use topaz_image::webhook;
//!
//! let body = br#"{
//!     "notification_id": "01JD5Z6Q1X8E8V3N3G4K5M6P7R",
//!     "process_id": "0b7c2f1e-5d55-4a8e-9a55-2f3b1c0d9e11",
//!     "status": "Completed", "progress": 100,
//!     "creation_time": 1763799000, "modification_time": 1763799500,
//!     "download_url": "https://cdn.example.com/out.png?X-Amz-Signature=abc",
//!     "head_url": "https://cdn.example.com/out.png?X-Amz-Signature=def",
//!     "input_download_url": "https://cdn.example.com/in.jpg?X-Amz-Signature=ghi",
//!     "input_head_url": "https://cdn.example.com/in.jpg?X-Amz-Signature=jkl"
//! }"#;
//! let notification = webhook::parse(body)?;
//! assert_eq!(notification.status, JobStatus::Completed);
//! assert!(notification.is_final());
//! # Ok::<(), topaz_image::CutoutError>(())
//! ```

use std::fmt;
use std::time::SystemTime;

use serde::Deserialize;

use crate::jobs::unix_time;
use crate::{CutoutError, CutoutResult, types};
use cutout_runtime::validate::display_url;

/// One webhook notification: the state of a job after a change.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct WebhookNotification {
    /// A ULID, unique per notification; sorts by creation time.
    pub notification_id: String,
    /// The job (a UUID).
    pub process_id: String,
    /// The job's status.
    pub status: types::JobStatus,
    /// When the job was created, in Unix seconds.
    pub creation_time: i64,
    /// When the job last changed, in Unix seconds.
    pub modification_time: i64,
    /// Percent done, 0 to 100.
    pub progress: i64,
    /// Presigned GET link to the output; only once the job is `Completed`.
    #[serde(default)]
    pub download_url: Option<String>,
    /// Presigned HEAD link to the output; only once the job is `Completed`.
    #[serde(default)]
    pub head_url: Option<String>,
    /// Presigned GET link to the input image.
    pub input_download_url: String,
    /// Presigned HEAD link to the input image.
    pub input_head_url: String,
}

impl fmt::Debug for WebhookNotification {
    /// Presigned links are shown without their query, which is their credential.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookNotification")
            .field("notification_id", &self.notification_id)
            .field("process_id", &self.process_id)
            .field("status", &self.status)
            .field("creation_time", &self.creation_time)
            .field("modification_time", &self.modification_time)
            .field("progress", &self.progress)
            .field(
                "download_url",
                &self.download_url.as_deref().map(display_url),
            )
            .field("head_url", &self.head_url.as_deref().map(display_url))
            .field("input_download_url", &display_url(&self.input_download_url))
            .field("input_head_url", &display_url(&self.input_head_url))
            .finish()
    }
}

impl WebhookNotification {
    /// Whether the job is over (`Completed`, `Failed` or `Cancelled`).
    pub fn is_final(&self) -> bool {
        matches!(
            self.status,
            types::JobStatus::Completed | types::JobStatus::Failed | types::JobStatus::Cancelled
        )
    }

    /// [`creation_time`](Self::creation_time) as a time.
    pub fn created_at(&self) -> Option<SystemTime> {
        unix_time(self.creation_time)
    }

    /// [`modification_time`](Self::modification_time) as a time.
    pub fn modified_at(&self) -> Option<SystemTime> {
        unix_time(self.modification_time)
    }
}

/// Reads a notification from the body of Topaz's POST. A body that is not one is a
/// [`CutoutError::InvalidInput`] for the field `webhook body`, saying what did not match;
/// answer such a request with a 4xx status, so Topaz does not retry it.
pub fn parse(body: &[u8]) -> CutoutResult<WebhookNotification> {
    serde_json::from_slice(body).map_err(|e| {
        CutoutError::invalid(
            "webhook body",
            format!(
                "not a Topaz webhook notification ({e}); expected JSON with notification_id, \
                 process_id, status, progress and the input links"
            ),
        )
    })
}
