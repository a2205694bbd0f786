//! The `bench` command: median encode and decode times, GFLOP/s and the GPU memory the engine
//! held, ending with one machine-readable line.

use std::time::Instant;

use pollster::block_on;
use sdxl_vae::cost::model_macs;
use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::{Layout, VaeConfig};
use sdxl_vae::{Gpu, Image, Vae};

use crate::commands::{Globals, Model};
use crate::error::{invalid, CliResult, Context};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Weights file, or `synthetic` for generated full-size SDXL weights (no download)
    #[arg(long)]
    weights: String,
    /// Image side in pixels (a multiple of 8)
    #[arg(long, default_value_t = 256)]
    size: u32,
    /// Timed repetitions of each phase, after one warm-up
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Record one encode and one decode without running them: prints the row bands, dispatches
    /// and GPU memory they need, and fails if the device would reject them
    #[arg(long)]
    dry_run: bool,
    /// After the warm-up, run one encode and one decode with every dispatch submitted and timed
    /// on its own, and print the time per kernel (slower overall; no bench line)
    #[arg(long, conflicts_with = "dry_run")]
    profile: bool,
}

/// A weights file, or `synthetic` for generated full-size SDXL weights.
pub fn load(weights: &str, globals: &Globals) -> CliResult<(Vae, Gpu)> {
    if weights != "synthetic" {
        let m = Model::load(weights.as_ref(), globals)?;
        return Ok((m.vae, m.gpu));
    }
    let gpu = block_on(Gpu::new(&globals.gpu)).context("cannot start the GPU")?;
    let file = synthetic_safetensors(&VaeConfig::sdxl(), Layout::Ldm, SynthDtype::F32, "");
    let mut loader = Vae::loader(&gpu, globals.tuning.apply(&gpu, &globals.load));
    for chunk in file.chunks(1 << 20) {
        loader.push(chunk).context("synthetic weights")?;
    }
    Ok((loader.finish().context("synthetic weights")?, gpu))
}

/// A smooth test pattern, `size × size`.
pub fn pattern(size: u32) -> Image {
    pattern_wh(size, size)
}

