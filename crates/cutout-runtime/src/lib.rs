//! What every `cutout` provider crate shares.
//!
//! Provider crates (`topaz-image`, `backgroundcut`, `modelslab`, `artworks-seg`) are generated
//! from API descriptions; the generated code calls into this crate for the concerns that must be
//! implemented once and the same way everywhere:
//!
//! - [`ApiKey`]: a secret that never prints.
//! - [`Auth`] and [`Context`]: how a client authenticates, applied in one hook to every request.
//! - [`multipart`]: `multipart/form-data` bodies whose file parts are streamed from disk.

mod auth;
pub mod multipart;

pub use auth::{ApiKey, Auth, Context};
