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
}

pub fn synth(args: &SynthArgs) -> CliResult<()> {
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
    let dtype = match args.dtype {
        Dtype::F16 => SynthDtype::F16,
        Dtype::F32 => SynthDtype::F32,
        Dtype::Bf16 => SynthDtype::BF16,
    };
    let layout = match args.layout {
        NameLayout::Ldm => Layout::Ldm,
        NameLayout::Flux2 => Layout::Flux2,
        NameLayout::Diffusers => Layout::Diffusers,
    };
    let bytes = match args.tiny {
        false => synthetic_safetensors(&config, layout, dtype, ""),
        true => {
            let cfg = sdxl_vae::weights::tiny::TinyConfig {
                latent_channels: latent,
                encoder: true,
                decoder: true,
            };
            let layout = match args.layout {
                NameLayout::Ldm => Layout::Taesd,
                NameLayout::Diffusers => Layout::Diffusers,
                NameLayout::Flux2 => {
                    return Err(invalid("--layout flux2 names a full VAE, not a tiny one"))
                }
            };
            sdxl_vae::weights::synthetic::synthetic_tiny(&cfg, layout, dtype, "")
        }
    };
    std::fs::write(&args.output, &bytes)
        .context(format!("cannot write {}", args.output.display()))?;
    println!("wrote {} ({} bytes)", args.output.display(), bytes.len());
    Ok(())
}
