//! Streams a weights source (URL, `Response`, `Blob`/`File`, `ReadableStream`, `ArrayBuffer`,
//! typed array) into a [`VaeLoader`] one chunk at a time: the file is never held whole in JS or
//! wasm memory, only the chunk being pushed (and whatever tensor the reader is completing).
//!
//! Sources that can seek jump over what the model does not use (a full model's UNet and text
//! encoders, [`VaeLoader::skippable`]): a `Blob` is read by slices, and a URL whose server takes
//! `Range` requests is asked for the bytes after the gap; a server that answers a `Range`
//! request with the whole file is simply read on.

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::failure::Failure;
use super::js::{global_fetch, js_message, ByteStream, FetchResponse};
use super::ranges::{drop_body, fetch_init, ranged_body, Jump};
use crate::api::{Vae, VaeLoader};
use crate::error_code::ErrorCode;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &Function, ms: i32) -> JsValue;
}

/// Bytes copied from JS into wasm memory per push for in-memory sources and `Blob` slices.
const SLICE_BYTES: u32 = 4 << 20;
/// Unwanted bytes worth a new `Blob` slice rather than a read.
const BLOB_SKIP_BYTES: u64 = 64 << 10;
/// Unwanted bytes worth a new HTTP request rather than a download.
const RANGE_SKIP_BYTES: u64 = 16 << 20;

/// What `Vae.load`'s options say about the stream.
pub struct Feed {
    pub on_progress: Option<Function>,
    pub signal: Option<web_sys::AbortSignal>,
    pub loaded: u64,
    pub total: Option<u64>,
}

impl Feed {
    fn aborted(&self) -> bool {
        self.signal.as_ref().is_some_and(|s| s.aborted())
    }

    fn check_aborted(&self) -> Result<(), Failure> {
        match self.aborted() {
            true => Err(Failure::aborted()),
            false => Ok(()),
        }
    }

    /// Pushes one chunk and reports `(loaded, total, file)`; `total` falls back to the size the
    /// safetensors header declares once it has arrived; `file` (once the header or a
    /// checkpoint's pickle has arrived) says what is read and what is read past.
    fn push(&mut self, loader: &mut VaeLoader, bytes: &[u8]) -> Result<(), Failure> {
        loader.push(bytes)?;
        self.loaded += bytes.len() as u64;
        self.report(loader)
    }

    /// Tells the loader the source jumped `n` bytes ahead, and reports the new position.
    fn skip(&mut self, loader: &mut VaeLoader, n: u64) -> Result<(), Failure> {
        loader.skip(n)?;
        self.loaded += n;
        self.report(loader)
    }

    fn report(&self, loader: &VaeLoader) -> Result<(), Failure> {
        let total = self.total.or_else(|| loader.total_bytes());
        if let Some(f) = &self.on_progress {
            let total = total.map_or(JsValue::UNDEFINED, |t| JsValue::from_f64(t as f64));
            let file = loader.info().map_or(JsValue::UNDEFINED, file_object);
            f.call3(
                &JsValue::NULL,
                &JsValue::from_f64(self.loaded as f64),
                &total,
                &file,
            )
            .map_err(|e| Failure::bad_argument(format!("onProgress threw: {}", js_message(&e))))?;
        }
        Ok(())
    }
}

/// `{format, kind, family, parameters, ignoredTensors, ignoredBytes}` of a file whose header
/// has arrived.
fn file_object(info: &crate::weights::ModelInfo) -> JsValue {
    let o = js_sys::Object::new();
    let set = |k: &str, v: JsValue| {
        // Setting a plain data property on a fresh object cannot fail.
        let _ = Reflect::set(&o, &k.into(), &v);
    };
    set("format", info.format.to_string().into());
    set("kind", info.kind.to_string().into());
    set("family", info.family.family.name().into());
    set("parameters", JsValue::from_f64(info.param_count as f64));
    set(
        "ignoredTensors",
        JsValue::from_f64(info.ignored_tensors as f64),
    );
    set("ignoredBytes", JsValue::from_f64(info.ignored_bytes as f64));
    o.into()
}

