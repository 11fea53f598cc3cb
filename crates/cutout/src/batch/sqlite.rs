//! [`SqliteStore`]: the journal in an embedded SQLite database (bundled, WAL mode).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use cutout_runtime::JobTicket;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use super::key::WorkKey;
use super::store::{JournalError, OutputRecord, Row, State, Store};
use super::work::Unit;

/// `PRAGMA application_id` of a cutout journal ("Cut1"): tells our files from other programs'.
pub const APPLICATION_ID: i32 = 0x4375_7431;
/// `PRAGMA user_version`: the schema this build writes (and the newest it reads).
pub const SCHEMA_VERSION: i64 = 2;

/// Version 1 → 2: the tickets of earlier attempts and the credits of all attempts. A row of
/// version 1 that was paid was paid (at least) once.
const MIGRATE_1_TO_2: &str = "
ALTER TABLE units ADD COLUMN previous_tickets TEXT NOT NULL DEFAULT '[]';
ALTER TABLE units ADD COLUMN spent_credits INTEGER NOT NULL DEFAULT 0;
UPDATE units SET spent_credits = credits WHERE paid = 1;
";

const SCHEMA: &str = "
CREATE TABLE units (
    key          TEXT PRIMARY KEY NOT NULL,
    display      TEXT NOT NULL,
    provider     TEXT NOT NULL,
    params       TEXT NOT NULL,
    output_kind  TEXT NOT NULL,
    state        TEXT NOT NULL,
    ticket       TEXT,
    submitted_at INTEGER,
    outputs      TEXT NOT NULL DEFAULT '[]',
    failure      TEXT,
    paid         INTEGER,
    credits      INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    previous_tickets TEXT NOT NULL DEFAULT '[]',
    spent_credits    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX units_state ON units(state);
";

/// The journal in one SQLite file.
///
/// Opening it takes an exclusive lock (`locking_mode=EXCLUSIVE`) that is held until the store
/// is dropped: a second run on the same journal, in this process or another, gets
/// [`JournalError::InUse`] instead of interleaving with the first. The operating system
/// releases the lock when a process dies, so a killed run does not leave the journal locked.
///
/// Every transition is one transaction with `synchronous=FULL`: durable when it returns, across
/// a crash or a power loss. Calls block for about one disk sync (see BENCHMARKS.md).
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    connection: Mutex<Connection>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl SqliteStore {
    /// Opens the journal at `path`, creating it (its folder, and its schema) when there is no
    /// file yet.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        // The default journal lives in the output folder, which a first run has not made yet.
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !folder.exists()
        {
            std::fs::create_dir_all(folder).map_err(|e| JournalError::ReadOnly {
                path: path.clone(),
                what: format!("its folder `{}` cannot be created ({e})", folder.display()),
            })?;
        }
        check_file(&path)?;
        let db = |action: &'static str| {
            let path = path.clone();
            move |e: rusqlite::Error| classify(&path, action, e)
        };
        let connection = Connection::open(&path).map_err(db("open"))?;
        // Before the first access, so the lock is taken at once and WAL uses no shared memory.
        connection
            .pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(db("lock"))?;
        connection
            .busy_timeout(Duration::from_millis(250))
            .map_err(db("configure"))?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(db("switch to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(JournalError::Database {
                path,
                action: "switch to WAL mode",
                message: format!("the database stayed in `{mode}` mode"),
            });
        }
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(db("configure"))?;
        let store = SqliteStore {
            path: path.clone(),
            connection: Mutex::new(connection),
        };
        store.check_schema()?;
        Ok(store)
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, action: &'static str) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
        move |e| classify(&self.path, action, e)
    }

    /// Tells a new file from our journal, another program's database, or a newer schema; and
    /// takes the exclusive lock (an empty write transaction).
    fn check_schema(&self) -> Result<(), JournalError> {
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .map_err(self.err("lock"))?;
        let application_id: i32 = tx
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(self.err("read"))?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(self.err("read"))?;
        let tables: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(self.err("read"))?;
        if application_id == 0 && tables == 0 {
            tx.execute_batch(SCHEMA).map_err(self.err("create"))?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(self.err("create"))?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(self.err("create"))?;
        } else if application_id != APPLICATION_ID {
            return Err(JournalError::ForeignDatabase {
                path: self.path.clone(),
            });
        } else if version > SCHEMA_VERSION {
            return Err(JournalError::NewerSchema {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        } else {
            let ours: i64 = tx
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'units'",
                    [],
                    |r| r.get(0),
                )
                .map_err(self.err("read"))?;
            if ours != 1 {
                return Err(JournalError::ForeignDatabase {
                    path: self.path.clone(),
                });
            }
            // An older journal is brought up to date in place, in this one transaction.
            if version < 2 {
                tx.execute_batch(MIGRATE_1_TO_2)
                    .map_err(self.err("upgrade"))?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(self.err("upgrade"))?;
            }
        }
        tx.commit().map_err(self.err("lock"))
    }

    /// Runs `f` in one immediate transaction, committed (durably) before returning.
    fn write<T>(
        &self,
        action: &'static str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err(action))?;
        let value = f(&tx).map_err(self.err(action))?;
        tx.commit().map_err(self.err(action))?;
        Ok(value)
    }

    fn expect_row(&self, changed: usize, key: &WorkKey) -> Result<(), JournalError> {
        if changed == 1 {
            Ok(())
        } else {
            Err(JournalError::Database {
                path: self.path.clone(),
                action: "update",
                message: format!("no row for work key {key}"),
            })
        }
    }
}

