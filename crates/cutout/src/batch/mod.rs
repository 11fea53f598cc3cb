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
//!               │                               └─(job failed)→ failed (paid)
//!               └─(refused, surely not taken)→ failed (unpaid)
//! ```
//!
//! Running the same batch again is resuming it ([`plan`] says what happens to each unit, and is
//! the dry run): done units whose files are intact are skipped; submitted units are re-attached
//! (the job is picked up again, never re-submitted); units a crash left `submitting` are
//! *uncertain* and only submitted again with [`Batch::resubmit_uncertain`]; failed units are
//! submitted again ([`Action::Retry`] when the failed attempt was paid); the same key twice in
//! one batch is paid once and copied ([`Action::Duplicate`]). A file at an output path that the
//! journal did not write is never replaced without [`Batch::force`] ([`Action::Blocked`],
//! before anything is paid). [`Batch::max_credits`] stops new submissions once the estimate
//! would pass a budget ([`Report::budget_exhausted`]).
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
pub use runner::{Batch, Event, EventFn, Outcome, Report, UnitReport};
pub use sqlite::{APPLICATION_ID, SCHEMA_VERSION, SqliteStore};
pub use store::{JournalError, OutputRecord, Row, State, Store};
pub use summary::{Summary, summary};
pub use work::{RemoverWork, Unit, Work};
