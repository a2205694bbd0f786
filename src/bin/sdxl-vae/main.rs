//! `sdxl-vae`: encode images to SDXL VAE latents, decode latents to images, and measure how well
//! images survive the round trip. Every failure prints one `error: …` line and exits with 1.
//!
//! Native only: built for wasm32 (as `trunk` builds every target of the crate) it is an empty
//! program; the WebAssembly face of the crate is the library's `web` module.

#[cfg(not(target_arch = "wasm32"))]
mod bench;
#[cfg(not(target_arch = "wasm32"))]
mod commands;
#[cfg(not(target_arch = "wasm32"))]
mod error;
#[cfg(not(target_arch = "wasm32"))]
mod eval;
#[cfg(not(target_arch = "wasm32"))]
mod imageio;
#[cfg(not(target_arch = "wasm32"))]
mod synth;
#[cfg(not(target_arch = "wasm32"))]
mod tensorio;
#[cfg(not(target_arch = "wasm32"))]
mod tuning;

#[cfg(not(target_arch = "wasm32"))]
use std::process::ExitCode;

#[cfg(not(target_arch = "wasm32"))]
use clap::{Parser, Subcommand, ValueEnum};
#[cfg(not(target_arch = "wasm32"))]
use sdxl_vae::{GpuOptions, LimitsChoice, LoadOptions, Precision};

#[cfg(not(target_arch = "wasm32"))]
use commands::{DecodeArgs, EncodeArgs, Globals, InfoArgs, RoundtripArgs};
#[cfg(not(target_arch = "wasm32"))]
use error::{one_line, CliResult};
#[cfg(not(target_arch = "wasm32"))]
use eval::EvalArgs;

#[cfg(not(target_arch = "wasm32"))]
#[derive(Parser)]
#[command(
    name = "sdxl-vae",
    version,
    about = "The SDXL VAE (diffusers AutoencoderKL) on wgpu"
)]
struct Cli {
    /// Device limits to request
    #[arg(long, global = true, value_enum, default_value_t = Limits::Adapter)]
    limits: Limits,
    /// Latent scaling factor [default: 0.13025, the SDXL VAE's; SD 1.x VAEs use 0.18215]
    #[arg(long, global = true, value_name = "F", value_parser = parse_scaling_factor)]
    scaling_factor: Option<f32>,
    /// Most bytes of any one activation buffer, e.g. 64M (default: the device's binding limit);
    /// larger activations are split into row bands, with the same results
    #[arg(long, global = true, value_name = "BYTES", value_parser = parse_bytes)]
    max_buffer: Option<u64>,
    /// What the convolutions read: f32 (exact) or f16 weights and inputs, accumulated in f32,
    /// half the texture memory; a call whose activations exceed f16's range runs again in f32
    #[arg(long, global = true, value_enum, default_value_t = PrecisionArg::F32)]
    precision: PrecisionArg,
    #[command(flatten)]
    tuning: tuning::TuningArgs,
    #[command(subcommand)]
    command: Command,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Copy, ValueEnum)]
enum Limits {
    /// Everything the adapter offers
    Adapter,
    /// WebGPU's default limits, as a browser grants on a modest adapter
    WebgpuDefault,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Copy, ValueEnum)]
enum PrecisionArg {
    /// f32 weights and activations: exact
    F32,
    /// f16 weights and convolution inputs, f32 accumulation and statistics
    F16,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(Subcommand)]
enum Command {
    /// Image → latent (.npy or .safetensors)
    Encode(EncodeArgs),
    /// Latent → image
    Decode(DecodeArgs),
    /// Image → latent → image, with PSNR and SSIM against the input
    Roundtrip(RoundtripArgs),
    /// Mean ± std of PSNR and SSIM over a folder of images
    Eval(EvalArgs),
    /// What a weights file holds (reads only its header; no GPU)
    Info(InfoArgs),
    /// Median encode/decode times, GFLOP/s and GPU memory at one image size
    Bench(bench::BenchArgs),
    /// Write a synthetic weights file (deterministic values, any block widths; no download)
    Synth(synth::SynthArgs),
}

#[cfg(not(target_arch = "wasm32"))]
fn parse_scaling_factor(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a positive number, got {s:?}")),
    }
}

/// A byte count with an optional K, M or G suffix (powers of 1024).
#[cfg(not(target_arch = "wasm32"))]
fn parse_bytes(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    match num.parse::<u64>() {
        Ok(n) if n > 0 => n
            .checked_mul(mult)
            .ok_or_else(|| format!("{s:?} is too large")),
        _ => Err(format!(
            "expected a positive byte count such as 65536 or 64M, got {s:?}"
        )),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn run(cli: Cli) -> CliResult<()> {
    let limits = match cli.limits {
        Limits::Adapter => LimitsChoice::Adapter,
        Limits::WebgpuDefault => LimitsChoice::WebGpuDefault,
    };
    let globals = Globals {
        gpu: GpuOptions { limits },
        load: LoadOptions {
            scaling_factor: cli.scaling_factor,
            max_band_bytes: cli.max_buffer,
            precision: match cli.precision {
                PrecisionArg::F32 => Precision::F32,
                PrecisionArg::F16 => Precision::F16,
            },
            tuning: None,
        },
        tuning: cli.tuning,
    };
    match &cli.command {
        Command::Encode(args) => commands::encode(args, &globals),
        Command::Decode(args) => commands::decode(args, &globals),
        Command::Roundtrip(args) => commands::roundtrip(args, &globals),
        Command::Eval(args) => eval::eval(args, &globals),
        Command::Info(args) => commands::info(args, &globals),
        Command::Bench(args) => bench::bench(args, &globals),
        Command::Synth(args) => synth::synth(args),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> ExitCode {
    // A panic is a bug, but it still ends as one error line and status 1, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error{place}: {}", one_line(&message));
        std::process::exit(1);
    }));
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}
