//! diffusers `Encoder` and `Decoder` (`diffusers/models/autoencoders/vae.py`).

use super::blocks::{MidBlock, ResnetBlock};
use super::{Ops, WeightStore};
use crate::error::Result;
use crate::gpu::Tensor;
use crate::kernels::conv2d::{ConvMode, ConvWeights};
use crate::kernels::group_norm::NormWeights;
use crate::weights::VaeConfig;

/// One `DownEncoderBlock2D` or `UpDecoderBlock2D`: resnets, then the resampling conv (all but the last block).
pub struct Block {
    pub resnets: Vec<ResnetBlock>,
    pub resample: Option<ConvWeights>,
}

impl Block {
    fn new(
        s: &mut WeightStore,
        p: &str,
        n_resnets: usize,
        resample: Option<&str>,
    ) -> Result<Block> {
        Ok(Block {
            resnets: (0..n_resnets)
                .map(|j| ResnetBlock::new(s, &format!("{p}.resnets.{j}")))
                .collect::<Result<_>>()?,
            resample: resample
                .map(|r| s.conv(&format!("{p}.{r}.0.conv")))
                .transpose()?,
        })
    }

    fn forward(&self, ops: &mut Ops, x: Tensor, mode: ConvMode) -> Result<Tensor> {
        let mut h = x;
        for r in &self.resnets {
            h = r.forward(ops, h)?;
        }
        match &self.resample {
            Some(c) => ops.conv(&h, c, mode, None), // `h` is dropped after
            None => Ok(h),
        }
    }
}

/// image `[3, H, W]` → moments before `quant_conv` `[2·latent, H/8, W/8]`.
pub struct Encoder {
    pub conv_in: ConvWeights,
    pub down_blocks: Vec<Block>,
    pub mid_block: MidBlock,
    pub conv_norm_out: NormWeights,
    pub conv_out: ConvWeights,
}

impl Encoder {
    pub fn new(s: &mut WeightStore, p: &str, cfg: &VaeConfig) -> Result<Encoder> {
        let n = cfg.block_out_channels.len();
        Ok(Encoder {
            conv_in: s.conv(&format!("{p}.conv_in"))?,
            down_blocks: (0..n)
                .map(|i| {
                    Block::new(
                        s,
                        &format!("{p}.down_blocks.{i}"),
                        cfg.layers_per_block,
                        (i + 1 < n).then_some("downsamplers"),
                    )
                })
                .collect::<Result<_>>()?,
            mid_block: MidBlock::new(s, &format!("{p}.mid_block"))?,
            conv_norm_out: s.norm(&format!("{p}.conv_norm_out"))?,
            conv_out: s.conv(&format!("{p}.conv_out"))?,
        })
    }

    pub fn forward(&self, ops: &mut Ops, x: Tensor) -> Result<Tensor> {
        let mut h = ops.conv(&x, &self.conv_in, ConvMode::Same, None)?;
        drop(x);
        for b in &self.down_blocks {
            h = b.forward(ops, h, ConvMode::Down)?;
        }
        let h = self.mid_block.forward(ops, h)?;
        let n = ops.norm_affine(&h, &self.conv_norm_out)?;
        ops.f32_outputs(|ops| ops.conv_normed(&h, &n, true, &self.conv_out, None))
    }
}

/// latent after `post_quant_conv` `[latent, h, w]` → image `[3, 8h, 8w]` (before clamping).
pub struct Decoder {
    pub conv_in: ConvWeights,
    pub mid_block: MidBlock,
    pub up_blocks: Vec<Block>,
    pub conv_norm_out: NormWeights,
    pub conv_out: ConvWeights,
}

impl Decoder {
    pub fn new(s: &mut WeightStore, p: &str, cfg: &VaeConfig) -> Result<Decoder> {
        let n = cfg.block_out_channels.len();
        Ok(Decoder {
            conv_in: s.conv(&format!("{p}.conv_in"))?,
            mid_block: MidBlock::new(s, &format!("{p}.mid_block"))?,
            up_blocks: (0..n)
                .map(|i| {
                    Block::new(
                        s,
                        &format!("{p}.up_blocks.{i}"),
                        cfg.layers_per_block + 1,
                        (i + 1 < n).then_some("upsamplers"),
                    )
                })
                .collect::<Result<_>>()?,
            conv_norm_out: s.norm(&format!("{p}.conv_norm_out"))?,
            conv_out: s.conv(&format!("{p}.conv_out"))?,
        })
    }

    pub fn forward(&self, ops: &mut Ops, z: Tensor) -> Result<Tensor> {
        let h = ops.conv(&z, &self.conv_in, ConvMode::Same, None)?;
        drop(z);
        let mut h = self.mid_block.forward(ops, h)?;
        for b in &self.up_blocks {
            h = b.forward(ops, h, ConvMode::Up)?;
        }
        let n = ops.norm_affine(&h, &self.conv_norm_out)?;
        ops.f32_outputs(|ops| ops.conv_normed(&h, &n, true, &self.conv_out, None))
    }
}
