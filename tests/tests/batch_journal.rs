//! `cutout::batch`: the journal and the runner, with a fake `Work` that counts what it is asked
//! to do and can fail in every way a provider can.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cutout::batch::{
    Action, Batch, JournalError, OutputName, PlanOptions, SqliteStore, State, Store, Unit, Work,
    WorkKey, content_hash, plan, summary,
};
use cutout::runtime::{BoxFuture, Cutout, CutoutKind, Error, ImageSource, JobTicket};

/// What the fake does when asked to submit or resume a unit (by display name).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    Ok,
    /// Refused: surely not taken (`may_have_been_taken() == false`).
    Refuse,
    /// Lost in transit: may have been taken.
    Lost,
    /// Never answers (the run is dropped meanwhile).
    Hang,
    /// Resume only: the job failed at the provider.
    JobFailed,
    /// Resume only: the wait deadline passed.
    Timeout,
    /// Resume only: the download of the result was cut (a real truncated HTTP body).
    DownloadCut,
    /// Resume only: the job (or its result) is gone at the provider (HTTP 404).
    Gone,
    /// Resume only: the job has two results.
    TwoResults,
}

/// A real transport error: a loopback server that promises 1000 bytes, sends 10 and hangs up.
async fn cut_download() -> Error {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 1024];
        let _ = socket.read(&mut request).await;
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789")
            .await
            .unwrap();
    });
    let response = reqwest::get(format!("http://{addr}/result.png"))
        .await
        .unwrap();
    let error = response.bytes().await.expect_err("the body is cut");
    server.await.unwrap();
    Error::Transport {
        provider: "fake",
        operation: "download",
        maybe_sent: true,
        source: cutout::runtime::TransportError::new(error),
    }
}

#[derive(Default)]
struct Fake {
    submits: AtomicUsize,
    resumes: AtomicUsize,
    submit: Mutex<HashMap<String, Behaviour>>,
    resume: Mutex<HashMap<String, Behaviour>>,
    submitted: Mutex<Vec<String>>,
}

impl Fake {
    fn submit_as(&self, display: &str, b: Behaviour) {
        self.submit.lock().unwrap().insert(display.to_owned(), b);
    }
    fn resume_as(&self, display: &str, b: Behaviour) {
        self.resume.lock().unwrap().insert(display.to_owned(), b);
    }
    fn submits(&self) -> usize {
        self.submits.load(Ordering::SeqCst)
    }
    fn resumes(&self) -> usize {
        self.resumes.load(Ordering::SeqCst)
    }
}

fn png(seed: u8) -> Vec<u8> {
    let image = image::RgbaImage::from_pixel(2, 2, image::Rgba([seed, 255 - seed, 7, 128]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgba8(image)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

impl Work for Fake {
    fn submit<'a>(&'a self, unit: &'a Unit) -> BoxFuture<'a, Result<JobTicket, Error>> {
        Box::pin(async move {
            let b = *self
                .submit
                .lock()
                .unwrap()
                .get(&unit.display)
                .unwrap_or(&Behaviour::Ok);
            if b == Behaviour::Hang {
                std::future::pending::<()>().await;
            }
            self.submits.fetch_add(1, Ordering::SeqCst);
            match b {
                Behaviour::Refuse => Err(Error::invalid("image", "refused by the fake")),
                Behaviour::Lost => Err(Error::Timeout {
                    what: "the submission's answer".to_owned(),
                    waited: Duration::from_secs(30),
                }),
                _ => {
                    let n = self.submits();
                    self.submitted.lock().unwrap().push(unit.display.clone());
                    Ok(JobTicket::new("fake", format!("job-{n}")))
                }
            }
        })
    }

    fn resume<'a>(
        &'a self,
        unit: &'a Unit,
        ticket: JobTicket,
    ) -> BoxFuture<'a, Result<Vec<Cutout>, Error>> {
        Box::pin(async move {
            let b = *self
                .resume
                .lock()
                .unwrap()
                .get(&unit.display)
                .unwrap_or(&Behaviour::Ok);
            if b == Behaviour::Hang {
                std::future::pending::<()>().await;
            }
            self.resumes.fetch_add(1, Ordering::SeqCst);
            let job_id = ticket.job_id.clone().unwrap_or_default();
            match b {
                Behaviour::JobFailed => Err(Error::JobFailed {
                    provider: "fake",
                    job_id,
                    status: "failed".to_owned(),
                    message: Some("the fake failed it".to_owned()),
                }),
                Behaviour::Timeout => Err(Error::Timeout {
                    what: format!("job {job_id}"),
                    waited: Duration::from_secs(1),
                }),
                Behaviour::DownloadCut => Err(cut_download().await),
                Behaviour::Gone => {
                    Err(Error::unexpected("fake", "status", "no such job").with_status(404))
                }
                Behaviour::TwoResults => {
                    let seed = unit.display.bytes().fold(0u8, u8::wrapping_add);
                    Ok(vec![
                        Cutout::new(png(seed).into(), CutoutKind::Rgba, "fake", None)?,
                        Cutout::new(png(seed ^ 0x55).into(), CutoutKind::Mask, "fake", None)?,
                    ])
                }
                _ => {
                    let seed = unit.display.bytes().fold(0u8, u8::wrapping_add);
                    Ok(vec![Cutout::new(
                        png(seed).into(),
                        CutoutKind::Rgba,
                        "fake",
                        Some(job_id),
                    )?])
                }
            }
        })
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    journal: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    std::fs::create_dir_all(root.join("in")).unwrap();
    std::fs::create_dir_all(root.join("out")).unwrap();
    Setup {
        journal: root.join("out/journal.sqlite"),
        root,
        _dir: dir,
    }
}

impl Setup {
    /// Input files `names` (contents from the name, or `content` when given) and their units.
    fn units(&self, names: &[(&str, &str)]) -> Vec<Unit> {
        self.units_as("fake", names)
    }
    /// The units of `names` under provider field `provider` (a fallback list `a,b`…).
    fn units_as(&self, provider: &str, names: &[(&str, &str)]) -> Vec<Unit> {
        names
            .iter()
            .map(|(name, content)| {
                let input = self.root.join("in").join(name);
                std::fs::write(&input, content.as_bytes()).unwrap();
                Unit::new(
                    vec![ImageSource::path(&input)],
                    provider,
                    "model=x",
                    "cutout",
                    OutputName::Stem(self.root.join("out").join(name)),
                    1,
                )
                .unwrap()
                .display(*name)
            })
            .collect()
    }
    fn output(&self, name: &str) -> PathBuf {
        self.root.join("out").join(format!("{name}.png"))
    }
    fn store(&self) -> Arc<SqliteStore> {
        Arc::new(SqliteStore::open(&self.journal).unwrap())
    }
}

fn three(s: &Setup) -> Vec<Unit> {
    s.units(&[("a", "image a"), ("b", "image b"), ("c", "image c")])
}

#[test]
fn work_keys_separate_fields_and_hash_content() {
    let k = |h: &[&str], p: &str, q: &str, o: &str| {
        WorkKey::new(
            &h.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            p,
            q,
            o,
        )
    };
    assert_ne!(k(&["ab"], "c", "", "x"), k(&["a"], "bc", "", "x"));
    assert_ne!(k(&["a", "b"], "", "", "x"), k(&["ab"], "", "", "x"));
    assert_ne!(
        k(&["a"], "p", "k=1", "cutout"),
        k(&["a"], "p", "k=1", "mask")
    );
    assert_eq!(
        k(&["a"], "p", "k=1", "cutout"),
        k(&["a"], "p", "k=1", "cutout")
    );
    assert_eq!(k(&["a"], "p", "", "").as_str().len(), 64);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.jpg");
    std::fs::write(&file, b"same bytes").unwrap();
    // A file and bytes with the same content hash alike; a URL is hashed as its text.
    assert_eq!(
        content_hash(&ImageSource::path(&file)).unwrap(),
        content_hash(&ImageSource::bytes(&b"same bytes"[..], "y.png")).unwrap()
    );
    assert_ne!(
        content_hash(&ImageSource::url("https://example.com/a.jpg")).unwrap(),
        content_hash(&ImageSource::url("https://example.com/b.jpg")).unwrap()
    );
    let missing = content_hash(&ImageSource::path(dir.path().join("missing.jpg")));
    assert!(matches!(missing, Err(Error::Io { .. })), "{missing:?}");
}

#[tokio::test]
async fn rerun_after_success_skips_everything_and_redoes_only_a_deleted_output() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    let report = Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(fake.submits(), 3);
    for name in ["a", "b", "c"] {
        assert!(s.output(name).is_file());
        let row = store.get(&three(&s)[0].key).unwrap().unwrap();
        assert_eq!(row.state, State::Done);
    }

    let report = Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert_eq!(fake.submits(), 3, "a finished batch is not paid again");
    assert_eq!(report.actions.get("skip"), Some(&3), "{report:#?}");
    // The jobs paid for before are still named.
    assert!(
        report.units.iter().all(|u| u.ticket.is_some()),
        "{report:#?}"
    );
    assert!(report.all_succeeded());

    // A deleted output is downloaded again from the job that was paid for: nothing paid.
    let resumes = fake.resumes();
    std::fs::remove_file(s.output("b")).unwrap();
    let report = Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert_eq!(fake.submits(), 3, "a deleted output is not paid again");
    assert_eq!(
        fake.resumes(),
        resumes + 1,
        "only the deleted output is fetched"
    );
    assert!(
        matches!(&report.units[1].action, Action::Reattach(t) if t.job_id.is_some()),
        "{report:#?}"
    );
    assert_eq!(report.actions.get("skip"), Some(&2));
    assert_eq!(report.spent_credits, 0);
    assert!(report.all_succeeded(), "{report:#?}");
    assert!(s.output("b").is_file());

    // A result edited by hand is not overwritten without force, and nothing is paid for it.
    std::fs::write(s.output("c"), b"edited").unwrap();
    let report = Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert!(
        matches!(report.units[2].action, Action::Blocked(_)),
        "{report:#?}"
    );
    assert_eq!(fake.submits(), 3);
    assert_eq!(std::fs::read(s.output("c")).unwrap(), b"edited");
    let report = Batch::new(store.clone())
        .force(true)
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert!(report.all_succeeded());
    assert_eq!(fake.submits(), 6, "force redoes everything");
    assert_ne!(std::fs::read(s.output("c")).unwrap(), b"edited");
}

#[tokio::test]
async fn a_foreign_output_file_is_refused_before_paying() {
    let s = setup();
    std::fs::write(s.output("a"), b"mine").unwrap();
    let fake = Fake::default();
    let report = Batch::new(s.store()).run(&fake, three(&s)).await.unwrap();
    assert!(matches!(&report.units[0].action, Action::Blocked(m) if m.contains("a.png")));
    assert_eq!(fake.submits(), 2);
    assert_eq!(std::fs::read(s.output("a")).unwrap(), b"mine");
}

#[tokio::test]
async fn drop_after_submit_returned_reattaches_without_submitting() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    fake.resume_as("b", Behaviour::Hang);
    let batch = Batch::new(store.clone());
    let run = batch.run(&fake, three(&s));
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), run)
            .await
            .is_err(),
        "b's resume hangs, so the run cannot finish"
    );
    let b = &three(&s)[1];
    let row = store.get(&b.key).unwrap().unwrap();
    assert_eq!(row.state, State::Submitted);
    let ticket = row.ticket.clone().unwrap();
    assert_eq!(fake.submits(), 3);

    let fresh = Fake::default();
    let report = Batch::new(store.clone())
        .run(&fresh, three(&s))
        .await
        .unwrap();
    assert_eq!(report.units[1].action, Action::Reattach(ticket.clone()));
    assert_eq!(
        fresh.submits(),
        0,
        "a submitted job is never submitted again"
    );
    assert_eq!(fresh.resumes(), 1);
    assert_eq!(report.units[1].ticket, Some(ticket));
    assert!(report.all_succeeded(), "{report:#?}");
    assert!(s.output("b").is_file());
}

