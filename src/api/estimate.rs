//! Planning a call without running it: what an encode and a decode at a given size would hold on
//! the GPU and, out of core, on the host, and the bytes they would move — the CLI's `bench
//! --dry-run` and JS's `vae.estimate`. The same path as a call (`call.rs`), stopped before it
//! runs.

use super::call::{Call, Read};
use super::{Image, Latent, Vae};
use crate::error::Result;
use crate::gpu::paging::least_room;
use crate::gpu::{texture_bytes, BufferPool, CallControl, Tensor};
use crate::model::Ops;

/// What one encode or decode needs, found by planning it without running it.
#[derive(Clone, Copy, Debug)]
pub struct DryRun {
    /// Row bands per activation.
    pub bands: usize,
    /// Compute dispatches it records.
    pub dispatches: u32,
    /// Most bytes of activation buffers held at once on the GPU (weights not included), the
    /// pool's textures included.
    pub peak_activation_bytes: u64,
    /// Most bytes the activations alive at one time requested, plus the textures: what a
    /// pool that never wasted a byte would hold.
    pub peak_live_bytes: u64,
    /// Most GPU memory the model holds during the call: weights, activations, textures,
    /// uploads and staging.
    pub gpu_bytes: u64,
    /// Most bytes of activations waiting in host memory at once (0 unless out of core).
    pub host_bytes: u64,
    /// Bytes copied between the GPU and the host, both ways.
    pub moved_bytes: u64,
}

impl Vae {
    /// Plans an encode of a `width × height` image and a decode of its latent to pixels, each
    /// with a fresh buffer pool, without running them: the bands, dispatches and memory each
    /// needs (on the GPU and, out of core, on the host), and any error (a buffer over the
    /// device's limits, a budget too small). In-core buffers are made while planning and freed
    /// after.
    pub async fn dry_run(&self, width: u32, height: u32) -> Result<(DryRun, DryRun)> {
        // The pixels are one buffer on the GPU, in and out: checked before a stand-in is made.
        let pixels = 4 * width as u64 * height as u64;
        self.pool.check(
            pixels,
            &format!("the RGBA pixels of a {width}×{height} image"),
        )?;
        let image = Image {
            width,
            height,
            rgba: vec![0; 4 * width as usize * height as usize],
        };
        let enc = self
            .dry_call(
                Call::Encode { sample: false },
                (width, height),
                Read::Values,
                |ops, s| self.encode_ops(ops, &image, None, s),
            )
            .await?;
        let (lw, lh) = Self::latent_size(Call::Encode { sample: false }, width, height);
        let c = self.latent_channels();
        let latent = Latent::new(c, lw, lh, vec![0.0; (c * lw * lh) as usize])?;
        let read = Read::Pixels {
            w: width,
            h: height,
            range: self.pixel_range(),
        };
        let dec = self
            .dry_call(Call::Decode, (lw, lh), read, |ops, s| {
                self.decode_ops(ops, &latent, s)
            })
            .await?;
        Ok((enc, dec))
    }

    async fn dry_call<'a, F>(
        &'a self,
        call: Call,
        size: (u32, u32),
        read: Read,
        record: F,
    ) -> Result<DryRun>
    where
        F: Fn(Ops<'a>, &[u32]) -> Result<(Ops<'a>, Tensor)>,
    {
        let pool = BufferPool::new(self.gpu.device.clone(), self.gpu.max_binding_bytes());
        let p = self.plan_call(&pool, call, size, record, read, false)?;
        let textures: u64 = p.plan.textures.map(texture_bytes).iter().sum();
        // As a call: the conversion to pixels, one dispatch a band, after the planned work.
        let dispatches = p.ops.rec.dispatches
            + match read {
                Read::Pixels { .. } => p.out.bands().len() as u32,
                Read::Values => 0,
            };
        let bands = p.starts.len();
        if let Some(s) = &p.plan.paged {
            let program = p.ops.program(&p.out)?;
            debug_assert!(least_room(&program) <= s.peak_gpu);
            return Ok(DryRun {
                bands,
                dispatches,
                peak_activation_bytes: s.peak_gpu + textures,
                peak_live_bytes: s.peak_gpu + textures,
                gpu_bytes: p.fixed + s.peak_gpu + s.staging,
                host_bytes: s.peak_host,
                moved_bytes: s.moved,
            });
        }
        // In core: the plan's buffers are made, the work encoded and checked, not submitted.
        let peak_live = p.plan.peak_live + textures;
        let staging = match read {
            Read::Values => p.out.bytes(),
            Read::Pixels { w, h, .. } => 4 * w as u64 * h as u64,
        };
        let fixed_other = self.weight_bytes + p.ops.rec.uploaded + staging;
        let (mut ops, out) = p
            .ops
            .run(&p.plan, CallControl::default(), u64::MAX, &p.out)
            .await?;
        if let Read::Pixels { w, h, range } = read {
            let px = ops.tensor_to_image(&out, w, h, range)?;
            drop((out, px));
        }
        ops.rec.validate().await?;
        let held = pool.allocated().1;
        Ok(DryRun {
            bands,
            dispatches,
            peak_activation_bytes: held,
            peak_live_bytes: peak_live,
            gpu_bytes: held + fixed_other,
            host_bytes: 0,
            moved_bytes: 0,
        })
    }
}
