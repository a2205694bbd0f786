//! The newer families through the command line: FLUX.2's VAE in its original names (as
//! `flux2-vae.safetensors`) and Qwen-Image's in Wan's (as `qwen_image_vae.safetensors`) say what
//! they are, and `--scaled` writes and reads the latent their transformers see, equal to
//! diffusers' pipelines (tests/fixtures/gen_flux2_fixtures.py, gen_qwen_fixtures.py); a
//! one-frame latent `[1, 16, 1, h, w]` decodes as the image latent it is.

use crate::cli_support::*;
use tempfile::TempDir;

/// Reads a fixture `.npy` of tests/fixtures.
fn fixture(name: &str) -> (Vec<u64>, Vec<f32>) {
    read_npy(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn flux2_info_and_scaled_latents() {
    let dir = TempDir::new().expect("temp dir");
    let weights = dir.path().join("flux2-vae.safetensors");
    let out = sdxl_vae(&[
        "synth",
        "--blocks",
        "32,32,64,64",
        "--latent-channels",
        "32",
        "--layout",
        "flux2",
        "-o",
        s(&weights),
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = sdxl_vae(&["info", s(&weights)]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    for needle in [
        "layout      FLUX.2 original",
        "AutoencoderKLFlux2",
        "family      flux2",
        "latent      32 × h/8 × w/8 (unscaled); --scaled: 128 × h/16 × w/16, 2×2 patches",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }

    let png = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/img_64x48.png");
    let scaled = dir.path().join("scaled.npy");
    let out = sdxl_vae(&[
        "encode",
        "--weights",
        s(&weights),
        s(&png),
        "--scaled",
        "-o",
        s(&scaled),
    ]);
    assert!(out.status.success(), "{out:?}");
    let (shape, got) = read_npy(&scaled);
    let (want_shape, want) = fixture("flux2_64x48_scaled.npy");
    assert_eq!(shape, want_shape);
    let e = worst(&got, &want);
    assert!(e <= 1e-4, "scaled latent differs by {e}");

    // Decoding diffusers' scaled latent with --scaled equals decoding its unscaled mean.
    let (from_scaled, from_mean) = (dir.path().join("a.png"), dir.path().join("b.png"));
    let diffusers_scaled = dir.path().join("diffusers_scaled.npy");
    write_npy(&diffusers_scaled, &want_shape, &want);
    let (mean_shape, mean) = fixture("flux2_64x48_mean.npy");
    let mean_path = dir.path().join("mean.npy");
    write_npy(&mean_path, &mean_shape, &mean);
    for (latent, png, extra) in [
        (&diffusers_scaled, &from_scaled, Some("--scaled")),
        (&mean_path, &from_mean, None),
    ] {
        let mut args = vec!["decode", "--weights", s(&weights), s(latent), "-o", s(png)];
        args.extend(extra);
        let out = sdxl_vae(&args);
        assert!(out.status.success(), "{out:?}");
    }
    let (a, b) = (
        image::open(&from_scaled).unwrap(),
        image::open(&from_mean).unwrap(),
    );
    let diff = (a.to_rgb8().iter().zip(b.to_rgb8().iter()))
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap();
    assert!(
        diff <= 1,
        "decoded from the scaled latent differs by {diff} levels"
    );

    // An unscaled latent given as scaled is refused with the shape it needs.
    let out = sdxl_vae(&[
        "decode",
        "--weights",
        s(&weights),
        s(&mean_path),
        "--scaled",
        "-o",
        s(&from_mean),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("have 128"), "{err}");
}

#[test]
fn qwen_image_info_latents_and_one_frame_files() {
    let dir = TempDir::new().expect("temp dir");
    let weights = dir.path().join("qwen_image_vae.safetensors");
    let out = sdxl_vae(&[
        "synth",
        "--qwen",
        "--blocks",
        "16,32,64,64",
        "--layout",
        "wan",
        "-o",
        s(&weights),
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&sdxl_vae(&["info", s(&weights)]).stdout).to_string();
    for needle in [
        "layout      Wan 2.1 original",
        "AutoencoderKLQwenImage",
        "family      qwen-image",
        "channel RMS norms",
        "--scaled: (x − mean) / std per channel",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    let png = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/img_64x48.png");
    for (name, extra, fixture_name) in [
        ("mean.npy", None, "qwen_64x48_mean.npy"),
        ("scaled.npy", Some("--scaled"), "qwen_64x48_scaled.npy"),
    ] {
        let path = dir.path().join(name);
        let mut args = vec!["encode", "--weights", s(&weights), s(&png), "-o", s(&path)];
        args.extend(extra);
        let out = sdxl_vae(&args);
        assert!(out.status.success(), "{out:?}");
        let (shape, got) = read_npy(&path);
        let (want_shape, want) = fixture(fixture_name);
        assert_eq!(shape, want_shape);
        let e = worst(&got, &want);
        assert!(e <= 1e-3, "{name} differs from diffusers by {e}");
    }
    // The same latent as one frame of a video latent decodes to the same image.
    let (shape, mean) = read_npy(&dir.path().join("mean.npy"));
    let frame = dir.path().join("frame.npy");
    write_npy(&frame, &[shape[0], shape[1], 1, shape[2], shape[3]], &mean);
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    for (latent, png) in [(dir.path().join("mean.npy"), &a), (frame, &b)] {
        let out = sdxl_vae(&["decode", "--weights", s(&weights), s(&latent), "-o", s(png)]);
        assert!(out.status.success(), "{out:?}");
    }
    assert_eq!(
        image::open(&a).unwrap().to_rgb8(),
        image::open(&b).unwrap().to_rgb8()
    );
}

/// TAEW2.1 (Qwen-Image's tiny twin, TAEHV) as published, a `.pth` in taehv.py's names: `info`
/// says what it is, and `encode --scaled` writes its own latent, equal to taehv.py's
/// (tests/fixtures/gen_taew_fixtures.py); decoding it again reconstructs the same image as the
/// unscaled latent does.
#[test]
fn taew_info_and_its_latent() {
    let dir = TempDir::new().expect("temp dir");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let weights = fixtures.join("taew_narrow.pth");
    let text = String::from_utf8_lossy(&sdxl_vae(&["info", s(&weights)]).stdout).to_string();
    for needle in [
        "layout      taehv.py",
        "model       TAEHV (taehv.py) on one image (taehv)",
        "time strides [2, 2, 1] (pools: 4 copies of the image make its latent)",
        "family      taew2.1",
        "--scaled: (x − mean) / std per channel",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    let png = fixtures.join("img_64x48.png");
    let (scaled, mean) = (dir.path().join("scaled.npy"), dir.path().join("mean.npy"));
    for (path, extra) in [(&scaled, Some("--scaled")), (&mean, None)] {
        let mut args = vec!["encode", "--weights", s(&weights), s(&png), "-o", s(path)];
        args.extend(extra);
        let out = sdxl_vae(&args);
        assert!(out.status.success(), "{out:?}");
    }
    let (shape, got) = read_npy(&scaled);
    let (want_shape, want) = fixture("taew_64x48_latents.npy");
    assert_eq!(shape, want_shape);
    let e = worst(&got, &want);
    assert!(e <= 1e-3, "the latent differs from taehv.py's by {e}");
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    for (latent, png, extra) in [(&scaled, &a, Some("--scaled")), (&mean, &b, None)] {
        let mut args = vec!["decode", "--weights", s(&weights), s(latent), "-o", s(png)];
        args.extend(extra);
        let out = sdxl_vae(&args);
        assert!(out.status.success(), "{out:?}");
    }
    let (a, b) = (
        image::open(&a).unwrap().to_rgb8(),
        image::open(&b).unwrap().to_rgb8(),
    );
    let off = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max();
    assert!(
        off <= Some(1),
        "scaled and unscaled decode differently: {off:?}"
    );
}
