//! The VAE's hyper-parameters (diffusers `AutoencoderKL` config), inferred from tensor shapes, and
//! the tensors a configuration needs.
//!
//! Upstream: diffusers `models/autoencoders/autoencoder_kl.py` and `vae.py` (`Encoder`,
//! `Decoder`), `unets/unet_2d_blocks.py` (`DownEncoderBlock2D`, `UpDecoderBlock2D`,
//! `UNetMidBlock2D`).
use std::collections::HashMap;

use super::WeightsError;

/// diffusers `AutoencoderKL` configuration (only what changes tensor shapes or outputs).
#[derive(Clone, Debug, PartialEq)]
pub struct VaeConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub block_out_channels: Vec<usize>,
    pub layers_per_block: usize,
    pub latent_channels: usize,
    /// GroupNorm groups: 32 in every released VAE; a file's shapes cannot tell.
    pub norm_num_groups: usize,
    /// Whether the 1×1 `quant_conv` follows the encoder (SD 1.x, SDXL) or not (SD3, FLUX.1).
    pub use_quant_conv: bool,
    /// Whether the 1×1 `post_quant_conv` precedes the decoder.
    pub use_post_quant_conv: bool,
}

impl VaeConfig {
    /// stabilityai/sdxl-vae (SD 1.x VAEs have the same shapes).
    pub fn sdxl() -> VaeConfig {
        VaeConfig {
            in_channels: 3,
            out_channels: 3,
            block_out_channels: vec![128, 256, 512, 512],
            layers_per_block: 2,
            latent_channels: 4,
            norm_num_groups: 32,
            use_quant_conv: true,
            use_post_quant_conv: true,
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
        Ok(VaeConfig {
            in_channels: dim(shapes, "encoder.conv_in.weight", 1)?,
            out_channels: dim(shapes, "decoder.conv_out.weight", 0)?,
            block_out_channels,
            layers_per_block,
            latent_channels: dim(shapes, "decoder.conv_in.weight", 1)?,
            norm_num_groups: 32,
            use_quant_conv: shapes.contains_key("quant_conv.weight"),
            use_post_quant_conv: shapes.contains_key("post_quant_conv.weight"),
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
/// `state_dict()` order (encoder, decoder, quant_conv, post_quant_conv where used).
pub fn expected_tensors(config: &VaeConfig) -> Vec<(String, Vec<usize>)> {
    let mut t = Tensors(Vec::new());
    encoder(config, &mut t);
    decoder(config, &mut t);
    let latent = config.latent_channels;
    if config.use_quant_conv {
        t.conv("quant_conv", 2 * latent, 2 * latent, 1);
    }
    if config.use_post_quant_conv {
        t.conv("post_quant_conv", latent, latent, 1);
    }
    t.0
}

/// Total number of values in `tensors`.
pub fn param_count(tensors: &[(String, Vec<usize>)]) -> usize {
    tensors
        .iter()
        .map(|(_, shape)| shape.iter().product::<usize>())
        .sum()
}

struct Tensors(Vec<(String, Vec<usize>)>);

impl Tensors {
    fn push(&mut self, name: String, shape: Vec<usize>) {
        self.0.push((name, shape));
    }
    /// `nn.Conv2d(cin, cout, k)`: weight `[cout, cin, k, k]`, bias `[cout]`.
    fn conv(&mut self, p: &str, cout: usize, cin: usize, k: usize) {
        self.push(format!("{p}.weight"), vec![cout, cin, k, k]);
        self.push(format!("{p}.bias"), vec![cout]);
    }
    /// `nn.Linear(cin, cout)`: weight `[cout, cin]`, bias `[cout]`.
    fn linear(&mut self, p: &str, cout: usize, cin: usize) {
        self.push(format!("{p}.weight"), vec![cout, cin]);
        self.push(format!("{p}.bias"), vec![cout]);
    }
    /// `nn.GroupNorm(groups, c)`: weight and bias `[c]`.
    fn norm(&mut self, p: &str, c: usize) {
        self.push(format!("{p}.weight"), vec![c]);
        self.push(format!("{p}.bias"), vec![c]);
    }
    /// `ResnetBlock2D` without time embedding; 1×1 shortcut only when channels change.
    fn resnet(&mut self, p: &str, cin: usize, cout: usize) {
        self.norm(&format!("{p}.norm1"), cin);
        self.conv(&format!("{p}.conv1"), cout, cin, 3);
        self.norm(&format!("{p}.norm2"), cout);
        self.conv(&format!("{p}.conv2"), cout, cout, 3);
        if cin != cout {
            self.conv(&format!("{p}.conv_shortcut"), cout, cin, 1);
        }
    }
    /// `UNetMidBlock2D`: registers `attentions` before `resnets`.
    fn mid_block(&mut self, p: &str, c: usize) {
        let a = format!("{p}.attentions.0");
        self.norm(&format!("{a}.group_norm"), c);
        self.linear(&format!("{a}.to_q"), c, c);
        self.linear(&format!("{a}.to_k"), c, c);
        self.linear(&format!("{a}.to_v"), c, c);
        self.linear(&format!("{a}.to_out.0"), c, c);
        self.resnet(&format!("{p}.resnets.0"), c, c);
        self.resnet(&format!("{p}.resnets.1"), c, c);
    }
}

/// diffusers `Encoder`: conv_in, down_blocks, mid_block, conv_norm_out, conv_out (2× latent).
fn encoder(c: &VaeConfig, t: &mut Tensors) {
    let blocks = &c.block_out_channels;
    let (first, last) = (
        blocks.first().copied().unwrap_or(0),
        blocks.last().copied().unwrap_or(0),
    );
    t.conv("encoder.conv_in", first, c.in_channels, 3);
    let mut cin = first;
    for (i, &cout) in blocks.iter().enumerate() {
        for j in 0..c.layers_per_block {
            let resnet_in = if j == 0 { cin } else { cout };
            t.resnet(
                &format!("encoder.down_blocks.{i}.resnets.{j}"),
                resnet_in,
                cout,
            );
        }
        if i + 1 < blocks.len() {
            t.conv(
                &format!("encoder.down_blocks.{i}.downsamplers.0.conv"),
                cout,
                cout,
                3,
            );
        }
        cin = cout;
    }
    t.mid_block("encoder.mid_block", last);
    t.norm("encoder.conv_norm_out", last);
    t.conv("encoder.conv_out", 2 * c.latent_channels, last, 3);
}

/// diffusers `Decoder`: conv_in, up_blocks (registered before mid_block, which runs first),
/// mid_block, conv_norm_out, conv_out. Up blocks have `layers_per_block + 1` resnets.
fn decoder(c: &VaeConfig, t: &mut Tensors) {
    let blocks = &c.block_out_channels;
    let (first, last) = (
        blocks.first().copied().unwrap_or(0),
        blocks.last().copied().unwrap_or(0),
    );
    t.conv("decoder.conv_in", last, c.latent_channels, 3);
    let mut cin = last;
    for (k, &cout) in blocks.iter().rev().enumerate() {
        for j in 0..=c.layers_per_block {
            let resnet_in = if j == 0 { cin } else { cout };
            t.resnet(
                &format!("decoder.up_blocks.{k}.resnets.{j}"),
                resnet_in,
                cout,
            );
        }
        if k + 1 < blocks.len() {
            t.conv(
                &format!("decoder.up_blocks.{k}.upsamplers.0.conv"),
                cout,
                cout,
                3,
            );
        }
        cin = cout;
    }
    t.mid_block("decoder.mid_block", last);
    t.norm("decoder.conv_norm_out", first);
    t.conv("decoder.conv_out", c.out_channels, first, 3);
}
