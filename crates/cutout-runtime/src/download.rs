//! Downloading results: streamed to a temporary file beside the destination, length-checked, then
//! renamed into place, so a failure never leaves a partial or corrupt file.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::header::CONTENT_TYPE;
use tokio::io::AsyncWriteExt;

use crate::error::truncate_body;
use crate::{Context, Error};

/// A file written by [`Context::download_to`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// Where it was written.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The `Content-Type` the server gave, if any.
    pub content_type: Option<String>,
}

/// Why one download attempt failed, and whether another may succeed.
enum AttemptError {
    Retry(Error),
    Fatal(Error),
}

impl Context {
    /// Downloads `url` to `destination`. The body goes to a temporary file in the same folder,
    /// its length is checked against `Content-Length`, and only then is it renamed to
    /// `destination`. With `overwrite` false an existing file is never replaced (checked again at
    /// the rename, so a file created meanwhile is not clobbered either).
    ///
    /// The API key is sent only if `url` is on the API's own origin (presigned links are not).
    /// Broken or truncated transfers are retried under the client's retry policy.
    pub async fn download_to(
        &self,
        base_url: &str,
        url: &str,
        destination: &Path,
        overwrite: bool,
    ) -> Result<Downloaded, Error> {
        let folder = match destination.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        crate::fs::destination_free(destination, overwrite)?;
        let mut attempt = 1;
        loop {
            match self.download_once(base_url, url, &folder).await {
                Ok((file, bytes, content_type)) => {
                    crate::fs::persist(file, destination, overwrite)?;
                    return Ok(Downloaded {
                        path: destination.to_path_buf(),
                        bytes,
                        content_type,
                    });
                }
                Err(AttemptError::Retry(error)) if attempt < self.retry.max_attempts => {
                    tracing::warn!(
                        provider = self.provider.name,
                        attempt,
                        "download broke off, retrying: {error}"
                    );
                    tokio::time::sleep(self.retry.backoff(attempt - 1)).await;
                    attempt += 1;
                }
                Err(AttemptError::Retry(error) | AttemptError::Fatal(error)) => return Err(error),
            }
        }
    }

    /// Downloads `url` into memory, refusing bodies over `limit` bytes.
    pub async fn download_bytes(
        &self,
        base_url: &str,
        url: &str,
        limit: u64,
    ) -> Result<(Bytes, Option<String>), Error> {
        let mut attempt = 1;
        loop {
            let result = async {
                let response = self.get(base_url, url).await?;
                let content_type = content_type(&response);
                let expected = response.content_length();
                if expected.is_some_and(|length| length > limit) {
                    return Err(AttemptError::Fatal(too_large(self, limit)));
                }
                let mut body = BytesMut::new();
                let mut stream = response.bytes_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| AttemptError::Retry(transport(self, e)))?;
                    if (body.len() + chunk.len()) as u64 > limit {
                        return Err(AttemptError::Fatal(too_large(self, limit)));
                    }
                    body.extend_from_slice(&chunk);
                }
                check_length(self, expected, body.len() as u64)?;
                Ok((body.freeze(), content_type))
            }
            .await;
            match result {
                Ok(done) => return Ok(done),
                Err(AttemptError::Retry(_)) if attempt < self.retry.max_attempts => {
                    tokio::time::sleep(self.retry.backoff(attempt - 1)).await;
                    attempt += 1;
                }
                Err(AttemptError::Retry(error) | AttemptError::Fatal(error)) => return Err(error),
            }
        }
    }

    async fn get(&self, base_url: &str, url: &str) -> Result<reqwest::Response, AttemptError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            AttemptError::Fatal(Error::UnexpectedResponse {
                provider: self.provider.name,
                operation: "download",
                status: None,
                message: format!("the download link is not a URL: {e}"),
                body: None,
            })
        })?;
        let mut request = reqwest::Request::new(reqwest::Method::GET, parsed);
        *request.timeout_mut() = Some(self.timeouts.download);
        self.authorize(base_url, &mut request)
            .map_err(|message| AttemptError::Fatal(Error::config(message)))?;
        let response = self
            .execute(base_url, request, "download")
            .await
            .map_err(|e| AttemptError::Fatal(transport(self, e)))?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.bytes().await.unwrap_or_default();
            return Err(AttemptError::Fatal(Error::service(
                self.provider,
                "download",
                status,
                None,
                (!body.is_empty()).then(|| truncate_body(&body)),
                None,
            )));
        }
        Ok(response)
    }

    async fn download_once(
        &self,
        base_url: &str,
        url: &str,
        folder: &Path,
    ) -> Result<(tempfile::NamedTempFile, u64, Option<String>), AttemptError> {
        let response = self.get(base_url, url).await?;
        let content_type = content_type(&response);
        let expected = response.content_length();
        let fatal_io = |action, e| AttemptError::Fatal(Error::io(action, folder, e));
        let temp =
            crate::fs::temp_file_beside(&folder.join("download")).map_err(AttemptError::Fatal)?;
        let handle = temp.reopen().map_err(|e| fatal_io("write into", e))?;
        let mut file = tokio::fs::File::from_std(handle);
        let mut written = 0u64;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| AttemptError::Retry(transport(self, e)))?;
            file.write_all(&chunk)
                .await
                .map_err(|e| fatal_io("write into", e))?;
            written += chunk.len() as u64;
        }
        check_length(self, expected, written)?;
        file.flush().await.map_err(|e| fatal_io("write into", e))?;
        file.sync_all()
            .await
            .map_err(|e| fatal_io("write into", e))?;
        Ok((temp, written, content_type))
    }
}

fn content_type(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn check_length(context: &Context, expected: Option<u64>, got: u64) -> Result<(), AttemptError> {
    match expected {
        Some(expected) if expected != got => Err(AttemptError::Retry(Error::UnexpectedResponse {
            provider: context.provider.name,
            operation: "download",
            status: Some(200),
            message: format!("the download stopped after {got} of {expected} bytes"),
            body: None,
        })),
        _ => Ok(()),
    }
}

fn transport(context: &Context, source: reqwest::Error) -> Error {
    Error::Transport {
        provider: context.provider.name,
        operation: "download",
        maybe_sent: true,
        source,
    }
}

fn too_large(context: &Context, limit: u64) -> Error {
    Error::UnexpectedResponse {
        provider: context.provider.name,
        operation: "download",
        status: Some(200),
        message: format!("the result is larger than {limit} bytes; download it to a file instead"),
        body: None,
    }
}
