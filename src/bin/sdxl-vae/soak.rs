//! The `soak` command: many calls on one loaded model, checking that neither the GPU memory the
//! engine holds nor the process's resident memory grows once every size has been seen. Prints
//! `soak calls=… gpu_mib_first=… gpu_mib_max=… gpu_mib_last=… rss_mib_first=… rss_mib_last=…`:
//! GPU memory as the engine holds it (weights and activation buffers) — the most during the
//! first round, the most overall, after the last call — and the resident memory after the first
//! round and at the end.

use pollster::block_on;

use crate::bench::{load, pattern_wh};
use crate::commands::Globals;
use crate::error::{invalid, CliError, CliResult, Context};

/// Most the held GPU memory may grow after the first round, as a fraction.
const GPU_GROWTH: f64 = 0.05;
/// Most the resident memory may grow after the first round.
const RSS_GROWTH_MIB: f64 = 64.0;

#[derive(clap::Args)]
pub struct SoakArgs {
    /// Weights file, or `synthetic` for generated full-size SDXL weights (no download)
    #[arg(long)]
    weights: String,
    /// Calls in all: encodes and decodes alternate, each decode taking the latent just encoded
    #[arg(long, default_value_t = 40)]
    calls: usize,
    /// Image sides to cycle through, `W` or `WxH` (any size; sides need not be multiples of 8)
    #[arg(long, value_delimiter = ',', default_value = "64,96x72")]
    sizes: Vec<String>,
}

fn size(text: &str) -> CliResult<(u32, u32)> {
    let parse = |s: &str| s.trim().parse::<u32>().ok().filter(|&n| n > 0);
    let (w, h) = match text.split_once('x') {
        Some((w, h)) => (parse(w), parse(h)),
        None => (parse(text), parse(text)),
    };
    w.zip(h).ok_or_else(|| {
        invalid(format!(
            "--sizes: {text:?} is not W or WxH with positive sides"
        ))
    })
}

/// Resident memory of this process in MiB (Linux), else 0.
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = (statm.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

pub fn soak(args: &SoakArgs, globals: &Globals) -> CliResult<()> {
    let sizes = args
        .sizes
        .iter()
        .map(|s| size(s))
        .collect::<CliResult<Vec<_>>>()?;
    let round = 2 * sizes.len();
    if sizes.is_empty() || args.calls < 2 * round {
        return Err(invalid(format!(
            "--calls must be at least two rounds over the sizes ({} here)",
            2 * round
        )));
    }
    let (vae, _gpu) = load(&args.weights, globals)?;
    let gpu_mib = || (vae.weight_bytes() + vae.activation_bytes().0) as f64 / (1024.0 * 1024.0);
    // What the engine holds after a call depends on that call's size and on the ones before
    // (its pool keeps buffers for the next call of each shape), so the first round — every
    // size encoded and decoded once — sets the bar: no later call may hold more than its most.
    let (mut gpu_first, mut gpu_max, mut rss_first, mut latent) = (0f64, 0f64, 0.0, None);
    for call in 0..args.calls {
        let (w, h) = sizes[(call / 2) % sizes.len()];
        match latent.take() {
            None => {
                let image = pattern_wh(w, h);
                latent = Some(block_on(vae.encode(&image)).context(format!("encode {w}x{h}"))?);
            }
            Some(z) => {
                block_on(vae.decode(&z)).context(format!("decode {w}x{h}"))?;
            }
        }
        let held = gpu_mib();
        gpu_max = gpu_max.max(held);
        if call < round {
            gpu_first = gpu_max;
        }
        if call + 1 == round {
            rss_first = rss_mib();
        }
    }
    let (gpu_last, rss_last) = (gpu_mib(), rss_mib());
    println!(
        "soak calls={} gpu_mib_first={gpu_first:.1} gpu_mib_max={gpu_max:.1} \
         gpu_mib_last={gpu_last:.1} rss_mib_first={rss_first:.1} rss_mib_last={rss_last:.1}",
        args.calls
    );
    if gpu_max > gpu_first * (1.0 + GPU_GROWTH) {
        return Err(grew(format!(
            "soak: held GPU memory grew after the first round, from {gpu_first:.1} MiB to \
             {gpu_max:.1} MiB at most (allowed: +{:.0}%)",
            GPU_GROWTH * 100.0
        )));
    }
    if rss_last > rss_first + RSS_GROWTH_MIB {
        return Err(grew(format!(
            "soak: resident memory grew after the first round, from {rss_first:.1} MiB to \
             {rss_last:.1} MiB (allowed: +{RSS_GROWTH_MIB} MiB)"
        )));
    }
    Ok(())
}

/// The soak's own verdict: memory grew (code `check-failed`).
fn grew(message: String) -> CliError {
    CliError::Invalid {
        code: "check-failed",
        message,
    }
}
