//! Qwen-Image's VAE (Wan 2.1's) as a layer list of [`super::Layer`]s in its own [`Style`], and
//! what one frame makes of its tensors: a causal convolution's last temporal tap, the fused
//! attention projection as three.
//!
//! Upstream: diffusers `models/autoencoders/autoencoder_kl_qwenimage.py`.

use super::{conv, mid_block, resnet, Layer, Resample};
use crate::weights::config::{Style, VaeConfig};

/// Qwen-Image's causal 3-D convolution.
fn causal(name: String, cin: usize, cout: usize, k: usize) -> Layer {
    Layer::Conv {
        name,
        cin,
        cout,
        k,
        resample: Resample::Same,
        causal: true,
    }
}

/// Qwen-Image's `QwenImageEncoder3d` on one frame, then `quant_conv`: its down blocks are one
/// flat list, `layers_per_block` residual blocks then a downsampling (`resample.1`) per scale.
pub(super) fn encode_layers(cfg: &VaeConfig) -> Vec<Layer> {
    let ch = &cfg.block_out_channels;
    let (first, last) = (ch[0], ch[ch.len() - 1]);
    let style = Style::Qwen;
    let mut v = vec![causal("encoder.conv_in".into(), cfg.in_channels, first, 3)];
    let (mut cin, mut flat) = (first, 0);
    for (i, &c) in ch.iter().enumerate() {
        for _ in 0..cfg.layers_per_block {
            let name = format!("encoder.down_blocks.{flat}");
            v.push(resnet(name, cin, c, style));
            (cin, flat) = (c, flat + 1);
        }
        if i + 1 < ch.len() {
            let name = format!("encoder.down_blocks.{flat}.resample.1");
            v.push(conv(name, c, c, 3, Resample::Down));
            flat += 1;
        }
    }
    mid_block("encoder.mid_block", last, style, &mut v);
    let moments = 2 * cfg.latent_channels;
    v.push(Layer::NormConv {
        norm: "encoder.norm_out".into(),
        conv: "encoder.conv_out".into(),
        cin: last,
        cout: moments,
        style,
    });
    v.push(causal("quant_conv".into(), moments, moments, 1));
    v
}

/// `post_quant_conv`, then Qwen-Image's `QwenImageDecoder3d` on one frame: up blocks of
/// `layers_per_block + 1` residual blocks, each but the last ending in an upsampling whose
/// convolution halves the channels (the next block starts from half).
pub(super) fn decode_layers(cfg: &VaeConfig) -> Vec<Layer> {
    let ch = &cfg.block_out_channels;
    let (latent, last) = (cfg.latent_channels, ch[ch.len() - 1]);
    let style = Style::Qwen;
    let mut v = vec![
        causal("post_quant_conv".into(), latent, latent, 1),
        causal("decoder.conv_in".into(), latent, last, 3),
    ];
    mid_block("decoder.mid_block", last, style, &mut v);
    let mut cin = last;
    for (k, &c) in ch.iter().rev().enumerate() {
        let p = format!("decoder.up_blocks.{k}");
        for j in 0..=cfg.layers_per_block {
            let name = format!("{p}.resnets.{j}");
            v.push(resnet(name, cin, c, style));
            cin = c;
        }
        if k + 1 < ch.len() {
            let name = format!("{p}.upsamplers.0.resample.1");
            v.push(conv(name, c, c / 2, 3, Resample::Up));
            cin = c / 2;
        }
    }
    v.push(Layer::NormConv {
        norm: "decoder.norm_out".into(),
        conv: "decoder.conv_out".into(),
        cin,
        cout: cfg.out_channels,
        style,
    });
    v
}

/// On one frame, a causal 3-D convolution's weight `[o, i, t, k, k]` is its last temporal tap
/// `[o, i, k, k]` (its causal padding puts zeros before the frame); other shapes are returned
/// as they are. Qwen-Image's (Wan's) rule, proved against diffusers by the golden tests.
pub fn one_frame(shape: &[usize], data: &[f32]) -> Option<(Vec<usize>, Vec<f32>)> {
    let &[o, i, t, kh, kw] = shape else {
        return None;
    };
    let tap = kh * kw;
    let taps = data
        .chunks_exact(t * tap)
        .flat_map(|oi| &oi[(t - 1) * tap..]);
    let values: Vec<f32> = taps.copied().collect();
    (values.len() == o * i * tap).then(|| (vec![o, i, kh, kw], values))
}

/// Qwen-Image's fused attention projection `to_qkv` (weight `[3c, c, 1, 1]`, bias `[3c]`) as
/// the three it fuses: the names of `to_q`, `to_k`, `to_v` for `name`, and the values split in
/// three along the output channels. None for any other tensor.
pub fn split_qkv(name: &str, data: &[f32]) -> Option<[(String, Vec<f32>); 3]> {
    let (p, leaf) = name.rsplit_once(".to_qkv.")?;
    if !data.len().is_multiple_of(3) || !matches!(leaf, "weight" | "bias") {
        return None;
    }
    let n = data.len() / 3;
    Some(["to_q", "to_k", "to_v"].map(|part| {
        let k = ["to_q", "to_k", "to_v"]
            .iter()
            .position(|&x| x == part)
            .unwrap_or(0);
        (
            format!("{p}.{part}.{leaf}"),
            data[k * n..(k + 1) * n].to_vec(),
        )
    }))
}