#[tokio::test]
async fn drop_while_submitting_is_uncertain_and_only_resubmitted_when_asked() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    fake.submit_as("c", Behaviour::Hang);
    let batch = Batch::new(store.clone());
    let run = batch.run(&fake, three(&s));
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), run)
            .await
            .is_err()
    );
    let c = &three(&s)[2];
    assert_eq!(store.get(&c.key).unwrap().unwrap().state, State::Submitting);

    let fresh = Fake::default();
    let report = Batch::new(store.clone())
        .run(&fresh, three(&s))
        .await
        .unwrap();
    assert_eq!(
        report.units[2].action,
        Action::Uncertain { resubmit: false }
    );
    assert!(matches!(
        report.units[2].outcome,
        cutout::batch::Outcome::Uncertain { .. }
    ));
    assert_eq!(report.uncertain().count(), 1);
    assert_eq!(fresh.submits(), 0);
    assert!(!s.output("c").exists());
    let sum = summary(&*store).unwrap();
    assert_eq!(sum.uncertain.len(), 1);
    assert_eq!(sum.uncertain[0].display, "c");

    let report = Batch::new(store.clone())
        .resubmit_uncertain(true)
        .run(&fresh, three(&s))
        .await
        .unwrap();
    assert_eq!(fresh.submits(), 1);
    assert!(report.all_succeeded(), "{report:#?}");
}

#[tokio::test]
async fn a_submission_lost_in_transit_stays_uncertain_a_refused_one_is_retried() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    fake.submit_as("a", Behaviour::Lost);
    fake.submit_as("b", Behaviour::Refuse);
    let report = Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    let keys: Vec<_> = three(&s).into_iter().map(|u| u.key).collect();
    assert!(matches!(
        &report.units[0].outcome,
        cutout::batch::Outcome::Uncertain { error: Some(e) } if e.contains("submission")
    ));
    assert_eq!(
        store.get(&keys[0]).unwrap().unwrap().state,
        State::Submitting
    );
    let b = store.get(&keys[1]).unwrap().unwrap();
    assert_eq!((b.state, b.paid), (State::Failed, Some(false)));
    assert_eq!(report.spent_credits, 2, "the refused unit cost nothing");

    let fresh = Fake::default();
    let report = Batch::new(store.clone())
        .run(&fresh, three(&s))
        .await
        .unwrap();
    assert_eq!(
        report.units[1].action,
        Action::Submit,
        "failed unpaid → submitted again"
    );
    assert_eq!(fresh.submitted.lock().unwrap().as_slice(), ["b"]);
    // The next run says what the first one saw, not that a run was stopped.
    assert!(
        matches!(
            &report.units[0].outcome,
            cutout::batch::Outcome::Uncertain { error: Some(e) }
                if e.contains("an earlier run's submission ended with")
                    && e.contains("the submission's answer")
                    && !e.contains("stopped")
        ),
        "{:?}",
        report.units[0].outcome
    );
    assert!(
        store.get(&keys[0]).unwrap().unwrap().failure.is_some(),
        "the cause is in the journal for `cutout journal`"
    );
}

