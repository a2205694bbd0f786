//! Launcher for `group_norm_stats.wgsl` + `group_norm_merge.wgsl` + `group_norm_apply.wgsl`:
//! GroupNorm with optional SiLU over a tensor in any number of row bands.

use super::{groups_1d, Kernels};
use crate::error::{Error, Result};
use crate::gpu::{Bind, Recorder, Tensor, Weight};

/// Elements of one group that one `group_norm_stats` workgroup reduces (its `CHUNK`).
pub const CHUNK: u32 = 4096;

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StatsParams {
    pub channels: u32,
    pub groups: u32,
    pub width: u32,
    pub rows: u32,
    pub own_row: u32,
    pub own_rows: u32,
    pub slot0: u32,
    pub slots: u32,
    /// 1 where the width is a multiple of 4: the input is read 4 values at a time.
    pub aligned: u32,
    pub _pad: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MergeParams {
    pub groups: u32,
    pub slots: u32,
    pub eps: f32,
    pub channels: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ApplyParams {
    pub channels: u32,
    pub pixels: u32,
    /// 0 none, 1 SiLU, 2 ReLU ([`NormActivation`]).
    pub act: u32,
    pub _pad: u32,
}

/// The activation a standalone GroupNorm applies after normalising.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormActivation {
    None = 0,
    Silu = 1,
    Relu = 2,
}

/// GroupNorm affine parameters on the GPU.
pub struct NormWeights {
    pub gamma: Weight,
    pub beta: Weight,
    pub groups: u32,
    pub eps: f32,
}

/// GroupNorm of `x` per channel: a `[c, 1, 4]` tensor of `(mean, a, beta, 0)` with
/// `a = rstd·gamma`, so that `GroupNorm(x)[c] = (x[c] − mean)·a + beta`. Statistics are reduced per band in chunks of
/// [`CHUNK`] elements, then merged across chunks and bands, so the result does not depend on how
/// `x` is banded beyond f32 rounding.
pub fn norm_affine(
    rec: &mut Recorder,
    kern: &Kernels,
    x: &Tensor,
    nw: &NormWeights,
) -> Result<Tensor> {
    if nw.groups == 0 || !x.c.is_multiple_of(nw.groups) || nw.gamma.len != x.c as usize {
        return Err(Error::Input(format!(
            "group_norm: {} channels, {} groups, {} scales",
            x.c, nw.groups, nw.gamma.len
        )));
    }
    let per_group = x.c / nw.groups;
    let chunks: Vec<u32> = (x.bands().iter())
        .map(|b| (per_group * (b.y1 - b.y0) * x.w).div_ceil(CHUNK))
        .collect();
    let slots: u32 = chunks.iter().sum();
    let partials = rec.tensor(nw.groups, slots, 4, "group norm partial statistics")?;
    // Each band's partials go to its own slots, whatever the order of the pass.
    let slot0s: Vec<u32> = (chunks.iter())
        .scan(0, |acc, &c| {
            *acc += c;
            Some(*acc - c)
        })
        .collect();
    for i in rec.pass(x.bands().len()) {
        let (b, slot0) = (&x.bands()[i], slot0s[i]);
        let sp = StatsParams {
            channels: x.c,
            groups: nw.groups,
            width: x.w,
            rows: b.rows,
            own_row: b.y0 - b.row0,
            own_rows: b.y1 - b.y0,
            slot0,
            slots,
            aligned: x.w.is_multiple_of(4) as u32,
            _pad: [0; 3],
        };
        let input4 = match sp.aligned {
            1 => Bind::Band(x, i),
            _ => Bind::Raw(&kern.dummy),
        };
        rec.dispatch(
            &kern.named_store("group_norm_stats", x.f16),
            &[Bind::Band(x, i), Bind::Tensor(&partials), input4],
            bytemuck::bytes_of(&sp),
            [chunks[i], nw.groups, 1],
        );
    }
    let affine = rec.tensor(x.c, 1, 4, "group norm per channel")?;
    let mp = MergeParams {
        groups: nw.groups,
        slots,
        eps: nw.eps,
        channels: x.c,
    };
    let binds = [
        Bind::Tensor(&partials),
        Bind::Weight(&nw.gamma),
        Bind::Weight(&nw.beta),
        Bind::Tensor(&affine),
    ];
    rec.dispatch(
        &kern.named("group_norm_merge"),
        &binds,
        bytemuck::bytes_of(&mp),
        [nw.groups, 1, 1],
    );
    Ok(affine)
}

/// `GroupNorm(x)` (then `act`) of an f32 `x`, as a new f32 tensor banded like `x`.
pub fn group_norm(
    rec: &mut Recorder,
    kern: &Kernels,
    x: &Tensor,
    nw: &NormWeights,
    act: NormActivation,
) -> Result<Tensor> {
    if x.f16 {
        return Err(Error::Input("group_norm: an f16 input".into()));
    }
    let affine = norm_affine(rec, kern, x, nw)?;
    // Elementwise over each band's whole buffer: halo rows that were current stay current.
    let out = rec.tensor_banded([x.c, x.h, x.w], false, &x.starts(), "group norm output")?;
    for (i, b) in x.bands().iter().enumerate() {
        let pixels = b.rows * x.w;
        let ap = ApplyParams {
            channels: x.c,
            pixels,
            act: act as u32,
            _pad: 0,
        };
        let (gx, gy) = groups_1d(pixels as u64, 64);
        let binds = [Bind::Band(x, i), Bind::Tensor(&affine), Bind::Band(&out, i)];
        rec.dispatch(
            &kern.named("group_norm_apply"),
            &binds,
            bytemuck::bytes_of(&ap),
            [gx, gy, x.c],
        );
    }
    out.set_halos_valid(x.halos_valid());
    Ok(out)
}
