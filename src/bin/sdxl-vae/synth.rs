//! `synth`: writes a synthetic weights file (the rule of `sdxl_vae::weights::synthetic`), so tests
//! and demos get a loadable model of any width without downloading a checkpoint. The values match
//! the diffusers reference fixtures in `tests/fixtures` for the same blocks and dtype.

use std::path::PathBuf;

use clap::ValueEnum;
use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::{Layout, VaeConfig};

use crate::error::{invalid, CliResult, Context};

#[derive(clap::Args)]
pub struct SynthArgs {
    /// Output channels of the four blocks (SDXL: 128,256,512,512; the test model: 32,32,64,64);
    /// each a positive multiple of 32 (the GroupNorm groups)
    #[arg(long, value_delimiter = ',', default_value = "128,256,512,512")]
    blocks: Vec<usize>,
    /// Element type of the tensors
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    dtype: Dtype,
    /// Tensor names and shapes
    #[arg(long, value_enum, default_value_t = NameLayout::Ldm)]
    layout: NameLayout,
    /// Latent channels: 4 (SD 1.x, SDXL), 16 (SD3, FLUX.1: no quant convs) or 32 (FLUX.2:
    /// quant convs and the latent statistics `bn.running_mean`, `bn.running_var`)
    #[arg(long, default_value_t = 4)]
    latent_channels: usize,
    /// The decoder's own blocks, where they differ from --blocks (FLUX.2's small decoder:
    /// 96,192,384,384)
    #[arg(long, value_delimiter = ',')]
    decoder_blocks: Option<Vec<usize>>,
    /// A tiny autoencoder (diffusers AutoencoderTiny) instead; --blocks is ignored
    #[arg(long)]
    tiny: bool,
    /// Qwen-Image's VAE (Wan 2.1's; 16 latent channels) in --blocks (Qwen-Image: 96,192,384,384;
    /// any positive widths, the first its base width)
    #[arg(long, conflicts_with = "tiny")]
    qwen: bool,
    /// Output `.safetensors` file
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum Dtype {
    F16,
    F32,
    Bf16,
}

#[derive(Clone, Copy, ValueEnum)]
enum NameLayout {
    /// CompVis/LDM names, as `sdxl_vae.safetensors`
    Ldm,
    /// diffusers names, as `diffusion_pytorch_model.safetensors`
    Diffusers,
    /// FLUX.2's original names, as `flux2-vae.safetensors` (LDM's, the quant convs inside the
    /// halves)
    Flux2,
    /// Wan 2.1's original names, as `qwen_image_vae.safetensors` (with --qwen)
    Wan,
}

pub fn synth(args: &SynthArgs) -> CliResult<()> {
    if args.qwen {
        return synth_qwen(args);
    }
    if !matches!(
        args.layout,
        NameLayout::Ldm | NameLayout::Diffusers | NameLayout::Flux2
    ) {
        return Err(invalid("--layout wan names Qwen-Image's VAE: add --qwen"));
    }
    if args.blocks.len() < 2 || args.blocks.iter().any(|&c| c == 0 || c % 32 != 0) {
        return Err(invalid(format!(
            "--blocks needs at least two positive multiples of 32, got {:?}",
            args.blocks
        )));
    }
    let latent = args.latent_channels;
    if !(1..=64).contains(&latent) {
        return Err(invalid(format!(
            "--latent-channels takes 1 to 64, got {latent}"
        )));
    }
    if let Some(d) = &args.decoder_blocks {
        if d.len() != args.blocks.len() || d.iter().any(|&c| c == 0 || c % 32 != 0) {
            return Err(invalid(format!(
                "--decoder-blocks needs as many positive multiples of 32 as --blocks, got {d:?}"
            )));
        }
    }
    let flux2 = VaeConfig::flux2(false);
    let config = VaeConfig {
        block_out_channels: args.blocks.clone(),
        decoder_block_out_channels: args.decoder_blocks.clone(),
        latent_channels: latent,
        use_quant_conv: latent == 4 || latent == 32,
        use_post_quant_conv: latent == 4 || latent == 32,
        latent_norm: flux2.latent_norm.filter(|_| latent == 32),
        ..VaeConfig::sdxl()
    };
    let dtype = dtype(args);
    let layout = match args.layout {
        NameLayout::Ldm => Layout::Ldm,
        NameLayout::Flux2 => Layout::Flux2,
        NameLayout::Diffusers | NameLayout::Wan => Layout::Diffusers,
    };
    let bytes = match args.tiny {
        false => synthetic_safetensors(&config, layout, dtype, ""),
        true => {
            let cfg = sdxl_vae::weights::tiny::TinyConfig {
                latent_channels: latent,
                encoder: true,
                decoder: true,
                pools: false,
                video: None,
            };
            let layout = match args.layout {
                NameLayout::Ldm => Layout::Taesd,
                NameLayout::Diffusers => Layout::Diffusers,
                NameLayout::Flux2 | NameLayout::Wan => {
                    return Err(invalid(
                        "--layout flux2 or wan names a full VAE, not a tiny one",
                    ))
                }
            };
            sdxl_vae::weights::synthetic::synthetic_tiny(&cfg, layout, dtype, "")
        }
    };
    write(args, &bytes)
}

fn dtype(args: &SynthArgs) -> SynthDtype {
    match args.dtype {
        Dtype::F16 => SynthDtype::F16,
        Dtype::F32 => SynthDtype::F32,
        Dtype::Bf16 => SynthDtype::BF16,
    }
}

fn write(args: &SynthArgs, bytes: &[u8]) -> CliResult<()> {
    std::fs::write(&args.output, bytes)
        .context(format!("cannot write {}", args.output.display()))?;
    println!("wrote {} ({} bytes)", args.output.display(), bytes.len());
    Ok(())
}

/// `synth --qwen`: Qwen-Image's VAE of `--blocks` (even widths: its upsamplings halve them), 16
/// latent channels, in diffusers' or Wan's names.
fn synth_qwen(args: &SynthArgs) -> CliResult<()> {
    if args.blocks.len() < 2 || args.blocks.iter().any(|&c| c == 0 || c % 2 != 0) {
        return Err(invalid(format!(
            "--qwen --blocks needs at least two positive even widths, got {:?}",
            args.blocks
        )));
    }
    let layout = match args.layout {
        NameLayout::Diffusers => Layout::Diffusers,
        NameLayout::Wan => Layout::Wan,
        _ => return Err(invalid("--qwen takes --layout diffusers or wan")),
    };
    let config = VaeConfig {
        block_out_channels: args.blocks.clone(),
        ..VaeConfig::qwen_image()
    };
    write(
        args,
        &synthetic_safetensors(&config, layout, dtype(args), ""),
    )
}
