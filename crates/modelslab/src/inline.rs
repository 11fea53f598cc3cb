//! The JSON body of a `removebg_mask` request whose image is local, streamed: the body the
//! generated client would send (serialized from the generated request type, the key spliced in
//! by the runtime) is split around the image's base64 data; the part before and the part after
//! are sent as they are, and the data between them is encoded from the file chunk by chunk as the
//! request goes out. Memory stays at a few chunks whatever the size of the image, and the bytes
//! on the wire are exactly those of the non-streamed body.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::{StreamExt, stream};

use crate::{CutoutError, CutoutResult};

/// Image bytes read and encoded at a time. A multiple of 3, so that no chunk but the last ends in
/// base64 padding: 384 KiB of image becomes 512 KiB of text.
const CHUNK: usize = 384 * 1024;

/// A local image to send inline.
pub(crate) enum Local {
    /// A file, read again for each attempt.
    Path(PathBuf),
    /// Bytes in memory.
    Bytes(Bytes),
}

/// A failure found while a body streams out (the file changed under it), kept so that the
/// caller reports it instead of the transport error the broken-off request ends with.
#[derive(Clone, Default)]
pub(crate) struct Fault(Arc<Mutex<Option<CutoutError>>>);

impl Fault {
    /// Keeps the first failure.
    pub(crate) fn set(&self, error: CutoutError) {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_none() {
            *slot = Some(error);
        }
    }

    /// The failure, if one was kept.
    pub(crate) fn take(&self) -> Option<CutoutError> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}

/// The body of one request, ready to be streamed once per attempt.
pub(crate) struct InlineBody {
    prefix: Bytes,
    suffix: Bytes,
    image: Local,
    /// The image's name in messages.
    name: String,
    /// Its size when it was checked: every attempt must find the same.
    size: u64,
}

impl InlineBody {
    /// `render` gives the complete body (credentials included) for an image text. It is called
    /// twice, with `data_header` (`data:<type>;base64,`) alone and followed by one base64
    /// character: the two bodies differ only there, so what they share at the start is the
    /// prefix (ending with the header) and what they share at the end is the suffix (starting
    /// with the string's closing quote).
    pub(crate) fn new(
        render: impl Fn(&str) -> CutoutResult<Vec<u8>>,
        data_header: &str,
        image: Local,
        name: String,
        size: u64,
    ) -> CutoutResult<Self> {
        let empty = render(data_header)?;
        let one = render(&format!("{data_header}A"))?;
        let start = empty.iter().zip(&one).take_while(|(a, b)| a == b).count();
        let end = empty
            .iter()
            .rev()
            .zip(one.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        // Base64 text is never escaped in JSON, so the data sits between the two, verbatim.
        if one.len() != empty.len() + 1 || start + end != empty.len() {
            return Err(CutoutError::config(
                "cannot find where the image goes in the request body (the data URI was escaped?)",
            ));
        }
        Ok(Self {
            prefix: Bytes::copy_from_slice(&empty[..start]),
            suffix: Bytes::copy_from_slice(&empty[start..]),
            image,
            name,
            size,
        })
    }

    /// The exact length of the body.
    pub(crate) fn content_length(&self) -> CutoutResult<u64> {
        let encoded = usize::try_from(self.size)
            .ok()
            .and_then(|size| base64::encoded_len(size, true))
            .ok_or_else(|| {
                CutoutError::invalid(
                    "image",
                    format!("`{}` is too large to send inline: pass its URL", self.name),
                )
            })?;
        Ok(self.prefix.len() as u64 + encoded as u64 + self.suffix.len() as u64)
    }

    /// Opens the image for one attempt and returns the body. A file whose size is no longer the
    /// checked one is refused now; one that changes while it is read ends the body with an
    /// error (so the request is broken off, never completed with a length that lies), kept in
    /// `fault`.
    pub(crate) async fn open(&self, fault: &Fault) -> CutoutResult<reqwest::Body> {
        Ok(reqwest::Body::wrap_stream(self.stream(fault).await?))
    }

    /// The body's bytes, as [`open`](Self::open) sends them.
    async fn stream(
        &self,
        fault: &Fault,
    ) -> CutoutResult<stream::BoxStream<'static, std::io::Result<Bytes>>> {
        let data: stream::BoxStream<'static, std::io::Result<Bytes>> = match &self.image {
            Local::Bytes(bytes) => {
                if bytes.len() as u64 != self.size {
                    return Err(changed(&self.name, self.size, bytes.len() as u64, false));
                }
                let bytes = bytes.clone();
                let chunks = (0..bytes.len())
                    .step_by(CHUNK)
                    .map(move |start| Ok(encode(&bytes[start..(start + CHUNK).min(bytes.len())])));
                stream::iter(chunks).boxed()
            }
            Local::Path(path) => {
                let opened = path.clone();
                let file = tokio::task::spawn_blocking(move || {
                    let file = File::open(&opened)?;
                    let size = file.metadata()?.len();
                    Ok::<_, std::io::Error>((file, size))
                })
                .await
                .map_err(|e| CutoutError::io("open", path, std::io::Error::other(e)))?;
                let (file, size) = file.map_err(|e| CutoutError::io("open", path, e))?;
                if size != self.size {
                    return Err(changed(&self.name, self.size, size, false));
                }
                let chunks = FileChunks {
                    file,
                    left: self.size,
                    buffer: Vec::new(),
                    name: self.name.clone(),
                    expected: self.size,
                    fault: fault.clone(),
                };
                stream::try_unfold(chunks, FileChunks::next).boxed()
            }
        };
        Ok(stream::iter([Ok(self.prefix.clone())])
            .chain(data)
            .chain(stream::iter([Ok(self.suffix.clone())]))
            // Nothing after an error: the body ends there.
            .scan(false, |failed, item| {
                let next = (!*failed).then_some(item);
                *failed = next.as_ref().is_some_and(Result::is_err);
                std::future::ready(next)
            })
            .boxed())
    }
}

