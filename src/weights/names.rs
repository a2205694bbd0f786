//! The one place where checkpoint tensor names are translated.
//!
//! Canonical names are diffusers' `AutoencoderKL.state_dict()` keys. Accepted on input: those,
//! LDM/CompVis names (`encoder.down.{i}.block.{j}`, `decoder.up.{n−1−k}` for diffusers
//! `up_blocks.{k}`, `mid.block_1`, `mid.attn_1.q`, `nin_shortcut`, `norm_out`), diffusers names
//! from before the attention rewrite (`query/key/value/proj_attn`), each optionally behind a
//! `first_stage_model.` or `vae.` prefix; FLUX.2's original names (LDM's, with
//! `encoder.quant_conv` and `decoder.post_quant_conv`) and its latent statistics (`bn.*`); Wan
//! 2.1's original names for Qwen-Image's VAE. Upstream: diffusers
//! `scripts/convert_vae_pt_to_diffusers.py` and `convert_diffusers_to_original_stable_diffusion.py`.
use std::fmt;

mod wan;
use wan::{is_wan, to_wan_name, wan_to_canonical};

/// Naming scheme of a checkpoint file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// CompVis latent-diffusion names (`sdxl_vae.safetensors`, kl-f8, ft-MSE); attention weights
    /// `[C, C, 1, 1]`.
    Ldm,
    /// FLUX.2's original names (`flux2-vae.safetensors`): LDM's, with the quant convs inside
    /// the halves (`encoder.quant_conv`, `decoder.post_quant_conv`).
    Flux2,
    /// Wan 2.1's original names (`Wan2.1_VAE.pth`, `qwen_image_vae.safetensors`): `conv1`,
    /// `encoder.downsamples.{i}.residual.{0,2,3,6}`, a flat `decoder.upsamples.{i}`, `middle`,
    /// `head`.
    Wan,
    /// diffusers names (`diffusion_pytorch_model.safetensors`).
    Diffusers,
    /// diffusers names with the attention as `query/key/value/proj_attn` (diffusers < 0.15).
    DiffusersOldAttention,
    /// A tiny autoencoder's `nn.Sequential` indices of taesd.py (`encoder.1.conv.0.weight`).
    Taesd,
    /// One half of a tiny autoencoder in its own file, bare indices (`taesdxl_decoder.safetensors`).
    TaesdHalf,
    /// TAEHV's `nn.Sequential` indices of taehv.py (`encoder.4.conv.0.weight`, `taew2_1.pth`),
    /// kept as the model's own names.
    Taehv,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Ldm => "LDM",
            Layout::Flux2 => "FLUX.2 original",
            Layout::Wan => "Wan 2.1 original",
            Layout::Diffusers => "diffusers",
            Layout::DiffusersOldAttention => "diffusers (old attention names)",
            Layout::Taesd => "taesd.py",
            Layout::TaesdHalf => "taesd.py half",
            Layout::Taehv => "taehv.py",
        })
    }
}

/// Prefixes of whole-model checkpoints in front of the VAE's names.
pub const PREFIXES: [&str; 2] = ["first_stage_model.", "vae."];

/// A file name translated to its canonical name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Translated {
    pub canonical: String,
    /// The prefix found in front of the name ("" if none).
    pub prefix: &'static str,
    /// The layout this name proves, `None` for names every layout shares (`encoder.conv_in.weight`).
    pub evidence: Option<Layout>,
}

/// Splits off a known whole-model prefix.
pub fn strip_prefix(raw: &str) -> (&'static str, &str) {
    for p in PREFIXES {
        if let Some(rest) = raw.strip_prefix(p) {
            return (p, rest);
        }
    }
    ("", raw)
}

/// Number of LDM decoder up blocks named in the file (`decoder.up.{m}.` → max m + 1), needed to
/// flip LDM's `up.{m}` into diffusers' `up_blocks.{n−1−m}`.
pub fn ldm_up_blocks<'a>(raw_names: impl IntoIterator<Item = &'a str>) -> usize {
    raw_names
        .into_iter()
        .filter_map(|raw| {
            let rest = strip_prefix(raw).1.strip_prefix("decoder.up.")?;
            rest.split('.').next()?.parse::<usize>().ok()
        })
        .map(|m| m + 1)
        .max()
        .unwrap_or(0)
}

