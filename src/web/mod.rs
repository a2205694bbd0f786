//! The JavaScript face of the engine (wasm32 only): the `Vae` class that `dist/sdxl_vae.js`
//! exports. Thin: JS values are converted at the boundary ([`convert`]), weights are streamed
//! chunk by chunk ([`source`]), and everything else is the Rust API of [`crate::api`].
//!
//! Every method takes `&self` and returns a promise; calls on one `Vae` run one after another in
//! call order (a promise chain), so overlapping calls queue instead of throwing. Failures reject
//! with a JS `Error` whose message is the engine's and whose `code` is its [`ErrorCode`]
//! ([`failure`]).

mod control;
mod convert;
mod estimate;
mod failure;
mod js;
mod latents;
mod lost;
mod metrics;
mod options;
mod ranges;
mod source;

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use futures_channel::oneshot;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::error_code::ErrorCode;
use crate::gpu::Gpu;
use control::{controlled, CallOptions, CallOptionsArg};
use failure::Failure;
use lost::lost_or;
use options::load_options;

/// `Vae.load`'s options, from the table of user options.
#[wasm_bindgen(typescript_custom_section)]
const TS_LOAD_OPTIONS: &'static str = crate::api::options::LOAD_OPTIONS_TS;

/// `error.code`.
#[wasm_bindgen(typescript_custom_section)]
const TS_ERROR_CODE: &'static str = crate::error_code::ERROR_CODE_TS;

/// `onProgress`'s third argument.
#[wasm_bindgen(typescript_custom_section)]
const TS_WEIGHTS_FILE: &'static str = crate::api::options::WEIGHTS_FILE_TS;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** What `Vae.load` accepts as weights: a URL, or the file's bytes in any streamable form. */
export type WeightsSource = string | Response | Blob | ReadableStream<Uint8Array> | ArrayBuffer | ArrayBufferView;
/** One of the options `Vae.load` takes (`userOptions()`); the page reads the same names from
 *  its URL. */
export interface UserOption {
  name: string;
  kind: "number" | "real" | "bytes" | "choice" | "json";
  /** The words a "choice" takes. */
  values?: string[];
  doc: string;
}
/** `[channels, height, width]` f32, NCHW without the batch, unscaled (diffusers'
 * `latent_dist.mean`); a diffusion model sees `vae.toDiffusion(latent)` (`vae.latentLayout`). */
export interface Latent {
  /** 4, 16 or 32 (`vae.latentChannels`; a diffusion-space latent's per `vae.latentLayout`); on
   *  input it may be left out (the data's length tells). */
  channels?: number;
  width: number;
  height: number;
  data: Float32Array;
  /** Size the decoder crops to; defaults to 8× the latent size. */
  imageWidth?: number;
  imageHeight?: number;
}
/** Decoder output before clamping: `[3, height, width]` f32, nominally in [-1, 1]. */
export interface RawImage { width: number; height: number; data: Float32Array; }
export interface ImageLike { width: number; height: number; data: Uint8ClampedArray | Uint8Array; }
"#;

#[wasm_bindgen]
extern "C" {
    /// `Vae.load`'s options argument, which may be left out (`options?: LoadOptions`); any value
    /// is taken as is (a non-object as no options).
    #[wasm_bindgen(typescript_type = "LoadOptions")]
    pub type LoadOptionsArg;
}

thread_local! {
    /// Called with the panic message after a panic (the module is unusable afterwards).
    static PANIC_HANDLER: RefCell<Option<Function>> = const { RefCell::new(None) };
}

#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let message = info.to_string();
        PANIC_HANDLER.with(|h| {
            if let Some(f) = h.borrow().as_ref() {
                // The handler's own failure cannot be reported anywhere better than the console.
                let _ = f.call1(&JsValue::NULL, &JsValue::from_str(&message));
            }
        });
    }));
}

