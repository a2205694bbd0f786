//! The VAE's hyper-parameters (diffusers `AutoencoderKL` config and its FLUX.2 and Qwen-Image
//! kin), inferred from tensor shapes (the tensors a configuration needs: `arch`).
//!
//! Upstream: diffusers `models/autoencoders/autoencoder_kl.py` and `vae.py` (`Encoder`,
//! `Decoder`), `unets/unet_2d_blocks.py` (`DownEncoderBlock2D`, `UpDecoderBlock2D`,
//! `UNetMidBlock2D`).
use std::collections::HashMap;

use super::WeightsError;

/// diffusers `AutoencoderKL` configuration (only what changes tensor shapes or outputs), and
/// `AutoencoderKLFlux2`'s (a narrower decoder, the latent normalisation) and
/// `AutoencoderKLQwenImage`'s (its `style`).
#[derive(Clone, Debug, PartialEq)]
pub struct VaeConfig {
    /// Whose modules: `AutoencoderKL`'s or Qwen-Image's.
    pub style: Style,
    pub in_channels: usize,
    pub out_channels: usize,
    /// The encoder's blocks, and the decoder's (reversed) unless `decoder_block_out_channels`.
    pub block_out_channels: Vec<usize>,
    /// The decoder's own blocks, where they differ (FLUX.2's small decoder: 96, 192, 384, 384).
    pub decoder_block_out_channels: Option<Vec<usize>>,
    pub layers_per_block: usize,
    pub latent_channels: usize,
    /// GroupNorm groups: 32 in every released VAE; a file's shapes cannot tell.
    pub norm_num_groups: usize,
    /// Whether the 1×1 `quant_conv` follows the encoder (SD 1.x, SDXL) or not (SD3, FLUX.1).
    pub use_quant_conv: bool,
    /// Whether the 1×1 `post_quant_conv` precedes the decoder.
    pub use_post_quant_conv: bool,
    /// How the latent a diffusion model sees is normalised, where not by the family's factors.
    pub latent_norm: Option<LatentNorm>,
}

/// Whose modules a KL autoencoder is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// diffusers `AutoencoderKL` (and FLUX.2's): GroupNorm, 2-D convolutions, attention through
    /// `to_q`/`to_k`/`to_v`/`to_out.0`.
    Kl,
    /// `AutoencoderKLQwenImage` (Wan 2.1's causal video VAE) on one frame: channel RMS norms,
    /// causal 3-D convolutions (on one frame, their last temporal tap), a fused `to_qkv` and
    /// `proj`, upsampling convolutions that halve the channels, the output clamped to [-1, 1].
    Qwen,
}

/// How the latent a diffusion model sees is made from the posterior mean, beyond the factors.
#[derive(Clone, Debug, PartialEq)]
pub enum LatentNorm {
    /// FLUX.2's `bn`: a `BatchNorm2d` without affine over the latent patchified 2×2
    /// (`[4·C, h/2, w/2]`), its running statistics (`bn.running_mean`, `bn.running_var`) among the
    /// weights: `(patchify(x) − mean) / √(var + eps)`.
    Batch {
        /// `batch_norm_eps` (config.json; 1e-4 in every release).
        eps: f32,
    },
    /// Qwen-Image's per-channel statistics (config.json's `latents_mean`, `latents_std`):
    /// `(x − mean) / std`.
    Channels { mean: Vec<f32>, std: Vec<f32> },
}

impl LatentNorm {
    /// FLUX.2's published epsilon.
    pub const DEFAULT_EPS: f32 = 1e-4;

    /// FLUX.2's, with the published epsilon.
    pub fn flux2() -> LatentNorm {
        LatentNorm::Batch {
            eps: LatentNorm::DEFAULT_EPS,
        }
    }

