//! Batches at scale without paying twice: a crash-safe journal of paid work and a runner that
//! resumes instead of repeating (feature `batch`).
//!
//! A batch is a list of [`Unit`]s, each one paid submission identified by a [`WorkKey`]
//! (content hash of its inputs + provider + normalised parameters + output kind). The runner
//! ([`Batch`]) keeps one row per key in a [`Store`] ([`SqliteStore`]: one SQLite file, WAL mode,
//! `synchronous=FULL`) and moves it through [`State`]s, each durable **before** the step it
//! announces:
//!
//! ```text
//! planned → submitting ─(provider accepted)→ submitted ─(results written)→ done
//!               │                                │ ↺ download cut, 5xx, a file in the way:
//!               │                                │   stays submitted, re-attached next run
//!               │                                └─(job failed, or gone)→ failed (paid)
//!               └─(refused, surely not taken)→ failed (unpaid)
//! done ─(an output missing, no intact copy)→ re-attached to its recorded job (free)
//! failed (paid) ─(only with retry_failed or force)→ submitting (the earlier job kept)
//! failed (paid) ─(its recorded outputs restored, intact)→ skipped
//! ```
//!
//! Once the provider has accepted a job it is never paid for again by accident: an error while
//! waiting for it, downloading it or writing its results (a cut connection, a server error, a
//! full disk, a file in the way) leaves the row `submitted` with its ticket, and the next run
//! picks the job up again for free. Only a definite end (the job failed, it or its result is
//! gone, the result is not an image) makes the row `failed (paid)`, and such a row is submitted
//! again only when asked ([`Batch::retry_failed`]); the journal keeps the tickets of every
//! attempt and counts the credits of all of them.
//!
//! Running the same batch again is resuming it ([`plan`] says what happens to each unit, and is
//! the dry run): done units whose files are intact are skipped; done units whose files are
//! missing are copied from an intact copy of the same work, or else re-attached to the recorded
//! job (downloaded again, nothing paid); submitted units are re-attached (the job is picked up
//! again, never re-submitted); units a crash left `submitting` are *uncertain* and only
//! submitted again with [`Batch::resubmit_uncertain`]; units that failed after being paid end
//! as failures ([`Action::FailedBefore`]) unless [`Batch::retry_failed`] submits them again
//! ([`Action::Retry`]); units that failed unpaid are submitted again; the same key twice in
//! one batch is paid once and copied ([`Action::Duplicate`]). A file at an output path that the
//! journal did not write is never replaced without [`Batch::force`] ([`Action::Blocked`],
//! before anything is paid; and for the later results of a job, before any of them is
//! written).
//!
//! **Another provider list.** A unit's key includes its provider field, so the same image
//! run with `topaz,modelslab` and later with `topaz` alone has two keys. A unit that names
//! the other keys of its work ([`Unit::related`]) adopts a row recorded under one of them
//! when a provider it accepts did that work (`done`) or holds its paid job (`submitted`), or
//! a run of a list sharing a provider with it was stopped while submitting it (uncertain):
//! the plan acts on that row as on the unit's own ([`Plan::adopted_from`] says so), and the
//! run re-keys it to the unit's key ([`Store::rekey`]) before acting, except an uncertain
//! row, which stays under its list (the only record of who may hold the job). The unit's own
//! row gives way only if it holds no job (planned, or refused unpaid); its history is merged.
//! Failed rows of other keys are not adopted (a new list is a new attempt).
//!
//! **Force** ([`Batch::force`]) means "redo and overwrite", but never pays twice for a job
//! not yet delivered: a `submitted` unit is re-attached (its results replace whatever is in the
//! way; nothing paid); a unit left `submitting` stays uncertain unless
//! [`Batch::resubmit_uncertain`]; a done unit is submitted again (paid again — that is what
//! force asks for); a unit that failed after being paid is retried (force implies
//! [`Batch::retry_failed`]); files in the way are overwritten.
//!
//! **Budget.** [`Batch::max_credits`] stops submitting new work once the estimate would pass a
//! budget: units reserve their estimated credits in batch order, and the first unit that
//! would pass the budget closes it — no unit after it is submitted, even a smaller one that
//! would fit, and the credits of submissions the provider refused do not reopen it. Work
//! already accepted, re-attaches and copies go on. [`Report::budget_exhausted`] says it
//! happened; [`Plan::over_budget`] says beforehand (in a dry run) which units a budget leaves
//! out.
//!
//! ```no_run
//! use std::sync::Arc;
//! use cutout::batch::{Batch, OutputName, RemoverWork, SqliteStore, Unit};
//! use cutout::{ImageSource, Provider, RemoveOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(SqliteStore::open("out/cutout-journal.sqlite")?);
//! let remover = Provider::Topaz.remover_from_env()?;
//! let work = RemoverWork::new(remover, RemoveOptions::default());
//! let units = ["a.jpg", "b.jpg"]
//!     .iter()
//!     .map(|name| {
//!         let stem = std::path::Path::new("out").join(name).with_extension("");
//!         Unit::new(vec![ImageSource::path(*name)], "topaz", "model=remove-bg", "cutout",
//!                   OutputName::Stem(stem), 1)
//!     })
//!     .collect::<Result<Vec<_>, _>>()?;
//! let report = Batch::new(store)
//!     .concurrency(4)
//!     .max_credits(Some(100))
//!     .on_event(|event| println!("{event:?}"))
//!     .run(&work, units)
//!     .await?;
//! println!("{:?} (spent {} credits)", report.outcomes, report.spent_credits);
//! # Ok(()) }
//! ```
//!
//! Stopping a run (dropping its future on Ctrl-C, or killing the process) leaves the journal
//! consistent; the next run carries on from where it stopped.

mod key;
mod plan;
mod runner;
mod sqlite;
mod store;
mod summary;
mod work;

pub use key::{OutputName, WorkKey, content_hash, hash_file};
pub use plan::{Action, Plan, PlanOptions, plan};
pub use runner::{Batch, Event, EventFn, Outcome, Report, UNCERTAIN_AFTER_A_KILL, UnitReport};
pub use sqlite::{APPLICATION_ID, SCHEMA_VERSION, SqliteStore};
pub use store::{JournalError, OutputRecord, Row, State, Store};
pub use summary::{Summary, summary};
pub use work::{RemoverWork, RouterWork, Unit, UnitOptionsFn, Work};
