//! What the model can ask of the GPU, recorded into one submission.

use crate::error::Result;
use crate::gpu::plan::Plan;
use crate::gpu::{BufferPool, CallControl, Gpu, Halves, Recorder, Tensor, Weight};
use crate::kernels::conv2d::{
    conv2d, conv2d_act, conv2d_over_input, conv2d_to, Activation, ConvMode, ConvWeights, Dest,
    InputNorm,
};
use crate::kernels::group_norm::{group_norm, norm_affine, NormActivation, NormWeights};
use crate::kernels::image::PixelRange;
use crate::kernels::rms_norm::rms_norm;
use crate::kernels::{attention, copy_rows, image, posterior, Kernels};
use std::sync::Arc;

pub struct Ops<'a> {
    pub(crate) rec: Recorder<'a>,
    kern: &'a Kernels,
}

impl<'a> Ops<'a> {
    /// The ops of one call run at `halves` (which operands are f16): they log their buffer
    /// requests and keep their work, which runs on planned buffers when the call is run
    /// ([`Ops::run`]) or, with no plan of the caller's own, when a result is read.
    pub fn new(
        gpu: &'a Gpu,
        pool: Arc<BufferPool>,
        kern: &'a Kernels,
        halves: Halves,
    ) -> Result<Ops<'a>> {
        Ok(Ops {
            rec: Recorder::new(gpu, pool, halves)?,
            kern,
        })
    }

    /// The buffer plan of ops not run yet (tensors still held are alive to the end).
    pub fn plan(&self) -> Result<Plan> {
        self.rec.plan()
    }

    /// The kept work of planning ops as the out-of-core scheduler sees it, `t` its result.
    pub fn program(&self, t: &Tensor) -> Result<crate::gpu::paging::Program> {
        self.rec.program(t)
    }

    /// The ops' work run on the buffers of `plan` (see [`Recorder::run`]), and `t` over them.
    pub async fn run(
        self,
        plan: &Plan,
        ctl: CallControl<'_>,
        cap: u64,
        t: &Tensor,
    ) -> Result<(Ops<'a>, Tensor)> {
        let rec = self.rec.run(plan, ctl, cap).await?;
        let t = rec.resolve(t)?;
        Ok((
            Ops {
                rec,
                kern: self.kern,
            },
            t,
        ))
    }

    /// `f` with the activations it makes held as f32 whatever the precision: the model's
    /// outputs (moments, latents, images) and attention's operands, which its kernels read as
    /// f32.
    pub fn f32_outputs<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let store_f16 = std::mem::replace(&mut self.rec.store_f16, false);
        let r = f(self);
        self.rec.store_f16 = store_f16;
        r
    }

    /// Qwen-Image's channel RMS norm of `x` (then SiLU when `silu`), stored like `x`.
    pub fn rms_norm(&mut self, x: &Tensor, gamma: &Weight, silu: bool) -> Result<Tensor> {
        rms_norm(&mut self.rec, self.kern, x, gamma, silu)
    }

    pub fn conv(
        &mut self,
        x: &Tensor,
        w: &ConvWeights,
        mode: ConvMode,
        residual: Option<&Tensor>,
    ) -> Result<Tensor> {
        conv2d(&mut self.rec, self.kern, x, None, w, mode, residual)
    }

    /// `conv(GroupNorm(x)) (+ residual)`, with SiLU after the norm when `silu`; `affine` is
    /// from [`Ops::norm_affine`]. The normalised tensor is never stored: the convolution
    /// normalises its input as it loads it.
    pub fn conv_normed(
        &mut self,
        x: &Tensor,
        affine: &Tensor,
        silu: bool,
        w: &ConvWeights,
        residual: Option<&Tensor>,
    ) -> Result<Tensor> {
        let norm = Some(InputNorm { affine, silu });
        conv2d(
            &mut self.rec,
            self.kern,
            x,
            norm,
            w,
            ConvMode::Same,
            residual,
        )
    }

    /// `conv(x) + acc`, written into `acc`'s buffers (the sum is the same tensor) when nothing
    /// else holds them: no buffer is taken for the output.
    pub fn conv_add(
        &mut self,
        x: &Tensor,
        w: &ConvWeights,
        mode: ConvMode,
        acc: Tensor,
    ) -> Result<Tensor> {
        let d = Dest::AddTo(acc);
        conv2d_to(&mut self.rec, self.kern, x, None, w.as_ref(), mode, d)
    }

    /// [`Ops::conv_normed`] with the residual `acc` added in place, as [`Ops::conv_add`].
    pub fn conv_normed_add(
        &mut self,
        x: &Tensor,
        affine: &Tensor,
        silu: bool,
        w: &ConvWeights,
        acc: Tensor,
    ) -> Result<Tensor> {
        let norm = Some(InputNorm { affine, silu });
        let (d, m) = (Dest::AddTo(acc), ConvMode::Same);
        conv2d_to(&mut self.rec, self.kern, x, norm, w.as_ref(), m, d)
    }

    /// A 1×1 convolution that does not widen `x`, written over `x`'s own buffers where it can
    /// (see [`conv2d_over_input`]): `x` is consumed either way.
    pub fn conv_over_input(&mut self, x: Tensor, w: &ConvWeights) -> Result<Tensor> {
        conv2d_over_input(&mut self.rec, self.kern, x, w.as_ref())
    }

    /// GroupNorm of `x` per channel: `[c, 1, 4]` of (mean, rstd·gamma, beta, 0).
    pub fn norm_affine(&mut self, x: &Tensor, n: &NormWeights) -> Result<Tensor> {
        norm_affine(&mut self.rec, self.kern, x, n)
    }

    pub fn group_norm(&mut self, x: &Tensor, n: &NormWeights, silu: bool) -> Result<Tensor> {
        let act = match silu {
            true => NormActivation::Silu,
            false => NormActivation::None,
        };
        group_norm(&mut self.rec, self.kern, x, n, act)
    }

    /// `relu(GroupNorm(x))` of an f32 `x` (TAEF2's pools).
    pub fn group_norm_relu(&mut self, x: &Tensor, n: &NormWeights) -> Result<Tensor> {
        group_norm(&mut self.rec, self.kern, x, n, NormActivation::Relu)
    }

    pub fn attention(&mut self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        attention::attention(&mut self.rec, self.kern, q, k, v)
    }

    /// The image as a `[3, pad_h, pad_w]` tensor in row bands starting at `starts`.
    #[allow(clippy::too_many_arguments)]
    pub fn image_to_tensor(
        &mut self,
        rgba: &[u8],
        w: u32,
        h: u32,
        pad_w: u32,
        pad_h: u32,
        starts: &[u32],
        range: PixelRange,
    ) -> Result<Tensor> {
        let (rec, k) = (&mut self.rec, self.kern);
        image::image_to_tensor(rec, k, rgba, w, h, pad_w, pad_h, starts, range)
    }

    /// Whether `t` fits one buffer of this call (the binding limit, or the call's finer band
    /// limit).
    pub fn fits_one_buffer(&self, t: &Tensor) -> bool {
        t.bytes() <= self.rec.band_limit.min(self.rec.pool.max_binding())
    }

    /// `t` in one buffer (itself if it already is).
    pub fn whole(&mut self, t: &Tensor) -> Result<Tensor> {
        copy_rows::whole(&mut self.rec, self.kern, t)
    }

    /// `t` in row bands starting at `starts` (itself if it already is).
    pub fn reband(&mut self, t: &Tensor, starts: &[u32]) -> Result<Tensor> {
        copy_rows::reband(&mut self.rec, self.kern, t, starts)
    }

    pub fn tensor_to_image(
        &mut self,
        x: &Tensor,
        w: u32,
        h: u32,
        range: PixelRange,
    ) -> Result<Tensor> {
        image::tensor_to_image(&mut self.rec, self.kern, x, w, h, range)
    }

    /// `act(conv(x) + bias + residual)`, into the residual's buffers where nothing else holds
    /// them.
    pub fn conv_act(
        &mut self,
        x: &Tensor,
        w: &ConvWeights,
        mode: ConvMode,
        residual: Option<Tensor>,
        act: Activation,
    ) -> Result<Tensor> {
        conv2d_act(&mut self.rec, self.kern, x, w.as_ref(), mode, residual, act)
    }

    pub fn posterior(&mut self, moments: &Tensor, seed: Option<u64>) -> Result<Tensor> {
        posterior::posterior(&mut self.rec, self.kern, moments, seed)
    }

    /// A tensor holding `data` (`[c, h, w]`), in one buffer. The values are copied in by the
    /// command stream (not `queue.write_buffer`, which would run before commands recorded
    /// earlier that may still use the pooled buffer).
    pub fn tensor_from(&mut self, c: u32, h: u32, w: u32, data: &[f32]) -> Result<Tensor> {
        let t = self.rec.tensor(c, h, w, "input")?;
        self.rec.copy_in(bytemuck::cast_slice(data), &t);
        Ok(t)
    }

    /// [`Ops::tensor_from`] held as f16 pairs (the values rounded to f16).
    pub fn tensor_from_f16(&mut self, c: u32, h: u32, w: u32, data: &[f32]) -> Result<Tensor> {
        let t = self.rec.tensor_banded([c, h, w], true, &[0], "input")?;
        let words = crate::gpu::pack_f16(data, c as usize, h as usize * w as usize);
        self.rec.copy_in(bytemuck::cast_slice(&words), &t);
        Ok(t)
    }

    /// The ops run (on their own plan where they have not run yet), and `t` over their
    /// buffers.
    async fn ran(self, t: &Tensor) -> Result<(Ops<'a>, Tensor)> {
        match self.rec.is_planning() {
            true => {
                let plan = self.plan()?;
                self.run(&plan, CallControl::default(), u64::MAX, t).await
            }
            false => Ok((self, t.clone())),
        }
    }

    /// Submits the recorded work and reads `t` back (`[c, h, w]`, bands gathered).
    pub async fn read_f32(self, t: &Tensor) -> Result<Vec<f32>> {
        let (mut ops, t) = self.ran(t).await?;
        let t = ops.whole(&t)?;
        ops.rec.finish_f32(&t).await
    }

    /// Submits the recorded work and reads the raw bytes of `t` (held whole) back.
    pub async fn read_bytes(self, t: &Tensor) -> Result<Vec<u8>> {
        copy_rows::require_whole(t, "read_bytes")?;
        let (ops, t) = self.ran(t).await?;
        ops.rec.finish_bytes(t.buffer(), t.bytes()).await
    }
}
