//! The tensors a described model needs: each layer's, and the whole model's in the order its
//! `state_dict()` lists them (which is the order modules register in, not the order they run).

use super::{KlLayers, Layer, LATENT_STATS};
use crate::weights::config::{Style, VaeConfig};

impl Layer {
    /// Its tensors (diffusers name and shape), in the order the module registers them.
    pub fn tensors(&self, t: &mut Vec<(String, Vec<usize>)>) {
        match self {
            Layer::Conv {
                name,
                cin,
                cout,
                k,
                causal,
                ..
            } => push_conv(t, name, *cout, *cin, *k, *causal),
            Layer::Resnet {
                name,
                cin,
                cout,
                style,
            } => {
                let (cin, cout, causal) = (*cin, *cout, *style == Style::Qwen);
                push_norm(t, &format!("{name}.norm1"), cin, *style);
                push_conv(t, &format!("{name}.conv1"), cout, cin, 3, causal);
                push_norm(t, &format!("{name}.norm2"), cout, *style);
                push_conv(t, &format!("{name}.conv2"), cout, cout, 3, causal);
                if cin != cout {
                    push_conv(t, &format!("{name}.conv_shortcut"), cout, cin, 1, causal);
                }
            }
            Layer::Attention {
                name,
                channels: c,
                style: Style::Kl,
            } => {
                push_norm(t, &format!("{name}.group_norm"), *c, Style::Kl);
                for p in ["to_q", "to_k", "to_v", "to_out.0"] {
                    // `nn.Linear(c, c)`: weight `[c, c]`.
                    t.push((format!("{name}.{p}.weight"), vec![*c, *c]));
                    t.push((format!("{name}.{p}.bias"), vec![*c]));
                }
            }
            Layer::Attention {
                name,
                channels: c,
                style: Style::Qwen,
            } => {
                // `QwenImageRMS_norm(dim)` over images: gamma `[c, 1, 1]`.
                t.push((format!("{name}.norm.gamma"), vec![*c, 1, 1]));
                push_conv(t, &format!("{name}.to_qkv"), 3 * c, *c, 1, false);
                push_conv(t, &format!("{name}.proj"), *c, *c, 1, false);
            }
            Layer::NormConv {
                norm,
                conv,
                cin,
                cout,
                style,
            } => {
                push_norm(t, norm, *cin, *style);
                push_conv(t, conv, *cout, *cin, 3, *style == Style::Qwen);
            }
        }
    }
}

/// `nn.Conv2d(cin, cout, k)`: weight `[cout, cin, k, k]` (`[cout, cin, k, k, k]` for a causal
/// 3-D one), bias `[cout]`.
fn push_conv(
    t: &mut Vec<(String, Vec<usize>)>,
    p: &str,
    cout: usize,
    cin: usize,
    k: usize,
    causal: bool,
) {
    let shape = match causal {
        true => vec![cout, cin, k, k, k],
        false => vec![cout, cin, k, k],
    };
    t.push((format!("{p}.weight"), shape));
    t.push((format!("{p}.bias"), vec![cout]));
}

/// `nn.GroupNorm(groups, c)`: weight and bias `[c]`; Qwen's RMS norm over video: gamma
/// `[c, 1, 1, 1]`.
fn push_norm(t: &mut Vec<(String, Vec<usize>)>, p: &str, c: usize, style: Style) {
    match style {
        Style::Kl => {
            t.push((format!("{p}.weight"), vec![c]));
            t.push((format!("{p}.bias"), vec![c]));
        }
        Style::Qwen => t.push((format!("{p}.gamma"), vec![c, 1, 1, 1])),
    }
}

impl KlLayers {
    /// Every tensor: diffusers name and shape, in `state_dict()` order (modules registered
    /// before those that run before them come first: a decoder's up blocks before its mid
    /// block, a mid block's attention before its resnets).
    pub fn tensors(&self) -> Vec<(String, Vec<usize>)> {
        let mut t = Vec::new();
        for layer in self.encode.iter().chain(&self.decode) {
            layer.tensors(&mut t);
        }
        if let Some(c) = self.latent_stats {
            t.extend(LATENT_STATS.map(|name| (name.to_string(), vec![c])));
        }
        t.sort_by_cached_key(|(name, _)| registration_rank(name, self.style));
        t
    }
}

/// Where each module registers among its siblings; numbered children by their number, the rest
/// (a module's own tensors) keep their order. Qwen-Image's model registers its quant convs
/// between its halves, and its decoder its mid block before its up blocks.
fn registration_rank(name: &str, style: Style) -> Vec<usize> {
    name.split('.')
        .map(|seg| match (seg, style) {
            ("quant_conv", Style::Qwen) => 1,
            ("post_quant_conv" | "mid_block", Style::Qwen) => 2,
            ("decoder" | "up_blocks", Style::Qwen) => 3,
            ("norm_out", Style::Qwen) => 4,
            ("conv_out", Style::Qwen) => 5,
            (seg, _) => kl_rank(seg),
        })
        .collect()
}

/// [`registration_rank`]'s for diffusers' `AutoencoderKL` (and FLUX.2's).
fn kl_rank(seg: &str) -> usize {
    {
        match seg {
            "encoder" | "conv_in" | "attentions" => 0,
            "decoder" | "down_blocks" | "up_blocks" | "resnets" => 1,
            "quant_conv" | "mid_block" | "downsamplers" | "upsamplers" => 2,
            "post_quant_conv" | "conv_norm_out" | "norm_out" => 3,
            "bn" | "conv_out" => 4,
            _ => seg.parse().unwrap_or(0),
        }
    }
}

/// Every tensor `config` needs: canonical name and diffusers shape, in diffusers'
/// `state_dict()` order (as [`kl_layers`] describes the model).
pub fn expected_tensors(config: &VaeConfig) -> Vec<(String, Vec<usize>)> {
    super::kl_layers(config).tensors()
}

/// Total number of values in `tensors`.
pub fn param_count(tensors: &[(String, Vec<usize>)]) -> usize {
    tensors
        .iter()
        .map(|(_, shape)| shape.iter().product::<usize>())
        .sum()
}