    /// Qwen-Image's published statistics (diffusers' `AutoencoderKLQwenImage` defaults, the
    /// values of its config.json).
    pub fn qwen_image() -> LatentNorm {
        LatentNorm::Channels {
            mean: vec![
                -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134,
                -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
            ],
            std: vec![
                2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526,
                2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160,
            ],
        }
    }
}

impl VaeConfig {
    /// stabilityai/sdxl-vae (SD 1.x VAEs have the same shapes).
    pub fn sdxl() -> VaeConfig {
        VaeConfig {
            style: Style::Kl,
            in_channels: 3,
            out_channels: 3,
            block_out_channels: vec![128, 256, 512, 512],
            decoder_block_out_channels: None,
            layers_per_block: 2,
            latent_channels: 4,
            norm_num_groups: 32,
            use_quant_conv: true,
            use_post_quant_conv: true,
            latent_norm: None,
        }
    }

    /// The 16-channel VAE of SD3 and FLUX.1: SDXL's blocks, no quant convs.
    pub fn kl16() -> VaeConfig {
        VaeConfig {
            latent_channels: 16,
            use_quant_conv: false,
            use_post_quant_conv: false,
            ..VaeConfig::sdxl()
        }
    }

    /// FLUX.2's VAE: SDXL's blocks, 32 latent channels, quant convs, the latent normalisation;
    /// with `small_decoder`, the decoder of FLUX.2 [klein]'s small variant.
    pub fn flux2(small_decoder: bool) -> VaeConfig {
        VaeConfig {
            latent_channels: 32,
            decoder_block_out_channels: small_decoder.then(|| vec![96, 192, 384, 384]),
            latent_norm: Some(LatentNorm::flux2()),
            ..VaeConfig::sdxl()
        }
    }

    /// Qwen-Image's VAE (Wan 2.1's): base width 96 × (1, 2, 4, 4), two resnets a block, 16
    /// latent channels.
    pub fn qwen_image() -> VaeConfig {
        VaeConfig {
            style: Style::Qwen,
            block_out_channels: vec![96, 192, 384, 384],
            latent_channels: 16,
            norm_num_groups: 0,
            latent_norm: Some(LatentNorm::qwen_image()),
            ..VaeConfig::sdxl()
        }
    }

    /// What a diffusion model sees of a `[C, h, w]` latent: its channels and the side of the
    /// patches the latent is cut into — `(C, 1)`, or FLUX.2's `(4C, 2)`: `[4C, h/2, w/2]`.
    pub fn diffusion_layout(&self) -> (usize, usize) {
        match self.latent_norm {
            Some(LatentNorm::Batch { .. }) => (4 * self.latent_channels, 2),
            _ => (self.latent_channels, 1),
        }
    }

    /// The decoder's blocks, finest first.
    pub fn decoder_blocks(&self) -> &[usize] {
        self.decoder_block_out_channels
            .as_deref()
            .unwrap_or(&self.block_out_channels)
    }

