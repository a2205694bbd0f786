//! diffusers `AutoencoderTiny` (the TAESD family) and TAEHV on one image: `EncoderTiny` and
//! `DecoderTiny` as the sequence of layers `weights::tiny` (`weights::taehv`) lists, each ReLU
//! fused into the convolution before it and each nearest upsampling into the convolution after
//! it. TAEHV's steps see frames (`weights::frames` plans how one image runs through them).

use super::LatentStats;
use super::{Ops, WeightStore};
use crate::error::Result;
use crate::gpu::Tensor;
use crate::kernels::conv2d::{Activation, ConvMode, ConvWeights};
use crate::kernels::group_norm::NormWeights;
use crate::weights::frames::{plan, LayerPlan, Make};
use crate::weights::tiny::{Layer, TinyConfig, Video, POOL_EPS, POOL_GROUPS};
use crate::weights::{LatentNorm, VaeConfig};

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
    /// The block on `x`; a TAEHV frame's previous input `past` goes through the past half of
    /// the first conv (`relu(conv(x) + past_conv(past))`).
    fn forward(
        &self,
        ops: &mut Ops,
        x: Tensor,
        past: Option<(&Tensor, &ConvWeights)>,
    ) -> Result<Tensor> {
        let x = match &self.pool {
            Some(pool) => pool.add_to(ops, x)?,
            None => x,
        };
        let (same, relu) = (ConvMode::Same, Activation::Relu);
        let h = match past {
            None => ops.conv_act(&x, &self.convs[0], same, None, relu)?,
            Some((past, w)) => {
                let own = ops.conv(&x, &self.convs[0], same, None)?;
                ops.conv_act(past, w, same, Some(own), relu)?
            }
        };
        let h2 = ops.conv_act(&h, &self.convs[1], same, None, relu)?;
        drop(h);
        // The sum is written over `x`'s own buffers where no other frame holds them.
        ops.conv_act(&h2, &self.convs[2], same, Some(x), relu)
    }
}

/// TAEHV's `MemBlock`: a [`TinyBlock`] (its first conv the frame's own half) and the half that
/// reads the previous frame's input, where the plan gives a frame one.
pub struct MemBlock {
    pub block: TinyBlock,
    pub past: Option<ConvWeights>,
}

/// One step of the sequence.
pub enum Step {
    Conv(Box<ConvWeights>, ConvMode, Activation),
    Block(Box<TinyBlock>),
    Mem(Box<MemBlock>),
    /// TAEHV's `TPool`: one 1×1 conv per joined frame, summed.
    Pool(Vec<ConvWeights>),
    /// TAEHV's `TGrow`: one 1×1 conv per frame it grows.
    Grow(Vec<ConvWeights>),
}

impl Step {
    /// The tensors `plan` says this step makes from the step before's (None: not made). An
    /// input is freed after its last reader, and a block given its last use writes its sum over
    /// it (as with one frame).
    fn run(
        &self,
        ops: &mut Ops,
        mut inputs: Vec<Option<Tensor>>,
        plan: &LayerPlan,
    ) -> Result<Vec<Option<Tensor>>> {
        let same = ConvMode::Same;
        let mut uses = vec![0usize; inputs.len()];
        for m in plan.make.iter().flatten() {
            m.inputs().into_iter().for_each(|i| uses[i] += 1);
        }
        let mut out = Vec::with_capacity(plan.make.len());
        for m in &plan.make {
            let Some(m) = m else {
                out.push(None);
                continue;
            };
            let reads = m.inputs();
            let missing =
                || model_error("a tiny autoencoder's plan reads a tensor it did not make");
            let got = |inputs: &[Option<Tensor>], i: usize| {
                inputs.get(i).cloned().flatten().ok_or_else(missing)
            };
            // The first input, owned: taken where this is its last use.
            let first = reads[0];
            uses[first] -= 1;
            let x = match uses[first] {
                0 => inputs
                    .get_mut(first)
                    .and_then(Option::take)
                    .ok_or_else(missing)?,
                _ => got(&inputs, first)?,
            };
            let made = match (self, m) {
                (Step::Conv(w, mode, act), Make::One { .. }) => {
                    ops.conv_act(&x, w, *mode, None, *act)?
                }
                (Step::Block(b), Make::One { .. }) => b.forward(ops, x, None)?,
                (Step::Grow(parts), Make::One { part, .. }) => {
                    ops.conv(&x, &parts[*part], same, None)?
                }
                (Step::Mem(b), Make::Mem { past, .. }) => {
                    let past = match (past, &b.past) {
                        (None, _) => None,
                        (Some(p), Some(w)) => Some((got(&inputs, *p)?, w)),
                        (Some(_), None) => {
                            return Err(model_error(
                                "a MemBlock with no past half given a past frame",
                            ))
                        }
                    };
                    b.block
                        .forward(ops, x, past.as_ref().map(|(t, w)| (t, *w)))?
                }
                (Step::Pool(parts), Make::Join(group)) => {
                    let mut acc = ops.conv(&x, &parts[0], same, None)?;
                    for (&t, w) in group.iter().zip(parts).skip(1) {
                        acc = ops.conv_add(&got(&inputs, t)?, w, same, acc)?;
                    }
                    acc
                }
                _ => {
                    return Err(model_error(
                        "a tiny autoencoder's plan does not fit its step",
                    ))
                }
            };
            for &i in &reads[1..] {
                uses[i] -= 1;
                if uses[i] == 0 {
                    inputs[i] = None;
                }
            }
            out.push(Some(made));
        }
        Ok(out)
    }
}

fn model_error(text: &str) -> crate::error::Error {
    crate::weights::WeightsError::Model(text.to_string()).into()
}

