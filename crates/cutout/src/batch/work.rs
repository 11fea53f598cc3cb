//! Units of paid work, and the [`Work`] that submits and resumes them.

use cutout_runtime::{
    BackgroundRemover, BoxFuture, Cutout, Error, ImageSource, JobTicket, RemoveOptions,
};

use super::key::{OutputName, WorkKey, content_hash};
use crate::Provider;
use crate::router::{Routed, Router};

/// One unit of paid work: one submission, one or more result images.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Unit {
    /// The image, then its companions (a trimap…).
    pub sources: Vec<ImageSource>,
    /// How it is shown to users (no secrets: use [`ImageSource::describe`]).
    pub display: String,
    /// Provider short name.
    pub provider: String,
    /// Normalised parameters (the caller normalises, e.g. sorted `k=v` pairs).
    pub params: String,
    /// `cutout`, `mask`…
    pub output_kind: String,
    /// Where the results go.
    pub output: OutputName,
    /// The caller's estimate of its cost (Topaz from its megapixel table; others 1).
    pub credits: u32,
    /// Its identity: same key, same paid work.
    pub key: WorkKey,
    /// The keys of the same work recorded under other provider choices (another fallback
    /// list, a single provider): a journal row under one of them that a provider in
    /// [`accepts`](Self::accepts) served, or is serving, is adopted instead of paying again
    /// ([`Unit::related`]).
    pub related: Vec<WorkKey>,
    /// The providers that may serve this unit (short names): by default its provider split
    /// on `,`.
    pub accepts: Vec<String>,
    /// The content hashes of its sources, in order (for [`Unit::key_for_provider`]).
    hashes: Vec<String>,
}

impl Unit {
    /// A unit, its key computed from the sources' contents ([`content_hash`]: local files are
    /// read, streamed; URLs are not downloaded). Blocking: call it from `spawn_blocking` in
    /// async code.
    pub fn new(
        sources: Vec<ImageSource>,
        provider: impl Into<String>,
        params: impl Into<String>,
        output_kind: impl Into<String>,
        output: OutputName,
        credits: u32,
    ) -> Result<Self, Error> {
        let hashes = sources
            .iter()
            .map(content_hash)
            .collect::<Result<Vec<_>, _>>()?;
        let provider = provider.into();
        let params = params.into();
        let output_kind = output_kind.into();
        let key = WorkKey::new(&hashes, &provider, &params, &output_kind);
        let accepts = split_providers(&provider);
        let display = sources
            .first()
            .map(ImageSource::describe)
            .unwrap_or_default();
        Ok(Unit {
            sources,
            display,
            provider,
            params,
            output_kind,
            output,
            credits,
            key,
            related: Vec::new(),
            accepts,
            hashes,
        })
    }

    /// The key of this same work (same sources, parameters and output kind) under another
    /// provider name, e.g. another fallback list (`modelslab,topaz`). Hashes nothing.
    pub fn key_for_provider(&self, provider: &str) -> WorkKey {
        WorkKey::new(&self.hashes, provider, &self.params, &self.output_kind)
    }

    /// Names the keys of the same work under other provider choices (see
    /// [`key_for_provider`](Self::key_for_provider)), and which providers may serve it.
    ///
    /// Planning then recognises work a run with another provider list paid for: when this
    /// unit's own key has no row, or one that holds no job (`planned`, or refused unpaid;
    /// its history is kept), a row under one of `keys` that is `done` or `submitted` by a
    /// provider in `accepts` (its ticket's), or left `submitting` under a list sharing a
    /// provider with `accepts`, is adopted: skipped, copied, re-attached or reported uncertain
    /// as if it were this unit's own, and (except an uncertain one) re-keyed to this unit's
    /// key before the run acts on it. Failed rows of other keys are never adopted (a
    /// new list is a new attempt). An empty `accepts` keeps the default (the provider split
    /// on `,`).
    pub fn related(mut self, keys: Vec<WorkKey>, accepts: Vec<String>) -> Self {
        self.related = keys.into_iter().filter(|k| *k != self.key).collect();
        if !accepts.is_empty() {
            self.accepts = accepts;
        }
        self
    }

    /// Sets how the unit is shown.
    pub fn display(mut self, display: impl Into<String>) -> Self {
        self.display = display.into();
        self
    }
}

/// What a batch does with a unit: submit it (the paid step) and resume it. Object safe, with
/// boxed futures like [`BackgroundRemover`].
pub trait Work: Send + Sync {
    /// Sends the unit (the paid request) and returns the accepted job without waiting for it.
    /// On failure, [`Error::may_have_been_taken`] says whether the job may have been accepted.
    fn submit<'a>(&'a self, unit: &'a Unit) -> BoxFuture<'a, Result<JobTicket, Error>>;
    /// Waits for an accepted job and downloads its results (one or more images). Never submits.
    fn resume<'a>(
        &'a self,
        unit: &'a Unit,
        ticket: JobTicket,
    ) -> BoxFuture<'a, Result<Vec<Cutout>, Error>>;

    /// Submits the unit to one of several providers, skipping those in `exclude` (provider
    /// short names whose jobs for this unit failed already), and says which providers were
    /// tried. `None`: this work cannot send the unit anywhere else (the default, one provider,
    /// when `exclude` is not empty).
    ///
    /// The runner calls this, not [`submit`](Self::submit): first with `exclude` empty, then,
    /// after a job failed at its provider, with the providers that failed it (a
    /// [`RouterWork`] sends it to the next; the journal records the failed ticket first).
    fn route<'a>(
        &'a self,
        unit: &'a Unit,
        exclude: &'a [String],
    ) -> Option<BoxFuture<'a, Routed<JobTicket>>> {
        if !exclude.is_empty() {
            return None;
        }
        Some(Box::pin(async move {
            Routed {
                result: self.submit(unit).await,
                attempts: Vec::new(),
            }
        }))
    }
}