    /// Infers the configuration from canonical (diffusers) names and shapes. Only reads the
    /// shapes that define it; [`expected_tensors`] then checks every tensor against it.
    pub fn infer(shapes: &HashMap<String, Vec<usize>>) -> Result<VaeConfig, WeightsError> {
        if shapes
            .get("encoder.conv_in.weight")
            .is_some_and(|s| s.len() == 5)
        {
            return VaeConfig::infer_qwen(shapes);
        }
        let resnet_conv1 =
            |i: usize, j: usize| format!("encoder.down_blocks.{i}.resnets.{j}.conv1.weight");
        let n_blocks = (0..)
            .take_while(|&i| shapes.contains_key(&resnet_conv1(i, 0)))
            .count();
        if n_blocks == 0 {
            return Err(WeightsError::CannotInferConfig(format!(
                "no {} (is this a VAE?)",
                resnet_conv1(0, 0)
            )));
        }
        let block_out_channels = (0..n_blocks)
            .map(|i| dim(shapes, &resnet_conv1(i, 0), 0))
            .collect::<Result<Vec<_>, _>>()?;
        let layers_per_block = (0..)
            .take_while(|&j| shapes.contains_key(&resnet_conv1(0, j)))
            .count();
        // The decoder's blocks run reversed: up block k has block n − 1 − k's channels.
        let decoder_blocks = (0..n_blocks)
            .rev()
            .map(|k| {
                dim(
                    shapes,
                    &format!("decoder.up_blocks.{k}.resnets.0.conv1.weight"),
                    0,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let decoder_block_out_channels =
            (decoder_blocks != block_out_channels).then_some(decoder_blocks);
        Ok(VaeConfig {
            in_channels: dim(shapes, "encoder.conv_in.weight", 1)?,
            out_channels: dim(shapes, "decoder.conv_out.weight", 0)?,
            block_out_channels,
            decoder_block_out_channels,
            layers_per_block,
            latent_channels: dim(shapes, "decoder.conv_in.weight", 1)?,
            norm_num_groups: 32,
            use_quant_conv: shapes.contains_key("quant_conv.weight"),
            use_post_quant_conv: shapes.contains_key("post_quant_conv.weight"),
            latent_norm: shapes
                .contains_key("bn.running_mean")
                .then(LatentNorm::flux2),
            style: Style::Kl,
        })
    }

    /// [`VaeConfig::infer`] for Qwen-Image's VAE (its causal convolutions' 5-D weights tell it):
    /// the blocks from the decoder's (run reversed), the resnets a block from its first up block.
    fn infer_qwen(shapes: &HashMap<String, Vec<usize>>) -> Result<VaeConfig, WeightsError> {
        let up_conv1 =
            |k: usize, j: usize| format!("decoder.up_blocks.{k}.resnets.{j}.conv1.weight");
        let n_blocks = (0..)
            .take_while(|&k| shapes.contains_key(&up_conv1(k, 0)))
            .count();
        let resnets = (0..)
            .take_while(|&j| shapes.contains_key(&up_conv1(0, j)))
            .count();
        if n_blocks < 2 || resnets < 2 {
            return Err(WeightsError::CannotInferConfig(format!(
                "a Qwen-Image VAE with {n_blocks} up blocks of {resnets} resnets"
            )));
        }
        let mut block_out_channels = (0..n_blocks)
            .map(|k| dim(shapes, &up_conv1(k, 0), 0))
            .collect::<Result<Vec<_>, _>>()?;
        block_out_channels.reverse();
        let base = dim(shapes, "encoder.conv_in.weight", 0)?;
        if base != block_out_channels[0] {
            return Err(WeightsError::CannotInferConfig(format!(
                "a Qwen-Image VAE whose first block ({}) is not its base width ({base})",
                block_out_channels[0]
            )));
        }
        Ok(VaeConfig {
            style: Style::Qwen,
            in_channels: dim(shapes, "encoder.conv_in.weight", 1)?,
            out_channels: dim(shapes, "decoder.conv_out.weight", 0)?,
            block_out_channels,
            decoder_block_out_channels: None,
            layers_per_block: resnets - 1,
            latent_channels: dim(shapes, "decoder.conv_in.weight", 1)?,
            norm_num_groups: 0,
            use_quant_conv: true,
            use_post_quant_conv: true,
            latent_norm: Some(LatentNorm::qwen_image()),
        })
    }
}

/// Dimension `axis` of tensor `name`, or why it cannot be had.
fn dim(
    shapes: &HashMap<String, Vec<usize>>,
    name: &str,
    axis: usize,
) -> Result<usize, WeightsError> {
    let shape = shapes
        .get(name)
        .ok_or_else(|| WeightsError::CannotInferConfig(format!("no {name}")))?;
    shape.get(axis).copied().ok_or_else(|| {
        WeightsError::CannotInferConfig(format!("{name} has shape {shape:?}, needs axis {axis}"))
    })
}
