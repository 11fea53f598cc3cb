//! The simulated providers are the facade's [`cutout::Provider`] (re-exported at the crate
//! root): one provider enum for the whole workspace. Per-provider arrays are indexed by
//! [`Provider::index`], its place in [`Provider::ALL`].

pub(crate) use cutout::Provider;
