//! The GPU memory a call at a given size would hold, found before running it by recording the
//! call without running it ([`crate::api::Vae::dry_run`]): the page shows it when an image is
//! dropped.

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

use super::failure::Failure;
use super::Vae;

#[wasm_bindgen(typescript_custom_section)]
const TS_ESTIMATE: &'static str = r#"
/** The memory of an encode of a `width × height` image and of a decode of its latent. */
export interface MemoryEstimate {
  /** Bytes of the weights on the GPU. */
  weightBytes: number;
  /** Most bytes of activations (buffers and textures) each call holds at once on the GPU. */
  encodeBytes: number;
  decodeBytes: number;
  /** Most GPU memory each call holds in all: weights, activations, uploads and staging. */
  encodeGpuBytes: number;
  decodeGpuBytes: number;
  /** Out of core (under a memory budget): most bytes each call keeps in host memory (JS
   *  ArrayBuffers, outside the module's memory), and bytes it copies between GPU and host. */
  encodeHostBytes: number;
  decodeHostBytes: number;
  encodeMovedBytes: number;
  decodeMovedBytes: number;
  /** The budget the estimate is for (`vae.memoryBudget`), if any. */
  memoryBudget?: number;
  /** Row bands the activations are split into (1: the image fits the binding limit whole). */
  bands: number;
}
"#;

#[wasm_bindgen]
impl Vae {
    /// The GPU memory an encode of a `width × height` image and a decode of its latent would
    /// hold (queued like the calls; rejects as they would, e.g. `too-large`).
    #[wasm_bindgen(unchecked_return_type = "Promise<MemoryEstimate>")]
    pub fn estimate(&self, width: u32, height: u32) -> js_sys::Promise {
        self.queued(move |inner| async move {
            if width == 0 || height == 0 {
                return Err(Failure::bad_argument(format!(
                    "estimate needs a positive size, not {width}×{height}"
                )));
            }
            // A size over the device's limits fails here, before the dry run allocates its
            // stand-in image (4 bytes a pixel of wasm memory).
            inner
                .vae
                .band_starts(width.div_ceil(8), height.div_ceil(8))?;
            let (enc, dec) = inner.vae.dry_run(width, height).await?;
            let o = Object::new();
            let set = |k: &str, v: f64| {
                // Setting a data property on a fresh object cannot fail.
                let _ = Reflect::set(&o, &k.into(), &JsValue::from_f64(v));
            };
            set("weightBytes", inner.vae.weight_bytes() as f64);
            set("encodeBytes", enc.peak_activation_bytes as f64);
            set("decodeBytes", dec.peak_activation_bytes as f64);
            set("encodeGpuBytes", enc.gpu_bytes as f64);
            set("decodeGpuBytes", dec.gpu_bytes as f64);
            set("encodeHostBytes", enc.host_bytes as f64);
            set("decodeHostBytes", dec.host_bytes as f64);
            set("encodeMovedBytes", enc.moved_bytes as f64);
            set("decodeMovedBytes", dec.moved_bytes as f64);
            if let Some(b) = inner.vae.memory_budget() {
                set("memoryBudget", b as f64);
            }
            set("bands", enc.bands.max(dec.bands) as f64);
            Ok(o.into())
        })
    }
}

#[wasm_bindgen]
impl Vae {
    /// The most GPU memory this model may hold at once, weights and activations together, in
    /// bytes; `undefined` for no budget (the `memoryBudget` load option).
    #[wasm_bindgen(getter, js_name = memoryBudget)]
    pub fn memory_budget(&self) -> Option<f64> {
        self.inner.vae.memory_budget().map(|b| b as f64)
    }

    /// Sets the memory budget (`null` or `undefined`: none); calls queued after this use it.
    #[wasm_bindgen(setter, js_name = memoryBudget)]
    pub fn set_memory_budget(&self, bytes: Option<f64>) {
        let bytes = bytes
            .filter(|b| b.is_finite() && *b >= 1.0)
            .map(|b| b as u64);
        self.inner.vae.set_memory_budget(bytes);
    }
}
