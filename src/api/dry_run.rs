//! Recording a call without running it: buffer planning for every call, and the dry run that
//! reports what a call at a given size would need.

use super::{round8, Image, Latent, Vae};
use crate::error::Result;
use crate::gpu::plan::Plan;
use crate::gpu::{texture_bytes, BufferPool, Tensor};
use crate::model::Ops;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Plans kept: a few call shapes (an editor alternating encodes and decodes at one size).
const PLANS_KEPT: usize = 4;

/// The call a plan is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Call {
    Encode { sample: bool },
    Decode,
}

/// What a call's buffer plan depends on: the call, its input's size and its row bands (the
/// model, the device and the tuning are the `Vae`'s own; the f16 state changes only texture
/// formats, which the pool makes as they are asked for).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PlanKey {
    call: Call,
    width: u32,
    height: u32,
    starts: Vec<u32>,
}

/// The latest plans, newest first, and how many were made.
#[derive(Default)]
pub(super) struct Plans {
    kept: Mutex<Vec<(PlanKey, Plan)>>,
    made: AtomicU32,
}

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
    /// The key of a call on an input of `width × height` (pixels to encode, latent values to
    /// decode).
    pub(super) fn plan_key(&self, call: Call, width: u32, height: u32) -> Result<PlanKey> {
        let (lw, lh) = match call {
            Call::Encode { .. } => (round8(width) / 8, round8(height) / 8),
            Call::Decode => (width, height),
        };
        Ok(PlanKey {
            call,
            width,
            height,
            starts: self.band_starts(lw, lh)?,
        })
    }

    /// Records a call once — logging the buffers it asks for and when it lets go of them, and
    /// keeping its work — then encodes that work onto buffers packed from a plan (see
    /// [`crate::gpu::plan`]): the plan kept for `key` (an earlier call of the same shape, or the
    /// same call before an f16 overflow made it run again), else one made from the log.
    pub(super) fn planned<'a, F>(
        &'a self,
        pool: &Arc<BufferPool>,
        key: Option<PlanKey>,
        record: F,
    ) -> Result<(Ops<'a>, Tensor, Plan)>
    where
        F: FnOnce(Ops<'a>) -> Result<(Ops<'a>, Tensor)>,
    {
        let (ops, t) = record(Ops::planning(&self.gpu, pool.clone(), &self.kernels)?)?;
        let kept = |k: &PlanKey| {
            let plans = self.plans.kept.lock().ok()?;
            plans.iter().find(|(c, _)| c == k).map(|(_, p)| p.clone())
        };
        let plan = match key.as_ref().and_then(kept) {
            Some(plan) => plan,
            None => {
                let plan = ops.plan()?;
                self.plans.made.fetch_add(1, Ordering::Relaxed);
                if let (Some(key), Ok(mut plans)) = (key, self.plans.kept.lock()) {
                    plans.retain(|(k, _)| *k != key);
                    plans.insert(0, (key, plan.clone()));
                    plans.truncate(PLANS_KEPT);
                }
                plan
            }
        };
        let (ops, t) = ops.realize(&plan, &t)?;
        Ok((ops, t, plan))
    }

    /// How many buffer plans calls have made (the others reused a kept one).
    #[doc(hidden)]
    pub fn plans_made(&self) -> u32 {
        self.plans.made.load(Ordering::Relaxed)
    }

    /// Records an encode of a `width × height` image and a decode of its latent to pixels, each
    /// with a fresh buffer pool, without running them: the bands, dispatches and activation
    /// memory a real call needs, and any validation error (such as a buffer over the device's
    /// limits). Buffers are allocated while recording and freed after.
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
        let (ops, _, plan) = self.planned(&pool, None, |ops| self.encode_ops(ops, &image, None))?;
        let dispatches = ops.rec.dispatches;
        ops.rec.validate().await?;
        let enc = DryRun {
            bands,
            dispatches,
            peak_activation_bytes: pool.allocated().1,
            peak_live_bytes: plan.peak_live + textures(&plan),
        };
        let (lw, lh) = (round8(width) / 8, round8(height) / 8);
        let c = self.latent_channels();
        let latent = Latent::new(c, lw, lh, vec![0.0; (c * lw * lh) as usize])?;
        let pool = BufferPool::new(self.gpu.device.clone(), limit);
        pool.set_f16(f16);
        let (mut ops, out, plan) =
            self.planned(&pool, None, |ops| self.decode_ops(ops, &latent))?;
        // As `decode`: the decoder's output converted to the image's pixels.
        let px = ops.tensor_to_image(&out, width, height, self.pixel_range())?;
        drop((out, px));
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
