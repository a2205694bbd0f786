//! TAEW2.1 (madebyollin's TAEHV for Wan 2.1 and Qwen-Image, a video tiny autoencoder) on one
//! image, against its own reference `taehv.py` (fixtures from
//! `tests/fixtures/gen_taew_fixtures.py`: taehv.py's blocks at narrow widths, seeded f16 weights,
//! in both the `.pth` and the `.safetensors` the model is published as). Encoding repeats the
//! image to four frames as `encode_video` does; decoding makes four frames and keeps the last,
//! as `decode_video` does.

use crate::support;

use sdxl_vae::weights::taehv;
use sdxl_vae::weights::tiny::Video;
use sdxl_vae::weights::{param_count, Family, Kind, Layout};
use sdxl_vae::{Latent, LoadOptions, Precision, Vae};
use support::fixtures::{load, load_with, npy, png};
use support::{assert_close, gpu};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The narrow model of the fixtures, as read off its file.
const NARROW: Video = Video {
    encoder: 16,
    decoder: [32, 24, 16, 16],
    pool: [2, 2, 1],
    grow: [1, 2, 2],
};

/// Encodes `img` (compared in diffusion space: TAEHV's own latent) and decodes taehv.py's latent
/// (compared raw, as [-1, 1]); returns the worst (latent, decoded) errors.
fn check(vae: &Vae, img: &str, tol: (f32, f32)) -> (f32, f32) {
    let image = png(if img == "64x48" {
        "img_64x48.png"
    } else {
        "photo_96x72.png"
    });
    let (shape, want) = npy(&format!("taew_{img}_latents.npy"));
    let mut lat = pollster::block_on(vae.encode(&image)).unwrap();
    assert_eq!(shape, [1, 16, lat.height as u64, lat.width as u64]);
    vae.to_diffusion(&mut lat).unwrap();
    let le = assert_close(&format!("taew {img} latents"), &lat.data, &want, tol.0, 0.0);
    let (_, decoded) = npy(&format!("taew_{img}_decoded.npy"));
    let decoded: Vec<f32> = decoded.iter().map(|v| 2.0 * v - 1.0).collect();
    let mut z = Latent::new(16, shape[3] as u32, shape[2] as u32, want).unwrap();
    vae.from_diffusion(&mut z).unwrap();
    let raw = pollster::block_on(vae.decode_raw(&z)).unwrap();
    let de = assert_close(
        &format!("taew {img} decoded"),
        &raw.data,
        &decoded,
        tol.1,
        0.0,
    );
    (le, de)
}

#[test]
fn taew_in_both_published_formats_matches_taehv_py() {
    let gpu = gpu();
    for (file, chunk) in [
        ("taew_narrow.pth", 1 << 16),
        ("taew_narrow.safetensors", 4099),
    ] {
        let vae = load(&gpu, &fixture(file), chunk);
        let info = vae.info();
        assert_eq!(
            (info.kind, vae.family(), info.layout),
            (Kind::Taehv, Family::Taew21, Layout::Taehv)
        );
        assert_eq!(info.tiny.and_then(|t| t.video), Some(NARROW));
        assert_eq!(vae.latent_channels(), 16);
        for img in ["64x48", "96x72"] {
            let (le, de) = check(&vae, img, (1e-4, 2e-4));
            println!("taew {file} {img}: latents {le:.2e}, decoded {de:.2e}");
        }
    }
}

/// The same in row bands, and at f16 (weights and activations between layers), within what
/// f16's 11 bits give through 25 convolutions: 2e-2 on latents of unit size, 5e-2 on an output
/// spanning ±3.
#[test]
fn taew_over_row_bands_and_at_f16_matches_taehv_py() {
    let gpu = gpu();
    let file = fixture("taew_narrow.safetensors");
    let mut vae = load(&gpu, &file, 1 << 20);
    vae.set_max_band_bytes(Some(100 << 10));
    let bands = vae.band_starts(12, 9).unwrap().len();
    assert!(bands > 2, "{bands} bands");
    let (le, de) = check(&vae, "96x72", (1e-4, 2e-4));
    println!("taew in {bands} row bands: latents {le:.2e}, decoded {de:.2e}");
    let opts = LoadOptions {
        precision: Precision::F16,
        ..LoadOptions::default()
    };
    let vae = load_with(&gpu, &file, 1 << 20, opts);
    let (le, de) = check(&vae, "96x72", (2e-2, 5e-2));
    println!("taew at f16: latents {le:.2e}, decoded {de:.2e}");
}

/// The published layout: every tensor of taehv.py's full-width TAEHV (names_taew.json, as
/// PyTorch builds it), name, shape and order, and the widths read back from them.
#[test]
fn taew_full_size_layout_matches_taehv_py() {
    let text = String::from_utf8(fixture("names_taew.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let want: Vec<(String, Vec<usize>)> = (json["tensors"].as_array().unwrap().iter())
        .map(|t| {
            let shape = t[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize);
            (t[0].as_str().unwrap().to_string(), shape.collect())
        })
        .collect();
    let ours = taehv::expected(16, &Video::TAEW2_1, true, true);
    assert_eq!(ours, want);
    assert_eq!(param_count(&ours) as u64, json["params"].as_u64().unwrap());
    let shapes = ours.into_iter().collect();
    assert_eq!(taehv::infer(&shapes).unwrap(), (16, Video::TAEW2_1));
}