#[tokio::test]
async fn a_paid_failure_is_not_paid_again_unless_retried_and_a_timeout_is_reattached() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    fake.resume_as("a", Behaviour::JobFailed);
    fake.resume_as("b", Behaviour::Timeout);
    let report = Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert!(matches!(
        report.units[0].outcome,
        cutout::batch::Outcome::Failed {
            paid: Some(true),
            ..
        }
    ));
    // Every paid job carries its ticket in the report, success or failure.
    for unit in &report.units {
        assert!(
            unit.ticket
                .as_ref()
                .and_then(|t| t.job_id.as_ref())
                .is_some()
        );
    }
    assert!(matches!(
        report.units[1].outcome,
        cutout::batch::Outcome::StillRunning { .. }
    ));
    let keys: Vec<_> = three(&s).into_iter().map(|u| u.key).collect();
    assert_eq!(
        store.get(&keys[1]).unwrap().unwrap().state,
        State::Submitted
    );

    let first_job = report.units[0].ticket.clone().unwrap();

    // A plain re-run does not pay again for the failed job: it says why and how to retry.
    let fresh = Fake::default();
    let report = Batch::new(store.clone())
        .run(&fresh, three(&s))
        .await
        .unwrap();
    assert!(
        matches!(&report.units[0].action, Action::FailedBefore { reason, paid: Some(true) }
            if reason.contains("the fake failed it")),
        "{report:#?}"
    );
    match &report.units[0].outcome {
        cutout::batch::Outcome::Failed { error, .. } => {
            assert!(
                error.starts_with("failed in an earlier run after it was paid: "),
                "{error}"
            );
            assert!(error.contains("the fake failed it"), "{error}");
            assert!(error.contains("pass retry_failed"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(report.units[0].ticket.as_ref(), Some(&first_job));
    assert!(matches!(report.units[1].action, Action::Reattach(_)));
    assert_eq!(report.units[2].action, Action::Skip);
    assert_eq!(fresh.submits(), 0, "nothing is paid again");
    assert_eq!(report.spent_credits, 0);
    assert!(!report.all_succeeded());
    let dry = plan(&*store, &three(&s), Default::default()).unwrap();
    assert_eq!(dry.estimated_credits, 0);

    // Asked for, it is paid once more; the journal keeps both jobs and counts both.
    fake.resume_as("a", Behaviour::Ok);
    let report = Batch::new(store.clone())
        .retry_failed(true)
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert_eq!(report.units[0].action, Action::Retry);
    assert_eq!(fake.submits(), 4, "paid once more");
    assert!(report.all_succeeded(), "{report:#?}");
    let row = store.get(&keys[0]).unwrap().unwrap();
    assert_eq!(row.state, State::Done);
    assert_eq!(row.attempts, 2);
    assert_eq!(row.previous_tickets, std::slice::from_ref(&first_job));
    assert_ne!(row.ticket.as_ref(), Some(&first_job));
    assert_eq!(row.spent_credits, 2);
    assert_eq!(
        summary(&*store).unwrap().paid_credits,
        4,
        "a, a again, b, c"
    );
}

#[tokio::test]
async fn a_blocked_first_copy_does_not_block_its_duplicates() {
    let s = setup();
    std::fs::write(s.output("a"), b"mine").unwrap();
    let fake = Fake::default();
    // `a` cannot be written (a file the journal did not write); `b` is the same work.
    let units = s.units(&[("a", "same"), ("b", "same")]);
    let report = Batch::new(s.store()).run(&fake, units).await.unwrap();
    assert!(
        matches!(&report.units[0].action, Action::Blocked(_)),
        "{report:#?}"
    );
    assert_eq!(report.units[1].action, Action::Submit, "{report:#?}");
    assert!(report.units[1].outcome.is_success(), "{report:#?}");
    assert_eq!(fake.submits(), 1);
    assert!(s.output("b").is_file());
    assert_eq!(std::fs::read(s.output("a")).unwrap(), b"mine");
}

#[tokio::test]
async fn identical_inputs_are_paid_once_and_copied() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    let units = s.units(&[("a", "same"), ("b", "same"), ("c", "other")]);
    let report = Batch::new(store.clone()).run(&fake, units).await.unwrap();
    assert_eq!(fake.submits(), 2);
    assert_eq!(report.units[1].action, Action::Duplicate(0));
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(
        std::fs::read(s.output("a")).unwrap(),
        std::fs::read(s.output("b")).unwrap()
    );
    // Again: both copies are the journal's and intact.
    let units = s.units(&[("a", "same"), ("b", "same"), ("c", "other")]);
    let report = Batch::new(store.clone()).run(&fake, units).await.unwrap();
    assert_eq!(report.actions.get("skip"), Some(&3), "{report:#?}");
    // The same image under a new output name: copied from the journal's result, not paid.
    let units = s.units(&[("d", "same")]);
    let report = Batch::new(store.clone()).run(&fake, units).await.unwrap();
    assert!(
        matches!(report.units[0].action, Action::Copy { .. }),
        "{report:#?}"
    );
    assert_eq!(fake.submits(), 2);
    assert!(s.output("d").is_file());
}

#[tokio::test]
async fn the_budget_stops_new_submissions() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    let names: Vec<(String, String)> = (0..6)
        .map(|i| (format!("u{i}"), format!("image {i}")))
        .collect();
    let refs: Vec<(&str, &str)> = names
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let units: Vec<Unit> = s
        .units(&refs)
        .into_iter()
        .map(|mut u| {
            u.credits = 2;
            u
        })
        .collect();
    let dry = plan(&*store, &units, Default::default()).unwrap();
    assert_eq!(dry.estimated_credits, 12);
    assert_eq!(fake.submits(), 0, "planning sends nothing");

    let report = Batch::new(store.clone())
        .concurrency(2)
        .max_credits(Some(7))
        .run(&fake, units.clone())
        .await
        .unwrap();
    assert_eq!(
        fake.submits(),
        3,
        "3 × 2 credits fit in 7, a fourth would not"
    );
    assert!(report.budget_exhausted);
    assert_eq!(report.spent_credits, 6);
    assert_eq!(report.outcomes.get("over_budget"), Some(&3));

    let report = Batch::new(store.clone())
        .max_credits(Some(100))
        .run(&fake, units)
        .await
        .unwrap();
    assert_eq!(fake.submits(), 6);
    assert!(!report.budget_exhausted);
    assert_eq!(report.actions.get("skip"), Some(&3));
}

// ---- the journal file ----

fn expect_err(path: &Path) -> JournalError {
    SqliteStore::open(path).expect_err("must be refused")
}

#[test]
fn a_foreign_database_is_refused() {
    let s = setup();
    let other = s.root.join("other.db");
    let c = rusqlite::Connection::open(&other).unwrap();
    c.execute_batch("CREATE TABLE photos (id INTEGER); INSERT INTO photos VALUES (1);")
        .unwrap();
    drop(c);
    let before = std::fs::read(&other).unwrap();
    let e = expect_err(&other);
    assert!(
        matches!(&e, JournalError::ForeignDatabase { path } if path == &other),
        "{e:?}"
    );
    assert!(e.to_string().contains("other.db"), "{e}");
    // Byte for byte: not even switched to WAL mode.
    assert!(
        std::fs::read(&other).unwrap() == before,
        "the file was changed"
    );
    // A database that names another application in its header is refused too, untouched.
    let named = s.root.join("named.db");
    let c = rusqlite::Connection::open(&named).unwrap();
    c.execute_batch("PRAGMA application_id = 42;").unwrap();
    drop(c);
    let before = std::fs::read(&named).unwrap();
    let e = expect_err(&named);
    assert!(matches!(&e, JournalError::ForeignDatabase { .. }), "{e:?}");
    assert!(
        std::fs::read(&named).unwrap() == before,
        "the file was changed"
    );
    // Left as it was.
    let c = rusqlite::Connection::open(&other).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM photos", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn a_newer_schema_is_refused() {
    let s = setup();
    drop(s.store());
    let c = rusqlite::Connection::open(&s.journal).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    let e = expect_err(&s.journal);
    assert!(
        matches!(&e, JournalError::NewerSchema { found: 99, path, .. } if path == &s.journal),
        "{e:?}"
    );
    assert!(e.to_string().contains("newer cutout"), "{e}");
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_kept() {
    let s = setup();
    std::fs::write(&s.journal, b"name,size\nphoto.jpg,12\n").unwrap();
    let e = expect_err(&s.journal);
    assert!(
        matches!(&e, JournalError::NotADatabase { path } if path == &s.journal),
        "{e:?}"
    );
    assert!(e.to_string().contains("journal.sqlite"), "{e}");
    assert_eq!(
        std::fs::read(&s.journal).unwrap(),
        b"name,size\nphoto.jpg,12\n"
    );
}

#[test]
fn a_read_only_folder_or_file_is_refused_clearly() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup();
    let folder = s.root.join("locked");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
    let e = expect_err(&folder.join("journal.sqlite"));
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(matches!(&e, JournalError::ReadOnly { .. }), "{e:?}");
    assert!(e.to_string().contains("locked"), "{e}");
    assert!(!e.to_string().contains("readonly database"), "{e}");

    drop(s.store());
    std::fs::set_permissions(&s.journal, std::fs::Permissions::from_mode(0o444)).unwrap();
    let e = expect_err(&s.journal);
    assert!(
        matches!(&e, JournalError::ReadOnly { what, .. } if what.contains("read-only")),
        "{e:?}"
    );
}

#[test]
fn a_journal_in_a_new_folder_is_created_with_its_folder() {
    let s = setup();
    let path = s.root.join("new/nested/journal.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.rows().unwrap().is_empty());
    drop(store);
    // Reopened: it is ours.
    SqliteStore::open(&path).unwrap();
}

#[test]
fn a_second_run_on_one_journal_is_refused() {
    let s = setup();
    let first = s.store();
    let e = expect_err(&s.journal);
    assert!(
        matches!(&e, JournalError::InUse { path } if path == &s.journal),
        "{e:?}"
    );
    assert!(e.to_string().contains("another cutout run"), "{e}");
    drop(first);
    s.store();
}

/// The child half of `an_aborted_process_leaves_the_last_committed_state`: moves units
/// through their states, printing after each commit, until it is aborted.
#[test]
fn child_process_writing_until_aborted() {
    let Some(journal) = std::env::var_os("CUTOUT_BATCH_CHILD_JOURNAL") else {
        return; // Only meaningful as the child of the test below.
    };
    let store = SqliteStore::open(PathBuf::from(journal)).unwrap();
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(300));
        std::process::abort();
    });
    let dir = tempfile::tempdir().unwrap();
    for i in 0.. {
        let unit = Unit::new(
            vec![ImageSource::bytes(
                format!("image {i}").into_bytes(),
                "x.png",
            )],
            "fake",
            "",
            "cutout",
            OutputName::Stem(dir.path().join(format!("u{i}"))),
            1,
        )
        .unwrap()
        .display(format!("u{i}"));
        store.begin_submit(&unit).unwrap();
        println!("committed {i} submitting");
        store
            .mark_submitted(&unit.key, &JobTicket::new("fake", format!("job-{i}")))
            .unwrap();
        println!("committed {i} submitted");
        store.mark_done(&unit.key, &[]).unwrap();
        println!("committed {i} done");
    }
}

#[test]
fn an_aborted_process_leaves_the_last_committed_state() {
    let s = setup();
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_writing_until_aborted",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CUTOUT_BATCH_CHILD_JOURNAL", &s.journal)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut last: Option<(usize, String)> = None;
    let mut child = child;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("committed ") {
            let (i, state) = rest.split_once(' ').unwrap();
            last = Some((i.parse().unwrap(), state.to_owned()));
        }
    }
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the child must have been aborted: {status:?}"
    );
    let (last_i, last_state) = last.expect("the child committed something");

    let store = s.store();
    let rows = store.rows().unwrap();
    let by_display: HashMap<String, State> =
        rows.iter().map(|r| (r.display.clone(), r.state)).collect();
    for i in 0..last_i {
        assert_eq!(by_display.get(&format!("u{i}")), Some(&State::Done), "u{i}");
    }
    let at_least = State::parse(&last_state).unwrap();
    let state = by_display[&format!("u{last_i}")];
    assert!(state >= at_least, "u{last_i}: {state} < {at_least}");
    assert!(
        rows.len() <= last_i + 2,
        "at most one row beyond the last printed"
    );
    assert!(summary(&*store).is_ok());
}

#[tokio::test]
async fn events_say_what_is_submitted_and_carry_every_paid_job() {
    use cutout::batch::Event;
    let s = setup();
    let fake = Fake::default();
    fake.resume_as("b", Behaviour::JobFailed);
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    Batch::new(s.store())
        .concurrency(1)
        .on_event(move |e| seen.lock().unwrap().push(e.clone()))
        .run(&fake, three(&s))
        .await
        .unwrap();
    let events = events.lock().unwrap();
    let planned = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Planned {
                    action: Action::Submit,
                    ..
                }
            )
        })
        .count();
    assert_eq!(planned, 3);
    let mut finished = Vec::new();
    for e in events.iter() {
        if let Event::Finished {
            display,
            provider,
            ticket,
            outcome,
            ..
        } = e
        {
            assert_eq!(provider, "fake");
            let job = ticket.as_ref().and_then(|t| t.job_id.clone());
            finished.push((display.clone(), job.is_some(), outcome.name()));
        }
    }
    finished.sort();
    assert_eq!(
        finished,
        [
            ("a".to_owned(), true, "done"),
            ("b".to_owned(), true, "failed"),
            ("c".to_owned(), true, "done"),
        ]
    );
    // `Submitting` comes before `Submitted` for each unit.
    for name in ["a", "b", "c"] {
        let at = |want: fn(&Event) -> Option<&String>| {
            events
                .iter()
                .position(|e| want(e).is_some_and(|d| d == name))
        };
        let submitting = at(|e| match e {
            Event::Submitting { display, .. } => Some(display),
            _ => None,
        });
        let submitted = at(|e| match e {
            Event::Submitted { display, .. } => Some(display),
            _ => None,
        });
        assert!(submitting.unwrap() < submitted.unwrap(), "{name}");
    }
}

// ---- a paid job is never paid again by accident ----

fn outcome_error(outcome: &cutout::batch::Outcome) -> &str {
    match outcome {
        cutout::batch::Outcome::Failed { error, .. } => error,
        other => panic!("not a failure: {other:?}"),
    }
}

