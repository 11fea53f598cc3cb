//! The additive-changes test: [`v1`] and [`v2`] are the same source file (`consumer.rs`),
//! written against the client generated from `xtask/tests/fixtures/additive/v1.yaml` and
//! compiled, unchanged, against the clients generated from `v1.yaml` and from `v2.yaml` (v1 plus
//! two new optional response fields, a new response and request enum value, a
//! new optional request field and query parameter, a new operation). If this crate builds, an
//! additive spec change did not break code written the way the docs say.
//!
//! The rule that makes it hold is `#[non_exhaustive]` on the generated types, which only acts
//! across crates: hence the fixture clients are crates of their own (built by `build.rs` with
//! the real codegen) and this is a third one. Without the rule a struct literal of a v1 type
//! would stop compiling as soon as v2 adds a field; with it, a struct literal is refused already
//! against v1 (error E0639), so no user code can depend on the exact field set:
//!
//! ```compile_fail,E0639
//! use additive_fixture_v1::types::{Job, JobState};
//! let job = Job { id: "j1".to_owned(), state: JobState::Done, progress: None, labels: None };
//! assert_eq!(job.id, "j1");
//! ```
//!
//! The same value built the forward-compatible way compiles:
//!
//! ```
//! use additive_fixture_v1::types::{Job, JobState};
//! let job: Job = Job::builder().id("j1").state(JobState::Done).progress(None).try_into().unwrap();
//! assert_eq!(job.id, "j1");
//! ```
//!
//! And a `match` on a generated enum needs a `_` arm (error E0004 without one):
//!
//! ```compile_fail,E0004
//! use additive_fixture_v1::types::Mode;
//! fn name(mode: Mode) -> &'static str {
//!     match mode {
//!         Mode::Cutout => "cut-out",
//!         Mode::Mask => "mask",
//!     }
//! }
//! ```

/// `consumer.rs` compiled against the v1 client.
pub mod v1 {
    use additive_fixture_v1 as api;
    include!("consumer.rs");
}

/// `consumer.rs` compiled, unchanged, against the v2 client.
pub mod v2 {
    use additive_fixture_v2 as api;
    include!("consumer.rs");
}

#[cfg(test)]
mod tests {
    use super::{v1, v2};

    /// What a v2 server sends: every field and value v2 adds.
    const V2_JOB: &str = r#"{"id": "j1", "state": "failed", "progress": 40, "created_at": 1700000000, "queue_position": 3}"#;

    #[test]
    fn each_module_is_compiled_against_its_own_version() {
        // Each signature names the types of one fixture crate: a mix-up does not compile.
        let _: fn(&additive_fixture_v1::types::Job) -> String = v1::describe;
        let _: fn(&additive_fixture_v2::types::Job) -> String = v2::describe;
        let _: fn(&additive_fixture_v1::types::Problem) -> &str = v1::problem;
        let _: fn(&additive_fixture_v2::types::Problem) -> &str = v2::problem;

        // The v2 crate is really v2: what v2 adds is there.
        let job: additive_fixture_v2::types::Job = serde_json::from_str(V2_JOB).unwrap();
        assert_eq!(job.queue_position, Some(3));
        assert_eq!(job.created_at, Some(1_700_000_000));
        assert_eq!(job.state, additive_fixture_v2::types::JobState::Failed);
        assert_eq!(
            v2::mode_name(&additive_fixture_v2::types::Mode::Trimap),
            "another mode"
        );
        // And the v1 crate is v1: `failed` is a value it does not know.
        let old: additive_fixture_v1::types::Job = serde_json::from_str(V2_JOB).unwrap();
        assert!(old.state.is_unknown());
    }

    #[test]
    fn the_consumer_reads_a_v2_answer_the_same_with_either_version() {
        let old: additive_fixture_v1::types::Job = serde_json::from_str(V2_JOB).unwrap();
        let new: additive_fixture_v2::types::Job = serde_json::from_str(V2_JOB).unwrap();
        assert_eq!(v1::describe(&old), "j1: failed (not known to this client)");
        assert_eq!(v2::describe(&new), v1::describe(&old));
    }

    #[test]
    fn a_mock_answer_built_against_v1_still_builds_with_v2() {
        // Built with builders, as users build answers for their own tests: v2's new fields are
        // optional, so the same calls still make a complete value at run time.
        let old = v1::mock_job("j1").unwrap();
        let new = v2::mock_job("j1").unwrap();
        assert_eq!(v1::describe(&old), "j1: running (40%)");
        assert_eq!(v2::describe(&new), v1::describe(&old));
    }

    #[test]
    fn the_consumer_sends_the_same_request_with_either_version() {
        // v2's new optional request field stays out of the body when it is not set.
        let old = serde_json::to_value(v1::new_job("https://example.com/a.jpg").unwrap()).unwrap();
        let new = serde_json::to_value(v2::new_job("https://example.com/a.jpg").unwrap()).unwrap();
        assert_eq!(
            old,
            serde_json::json!({"image_url": "https://example.com/a.jpg", "mode": "mask"})
        );
        assert_eq!(new, old);
    }
}