/// Streams `source` into `loader` and finishes it.
pub async fn load_from(
    source: &JsValue,
    mut loader: VaeLoader,
    feed: &mut Feed,
) -> Result<Vae, Failure> {
    feed.check_aborted()?;
    if let Some(url) = source.as_string() {
        let (init, own) = fetch_init(feed.signal.as_ref());
        let response = waiting(&mut loader, global_fetch(&url.as_str().into(), &init))
            .await
            .map_err(|e| fetch_error(feed, &e))?;
        let jump = Jump { url: &url, own };
        from_response(response.unchecked_ref(), &mut loader, feed, Some(jump)).await?;
    } else if source.is_instance_of::<web_sys::Response>() {
        from_response(source.unchecked_ref(), &mut loader, feed, None).await?;
    } else if let Some(blob) = source.dyn_ref::<web_sys::Blob>() {
        from_blob(blob, &mut loader, feed).await?;
    } else if source.is_instance_of::<web_sys::ReadableStream>() {
        pump(source.unchecked_ref(), &mut loader, feed, None).await?;
    } else if let Some(bytes) = as_bytes(source) {
        from_memory(&bytes, &mut loader, feed).await?;
    } else {
        return Err(Failure::bad_argument(
            "weights source must be a URL string, Response, Blob/File, ReadableStream, \
             ArrayBuffer or Uint8Array",
        ));
    }
    feed.check_aborted()?;
    Ok(loader.finish()?)
}

fn fetch_error(feed: &Feed, e: &JsValue) -> Failure {
    match feed.aborted() {
        true => Failure::aborted(),
        false => fetch_failed(format!("fetching the weights failed: {}", js_message(e))),
    }
}

fn fetch_failed(message: String) -> Failure {
    Failure::new(ErrorCode::FetchFailed, message)
}

/// A `Blob` that could not be read (the file changed or went away meanwhile).
fn read_failed(why: &str) -> Failure {
    fetch_failed(format!("reading the weights file failed: {why}"))
}

/// A view of an `ArrayBuffer` or any `ArrayBufferView`'s bytes (no copy).
fn as_bytes(source: &JsValue) -> Option<Uint8Array> {
    if let Some(buf) = source.dyn_ref::<js_sys::ArrayBuffer>() {
        return Some(Uint8Array::new(buf));
    }
    if !js_sys::ArrayBuffer::is_view(source) {
        return None;
    }
    let get = |k: &str| Reflect::get(source, &k.into()).ok();
    let buffer = get("buffer")?;
    let offset = get("byteOffset")?.as_f64()? as u32;
    let len = get("byteLength")?.as_f64()? as u32;
    Some(Uint8Array::new_with_byte_offset_and_length(
        &buffer, offset, len,
    ))
}

/// Streams a response's body; with the URL it came from, jumps gaps by `Range` requests.
async fn from_response(
    response: &FetchResponse,
    loader: &mut VaeLoader,
    feed: &mut Feed,
    jump: Option<Jump<'_>>,
) -> Result<(), Failure> {
    if !response.ok() {
        return Err(fetch_failed(format!(
            "fetching the weights failed: HTTP {} {} for {}",
            response.status(),
            response.status_text(),
            response.url()
        )));
    }
    feed.total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.parse().ok());
    let body = response
        .body()
        .ok_or_else(|| fetch_failed("the weights response has no body".into()))?;
    pump(&body, loader, feed, jump).await
}

/// Reads a `Blob`/`File` by slices, jumping over what nobody wants.
async fn from_blob(
    blob: &web_sys::Blob,
    loader: &mut VaeLoader,
    feed: &mut Feed,
) -> Result<(), Failure> {
    let size = blob.size() as u64;
    feed.total = Some(size);
    let mut at = 0u64;
    let mut buf = Vec::new();
    while at < size {
        feed.check_aborted()?;
        if let Some((pos, next)) = loader.skippable() {
            if next - pos >= BLOB_SKIP_BYTES && next <= size {
                feed.skip(loader, next - pos)?;
                at = next;
                continue;
            }
        }
        let end = size.min(at + SLICE_BYTES as u64);
        let slice = (blob.slice_with_f64_and_f64(at as f64, end as f64))
            .map_err(|e| read_failed(&js_message(&e)))?;
        let bytes = waiting(loader, slice.array_buffer())
            .await
            .map_err(|e| read_failed(&js_message(&e)))?;
        let bytes = Uint8Array::new(&bytes);
        buf.resize(bytes.length() as usize, 0);
        bytes.copy_to(&mut buf);
        if buf.is_empty() {
            return Err(read_failed(&format!(
                "the file ended at byte {at} of {size}"
            )));
        }
        feed.push(loader, &buf)?;
        at += buf.len() as u64;
    }
    Ok(())
}