/// [`Work`] over a [`BackgroundRemover`]: one source, one cut-out (or mask, by `options.kind`).
pub struct RemoverWork<R> {
    remover: R,
    options: RemoveOptions,
}

impl<R> std::fmt::Debug for RemoverWork<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoverWork")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<R> RemoverWork<R>
where
    R: std::ops::Deref + Send + Sync,
    R::Target: BackgroundRemover,
{
    /// Wraps `remover` (a `Box<dyn BackgroundRemover>`, an `Arc`, or a `&dyn …`).
    pub fn new(remover: R, options: RemoveOptions) -> Self {
        RemoverWork { remover, options }
    }
}

impl<R> Work for RemoverWork<R>
where
    R: std::ops::Deref + Send + Sync,
    R::Target: BackgroundRemover,
{
    fn submit<'a>(&'a self, unit: &'a Unit) -> BoxFuture<'a, Result<JobTicket, Error>> {
        Box::pin(async move {
            let source = unit.sources.first().cloned().ok_or_else(|| {
                Error::invalid("sources", format!("`{}` has no image", unit.display))
            })?;
            self.remover
                .submit_removal(source, self.options.clone())
                .await
        })
    }

    fn resume<'a>(
        &'a self,
        _unit: &'a Unit,
        ticket: JobTicket,
    ) -> BoxFuture<'a, Result<Vec<Cutout>, Error>> {
        Box::pin(async move {
            let cutout = self
                .remover
                .resume_removal(ticket, self.options.clone())
                .await?;
            Ok(vec![cutout])
        })
    }
}

/// The provider names of a provider field (`topaz,modelslab` → both), trimmed, none empty.
pub(crate) fn split_providers(field: &str) -> Vec<String> {
    field
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Adjusts the options of one unit (e.g. a progress callback of its own).
pub type UnitOptionsFn =
    std::sync::Arc<dyn Fn(&Unit, RemoveOptions) -> RemoveOptions + Send + Sync>;

/// [`Work`] over a [`Router`]: a unit goes to the first provider of the list that takes it
/// ([`Router::submit`]), and after its job failed at a provider, to the next
/// ([`Work::route`] with the providers that failed it excluded); its job is resumed at the
/// provider that accepted it ([`Router::resume`]). One source, one cut-out (or mask, by
/// `options.kind`).
///
/// Give routed units a provider name of their own (e.g. the list joined with `,`): the work
/// key then says which list may serve it, and each result's provider is in its ticket. Name
/// the same work's keys under other lists with [`Unit::related`], so that a run with another
/// list adopts what a provider of this one did (or is doing) instead of paying again.
pub struct RouterWork<R> {
    router: R,
    options: RemoveOptions,
    per_unit: Option<UnitOptionsFn>,
}

impl<R> std::fmt::Debug for RouterWork<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterWork")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<R> RouterWork<R>
where
    R: std::ops::Deref<Target = Router> + Send + Sync,
{
    /// Wraps `router` (an `Arc<Router>`, a `&Router`…).
    pub fn new(router: R, options: RemoveOptions) -> Self {
        RouterWork {
            router,
            options,
            per_unit: None,
        }
    }

    /// Adjusts the options of each unit before it is submitted or resumed.
    pub fn per_unit(
        mut self,
        f: impl Fn(&Unit, RemoveOptions) -> RemoveOptions + Send + Sync + 'static,
    ) -> Self {
        self.per_unit = Some(std::sync::Arc::new(f));
        self
    }

    fn options(&self, unit: &Unit) -> RemoveOptions {
        match &self.per_unit {
            Some(f) => f(unit, self.options.clone()),
            None => self.options.clone(),
        }
    }
}

impl<R> Work for RouterWork<R>
where
    R: std::ops::Deref<Target = Router> + Send + Sync,
{
    fn submit<'a>(&'a self, unit: &'a Unit) -> BoxFuture<'a, Result<JobTicket, Error>> {
        Box::pin(async move {
            match self.route(unit, &[]) {
                Some(routed) => routed.await.result,
                None => Err(Error::invalid("providers", "the router has no provider")),
            }
        })
    }

    fn resume<'a>(
        &'a self,
        unit: &'a Unit,
        ticket: JobTicket,
    ) -> BoxFuture<'a, Result<Vec<Cutout>, Error>> {
        Box::pin(async move {
            let cutout = self.router.resume(ticket, self.options(unit)).await?;
            Ok(vec![cutout])
        })
    }

    fn route<'a>(
        &'a self,
        unit: &'a Unit,
        exclude: &'a [String],
    ) -> Option<BoxFuture<'a, Routed<JobTicket>>> {
        // Names that are no provider name none of the router's: nothing to leave out.
        let exclude: Vec<Provider> = exclude.iter().filter_map(|n| n.parse().ok()).collect();
        if self.router.providers().iter().all(|p| exclude.contains(p)) {
            return None;
        }
        Some(Box::pin(async move {
            let Some(source) = unit.sources.first().cloned() else {
                return Routed::new(
                    Err(Error::invalid(
                        "sources",
                        format!("`{}` has no image", unit.display),
                    )),
                    Vec::new(),
                );
            };
            self.router
                .submit(source, self.options(unit), &exclude)
                .await
        }))
    }
}
