//! The simulated providers are the facade's [`cutout::Provider`] (re-exported at the crate
//! root): one provider enum for the whole workspace.

pub(crate) use cutout::Provider;

/// Position of a provider in the sandbox's per-provider arrays: its place in
/// [`Provider::ALL`]. The facade's enum is `#[non_exhaustive]` and the sandbox is built with
/// every provider feature, so every provider it can be given has a place; `ALL` has no
/// `index()` of its own yet, hence this small helper.
pub(crate) fn index(provider: Provider) -> usize {
    Provider::ALL
        .iter()
        .position(|p| *p == provider)
        .unwrap_or_default()
}
