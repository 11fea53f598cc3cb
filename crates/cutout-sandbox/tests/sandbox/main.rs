//! End-to-end tests of the simulators over real loopback HTTP, with `reqwest` and the generated
//! provider clients. One test binary (fast to link); one module per provider plus faults.

mod backgroundcut;
mod common;
mod documented;
mod faults;
mod limits;
mod modelslab;
mod tengr;
mod topaz;