/// Registers `callback(message)` to be called if the module panics. A panic leaves the module
/// unusable (its pending promises never settle): the page should say so and offer a reload.
#[wasm_bindgen(js_name = onPanic)]
pub fn on_panic(callback: Option<Function>) {
    PANIC_HANDLER.with(|h| *h.borrow_mut() = callback);
}

struct Inner {
    vae: crate::api::Vae,
    /// Settles when the most recently queued call has finished.
    tail: RefCell<Option<oneshot::Receiver<()>>>,
}

/// The SDXL VAE on this page's (or worker's) WebGPU device.
#[wasm_bindgen]
pub struct Vae {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl Vae {
    /// Requests a WebGPU device and streams the weights from `source` into it.
    #[wasm_bindgen(unchecked_return_type = "Promise<Vae>")]
    pub fn load(
        #[wasm_bindgen(unchecked_param_type = "WeightsSource")] source: JsValue,
        options: Option<LoadOptionsArg>,
    ) -> Promise {
        future_to_promise(async move {
            let options = options.map_or(JsValue::UNDEFINED, JsValue::from);
            let (mut feed, load, gpu_opts) =
                load_options(&options).map_err(Failure::bad_argument)?;
            if !js::has_webgpu() {
                let message = "this browser has no WebGPU (navigator.gpu is missing): use a \
                               recent Chrome, Edge or Safari, or Firefox with WebGPU enabled";
                return Err(Failure::new(ErrorCode::NoWebgpu, message).into());
            }
            if !js::webgpu_reachable() {
                let message = "this runtime has navigator.gpu but is neither a window nor a \
                               worker (Node.js?), and the module reaches WebGPU only from one: \
                               run it in a browser, a browser's worker, or Deno";
                return Err(Failure::new(ErrorCode::NoWebgpu, message).into());
            }
            let gpu = Gpu::new(&gpu_opts).await.map_err(|e| match e {
                // wgpu's reason lists its native backends, which say nothing here.
                crate::error::Error::NoAdapter(_) => Failure::new(
                    ErrorCode::AdapterFailed,
                    "the browser gives no WebGPU adapter (navigator.gpu.requestAdapter() \
                     returned none): check that hardware acceleration is on, or try another \
                     browser",
                ),
                e => e.into(),
            })?;
            let loader = crate::api::Vae::loader(&gpu, load);
            let vae = source::load_from(&source, loader, &mut feed).await?;
            let inner = Rc::new(Inner {
                vae,
                tail: RefCell::new(None),
            });
            Ok(Vae { inner }.into())
        })
    }