/// Canonical name of a file tensor, or `None` for tensors outside the VAE (`loss.*`,
/// `model_ema.*`, a UNet's weights). `ldm_up_blocks` comes from [`ldm_up_blocks`].
pub fn to_canonical(raw: &str, ldm_up_blocks: usize) -> Option<Translated> {
    let (prefix, name) = strip_prefix(raw);
    let segs: Vec<&str> = name.split('.').collect();
    let (canonical, evidence) = match segs.as_slice() {
        ["quant_conv" | "post_quant_conv", ..] => (name.to_string(), None),
        // FLUX.2's original file (`flux2-vae.safetensors`, black-forest-labs/flux2
        // `autoencoder.py`): the quant convs inside the halves, and the latent statistics.
        ["encoder", "quant_conv", rest @ ..] | ["decoder", "post_quant_conv", rest @ ..] => {
            let canonical = format!("{}.{}", segs[1], rest.join("."));
            (canonical, Some(Layout::Flux2))
        }
        ["bn", "running_mean" | "running_var"] => (name.to_string(), None),
        ["conv1", rest @ ..] => (format!("quant_conv.{}", rest.join(".")), Some(Layout::Wan)),
        ["conv2", rest @ ..] => {
            let canonical = format!("post_quant_conv.{}", rest.join("."));
            (canonical, Some(Layout::Wan))
        }
        [part @ ("encoder" | "decoder"), body @ ..] if is_wan(body) => (
            format!("{part}.{}", wan_to_canonical(body)?),
            Some(Layout::Wan),
        ),
        [part @ ("encoder" | "decoder"), body @ ..] => {
            let (body, evidence) = body_to_canonical(body, ldm_up_blocks)?;
            (format!("{part}.{body}"), evidence)
        }
        _ => return None,
    };
    Some(Translated {
        canonical,
        prefix,
        evidence,
    })
}

/// Translates the part after `encoder.`/`decoder.`.
fn body_to_canonical(segs: &[&str], n_up: usize) -> Option<(String, Option<Layout>)> {
    match segs {
        ["mid_block", "attentions", a, leaf, rest @ ..] if old_attention_leaf(leaf).is_some() => {
            let leaf = old_attention_leaf(leaf)?;
            let body = format!("mid_block.attentions.{a}.{leaf}.{}", rest.join("."));
            Some((body, Some(Layout::DiffusersOldAttention)))
        }
        ["down_blocks" | "up_blocks" | "mid_block", ..] => {
            Some((segs.join("."), Some(Layout::Diffusers)))
        }
        // Qwen-Image's diffusers name (an RMS norm), not LDM's `norm_out` of a GroupNorm.
        ["norm_out", "gamma"] => Some((segs.join("."), None)),
        ["down" | "up" | "mid" | "norm_out", ..] => {
            Some((ldm_to_canonical(segs, n_up)?, Some(Layout::Ldm)))
        }
        _ => Some((segs.join("."), None)),
    }
}

/// diffusers name of an LDM-only name (after `encoder.`/`decoder.`).
fn ldm_to_canonical(segs: &[&str], n_up: usize) -> Option<String> {
    Some(match segs {
        ["down", i, "block", j, rest @ ..] => {
            format!(
                "down_blocks.{}.resnets.{j}.{}",
                index(i)?,
                resnet_leaf(rest)
            )
        }
        ["down", i, "downsample", "conv", rest @ ..] => {
            format!(
                "down_blocks.{}.downsamplers.0.conv.{}",
                index(i)?,
                rest.join(".")
            )
        }
        ["up", m, "block", j, rest @ ..] => {
            let k = flip(index(m)?, n_up)?;
            format!("up_blocks.{k}.resnets.{j}.{}", resnet_leaf(rest))
        }
        ["up", m, "upsample", "conv", rest @ ..] => {
            let k = flip(index(m)?, n_up)?;
            format!("up_blocks.{k}.upsamplers.0.conv.{}", rest.join("."))
        }
        ["mid", "block_1", rest @ ..] => format!("mid_block.resnets.0.{}", resnet_leaf(rest)),
        ["mid", "block_2", rest @ ..] => format!("mid_block.resnets.1.{}", resnet_leaf(rest)),
        ["mid", "attn_1", leaf, rest @ ..] => {
            let leaf = match *leaf {
                "norm" => "group_norm",
                "q" => "to_q",
                "k" => "to_k",
                "v" => "to_v",
                "proj_out" => "to_out.0",
                _ => return None,
            };
            format!("mid_block.attentions.0.{leaf}.{}", rest.join("."))
        }
        ["norm_out", rest @ ..] => format!("conv_norm_out.{}", rest.join(".")),
        _ => return None,
    })
}

/// Current name of a diffusers < 0.15 attention layer.
fn old_attention_leaf(leaf: &str) -> Option<&'static str> {
    Some(match leaf {
        "query" => "to_q",
        "key" => "to_k",
        "value" => "to_v",
        "proj_attn" => "to_out.0",
        _ => return None,
    })
}

fn index(s: &str) -> Option<usize> {
    s.parse().ok()
}

/// LDM up index m ↔ diffusers up_blocks index n−1−m (an involution).
fn flip(m: usize, n: usize) -> Option<usize> {
    n.checked_sub(1)?.checked_sub(m)
}

/// A resnet's sub-name with LDM's `nin_shortcut` renamed.
fn resnet_leaf(rest: &[&str]) -> String {
    match rest {
        ["nin_shortcut", tail @ ..] => format!("conv_shortcut.{}", tail.join(".")),
        _ => rest.join("."),
    }
}

/// True for the attention's q/k/v/out linear weights, which LDM stores as `[C, C, 1, 1]`.
pub fn is_attention_linear_weight(canonical: &str) -> bool {
    let Some(rest) = canonical
        .strip_prefix("encoder.mid_block.attentions.")
        .or_else(|| canonical.strip_prefix("decoder.mid_block.attentions."))
    else {
        return false;
    };
    let leaf = rest.split_once('.').map_or("", |(_, leaf)| leaf);
    matches!(
        leaf,
        "to_q.weight" | "to_k.weight" | "to_v.weight" | "to_out.0.weight"
    )
}

