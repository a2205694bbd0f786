//! A KL autoencoder described once: the modules of its encode and decode paths in the order they
//! run, each under its diffusers name with its channels. Everything else is read off this list —
//! the tensors a file must hold (names, shapes, in diffusers' `state_dict()` order), the modules
//! the GPU runs (`model`), the multiply-add count (`cost`), the channels at each resolution
//! (`bands`) — so a new variant (a narrower decoder, another latent width) changes the
//! configuration, never four places. Qwen-Image's VAE is the same list in its own [`Style`] of
//! modules. (The tiny autoencoders are described the same way, by the layer list in
//! [`super::tiny`].)
//!
//! Upstream: diffusers `models/autoencoders/vae.py` (`Encoder`, `Decoder`),
//! `unets/unet_2d_blocks.py` (`DownEncoderBlock2D`, `UpDecoderBlock2D`, `UNetMidBlock2D`),
//! `autoencoder_kl.py`, `autoencoder_kl_flux2.py` and `autoencoder_kl_qwenimage.py`.

use super::config::{LatentNorm, Style, VaeConfig};

mod qwen;
mod tensors;
pub use qwen::{one_frame, split_qkv};
pub use tensors::{expected_tensors, param_count};

/// How a convolution changes the resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resample {
    Same,
    /// `Downsample2D`: zero-padded by one row and column (right and bottom), stride 2.
    Down,
    /// `Upsample2D`: nearest 2× upsampling, then the convolution.
    Up,
}

/// One module of an encode or decode path, under its diffusers name.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// `nn.Conv2d(cin, cout, k)` (k 3 with padding 1, or 1); with `causal`, Qwen-Image's causal
    /// 3-D convolution (weight `[cout, cin, k, k, k]`), which on one frame is the 2-D
    /// convolution of its last temporal tap.
    Conv {
        name: String,
        cin: usize,
        cout: usize,
        k: usize,
        resample: Resample,
        causal: bool,
    },
    /// `ResnetBlock2D` without time embedding (Qwen: `QwenImageResidualBlock`): `norm1`,
    /// `conv1`, `norm2`, `conv2`, and a 1×1 `conv_shortcut` where the channels change.
    Resnet {
        name: String,
        cin: usize,
        cout: usize,
        style: Style,
    },
    /// The mid block's single-head attention: `group_norm`, `to_q`, `to_k`, `to_v`, `to_out.0`
    /// (linear layers); Qwen's `norm`, a fused `to_qkv` and `proj` (1×1 convolutions). Residual.
    Attention {
        name: String,
        channels: usize,
        style: Style,
    },
    /// A half's last norm (SiLU after it) then its output convolution: `conv_norm_out` and
    /// `conv_out` (Qwen: `norm_out`, a causal `conv_out`).
    NormConv {
        norm: String,
        conv: String,
        cin: usize,
        cout: usize,
        style: Style,
    },
}

/// A KL autoencoder: its two paths (`quant_conv` ends the encode path, `post_quant_conv`
/// starts the decode path, where the model has them), and FLUX.2's latent statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct KlLayers {
    /// Image → moments `[2·latent, h, w]`.
    pub encode: Vec<Layer>,
    /// Latent → image.
    pub decode: Vec<Layer>,
    /// Channels of `bn.running_mean` / `bn.running_var` (the 2×2-patchified latent's), for
    /// FLUX.2 (see [`VaeConfig::latent_norm`]).
    pub latent_stats: Option<usize>,
    /// Whose modules (their registration order differs too).
    pub style: Style,
}

/// FLUX.2's latent statistics, which the host applies (never uploaded): the mean and the
/// variance of each channel of the patchified latent.
pub const LATENT_STATS: [&str; 2] = ["bn.running_mean", "bn.running_var"];

/// The modules `cfg` runs.
pub fn kl_layers(cfg: &VaeConfig) -> KlLayers {
    let latent_stats = match cfg.latent_norm {
        Some(LatentNorm::Batch { .. }) => Some(4 * cfg.latent_channels),
        _ => None,
    };
    let (encode, decode) = match cfg.style {
        Style::Kl => (encode_layers(cfg), decode_layers(cfg)),
        Style::Qwen => (qwen::encode_layers(cfg), qwen::decode_layers(cfg)),
    };
    KlLayers {
        encode,
        decode,
        latent_stats,
        style: cfg.style,
    }
}

pub(super) fn conv(name: String, cin: usize, cout: usize, k: usize, resample: Resample) -> Layer {
    Layer::Conv {
        name,
        cin,
        cout,
        k,
        resample,
        causal: false,
    }
}

/// A resnet of `style` from `cin` to `cout` channels.
pub(super) fn resnet(name: String, cin: usize, cout: usize, style: Style) -> Layer {
    Layer::Resnet {
        name,
        cin,
        cout,
        style,
    }
}

/// `UNetMidBlock2D` with one attention: resnet → attention → resnet.
pub(super) fn mid_block(p: &str, c: usize, style: Style, v: &mut Vec<Layer>) {
    let resnet = |j: usize| resnet(format!("{p}.resnets.{j}"), c, c, style);
    v.push(resnet(0));
    v.push(Layer::Attention {
        name: format!("{p}.attentions.0"),
        channels: c,
        style,
    });
    v.push(resnet(1));
}