#[tokio::test]
async fn a_download_cut_after_acceptance_is_reattached_not_paid_again() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    fake.resume_as("a", Behaviour::DownloadCut);
    let report = Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert_eq!(fake.submits(), 3);
    assert!(
        matches!(
            report.units[0].outcome,
            cutout::batch::Outcome::Failed {
                paid: Some(true),
                ..
            }
        ),
        "{report:#?}"
    );
    let error = outcome_error(&report.units[0].outcome);
    assert!(error.contains("run the same command again soon"), "{error}");
    assert!(error.contains("without paying"), "{error}");
    assert!(!s.output("a").exists(), "nothing half-written");
    let key = three(&s)[0].key.clone();
    let row = store.get(&key).unwrap().unwrap();
    assert_eq!(row.state, State::Submitted, "the paid job is kept");
    assert!(row.ticket.is_some());
    assert!(row.failure.is_some(), "the last error is recorded");

    // The same command again: the job is picked up again, not submitted.
    fake.resume_as("a", Behaviour::Ok);
    let resumes = fake.resumes();
    let report = Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert!(matches!(report.units[0].action, Action::Reattach(_)));
    assert_eq!(fake.submits(), 3, "not paid again");
    assert_eq!(fake.resumes(), resumes + 1);
    assert!(report.all_succeeded(), "{report:#?}");
    assert!(s.output("a").is_file());
    let row = store.get(&key).unwrap().unwrap();
    assert_eq!(
        (row.state, row.attempts, row.spent_credits),
        (State::Done, 1, 1)
    );
    assert_eq!(row.failure, None);
    assert_eq!(summary(&*store).unwrap().paid_credits, 3);
}

#[tokio::test]
async fn a_job_gone_when_reattached_is_a_paid_failure_not_paid_again() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    let kept = std::fs::read(s.output("a")).unwrap();
    std::fs::remove_file(s.output("a")).unwrap();
    fake.resume_as("a", Behaviour::Gone);
    let report = Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert!(matches!(report.units[0].action, Action::Reattach(_)));
    assert!(matches!(
        report.units[0].outcome,
        cutout::batch::Outcome::Failed {
            paid: Some(true),
            ..
        }
    ));
    // The first failing run already says how to pay again.
    let error = outcome_error(&report.units[0].outcome);
    assert!(error.contains("pass retry_failed"), "{error}");
    let row = store.get(&three(&s)[0].key).unwrap().unwrap();
    assert_eq!((row.state, row.paid), (State::Failed, Some(true)));
    let report = Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert!(matches!(
        report.units[0].action,
        Action::FailedBefore { .. }
    ));
    assert_eq!(fake.submits(), 3, "nothing paid again without retry_failed");

    // The user restores the recorded result (same size and hash): it is skipped as done.
    std::fs::write(s.output("a"), &kept).unwrap();
    let report = Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert_eq!(report.units[0].action, Action::Skip, "{report:#?}");
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(fake.submits(), 3);
    // A different file there is not the recorded result: still a failure, still unpaid.
    std::fs::write(s.output("a"), b"not it").unwrap();
    let report = Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert!(matches!(
        report.units[0].action,
        Action::FailedBefore { .. }
    ));
    assert_eq!(fake.submits(), 3);
    // `force` redoes it, paid.
    fake.resume_as("a", Behaviour::Ok);
    let report = Batch::new(store.clone())
        .force(true)
        .run(&fake, three(&s)[..1].to_vec())
        .await
        .unwrap();
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(fake.submits(), 4);
}

#[tokio::test]
async fn force_reattaches_a_submitted_job_over_a_file_in_the_way_without_paying_again() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    // a is paid and left submitted (its wait timed out); the user then puts a file in its way.
    fake.resume_as("a", Behaviour::Timeout);
    let units = three(&s)[..1].to_vec();
    Batch::new(store.clone())
        .run(&fake, units.clone())
        .await
        .unwrap();
    assert_eq!(
        store.get(&units[0].key).unwrap().unwrap().state,
        State::Submitted
    );
    std::fs::write(s.output("a"), b"the user's file").unwrap();
    fake.resume_as("a", Behaviour::Ok);

    let report = Batch::new(store.clone())
        .run(&fake, units.clone())
        .await
        .unwrap();
    match &report.units[0].action {
        Action::Blocked(why) => assert!(
            why.contains(
                "pass force to replace it (the paid job is downloaded again, not paid again)"
            ),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(s.output("a")).unwrap(), b"the user's file");

    let report = Batch::new(store.clone())
        .force(true)
        .run(&fake, units.clone())
        .await
        .unwrap();
    assert!(
        matches!(report.units[0].action, Action::Reattach(_)),
        "{report:#?}"
    );
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(
        fake.submits(),
        1,
        "force re-attached the paid job, paid once"
    );
    assert_ne!(std::fs::read(s.output("a")).unwrap(), b"the user's file");
    let row = store.get(&units[0].key).unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (State::Done, 1));
}

#[tokio::test]
async fn force_keeps_uncertain_units_uncertain_and_redoes_done_ones() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    fake.submit_as("c", Behaviour::Hang);
    let batch = Batch::new(store.clone());
    let run = batch.run(&fake, three(&s));
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), run)
            .await
            .is_err()
    );
    let c = &three(&s)[2];
    assert_eq!(store.get(&c.key).unwrap().unwrap().state, State::Submitting);

    // a is done, c uncertain: force pays for a again (a redo), not for c.
    let fresh = Fake::default();
    let units = vec![three(&s)[0].clone(), three(&s)[2].clone()];
    let dry = plan(&*store, &units, PlanOptions::default().force(true)).unwrap();
    assert_eq!(dry.actions[0], Action::Submit);
    assert_eq!(dry.actions[1], Action::Uncertain { resubmit: false });
    let report = Batch::new(store.clone())
        .force(true)
        .run(&fresh, units.clone())
        .await
        .unwrap();
    assert_eq!(
        report.units[1].action,
        Action::Uncertain { resubmit: false }
    );
    assert!(matches!(
        report.units[1].outcome,
        cutout::batch::Outcome::Uncertain { .. }
    ));
    assert_eq!(fresh.submitted.lock().unwrap().as_slice(), ["a"]);
    assert_eq!(fresh.submits(), 1, "only the done unit is paid again");
    let row = store.get(&units[0].key).unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (State::Done, 2), "a paid twice");
    assert!(!s.output("c").exists());
}

#[tokio::test]
async fn a_user_file_at_a_later_result_blocks_every_result_until_moved() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    fake.resume_as("m", Behaviour::TwoResults);
    let units = s.units(&[("m", "image m")]);
    let first = s.output("m");
    let second = s.root.join("out/m-2.png");
    std::fs::write(&second, b"the user's file").unwrap();

    let report = Batch::new(store.clone())
        .run(&fake, units.clone())
        .await
        .unwrap();
    assert_eq!(fake.submits(), 1);
    let error = outcome_error(&report.units[0].outcome);
    assert!(
        error.contains("m-2.png"),
        "names the file in the way: {error}"
    );
    assert!(
        error.contains("(the paid job is downloaded again, not paid again)"),
        "says what force costs: {error}"
    );
    assert!(!first.exists(), "no result written while one is blocked");
    assert_eq!(std::fs::read(&second).unwrap(), b"the user's file");
    let row = store.get(&units[0].key).unwrap().unwrap();
    assert_eq!(row.state, State::Submitted);
    assert!(row.outputs.is_empty());

    // Still in the way: still nothing written, still not paid again.
    let report = Batch::new(store.clone())
        .run(&fake, units.clone())
        .await
        .unwrap();
    assert!(matches!(report.units[0].action, Action::Reattach(_)));
    assert!(!first.exists());
    assert_eq!(fake.submits(), 1);

    std::fs::remove_file(&second).unwrap();
    let report = Batch::new(store.clone())
        .run(&fake, units.clone())
        .await
        .unwrap();
    assert!(report.all_succeeded(), "{report:#?}");
    assert!(first.is_file() && second.is_file());
    assert_eq!(fake.submits(), 1, "paid once");

    // Only result 2 deleted: downloaded again from the job, nothing paid.
    std::fs::remove_file(&second).unwrap();
    let report = Batch::new(store.clone())
        .run(&fake, units.clone())
        .await
        .unwrap();
    assert!(
        matches!(report.units[0].action, Action::Reattach(_)),
        "{report:#?}"
    );
    assert!(report.all_succeeded(), "{report:#?}");
    assert!(first.is_file() && second.is_file());
    assert_eq!(fake.submits(), 1);
    let report = Batch::new(store.clone()).run(&fake, units).await.unwrap();
    assert_eq!(report.units[0].action, Action::Skip);
}

#[tokio::test]
async fn a_failed_write_midway_leaves_no_result_and_keeps_the_job() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    fake.resume_as("m", Behaviour::TwoResults);
    let units = s.units(&[("m", "image m")]);
    // A folder where result 2 goes: it passes the check (nothing may be replaced without
    // force, and force is set) but cannot be written over.
    let second = s.root.join("out/m-2.png");
    std::fs::create_dir(&second).unwrap();
    let report = Batch::new(store.clone())
        .force(true)
        .run(&fake, units.clone())
        .await
        .unwrap();
    assert!(!report.all_succeeded(), "{report:#?}");
    assert!(!s.output("m").exists(), "result 1 removed again");
    assert_eq!(
        store.get(&units[0].key).unwrap().unwrap().state,
        State::Submitted
    );
    std::fs::remove_dir(&second).unwrap();
    let report = Batch::new(store.clone()).run(&fake, units).await.unwrap();
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(fake.submits(), 1);
}