/// The error for an image whose size is no longer the one checked, found before the request
/// (`sending` false) or while its body was streaming out.
fn changed(name: &str, checked: u64, now: u64, sending: bool) -> CutoutError {
    let outcome = if sending {
        ": the request was broken off before the end of its body, so the server got no \
         complete request"
    } else {
        ""
    };
    CutoutError::invalid(
        "image",
        format!(
            "`{name}` changed size after it was checked ({checked} bytes then, {now} \
             now){outcome}; send it again once nothing is writing to it"
        ),
    )
}

/// The base64 text of one chunk.
fn encode(chunk: &[u8]) -> Bytes {
    let mut text = String::with_capacity(base64::encoded_len(chunk.len(), true).unwrap_or(0));
    STANDARD.encode_string(chunk, &mut text);
    Bytes::from(text)
}

/// Reads a file chunk by chunk and encodes each chunk, on the blocking pool.
struct FileChunks {
    file: File,
    /// Bytes still to send.
    left: u64,
    /// The read buffer, kept from one chunk to the next.
    buffer: Vec<u8>,
    name: String,
    expected: u64,
    fault: Fault,
}

/// What one read gave.
enum Chunk {
    /// The next chunk's text.
    Data(Bytes),
    /// The file ended where it should.
    End,
    /// The file ended early or goes on past the checked size; its size now.
    Changed(u64),
}

impl FileChunks {
    /// The next chunk of text, `None` at the end, an error if the file changed.
    async fn next(self) -> std::io::Result<Option<(Bytes, Self)>> {
        let (this, read) = tokio::task::spawn_blocking(move || {
            let mut this = self;
            let read = this.read_chunk();
            (this, read)
        })
        .await
        .map_err(std::io::Error::other)?;
        match read? {
            Chunk::Data(text) => Ok(Some((text, this))),
            Chunk::End => Ok(None),
            Chunk::Changed(now) => {
                let error = changed(&this.name, this.expected, now, true);
                let message = error.to_string();
                this.fault.set(error);
                Err(std::io::Error::other(message))
            }
        }
    }

