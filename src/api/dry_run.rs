//! Recording a call without running it: buffer planning for every call, and the dry run that
//! reports what a call at a given size would need.

use super::{round8, Image, Latent, Vae, LATENT_CHANNELS};
use crate::gpu::plan::Plan;
use crate::gpu::{texture_bytes, BufferPool, Tensor};
use crate::model::Ops;
use crate::Result;
use std::sync::Arc;

/// What one encode or decode records, found by recording it without running it.
#[derive(Clone, Copy, Debug)]
pub struct DryRun {
    /// Row bands per activation.
    pub bands: usize,
    /// Compute dispatches in its one submission.
    pub dispatches: u32,
    /// Most bytes of activation buffers held at once (weights not included), the pool's
    /// textures included.
    pub peak_activation_bytes: u64,
    /// Most bytes the activations alive at one time requested, plus the textures: what a
    /// pool that never wasted a byte would hold.
    pub peak_live_bytes: u64,
}

impl Vae {
    /// Records a call twice: once only to log the buffers it asks for and when it lets go of
    /// them, then with buffers packed from that log (see [`crate::gpu::plan`]).
    pub(super) fn planned<'a, F>(
        &'a self,
        pool: &Arc<BufferPool>,
        record: F,
    ) -> Result<(Ops<'a>, Tensor, Plan)>
    where
        F: Fn(Ops<'a>) -> Result<(Ops<'a>, Tensor)>,
    {
        let (ops, t) = record(Ops::planning(&self.gpu, pool.clone(), &self.kernels)?)?;
        drop(t);
        let plan = ops.into_plan()?;
        let (ops, t) = record(Ops::planned(&self.gpu, pool.clone(), &self.kernels, &plan)?)?;
        Ok((ops, t, plan))
    }

    /// Records an encode of a `width × height` image and a decode of its latent, each with a
    /// fresh buffer pool, without running them: the bands, dispatches and activation memory a
    /// real call needs, and any validation error (such as a buffer over the device's limits).
    /// Buffers are allocated while recording and freed after.
    pub async fn dry_run(&self, width: u32, height: u32) -> Result<(DryRun, DryRun)> {
        let image = Image {
            width,
            height,
            rgba: vec![0; 4 * width as usize * height as usize],
        };
        let bands = self
            .band_starts(round8(width) / 8, round8(height) / 8)?
            .len();
        let limit = self.gpu.max_binding_bytes();
        let f16 = self.pool.f16();
        let textures = |plan: &Plan| plan.textures.map(texture_bytes).iter().sum::<u64>();
        let pool = BufferPool::new(self.gpu.device.clone(), limit);
        pool.set_f16(f16);
        let (ops, _, plan) = self.planned(&pool, |ops| self.encode_ops(ops, &image, None))?;
        let dispatches = ops.rec.dispatches;
        ops.rec.validate().await?;
        let enc = DryRun {
            bands,
            dispatches,
            peak_activation_bytes: pool.allocated().1,
            peak_live_bytes: plan.peak_live + textures(&plan),
        };
        let (lw, lh) = (round8(width) / 8, round8(height) / 8);
        let latent = Latent::new(lw, lh, vec![0.0; LATENT_CHANNELS * (lw * lh) as usize])?;
        let pool = BufferPool::new(self.gpu.device.clone(), limit);
        pool.set_f16(f16);
        let (ops, _, plan) = self.planned(&pool, |ops| self.decode_ops(ops, &latent))?;
        let dispatches = ops.rec.dispatches;
        ops.rec.validate().await?;
        let dec = DryRun {
            bands,
            dispatches,
            peak_activation_bytes: pool.allocated().1,
            peak_live_bytes: plan.peak_live + textures(&plan),
        };
        Ok((enc, dec))
    }
}