#[test]
fn a_version_1_journal_is_migrated_in_place() {
    let s = setup();
    let key = "ab".repeat(32);
    let ticket = serde_json::to_string(&JobTicket::new("fake", "job-7")).unwrap();
    {
        let c = rusqlite::Connection::open(&s.journal).unwrap();
        // The schema of version 1, as it was released.
        c.execute_batch(
            "CREATE TABLE units (
                key TEXT PRIMARY KEY NOT NULL, display TEXT NOT NULL, provider TEXT NOT NULL,
                params TEXT NOT NULL, output_kind TEXT NOT NULL, state TEXT NOT NULL,
                ticket TEXT, submitted_at INTEGER, outputs TEXT NOT NULL DEFAULT '[]',
                failure TEXT, paid INTEGER, credits INTEGER NOT NULL DEFAULT 0,
                updated_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0
            ) WITHOUT ROWID;
            CREATE INDEX units_state ON units(state);
            PRAGMA application_id = 1131770929;
            PRAGMA user_version = 1;",
        )
        .unwrap();
        c.execute(
            "INSERT INTO units (key, display, provider, params, output_kind, state, ticket, \
             paid, credits, updated_at, attempts) \
             VALUES (?1, 'a', 'fake', 'model=x', 'cutout', 'failed', ?2, 1, 3, 0, 1)",
            rusqlite::params![key, ticket],
        )
        .unwrap();
        c.execute(
            "INSERT INTO units (key, display, provider, params, output_kind, state, credits, \
             updated_at) VALUES (?1, 'b', 'fake', 'model=x', 'cutout', 'planned', 5, 0)",
            ["cd".repeat(32)],
        )
        .unwrap();
    }
    assert_eq!(cutout::batch::APPLICATION_ID, 1131770929);
    let store = s.store();
    let row = store.get(&WorkKey::from_hex(key.clone())).unwrap().unwrap();
    assert_eq!(row.ticket, Some(JobTicket::new("fake", "job-7")));
    assert!(row.previous_tickets.is_empty());
    assert_eq!(row.spent_credits, 3, "a paid version-1 row was paid once");
    assert_eq!(summary(&*store).unwrap().paid_credits, 3);
    drop(store);
    let c = rusqlite::Connection::open(&s.journal).unwrap();
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, cutout::batch::SCHEMA_VERSION);
    assert_eq!(version, 2);
    drop(c);
    // Opened again (now version 2): nothing to migrate, the rows as they were.
    let store = s.store();
    assert_eq!(store.rows().unwrap().len(), 2);
    // A later attempt keeps the version-1 ticket.
    let unit = Unit::new(
        vec![ImageSource::bytes(&b"x"[..], "x.png")],
        "fake",
        "model=x",
        "cutout",
        OutputName::Stem(s.root.join("out/x")),
        3,
    )
    .unwrap();
    let mut unit = unit;
    unit.key = WorkKey::from_hex(key.clone());
    store.begin_submit(&unit).unwrap();
    store
        .mark_submitted(&unit.key, &JobTicket::new("fake", "job-8"))
        .unwrap();
    let row = store.get(&unit.key).unwrap().unwrap();
    assert_eq!(row.previous_tickets, [JobTicket::new("fake", "job-7")]);
    assert_eq!(row.spent_credits, 6);
}

#[tokio::test]
async fn the_plan_tells_which_units_the_budget_leaves_out_as_the_runner_does() {
    // Credits 2, 4, 3, 1, 2 with a budget of 7: 2 + 4 fit, 3 would pass it, and the smaller
    // ones after it are not submitted either (the budget is closed for good).
    let credits = [2u32, 4, 3, 1, 2];
    for concurrency in [1, 3] {
        let s = setup();
        let store = s.store();
        let names: Vec<(String, String)> = (0..credits.len())
            .map(|i| (format!("u{i}"), format!("image {i}")))
            .collect();
        let refs: Vec<(&str, &str)> = names
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let units: Vec<Unit> = s
            .units(&refs)
            .into_iter()
            .zip(credits)
            .map(|(mut u, c)| {
                u.credits = c;
                u
            })
            .collect();
        // One unit already done (free): it does not count against the budget.
        let fake = Fake::default();
        Batch::new(store.clone())
            .run(&fake, units[..1].to_vec())
            .await
            .unwrap();
        let dry = plan(&*store, &units, Default::default()).unwrap();
        let predicted = dry.over_budget(5);
        assert_eq!(
            predicted,
            [2, 3, 4],
            "4 fits in 5, 3 does not, the rest follow"
        );
        let report = Batch::new(store.clone())
            .concurrency(concurrency)
            .max_credits(Some(5))
            .run(&fake, units)
            .await
            .unwrap();
        let refused: Vec<usize> = report
            .units
            .iter()
            .filter(|u| matches!(u.outcome, cutout::batch::Outcome::OverBudget))
            .map(|u| u.index)
            .collect();
        assert_eq!(refused, predicted, "concurrency {concurrency}");
        assert!(report.budget_exhausted);
        assert!(dry.over_budget(100).is_empty());
    }
}

// ---- routing: a unit whose job failed at one provider goes to the next ----

/// A work over an ordered list of fake providers: `route` sends a unit to the first one not
/// excluded, counting submissions per provider; jobs fail at the providers in `fail_at`.
struct Routing {
    providers: Vec<&'static str>,
    fail_at: Vec<&'static str>,
    /// The re-submission (a route with providers excluded) never answers.
    hang_reroute: bool,
    /// The re-submission is refused (surely not taken).
    refuse_reroute: bool,
    /// Waiting for a job at these providers never ends (the run is dropped meanwhile).
    hang_at: Vec<&'static str>,
    /// Every route call's `exclude`, in order.
    routes: Mutex<Vec<Vec<String>>>,
    submits: Mutex<HashMap<&'static str, usize>>,
}

impl Routing {
    fn new(providers: &[&'static str], fail_at: &[&'static str]) -> Self {
        Routing {
            providers: providers.to_vec(),
            fail_at: fail_at.to_vec(),
            hang_reroute: false,
            refuse_reroute: false,
            hang_at: Vec::new(),
            routes: Mutex::new(Vec::new()),
            submits: Mutex::new(HashMap::new()),
        }
    }
    fn submits_to(&self, provider: &str) -> usize {
        self.submits
            .lock()
            .unwrap()
            .get(provider)
            .copied()
            .unwrap_or(0)
    }
    fn total_submits(&self) -> usize {
        self.submits.lock().unwrap().values().sum()
    }
}

impl Work for Routing {
    fn submit<'a>(&'a self, _unit: &'a Unit) -> BoxFuture<'a, Result<JobTicket, Error>> {
        Box::pin(async { panic!("the runner submits through route") })
    }

    fn resume<'a>(
        &'a self,
        unit: &'a Unit,
        ticket: JobTicket,
    ) -> BoxFuture<'a, Result<Vec<Cutout>, Error>> {
        Box::pin(async move {
            let provider = self
                .providers
                .iter()
                .find(|p| **p == ticket.provider)
                .copied()
                .expect("a ticket of a listed provider");
            let job_id = ticket.job_id.clone().unwrap_or_default();
            if self.hang_at.contains(&provider) {
                std::future::pending::<()>().await;
            }
            if self.fail_at.contains(&provider) {
                return Err(Error::JobFailed {
                    provider,
                    job_id,
                    status: "failed".to_owned(),
                    message: Some("the fake failed it".to_owned()),
                });
            }
            let seed = unit.display.bytes().fold(0u8, u8::wrapping_add);
            Ok(vec![Cutout::new(
                png(seed).into(),
                CutoutKind::Rgba,
                provider,
                Some(job_id),
            )?])
        })
    }

    fn route<'a>(
        &'a self,
        unit: &'a Unit,
        exclude: &'a [String],
    ) -> Option<BoxFuture<'a, cutout::router::Routed<JobTicket>>> {
        self.routes.lock().unwrap().push(exclude.to_vec());
        let next = self
            .providers
            .iter()
            .copied()
            .find(|p| !exclude.iter().any(|e| e == p))?;
        Some(Box::pin(async move {
            if self.hang_reroute && !exclude.is_empty() {
                std::future::pending::<()>().await;
            }
            if self.refuse_reroute && !exclude.is_empty() {
                return cutout::router::Routed::new(
                    Err(Error::invalid("image", "refused by the fake")),
                    Vec::new(),
                );
            }
            let n = {
                let mut submits = self.submits.lock().unwrap();
                *submits.entry(next).or_insert(0) += 1;
                submits.values().sum::<usize>()
            };
            let _ = unit;
            cutout::router::Routed::new(
                Ok(JobTicket::new(next, format!("{next}-job-{n}"))),
                Vec::new(),
            )
        }))
    }
}

