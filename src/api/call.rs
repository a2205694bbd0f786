//! The one path of every encode and decode: key → record → plan → run → read → retry.
//!
//! A call is recorded once without touching the GPU (`model::Ops::new`), its buffers are
//! packed into a plan, or kept from an earlier call of the same shape; where the plan does not
//! fit the memory budget the call is recorded again at each band size, and the banding whose
//! out-of-core schedule ([`crate::gpu::paging`]) fits moving the fewest bytes is kept — or the
//! call is refused, naming the least budget that would do.
//! Then it runs ([`Ops::run`]), its result is read back, and where an f16 activation overflowed
//! it runs once more with f32 inputs. The dry run (`estimate.rs`) is the same path, stopped
//! before running.

use super::{round8, Vae};
use crate::error::{Error, Result};
use crate::gpu::paging::schedule;
use crate::gpu::plan::Plan;
use crate::gpu::{texture_bytes, BufferPool, CallControl, Halves, Tensor};
use crate::kernels::image::PixelRange;
use crate::model::Ops;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// What one more dispatch costs an out-of-core run, in bytes moved of the same time: finer
/// row bands move fewer bytes but split each layer into more, smaller dispatches.
const DISPATCH_COST: u64 = 1 << 20;

/// Plans kept: a few call shapes (an editor alternating encodes and decodes at one size).
const PLANS_KEPT: usize = 4;

/// The call a plan is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Call {
    Encode { sample: bool },
    Decode,
}

/// What a call's plan depends on: the call, its input's size, the options that split it, and
/// the precision, which sizes the activations (the model, the device and the tuning are the
/// `Vae`'s own).
#[derive(Clone, Debug, PartialEq, Eq)]
struct PlanKey {
    call: Call,
    width: u32,
    height: u32,
    max_band: Option<u64>,
    budget: Option<u64>,
    halves: Halves,
}

/// A kept plan: its key, the row bands and band limit it was made for, the plan.
type Kept = (PlanKey, (Vec<u32>, u64), Plan);

/// The latest plans (with the row bands they were made for), newest first, and how many were
/// made.
#[derive(Default)]
pub(super) struct Plans {
    kept: Mutex<Vec<Kept>>,
    made: AtomicU32,
}

/// How a call's result leaves the GPU.
#[derive(Clone, Copy)]
pub(super) enum Read {
    /// As f32 values (`[c, h, w]`).
    Values,
    /// Converted to RGBA8 pixels of `w × h` (the decoder's output cropped).
    Pixels { w: u32, h: u32, range: PixelRange },
}

/// What a call read back.
pub(super) enum Output {
    Values(Vec<f32>, (u32, u32)),
    Pixels(Vec<u8>),
}

/// A call planned: its ops (recorded, not run), its result, its plan and what it will hold.
pub(super) struct Planned<'a> {
    pub(super) ops: Ops<'a>,
    pub(super) out: Tensor,
    pub(super) plan: Plan,
    pub(super) starts: Vec<u32>,
    /// The most bytes of one band buffer the bands were made for.
    pub(super) limit: u64,
    /// GPU bytes besides the plan's buffers: weights, textures, uploads, the result's readback.
    pub(super) fixed: u64,
}

impl Vae {
    /// The memory budget, if any (see [`Vae::set_memory_budget`]).
    pub fn memory_budget(&self) -> Option<u64> {
        match self.memory_budget.load(Ordering::Relaxed) {
            0 => None,
            b => Some(b),
        }
    }

    /// Sets the most GPU memory this model may hold at once, weights and activations together
    /// (`None`: no budget). Calls that would hold more run out of core: row bands of the
    /// activations wait in host memory and come back when a layer needs them, with the same
    /// results; a call that cannot fit at all fails before touching the GPU, naming the least
    /// budget that would do.
    pub fn set_memory_budget(&self, bytes: Option<u64>) {
        let b = bytes.unwrap_or(0);
        self.memory_budget.store(b, Ordering::Relaxed);
    }

    fn key(&self, call: Call, width: u32, height: u32) -> PlanKey {
        PlanKey {
            call,
            width,
            height,
            max_band: self.max_band_bytes,
            budget: self.memory_budget(),
            halves: self.halves(),
        }
    }

    /// The latent's size for a call on an input of `width × height` (pixels to encode, latent
    /// values to decode).
    pub(super) fn latent_size(call: Call, width: u32, height: u32) -> (u32, u32) {
        match call {
            Call::Encode { .. } => (round8(width) / 8, round8(height) / 8),
            Call::Decode => (width, height),
        }
    }

