//! The JS objects the loader reads bytes through (`fetch`, its `Response`, a `ReadableStream`'s
//! reader), bound once for [`super::source`] and [`super::ranges`], the message of a thrown
//! value, and whether this global has a WebGPU the module can reach.

use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch` (exists in windows and workers alike).
    #[wasm_bindgen(js_name = fetch)]
    pub fn global_fetch(input: &JsValue, init: &JsValue) -> Promise;

    /// A `ReadableStream` of `Uint8Array` chunks.
    pub type ByteStream;
    #[wasm_bindgen(method, js_name = getReader)]
    pub fn get_reader(this: &ByteStream) -> StreamReader;

    pub type StreamReader;
    #[wasm_bindgen(method)]
    pub fn read(this: &StreamReader) -> Promise;
    #[wasm_bindgen(method)]
    pub fn cancel(this: &StreamReader) -> Promise;

    pub type FetchResponse;
    #[wasm_bindgen(method, getter)]
    pub fn ok(this: &FetchResponse) -> bool;
    #[wasm_bindgen(method, getter)]
    pub fn status(this: &FetchResponse) -> u16;
    #[wasm_bindgen(method, getter, js_name = statusText)]
    pub fn status_text(this: &FetchResponse) -> String;
    #[wasm_bindgen(method, getter)]
    pub fn url(this: &FetchResponse) -> String;
    #[wasm_bindgen(method, getter)]
    pub fn body(this: &FetchResponse) -> Option<ByteStream>;
    #[wasm_bindgen(method, getter)]
    pub fn headers(this: &FetchResponse) -> ResponseHeaders;

    pub type ResponseHeaders;
    #[wasm_bindgen(method)]
    pub fn get(this: &ResponseHeaders, name: &str) -> Option<String>;
}

/// The message of a thrown JS value (an `Error`'s `message`, else its string form).
pub fn js_message(v: &JsValue) -> String {
    Reflect::get(v, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| v.as_string())
        .unwrap_or_else(|| format!("{v:?}"))
}

/// Whether this window or worker has WebGPU (`navigator.gpu`).
pub fn has_webgpu() -> bool {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"navigator".into())
        .and_then(|n| js_sys::Reflect::get(&n, &"gpu".into()))
        .is_ok_and(|gpu| !gpu.is_undefined() && !gpu.is_null())
}

/// Whether this global is one from which wgpu reaches `navigator.gpu`: a window or a worker
/// (it looks for `Window` or `WorkerGlobalScope`, and panics where neither is defined, as in
/// Node.js even with a WebGPU binding installed as `navigator.gpu`).
pub fn webgpu_reachable() -> bool {
    let global = js_sys::global();
    ["Window", "WorkerGlobalScope"]
        .iter()
        .any(|name| js_sys::Reflect::get(&global, &(*name).into()).is_ok_and(|v| !v.is_undefined()))
}