#[tokio::test]
async fn a_job_failed_at_one_provider_is_rerouted_and_the_journal_keeps_both_jobs() {
    use cutout::batch::Event;
    let s = setup();
    let store = s.store();
    let work = Routing::new(&["alpha", "beta"], &["alpha"]);
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let report = Batch::new(store.clone())
        .on_event(move |e| seen.lock().unwrap().push(e.clone()))
        .run(&work, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(work.submits_to("alpha"), 1);
    assert_eq!(work.submits_to("beta"), 1);
    assert_eq!(
        *work.routes.lock().unwrap(),
        [Vec::<String>::new(), vec!["alpha".to_owned()]]
    );
    // The report names the provider that served it, not the unit's ("fake").
    assert_eq!(report.units[0].provider, "beta");
    assert_eq!(report.units[0].ticket.as_ref().unwrap().provider, "beta");
    assert!(s.output("a").exists());

    let row = store
        .get(&s.units(&[("a", "image a")])[0].key)
        .unwrap()
        .unwrap();
    assert_eq!(row.state, State::Done);
    assert_eq!(row.ticket.as_ref().unwrap().provider, "beta");
    assert_eq!(row.previous_tickets.len(), 1, "{row:#?}");
    assert_eq!(row.previous_tickets[0].provider, "alpha");
    assert_eq!(row.attempts, 2);
    assert_eq!(row.spent_credits, 2, "both jobs were paid");

    // Events: submitting, submitted (alpha), submitting, submitted (beta), finished (beta).
    let kinds: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Submitting { .. } => Some("submitting".to_owned()),
            Event::Submitted { ticket, .. } => Some(format!("submitted {}", ticket.provider)),
            Event::Finished { provider, .. } => Some(format!("finished {provider}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "submitting",
            "submitted alpha",
            "submitting",
            "submitted beta",
            "finished beta"
        ]
    );

    // A re-run skips it: nothing is sent.
    let report = Batch::new(store.clone())
        .run(&work, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    assert_eq!(report.units[0].outcome, cutout::batch::Outcome::Skipped);
    assert_eq!(work.total_submits(), 2);
}

#[tokio::test]
async fn a_job_failed_everywhere_ends_paid_after_one_submission_per_provider() {
    let s = setup();
    let store = s.store();
    let work = Routing::new(&["alpha", "beta"], &["alpha", "beta"]);
    let report = Batch::new(store.clone())
        .run(&work, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    assert_eq!(work.submits_to("alpha"), 1);
    assert_eq!(work.submits_to("beta"), 1);
    match &report.units[0].outcome {
        cutout::batch::Outcome::Failed { paid, error } => {
            assert_eq!(*paid, Some(true));
            assert!(error.contains("failed"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    let row = store
        .get(&s.units(&[("a", "image a")])[0].key)
        .unwrap()
        .unwrap();
    assert_eq!(row.state, State::Failed);
    assert_eq!(row.paid, Some(true));
    assert_eq!(row.previous_tickets.len(), 1);
    assert_eq!(row.ticket.as_ref().unwrap().provider, "beta");
}

#[tokio::test]
async fn a_crash_between_the_durable_resubmission_and_the_request_leaves_it_uncertain() {
    let s = setup();
    let store = s.store();
    let mut work = Routing::new(&["alpha", "beta"], &["alpha"]);
    work.hang_reroute = true;
    let units = s.units(&[("a", "image a")]);
    let key = units[0].key.clone();
    let batch = Batch::new(store.clone());
    let run = batch.run(&work, units);
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), run)
            .await
            .is_err(),
        "the re-submission hangs"
    );
    assert_eq!(work.submits_to("alpha"), 1);
    assert_eq!(work.submits_to("beta"), 0);
    let row = store.get(&key).unwrap().unwrap();
    assert_eq!(row.state, State::Submitting, "durable before the request");
    assert_eq!(row.ticket, None);
    assert_eq!(row.previous_tickets.len(), 1, "alpha's paid job is kept");
    assert_eq!(row.previous_tickets[0].provider, "alpha");

    // The next run says uncertain and sends nothing.
    let fresh = Routing::new(&["alpha", "beta"], &[]);
    let report = Batch::new(store.clone())
        .run(&fresh, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    assert!(matches!(
        report.units[0].outcome,
        cutout::batch::Outcome::Uncertain { .. }
    ));
    assert_eq!(fresh.total_submits(), 0);
    assert!(fresh.routes.lock().unwrap().is_empty());

    // Sent again when asked: to the re-route's provider, not back to alpha, whose job failed.
    let report = Batch::new(store.clone())
        .resubmit_uncertain(true)
        .run(&fresh, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(fresh.submits_to("alpha"), 0);
    assert_eq!(fresh.submits_to("beta"), 1);
    assert_eq!(*fresh.routes.lock().unwrap(), [vec!["alpha".to_owned()]]);
}

#[tokio::test]
async fn the_budget_can_refuse_a_reroute() {
    let s = setup();
    let store = s.store();
    let work = Routing::new(&["alpha", "beta"], &["alpha"]);
    let units: Vec<Unit> = s
        .units(&[("a", "image a")])
        .into_iter()
        .map(|mut u| {
            u.credits = 3;
            u
        })
        .collect();
    let report = Batch::new(store.clone())
        .max_credits(Some(5))
        .run(&work, units)
        .await
        .unwrap();
    assert_eq!(work.submits_to("alpha"), 1);
    assert_eq!(work.submits_to("beta"), 0, "3 + 3 credits pass 5");
    assert!(report.budget_exhausted);
    assert_eq!(report.spent_credits, 3);
    match &report.units[0].outcome {
        cutout::batch::Outcome::Failed { paid, error } => {
            assert_eq!(*paid, Some(true));
            assert!(error.contains("budget"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(report.units[0].provider, "alpha");
    let row = store
        .get(&s.units(&[("a", "image a")])[0].key)
        .unwrap()
        .unwrap();
    assert_eq!(row.state, State::Failed);
    assert!(row.previous_tickets.is_empty());
}

#[tokio::test]
async fn a_work_without_routing_fails_a_failed_job_as_before() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    fake.resume_as("b", Behaviour::JobFailed);
    let report = Batch::new(store.clone())
        .run(&fake, three(&s))
        .await
        .unwrap();
    assert_eq!(fake.submits(), 3, "no second submission of b");
    assert!(matches!(
        report.units[1].outcome,
        cutout::batch::Outcome::Failed {
            paid: Some(true),
            ..
        }
    ));
    for unit in &report.units {
        assert_eq!(unit.provider, "fake");
        assert!(unit.attempts.is_empty());
    }
    let row = store.get(&three(&s)[1].key).unwrap().unwrap();
    assert!(row.previous_tickets.is_empty());
    assert_eq!(row.attempts, 1);
}

/// A provider's client that accepts every submission (counting them) and whose jobs either all
/// fail at the provider or all deliver.
struct FakeRemover {
    name: &'static str,
    fail_jobs: bool,
    submits: Arc<AtomicUsize>,
}

impl cutout::runtime::BackgroundRemover for FakeRemover {
    fn provider_name(&self) -> &'static str {
        self.name
    }

    fn submit_removal<'a>(
        &'a self,
        _source: ImageSource,
        _options: cutout::runtime::RemoveOptions,
    ) -> BoxFuture<'a, Result<JobTicket, Error>> {
        Box::pin(async move {
            let n = self.submits.fetch_add(1, Ordering::SeqCst);
            Ok(JobTicket::new(self.name, format!("{}-{n}", self.name)))
        })
    }

    fn resume_removal<'a>(
        &'a self,
        ticket: JobTicket,
        _options: cutout::runtime::RemoveOptions,
    ) -> BoxFuture<'a, Result<Cutout, Error>> {
        Box::pin(async move {
            let job_id = ticket.job_id.unwrap_or_default();
            if self.fail_jobs {
                return Err(Error::JobFailed {
                    provider: self.name,
                    job_id,
                    status: "failed".to_owned(),
                    message: Some("the fake failed it".to_owned()),
                });
            }
            Cutout::new(png(9).into(), CutoutKind::Rgba, self.name, Some(job_id))
        })
    }
}

#[tokio::test]
async fn a_router_work_reroutes_a_failed_job_and_its_attempts_reach_the_report() {
    use cutout::Provider;
    use cutout::batch::{Event, RouterWork};
    use cutout::router::{AttemptOutcome, ErrorClass, Router};
    let s = setup();
    let store = s.store();
    let topaz = Arc::new(AtomicUsize::new(0));
    let modelslab = Arc::new(AtomicUsize::new(0));
    let router = Router::builder()
        .route(
            Provider::Topaz,
            Box::new(FakeRemover {
                name: "topaz",
                fail_jobs: true,
                submits: topaz.clone(),
            }),
        )
        .route(
            Provider::ModelsLab,
            Box::new(FakeRemover {
                name: "modelslab",
                fail_jobs: false,
                submits: modelslab.clone(),
            }),
        )
        .build()
        .unwrap();
    let work = RouterWork::new(Arc::new(router), cutout::runtime::RemoveOptions::default());
    // A real image, so that every provider can take it.
    let input = s.root.join("in/a.png");
    std::fs::write(&input, png(3)).unwrap();
    let unit = || {
        Unit::new(
            vec![ImageSource::path(&input)],
            "topaz,modelslab",
            "kind=cutout",
            "cutout",
            OutputName::Stem(s.root.join("out/a")),
            1,
        )
        .unwrap()
        .display("a")
    };
    let submitted = Arc::new(Mutex::new(Vec::new()));
    let seen = submitted.clone();
    let report = Batch::new(store.clone())
        .on_event(move |e| {
            if let Event::Submitted { attempts, .. } = e {
                seen.lock().unwrap().push(attempts.clone());
            }
        })
        .run(&work, vec![unit()])
        .await
        .unwrap();
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(topaz.load(Ordering::SeqCst), 1, "paid once at topaz");
    assert_eq!(
        modelslab.load(Ordering::SeqCst),
        1,
        "paid once at modelslab"
    );
    let unit_report = &report.units[0];
    assert_eq!(unit_report.provider, "modelslab");
    let attempts = &unit_report.attempts;
    assert_eq!(attempts[0].provider, Provider::Topaz, "{attempts:#?}");
    assert!(
        matches!(
            &attempts[0].outcome,
            AttemptOutcome::Failed {
                class: ErrorClass::JobFailed,
                ..
            }
        ),
        "{attempts:#?}"
    );
    let last = attempts.last().unwrap();
    assert_eq!(
        (last.provider, &last.outcome),
        (Provider::ModelsLab, &AttemptOutcome::Served)
    );
    // Each submission's event carries its own attempts: topaz took the first, modelslab the
    // second (topaz left out).
    let submitted = submitted.lock().unwrap().clone();
    assert_eq!(submitted.len(), 2);
    assert_eq!(submitted[0].last().unwrap().provider, Provider::Topaz);
    assert_eq!(submitted[1].last().unwrap().provider, Provider::ModelsLab);
    assert!(
        submitted[1]
            .iter()
            .all(|a| a.provider != Provider::Topaz || a.outcome != AttemptOutcome::Served)
    );
    let row = store.get(&unit().key).unwrap().unwrap();
    assert_eq!(row.previous_tickets[0].provider, "topaz");
    assert_eq!(row.ticket.unwrap().provider, "modelslab");
}

#[tokio::test]
async fn a_refused_reroute_ends_paid_naming_both_failures() {
    let s = setup();
    let store = s.store();
    let mut work = Routing::new(&["alpha", "beta"], &["alpha"]);
    work.refuse_reroute = true;
    let report = Batch::new(store.clone())
        .run(&work, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    assert_eq!(work.total_submits(), 1);
    match &report.units[0].outcome {
        cutout::batch::Outcome::Failed { paid, error } => {
            assert_eq!(*paid, Some(true), "alpha's job was paid");
            assert!(error.contains("the fake failed it"), "{error}");
            assert!(error.contains("refused by the fake"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(report.units[0].ticket.as_ref().unwrap().provider, "alpha");
    assert_eq!(
        report.spent_credits, 1,
        "the refused re-submission gives its credits back"
    );
    let row = store
        .get(&s.units(&[("a", "image a")])[0].key)
        .unwrap()
        .unwrap();
    assert_eq!(row.state, State::Failed);
    assert_eq!(row.paid, Some(true));
    assert_eq!(row.previous_tickets[0].provider, "alpha");
    // Failed after being paid: not sent again without retry_failed.
    let report = Batch::new(store.clone())
        .run(&work, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    assert!(matches!(
        report.units[0].action,
        Action::FailedBefore { .. }
    ));
    assert_eq!(work.total_submits(), 1);
}

#[tokio::test]
async fn a_reattached_job_that_fails_is_not_rerouted_to_a_provider_that_failed_it_before() {
    let s = setup();
    let store = s.store();
    // alpha's job fails, the unit goes to beta, and the run is dropped while beta's job runs.
    let mut work = Routing::new(&["alpha", "beta"], &["alpha"]);
    work.hang_at = vec!["beta"];
    let units = s.units(&[("a", "image a")]);
    let key = units[0].key.clone();
    let batch = Batch::new(store.clone());
    let run = batch.run(&work, units);
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), run)
            .await
            .is_err(),
        "beta's job never ends"
    );
    assert_eq!(work.submits_to("alpha"), 1);
    assert_eq!(work.submits_to("beta"), 1);
    let row = store.get(&key).unwrap().unwrap();
    assert_eq!(row.state, State::Submitted);
    assert_eq!(row.ticket.as_ref().unwrap().provider, "beta");

    // The next run re-attaches beta's job, which fails: alpha failed it before, so nothing is
    // sent anywhere.
    let fresh = Routing::new(&["alpha", "beta"], &["beta"]);
    let report = Batch::new(store.clone())
        .run(&fresh, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    assert!(matches!(report.units[0].action, Action::Reattach(_)));
    assert_eq!(fresh.total_submits(), 0, "alpha is not paid again");
    assert_eq!(
        *fresh.routes.lock().unwrap(),
        [vec!["alpha".to_owned(), "beta".to_owned()]],
        "the re-route leaves out both providers that failed it (none left)"
    );
    match &report.units[0].outcome {
        cutout::batch::Outcome::Failed { paid, error } => {
            assert_eq!(*paid, Some(true));
            assert!(error.contains("beta"), "{error}");
            assert!(error.contains("earlier jobs failed at alpha"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    let row = store.get(&key).unwrap().unwrap();
    assert_eq!(row.state, State::Failed);
    assert_eq!(row.paid, Some(true));
}

#[tokio::test]
async fn a_job_redone_with_force_after_it_delivered_does_not_count_as_a_failure_at_its_provider() {
    let s = setup();
    let store = s.store();
    let key = s.units(&[("a", "image a")])[0].key.clone();
    // alpha delivers.
    let first = Routing::new(&["alpha", "beta"], &[]);
    let report = Batch::new(store.clone())
        .run(&first, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    assert!(report.all_succeeded(), "{report:#?}");
    // Redone with force, this time at beta, and the run is dropped while beta's job runs.
    let mut forced = Routing::new(&["beta", "alpha"], &[]);
    forced.hang_at = vec!["beta"];
    let batch = Batch::new(store.clone()).force(true);
    let run = batch.run(&forced, s.units(&[("a", "image a")]));
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), run)
            .await
            .is_err()
    );
    let row = store.get(&key).unwrap().unwrap();
    assert_eq!(row.ticket.as_ref().unwrap().provider, "beta");
    assert_eq!(row.previous_tickets.len(), 1, "alpha's job is kept");
    assert!(row.failed_before.is_empty(), "{:?}", row.failed_before);

    // Beta's job fails when re-attached: alpha did not fail this input, so it gets it.
    let fresh = Routing::new(&["beta", "alpha"], &["beta"]);
    let report = Batch::new(store.clone())
        .run(&fresh, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(*fresh.routes.lock().unwrap(), [vec!["beta".to_owned()]]);
    assert_eq!(fresh.submits_to("alpha"), 1);
}

#[tokio::test]
async fn a_reattached_job_that_fails_goes_to_a_provider_that_did_not_fail_it() {
    let s = setup();
    let store = s.store();
    let mut work = Routing::new(&["alpha", "beta", "gamma"], &["alpha"]);
    work.hang_at = vec!["beta"];
    let batch = Batch::new(store.clone());
    let run = batch.run(&work, s.units(&[("a", "image a")]));
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), run)
            .await
            .is_err()
    );
    let fresh = Routing::new(&["alpha", "beta", "gamma"], &["beta"]);
    let report = Batch::new(store.clone())
        .run(&fresh, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(fresh.submits_to("alpha"), 0);
    assert_eq!(fresh.submits_to("gamma"), 1);
    assert_eq!(
        *fresh.routes.lock().unwrap(),
        [vec!["alpha".to_owned(), "beta".to_owned()]]
    );
}

// ---- the same work recorded under another provider list ----

/// The units of `names` under provider field `provider`, related to the same work under the
/// single provider `fake` (the key the fake's earlier runs recorded), accepting `accepts`.
fn adopting(s: &Setup, provider: &str, accepts: &[&str], names: &[(&str, &str)]) -> Vec<Unit> {
    s.units_as(provider, names)
        .into_iter()
        .map(|u| {
            let fake = u.key_for_provider("fake");
            u.related(vec![fake], accepts.iter().map(|a| a.to_string()).collect())
        })
        .collect()
}

#[tokio::test]
async fn a_paid_job_recorded_under_another_list_is_reattached_not_paid_again() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    fake.resume_as("a", Behaviour::Hang);
    let batch = Batch::new(store.clone());
    let run = batch.run(&fake, s.units(&[("a", "image a")]));
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), run)
            .await
            .is_err()
    );
    let old_key = s.units(&[("a", "image a")])[0].key.clone();
    let ticket = store.get(&old_key).unwrap().unwrap().ticket.unwrap();
    assert_eq!(fake.submits(), 1);

    let units = adopting(&s, "fake,other", &[], &[("a", "image a")]);
    assert_eq!(units[0].accepts, ["fake", "other"], "the list split on `,`");
    let new_key = units[0].key.clone();
    assert_ne!(new_key, old_key);

    // A dry run adopts in the plan and writes nothing.
    let dry = plan(&*store, &units, PlanOptions::default()).unwrap();
    assert_eq!(dry.actions[0], Action::Reattach(ticket.clone()));
    assert_eq!(dry.adopted_from[0], Some(old_key.clone()));
    assert_eq!(dry.estimated_credits, 0);
    assert!(store.get(&new_key).unwrap().is_none());
    assert_eq!(
        store.get(&old_key).unwrap().unwrap().state,
        State::Submitted
    );

    let fresh = Fake::default();
    let report = Batch::new(store.clone()).run(&fresh, units).await.unwrap();
    assert_eq!(report.units[0].action, Action::Reattach(ticket.clone()));
    assert_eq!(
        fresh.submits(),
        0,
        "the paid job is picked up, not paid again"
    );
    assert_eq!(fresh.resumes(), 1);
    assert!(report.all_succeeded(), "{report:#?}");
    assert!(store.get(&old_key).unwrap().is_none(), "re-keyed");
    let row = store.get(&new_key).unwrap().unwrap();
    assert_eq!(row.state, State::Done);
    assert_eq!(row.provider, "fake,other");
    assert_eq!(row.ticket, Some(ticket));
}

#[tokio::test]
async fn done_work_recorded_under_another_list_is_skipped_and_rekeyed() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    Batch::new(store.clone())
        .run(&fake, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    let old_key = s.units(&[("a", "image a")])[0].key.clone();
    let units = adopting(&s, "other,fake", &[], &[("a", "image a")]);
    let new_key = units[0].key.clone();
    let report = Batch::new(store.clone()).run(&fake, units).await.unwrap();
    assert_eq!(report.units[0].action, Action::Skip);
    assert_eq!(report.units[0].outcome, cutout::batch::Outcome::Skipped);
    assert_eq!(fake.submits(), 1, "nothing paid again");
    assert!(store.get(&old_key).unwrap().is_none());
    assert_eq!(store.get(&new_key).unwrap().unwrap().state, State::Done);
}

#[tokio::test]
async fn work_done_by_a_provider_not_chosen_now_is_paid_again() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    Batch::new(store.clone())
        .run(&fake, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    let old_key = s.units(&[("a", "image a")])[0].key.clone();
    // The ticket's provider is `fake`; this unit accepts only `other`.
    let units = adopting(&s, "other", &["other"], &[("a", "image a")]);
    let dry = plan(&*store, &units, PlanOptions::default()).unwrap();
    assert_eq!(dry.adopted_from[0], None);
    // (The earlier result at its place is the journal's: a new result may replace it.)
    assert_eq!(dry.actions[0], Action::Submit);
    let report = Batch::new(store.clone()).run(&fake, units).await.unwrap();
    assert_eq!(report.units[0].action, Action::Submit);
    assert_eq!(fake.submits(), 2);
    assert!(
        store.get(&old_key).unwrap().is_some(),
        "the other row is left"
    );
}

#[tokio::test]
async fn an_uncertain_row_under_a_sharing_list_stays_uncertain_and_sends_nothing() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    fake.submit_as("a", Behaviour::Hang);
    let batch = Batch::new(store.clone());
    let run = batch.run(&fake, s.units(&[("a", "image a")]));
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), run)
            .await
            .is_err()
    );
    let old_key = s.units(&[("a", "image a")])[0].key.clone();
    assert_eq!(
        store.get(&old_key).unwrap().unwrap().state,
        State::Submitting
    );
    let units = adopting(&s, "fake,other", &[], &[("a", "image a")]);
    let new_key = units[0].key.clone();
    let fresh = Fake::default();
    let report = Batch::new(store.clone()).run(&fresh, units).await.unwrap();
    assert_eq!(
        report.units[0].action,
        Action::Uncertain { resubmit: false }
    );
    assert_eq!(fresh.submits(), 0);
    // Reported, not re-keyed: the row keeps the provider field that says who may hold the job.
    assert!(store.get(&new_key).unwrap().is_none());
    let kept = store.get(&old_key).unwrap().unwrap();
    assert_eq!(
        (kept.state, kept.provider.as_str()),
        (State::Submitting, "fake")
    );
    // A list without `fake` does not share it: a new attempt.
    let units = adopting(&s, "other", &["other"], &[("a", "image a")]);
    let dry = plan(&*store, &units, PlanOptions::default()).unwrap();
    assert_eq!(dry.actions[0], Action::Submit);
    assert_eq!(dry.adopted_from[0], None);
}

#[tokio::test]
async fn a_failed_row_under_another_list_is_not_adopted() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    fake.resume_as("a", Behaviour::JobFailed);
    Batch::new(store.clone())
        .run(&fake, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    let old_key = s.units(&[("a", "image a")])[0].key.clone();
    assert_eq!(store.get(&old_key).unwrap().unwrap().state, State::Failed);
    let units = adopting(&s, "fake,other", &[], &[("a", "image a")]);
    let dry = plan(&*store, &units, PlanOptions::default()).unwrap();
    assert_eq!(
        dry.actions[0],
        Action::Submit,
        "a new list is a new attempt"
    );
    assert_eq!(dry.adopted_from[0], None);
}

#[tokio::test]
async fn two_units_of_one_batch_never_adopt_the_same_row() {
    let s = setup();
    let store = s.store();
    let fake = Fake::default();
    Batch::new(store.clone())
        .run(&fake, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    let old_key = s.units(&[("a", "image a")])[0].key.clone();
    // Two units of the same content under two lists, both related to the done row.
    let first = adopting(&s, "fake,other", &[], &[("a", "image a")]).remove(0);
    let second = adopting(&s, "other,fake", &[], &[("a", "image a")])
        .remove(0)
        .display("a again");
    let (first_key, second_key) = (first.key.clone(), second.key.clone());
    let units = vec![first, second];
    let dry = plan(&*store, &units, PlanOptions::default()).unwrap();
    assert_eq!(dry.adopted_from[0], Some(old_key.clone()));
    assert_eq!(dry.adopted_from[1], None, "the first wins");
    assert_eq!(dry.actions[0], Action::Skip);
    let report = Batch::new(store.clone()).run(&fake, units).await.unwrap();
    assert_eq!(report.units[0].action, Action::Skip);
    assert_eq!(store.get(&first_key).unwrap().unwrap().state, State::Done);
    assert!(store.get(&old_key).unwrap().is_none());
    // The second plans on its own (its result path is the journal's: paid anew there).
    assert_eq!(report.units[1].action, Action::Submit);
    assert!(store.get(&second_key).unwrap().is_some());
}

#[test]
fn rekey_moves_a_row_and_refuses_to_replace_a_recorded_one() {
    let s = setup();
    let store = s.store();
    let a = s.units_as("x", &[("a", "image a")]).remove(0);
    let b = s.units_as("y", &[("a", "image a")]).remove(0);
    let c = s.units_as("z", &[("a", "image a")]).remove(0);
    store.begin_submit(&a).unwrap();
    store
        .mark_submitted(&a.key, &JobTicket::new("x", "job-1"))
        .unwrap();
    // A planned row (nothing sent) under the target gives way.
    store.record_planned(&[&b]).unwrap();
    store.rekey(&a.key, &b.key, "y").unwrap();
    assert!(store.get(&a.key).unwrap().is_none());
    let row = store.get(&b.key).unwrap().unwrap();
    assert_eq!(row.state, State::Submitted);
    assert_eq!(row.provider, "y");
    assert_eq!(row.ticket.unwrap().job_id.as_deref(), Some("job-1"));
    // A recorded row under the target is never replaced; nothing changes.
    store.begin_submit(&c).unwrap();
    assert!(store.rekey(&b.key, &c.key, "z").is_err());
    assert_eq!(store.get(&b.key).unwrap().unwrap().state, State::Submitted);
    assert_eq!(store.get(&c.key).unwrap().unwrap().state, State::Submitting);
    // No row to move: an error.
    assert!(store.rekey(&a.key, &c.key, "z").is_err());
}

#[tokio::test]
async fn an_uncertain_row_of_a_list_stays_uncertain_for_every_list_sharing_a_provider_with_it() {
    // The review's case: uncertain under `fake,other`; a run with `fake` alone reports it; a
    // later run with `other` alone must still find it (the job may be at `other`).
    let s = setup();
    let store = s.store();
    let first = s.units_as("fake,other", &[("a", "image a")]);
    let list_key = first[0].key.clone();
    let hang = Fake::default();
    hang.submit_as("a", Behaviour::Hang);
    let batch = Batch::new(store.clone());
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), batch.run(&hang, first))
            .await
            .is_err()
    );
    let related = |list: &str| {
        s.units_as(list, &[("a", "image a")])
            .into_iter()
            .map(|u| {
                let key = u.key_for_provider("fake,other");
                u.related(vec![key], Vec::new())
            })
            .collect::<Vec<_>>()
    };
    for list in ["fake", "other", "other,fake"] {
        let fresh = Fake::default();
        let report = Batch::new(store.clone())
            .run(&fresh, related(list))
            .await
            .unwrap();
        assert_eq!(
            report.units[0].action,
            Action::Uncertain { resubmit: false },
            "{list}"
        );
        assert_eq!(fresh.submits(), 0, "{list}");
        let row = store.get(&list_key).unwrap().unwrap();
        assert_eq!(
            (row.state, row.provider.as_str()),
            (State::Submitting, "fake,other")
        );
    }
    // Resubmitted under `fake` alone (the user's choice, may pay twice): the new job is
    // recorded under `fake`'s own key; the uncertain row stays where it was, so a run with
    // `other` alone still finds it rather than paying again.
    let resubmit = Fake::default();
    let report = Batch::new(store.clone())
        .resubmit_uncertain(true)
        .run(&resubmit, related("fake"))
        .await
        .unwrap();
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(resubmit.submits(), 1);
    let row = store.get(&list_key).unwrap().unwrap();
    assert_eq!(
        (row.state, row.provider.as_str()),
        (State::Submitting, "fake,other")
    );
    let fresh = Fake::default();
    let report = Batch::new(store.clone())
        .run(&fresh, related("other"))
        .await
        .unwrap();
    assert_eq!(
        report.units[0].action,
        Action::Uncertain { resubmit: false }
    );
    assert_eq!(fresh.submits(), 0);
}

