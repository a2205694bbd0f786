//! Launcher for `group_norm_stats.wgsl` + `group_norm_apply.wgsl`: GroupNorm with optional SiLU.

use super::{groups_1d, Kernels};
use crate::gpu::{Bind, Recorder, Tensor, Weight};
use crate::{Error, Result};

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StatsParams {
    pub channels: u32,
    pub pixels: u32,
    pub groups: u32,
    pub eps: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ApplyParams {
    pub channels: u32,
    pub pixels: u32,
    pub groups: u32,
    pub silu: u32,
}

/// GroupNorm affine parameters on the GPU.
pub struct NormWeights {
    pub gamma: Weight,
    pub beta: Weight,
    pub groups: u32,
    pub eps: f32,
}

/// `GroupNorm(x)` (then `SiLU` when `silu`), as a new tensor.
pub fn group_norm(
    rec: &mut Recorder,
    kern: &Kernels,
    x: &Tensor,
    nw: &NormWeights,
    silu: bool,
) -> Result<Tensor> {
    if nw.groups == 0 || !x.c.is_multiple_of(nw.groups) || nw.gamma.len != x.c as usize {
        return Err(Error::Input(format!(
            "group_norm: {} channels, {} groups, {} scales",
            x.c, nw.groups, nw.gamma.len
        )));
    }
    let pixels = x.h * x.w;
    let stats = rec.tensor(nw.groups, 1, 2, "group norm statistics")?;
    let sp = StatsParams {
        channels: x.c,
        pixels,
        groups: nw.groups,
        eps: nw.eps,
    };
    rec.dispatch(
        &kern.group_norm_stats,
        &[Bind::Tensor(x), Bind::Tensor(&stats)],
        bytemuck::bytes_of(&sp),
        [nw.groups, 1, 1],
    );
    let out = rec.tensor(x.c, x.h, x.w, "group norm output")?;
    let ap = ApplyParams {
        channels: x.c,
        pixels,
        groups: nw.groups,
        silu: silu as u32,
    };
    let (gx, gy) = groups_1d(pixels as u64, 64);
    let binds = [
        Bind::Tensor(x),
        Bind::Tensor(&stats),
        Bind::Weight(&nw.gamma),
        Bind::Weight(&nw.beta),
        Bind::Tensor(&out),
    ];
    rec.dispatch(
        &kern.group_norm_apply,
        &binds,
        bytemuck::bytes_of(&ap),
        [gx, gy, x.c],
    );
    Ok(out)
}