/// Reads a byte stream chunk by chunk into `loader`; cancels the stream on any error. With the
/// URL the stream is the body of, a gap of unwanted bytes is jumped by a `Range` request where
/// the server takes them (asked once; a refusal keeps this stream).
async fn pump(
    stream: &ByteStream,
    loader: &mut VaeLoader,
    feed: &mut Feed,
    mut jump: Option<Jump<'_>>,
) -> Result<(), Failure> {
    let mut reader = stream.get_reader();
    let mut buf = Vec::new();
    let result = async {
        loop {
            feed.check_aborted()?;
            let gap = loader
                .skippable()
                .filter(|(p, n)| n - p >= RANGE_SKIP_BYTES);
            if let (Some(j), Some((pos, next))) = (&mut jump, gap) {
                let start = crate::clock::now_ms();
                let ranged = ranged_body(j.url, next, feed.signal.as_ref()).await;
                loader.waited(crate::clock::now_ms() - start);
                match ranged {
                    Some((body, own)) => {
                        let old = std::mem::replace(&mut reader, body.get_reader());
                        drop_body(old, std::mem::replace(&mut j.own, own));
                        feed.skip(loader, next - pos)?;
                        continue;
                    }
                    None => jump = None,
                }
            }
            let step = waiting(loader, reader.read())
                .await
                .map_err(|e| fetch_error(feed, &e))?;
            if Reflect::get(&step, &"done".into()).is_ok_and(|d| d.is_truthy()) {
                return Ok(());
            }
            let chunk: Uint8Array = Reflect::get(&step, &"value".into())
                .map_err(|e| fetch_failed(js_message(&e)))?
                .dyn_into()
                .map_err(|_| {
                    Failure::bad_argument(
                        "the weights stream gave a chunk that is not a Uint8Array",
                    )
                })?;
            buf.resize(chunk.length() as usize, 0);
            chunk.copy_to(&mut buf);
            feed.push(loader, &buf)?;
        }
    }
    .await;
    if result.is_err() {
        drop_body(reader, jump.and_then(|j| j.own));
    }
    result
}

/// Pushes an in-memory file in slices, yielding to the event loop between them so the page
/// keeps painting its progress bar and an abort can land.
async fn from_memory(
    bytes: &Uint8Array,
    loader: &mut VaeLoader,
    feed: &mut Feed,
) -> Result<(), Failure> {
    let len = bytes.length();
    feed.total = Some(len as u64);
    let mut buf = Vec::new();
    let mut start = 0u32;
    while start < len {
        feed.check_aborted()?;
        let end = len.min(start + SLICE_BYTES);
        buf.resize((end - start) as usize, 0);
        bytes.subarray(start, end).copy_to(&mut buf);
        feed.push(loader, &buf)?;
        start = end;
        next_task().await;
    }
    Ok(())
}

/// Awaits `promise`, counting the time as waiting for bytes ([`VaeLoader::waited`]).
async fn waiting(loader: &mut VaeLoader, promise: Promise) -> Result<JsValue, JsValue> {
    let start = crate::clock::now_ms();
    let out = JsFuture::from(promise).await;
    loader.waited(crate::clock::now_ms() - start);
    out
}

/// Resolves on the next macrotask (`setTimeout(0)`).
async fn next_task() {
    let p = Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, 0);
    });
    // setTimeout's callback resolves with undefined; there is nothing to fail.
    let _ = JsFuture::from(p).await;
}
