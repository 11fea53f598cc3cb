//! Reading an API answer into the generated types.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderMap, StatusCode};
use progenitor_client::{Error, ResponseValue};
use serde::de::DeserializeOwned;

/// An answer's JSON body read into `T`, with its status and headers: what progenitor's
/// `ResponseValue::from_response` does, and the generated operations call this instead. The
/// headers are moved out of the answer rather than copied (the answer is consumed anyway).
///
/// A body that cannot be read is [`Error::ResponseBodyError`]; one that is not a `T` is
/// [`Error::InvalidResponsePayload`] with the body. Either way the answer's status is kept for
/// [`Context::call`](crate::Context::call), which reports it.
///
/// (A small hand-written future rather than `response.bytes()` in an `async fn`: every call's
/// future holds this one, and is moved several times; reqwest's `bytes()` keeps the whole
/// answer in its state, this keeps the body's stream and what it has read. One difference: a
/// body that breaks off is reported without the URL reqwest's `bytes()` adds to its error;
/// keeping it would copy the URL on every call. The error still names the operation.)
// The error is progenitor's, as the generated operations return it.
#[allow(clippy::result_large_err)]
pub fn from_response<T: DeserializeOwned, E>(
    mut response: reqwest::Response,
) -> impl Future<Output = Result<ResponseValue<T>, Error<E>>> {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    FromResponse {
        body: response.bytes_stream(),
        first: None,
        more: Vec::new(),
        status,
        headers: Some(headers),
        answer: PhantomData,
    }
}

/// The future of [`from_response`]: the body's chunks gathered (a body in one chunk, the
/// usual case, is not copied), then decoded.
struct FromResponse<S, T, E> {
    body: S,
    first: Option<Bytes>,
    /// The body so far, once it came in more than one chunk.
    more: Vec<u8>,
    status: StatusCode,
    /// Taken when the answer is ready.
    headers: Option<HeaderMap>,
    answer: PhantomData<fn() -> (T, E)>,
}

impl<S, T, E> Future for FromResponse<S, T, E>
where
    S: Stream<Item = reqwest::Result<Bytes>> + Unpin,
    T: DeserializeOwned,
{
    type Output = Result<ResponseValue<T>, Error<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        // The status of an answer whose body fails, for `Context::call` (progenitor's errors
        // for these cases carry none); the transport recorded it already for answers it got.
        let failed = |status: StatusCode| crate::transport::record_answer_status(status.as_u16());
        while let Some(chunk) = ready!(Pin::new(&mut this.body).poll_next(cx)) {
            match chunk {
                Ok(chunk) => match &this.first {
                    None if this.more.is_empty() => this.first = Some(chunk),
                    _ => {
                        if let Some(first) = this.first.take() {
                            this.more.extend_from_slice(&first);
                        }
                        this.more.extend_from_slice(&chunk);
                    }
                },
                Err(error) => {
                    failed(this.status);
                    // Done: a later poll is a poll after completion, not a decode of part of
                    // the body.
                    this.headers = None;
                    return Poll::Ready(Err(Error::ResponseBodyError(error)));
                }
            }
        }
        let body = match this.first.take() {
            Some(first) => first,
            None => Bytes::from(std::mem::take(&mut this.more)),
        };
        let headers = this
            .headers
            .take()
            .expect("the answer was polled after it completed");
        Poll::Ready(match serde_json::from_slice(&body) {
            Ok(inner) => Ok(ResponseValue::new(inner, this.status, headers)),
            Err(error) => {
                failed(this.status);
                Err(Error::InvalidResponsePayload(body, error))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &'static str) -> reqwest::Response {
        let mut answer = http::Response::new(body);
        *answer.status_mut() = http::StatusCode::from_u16(status).unwrap();
        answer
            .headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        answer
            .headers_mut()
            .insert("x-request-id", "r-1".parse().unwrap());
        reqwest::Response::from(answer)
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Status {
        status: String,
    }

    #[tokio::test]
    async fn a_body_is_read_with_its_status_and_headers() {
        let value = from_response::<Status, ()>(answer(202, r#"{"status":"Processing"}"#))
            .await
            .unwrap();
        assert_eq!(value.status(), 202);
        assert_eq!(value.headers()["x-request-id"], "r-1");
        assert_eq!(value.headers().len(), 2);
        assert_eq!(
            value.into_inner(),
            Status {
                status: "Processing".into()
            }
        );
    }

    /// An answer whose body comes in `chunks` (an `Err` breaks it off there).
    fn streamed(
        status: u16,
        chunks: Vec<Result<&'static str, std::io::Error>>,
    ) -> reqwest::Response {
        let stream = futures_util::stream::iter(chunks.into_iter().map(|c| c.map(Bytes::from)));
        let mut answer = http::Response::new(reqwest::Body::wrap_stream(stream));
        *answer.status_mut() = http::StatusCode::from_u16(status).unwrap();
        reqwest::Response::from(answer)
    }

    fn recorded_status() -> Option<u16> {
        crate::transport::ANSWER_STATUS.with(std::cell::Cell::take)
    }

    #[tokio::test]
    async fn a_body_in_several_chunks_is_read_whole() {
        let chunks = vec![
            Ok(r#"{"sta"#),
            Ok(""),
            Ok(r#"tus":"Proc"#),
            Ok(r#"essing"}"#),
        ];
        let value = from_response::<Status, ()>(streamed(200, chunks))
            .await
            .unwrap();
        assert_eq!(value.into_inner().status, "Processing");
        // An empty body is an empty payload, not a panic.
        match from_response::<Status, ()>(streamed(200, vec![])).await {
            Err(Error::InvalidResponsePayload(body, _)) => assert!(body.is_empty()),
            other => panic!("expected InvalidResponsePayload, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_body_broken_off_is_a_body_error_with_the_status_recorded() {
        recorded_status();
        let chunks = vec![
            Ok(r#"{"status":"#),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            )),
        ];
        match from_response::<Status, ()>(streamed(502, chunks)).await {
            Err(Error::ResponseBodyError(error)) => {
                assert!(error.is_body() || error.is_decode(), "{error}")
            }
            other => panic!("expected ResponseBodyError, got {other:?}"),
        }
        assert_eq!(recorded_status(), Some(502));
        // A bad payload records its status too; a good one records none here (the transport
        // recorded it when the answer came).
        let _ = from_response::<Status, ()>(answer(200, "[]")).await;
        assert_eq!(recorded_status(), Some(200));
        from_response::<Status, ()>(answer(200, r#"{"status":"x"}"#))
            .await
            .unwrap();
        assert_eq!(recorded_status(), None);
    }

    #[tokio::test]
    async fn a_body_of_another_shape_keeps_its_bytes() {
        match from_response::<Status, ()>(answer(200, r#"{"state":1}"#)).await {
            Err(Error::InvalidResponsePayload(body, error)) => {
                assert_eq!(&body[..], br#"{"state":1}"#);
                assert!(
                    error.to_string().contains("missing field `status`"),
                    "{error}"
                );
            }
            other => panic!("expected InvalidResponsePayload, got {other:?}"),
        }
    }
}
