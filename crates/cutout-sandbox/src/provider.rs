//! The simulated providers are the facade's [`cutout::Provider`] (re-exported at the crate
//! root): one provider enum for the whole workspace. Per-provider arrays are indexed by
//! [`Provider::index`], its place in [`Provider::ALL`], and sized by [`COUNT`], so a provider
//! added to the facade without a simulator is a compile error here, not a wrong index.

pub(crate) use cutout::Provider;

/// How many providers there are: the length of every per-provider array.
pub(crate) const COUNT: usize = Provider::ALL.len();
