//! The `sdxl-vae` command-line tool on PyTorch checkpoints (tests/fixtures, written by
//! `torch.save`): `info` says the format and what is read past, `encode` equals diffusers, and a
//! pickle that would run a command is one `error:` line naming what it called, with no output.

use std::path::PathBuf;

use tempfile::TempDir;

use crate::cli_support;
use cli_support::{read_npy, s, sdxl_vae};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn info_says_the_format_and_what_is_read_past() {
    let path = fixture("mini_full.ckpt");
    let len = std::fs::metadata(&path).expect("fixture").len();
    let out = sdxl_vae(&["info", s(&path)]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        format!("size        {len} bytes"),
        "format      PyTorch checkpoint (zip)".into(),
        "layout      LDM".into(),
        "parameters  367527".into(),
        "family      sd1 (guessed".into(),
        "ignored     7 tensors not part of the VAE".into(),
    ] {
        assert!(text.contains(&needle), "{needle:?} not in:\n{text}");
    }
    let legacy = sdxl_vae(&["info", s(&fixture("mini_ldm_legacy.ckpt"))]);
    assert!(String::from_utf8_lossy(&legacy.stdout).contains("PyTorch checkpoint (legacy)"));
}

#[test]
fn encode_from_a_legacy_checkpoint_matches_diffusers() {
    let dir = TempDir::new().expect("temp dir");
    let out = dir.path().join("mean.npy");
    let run = sdxl_vae(&[
        "encode",
        "--weights",
        s(&fixture("mini_ldm_legacy.ckpt")),
        s(&fixture("img_64x48.png")),
        "-o",
        s(&out),
    ]);
    assert!(run.status.success(), "{run:?}");
    let (shape, got) = read_npy(&out);
    let (want_shape, want) = read_npy(&fixture("mini_64x48_mean.npy"));
    assert_eq!(shape, want_shape);
    let worst = (got.iter().zip(&want))
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!("legacy .ckpt encode: worst latent error {worst:.2e}");
    assert!(worst <= 1e-4, "worst latent error {worst}");
}

#[test]
fn pickle_that_would_run_a_command_is_one_error_line() {
    let dir = TempDir::new().expect("temp dir");
    let evil = fixture("evil.ckpt");
    let out = dir.path().join("never.npy");
    for run in [
        sdxl_vae(&["info", s(&evil)]),
        sdxl_vae(&[
            "encode",
            "--weights",
            s(&evil),
            s(&fixture("img_64x48.png")),
            "-o",
            s(&out),
        ]),
    ] {
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error[bad-weights]: ") && !stderr.contains("panicked"),
            "{stderr}"
        );
        assert!(stderr.contains("refused global posix.system"), "{stderr}");
    }
    assert!(!out.exists());
    assert!(!std::path::Path::new("/tmp/sdxl-vae-evil-pickle-ran").exists());
}
