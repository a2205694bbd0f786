//! The newer families through the command line: FLUX.2's VAE in its original names (as
//! `flux2-vae.safetensors`) says what it is, and `--scaled` writes and reads the latent FLUX.2's
//! transformer sees, equal to diffusers' pipeline (tests/fixtures/gen_flux2_fixtures.py).

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
