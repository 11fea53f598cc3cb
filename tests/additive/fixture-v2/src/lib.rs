//! The client generated from `xtask/tests/fixtures/additive/v2.yaml` by the xtask library, at
//! build time (see `../build.rs`). Only `tests/additive/consumer` uses it.
#![allow(missing_debug_implementations)]

include!(concat!(env!("OUT_DIR"), "/module.rs"));
