//! Launcher for `attention.wgsl`: single-head attention with an online softmax.

use super::{groups_1d, Kernels};
use crate::gpu::{Bind, Recorder, Tensor};
use crate::{Error, Result};

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AttentionParams {
    pub channels: u32,
    pub tokens: u32,
    pub scale: f32,
    pub _pad: u32,
}

/// Most channels the kernel holds per query (its `MAX_C`).
pub const MAX_CHANNELS: u32 = 1024;

/// `softmax(qᵀk / √C) v` over the H·W tokens of `[C, H, W]` tensors, as a new `[C, H, W]` tensor.
pub fn attention(
    rec: &mut Recorder,
    kern: &Kernels,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
) -> Result<Tensor> {
    let shape = (q.c, q.h, q.w);
    if (k.c, k.h, k.w) != shape || (v.c, v.h, v.w) != shape || q.c > MAX_CHANNELS {
        return Err(Error::Input(format!(
            "attention: q {shape:?}, k {:?}, v {:?} (≤ {MAX_CHANNELS} channels)",
            (k.c, k.h, k.w),
            (v.c, v.h, v.w)
        )));
    }
    for t in [q, k, v] {
        super::copy_rows::require_whole(t, "attention")?;
    }
    let tokens = q.h * q.w;
    let out = rec.tensor(q.c, q.h, q.w, "attention output")?;
    let p = AttentionParams {
        channels: q.c,
        tokens,
        scale: 1.0 / (q.c as f32).sqrt(),
        _pad: 0,
    };
    let (gx, gy) = groups_1d(tokens as u64, 1);
    let binds = [
        Bind::Tensor(q),
        Bind::Tensor(k),
        Bind::Tensor(v),
        Bind::Tensor(&out),
    ];
    rec.dispatch(&kern.attention, &binds, bytemuck::bytes_of(&p), [gx, gy, 1]);
    Ok(out)
}
