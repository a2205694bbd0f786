//! diffusers `AutoencoderTiny` (the TAESD family): `EncoderTiny` and `DecoderTiny` as the
//! sequence of layers `weights::tiny` lists, each ReLU fused into the convolution before it and
//! each nearest upsampling into the convolution after it.

use super::{Ops, WeightStore};
use crate::error::Result;
use crate::gpu::Tensor;
use crate::kernels::conv2d::{Activation, ConvMode, ConvWeights};
use crate::kernels::group_norm::NormWeights;
use crate::weights::tiny::{
    decoder_layers, encoder_layers, Layer, TinyConfig, POOL_EPS, POOL_GROUPS,
};

/// `AutoencoderTinyBlock`: `relu(conv(relu(conv(relu(conv(x))))) + x)` (64 → 64, so the skip
/// is the identity); TAEF2's pooled blocks add `pool(x)` to `x` first.
pub struct TinyBlock {
    pub convs: [ConvWeights; 3],
    pub pool: Option<TinyPool>,
}

/// taesd.py's `use_midblock_gn` pool: `conv1x1(relu(GroupNorm(4)(conv1x1(x))))`, both 1×1
/// convolutions without bias.
pub struct TinyPool {
    pub widen: ConvWeights,
    pub norm: NormWeights,
    pub narrow: ConvWeights,
}

impl TinyPool {
    fn new(s: &mut WeightStore, p: &str) -> Result<TinyPool> {
        let widen = s.conv_without_bias(&format!("{p}.pool.0"))?;
        let mut norm = s.norm(&format!("{p}.pool.1"))?;
        (norm.groups, norm.eps) = (POOL_GROUPS as u32, POOL_EPS);
        let narrow = s.conv_without_bias(&format!("{p}.pool.3"))?;
        Ok(TinyPool {
            widen,
            norm,
            narrow,
        })
    }

    /// `x + pool(x)`, written over `x`'s buffers. The norm is a pass of its own (with the ReLU
    /// after it), on an f32 tensor whatever the precision.
    fn add_to(&self, ops: &mut Ops, x: Tensor) -> Result<Tensor> {
        let same = ConvMode::Same;
        let wide = ops.f32_outputs(|ops| ops.conv(&x, &self.widen, same, None))?;
        let normed = ops.group_norm_relu(&wide, &self.norm)?;
        drop(wide);
        ops.conv_add(&normed, &self.narrow, same, x)
    }
}

impl TinyBlock {
    fn forward(&self, ops: &mut Ops, x: Tensor) -> Result<Tensor> {
        let x = match &self.pool {
            Some(pool) => pool.add_to(ops, x)?,
            None => x,
        };
        let (same, relu) = (ConvMode::Same, Activation::Relu);
        let h = ops.conv_act(&x, &self.convs[0], same, None, relu)?;
        let h2 = ops.conv_act(&h, &self.convs[1], same, None, relu)?;
        drop(h);
        // The sum is written over `x`'s own buffers.
        ops.conv_act(&h2, &self.convs[2], same, Some(x), relu)
    }
}

/// One step of the sequence.
pub enum Step {
    Conv(Box<ConvWeights>, ConvMode, Activation),
    Block(Box<TinyBlock>),
}

/// `EncoderTiny` or `DecoderTiny`: its steps in order.
pub struct TinyCoder {
    pub steps: Vec<Step>,
}

impl TinyCoder {
    fn new(s: &mut WeightStore, part: &str, layers: &[Layer]) -> Result<TinyCoder> {
        let mut steps = Vec::new();
        let mut upsample = false;
        for (k, layer) in layers.iter().enumerate() {
            let p = format!("{part}.layers.{k}");
            match *layer {
                Layer::Conv(_, _, bias, stride2) => {
                    let w = match bias {
                        true => s.conv(&p)?,
                        false => s.conv_without_bias(&p)?,
                    };
                    let mode = match (stride2, upsample) {
                        (true, _) => ConvMode::DownPad1,
                        (false, true) => ConvMode::Up,
                        (false, false) => ConvMode::Same,
                    };
                    upsample = false;
                    steps.push(Step::Conv(Box::new(w), mode, Activation::None));
                }
                Layer::Block(pooled) => {
                    let conv = |j: usize, s: &mut WeightStore| s.conv(&format!("{p}.conv.{j}"));
                    let convs = [conv(0, s)?, conv(2, s)?, conv(4, s)?];
                    let pool = pooled.then(|| TinyPool::new(s, &p)).transpose()?;
                    steps.push(Step::Block(Box::new(TinyBlock { convs, pool })));
                }
                Layer::Relu => match steps.last_mut() {
                    Some(Step::Conv(_, _, act)) => *act = Activation::Relu,
                    _ => {
                        return Err(crate::weights::WeightsError::Model(format!(
                            "{p}: a ReLU after no convolution"
                        ))
                        .into())
                    }
                },
                Layer::Upsample => upsample = true,
            }
        }
        Ok(TinyCoder { steps })
    }

    pub fn forward(&self, ops: &mut Ops, x: Tensor) -> Result<Tensor> {
        let mut h = x;
        let last = self.steps.len().saturating_sub(1);
        for (i, step) in self.steps.iter().enumerate() {
            let run = |ops: &mut Ops, h: Tensor| match step {
                Step::Conv(w, mode, act) => ops.conv_act(&h, w, *mode, None, *act),
                Step::Block(b) => b.forward(ops, h),
            };
            // The coder's output (a latent, an image) is f32 whatever the precision.
            h = match i == last {
                true => ops.f32_outputs(|ops| run(ops, h))?,
                false => run(ops, h)?,
            };
        }
        Ok(h)
    }
}

/// diffusers `AutoencoderTiny`, either half possibly absent (a split file holds one).
pub struct AutoencoderTiny {
    pub encoder: Option<TinyCoder>,
    pub decoder: Option<TinyCoder>,
}

impl AutoencoderTiny {
    pub fn from_store(s: &mut WeightStore, cfg: &TinyConfig) -> Result<AutoencoderTiny> {
        let latent = cfg.latent_channels;
        Ok(AutoencoderTiny {
            encoder: (cfg.encoder)
                .then(|| TinyCoder::new(s, "encoder", &encoder_layers(latent, cfg.pools)))
                .transpose()?,
            decoder: (cfg.decoder)
                .then(|| TinyCoder::new(s, "decoder", &decoder_layers(latent, cfg.pools)))
                .transpose()?,
        })
    }
}
