//! Hand-written: how a [`Client`] is made and how every request it sends is authenticated.

use cutout_runtime::{ApiKey, Context};
use progenitor_client::{ClientHooks, OperationInfo};

use crate::{Client, DEFAULT_BASE_URL, Error, auth};

impl Client {
    /// A client for the production API, authenticating with `key` (sent as
    /// `Authorization: Token <key>`).
    pub fn with_key(key: impl Into<ApiKey>) -> Self {
        Self::with_base_url(DEFAULT_BASE_URL, key)
    }

    /// A client for another deployment of the API (a proxy, or a local simulator in tests).
    pub fn with_base_url(base_url: &str, key: impl Into<ApiKey>) -> Self {
        Self::new(base_url, Context::new(auth(key.into())))
    }
}

impl ClientHooks<Context> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        self.inner
            .authorize(&self.baseurl, request)
            .map_err(Error::InvalidRequest)
    }
}