/// The diffusers shape of a file tensor: attention linears `[C, C, 1, 1]` become `[C, C]` (same
/// data, no transpose); every other shape is kept.
pub fn canonical_shape(canonical: &str, file_shape: &[usize]) -> Vec<usize> {
    match file_shape {
        [o, i, 1, 1] if is_attention_linear_weight(canonical) => vec![*o, *i],
        _ => file_shape.to_vec(),
    }
}

/// The shape a tensor has in files of `layout`.
pub fn to_layout_shape(canonical: &str, shape: &[usize], layout: Layout) -> Vec<usize> {
    match (layout, shape) {
        (Layout::Ldm | Layout::Flux2, [o, i]) if is_attention_linear_weight(canonical) => {
            vec![*o, *i, 1, 1]
        }
        _ => shape.to_vec(),
    }
}

/// The name of canonical tensor `canonical` in files of `layout` (no prefix); `n_blocks` is
/// the number of up blocks (`block_out_channels.len()`), needed for LDM's index flip.
pub fn to_layout_name(canonical: &str, layout: Layout, n_blocks: usize) -> String {
    if layout == Layout::Wan {
        return to_wan_name(canonical);
    }
    if layout == Layout::Flux2 {
        if let Some(rest) = canonical.strip_prefix("quant_conv.") {
            return format!("encoder.quant_conv.{rest}");
        }
        if let Some(rest) = canonical.strip_prefix("post_quant_conv.") {
            return format!("decoder.post_quant_conv.{rest}");
        }
    }
    let Some((part @ ("encoder" | "decoder"), body)) = canonical.split_once('.') else {
        return canonical.to_string();
    };
    let segs: Vec<&str> = body.split('.').collect();
    let body = match layout {
        Layout::Diffusers | Layout::Taehv => return canonical.to_string(),
        Layout::Taesd => {
            return super::tiny::tiny_file_name(canonical, super::tiny::TinyNames::Original)
        }
        Layout::TaesdHalf => {
            return super::tiny::tiny_file_name(canonical, super::tiny::TinyNames::Split)
        }
        Layout::DiffusersOldAttention => old_attention_body(&segs),
        Layout::Ldm | Layout::Flux2 => ldm_body(&segs, n_blocks),
        Layout::Wan => return to_wan_name(canonical),
    };
    format!("{part}.{body}")
}

fn old_attention_body(segs: &[&str]) -> String {
    let renamed = |leaf: &str, a: &str, rest: &[&str]| {
        format!("mid_block.attentions.{a}.{leaf}.{}", rest.join("."))
    };
    match segs {
        ["mid_block", "attentions", a, "to_q", rest @ ..] => renamed("query", a, rest),
        ["mid_block", "attentions", a, "to_k", rest @ ..] => renamed("key", a, rest),
        ["mid_block", "attentions", a, "to_v", rest @ ..] => renamed("value", a, rest),
        ["mid_block", "attentions", a, "to_out", "0", rest @ ..] => renamed("proj_attn", a, rest),
        _ => segs.join("."),
    }
}

fn ldm_body(segs: &[&str], n_blocks: usize) -> String {
    let shortcut = |rest: &[&str]| match rest {
        ["conv_shortcut", tail @ ..] => format!("nin_shortcut.{}", tail.join(".")),
        _ => rest.join("."),
    };
    let up = |k: &str| match index(k).and_then(|k| flip(k, n_blocks)) {
        Some(m) => m.to_string(),
        None => k.to_string(),
    };
    match segs {
        ["down_blocks", i, "resnets", j, rest @ ..] => {
            format!("down.{i}.block.{j}.{}", shortcut(rest))
        }
        ["down_blocks", i, "downsamplers", "0", "conv", rest @ ..] => {
            format!("down.{i}.downsample.conv.{}", rest.join("."))
        }
        ["up_blocks", k, "resnets", j, rest @ ..] => {
            format!("up.{}.block.{j}.{}", up(k), shortcut(rest))
        }
        ["up_blocks", k, "upsamplers", "0", "conv", rest @ ..] => {
            format!("up.{}.upsample.conv.{}", up(k), rest.join("."))
        }
        ["mid_block", "resnets", "0", rest @ ..] => format!("mid.block_1.{}", shortcut(rest)),
        ["mid_block", "resnets", "1", rest @ ..] => format!("mid.block_2.{}", shortcut(rest)),
        ["mid_block", "attentions", "0", leaf @ .., last] => {
            let leaf = match leaf {
                ["group_norm"] => "norm",
                ["to_q"] => "q",
                ["to_k"] => "k",
                ["to_v"] => "v",
                ["to_out", "0"] => "proj_out",
                _ => return segs.join("."),
            };
            format!("mid.attn_1.{leaf}.{last}")
        }
        ["conv_norm_out", rest @ ..] => format!("norm_out.{}", rest.join(".")),
        _ => segs.join("."),
    }
}
