//! A KL autoencoder's encode and decode paths, module by module as [`crate::weights::arch`]
//! describes them (diffusers' `Encoder` and `Decoder`, `diffusers/models/autoencoders/vae.py`;
//! Qwen-Image's in [`super::qwen`]).

use super::blocks::{Attention, ResnetBlock};
use super::qwen::{RmsAttention, RmsResnet};
use super::{Ops, WeightStore};
use crate::error::Result;
use crate::gpu::{Tensor, Weight};
use crate::kernels::conv2d::{ConvMode, ConvWeights};
use crate::kernels::group_norm::NormWeights;
use crate::weights::arch::{Layer, Resample};
use crate::weights::Style;

/// One module of a path, with its weights.
pub enum Step {
    Conv(Box<ConvWeights>, ConvMode),
    Resnet(Box<ResnetBlock>),
    Attention(Box<Attention>),
    /// `conv_norm_out` (GroupNorm, SiLU) then `conv_out`.
    NormConv(Box<NormWeights>, Box<ConvWeights>),
    /// Qwen-Image's modules.
    RmsResnet(Box<RmsResnet>),
    RmsAttention(Box<RmsAttention>),
    /// `norm_out` (RMS norm, SiLU) then `conv_out`.
    RmsNormConv(Box<Weight>, Box<ConvWeights>),
}

impl Step {
    /// `layer`'s module, its weights taken from `s`.
    fn new(s: &mut WeightStore, layer: &Layer) -> Result<Step> {
        let (kl, qwen) = (Style::Kl, Style::Qwen);
        Ok(match layer {
            Layer::Conv { name, resample, .. } => {
                let mode = match resample {
                    Resample::Same => ConvMode::Same,
                    Resample::Down => ConvMode::Down,
                    Resample::Up => ConvMode::Up,
                };
                Step::Conv(Box::new(s.conv(name)?), mode)
            }
            Layer::Resnet { name, style, .. } if *style == kl => {
                Step::Resnet(Box::new(ResnetBlock::new(s, name)?))
            }
            Layer::Resnet { name, .. } => Step::RmsResnet(Box::new(RmsResnet::new(s, name)?)),
            Layer::Attention { name, style, .. } if *style == qwen => {
                Step::RmsAttention(Box::new(RmsAttention::new(s, name)?))
            }
            Layer::Attention { name, .. } => Step::Attention(Box::new(Attention::new(s, name)?)),
            Layer::NormConv {
                norm, conv, style, ..
            } if *style == qwen => {
                Step::RmsNormConv(Box::new(s.gamma(norm)?), Box::new(s.conv(conv)?))
            }
            Layer::NormConv { norm, conv, .. } => {
                Step::NormConv(Box::new(s.norm(norm)?), Box::new(s.conv(conv)?))
            }
        })
    }
}

/// An encode path (image `[3, H, W]` → moments `[2·latent, H/8, W/8]`, `quant_conv` included)
/// or a decode path (latent → image `[3, 8h, 8w]` before clamping, `post_quant_conv` included).
pub struct KlPath {
    pub steps: Vec<Step>,
}

impl KlPath {
    /// The modules of `layers`, their weights taken from `s`.
    pub fn new(s: &mut WeightStore, layers: &[Layer]) -> Result<KlPath> {
        let steps = (layers.iter())
            .map(|layer| Step::new(s, layer))
            .collect::<Result<_>>()?;
        Ok(KlPath { steps })
    }

    /// Runs the path on `x`. Each GroupNorm + SiLU is applied by the convolution after it as it
    /// loads its input (an RMS norm is a pass of its own); from the half's last norm on
    /// (`conv_out`, `quant_conv`), outputs are f32 whatever the precision: they are the moments
    /// or the image.
    pub fn forward(&self, ops: &mut Ops, x: Tensor) -> Result<Tensor> {
        let mut h = x;
        let mut f32_outputs = false;
        for step in &self.steps {
            h = match step {
                Step::Conv(c, mode) if f32_outputs => {
                    ops.f32_outputs(|ops| ops.conv(&h, c, *mode, None))?
                }
                Step::Conv(c, mode) => ops.conv(&h, c, *mode, None)?, // `h` is dropped after
                Step::Resnet(r) => r.forward(ops, h)?,
                Step::Attention(a) => a.forward(ops, h)?,
                Step::NormConv(norm, conv) => {
                    f32_outputs = true;
                    let n = ops.norm_affine(&h, norm)?;
                    ops.f32_outputs(|ops| ops.conv_normed(&h, &n, true, conv, None))?
                }
                Step::RmsResnet(r) => r.forward(ops, h)?,
                Step::RmsAttention(a) => a.forward(ops, h)?,
                Step::RmsNormConv(gamma, conv) => {
                    f32_outputs = true;
                    let n = ops.rms_norm(&h, gamma, true)?;
                    drop(h);
                    ops.f32_outputs(|ops| ops.conv(&n, conv, ConvMode::Same, None))?
                }
            };
        }
        Ok(h)
    }
}