    /// Records the call in the row bands `starts`, made for band buffers of at most `limit`
    /// bytes, and plans its buffers.
    fn plan_with<'a, F>(
        &'a self,
        pool: &Arc<BufferPool>,
        (starts, limit): (&[u32], u64),
        record: &F,
        read: Read,
    ) -> Result<Planned<'a>>
    where
        F: Fn(Ops<'a>, &[u32]) -> Result<(Ops<'a>, Tensor)>,
    {
        let mut ops = Ops::new(&self.gpu, pool.clone(), &self.kernels, self.halves())?;
        ops.rec.band_limit = limit;
        let (ops, out) = record(ops, starts)?;
        let plan = ops.plan()?;
        let textures: u64 = plan.textures.map(texture_bytes).iter().sum();
        // The result's readback: a staging copy (and its overflow flag), and for pixels the
        // RGBA8 buffer as well.
        let readback = 16
            + match read {
                // Gathered into one buffer where banded, then staged.
                Read::Values => 2 * out.bytes(),
                Read::Pixels { w, h, .. } => 8 * w as u64 * h as u64,
            };
        let fixed = self.weight_bytes + textures + ops.rec.uploaded + readback;
        Ok(Planned {
            ops,
            out,
            plan,
            starts: starts.to_vec(),
            limit,
            fixed,
        })
    }

    /// Key → record → plan: the kept plan for this shape, else one made now — in core where
    /// it fits the budget, else out of core in row bands fine enough for its schedule to fit.
    pub(super) fn plan_call<'a, F>(
        &'a self,
        pool: &Arc<BufferPool>,
        call: Call,
        size: (u32, u32),
        record: F,
        read: Read,
        keep: bool,
    ) -> Result<Planned<'a>>
    where
        F: Fn(Ops<'a>, &[u32]) -> Result<(Ops<'a>, Tensor)>,
    {
        let key = self.key(call, size.0, size.1);
        let kept = (self.plans.kept.lock().ok()).and_then(|plans| {
            let found = plans.iter().find(|(k, _, _)| *k == key);
            found.map(|(_, s, p)| (s.clone(), p.clone()))
        });
        if let (Some(((starts, limit), plan)), true) = (kept, keep) {
            let planned = self.plan_with(pool, (&starts, limit), &record, read)?;
            return Ok(Planned { plan, ..planned });
        }
        let (lw, lh) = Self::latent_size(call, size.0, size.1);
        let limit = self.band_limit();
        let starts = self.band_starts(lw, lh)?;
        let mut planned = self.plan_with(pool, (&starts, limit), &record, read)?;
        if let Some(budget) = self.memory_budget() {
            let in_core = planned.fixed + planned.plan.sizes.iter().sum::<u64>();
            if in_core > budget {
                planned = self.fit_budget(pool, planned, budget, (lw, lh), &record, read, call)?;
            }
        }
        self.plans.made.fetch_add(1, Ordering::Relaxed);
        if let (true, Ok(mut plans)) = (keep, self.plans.kept.lock()) {
            plans.retain(|(k, _, _)| *k != key);
            let bands = (planned.starts.clone(), planned.limit);
            plans.insert(0, (key, bands, planned.plan.clone()));
            plans.truncate(PLANS_KEPT);
        }
        Ok(planned)
    }

    /// Re-records the call in row bands fine enough for an out-of-core schedule of it to fit
    /// the budget, trying a few band sizes and keeping the one that moves the fewest bytes; the
    /// error names the least budget any banding tried needs.
    #[allow(clippy::too_many_arguments)]
    fn fit_budget<'a, F>(
        &'a self,
        pool: &Arc<BufferPool>,
        first: Planned<'a>,
        budget: u64,
        (lw, lh): (u32, u32),
        record: &F,
        read: Read,
        call: Call,
    ) -> Result<Planned<'a>>
    where
        F: Fn(Ops<'a>, &[u32]) -> Result<(Ops<'a>, Tensor)>,
    {
        let mut best: Option<(u64, Planned<'a>)> = None;
        let mut least = u64::MAX;
        let device = self
            .gpu
            .max_binding_bytes()
            .min(self.max_band_bytes.unwrap_or(u64::MAX));
        let mut candidate = Some(first);
        // Finer bands let a schedule keep more of a tensor on the GPU between passes, and need
        // less room; too fine, and each band's work is small. Every banding from the device's
        // limit down to one latent row a band is tried.
        let f16 = self.halves().store;
        let finest = crate::bands::finest_limit(&self.info.config, lw, f16);
        let limits = (0..64)
            .map(|d| device >> d)
            .take_while(|&l| l > finest)
            .chain([finest]);
        let mut tried: Vec<Vec<u32>> = Vec::new();
        for limit in limits {
            let config = &self.info.config;
            let Ok(starts) = crate::bands::starts(config, (lh, lw), f16, limit, "the budget")
            else {
                continue;
            };
            if tried.contains(&starts) {
                continue;
            }
            tried.push(starts.clone());
            let planned = match candidate.take() {
                Some(p) if p.starts == starts => p,
                _ => self.plan_with(pool, (&starts, limit), record, read)?,
            };
            let program = planned.ops.program(&planned.out)?;
            let room = budget.saturating_sub(planned.fixed);
            let staging = crate::gpu::host::staging_bytes(&program.sizes);
            match schedule(&program, room, staging) {
                Ok(s) => {
                    let cost = s.moved + DISPATCH_COST * planned.ops.rec.dispatches as u64;
                    if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                        let mut planned = planned;
                        planned.plan.paged = Some(Arc::new(s));
                        best = Some((cost, planned));
                    }
                }
                Err(need) => least = least.min(planned.fixed + need),
            }
        }
        if let Some((_, planned)) = best {
            return Ok(planned);
        }
        let what = match call {
            Call::Encode { .. } => format!("encoding a {}×{} image", 8 * lw, 8 * lh),
            Call::Decode => format!("decoding a {lw}×{lh} latent"),
        };
        Err(Error::OverBudget {
            what,
            needed: least,
            budget,
        })
    }

    /// The whole call: plan, run (reporting to `ctl`), read the result. Where a value held as
    /// f16 exceeded f16's range, the call runs again with it f32, and so do later calls: first
    /// the activations become f32 (the convolutions still read f16 inputs), then, where an
    /// input overflows too, the textures.
    pub(super) async fn call<'a, F>(
        &'a self,
        call: Call,
        size: (u32, u32),
        record: F,
        read: Read,
        ctl: CallControl<'_>,
    ) -> Result<Output>
    where
        F: Fn(Ops<'a>, &[u32]) -> Result<(Ops<'a>, Tensor)>,
    {
        loop {
            match self.run_once(call, size, &record, read, ctl).await {
                Err(Error::F16Overflow { activation }) if self.halves().textures => {
                    let store = activation && self.halves().store;
                    let next = Halves {
                        textures: store,
                        store: false,
                    };
                    log::warn!(
                        "a value exceeded f16's range: f32 {} from now on",
                        match store {
                            true => "activations",
                            false => "activations and convolution inputs",
                        }
                    );
                    self.set_halves(next);
                }
                r => return r,
            }
        }
    }

    async fn run_once<'a, F>(
        &'a self,
        call: Call,
        size: (u32, u32),
        record: &F,
        read: Read,
        ctl: CallControl<'_>,
    ) -> Result<Output>
    where
        F: Fn(Ops<'a>, &[u32]) -> Result<(Ops<'a>, Tensor)>,
    {
        ctl.check()?;
        let p = self.plan_call(&self.pool, call, size, record, read, true)?;
        let cap = self.pool_cap(&p);
        if p.plan.paged.is_some() {
            // Textures of an earlier, larger call would count against the budget.
            self.pool.trim();
        }
        let total = p.ops.rec.kept();
        let (mut ops, out) = p.ops.run(&p.plan, ctl, cap, &p.out).await?;
        let result = match read {
            Read::Values => {
                let size = (out.w, out.h);
                Output::Values(ops.read_f32(&out).await?, size)
            }
            Read::Pixels { w, h, range } => {
                let px = ops.tensor_to_image(&out, w, h, range)?;
                drop(out);
                Output::Pixels(ops.read_bytes(&px).await?)
            }
        };
        ctl.report(total, total);
        Ok(result)
    }

    /// The most bytes the pool's buffers and textures may hold in an out-of-core run.
    fn pool_cap(&self, p: &Planned) -> u64 {
        let budget = self.memory_budget().unwrap_or(u64::MAX);
        let textures: u64 = p.plan.textures.map(texture_bytes).iter().sum();
        let staging = p.plan.paged.as_ref().map_or(0, |s| s.staging);
        budget.saturating_sub(p.fixed + staging) + textures
    }

    /// How many buffer plans calls have made (the others reused a kept one).
    #[doc(hidden)]
    pub fn plans_made(&self) -> u32 {
        self.plans.made.load(Ordering::Relaxed)
    }
}
