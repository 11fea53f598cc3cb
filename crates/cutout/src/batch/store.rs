//! The journal's contract: one row per unit of paid work and its state transitions.

use std::fmt;
use std::path::PathBuf;

use cutout_runtime::JobTicket;
use serde::{Deserialize, Serialize};

use super::key::WorkKey;
use super::work::Unit;

/// Where a unit of work is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Known to a run, nothing sent yet.
    Planned,
    /// The paid request is being sent (durable before it is). A row left here by a crash is
    /// *uncertain*: the provider may or may not have accepted the job.
    Submitting,
    /// The provider accepted the job; its ticket is recorded (durable before the first poll).
    Submitted,
    /// The results are written; their paths, sizes and hashes are recorded.
    Done,
    /// The work ended without a result; the row says why and whether it was paid.
    Failed,
}

impl State {
    /// The name stored in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Planned => "planned",
            State::Submitting => "submitting",
            State::Submitted => "submitted",
            State::Done => "done",
            State::Failed => "failed",
        }
    }

    /// The state a stored name names.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "planned" => State::Planned,
            "submitting" => State::Submitting,
            "submitted" => State::Submitted,
            "done" => State::Done,
            "failed" => State::Failed,
            _ => return None,
        })
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file the journal wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputRecord {
    /// Where.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
    /// Which result of the job it is (0 = the first); copies of one job's results to another
    /// place start again at 0.
    #[serde(default)]
    pub index: u32,
}

/// One unit of paid work as the journal knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Row {
    /// The work key.
    pub key: WorkKey,
    /// How the unit is shown (no secrets).
    pub display: String,
    /// Provider short name.
    pub provider: String,
    /// Normalised parameters.
    pub params: String,
    /// `cutout`, `mask`…
    pub output_kind: String,
    /// Where it is.
    pub state: State,
    /// The accepted job, once submitted.
    pub ticket: Option<JobTicket>,
    /// When the provider accepted it (Unix milliseconds).
    pub submitted_at: Option<i64>,
    /// Files written for it (the job's results, and copies of them).
    pub outputs: Vec<OutputRecord>,
    /// Why it failed; for a row still `submitted` (or `done`, being re-attached), why the last
    /// attempt to fetch its paid job stopped (the next run tries again, free).
    pub failure: Option<String>,
    /// Whether it was paid for: `None` when unknown.
    pub paid: Option<bool>,
    /// The caller's estimate of its cost.
    pub credits: u32,
    /// Last change (Unix milliseconds).
    pub updated_at: i64,
    /// How many times it was submitted.
    pub attempts: u32,
    /// The jobs of earlier attempts (oldest first): a unit submitted again never loses the
    /// job it paid for before.
    pub previous_tickets: Vec<JobTicket>,
    /// The providers of those earlier jobs that did not deliver (failed, or lost): a re-route
    /// never goes back to them. A job redone with `force` after it delivered is not one.
    pub failed_before: Vec<String>,
    /// The estimated credits of every accepted submission of this unit, all attempts together
    /// (what was really paid).
    pub spent_credits: u64,
}

