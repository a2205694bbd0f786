//! `encode` and `decode` over folders: one model for every file, a bad file reported while the
//! others go on, a summary and a failing status at the end, outputs equal to single-file runs,
//! and a run resumed by `--skip-existing`.

use std::path::Path;

use image::{Rgb, RgbImage};

use crate::cli_support;
use cli_support::{s, sdxl_vae};

fn image(w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 37 + y * 5 + seed) as u8,
            (y * 53 + 7 * seed) as u8,
            (x * y * 11 + seed) as u8,
        ])
    })
}

/// Runs `args`; its status, stdout and stderr.
fn run(args: &[&str]) -> (bool, String, String) {
    let out = sdxl_vae(args);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn folders_encode_and_decode_with_a_bad_file_among_good_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name);
    let weights = cli_support::write_small_weights(dir.path());
    let w = s(&weights);
    let images = path("images");
    std::fs::create_dir(&images).unwrap();
    image(24, 16, 1).save(images.join("a.png")).unwrap();
    image(17, 9, 2).save(images.join("c.png")).unwrap();
    std::fs::write(images.join("b.png"), b"not a png at all").unwrap();
    std::fs::write(images.join("notes.txt"), b"skipped: not an image").unwrap();
    let latents = path("latents");

    // a.png and c.png encode; b.png fails with its code; the run fails at the end.
    let (ok, out, err) = run(&["encode", "--weights", w, s(&images), "-o", s(&latents)]);
    assert!(!ok, "a failed file fails the run: {out}{err}");
    assert!(out.contains("encoded 2 of 3 files"), "{out}");
    assert!(out.contains("1 failed"), "{out}");
    assert!(err.contains("error[bad-image]"), "{err}");
    assert!(err.contains("b.png"), "{err}");
    assert!(
        err.contains("skipping") && err.contains("notes.txt"),
        "{err}"
    );
    let names = |d: &Path| {
        let mut n: Vec<String> = (std::fs::read_dir(d).unwrap())
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&latents), ["a.npy", "c.npy"], "no partial file left");

    // Each equals its single-file run, byte for byte.
    for name in ["a", "c"] {
        let one = path(&format!("{name}-one.npy"));
        let src = images.join(format!("{name}.png"));
        let (ok, _, err) = run(&["encode", "--weights", w, s(&src), "-o", s(&one)]);
        assert!(ok, "{err}");
        let batch = std::fs::read(latents.join(format!("{name}.npy"))).unwrap();
        assert_eq!(batch, std::fs::read(&one).unwrap(), "{name}: batch vs one");
    }

    // Resumed: the outputs there are skipped, the bad file fails again.
    let (ok, out, _) = run(&[
        "encode",
        "--weights",
        w,
        s(&images),
        "-o",
        s(&latents),
        "--skip-existing",
    ]);
    assert!(!ok);
    assert!(out.contains("encoded 0 of 3 files"), "{out}");
    assert!(out.contains("2 skipped"), "{out}");

    // The good files alone: a success. Two inputs of one name are refused before any work.
    let good = path("good");
    let (a, c) = (images.join("a.png"), images.join("c.png"));
    let (ok, out, err) = run(&["encode", "--weights", w, s(&a), s(&c), "-o", s(&good)]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("encoded 2 of 2 files"), "{out}");
    let (ok, _, err) = run(&["encode", "--weights", w, s(&a), s(&a), "-o", s(&good)]);
    assert!(
        !ok && err.contains("error[usage]") && err.contains("both"),
        "{err}"
    );

    // Decoding the folder: one image a latent, equal to the single-file decode.
    let decoded = path("decoded");
    let (ok, out, err) = run(&["decode", "--weights", w, s(&latents), "-o", s(&decoded)]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("decoded 2 of 2 files"), "{out}");
    assert_eq!(names(&decoded), ["a.png", "c.png"]);
    let one = path("c-one.png");
    let latent = latents.join("c.npy");
    let (ok, _, err) = run(&["decode", "--weights", w, s(&latent), "-o", s(&one)]);
    assert!(ok, "{err}");
    let pixels = |p: &Path| image::open(p).unwrap().to_rgba8().into_raw();
    assert_eq!(pixels(&decoded.join("c.png")), pixels(&one));
    let (ok, _, err) = run(&[
        "decode",
        "--weights",
        w,
        s(&latents),
        "-o",
        s(&decoded),
        "--raw",
        s(&path("raw.npy")),
    ]);
    assert!(!ok && err.contains("--raw takes one latent"), "{err}");
}
