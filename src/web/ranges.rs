//! `Range` requests: a URL's stream left for the bytes after a gap nobody wants, and every
//! abandoned download stopped (cancelling a body alone may leave the browser fetching it).
use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::js::{global_fetch, ByteStream, FetchResponse, StreamReader};

#[wasm_bindgen]
extern "C" {
    /// `AbortSignal.any`: aborts when any of them does.
    #[wasm_bindgen(js_namespace = AbortSignal, js_name = any, catch)]
    fn any_signal(signals: &js_sys::Array) -> Result<web_sys::AbortSignal, JsValue>;
}

/// A fetched URL whose stream may be left for a `Range` request: the URL, and the controller
/// that stops its download (cancelling a body alone may leave the browser downloading it).
pub struct Jump<'a> {
    pub url: &'a str,
    pub own: Option<web_sys::AbortController>,
}

/// `fetch` options whose signal fires on the caller's `signal` or on the returned controller.
pub fn fetch_init(
    signal: Option<&web_sys::AbortSignal>,
) -> (js_sys::Object, Option<web_sys::AbortController>) {
    let init = js_sys::Object::new();
    let own = web_sys::AbortController::new().ok();
    let (signal, own) = match (signal, own) {
        (Some(user), Some(c)) => match any_signal(&js_sys::Array::of2(user, &c.signal())) {
            Ok(both) => (Some(both), Some(c)),
            // Without AbortSignal.any the caller's signal wins; the download is left to finish.
            Err(_) => (Some(user.clone()), None),
        },
        (None, Some(c)) => (Some(c.signal()), Some(c)),
        (user, None) => (user.cloned(), None),
    };
    if let Some(s) = signal {
        // Setting a plain data property on a fresh object cannot fail.
        let _ = Reflect::set(&init, &"signal".into(), &s);
    }
    (init, own)
}

/// Stops a body nobody reads any more: cancels it and aborts its download.
pub fn drop_body(reader: StreamReader, own: Option<web_sys::AbortController>) {
    let cancelled = reader.cancel();
    if let Some(c) = own {
        c.abort();
    }
    // cancel() rejects on an errored or aborted stream; awaited so that is not reported.
    wasm_bindgen_futures::spawn_local(async move {
        let _ = JsFuture::from(cancelled).await;
    });
}

/// The body of `url` from byte `from` on, if the server answers the `Range` request with
/// exactly that (206 and, where readable, a matching `Content-Range`); any other answer is
/// dropped at once.
pub async fn ranged_body(
    url: &str,
    from: u64,
    signal: Option<&web_sys::AbortSignal>,
) -> Option<(ByteStream, Option<web_sys::AbortController>)> {
    let (init, own) = fetch_init(signal);
    let headers = js_sys::Object::new();
    Reflect::set(&headers, &"Range".into(), &format!("bytes={from}-").into()).ok()?;
    Reflect::set(&init, &"headers".into(), &headers).ok()?;
    // A part of a file is not worth caching, and the HTTP cache may answer it with the whole.
    Reflect::set(&init, &"cache".into(), &"no-store".into()).ok()?;
    let response = JsFuture::from(global_fetch(&url.into(), &init))
        .await
        .ok()?;
    let response: &FetchResponse = response.unchecked_ref();
    let body = response.body()?;
    let range = response.headers().get("content-range");
    let starts = range.is_none_or(|r| r.starts_with(&format!("bytes {from}-")));
    if response.status() == 206 && starts {
        return Some((body, own));
    }
    drop_body(body.get_reader(), own);
    None
}