/// `EncoderTiny` or `DecoderTiny` (or a TAEHV half): its steps in order, each with its plan
/// (`weights::frames`; TAEHV's encoder plans for one image repeated to its time stride).
pub struct TinyCoder {
    pub steps: Vec<(Step, LayerPlan)>,
}

impl TinyCoder {
    /// The steps of `layers`, whose tensors are `{part}.layers.{k}…` (diffusers), or with
    /// `video` TAEHV's `{part}.{k}…`.
    fn new(
        s: &mut WeightStore,
        part: &str,
        layers: &[Layer],
        video: Option<&Video>,
    ) -> Result<TinyCoder> {
        let frames = match (video, part) {
            (Some(v), "encoder") => v.frames(),
            _ => 1,
        };
        let plans = plan(layers, frames);
        let mut steps = Vec::new();
        let mut upsample = false;
        for ((k, layer), plan) in layers.iter().enumerate().zip(plans) {
            let p = match video {
                Some(_) => format!("{part}.{k}"),
                None => format!("{part}.layers.{k}"),
            };
            let three = |s: &mut WeightStore| -> Result<[ConvWeights; 3]> {
                let conv = |j: usize, s: &mut WeightStore| s.conv(&format!("{p}.conv.{j}"));
                Ok([conv(0, s)?, conv(2, s)?, conv(4, s)?])
            };
            let step = match *layer {
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
                    Step::Conv(Box::new(w), mode, Activation::None)
                }
                Layer::Block(pooled) => {
                    let convs = three(s)?;
                    let pool = pooled.then(|| TinyPool::new(s, &p)).transpose()?;
                    Step::Block(Box::new(TinyBlock { convs, pool }))
                }
                Layer::Mem(_) => {
                    let block = TinyBlock {
                        convs: three(s)?,
                        pool: None,
                    };
                    let with_past = (plan.make.iter().flatten())
                        .any(|m| matches!(m, Make::Mem { past: Some(_), .. }));
                    let past = with_past
                        .then(|| s.conv_without_bias(&format!("{p}.conv.0.past")))
                        .transpose()?;
                    Step::Mem(Box::new(MemBlock { block, past }))
                }
                Layer::Pool(_, stride) => {
                    let part = |f: usize| s.conv_without_bias(&format!("{p}.conv.frame{f}"));
                    Step::Pool((0..stride).map(part).collect::<Result<_>>()?)
                }
                // The last `run` frames' rows of the stored weight (as taehv.py keeps them). A 1×1
                // conv commutes with the nearest upsampling before it: it runs first, at a quarter
                // of the pixels, and the upsampling stays with the next conv.
                Layer::Grow(_, stored, run) => {
                    let part = |f: usize| s.conv_without_bias(&format!("{p}.conv.frame{f}"));
                    Step::Grow((stored - run..stored).map(part).collect::<Result<_>>()?)
                }
                Layer::Relu => match steps.last_mut() {
                    Some((Step::Conv(_, _, act), _)) => {
                        *act = Activation::Relu;
                        continue;
                    }
                    _ => return Err(model_error(&format!("{p}: a ReLU after no convolution"))),
                },
                Layer::Upsample => {
                    upsample = true;
                    continue;
                }
                // Applied by the host with the latent's upload.
                Layer::Clamp if k == 0 => continue,
                Layer::Clamp => {
                    return Err(model_error(&format!("{p}: a clamp inside the decoder")))
                }
            };
            steps.push((step, plan));
        }
        Ok(TinyCoder { steps })
    }

    /// The last frame of the coder's output.
    pub fn forward(&self, ops: &mut Ops, x: Tensor) -> Result<Tensor> {
        let mut tensors = vec![Some(x)];
        let last = self.steps.len().saturating_sub(1);
        for (i, (step, plan)) in self.steps.iter().enumerate() {
            // The coder's output (a latent, an image) is f32 whatever the precision.
            tensors = match i == last {
                true => ops.f32_outputs(|ops| step.run(ops, tensors, plan))?,
                false => step.run(ops, tensors, plan)?,
            };
        }
        let out = (self.steps.last())
            .and_then(|(_, plan)| plan.of.last())
            .and_then(|&i| tensors.get_mut(i)?.take());
        out.ok_or_else(|| model_error("a tiny autoencoder made no last frame"))
    }
}

/// diffusers `AutoencoderTiny` or a TAEHV, either half possibly absent (a split file holds one).
pub struct AutoencoderTiny {
    pub encoder: Option<TinyCoder>,
    pub decoder: Option<TinyCoder>,
    /// For TAEHV, its twin's latent normalisation: its latent is the normalised one, and
    /// `x · std + mean` makes it the twin's unscaled latent.
    pub latent_stats: Option<LatentStats>,
}

impl AutoencoderTiny {
    pub fn from_store(
        s: &mut WeightStore,
        cfg: &TinyConfig,
        config: &VaeConfig,
    ) -> Result<AutoencoderTiny> {
        let video = cfg.video.as_ref();
        let latent_stats = match &config.latent_norm {
            Some(LatentNorm::Channels { mean, std }) => Some(LatentStats {
                mean: mean.clone(),
                std: std.clone(),
            }),
            _ => None,
        };
        Ok(AutoencoderTiny {
            encoder: (cfg.encoder)
                .then(|| TinyCoder::new(s, "encoder", &cfg.encoder_layers(), video))
                .transpose()?,
            decoder: (cfg.decoder)
                .then(|| TinyCoder::new(s, "decoder", &cfg.decoder_layers(), video))
                .transpose()?,
            latent_stats,
        })
    }
}
