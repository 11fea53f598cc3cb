//! Reading an API answer into the generated types.

use std::future::Future;

use futures_util::FutureExt;
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
/// (A function returning a future rather than an `async fn`, which would keep the answer twice
/// in its state: as its argument and as the local it reads.)
// The error is progenitor's, as the generated operations return it.
#[allow(clippy::result_large_err)]
pub fn from_response<T: DeserializeOwned, E>(
    mut response: reqwest::Response,
) -> impl Future<Output = Result<ResponseValue<T>, Error<E>>> {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    response.bytes().map(move |body| {
        // The status of an answer whose body fails, for `Context::call` (progenitor's errors
        // for these cases carry none); the transport recorded it already for answers it got.
        let failed = || crate::transport::record_answer_status(status.as_u16());
        let body = body.map_err(|error| {
            failed();
            Error::ResponseBodyError(error)
        })?;
        match serde_json::from_slice(&body) {
            Ok(inner) => Ok(ResponseValue::new(inner, status, headers)),
            Err(error) => {
                failed();
                Err(Error::InvalidResponsePayload(body, error))
            }
        }
    })
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
