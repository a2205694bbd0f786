//! Launcher for `rms_norm.wgsl`: Qwen-Image's channel RMS norm (with optional SiLU) over a
//! tensor in any number of row bands.

use super::{groups_1d, Kernels};
use crate::error::{Error, Result};
use crate::gpu::{Bind, Recorder, Tensor, Weight};

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Params {
    pub channels: u32,
    pub pixels: u32,
    pub silu: u32,
    pub _pad: u32,
}

/// `x[c] / max(‖x‖, 1e-12) · √C · gamma[c]` at every pixel (then SiLU when `silu`), as a new
/// tensor banded and stored like `x` (f32, or f16 pairs). Per pixel, so each band's buffer is
/// normalised whole: halo rows that were current stay current.
pub fn rms_norm(
    rec: &mut Recorder,
    kern: &Kernels,
    x: &Tensor,
    gamma: &Weight,
    silu: bool,
) -> Result<Tensor> {
    if gamma.len != x.c as usize {
        return Err(Error::Input(format!(
            "rms_norm: {} channels, {} scales",
            x.c, gamma.len
        )));
    }
    let out = rec.tensor_banded([x.c, x.h, x.w], x.f16, &x.starts(), "rms norm output")?;
    for (i, b) in x.bands().iter().enumerate() {
        let pixels = b.rows * x.w;
        let p = Params {
            channels: x.c,
            pixels,
            silu: silu as u32,
            _pad: 0,
        };
        let (gx, gy) = groups_1d(pixels as u64, 64);
        let binds = [Bind::Band(x, i), Bind::Weight(gamma), Bind::Band(&out, i)];
        rec.dispatch(
            &kern.named_store("rms_norm", x.f16),
            &binds,
            bytemuck::bytes_of(&p),
            [gx, gy, 1],
        );
    }
    out.set_halos_valid(x.halos_valid());
    Ok(out)
}
