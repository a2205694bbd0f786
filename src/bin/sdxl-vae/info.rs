//! `info`: what a weights file holds, from its header alone — format, layout, class, dtypes,
//! parameters, blocks, the latent's shapes here and in diffusion space, the family.

use std::path::PathBuf;

use sdxl_vae::weights::tiny::TinyConfig;
use sdxl_vae::weights::{Kind, LatentNorm, Style, VaeConfig};

use crate::commands::{config_for, family_line, read_weights_info, Globals};
use crate::error::CliResult;

#[derive(clap::Args)]
pub struct InfoArgs {
    /// Weights (.safetensors, or a PyTorch .ckpt/.pt/.pth)
    weights: PathBuf,
}

pub fn info(args: &InfoArgs, globals: &Globals) -> CliResult<()> {
    let mut load = globals.load.clone();
    load.family.config = config_for(&args.weights, globals)?;
    let info = read_weights_info(&args.weights, &load)?;
    let c = &info.config;
    let dtypes: Vec<String> = info
        .dtypes
        .iter()
        .map(|(d, n)| format!("{d} ×{n}"))
        .collect();
    println!("file        {}", args.weights.display());
    println!(
        "size        {} bytes ({:.1} MiB)",
        info.file_bytes,
        info.file_bytes as f64 / (1024.0 * 1024.0)
    );
    println!("format      {}", info.format);
    println!("layout      {}", info.layout);
    let model = match info.kind {
        Kind::Kl if c.latent_norm.is_some() => "AutoencoderKLFlux2",
        Kind::Kl => "AutoencoderKL",
        Kind::Tiny => "AutoencoderTiny",
        Kind::Taehv => "TAEHV (taehv.py) on one image",
        Kind::Qwen => "AutoencoderKLQwenImage (on one frame)",
    };
    println!("model       {model} ({})", info.kind);
    println!("dtypes      {}", dtypes.join(", "));
    println!("parameters  {}", info.param_count);
    let norms = match (&info.tiny, c.style) {
        (Some(t), _) => {
            println!("blocks      {}", tiny_blocks(t));
            String::new()
        }
        (None, style) => {
            println!(
                "blocks      {} with channels {:?}, {} layers per block",
                c.block_out_channels.len(),
                c.block_out_channels,
                c.layers_per_block
            );
            if let Some(d) = &c.decoder_block_out_channels {
                println!("decoder     channels {d:?} (its own, narrower)");
            }
            match style {
                Style::Kl => format!(", norm groups {}", c.norm_num_groups),
                Style::Qwen => ", channel RMS norms".to_string(),
            }
        }
    };
    println!(
        "channels    image {} in / {} out, latent {}{norms}",
        c.in_channels, c.out_channels, c.latent_channels
    );
    println!("latent      {}", latent_layout_line(c));
    println!(
        "{}",
        family_line(&info).replacen("family ", "family      ", 1)
    );
    if info.ignored_tensors > 0 {
        println!(
            "ignored     {} tensors not part of the VAE ({:.1} MiB, read past)",
            info.ignored_tensors,
            info.ignored_bytes as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(())
}

/// A tiny autoencoder's halves and widths; for TAEHV its time strides and how one image runs.
fn tiny_blocks(t: &TinyConfig) -> String {
    let halves = match (t.encoder, t.decoder) {
        (true, true) => "encoder and decoder",
        (true, false) => "encoder only",
        _ => "decoder only",
    };
    match &t.video {
        Some(v) => format!(
            "{halves}; widths {} (encoder), {:?} (decoder); time strides {:?} (pools: {} copies of \
             the image make its latent), {:?} (grows: {} frames decoded, the last kept; stored \
             {:?})",
            v.encoder,
            v.decoder,
            v.pool,
            v.frames(),
            v.runs(),
            v.runs().iter().product::<usize>(),
            v.grow
        ),
        None => {
            let pools = if t.pools {
                ", pooled blocks at the latent's size"
            } else {
                ""
            };
            format!("{halves}; 64 channels throughout{pools}")
        }
    }
}

/// How a latent looks here and to a diffusion model (what `--scaled` writes and reads).
fn latent_layout_line(c: &VaeConfig) -> String {
    let here = format!("{} × h/8 × w/8 (unscaled)", c.latent_channels);
    let (channels, patch) = c.diffusion_layout();
    match &c.latent_norm {
        Some(LatentNorm::Batch { eps }) => format!(
            "{here}; --scaled: {channels} × h/{} × w/{}, {patch}×{patch} patches normalised by \
             the weights' statistics (eps {eps})",
            8 * patch,
            8 * patch,
        ),
        Some(LatentNorm::Channels { .. }) => {
            format!("{here}; --scaled: (x − mean) / std per channel, same shape")
        }
        None => format!("{here}; --scaled: (x − shift) × scale, same shape"),
    }
}
