//! Row banding from the command line: `--max-buffer` splits activations into row bands without
//! changing the result, and a dry run shows a 1024² encode and decode fit WebGPU's default limits.

use std::process::Output;

use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::{Layout, VaeConfig};
use tempfile::TempDir;

use crate::cli_support;
use cli_support::{read_npy, s, sdxl_vae, write_npy};

/// `key=value` fields of the last stdout line, which must start with `prefix`.
fn fields(out: &Output, prefix: &str) -> Vec<(String, f64)> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.starts_with(prefix), "{last}");
    last.split_whitespace()
        .skip(1)
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().expect("a number")))
        .collect()
}

#[test]
fn decode_in_row_bands_equals_the_unbanded_decode() {
    let dir = TempDir::new().expect("temp dir");
    let cfg = VaeConfig {
        block_out_channels: vec![32, 32, 64, 64],
        ..VaeConfig::sdxl()
    };
    let weights = dir.path().join("small.safetensors");
    let file = synthetic_safetensors(&cfg, Layout::Diffusers, SynthDtype::F32, "");
    std::fs::write(&weights, file).expect("write weights");
    // A latent of 8×6 → a 64×48 image; 80 KiB buffers give one latent row per band.
    let latent = dir.path().join("z.npy");
    let (h, w) = (6u64, 8u64);
    let z: Vec<f32> = (0..4 * h * w)
        .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 2.0)
        .collect();
    write_npy(&latent, &[1, 4, h, w], &z);
    let mut raws = Vec::new();
    for max in [None, Some("200K"), Some("80K")] {
        let (png, raw) = (dir.path().join("o.png"), dir.path().join("o.npy"));
        let mut args = vec!["decode", "--weights", s(&weights), s(&latent)];
        args.extend(["-o", s(&png), "--raw", s(&raw)]);
        if let Some(m) = max {
            args.extend(["--max-buffer", m]);
        }
        let out = sdxl_vae(&args);
        assert!(out.status.success(), "{out:?}");
        let (shape, values) = read_npy(&raw);
        assert_eq!(shape, [1, 3, 48, 64]);
        raws.push(values);
    }
    for (i, r) in raws.iter().enumerate().skip(1) {
        let worst = r
            .iter()
            .zip(&raws[0])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        println!("run {i}: worst difference from the unbanded decode {worst:.2e}");
        assert!(worst <= 1e-4, "run {i}: {worst}");
    }
    // Too small for even one row of the widest activation: a clear error, not a panic.
    let out = sdxl_vae(
        &["decode", "--weights", s(&weights), s(&latent), "-o"]
            .into_iter()
            .chain([s(&dir.path().join("x.png")), "--max-buffer", "4K"])
            .collect::<Vec<_>>(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error[too-large]: ") && stderr.contains("row band"),
        "{stderr}"
    );
}

/// A 1024² encode and decode of full-size SDXL are recorded and validated under WebGPU's default
/// limits (128 MiB per binding), in row bands; running them takes hours on a CPU driver, so the
/// benchmark runs them where a GPU is lent.
#[test]
fn dry_run_at_1024_fits_webgpu_default_limits() {
    let out = sdxl_vae(&[
        "bench",
        "--weights",
        "synthetic",
        "--size",
        "1024",
        "--limits",
        "webgpu-default",
        "--dry-run",
    ]);
    let f = fields(&out, "dryrun size=1024 ");
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| *v).unwrap();
    assert_eq!(get("bands"), 9.0);
    assert!(get("decode_dispatches") > 100.0);
    // Weights plus activations: what a browser must grant.
    let peak = get("decode_peak_mib");
    assert!(
        peak > get("weights_mib") + 1024.0 && peak < 8192.0,
        "{peak}"
    );
    // Planned buffers: what is held stays close to what is alive at once.
    for phase in ["encode", "decode"] {
        let held = get(&format!("{phase}_peak_mib")) - get("weights_mib");
        let live = get(&format!("{phase}_live_mib"));
        assert!(
            held <= 1.2 * live,
            "{phase}: {held} MiB held, {live} MiB alive at once"
        );
    }
}
