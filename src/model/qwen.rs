//! Qwen-Image's modules on one frame (diffusers `autoencoder_kl_qwenimage.py`): the residual
//! block and the mid-block attention, each with channel RMS norms. (Its causal convolutions are
//! plain convolutions here: the store keeps their last temporal tap.)

use super::blocks::attend;
use super::{Ops, WeightStore};
use crate::error::Result;
use crate::gpu::{Tensor, Weight};
use crate::kernels::conv2d::{ConvMode, ConvWeights};

/// `QwenImageResidualBlock`: `shortcut(x) + conv2(silu(rms2(conv1(silu(rms1(x))))))`.
pub struct RmsResnet {
    pub norm1: Weight,
    pub conv1: ConvWeights,
    pub norm2: Weight,
    pub conv2: ConvWeights,
    /// 1×1 conv, present when the block changes the channel count.
    pub conv_shortcut: Option<ConvWeights>,
}

impl RmsResnet {
    pub fn new(s: &mut WeightStore, p: &str) -> Result<RmsResnet> {
        let shortcut = format!("{p}.conv_shortcut");
        Ok(RmsResnet {
            norm1: s.gamma(&format!("{p}.norm1"))?,
            conv1: s.conv(&format!("{p}.conv1"))?,
            norm2: s.gamma(&format!("{p}.norm2"))?,
            conv2: s.conv(&format!("{p}.conv2"))?,
            conv_shortcut: match s.has(&format!("{shortcut}.weight")) {
                true => Some(s.conv(&shortcut)?),
                false => None,
            },
        })
    }

    /// Each norm is its own pass (it needs every channel of a pixel) before the convolution
    /// that reads it; `conv2`'s output is added into the shortcut's buffers (`x`'s without one).
    pub fn forward(&self, ops: &mut Ops, x: Tensor) -> Result<Tensor> {
        let same = ConvMode::Same;
        let n1 = ops.rms_norm(&x, &self.norm1, true)?;
        let h = ops.conv(&n1, &self.conv1, same, None)?;
        drop(n1);
        let shortcut = match &self.conv_shortcut {
            Some(c) => ops.conv(&x, c, same, None)?,
            None => x,
        };
        let n2 = ops.rms_norm(&h, &self.norm2, true)?;
        drop(h);
        ops.conv_add(&n2, &self.conv2, same, shortcut)
    }
}

/// `QwenImageAttentionBlock`: RMS norm, `to_qkv` (kept as `to_q`, `to_k`, `to_v`), single head
/// over H·W tokens, `proj`, residual.
pub struct RmsAttention {
    pub norm: Weight,
    pub to_q: ConvWeights,
    pub to_k: ConvWeights,
    pub to_v: ConvWeights,
    pub proj: ConvWeights,
}

impl RmsAttention {
    pub fn new(s: &mut WeightStore, p: &str) -> Result<RmsAttention> {
        Ok(RmsAttention {
            norm: s.gamma(&format!("{p}.norm"))?,
            to_q: s.conv(&format!("{p}.to_q"))?,
            to_k: s.conv(&format!("{p}.to_k"))?,
            to_v: s.conv(&format!("{p}.to_v"))?,
            proj: s.conv(&format!("{p}.proj"))?,
        })
    }

    pub fn forward(&self, ops: &mut Ops, x_bands: Tensor) -> Result<Tensor> {
        let same = ConvMode::Same;
        let qkv = |ops: &mut Ops, x: &Tensor| {
            let n = ops.rms_norm(x, &self.norm, false)?;
            Ok((
                ops.conv(&n, &self.to_q, same, None)?,
                ops.conv(&n, &self.to_k, same, None)?,
                ops.conv(&n, &self.to_v, same, None)?,
            ))
        };
        attend(ops, x_bands, qkv, &self.proj)
    }
}
