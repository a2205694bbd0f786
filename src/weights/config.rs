//! The VAE's hyper-parameters (diffusers `AutoencoderKL` config), inferred from tensor shapes, and
//! the tensors a configuration needs.
//!
//! Upstream: diffusers `models/autoencoders/autoencoder_kl.py` and `vae.py` (`Encoder`,
//! `Decoder`), `unets/unet_2d_blocks.py` (`DownEncoderBlock2D`, `UpDecoderBlock2D`,
//! `UNetMidBlock2D`).
use std::collections::HashMap;

use super::arch::kl_layers;
use super::WeightsError;

/// diffusers `AutoencoderKL` configuration (only what changes tensor shapes or outputs), and
/// `AutoencoderKLFlux2`'s (a narrower decoder, the latent normalisation).
#[derive(Clone, Debug, PartialEq)]
pub struct VaeConfig {
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
    /// FLUX.2's latent normalisation, where the weights hold its statistics.
    pub latent_norm: Option<LatentNorm>,
}

/// FLUX.2's `bn`: a `BatchNorm2d` without affine over the latent patchified 2×2 (`[4·C, h/2,
/// w/2]`), whose running statistics (`bn.running_mean`, `bn.running_var`) are among the weights.
/// The diffusion model sees `(patchify(x) − mean) / √(var + eps)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatentNorm {
    /// `batch_norm_eps` (config.json; 1e-4 in every release).
    pub eps: f32,
}

impl LatentNorm {
    /// FLUX.2's published epsilon.
    pub const DEFAULT_EPS: f32 = 1e-4;
}

impl VaeConfig {
    /// stabilityai/sdxl-vae (SD 1.x VAEs have the same shapes).
    pub fn sdxl() -> VaeConfig {
        VaeConfig {
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
            latent_norm: Some(LatentNorm {
                eps: LatentNorm::DEFAULT_EPS,
            }),
            ..VaeConfig::sdxl()
        }
    }

    /// What a diffusion model sees of a `[C, h, w]` latent: its channels and the side of the
    /// patches the latent is cut into — `(C, 1)`, or FLUX.2's `(4C, 2)`: `[4C, h/2, w/2]`.
    pub fn diffusion_layout(&self) -> (usize, usize) {
        match self.latent_norm {
            Some(_) => (4 * self.latent_channels, 2),
            None => (self.latent_channels, 1),
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
                .then_some(LatentNorm {
                    eps: LatentNorm::DEFAULT_EPS,
                }),
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

/// Every tensor `config` needs: canonical name and diffusers shape, in diffusers'
/// `state_dict()` order (as [`kl_layers`] describes the model).
pub fn expected_tensors(config: &VaeConfig) -> Vec<(String, Vec<usize>)> {
    kl_layers(config).tensors()
}

/// Total number of values in `tensors`.
pub fn param_count(tensors: &[(String, Vec<usize>)]) -> usize {
    tensors
        .iter()
        .map(|(_, shape)| shape.iter().product::<usize>())
        .sum()
}
