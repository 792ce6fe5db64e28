//! Reads a JS body stream into Wasm chunk by chunk, up to a cap: each chunk's size
//! is checked before it is copied out of JS memory, and past the cap the stream is
//! cancelled, so a hostile body (chunked, no Content-Length) never gets buffered.

use crate::body_limit::{CappedBody, TooLarge};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Why a capped read failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// Over the cap (the stream was cancelled).
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The stream errored or yielded something other than bytes.
    #[error("body stream failed: {0}")]
    Stream(String),
}

fn js_detail(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| v.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

/// Cancels the reader without awaiting the result (the peer may never answer).
fn cancel(reader: &web_sys::ReadableStreamDefaultReader) {
    let _ = reader.cancel();
}

/// Reads `stream` whole if it holds at most `cap` bytes.
pub(crate) async fn read_capped(
    stream: &web_sys::ReadableStream,
    cap: usize,
) -> Result<Vec<u8>, ReadError> {
    let reader = web_sys::ReadableStreamDefaultReader::new(stream)
        .map_err(|e| ReadError::Stream(js_detail(&e)))?;
    let mut body = CappedBody::new(cap);
    loop {
        let step = match JsFuture::from(reader.read()).await {
            Ok(v) => v,
            Err(e) => {
                cancel(&reader);
                return Err(ReadError::Stream(js_detail(&e)));
            }
        };
        let step: web_sys::ReadableStreamReadResult = step.unchecked_into();
        if step.get_done().unwrap_or(false) {
            break;
        }
        let Some(chunk) = step.get_value().dyn_ref::<js_sys::Uint8Array>().cloned() else {
            cancel(&reader);
            return Err(ReadError::Stream("a chunk is not bytes".into()));
        };
        let len = usize::try_from(chunk.length()).unwrap_or(usize::MAX);
        if !body.fits(len) {
            cancel(&reader);
            return Err(TooLarge { limit: cap }.into());
        }
        body.push(&chunk.to_vec())?;
    }
    Ok(body.into_bytes())
}

/// Cancels a body that will not be read (refused on its declared length, or after
/// an error status), so the peer is not left streaming into nothing.
pub(crate) fn discard(stream: Option<web_sys::ReadableStream>) {
    if let Some(s) = stream {
        let _ = s.cancel();
    }
}
