//! JS values ↔ engine types: `ImageData` (or any `{width, height, data}` of RGBA bytes) ↔
//! [`Image`], latent objects `{width, height, data: Float32Array, imageWidth, imageHeight}` ↔
//! [`Latent`]. Inputs are copied into wasm memory before any await, so callers may reuse them.

use js_sys::{Float32Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::failure::Failure;
use crate::api::{Image, Latent, RawImage};
use crate::error_code::ErrorCode;

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// A positive integer property (a size).
fn size(obj: &JsValue, what: &str, key: &str) -> Result<u32, Failure> {
    match get(obj, key).as_f64() {
        Some(v) if v >= 1.0 && v.fract() == 0.0 && v <= u32::MAX as f64 => Ok(v as u32),
        _ => Err(bad(
            what,
            format!("{what}.{key} must be a positive integer"),
        )),
    }
}

/// A bad input: an image's code for `what = "image"`, a latent's otherwise.
fn bad(what: &str, message: impl Into<String>) -> Failure {
    let code = match what {
        "image" => ErrorCode::BadImage,
        _ => ErrorCode::BadLatent,
    };
    Failure::new(code, message)
}

pub(super) fn set(obj: &Object, key: &str, value: &JsValue) -> Result<(), Failure> {
    Reflect::set(obj, &key.into(), value)
        .map(|_| ())
        .map_err(|e| Failure::new(ErrorCode::Internal, super::js::js_message(&e)))
}

/// `ImageData`, or any object with `width`, `height` and `data` of 4·w·h RGBA bytes
/// (`Uint8ClampedArray`/`Uint8Array`).
pub fn image_from_js(v: &JsValue) -> Result<Image, Failure> {
    if !v.is_object() {
        return Err(bad(
            "image",
            "an ImageData (or {width, height, data}) is needed",
        ));
    }
    let width = size(v, "image", "width")?;
    let height = size(v, "image", "height")?;
    let data = get(v, "data");
    if !js_sys::ArrayBuffer::is_view(&data) {
        return Err(bad(
            "image",
            "image.data must be a Uint8ClampedArray or Uint8Array of RGBA bytes",
        ));
    }
    let view = Uint8Array::new_with_byte_offset_and_length(
        &get(&data, "buffer"),
        get(&data, "byteOffset").as_f64().unwrap_or(0.0) as u32,
        get(&data, "byteLength").as_f64().unwrap_or(0.0) as u32,
    );
    Ok(Image {
        width,
        height,
        rgba: view.to_vec(),
    })
}

/// A new `ImageData` holding a JS copy of the pixels (a view of wasm memory would change under it).
pub fn image_to_js(img: &Image) -> Result<JsValue, Failure> {
    let pixels = js_sys::Uint8ClampedArray::new_with_length(img.rgba.len() as u32);
    pixels.copy_from(&img.rgba);
    web_sys::ImageData::new_with_js_u8_clamped_array_and_sh(&pixels, img.width, img.height)
        .map(Into::into)
        .map_err(|e| {
            let message = format!("creating ImageData: {}", super::js::js_message(&e));
            Failure::new(ErrorCode::Internal, message)
        })
}

/// `{width, height, data}` with data a `Float32Array` or array of numbers; `imageWidth` and
/// `imageHeight` default to 8× the latent size.
pub fn latent_from_js(v: &JsValue) -> Result<Latent, Failure> {
    if !v.is_object() {
        return Err(bad("latent", "decode needs a latent {width, height, data}"));
    }
    let width = size(v, "latent", "width")?;
    let height = size(v, "latent", "height")?;
    let data = get(v, "data");
    let values = match data.dyn_ref::<Float32Array>() {
        Some(f) => f.to_vec(),
        None if js_sys::Array::is_array(&data) || js_sys::ArrayBuffer::is_view(&data) => {
            Float32Array::new(&data).to_vec()
        }
        None => {
            return Err(bad(
                "latent",
                "latent.data must be a Float32Array (channels·height·width values, NCHW)",
            ))
        }
    };
    // `channels` may be left out: the data's length tells it.
    let cells = width as usize * height as usize;
    let channels = match get(v, "channels").is_undefined() {
        true if values.len() % cells == 0 => (values.len() / cells) as u32,
        true => {
            return Err(bad(
                "latent",
                format!(
                    "latent.data holds {} values, not a whole number of {width}×{height} channels",
                    values.len()
                ),
            ))
        }
        false => size(v, "latent", "channels")?,
    };
    let mut latent = Latent::new(channels, width, height, values)?;
    if !get(v, "imageWidth").is_undefined() || !get(v, "imageHeight").is_undefined() {
        latent.image_width = size(v, "latent", "imageWidth")?;
        latent.image_height = size(v, "latent", "imageHeight")?;
    }
    Ok(latent)
}

pub fn latent_to_js(l: &Latent) -> Result<JsValue, Failure> {
    let o = Object::new();
    set(&o, "channels", &l.channels.into())?;
    set(&o, "width", &l.width.into())?;
    set(&o, "height", &l.height.into())?;
    set(&o, "data", &Float32Array::from(l.data.as_slice()).into())?;
    set(&o, "imageWidth", &l.image_width.into())?;
    set(&o, "imageHeight", &l.image_height.into())?;
    Ok(o.into())
}

pub fn raw_to_js(r: &RawImage) -> Result<JsValue, Failure> {
    let o = Object::new();
    set(&o, "width", &r.width.into())?;
    set(&o, "height", &r.height.into())?;
    set(&o, "data", &Float32Array::from(r.data.as_slice()).into())?;
    Ok(o.into())
}

/// `Vae.loadTimes`.
#[wasm_bindgen(typescript_custom_section)]
const TS_LOAD_TIMES: &'static str = r#"
/** Where a load's time went, in milliseconds (`vae.loadTimes`): the parts need not add up to
 *  the total; the rest is the source's own work (copies into wasm memory, the event loop). */
export interface LoadTimes {
  /** Awaiting bytes: network, cache, disk. */
  waitMs: number;
  /** Parsing, dtype conversion and weight layout (CPU, in wasm). */
  convertMs: number;
  /** Queue writes of the weights. */
  uploadMs: number;
  /** Making the compute pipelines. */
  pipelinesMs: number;
  totalMs: number;
  /** Bytes read or skipped. */
  bytes: number;
  /** Megabytes (10⁶ bytes) a second over the whole load. */
  mbPerS: number;
}
"#;

/// `{waitMs, convertMs, uploadMs, pipelinesMs, totalMs, bytes, mbPerS}`.
pub fn load_times_to_js(t: &crate::api::LoadTimes) -> JsValue {
    let o = Object::new();
    let fields = [
        ("waitMs", t.wait_ms),
        ("convertMs", t.convert_ms),
        ("uploadMs", t.upload_ms),
        ("pipelinesMs", t.pipelines_ms),
        ("totalMs", t.total_ms),
        ("bytes", t.bytes as f64),
        ("mbPerS", t.mb_per_s()),
    ];
    for (k, v) in fields {
        // Setting a plain data property on a fresh object cannot fail.
        let _ = Reflect::set(&o, &k.into(), &v.into());
    }
    o.into()
}