/// `Encoder` (`DownEncoderBlock2D`s of `layers_per_block` resnets, each but the last ending in a
/// downsampling conv), then `quant_conv`.
fn encode_layers(cfg: &VaeConfig) -> Vec<Layer> {
    let ch = &cfg.block_out_channels;
    let (first, last) = (ch[0], ch[ch.len() - 1]);
    let mut v = vec![conv(
        "encoder.conv_in".into(),
        cfg.in_channels,
        first,
        3,
        Resample::Same,
    )];
    let mut cin = first;
    for (i, &c) in ch.iter().enumerate() {
        let p = format!("encoder.down_blocks.{i}");
        for j in 0..cfg.layers_per_block {
            let name = format!("{p}.resnets.{j}");
            v.push(resnet(name, cin, c, Style::Kl));
            cin = c;
        }
        if i + 1 < ch.len() {
            v.push(conv(
                format!("{p}.downsamplers.0.conv"),
                c,
                c,
                3,
                Resample::Down,
            ));
        }
    }
    mid_block("encoder.mid_block", last, Style::Kl, &mut v);
    let moments = 2 * cfg.latent_channels;
    v.push(Layer::NormConv {
        norm: "encoder.conv_norm_out".into(),
        conv: "encoder.conv_out".into(),
        cin: last,
        cout: moments,
        style: Style::Kl,
    });
    if cfg.use_quant_conv {
        v.push(conv(
            "quant_conv".into(),
            moments,
            moments,
            1,
            Resample::Same,
        ));
    }
    v
}

/// `post_quant_conv`, then `Decoder` (`UpDecoderBlock2D`s of `layers_per_block + 1` resnets over
/// the decoder's channels reversed, each but the last ending in an upsampling conv).
fn decode_layers(cfg: &VaeConfig) -> Vec<Layer> {
    let ch = cfg.decoder_blocks();
    let (first, last) = (ch[0], ch[ch.len() - 1]);
    let latent = cfg.latent_channels;
    let mut v = Vec::new();
    if cfg.use_post_quant_conv {
        v.push(conv(
            "post_quant_conv".into(),
            latent,
            latent,
            1,
            Resample::Same,
        ));
    }
    v.push(conv(
        "decoder.conv_in".into(),
        latent,
        last,
        3,
        Resample::Same,
    ));
    mid_block("decoder.mid_block", last, Style::Kl, &mut v);
    let mut cin = last;
    for (k, &c) in ch.iter().rev().enumerate() {
        let p = format!("decoder.up_blocks.{k}");
        for j in 0..=cfg.layers_per_block {
            let name = format!("{p}.resnets.{j}");
            v.push(resnet(name, cin, c, Style::Kl));
            cin = c;
        }
        if k + 1 < ch.len() {
            v.push(conv(
                format!("{p}.upsamplers.0.conv"),
                c,
                c,
                3,
                Resample::Up,
            ));
        }
    }
    v.push(Layer::NormConv {
        norm: "decoder.conv_norm_out".into(),
        conv: "decoder.conv_out".into(),
        cin: first,
        cout: cfg.out_channels,
        style: Style::Kl,
    });
    v
}

impl Layer {
    /// Multiply-adds on an `h × w` input (convolutions, linear layers, attention's two
    /// products; norms and activations are not counted), and the output's size.
    pub fn macs(&self, (h, w): (usize, usize)) -> (u64, (usize, usize)) {
        let conv = |cin: usize, cout: usize, k: usize, (h, w): (usize, usize)| {
            (cin * cout * k * k) as u64 * (h * w) as u64
        };
        match *self {
            Layer::Conv {
                cin,
                cout,
                k,
                resample,
                ..
            } => {
                let out = match resample {
                    Resample::Same => (h, w),
                    Resample::Down => (h / 2, w / 2),
                    Resample::Up => (2 * h, 2 * w),
                };
                (conv(cin, cout, k, out), out)
            }
            Layer::Resnet { cin, cout, .. } => {
                let shortcut = if cin != cout {
                    conv(cin, cout, 1, (h, w))
                } else {
                    0
                };
                let m = conv(cin, cout, 3, (h, w)) + conv(cout, cout, 3, (h, w)) + shortcut;
                (m, (h, w))
            }
            Layer::Attention { channels: c, .. } => {
                let n = (h * w) as u64;
                (4 * (c * c) as u64 * n + 2 * n * n * c as u64, (h, w))
            }
            Layer::NormConv { cin, cout, .. } => (conv(cin, cout, 3, (h, w)), (h, w)),
        }
    }

    /// Its channels in and out.
    pub fn channels(&self) -> (usize, usize) {
        match *self {
            Layer::Conv { cin, cout, .. }
            | Layer::Resnet { cin, cout, .. }
            | Layer::NormConv { cin, cout, .. } => (cin, cout),
            Layer::Attention { channels, .. } => (channels, channels),
        }
    }
}

/// Multiply-adds of `layers` on an `h × w` input.
pub fn layers_macs(layers: &[Layer], (h, w): (usize, usize)) -> u64 {
    let mut size = (h, w);
    let mut m = 0;
    for layer in layers {
        let (macs, out) = layer.macs(size);
        m += macs;
        size = out;
    }
    m
}
