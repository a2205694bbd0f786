//! Launcher for `posterior.wgsl`: the mean of the encoder's diagonal Gaussian, or a seeded sample.

use super::{groups_1d, Kernels};
use crate::error::{Error, Result};
use crate::gpu::{Bind, Recorder, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PosteriorParams {
    pub channels: u32,
    pub pixels: u32,
    pub sample: u32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub _pad: [u32; 3],
}

/// `[2C, h, w]` moments → `[C, h, w]` latent: the mean, or `mean + exp(½·logvar)·ε` for `Some(seed)`.
pub fn posterior(
    rec: &mut Recorder,
    kern: &Kernels,
    moments: &Tensor,
    seed: Option<u64>,
) -> Result<Tensor> {
    if !moments.c.is_multiple_of(2) || moments.f16 {
        return Err(Error::Input(format!(
            "posterior: {} moment channels (f16: {}); expected an even number, f32",
            moments.c, moments.f16
        )));
    }
    super::copy_rows::require_whole(moments, "posterior")?;
    let c = moments.c / 2;
    let pixels = moments.h * moments.w;
    let out = rec.tensor(c, moments.h, moments.w, "latent")?;
    let s = seed.unwrap_or(0);
    let p = PosteriorParams {
        channels: c,
        pixels,
        sample: seed.is_some() as u32,
        seed_lo: s as u32,
        seed_hi: (s >> 32) as u32,
        _pad: [0; 3],
    };
    let (gx, gy) = groups_1d(c as u64 * pixels as u64, 64);
    rec.dispatch(
        &kern.named("posterior"),
        &[Bind::Tensor(moments), Bind::Tensor(&out)],
        bytemuck::bytes_of(&p),
        [gx, gy, 1],
    );
    Ok(out)
}
