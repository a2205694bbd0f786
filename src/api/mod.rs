//! The public API, the same on native and wasm: load weights from a byte stream or a file,
//! `encode(image) → Latent`, `decode(&Latent) → image`.

use crate::error::{Error, Result};
use crate::gpu::BufferPool;
pub use crate::gpu::{FeaturesChoice, Gpu, GpuOptions, LimitsChoice, Resources};
use crate::kernels::image::PixelRange;
use crate::kernels::Kernels;
pub use crate::kernels::Precision;
use crate::model::{Model, Ops, TinyCoder};
use crate::weights::{ModelInfo, Style};

mod call;
mod estimate;
mod latent;
mod precision;
pub use latent::Latent;
mod load;
pub mod options;
pub use crate::gpu::CallControl;
use call::{Call, Output, Read};
pub use estimate::DryRun;
pub use load::{LoadOptions, LoadTimes, VaeLoader};
use std::sync::Arc;

/// An 8-bit RGBA image, rows top to bottom, 4 bytes a pixel.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// The decoder's output before clamping: `[3, height, width]` f32, values nominally in [-1, 1].
#[derive(Clone, Debug)]
pub struct RawImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

pub struct Vae {
    gpu: Gpu,
    kernels: Kernels,
    pool: Arc<BufferPool>,
    model: Model,
    info: ModelInfo,
    weight_bytes: u64,
    max_band_bytes: Option<u64>,
    /// Which operands calls hold as f16 now (`Halves` as bits: 1 textures, 2 activations):
    /// both if loaded at f16 precision, fewer once a value exceeded f16's range (see
    /// `call.rs`).
    halves: std::sync::atomic::AtomicU8,
    /// The memory budget in bytes, 0 for none (see [`Vae::set_memory_budget`]).
    memory_budget: std::sync::atomic::AtomicU64,
    /// The buffer plans of the latest calls, by what they depend on (see `call.rs`).
    plans: call::Plans,
    /// The weights' buffers and textures, freed when the model drops.
    #[expect(dead_code, reason = "held for its drop")]
    weights: crate::gpu::Owned,
    load_times: LoadTimes,
}

fn round8(v: u32) -> u32 {
    v.div_ceil(8) * 8
}

impl Vae {
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The latent factors: see [`Vae::to_diffusion`].
    pub fn scaling_factor(&self) -> f32 {
        self.info.family.factors.scaling
    }

    pub fn shift_factor(&self) -> f32 {
        self.info.family.factors.shift
    }

    /// The model's family (`sdxl`, `sd3`, `taesd`, …; see [`crate::weights::Family`]).
    pub fn family(&self) -> crate::weights::Family {
        self.info.family.family
    }

    /// Channels of this model's latents.
    pub fn latent_channels(&self) -> u32 {
        self.info.config.latent_channels as u32
    }

    /// The range of the model's image tensors.
    fn pixel_range(&self) -> PixelRange {
        match self.model {
            Model::Kl(_) => PixelRange::Signed,
            Model::Tiny(_) => PixelRange::Unit,
        }
    }