/// A smooth test pattern, `w × h`.
pub fn pattern_wh(w: u32, h: u32) -> Image {
    let rgba = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            [
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x + y) * 127 / (w + h)) as u8,
                255,
            ]
        })
        .collect();
    Image {
        width: w,
        height: h,
        rgba,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn bench(args: &BenchArgs, globals: &Globals) -> CliResult<()> {
    if args.size == 0 || !args.size.is_multiple_of(8) || args.reps == 0 {
        return Err(invalid(format!(
            "--size must be a positive multiple of 8 and --reps positive (got {} and {})",
            args.size, args.reps
        )));
    }
    let (vae, gpu) = load(&args.weights, globals)?;
    if args.dry_run {
        return dry_run(&vae, &gpu, args.size);
    }
    println!("load: {}", vae.load_times());
    let image = pattern(args.size);
    let t = Instant::now();
    let latent = block_on(vae.encode(&image)).context("encode")?;
    let first_encode = t.elapsed().as_secs_f64();
    let t = Instant::now();
    block_on(vae.decode(&latent)).context("decode")?;
    let first_decode = t.elapsed().as_secs_f64();
    if args.profile {
        return profile(&vae, &gpu, &image);
    }
    let (mut enc, mut dec) = (vec![], vec![]);
    for _ in 0..args.reps {
        let t = Instant::now();
        let latent = block_on(vae.encode(&image)).context("encode")?;
        enc.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        block_on(vae.decode(&latent)).context("decode")?;
        dec.push(t.elapsed().as_secs_f64());
    }
    let s = args.size as usize;
    let (enc_s, dec_s) = (median(enc), median(dec));
    let (enc_macs, dec_macs) = model_macs(vae.info(), s, s);
    let enc_gflops = 2.0 * enc_macs as f64 / enc_s / 1e9;
    let dec_gflops = 2.0 * dec_macs as f64 / dec_s / 1e9;
    let peak_mib = vae.peak_gpu_bytes() as f64 / (1 << 20) as f64;
    println!(
        "adapter {}; conv staging {}; precision {}",
        gpu.adapter_name(),
        vae.conv_staging().name(),
        vae.precision().name()
    );
    println!("first calls after the load: encode {first_encode:.3} s, decode {first_decode:.3} s");
    println!(
        "encode {s}x{s}: median {enc_s:.3} s over {} reps, {enc_gflops:.1} GFLOP/s",
        args.reps
    );
    println!(
        "decode {s}x{s}: median {dec_s:.3} s over {} reps, {dec_gflops:.1} GFLOP/s",
        args.reps
    );
    let bands = vae
        .band_starts(args.size / 8, args.size / 8)
        .context("bands")?;
    println!(
        "GPU memory held: {peak_mib:.0} MiB at most (weights, activations and each call's own buffers); {} row band(s)",
        bands.len()
    );
    println!("bench size={s} encode_s={enc_s:.4} decode_s={dec_s:.4} encode_gflops={enc_gflops:.2} decode_gflops={dec_gflops:.2} peak_gpu_mib={peak_mib:.0} precision={}", vae.precision().name());
    Ok(())
}

fn profile(vae: &Vae, gpu: &Gpu, image: &Image) -> CliResult<()> {
    println!(
        "adapter {}; conv staging {}",
        gpu.adapter_name(),
        vae.conv_staging().name()
    );
    gpu.set_profiling(true);
    let t = Instant::now();
    let latent = block_on(vae.encode(image)).context("encode")?;
    let phases = [("encode", t.elapsed().as_secs_f64(), gpu.take_profile())];
    let t = Instant::now();
    let decoded = block_on(vae.decode(&latent));
    let decode = ("decode", t.elapsed().as_secs_f64(), gpu.take_profile());
    gpu.set_profiling(false);
    decoded.context("decode")?;
    for (phase, wall, kernels) in phases.into_iter().chain([decode]) {
        let total: f64 = kernels.iter().map(|k| k.seconds).sum();
        println!(
            "{phase} {}x{}: {wall:.3} s profiled, {total:.3} s in submissions",
            image.width, image.height
        );
        for k in kernels {
            println!(
                "  {:<18} {:>6} dispatches {:>9.3} s {:>5.1}%",
                k.kernel,
                k.dispatches,
                k.seconds,
                100.0 * k.seconds / total.max(1e-9)
            );
        }
    }
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn dry_run(vae: &Vae, gpu: &Gpu, size: u32) -> CliResult<()> {
    let (enc, dec) = block_on(vae.dry_run(size, size)).context("dry run")?;
    let weights = vae.weight_bytes();
    println!("adapter {}", gpu.adapter_name());
    let budget = match vae.memory_budget() {
        Some(b) => format!("memory budget {:.0} MiB", mib(b)),
        None => "no memory budget".into(),
    };
    println!(
        "binding limit {:.0} MiB; {budget}; weights {:.0} MiB",
        mib(gpu.max_binding_bytes()),
        mib(weights)
    );
    for (phase, r) in [("encode", &enc), ("decode", &dec)] {
        let core = match r.moved_bytes {
            0 if r.host_bytes == 0 => "in core".to_string(),
            m => format!(
                "out of core: {:.0} MiB on the host at most, {:.0} MiB moved",
                mib(r.host_bytes),
                mib(m)
            ),
        };
        println!(
            "{phase}: {} row band(s), {} dispatches, {core}; GPU {:.0} MiB at most in all (activations {:.0} MiB, {:.0} MiB alive at once)",
            r.bands,
            r.dispatches,
            mib(r.gpu_bytes),
            mib(r.peak_activation_bytes),
            mib(r.peak_live_bytes),
        );
    }
    println!(
        "dryrun size={size} bands={} encode_dispatches={} decode_dispatches={} encode_peak_mib={:.0} decode_peak_mib={:.0} weights_mib={:.0} encode_live_mib={:.0} decode_live_mib={:.0} encode_host_mib={:.0} decode_host_mib={:.0} encode_moved_mib={:.0} decode_moved_mib={:.0} decode_bands={}",
        enc.bands,
        enc.dispatches,
        dec.dispatches,
        mib(enc.gpu_bytes),
        mib(dec.gpu_bytes),
        mib(weights),
        mib(enc.peak_live_bytes),
        mib(dec.peak_live_bytes),
        mib(enc.host_bytes),
        mib(dec.host_bytes),
        mib(enc.moved_bytes),
        mib(dec.moved_bytes),
        dec.bands,
    );
    Ok(())
}
