//! Wan 2.1's original tensor names (`Wan2.1_VAE.pth`, `qwen_image_vae.safetensors`), both ways:
//! diffusers `scripts/convert_wan_to_diffusers.py` (`convert_vae`) as rules, and its inverse.

use super::index;

/// Modules of a Wan decoder's flat `upsamples` list per up block: its `layers_per_block + 1`
/// residual blocks (2 + 1 in every released Wan 2.1 / Qwen-Image VAE) and its upsampling.
const WAN_UP_STRIDE: usize = 4;

/// True for the part after `encoder.`/`decoder.` of a Wan 2.1 original name.
pub(super) fn is_wan(body: &[&str]) -> bool {
    matches!(
        body.first(),
        Some(&("conv1" | "head" | "middle" | "downsamples" | "upsamples"))
    )
}

/// The diffusers name (after `encoder.`/`decoder.`) of a Wan 2.1 original name's body
/// (diffusers `scripts/convert_wan_to_diffusers.py`, `convert_vae`).
pub(super) fn wan_to_canonical(segs: &[&str]) -> Option<String> {
    let rest = |r: &[&str]| r.join(".");
    Some(match segs {
        ["conv1", r @ ..] => format!("conv_in.{}", rest(r)),
        ["head", "0", r @ ..] => format!("norm_out.{}", rest(r)),
        ["head", "2", r @ ..] => format!("conv_out.{}", rest(r)),
        ["middle", "0", r @ ..] => format!("mid_block.resnets.0.{}", wan_residual(r)),
        ["middle", "2", r @ ..] => format!("mid_block.resnets.1.{}", wan_residual(r)),
        ["middle", "1", r @ ..] => format!("mid_block.attentions.0.{}", rest(r)),
        ["downsamples", i, r @ ..] => format!("down_blocks.{}.{}", index(i)?, wan_residual(r)),
        ["upsamples", i, r @ ..] => {
            let i = index(i)?;
            let (b, m) = (i / WAN_UP_STRIDE, i % WAN_UP_STRIDE);
            match m + 1 == WAN_UP_STRIDE {
                true => format!("up_blocks.{b}.upsamplers.0.{}", rest(r)),
                false => format!("up_blocks.{b}.resnets.{m}.{}", wan_residual(r)),
            }
        }
        _ => return None,
    })
}

/// A Wan residual block's sub-name as diffusers': `residual.{0,2,3,6}` are norm1, conv1, norm2,
/// conv2 (1, 4, 5 being parameterless), `shortcut` is conv_shortcut; others pass through.
fn wan_residual(r: &[&str]) -> String {
    let tail = |t: &[&str]| t.join(".");
    match r {
        ["residual", "0", t @ ..] => format!("norm1.{}", tail(t)),
        ["residual", "2", t @ ..] => format!("conv1.{}", tail(t)),
        ["residual", "3", t @ ..] => format!("norm2.{}", tail(t)),
        ["residual", "6", t @ ..] => format!("conv2.{}", tail(t)),
        ["shortcut", t @ ..] => format!("conv_shortcut.{}", tail(t)),
        _ => tail(r),
    }
}

/// The Wan 2.1 original name of diffusers name `canonical` (the inverse of
/// [`wan_to_canonical`]).
pub(super) fn to_wan_name(canonical: &str) -> String {
    let segs: Vec<&str> = canonical.split('.').collect();
    let rest = |r: &[&str]| r.join(".");
    let residual = |r: &[&str]| match r {
        ["norm1", t @ ..] => format!("residual.0.{}", rest(t)),
        ["conv1", t @ ..] => format!("residual.2.{}", rest(t)),
        ["norm2", t @ ..] => format!("residual.3.{}", rest(t)),
        ["conv2", t @ ..] => format!("residual.6.{}", rest(t)),
        ["conv_shortcut", t @ ..] => format!("shortcut.{}", rest(t)),
        _ => rest(r),
    };
    let up = |b: &str, m: usize| index(b).map_or(0, |b| b * WAN_UP_STRIDE + m);
    match segs.as_slice() {
        ["quant_conv", r @ ..] => format!("conv1.{}", rest(r)),
        ["post_quant_conv", r @ ..] => format!("conv2.{}", rest(r)),
        [part, "conv_in", r @ ..] => format!("{part}.conv1.{}", rest(r)),
        [part, "norm_out", r @ ..] => format!("{part}.head.0.{}", rest(r)),
        [part, "conv_out", r @ ..] => format!("{part}.head.2.{}", rest(r)),
        [part, "mid_block", "resnets", j, r @ ..] => {
            let m = if *j == "0" { 0 } else { 2 };
            format!("{part}.middle.{m}.{}", residual(r))
        }
        [part, "mid_block", "attentions", "0", r @ ..] => format!("{part}.middle.1.{}", rest(r)),
        [part, "down_blocks", i, r @ ..] => format!("{part}.downsamples.{i}.{}", residual(r)),
        [part, "up_blocks", b, "resnets", j, r @ ..] => {
            let i = up(b, index(j).unwrap_or(0));
            format!("{part}.upsamples.{i}.{}", residual(r))
        }
        [part, "up_blocks", b, "upsamplers", "0", r @ ..] => {
            format!("{part}.upsamples.{}.{}", up(b, WAN_UP_STRIDE - 1), rest(r))
        }
        _ => canonical.to_string(),
    }
}
