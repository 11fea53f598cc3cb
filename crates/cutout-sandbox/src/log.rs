//! The request log: every request any simulator or the file host received, in arrival order.

use std::sync::Mutex;

use crate::faults::FaultKind;
use crate::provider::Provider;
use crate::util::lock;

/// One request as the sandbox saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The API that received it; `None` for the file host.
    pub provider: Option<Provider>,
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// The path as received, including any base path (`/image/v1/matting/async`).
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The status answered; 0 when the connection was dropped (or no answer was sent yet).
    pub status: u16,
    /// The injected fault, if one was.
    pub fault: Option<FaultKind>,
    /// Whether the request went to a paid, job-creating endpoint (whatever its outcome); see
    /// [`Sandbox::submissions`](crate::Sandbox::submissions) for the jobs actually accepted.
    pub submission: bool,
}

/// The log itself. Entries are pushed on arrival (so the order is arrival order) and their
/// status is filled in when the answer is ready.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    inner: Mutex<LogInner>,
}

#[derive(Debug, Default)]
struct LogInner {
    next_id: u64,
    entries: Vec<(u64, LoggedRequest)>,
}

impl RequestLog {
    /// Appends an entry and returns its id (for [`RequestLog::set_status`]).
    pub(crate) fn push(&self, entry: LoggedRequest) -> u64 {
        let mut inner = lock(&self.inner);
        let id = inner.next_id;
        inner.next_id += 1;
        inner.entries.push((id, entry));
        id
    }

    /// Records the status answered to request `id` (a no-op if the log was cleared since).
    pub(crate) fn set_status(&self, id: u64, status: u16) {
        let mut inner = lock(&self.inner);
        // Recent requests are at the end; search from there.
        if let Some((_, entry)) = inner.entries.iter_mut().rev().find(|(i, _)| *i == id) {
            entry.status = status;
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<LoggedRequest> {
        lock(&self.inner)
            .entries
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    pub(crate) fn clear(&self) {
        lock(&self.inner).entries.clear();
    }
}