    /// Checks a latent's channels against the model's.
    fn check_latent(&self, latent: &Latent) -> Result<()> {
        latent.check()?;
        let want = self.latent_channels();
        if latent.channels != want {
            return Err(Error::Latent(format!(
                "the latent has {} channels; this {} model's latents have {want}",
                latent.channels,
                self.family()
            )));
        }
        Ok(())
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Where the load's time went.
    pub fn load_times(&self) -> LoadTimes {
        self.load_times
    }

    /// Bytes of the weights on the GPU.
    pub fn weight_bytes(&self) -> u64 {
        self.weight_bytes
    }

    /// The most GPU memory this model has held at once: its weights, activation buffers and
    /// textures, and each call's own buffers (uploads, staging, readback). What a memory budget
    /// bounds.
    pub fn peak_gpu_bytes(&self) -> u64 {
        self.weight_bytes + self.pool.gpu_peak()
    }

    /// Bytes held in activation buffers now and at most so far.
    pub fn activation_bytes(&self) -> (u64, u64) {
        self.pool.allocated()
    }

    /// Caps the bytes of any one activation buffer below the device's binding limit, so that
    /// smaller images are split into row bands too (`None`: the device's limit). The result does
    /// not change beyond f32 rounding in GroupNorm's statistics; tests use this to exercise banding.
    pub fn set_max_band_bytes(&mut self, bytes: Option<u64>) {
        self.max_band_bytes = bytes;
    }

    /// The most bytes of one activation buffer: the device's binding limit, or the max-buffer
    /// option below it.
    fn band_limit(&self) -> u64 {
        let device = self.gpu.max_binding_bytes();
        self.max_band_bytes.map_or(device, |b| b.min(device))
    }

    /// Row band starts, in latent rows, for a latent of `w × h` (see [`crate::bands`]).
    pub fn band_starts(&self, w: u32, h: u32) -> Result<Vec<u32>> {
        let device = self.gpu.max_binding_bytes();
        let (limit, allowed_by) = match self.max_band_bytes {
            Some(b) if b < device => (b, "the max-buffer option"),
            _ => (device, "this device"),
        };
        // Attention runs in these bands too (see `crate::kernels::attention`).
        let f16 = self.halves().store;
        crate::bands::starts(&self.info.config, (h, w), f16, limit, allowed_by)
    }

    /// The posterior mean (diffusers' `latent_dist.mean`), unscaled.
    pub async fn encode(&self, image: &Image) -> Result<Latent> {
        self.encode_with(image, None, CallControl::default()).await
    }

    /// A posterior sample `mean + exp(0.5·logvar)·ε`, ε from a seeded generator.
    pub async fn encode_sample(&self, image: &Image, seed: u64) -> Result<Latent> {
        self.encode_with(image, Some(seed), CallControl::default())
            .await
    }

    /// [`Vae::encode`] (or with a `seed`, [`Vae::encode_sample`]) reporting its progress to
    /// `ctl` and stopping with [`Error::Aborted`] where `ctl` asks.
    pub async fn encode_with(
        &self,
        image: &Image,
        seed: Option<u64>,
        ctl: CallControl<'_>,
    ) -> Result<Latent> {
        let (w, h) = (image.width, image.height);
        if w == 0 || h == 0 || image.rgba.len() != 4 * w as usize * h as usize {
            return Err(Error::Image(format!(
                "image of {w}×{h} needs {} RGBA bytes, got {}",
                4 * w as usize * h as usize,
                image.rgba.len()
            )));
        }
        let call = Call::Encode {
            sample: seed.is_some(),
        };
        let record = |ops, starts: &[u32]| self.encode_ops(ops, image, seed, starts);
        let Output::Values(data, (width, height)) =
            self.call(call, (w, h), record, Read::Values, ctl).await?
        else {
            return Err(Error::Input("internal: an encode read pixels".into()));
        };
        let mut latent = Latent {
            channels: self.latent_channels(),
            width,
            height,
            data,
            image_width: w,
            image_height: h,
        };
        if let Model::Tiny(_) = self.model {
            // A tiny autoencoder's latent is in diffusion space: unscale it like the big twin's.
            self.from_diffusion(&mut latent)?;
        }
        Ok(latent)
    }

    /// The tiny autoencoder's encoder or decoder, or an error naming the half the file lacks.
    fn tiny_half<'m>(half: Option<&'m TinyCoder>, which: &str) -> Result<&'m TinyCoder> {
        half.ok_or_else(|| {
            Error::Unsupported(format!(
                "this tiny autoencoder was loaded without its {which} (its file holds only the other half)"
            ))
        })
    }

    /// Records the encoder up to the latent (`[C, h, w]`, held whole): the posterior's mean or
    /// sample, or a tiny autoencoder's latent as its encoder gives it (diffusion space), with
    /// every activation in row bands starting at the latent rows `starts`.
    fn encode_ops<'a>(
        &'a self,
        mut ops: Ops<'a>,
        image: &Image,
        seed: Option<u64>,
        starts: &[u32],
    ) -> Result<(Ops<'a>, crate::gpu::Tensor)> {
        let (w, h) = (image.width, image.height);
        let (pw, ph) = (round8(w), round8(h));
        let scale = crate::bands::image_scale(&self.info.config);
        let starts: Vec<u32> = starts.iter().map(|s| s * scale).collect();
        let kl = match &self.model {
            Model::Kl(kl) => kl,
            Model::Tiny(t) => {
                let encoder = Self::tiny_half(t.encoder.as_ref(), "encoder")?;
                if seed.is_some() {
                    return Err(Error::Unsupported(
                        "a tiny autoencoder has no posterior to sample: encode gives its latent"
                            .into(),
                    ));
                }
                let range = PixelRange::Unit;
                let x = ops.image_to_tensor(&image.rgba, w, h, pw, ph, &starts, range)?;
                let z = encoder.forward(&mut ops, x)?;
                let z = ops.whole(&z)?;
                return Ok((ops, z));
            }
        };
        let x = ops.image_to_tensor(&image.rgba, w, h, pw, ph, &starts, PixelRange::Signed)?;
        let moments = kl.encode.forward(&mut ops, x)?;
        let moments = ops.whole(&moments)?;
        let z = ops.posterior(&moments, seed)?;
        Ok((ops, z))
    }

    /// Records the decoder up to its `[3, H, W]` output, in row bands starting at the latent
    /// rows `starts`.
    fn decode_ops<'a>(
        &'a self,
        mut ops: Ops<'a>,
        latent: &Latent,
        starts: &[u32],
    ) -> Result<(Ops<'a>, crate::gpu::Tensor)> {
        self.check_latent(latent)?;
        let (c, h, w) = (latent.channels, latent.height, latent.width);
        let kl = match &self.model {
            Model::Kl(kl) => kl,
            Model::Tiny(t) => {
                let decoder = Self::tiny_half(t.decoder.as_ref(), "decoder")?;
                // Into diffusion space, then DecoderTiny's clamp tanh(x/3)·3.
                let mut z = latent.clone();
                self.to_diffusion(&mut z)?;
                z.data.iter_mut().for_each(|v| *v = (*v / 3.0).tanh() * 3.0);
                let z = ops.tensor_from(c, h, w, &z.data)?;
                let z = ops.reband(&z, starts)?;
                let out = decoder.forward(&mut ops, z)?;
                return Ok((ops, out));
            }
        };
        let z = ops.tensor_from(c, h, w, &latent.data)?;
        let z = ops.reband(&z, starts)?;
        let out = kl.decode.forward(&mut ops, z)?;
        Ok((ops, out))
    }

    /// Decoded image cropped to `latent.image_width × image_height`.
    pub async fn decode(&self, latent: &Latent) -> Result<Image> {
        self.decode_with(latent, CallControl::default()).await
    }

    /// [`Vae::decode`] reporting its progress to `ctl` and stopping with [`Error::Aborted`]
    /// where `ctl` asks.
    pub async fn decode_with(&self, latent: &Latent, ctl: CallControl<'_>) -> Result<Image> {
        self.check_latent(latent)?;
        let (w, h) = (latent.image_width, latent.image_height);
        let read = Read::Pixels {
            w,
            h,
            range: self.pixel_range(),
        };
        let record = |ops, starts: &[u32]| self.decode_ops(ops, latent, starts);
        let size = (latent.width, latent.height);
        let Output::Pixels(rgba) = self.call(Call::Decode, size, record, read, ctl).await? else {
            return Err(Error::Input("internal: a decode read values".into()));
        };
        Ok(Image {
            width: w,
            height: h,
            rgba,
        })
    }

    /// The decoder output before clamping (diffusers' `decode(z).sample`), cropped likewise.
    pub async fn decode_raw(&self, latent: &Latent) -> Result<RawImage> {
        self.decode_raw_with(latent, CallControl::default()).await
    }

    /// [`Vae::decode_raw`] reporting its progress to `ctl` and stopping with
    /// [`Error::Aborted`] where `ctl` asks.
    pub async fn decode_raw_with(&self, latent: &Latent, ctl: CallControl<'_>) -> Result<RawImage> {
        self.check_latent(latent)?;
        let record = |ops, starts: &[u32]| self.decode_ops(ops, latent, starts);
        let size = (latent.width, latent.height);
        let Output::Values(full, (fw, fh)) = self
            .call(Call::Decode, size, record, Read::Values, ctl)
            .await?
        else {
            return Err(Error::Input("internal: a decode read pixels".into()));
        };
        let (fw, fh) = (fw as usize, fh as usize);
        let (w, h) = (latent.image_width as usize, latent.image_height as usize);
        let mut data = Vec::with_capacity(3 * w * h);
        for c in 0..3 {
            for y in 0..h {
                let row = (c * fh + y) * fw;
                data.extend_from_slice(&full[row..row + w]);
            }
        }
        if self.pixel_range() == PixelRange::Unit {
            // diffusers' DecoderTiny returns x·2 − 1.
            data.iter_mut().for_each(|v| *v = *v * 2.0 - 1.0);
        }
        if self.info.config.style == Style::Qwen {
            // Qwen-Image's decode ends in `clamp(out, -1, 1)`.
            data.iter_mut().for_each(|v| *v = v.clamp(-1.0, 1.0));
        }
        Ok(RawImage {
            width: w as u32,
            height: h as u32,
            data,
        })
    }
}
