//! Downloading results: streamed to a temporary file beside the destination, length-checked, then
//! renamed into place, so a failure never leaves a partial or corrupt file.

use std::future::Future;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::header::CONTENT_TYPE;
use tokio::io::AsyncWriteExt;

use crate::error::{human_size, truncate_body};
use crate::transport::{Scope, Sending, read_at_most};
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
    /// No credentials are sent, whatever the URL's host: results, presigned and public links
    /// need none. Broken or truncated transfers are retried under the client's retry policy, all
    /// within [`Timeouts::download`](crate::Timeouts::download); a body larger than
    /// [`Limits::result_file`](crate::Limits::result_file) stops with an error.
    pub async fn download_to(
        &self,
        url: &str,
        destination: &Path,
        overwrite: bool,
    ) -> Result<Downloaded, Error> {
        let folder = match destination.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        crate::fs::destination_free(destination, overwrite)?;
        let (file, bytes, content_type) = self
            .with_download_retries(|| self.download_once(url, &folder))
            .await?;
        crate::fs::persist(file, destination, overwrite)?;
        Ok(Downloaded {
            path: destination.to_path_buf(),
            bytes,
            content_type,
        })
    }

    /// Downloads `url` into memory, refusing bodies over `limit` bytes. Like
    /// [`download_to`](Self::download_to), it sends no credentials and is bounded by
    /// [`Timeouts::download`](crate::Timeouts::download).
    pub async fn download_bytes(
        &self,
        url: &str,
        limit: u64,
    ) -> Result<(Bytes, Option<String>), Error> {
        self.with_download_retries(|| async {
            let response = self.get(url).await?;
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
        })
        .await
    }

    /// Runs download attempts under the retry policy, all of them (and the waits between them)
    /// within one deadline, [`Timeouts::download`](crate::Timeouts::download): a server that
    /// trickles bytes cannot stretch a result past it.
    async fn with_download_retries<T, F, Fut>(&self, mut attempt_once: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AttemptError>>,
    {
        let budget = self.timeouts.download;
        let started = tokio::time::Instant::now();
        // A limit too large to add to now is no limit.
        let deadline = started.checked_add(budget);
        let mut attempt = 1;
        loop {
            let result = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, attempt_once())
                    .await
                    .unwrap_or_else(|_| Err(AttemptError::Fatal(self.deadline_passed(started)))),
                None => attempt_once().await,
            };
            match result {
                Ok(done) => return Ok(done),
                Err(AttemptError::Retry(error)) if attempt < self.retry.max_attempts => {
                    let wait = self.retry.backoff(attempt - 1);
                    let retry_at = tokio::time::Instant::now().checked_add(wait);
                    if deadline.is_some_and(|deadline| retry_at.is_none_or(|at| at >= deadline)) {
                        return Err(error);
                    }
                    tracing::warn!(
                        provider = self.provider.name,
                        attempt,
                        "download broke off, retrying: {error}"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(AttemptError::Retry(error) | AttemptError::Fatal(error)) => return Err(error),
            }
        }
    }

    fn deadline_passed(&self, started: tokio::time::Instant) -> Error {
        Error::Timeout {
            what: format!(
                "a {} download (the limit for one result, all attempts included, is \
                 `Timeouts::download`)",
                self.provider.name
            ),
            waited: started.elapsed(),
        }
    }

    /// Sends the GET for a download, with no credentials, and turns an error status into an
    /// error (reading at most [`Limits::error_body`](crate::Limits::error_body) of its body).
    async fn get(&self, url: &str) -> Result<reqwest::Response, AttemptError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            AttemptError::Fatal(Error::unexpected(
                self.provider.name,
                "download",
                format!("the download link is not a URL: {e}"),
            ))
        })?;
        let mut request = reqwest::Request::new(reqwest::Method::GET, parsed);
        *request.timeout_mut() = Some(self.timeouts.download);
        let response = self
            .send(
                Sending {
                    scope: Scope::Anonymous,
                    limit: None,
                    operation: "download",
                },
                request,
            )
            .await
            .map_err(|e| AttemptError::Fatal(transport(self, e)))?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = read_at_most(response, self.limits.error_body)
                .await
                .unwrap_or_default();
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
        url: &str,
        folder: &Path,
    ) -> Result<(tempfile::NamedTempFile, u64, Option<String>), AttemptError> {
        let response = self.get(url).await?;
        let content_type = content_type(&response);
        let expected = response.content_length();
        let limit = self.limits.result_file;
        if expected.is_some_and(|length| length > limit) {
            return Err(AttemptError::Fatal(too_large_for_file(self, limit)));
        }
        let fatal_io = |action, e| AttemptError::Fatal(Error::io(action, folder, e));
        let temp =
            crate::fs::temp_file_beside(&folder.join("download")).map_err(AttemptError::Fatal)?;
        let handle = temp.reopen().map_err(|e| fatal_io("write into", e))?;
        let mut file = tokio::fs::File::from_std(handle);
        let mut written = 0u64;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| AttemptError::Retry(transport(self, e)))?;
            if written + chunk.len() as u64 > limit {
                return Err(AttemptError::Fatal(too_large_for_file(self, limit)));
            }
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
        Some(expected) if expected != got => Err(AttemptError::Retry(
            Error::unexpected(
                context.provider.name,
                "download",
                format!("the download stopped after {got} of {expected} bytes"),
            )
            .with_status(200),
        )),
        _ => Ok(()),
    }
}

fn transport(context: &Context, source: reqwest::Error) -> Error {
    Error::Transport {
        provider: context.provider.name,
        operation: "download",
        maybe_sent: true,
        source: source.into(),
    }
}

fn too_large(context: &Context, limit: u64) -> Error {
    Error::unexpected(
        context.provider.name,
        "download",
        format!(
            "the result is larger than {}, the limit for this download: stopped reading it \
             (download it to a file instead)",
            human_size(limit)
        ),
    )
    .with_status(200)
}

fn too_large_for_file(context: &Context, limit: u64) -> Error {
    Error::unexpected(
        context.provider.name,
        "download",
        format!(
            "the result is larger than {}, the limit for a result file: stopped reading it \
             (raise `Limits::result_file` if such results are expected)",
            human_size(limit)
        ),
    )
    .with_status(200)
}