/// Refuses, before SQLite touches it, a file that is not SQLite and a journal that cannot be
/// written (SQLite would otherwise say "attempt to write a readonly database" later).
fn check_file(path: &Path) -> Result<(), JournalError> {
    let read_only = |what: String| JournalError::ReadOnly {
        path: path.to_path_buf(),
        what,
    };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(&folder) {
        Ok(m) if m.permissions().readonly() => {
            return Err(read_only(format!(
                "its folder `{}` is read-only",
                folder.display()
            )));
        }
        Ok(_) => {}
        Err(e) => {
            return Err(read_only(format!(
                "its folder `{}` cannot be used ({e})",
                folder.display()
            )));
        }
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(JournalError::NotADatabase {
            path: path.to_path_buf(),
        }),
        Ok(m) => {
            if m.permissions().readonly() {
                return Err(read_only("the file is read-only".to_owned()));
            }
            // An empty file is a new database to SQLite; anything else must be SQLite's.
            let mut header = [0u8; 100];
            let mut file = std::fs::File::open(path)
                .map_err(|e| read_only(format!("it cannot be opened ({e})")))?;
            let mut read = 0;
            while read < header.len() {
                match file.read(&mut header[read..]) {
                    Ok(0) => break,
                    Ok(n) => read += n,
                    Err(e) => return Err(read_only(format!("it cannot be read ({e})"))),
                }
            }
            if read != 0 && (read < 16 || &header[..16] != b"SQLite format 3\0") {
                return Err(JournalError::NotADatabase {
                    path: path.to_path_buf(),
                });
            }
            // Another program's database is refused from its header, before SQLite is asked to
            // switch it to WAL mode (which would rewrite that header): the header's application
            // id (bytes 68..72) is not ours, or it is unset while a schema exists (schema
            // cookie, bytes 40..44).
            if read == header.len() {
                let word = |at: usize| {
                    u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
                };
                let application_id = word(68) as i32;
                let foreign = if application_id == 0 {
                    word(40) != 0
                } else {
                    application_id != APPLICATION_ID
                };
                if foreign {
                    return Err(JournalError::ForeignDatabase {
                        path: path.to_path_buf(),
                    });
                }
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A folder we may not create files in (read-only mount, permissions): say so now.
            cutout_runtime::fs::check_writable(path).map_err(|e| {
                read_only(format!(
                    "no file can be created in `{}` ({e})",
                    folder.display()
                ))
            })
        }
        Err(e) => Err(read_only(format!("it cannot be used ({e})"))),
    }
}

fn classify(path: &Path, action: &'static str, e: rusqlite::Error) -> JournalError {
    let path = path.to_path_buf();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => JournalError::InUse { path },
        Some(ErrorCode::NotADatabase) => JournalError::NotADatabase { path },
        Some(ErrorCode::ReadOnly) => JournalError::ReadOnly {
            path,
            what: "the database refused a write".to_owned(),
        },
        _ => JournalError::Database {
            path,
            action,
            message: e.to_string(),
        },
    }
}