#[tokio::test]
async fn a_refused_retry_gives_way_to_work_done_under_another_list_and_its_history_is_kept() {
    let s = setup();
    let store = s.store();
    let list = |s: &Setup| {
        s.units_as("fake,other", &[("a", "image a")])
            .into_iter()
            .map(|u| {
                let key = u.key_for_provider("fake");
                u.related(vec![key], Vec::new())
            })
            .collect::<Vec<_>>()
    };
    let list_key = list(&s)[0].key.clone();
    // Paid, and the job failed; retried, and the retry refused (402): failed unpaid, with the
    // paid job of the first attempt in its history.
    let failing = Fake::default();
    failing.resume_as("a", Behaviour::JobFailed);
    Batch::new(store.clone())
        .run(&failing, list(&s))
        .await
        .unwrap();
    let refusing = Fake::default();
    refusing.submit_as("a", Behaviour::Refuse);
    Batch::new(store.clone())
        .retry_failed(true)
        .run(&refusing, list(&s))
        .await
        .unwrap();
    let before = store.get(&list_key).unwrap().unwrap();
    assert_eq!((before.state, before.paid), (State::Failed, Some(false)));
    assert_eq!(before.previous_tickets.len(), 1);
    let spent_before = before.spent_credits;
    assert!(spent_before > 0);

    // Done by `fake` alone, then the list again: skipped, nothing paid, and the merged row
    // keeps the earlier paid job and its credits.
    let fake = Fake::default();
    Batch::new(store.clone())
        .run(&fake, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    let done_spent = store
        .get(&s.units(&[("a", "image a")])[0].key)
        .unwrap()
        .unwrap()
        .spent_credits;
    let again = Fake::default();
    let report = Batch::new(store.clone())
        .run(&again, list(&s))
        .await
        .unwrap();
    assert_eq!(report.units[0].action, Action::Skip);
    assert_eq!(again.submits(), 0);
    let row = store.get(&list_key).unwrap().unwrap();
    assert_eq!(row.state, State::Done);
    assert!(
        row.previous_tickets.contains(&before.previous_tickets[0]),
        "{:?}",
        row.previous_tickets
    );
    assert_eq!(row.spent_credits, spent_before + done_spent);
}

#[tokio::test]
async fn work_refused_unpaid_under_this_list_and_done_under_another_is_not_paid_again() {
    // The review's case: both refused (402) under `fake,other`, then done by `fake` alone, then
    // `fake,other` again: the unpaid failure gives way to the done row.
    let s = setup();
    let store = s.store();
    let refuse = Fake::default();
    refuse.submit_as("a", Behaviour::Refuse);
    let list = |s: &Setup| {
        s.units_as("fake,other", &[("a", "image a")])
            .into_iter()
            .map(|u| {
                let key = u.key_for_provider("fake");
                u.related(vec![key], Vec::new())
            })
            .collect::<Vec<_>>()
    };
    Batch::new(store.clone())
        .run(&refuse, list(&s))
        .await
        .unwrap();
    let list_key = list(&s)[0].key.clone();
    let failed = store.get(&list_key).unwrap().unwrap();
    assert_eq!((failed.state, failed.paid), (State::Failed, Some(false)));

    let fake = Fake::default();
    let report = Batch::new(store.clone())
        .run(&fake, s.units(&[("a", "image a")]))
        .await
        .unwrap();
    assert!(report.all_succeeded(), "{report:#?}");
    assert_eq!(fake.submits(), 1);

    let again = Fake::default();
    let dry = plan(&*store, &list(&s), PlanOptions::default()).unwrap();
    assert_eq!(dry.actions[0], Action::Skip);
    let report = Batch::new(store.clone())
        .run(&again, list(&s))
        .await
        .unwrap();
    assert_eq!(again.submits(), 0, "done by `fake` already");
    assert_eq!(report.units[0].action, Action::Skip);
    let row = store.get(&list_key).unwrap().unwrap();
    assert_eq!(
        row.state,
        State::Done,
        "the done row, re-keyed over the unpaid failure"
    );
}