    /// Runs `work` after every call queued before it.
    fn queued<F>(&self, work: impl FnOnce(Rc<Inner>) -> F + 'static) -> Promise
    where
        F: Future<Output = Result<JsValue, Failure>> + 'static,
    {
        let (done, finished) = oneshot::channel::<()>();
        let previous = self.inner.tail.replace(Some(finished));
        let inner = self.inner.clone();
        future_to_promise(async move {
            if let Some(p) = previous {
                // Cancelled means the previous call finished (its sender was dropped): go on.
                let _ = p.await;
            }
            // A lost device fails every call the same way, at once.
            inner.vae.gpu().check_lost().map_err(Failure::from)?;
            let out = match work(inner.clone()).await {
                Ok(value) => Ok(value),
                Err(failure) => Err(lost_or(inner.vae.gpu(), failure).await),
            };
            drop(done);
            out.map_err(JsValue::from)
        })
    }

    /// The posterior mean (unscaled) of an `ImageData`: `{width, height, data: Float32Array,
    /// imageWidth, imageHeight}`, `data` `[4, height, width]`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Latent>")]
    pub fn encode(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ImageData | ImageLike")] image: JsValue,
        options: Option<CallOptionsArg>,
    ) -> Promise {
        let image = convert::image_from_js(&image);
        let opts = CallOptions::from_js(options);
        self.queued(move |inner| async move {
            let (image, opts) = (image?, opts?);
            let latent = controlled!(opts, |ctl| inner.vae.encode_with(&image, None, ctl).await)?;
            convert::latent_to_js(&latent)
        })
    }

    /// A posterior sample `mean + exp(0.5·logvar)·ε` with ε from `seed`.
    #[wasm_bindgen(js_name = encodeSample, unchecked_return_type = "Promise<Latent>")]
    pub fn encode_sample(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ImageData | ImageLike")] image: JsValue,
        seed: u32,
        options: Option<CallOptionsArg>,
    ) -> Promise {
        let image = convert::image_from_js(&image);
        let opts = CallOptions::from_js(options);
        self.queued(move |inner| async move {
            let (image, opts) = (image?, opts?);
            let seed = Some(u64::from(seed));
            let latent = controlled!(opts, |ctl| inner.vae.encode_with(&image, seed, ctl).await)?;
            convert::latent_to_js(&latent)
        })
    }

    /// The image (`ImageData` at `imageWidth × imageHeight`) of a latent `{width, height, data}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<ImageData>")]
    pub fn decode(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Latent")] latent: JsValue,
        options: Option<CallOptionsArg>,
    ) -> Promise {
        let latent = convert::latent_from_js(&latent);
        let opts = CallOptions::from_js(options);
        self.queued(move |inner| async move {
            let (latent, opts) = (latent?, opts?);
            let image = controlled!(opts, |ctl| inner.vae.decode_with(&latent, ctl).await)?;
            convert::image_to_js(&image)
        })
    }

    /// The decoder's output before clamping (diffusers' `decode(z).sample`), cropped likewise.
    #[wasm_bindgen(js_name = decodeRaw, unchecked_return_type = "Promise<RawImage>")]
    pub fn decode_raw(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Latent")] latent: JsValue,
        options: Option<CallOptionsArg>,
    ) -> Promise {
        let latent = convert::latent_from_js(&latent);
        let opts = CallOptions::from_js(options);
        self.queued(move |inner| async move {
            let (latent, opts) = (latent?, opts?);
            let raw = controlled!(opts, |ctl| inner.vae.decode_raw_with(&latent, ctl).await)?;
            convert::raw_to_js(&raw)
        })
    }

    /// The GPU adapter's name and backend.
    #[wasm_bindgen(getter, js_name = adapterName)]
    pub fn adapter_name(&self) -> String {
        self.inner.vae.gpu().adapter_name()
    }

    /// How the convolutions share their weight fetches: `workgroup` (staged in workgroup
    /// memory, on GPUs) or `plain` (on CPU adapters).
    #[wasm_bindgen(getter, js_name = convStaging)]
    pub fn conv_staging(&self) -> String {
        self.inner.vae.conv_staging().name().to_string()
    }

    /// What the convolutions read: `f16` if loaded so and no convolution input has exceeded
    /// f16's range, else `f32`.
    #[wasm_bindgen(getter)]
    pub fn precision(&self) -> String {
        self.inner.vae.precision().name().to_string()
    }

    /// Whether activations are held as f16: loaded at `f16` precision and none has exceeded
    /// f16's range yet (then they are f32 from that call on, while `precision` may stay `f16`).
    #[wasm_bindgen(getter, js_name = f16Activations)]
    pub fn f16_activations(&self) -> bool {
        self.inner.vae.f16_activations()
    }

    /// A diffusion model sees `(latent − shiftFactor) × scalingFactor`.
    #[wasm_bindgen(getter, js_name = scalingFactor)]
    pub fn scaling_factor(&self) -> f32 {
        self.inner.vae.scaling_factor()
    }

    #[wasm_bindgen(getter, js_name = shiftFactor)]
    pub fn shift_factor(&self) -> f32 {
        self.inner.vae.shift_factor()
    }

    /// The model's family: `sdxl`, `sd1`, `sd3`, `flux`, `taesdxl`, `taesd`, `taesd3`, `taef1`.
    #[wasm_bindgen(getter)]
    pub fn family(&self) -> String {
        self.inner.vae.family().name().to_string()
    }

    /// Where the family came from: `given`, `from config.json` or `default` (guessed from the
    /// file's shapes and names).
    #[wasm_bindgen(getter, js_name = familySource)]
    pub fn family_source(&self) -> String {
        self.inner.vae.info().family.family_source.to_string()
    }

    /// The architecture: `kl` (AutoencoderKL, AutoencoderKLFlux2), `qwen`
    /// (AutoencoderKLQwenImage), `tae` (AutoencoderTiny) or `taehv` (TAEHV on one image).
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        self.inner.vae.info().kind.to_string()
    }