/// Why the journal could not be used. Each variant names the journal's path and says what to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum JournalError {
    /// The file is an SQLite database of another program (another `application_id`, or tables
    /// the journal does not have).
    ForeignDatabase {
        /// The journal path.
        path: PathBuf,
    },
    /// The journal was written by a newer cutout (a higher schema version).
    NewerSchema {
        /// The journal path.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this build reads.
        supported: i64,
    },
    /// The file is not an SQLite database at all.
    NotADatabase {
        /// The journal path.
        path: PathBuf,
    },
    /// The journal, or its folder, cannot be written.
    ReadOnly {
        /// The journal path.
        path: PathBuf,
        /// What is read-only.
        what: String,
    },
    /// Another run holds the journal.
    InUse {
        /// The journal path.
        path: PathBuf,
    },
    /// Any other failure of the database.
    Database {
        /// The journal path.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The database's message.
        message: String,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::ForeignDatabase { path } => write!(
                f,
                "`{}` is a database of another program, not a cutout journal; \
                 choose another journal path (it was left untouched)",
                path.display()
            ),
            JournalError::NewerSchema {
                path,
                found,
                supported,
            } => write!(
                f,
                "the journal `{}` has schema version {found}, written by a newer cutout \
                 (this one reads up to {supported}); upgrade cutout or use another journal",
                path.display()
            ),
            JournalError::NotADatabase { path } => write!(
                f,
                "`{}` is not a cutout journal (not an SQLite database); \
                 move it away or choose another journal path",
                path.display()
            ),
            JournalError::ReadOnly { path, what } => write!(
                f,
                "the journal `{}` cannot be written: {what}; make it writable or choose \
                 another journal path in a writable folder",
                path.display()
            ),
            JournalError::InUse { path } => write!(
                f,
                "another cutout run is using the journal `{}`; wait for it to finish \
                 (two runs on one journal could pay twice)",
                path.display()
            ),
            JournalError::Database {
                path,
                action,
                message,
            } => write!(
                f,
                "the journal `{}` failed to {action}: {message}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for JournalError {}

/// A journal of paid work. Every transition is one transaction, durable when the method
/// returns. Methods block (they may wait for the disk): from async code call them through
/// `spawn_blocking`, as [`Batch`](super::Batch) does.
///
/// Implement it to keep the journal in another database; [`SqliteStore`](super::SqliteStore)
/// is the one provided.
pub trait Store: Send + Sync {
    /// The row of `key`, if any.
    fn get(&self, key: &WorkKey) -> Result<Option<Row>, JournalError>;
    /// Every row (for planning a large batch in one read, and for reports).
    fn rows(&self) -> Result<Vec<Row>, JournalError>;
    /// Records `units` as planned (one transaction), leaving existing rows as they are.
    fn record_planned(&self, units: &[&Unit]) -> Result<(), JournalError>;
    /// → [`State::Submitting`], before the paid request is sent: moves the ticket of an earlier
    /// attempt to `previous_tickets`, clears the failure, counts an attempt, keeps the outputs
    /// written before.
    fn begin_submit(&self, unit: &Unit) -> Result<(), JournalError>;
    /// → [`State::Submitted`] with the accepted job's ticket; adds the unit's credits to its
    /// `spent_credits`.
    fn mark_submitted(&self, key: &WorkKey, ticket: &JobTicket) -> Result<(), JournalError>;
    /// → [`State::Done`]; `outputs` replace the recorded ones.
    fn mark_done(&self, key: &WorkKey, outputs: &[OutputRecord]) -> Result<(), JournalError>;
    /// Adds copies of a done unit's results (same key, another place).
    fn add_outputs(&self, key: &WorkKey, outputs: &[OutputRecord]) -> Result<(), JournalError>;
    /// → [`State::Failed`] with a reason and whether the work was paid for.
    fn mark_failed(
        &self,
        key: &WorkKey,
        reason: &str,
        paid: Option<bool>,
    ) -> Result<(), JournalError>;
    /// Moves the row of `from` to key `to` with provider field `provider`: the same work,
    /// recorded under another provider list, adopted by a unit of this one
    /// ([`Unit::related`](super::Unit::related)). A row already under `to` that holds no
    /// job (`planned`, or `failed` unpaid) gives way, its history (earlier jobs, credits
    /// spent, attempts, files written) merged into the moved row; any other row there is an
    /// error, and nothing changes.
    fn rekey(&self, from: &WorkKey, to: &WorkKey, provider: &str) -> Result<(), JournalError>;
    /// Records why the last attempt stopped without changing the state: a paid job's download
    /// cut or a file in the way (the job stays to be picked up by the next run), or the error
    /// after which a submission may have been taken (the unit stays uncertain, and later runs
    /// show this instead of assuming a crash). The default records nothing (the reason is only
    /// for reports).
    fn note_failure(&self, key: &WorkKey, reason: &str) -> Result<(), JournalError> {
        let _ = (key, reason);
        Ok(())
    }
}
