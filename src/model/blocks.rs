//! ResnetBlock2D and the mid-block attention.

use super::{Ops, WeightStore};
use crate::error::Result;
use crate::gpu::Tensor;
use crate::kernels::conv2d::{ConvMode, ConvWeights};
use crate::kernels::group_norm::NormWeights;

/// diffusers `ResnetBlock2D`: `shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))))))`.
pub struct ResnetBlock {
    pub norm1: NormWeights,
    pub conv1: ConvWeights,
    pub norm2: NormWeights,
    pub conv2: ConvWeights,
    /// 1×1 conv, present when the block changes the channel count.
    pub conv_shortcut: Option<ConvWeights>,
}

impl ResnetBlock {
    pub fn new(s: &mut WeightStore, p: &str) -> Result<ResnetBlock> {
        let shortcut = format!("{p}.conv_shortcut");
        Ok(ResnetBlock {
            norm1: s.norm(&format!("{p}.norm1"))?,
            conv1: s.conv(&format!("{p}.conv1"))?,
            norm2: s.norm(&format!("{p}.norm2"))?,
            conv2: s.conv(&format!("{p}.conv2"))?,
            conv_shortcut: if s.has(&format!("{shortcut}.weight")) {
                Some(s.conv(&shortcut)?)
            } else {
                None
            },
        })
    }

    /// Each GroupNorm + SiLU is applied by the following convolution as it loads its input.
    /// Takes `x` by value and holds two activations at most: `x` and `conv1`'s output. Then
    /// the shortcut, where it narrows the channels, is written over `x`'s own buffers, and
    /// `conv2`'s output is added into the shortcut's (into `x`'s without one).
    pub fn forward(&self, ops: &mut Ops, x: Tensor) -> Result<Tensor> {
        let n1 = ops.norm_affine(&x, &self.norm1)?;
        let h = ops.conv_normed(&x, &n1, true, &self.conv1, None)?;
        let shortcut = match &self.conv_shortcut {
            Some(c) if c.cout <= c.cin => ops.conv_over_input(x, c)?,
            Some(c) => ops.conv(&x, c, ConvMode::Same, None)?,
            None => x,
        };
        let n2 = ops.norm_affine(&h, &self.norm2)?;
        ops.conv_normed_add(&h, &n2, true, &self.conv2, shortcut)
    }
}

/// diffusers `Attention` as the VAE mid block uses it: GroupNorm, single head over H·W tokens,
/// output projection, residual.
pub struct Attention {
    pub group_norm: NormWeights,
    pub to_q: ConvWeights,
    pub to_k: ConvWeights,
    pub to_v: ConvWeights,
    pub to_out: ConvWeights,
}

impl Attention {
    pub fn new(s: &mut WeightStore, p: &str) -> Result<Attention> {
        Ok(Attention {
            group_norm: s.norm(&format!("{p}.group_norm"))?,
            to_q: s.conv(&format!("{p}.to_q"))?,
            to_k: s.conv(&format!("{p}.to_k"))?,
            to_v: s.conv(&format!("{p}.to_v"))?,
            to_out: s.conv(&format!("{p}.to_out.0"))?,
        })
    }

    pub fn forward(&self, ops: &mut Ops, x_bands: Tensor) -> Result<Tensor> {
        let qkv = |ops: &mut Ops, x: &Tensor| {
            let n = ops.norm_affine(x, &self.group_norm)?;
            Ok((
                ops.conv_normed(x, &n, false, &self.to_q, None)?,
                ops.conv_normed(x, &n, false, &self.to_k, None)?,
                ops.conv_normed(x, &n, false, &self.to_v, None)?,
            ))
        };
        attend(ops, x_bands, qkv, &self.to_out)
    }
}

/// Single-head attention over every token of `x_bands` with its residual:
/// `x + out(attention(qkv(x)))`, `qkv` making the (f32) queries, keys and values from `x`.
/// Attention needs every token: a row-banded `x` is gathered into one buffer where it fits one,
/// and the result split back into `x`'s bands; else it stays in its bands and attention runs
/// band by band of queries against every key (see [`crate::kernels::attention`]).
pub fn attend(
    ops: &mut Ops,
    x_bands: Tensor,
    qkv: impl FnOnce(&mut Ops, &Tensor) -> Result<(Tensor, Tensor, Tensor)>,
    out: &ConvWeights,
) -> Result<Tensor> {
    let starts = x_bands.starts();
    let x = match ops.fits_one_buffer(&x_bands) {
        true => ops.whole(&x_bands)?,
        false => x_bands.clone(),
    };
    drop(x_bands);
    let (q, k, v) = ops.f32_outputs(|ops| qkv(ops, &x))?;
    let a = ops.attention(&q, &k, &v)?;
    drop((q, k, v));
    let out = ops.conv_add(&a, out, ConvMode::Same, x)?;
    ops.reband(&out, &starts)
}