const COLUMNS: &str = "key, display, provider, params, output_kind, state, ticket, submitted_at, \
                       outputs, failure, paid, credits, updated_at, attempts, previous_tickets, \
                       spent_credits";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let bad = |i: usize, what: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, what.into())
    };
    let state: String = r.get(5)?;
    let ticket: Option<String> = r.get(6)?;
    let outputs: String = r.get(8)?;
    // Earlier jobs, each a ticket; one that delivered before a forced redo is marked so.
    let previous: Vec<serde_json::Value> = serde_json::from_str(&r.get::<_, String>(14)?)
        .map_err(|e| bad(14, format!("previous tickets: {e}")))?;
    Ok(Row {
        key: WorkKey::from_hex(r.get::<_, String>(0)?),
        display: r.get(1)?,
        provider: r.get(2)?,
        params: r.get(3)?,
        output_kind: r.get(4)?,
        state: State::parse(&state).ok_or_else(|| bad(5, format!("unknown state `{state}`")))?,
        ticket: match ticket {
            Some(t) => Some(
                serde_json::from_str::<JobTicket>(&t)
                    .map_err(|e| bad(6, format!("ticket: {e}")))?,
            ),
            None => None,
        },
        submitted_at: r.get(7)?,
        outputs: serde_json::from_str(&outputs).map_err(|e| bad(8, format!("outputs: {e}")))?,
        failure: r.get(9)?,
        paid: r.get::<_, Option<i64>>(10)?.map(|p| p != 0),
        credits: r.get::<_, i64>(11)?.clamp(0, u32::MAX as i64) as u32,
        updated_at: r.get(12)?,
        attempts: r.get::<_, i64>(13)?.clamp(0, u32::MAX as i64) as u32,
        previous_tickets: previous
            .iter()
            .map(|t| serde_json::from_value::<JobTicket>(t.clone()))
            .collect::<Result<_, _>>()
            .map_err(|e| bad(14, format!("previous tickets: {e}")))?,
        failed_before: {
            let mut names: Vec<String> = Vec::new();
            for t in &previous {
                let delivered = t.get("delivered") == Some(&serde_json::Value::Bool(true));
                if let Some(name) = t.get("provider").and_then(|p| p.as_str())
                    && !delivered
                    && !names.iter().any(|n| n == name)
                {
                    names.push(name.to_owned());
                }
            }
            names
        },
        spent_credits: r.get::<_, i64>(15)?.max(0) as u64,
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

impl Store for SqliteStore {
    fn get(&self, key: &WorkKey) -> Result<Option<Row>, JournalError> {
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        connection
            .prepare_cached(&format!("SELECT {COLUMNS} FROM units WHERE key = ?1"))
            .and_then(|mut s| s.query_row([key.as_str()], read_row).optional())
            .map_err(self.err("read"))
    }

    fn rows(&self) -> Result<Vec<Row>, JournalError> {
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        connection
            .prepare(&format!(
                "SELECT {COLUMNS} FROM units ORDER BY display, key"
            ))
            .and_then(|mut s| s.query_map([], read_row)?.collect())
            .map_err(self.err("read"))
    }

    fn record_planned(&self, units: &[&Unit]) -> Result<(), JournalError> {
        self.write("record planned work", |tx| {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO units (key, display, provider, params, output_kind, \
                 state, credits, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'planned', ?6, ?7)",
            )?;
            let now = now_ms();
            for unit in units {
                insert.execute(params![
                    unit.key.as_str(),
                    unit.display,
                    unit.provider,
                    unit.params,
                    unit.output_kind,
                    unit.credits,
                    now
                ])?;
            }
            Ok(())
        })
    }

    fn begin_submit(&self, unit: &Unit) -> Result<(), JournalError> {
        self.write("record a submission", |tx| {
            // The job of an earlier attempt is kept, never overwritten: it was paid for.
            let earlier: Option<(Option<String>, String, String)> = tx
                .query_row(
                    "SELECT ticket, previous_tickets, state FROM units WHERE key = ?1",
                    [unit.key.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((Some(ticket), previous, state)) = earlier {
                let mut all: Vec<serde_json::Value> =
                    serde_json::from_str(&previous).unwrap_or_default();
                let mut job =
                    serde_json::from_str(&ticket).unwrap_or(serde_json::Value::String(ticket));
                // A job that delivered, redone with `force`: not a failure to route around.
                if state == "done"
                    && let Some(fields) = job.as_object_mut()
                {
                    fields.insert("delivered".to_owned(), serde_json::Value::Bool(true));
                }
                all.push(job);
                tx.execute(
                    "UPDATE units SET previous_tickets = ?2 WHERE key = ?1",
                    params![unit.key.as_str(), to_json(&all)?],
                )?;
            }
            tx.execute(
                "INSERT INTO units (key, display, provider, params, output_kind, state, \
                 credits, updated_at, attempts) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'submitting', ?6, ?7, 1) \
                 ON CONFLICT(key) DO UPDATE SET state = 'submitting', display = ?2, \
                 credits = ?6, updated_at = ?7, attempts = attempts + 1, ticket = NULL, \
                 submitted_at = NULL, failure = NULL, paid = NULL",
                params![
                    unit.key.as_str(),
                    unit.display,
                    unit.provider,
                    unit.params,
                    unit.output_kind,
                    unit.credits,
                    now_ms()
                ],
            )
        })
        .map(drop)
    }

    fn mark_submitted(&self, key: &WorkKey, ticket: &JobTicket) -> Result<(), JournalError> {
        let changed = self.write("record a submitted job", |tx| {
            let now = now_ms();
            tx.execute(
                "UPDATE units SET state = 'submitted', ticket = ?2, submitted_at = ?3, \
                 updated_at = ?3, paid = 1, spent_credits = spent_credits + credits \
                 WHERE key = ?1",
                params![key.as_str(), to_json(ticket)?, now],
            )
        })?;
        self.expect_row(changed, key)
    }

    fn mark_done(&self, key: &WorkKey, outputs: &[OutputRecord]) -> Result<(), JournalError> {
        let changed = self.write("record finished work", |tx| {
            tx.execute(
                "UPDATE units SET state = 'done', outputs = ?2, failure = NULL, \
                 updated_at = ?3 WHERE key = ?1",
                params![key.as_str(), to_json(&outputs)?, now_ms()],
            )
        })?;
        self.expect_row(changed, key)
    }

    fn add_outputs(&self, key: &WorkKey, outputs: &[OutputRecord]) -> Result<(), JournalError> {
        let changed = self.write("record copied results", |tx| {
            let current: Option<String> = tx
                .query_row(
                    "SELECT outputs FROM units WHERE key = ?1",
                    [key.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(current) = current else {
                return Ok(0);
            };
            let mut all: Vec<OutputRecord> = serde_json::from_str(&current).unwrap_or_default();
            // A path written again replaces its old record.
            all.retain(|o| !outputs.iter().any(|n| n.path == o.path));
            all.extend(outputs.iter().cloned());
            tx.execute(
                "UPDATE units SET outputs = ?2, updated_at = ?3 WHERE key = ?1",
                params![key.as_str(), to_json(&all)?, now_ms()],
            )
        })?;
        self.expect_row(changed, key)
    }

    fn mark_failed(
        &self,
        key: &WorkKey,
        reason: &str,
        paid: Option<bool>,
    ) -> Result<(), JournalError> {
        let changed = self.write("record a failure", |tx| {
            tx.execute(
                "UPDATE units SET state = 'failed', failure = ?2, paid = ?3, updated_at = ?4 \
                 WHERE key = ?1",
                params![key.as_str(), reason, paid, now_ms()],
            )
        })?;
        self.expect_row(changed, key)
    }

    fn rekey(&self, from: &WorkKey, to: &WorkKey, provider: &str) -> Result<(), JournalError> {
        let changed = self.write("re-key a unit", |tx| {
            // A row under `to` that holds no job (planned, or refused unpaid) gives way to the
            // adopted row, which may hold a paid one; its history (earlier jobs, credits spent,
            // attempts, files written) is merged into the adopted row first, never dropped.
            // Any other row stays, and the UPDATE below fails: nothing changes.
            let giving_way: Option<(String, i64, i64, String)> = tx
                .query_row(
                    "SELECT previous_tickets, spent_credits, attempts, outputs FROM units \
                     WHERE key = ?1 AND (state = 'planned' OR (state = 'failed' AND paid = 0))",
                    [to.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            if let Some((their_tickets, their_spent, their_attempts, their_outputs)) = giving_way {
                let (our_tickets, our_outputs): (String, String) = tx.query_row(
                    "SELECT previous_tickets, outputs FROM units WHERE key = ?1",
                    [from.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                let list = |text: &str| -> Vec<serde_json::Value> {
                    serde_json::from_str(text).unwrap_or_default()
                };
                // Theirs are older: they come first.
                let mut tickets = list(&their_tickets);
                tickets.extend(list(&our_tickets));
                let mut outputs = list(&our_outputs);
                for record in list(&their_outputs) {
                    let path = record.get("path").cloned();
                    if !outputs.iter().any(|o| o.get("path").cloned() == path) {
                        outputs.push(record);
                    }
                }
                tx.execute(
                    "UPDATE units SET previous_tickets = ?2, outputs = ?3, \
                     spent_credits = spent_credits + ?4, attempts = attempts + ?5 WHERE key = ?1",
                    params![
                        from.as_str(),
                        to_json(&tickets)?,
                        to_json(&outputs)?,
                        their_spent.max(0),
                        their_attempts.max(0)
                    ],
                )?;
                tx.execute("DELETE FROM units WHERE key = ?1", [to.as_str()])?;
            }
            tx.execute(
                "UPDATE units SET key = ?2, provider = ?3, updated_at = ?4 WHERE key = ?1",
                params![from.as_str(), to.as_str(), provider, now_ms()],
            )
        })?;
        self.expect_row(changed, from)
    }

    fn note_failure(&self, key: &WorkKey, reason: &str) -> Result<(), JournalError> {
        let changed = self.write("record a failure", |tx| {
            tx.execute(
                "UPDATE units SET failure = ?2, updated_at = ?3 WHERE key = ?1",
                params![key.as_str(), reason, now_ms()],
            )
        })?;
        self.expect_row(changed, key)
    }
}
