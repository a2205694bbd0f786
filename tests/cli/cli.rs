//! The `sdxl-vae` command-line tool, run as a process. Failures must end in one `error:` line and
//! status 1 (never a panic); successes run a small synthetic model (channels [32, 32, 64, 64]) on
//! a 37×29 image, whose sides are not multiples of 8, so padding and cropping are exercised.

use std::path::{Path, PathBuf};
use std::process::Output;

use tempfile::TempDir;

use crate::cli_support;
use cli_support::{read_npy, s, sdxl_vae, small_weights, write_npy, write_small_weights};

const SCALING: f32 = 0.13025;

/// A smooth colour pattern with some texture, `w × h`.
fn write_png(dir: &Path, name: &str, w: u32, h: u32) -> PathBuf {
    let path = dir.join(name);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let t = ((x * 7 + y * 3) % 16) as u8;
        image::Rgb([(x * 6) as u8 + t, (y * 8) as u8, 200 - (x + y) as u8 * 2])
    });
    img.save(&path).expect("write png");
    path
}

/// Runs `sdxl-vae encode` on `image`, whatever the outcome.
fn run_encode(weights: &Path, image: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["encode", "--weights", s(weights), s(image), "-o", s(out)];
    args.extend_from_slice(extra);
    sdxl_vae(&args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Status 1, exactly one stderr line `error[code]: …`, no panic, and every `needle` in it.
fn assert_error(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(lines.len(), 1, "want one line, stderr: {stderr}");
    assert!(
        lines[0].starts_with("error[") && lines[0].contains("]: ") && lines[0].len() > 12,
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
}

#[test]
fn missing_weights_file() {
    let dir = TempDir::new().expect("temp dir");
    let png = write_png(dir.path(), "a.png", 37, 29);
    let weights = dir.path().join("absent.safetensors");
    let latent = dir.path().join("l.npy");
    let out = run_encode(&weights, &png, &latent, &[]);
    assert_error(
        &out,
        &[
            "error[fetch-failed]",
            "cannot open weights",
            "absent.safetensors",
        ],
    );
    assert!(!latent.exists());
    assert_error(&sdxl_vae(&["info", s(&weights)]), &["absent.safetensors"]);
}

#[test]
fn random_bytes_as_weights() {
    let dir = TempDir::new().expect("temp dir");
    let png = write_png(dir.path(), "a.png", 37, 29);
    let weights = dir.path().join("noise.safetensors");
    let mut state = 0x1234_5678_9abc_def0u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect();
    std::fs::write(&weights, noise).expect("write noise");
    let latent = dir.path().join("l.npy");
    let out = run_encode(&weights, &png, &latent, &[]);
    assert_error(&out, &["error[bad-weights]", "noise.safetensors", "header"]);
    assert_error(&sdxl_vae(&["info", s(&weights)]), &["noise.safetensors"]);
}

#[test]
fn truncated_weights() {
    let dir = TempDir::new().expect("temp dir");
    let png = write_png(dir.path(), "a.png", 37, 29);
    let weights = dir.path().join("cut.safetensors");
    let bytes = small_weights();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).expect("write weights");
    let latent = dir.path().join("l.npy");
    let out = run_encode(&weights, &png, &latent, &[]);
    assert_error(
        &out,
        &["error[bad-weights]", "cut.safetensors", "truncated"],
    );
    assert_error(&sdxl_vae(&["info", s(&weights)]), &["truncated"]);
    // Cut inside the header: the reader itself reports it.
    std::fs::write(&weights, &bytes[..100]).expect("write weights");
    assert_error(&sdxl_vae(&["info", s(&weights)]), &["truncated"]);
}

#[test]
fn text_file_as_image() {
    let dir = TempDir::new().expect("temp dir");
    let weights = write_small_weights(dir.path());
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not pixels\n").expect("write text");
    let latent = dir.path().join("l.npy");
    let out = run_encode(&weights, &text, &latent, &[]);
    assert_error(
        &out,
        &["error[bad-image]", "notes.txt", "not a readable image"],
    );
}

#[test]
fn latent_with_three_channels() {
    let dir = TempDir::new().expect("temp dir");
    let weights = write_small_weights(dir.path());
    let latent = dir.path().join("three.npy");
    write_npy(&latent, &[1, 3, 4, 5], &[0.0; 60]);
    let png = dir.path().join("out.png");
    let out = sdxl_vae(&[
        "decode",
        "--weights",
        s(&weights),
        s(&latent),
        "-o",
        s(&png),
    ]);
    assert_error(&out, &["error[bad-latent]", "three.npy", "3 channels"]);
    write_npy(&latent, &[20, 3], &[0.0; 60]);
    let out = sdxl_vae(&[
        "decode",
        "--weights",
        s(&weights),
        s(&latent),
        "-o",
        s(&png),
    ]);
    assert_error(&out, &["error[bad-latent]", "three.npy", "[20, 3]"]);
    assert!(!png.exists());
}

#[test]
fn missing_eval_folder() {
    let dir = TempDir::new().expect("temp dir");
    let weights = write_small_weights(dir.path());
    let missing = dir.path().join("no-such-folder");
    let out = sdxl_vae(&["eval", "--weights", s(&weights), s(&missing)]);
    assert_error(&out, &["cannot read folder", "no-such-folder"]);
}

#[test]
fn info_reports_the_config() {
    let dir = TempDir::new().expect("temp dir");
    let weights = write_small_weights(dir.path());
    let bytes = std::fs::read(&weights).expect("read weights");
    let tensors = safetensors::SafeTensors::deserialize(&bytes).expect("valid file");
    let params: usize = tensors
        .iter()
        .map(|(_, t)| t.shape().iter().product::<usize>())
        .sum();
    let out = sdxl_vae(&["info", s(&weights)]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    for needle in [
        format!("parameters  {params}"),
        "[32, 32, 64, 64]".into(),
        "2 layers per block".into(),
        "latent 4".into(),
        "norm groups 32".into(),
        "diffusers".into(),
        "0.13025".into(),
        format!("{} bytes", bytes.len()),
    ] {
        assert!(text.contains(&needle), "{needle:?} not in:\n{text}");
    }
}

/// Encodes `png` to `out` with extra arguments; returns stdout.
fn encode(weights: &Path, png: &Path, out: &Path, extra: &[&str]) -> String {
    let result = run_encode(weights, png, out, extra);
    assert!(result.status.success(), "{result:?}");
    stdout(&result)
}

#[test]
fn encode_writes_npy_and_safetensors() {
    let dir = TempDir::new().expect("temp dir");
    let weights = write_small_weights(dir.path());
    let png = write_png(dir.path(), "a.png", 37, 29);
    let (npy, scaled, st) = (
        dir.path().join("l.npy"),
        dir.path().join("s.npy"),
        dir.path().join("l.safetensors"),
    );
    let line = encode(&weights, &png, &npy, &[]);
    assert!(line.contains("37x29") && line.contains("5x4"), "{line}");
    let (shape, mean) = read_npy(&npy);
    assert_eq!(shape, [1, 4, 4, 5]);
    assert!(mean.iter().all(|v| v.is_finite()));

    encode(&weights, &png, &scaled, &["--scaled"]);
    let (_, scaled_values) = read_npy(&scaled);
    for (a, b) in mean.iter().zip(&scaled_values) {
        assert!(
            (a * SCALING - b).abs() <= 1e-6 * (1.0 + b.abs()),
            "{a} × {SCALING} vs {b}"
        );
    }

    encode(&weights, &png, &st, &[]);
    let bytes = std::fs::read(&st).expect("read latent");
    let tensors = safetensors::SafeTensors::deserialize(&bytes).expect("valid file");
    let t = tensors.tensor("latent").expect("tensor latent");
    assert_eq!(
        (t.dtype(), t.shape()),
        (safetensors::Dtype::F32, &[1, 4, 4, 5][..])
    );
    let values: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(values, mean);
}

#[test]
fn posterior_samples_follow_the_seed() {
    let dir = TempDir::new().expect("temp dir");
    let weights = write_small_weights(dir.path());
    let png = write_png(dir.path(), "a.png", 37, 29);
    let run = |name: &str, seed: &str| {
        let path = dir.path().join(name);
        encode(&weights, &png, &path, &["--sample", "--seed", seed]);
        read_npy(&path).1
    };
    let (a, b, c) = (run("a.npy", "7"), run("b.npy", "7"), run("c.npy", "8"));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn decode_raw_matches_png() {
    let dir = TempDir::new().expect("temp dir");
    let weights = write_small_weights(dir.path());
    let png = write_png(dir.path(), "a.png", 37, 29);
    // A safetensors latent records the image size, so decoding crops back to 37×29.
    let latent = dir.path().join("l.safetensors");
    encode(&weights, &png, &latent, &[]);
    let (out_png, raw) = (dir.path().join("out.png"), dir.path().join("raw.npy"));
    let args = [
        "decode",
        "--weights",
        s(&weights),
        s(&latent),
        "-o",
        s(&out_png),
        "--raw",
        s(&raw),
    ];
    let result = sdxl_vae(&args);
    assert!(result.status.success(), "{result:?}");
    let (shape, values) = read_npy(&raw);
    assert_eq!(shape, [1, 3, 29, 37]);
    let img = image::open(&out_png).expect("png").to_rgb8();
    assert_eq!(img.dimensions(), (37, 29));
    let plane = 37 * 29;
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            let want = ((values[c * plane + i] + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0;
            assert!(
                (f32::from(p[c]) - want.round()).abs() <= 1.0,
                "pixel {i} channel {c}"
            );
        }
    }
    // An .npy latent carries no image size: it decodes to 8× its own.
    let npy = dir.path().join("l.npy");
    encode(&weights, &png, &npy, &[]);
    let result = sdxl_vae(&[
        "decode",
        "--weights",
        s(&weights),
        s(&npy),
        "-o",
        s(&out_png),
    ]);
    assert!(result.status.success(), "{result:?}");
    assert_eq!(image::image_dimensions(&out_png).expect("png"), (40, 32));
}

#[test]
fn roundtrip_prints_metrics() {
    let dir = TempDir::new().expect("temp dir");
    let weights = write_small_weights(dir.path());
    let png = write_png(dir.path(), "a.png", 37, 29);
    let out_png = dir.path().join("rt.png");
    let args = [
        "--limits",
        "webgpu-default",
        "roundtrip",
        "--weights",
        s(&weights),
        s(&png),
        "-o",
        s(&out_png),
    ];
    let result = sdxl_vae(&args);
    assert!(result.status.success(), "{result:?}");
    let text = stdout(&result);
    assert!(
        text.contains("PSNR ") && text.contains(" dB") && text.contains("SSIM "),
        "{text}"
    );
    assert_eq!(image::image_dimensions(&out_png).expect("png"), (37, 29));
}

#[test]
fn eval_over_a_folder() {
    let dir = TempDir::new().expect("temp dir");
    let weights = write_small_weights(dir.path());
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("mkdir");
    write_png(&images, "b.png", 37, 29);
    write_png(&images, "a.png", 24, 40);
    std::fs::write(images.join("readme.txt"), "no image").expect("write text");
    let csv = dir.path().join("scores.csv");
    let args = [
        "eval",
        "--weights",
        s(&weights),
        s(&images),
        "--size",
        "16",
        "--csv",
        s(&csv),
    ];
    let result = sdxl_vae(&args);
    assert!(result.status.success(), "{result:?}");
    let text = stdout(&result);
    assert!(text.contains("images  2"), "{text}");
    assert!(
        text.contains("PSNR") && text.contains("SSIM") && text.contains(" ± "),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&result.stderr).contains("readme.txt"));
    let table = std::fs::read_to_string(&csv).expect("csv");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert_eq!(lines[0], "file,width,height,psnr,ssim");
    assert!(
        lines[1].starts_with("a.png,16,16,") && lines[2].starts_with("b.png,16,16,"),
        "{table}"
    );
}
