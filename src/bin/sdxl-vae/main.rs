//! `sdxl-vae`: encode images to SDXL VAE latents, decode latents to images, and measure how well
//! images survive the round trip. Every failure prints one `error[code]: …` line and exits with 1.
//!
//! Native only: built for wasm32 (as `trunk` builds every target of the crate) it is an empty
//! program; the WebAssembly face of the crate is the library's `web` module.

#[cfg(not(target_arch = "wasm32"))]
mod batch;
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
mod info;
#[cfg(not(target_arch = "wasm32"))]
mod progress;
#[cfg(not(target_arch = "wasm32"))]
mod soak;
#[cfg(not(target_arch = "wasm32"))]
mod synth;
#[cfg(not(target_arch = "wasm32"))]
mod tensorio;
#[cfg(not(target_arch = "wasm32"))]
mod tuning;

#[cfg(not(target_arch = "wasm32"))]
use std::process::ExitCode;

#[cfg(not(target_arch = "wasm32"))]
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
#[cfg(not(target_arch = "wasm32"))]
use sdxl_vae::{Choices, OptionKind, OptionValue, OPTIONS};

#[cfg(not(target_arch = "wasm32"))]
use commands::{DecodeArgs, EncodeArgs, Globals, RoundtripArgs};
#[cfg(not(target_arch = "wasm32"))]
use error::{one_line, CliResult};
#[cfg(not(target_arch = "wasm32"))]
use eval::EvalArgs;
#[cfg(not(target_arch = "wasm32"))]
use info::InfoArgs;

#[cfg(not(target_arch = "wasm32"))]
#[derive(Parser)]
#[command(
    name = "sdxl-vae",
    version,
    about = "The SDXL VAE (diffusers AutoencoderKL) on wgpu"
)]
struct Cli {
    // The user options' global flags come from `sdxl_vae::OPTIONS` (see `user_options`).
    #[command(flatten)]
    tuning: tuning::TuningArgs,
    #[command(subcommand)]
    command: Command,
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
    /// Many encodes and decodes on one model: fails if GPU or host memory grows after the first
    /// round
    Soak(soak::SoakArgs),
    /// Write a synthetic weights file (deterministic values, any block widths; no download)
    Synth(synth::SynthArgs),
}

/// The global flag of each user option of `sdxl_vae::OPTIONS`, its value checked as the
/// library checks it.
#[cfg(not(target_arch = "wasm32"))]
fn user_options() -> Vec<clap::Arg> {
    OPTIONS
        .iter()
        .map(|o| {
            let arg = clap::Arg::new(o.cli)
                .long(o.cli)
                .global(true)
                .help(o.doc)
                .hide(o.hidden);
            match o.kind {
                OptionKind::Choice(words) => arg.value_parser(words.to_vec()),
                OptionKind::Bool => arg.value_parser(["true", "false"]),
                OptionKind::Number | OptionKind::Real => {
                    arg.value_name("F").value_parser(check(o.cli))
                }
                OptionKind::Bytes => arg.value_name("BYTES").value_parser(check(o.cli)),
                // A path, read (and checked) once the flags are parsed.
                OptionKind::Json => arg
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(String)),
            }
        })
        .collect()
}

/// A value parser that keeps the text once `Choices::set` takes it.
#[cfg(not(target_arch = "wasm32"))]
fn check(name: &'static str) -> impl Fn(&str) -> Result<String, String> + Clone {
    move |s: &str| {
        Choices::default().set(name, OptionValue::Text(s))?;
        Ok(s.to_string())
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn run(cli: Cli, matches: &clap::ArgMatches) -> CliResult<()> {
    let mut choices = Choices::default();
    for o in OPTIONS {
        // Global flags are found on the subcommand's matches too.
        let given = std::iter::successors(Some(matches), |m| m.subcommand().map(|(_, m)| m))
            .find_map(|m| m.get_one::<String>(o.cli));
        let Some(v) = given else { continue };
        let text = match o.kind {
            OptionKind::Json => std::fs::read_to_string(v)
                .map_err(|e| error::invalid(format!("cannot read --{} {v}: {e}", o.cli)))?,
            _ => v.clone(),
        };
        choices
            .set(o.cli, OptionValue::Text(&text))
            .map_err(|e| error::invalid(format!("--{} {v}: {e}", o.cli)))?;
    }
    let globals = Globals {
        gpu: choices.gpu,
        load: choices.load,
        tuning: cli.tuning,
    };
    match &cli.command {
        Command::Encode(args) => commands::encode(args, &globals),
        Command::Decode(args) => commands::decode(args, &globals),
        Command::Roundtrip(args) => commands::roundtrip(args, &globals),
        Command::Eval(args) => eval::eval(args, &globals),
        Command::Info(args) => info::info(args, &globals),
        Command::Bench(args) => bench::bench(args, &globals),
        Command::Soak(args) => soak::soak(args, &globals),
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
        eprintln!(
            "error[internal]: internal error{place}: {}",
            one_line(&message)
        );
        std::process::exit(1);
    }));
    let matches = Cli::command().args(user_options()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error[{}]: {}", e.code(), one_line(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}