    /// The container the weights came in: `safetensors`, `PyTorch checkpoint (zip)` or
    /// `PyTorch checkpoint (legacy)`.
    #[wasm_bindgen(getter)]
    pub fn format(&self) -> String {
        self.inner.vae.info().format.to_string()
    }

    /// Bytes of the file's tensors outside the VAE (a full model's UNet, text encoders, …),
    /// read past and never kept.
    #[wasm_bindgen(getter, js_name = ignoredBytes)]
    pub fn ignored_bytes(&self) -> f64 {
        self.inner.vae.info().ignored_bytes as f64
    }

    #[wasm_bindgen(getter, js_name = latentChannels)]
    pub fn latent_channels(&self) -> u32 {
        self.inner.vae.latent_channels()
    }

    /// Where the load's time went, in milliseconds (the engine's `LoadTimes`).
    #[wasm_bindgen(getter, js_name = loadTimes, unchecked_return_type = "LoadTimes")]
    pub fn load_times(&self) -> JsValue {
        convert::load_times_to_js(&self.inner.vae.load_times())
    }

    /// Bytes of the weights on the GPU.
    #[wasm_bindgen(getter, js_name = weightBytes)]
    pub fn weight_bytes(&self) -> f64 {
        self.inner.vae.weight_bytes() as f64
    }

    /// Bytes of activation buffers held now (the GPU memory beyond the weights; kept for the
    /// next call of the same size).
    #[wasm_bindgen(getter, js_name = activationBytes)]
    pub fn activation_bytes(&self) -> f64 {
        self.inner.vae.activation_bytes().0 as f64
    }

    /// Most bytes of activation buffers held so far (the GPU memory beyond the weights).
    #[wasm_bindgen(getter, js_name = peakActivationBytes)]
    pub fn peak_activation_bytes(&self) -> f64 {
        self.inner.vae.activation_bytes().1 as f64
    }

    /// Floating-point operations (2 per multiply-add) of an encode of a `width × height` image
    /// and of a decode of its latent: `[encode, decode]`, for GFLOP/s figures.
    #[wasm_bindgen(js_name = flops)]
    pub fn flops(&self, width: u32, height: u32) -> Vec<f64> {
        let (w, h) = (
            width.div_ceil(8) as usize * 8,
            height.div_ceil(8) as usize * 8,
        );
        let (enc, dec) = crate::cost::model_macs(self.inner.vae.info(), h, w);
        vec![2.0 * enc as f64, 2.0 * dec as f64]
    }

    /// One line about the loaded file: layout, dtypes, parameters, block channels.
    #[wasm_bindgen(getter)]
    pub fn description(&self) -> String {
        let info = self.inner.vae.info();
        let dtypes: Vec<String> = info
            .dtypes
            .iter()
            .map(|(d, n)| format!("{n}×{d}"))
            .collect();
        format!(
            "{} {}, {:?} layout, {}, {} parameters, blocks {:?}",
            info.family.family,
            info.kind,
            info.layout,
            dtypes.join(" "),
            info.param_count,
            info.config.block_out_channels
        )
    }
}