    /// Reads the next chunk in full (the file must still have it) and encodes it; once all is
    /// read, checks that the file ends there.
    fn read_chunk(&mut self) -> std::io::Result<Chunk> {
        let want = usize::try_from(self.left).map_or(CHUNK, |left| left.min(CHUNK));
        // One byte past the end, to see whether the file grew.
        self.buffer.resize(want.max(1), 0);
        let mut filled = 0;
        while filled < self.buffer.len() {
            match self.file.read(&mut self.buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let now = || self.file.metadata().map(|m| m.len());
        if want == 0 {
            return Ok(if filled == 0 {
                Chunk::End
            } else {
                Chunk::Changed(now()?)
            });
        }
        if filled < want {
            return Ok(Chunk::Changed(now()?));
        }
        self.left -= want as u64;
        Ok(Chunk::Data(encode(&self.buffer[..want])))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// A body of a few fields around the image, serialized by serde_json as the client does.
    fn render(image: &str) -> CutoutResult<Vec<u8>> {
        Ok(serde_json::to_vec(&serde_json::json!({
            "a": 1, "image": image, "webhook": "https://h.example/?q=\"x\"", "z": [true]
        }))
        .unwrap())
    }

    fn body(image: Local, size: u64) -> InlineBody {
        InlineBody::new(
            render,
            "data:image/png;base64,",
            image,
            "img.png".into(),
            size,
        )
        .unwrap()
    }

    async fn collect(body: &InlineBody, fault: &Fault) -> std::io::Result<Vec<u8>> {
        let mut stream = body.stream(fault).await.unwrap();
        let mut sent = Vec::new();
        while let Some(chunk) = stream.next().await {
            sent.extend_from_slice(&chunk?);
        }
        Ok(sent)
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn the_body_is_split_around_the_image_data() {
        let body = body(Local::Bytes(Bytes::new()), 0);
        assert_eq!(
            &body.prefix[..],
            br#"{"a":1,"image":"data:image/png;base64,"#
        );
        assert_eq!(
            &body.suffix[..],
            br#"","webhook":"https://h.example/?q=\"x\"","z":[true]}"#
        );
    }

    #[tokio::test]
    async fn bytes_and_files_stream_the_exact_non_streamed_body() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, 2, 3, 4, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 2] {
            let image = data(len);
            let uri = format!("data:image/png;base64,{}", STANDARD.encode(&image));
            let expected = render(&uri).unwrap();
            let path = dir.path().join(format!("{len}.png"));
            std::fs::write(&path, &image).unwrap();
            for local in [Local::Bytes(image.clone().into()), Local::Path(path)] {
                let body = body(local, len as u64);
                let sent = collect(&body, &Fault::default()).await.unwrap();
                assert!(sent == expected, "{len} bytes: the bodies differ");
                assert_eq!(body.content_length().unwrap(), expected.len() as u64);
            }
        }
    }

    #[tokio::test]
    async fn a_file_that_changes_size_is_never_sent_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        let image = data(CHUNK + 10);
        std::fs::write(&path, &image).unwrap();

        // Changed between the check and the attempt: refused before anything is sent.
        let fault = Fault::default();
        let error = body(Local::Path(path.clone()), 5)
            .stream(&fault)
            .await
            .err()
            .unwrap();
        assert!(error.to_string().contains("(5 bytes then"), "{error}");
        assert!(error.to_string().ends_with("(nothing was sent)"), "{error}");

        // Grows while it is read: the body ends with an error instead of its last part.
        let body = body(Local::Path(path.clone()), image.len() as u64);
        let mut stream = body.stream(&fault).await.unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"more")
            .unwrap();
        let mut ended_with_error = false;
        while let Some(chunk) = stream.next().await {
            if chunk.is_err() {
                ended_with_error = true;
            }
        }
        assert!(ended_with_error);
        let error = fault.take().expect("the fault is kept");
        assert!(
            error
                .to_string()
                .contains("broken off before the end of its body"),
            "{error}"
        );
        assert!(
            error.to_string().contains(&format!("{} now", CHUNK + 14)),
            "{error}"
        );

        // Shrinks while it is read.
        std::fs::write(&path, &image).unwrap();
        let fault = Fault::default();
        let mut stream = body.stream(&fault).await.unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(100)
            .unwrap();
        let mut results = Vec::new();
        while let Some(chunk) = stream.next().await {
            results.push(chunk.is_ok());
        }
        assert_eq!(results, [true, false], "the prefix, then the error");
        assert!(fault.take().is_some());
    }
}
