//! The VAE families beyond SDXL's shapes against diffusers (fixtures from
//! `tests/fixtures/gen_family_fixtures.py`): the 16-channel AutoencoderKL of SD3 and FLUX.1 in
//! every layout and in bf16, the tiny autoencoders (diffusers `AutoencoderTiny`) in every layout
//! and half, PyTorch checkpoints, and how the family and its latent factors are chosen.

use crate::support;

use sdxl_vae::weights::synthetic::{synthetic_safetensors, synthetic_tiny, SynthDtype};
use sdxl_vae::weights::tiny::TinyConfig;
use sdxl_vae::weights::{DiffusersConfig, Family, FamilyChoice, Kind, Layout, Source, VaeConfig};
use sdxl_vae::{Latent, LoadOptions, Vae};
use support::fixtures::{check_image, load, load_with, npy, png};
use support::{assert_close, gpu};

fn kl16_small() -> VaeConfig {
    VaeConfig {
        block_out_channels: vec![32, 32, 64, 64],
        ..VaeConfig::kl16()
    }
}

#[test]
fn sixteen_channel_vae_in_every_layout_matches_diffusers() {
    let gpu = gpu();
    let cfg = kl16_small();
    for (layout, prefix, chunk) in [
        (Layout::Diffusers, "", 4096),
        (Layout::Ldm, "", 1 << 16),
        (Layout::Ldm, "first_stage_model.", 65_537),
    ] {
        let file = synthetic_safetensors(&cfg, layout, SynthDtype::F32, prefix);
        let vae = load(&gpu, &file, chunk);
        assert_eq!(vae.latent_channels(), 16);
        assert_eq!(vae.info().config, cfg);
        for img in ["64x48", "37x29"] {
            let (le, de) = check_image(&vae, "kl16", img, 1e-4, 5e-4, true);
            println!("kl16 {layout:?} {prefix:?} {img}: latent {le:.2e}, decoded {de:.2e}");
        }
    }
}

/// FLUX.1's `ae.safetensors` is bf16 with LDM names and no prefix: it loads as FLUX.1.
#[test]
fn bf16_ldm_file_is_flux_and_matches_diffusers() {
    let gpu = gpu();
    let file = synthetic_safetensors(&kl16_small(), Layout::Ldm, SynthDtype::BF16, "");
    let vae = load(&gpu, &file, 1 << 20);
    assert_eq!(vae.family(), Family::Flux);
    assert_eq!(vae.info().family.family_source, Source::Default);
    assert_eq!((vae.scaling_factor(), vae.shift_factor()), (0.3611, 0.1159));
    let (le, de) = check_image(&vae, "kl16bf", "64x48", 1e-4, 5e-4, true);
    println!("kl16 bf16: latent {le:.2e}, decoded {de:.2e}");
}

/// The family and each factor come from, in order: the user, a diffusers config, the guess.
/// The diffusion-space latent is `(mean − shift) · scale`, and back.
#[test]
fn family_and_factors_are_chosen_in_order_and_map_latents_both_ways() {
    let gpu = gpu();
    let file = synthetic_safetensors(&kl16_small(), Layout::Diffusers, SynthDtype::F32, "");
    let vae = load(&gpu, &file, 1 << 20);
    assert_eq!(vae.family(), Family::Sd3, "diffusers names: SD3 guessed");
    assert_eq!((vae.scaling_factor(), vae.shift_factor()), (1.5305, 0.0609));

    let image = png("img_64x48.png");
    let mean = pollster::block_on(vae.encode(&image)).unwrap();
    let mut z = mean.clone();
    vae.to_diffusion(&mut z).unwrap();
    for (a, m) in z.data.iter().zip(&mean.data) {
        assert!((a - (m - 0.0609) * 1.5305).abs() <= 1e-6 * (1.0 + a.abs()));
    }
    vae.from_diffusion(&mut z).unwrap();
    let back = z.data.iter().zip(&mean.data);
    assert!(back.map(|(a, b)| (a - b).abs()).fold(0.0, f32::max) < 1e-5);

    let flux_config =
        DiffusersConfig::parse(r#"{"_class_name": "AutoencoderKL", "latent_channels": 16, "scaling_factor": 0.3611, "shift_factor": 0.1159}"#)
            .unwrap();
    let with = |choice: FamilyChoice| {
        let opts = LoadOptions {
            family: choice,
            ..Default::default()
        };
        load_with(&gpu, &file, 1 << 20, opts)
    };
    let v = with(FamilyChoice {
        config: Some(flux_config.clone()),
        ..Default::default()
    });
    assert_eq!(v.family(), Family::Flux);
    assert_eq!(v.info().family.family_source, Source::Config);
    assert_eq!(v.info().family.shift_source, Source::Config);
    let v = with(FamilyChoice {
        family: Some(Family::Sd3),
        shift_factor: Some(0.0),
        config: Some(flux_config),
        ..Default::default()
    });
    assert_eq!(v.family(), Family::Sd3);
    assert_eq!((v.scaling_factor(), v.shift_factor()), (0.3611, 0.0));
    assert_eq!(v.info().family.scaling_source, Source::Config);
    assert_eq!(v.info().family.shift_source, Source::User);

    // A family or config that does not fit the file is refused, naming both.
    let refused = |choice: FamilyChoice| {
        let opts = LoadOptions {
            family: choice,
            ..Default::default()
        };
        let mut loader = Vae::loader(&gpu, opts);
        loader.push(&file).expect_err("refused").to_string()
    };
    let e = refused(FamilyChoice {
        family: Some(Family::Sdxl),
        ..Default::default()
    });
    assert!(e.contains("sdxl") && e.contains("16-channel"), "{e}");
    let four = DiffusersConfig::parse(r#"{"latent_channels": 4}"#).unwrap();
    let e = refused(FamilyChoice {
        config: Some(four),
        ..Default::default()
    });
    assert!(e.contains("config.json") && e.contains("16"), "{e}");
}

/// A 4-channel latent given to a 16-channel model is refused before any GPU work.
#[test]
fn latent_with_the_wrong_channels_is_refused() {
    let gpu = gpu();
    let file = synthetic_safetensors(&kl16_small(), Layout::Diffusers, SynthDtype::F32, "");
    let vae = load(&gpu, &file, 1 << 20);
    let lat = sdxl_vae::Latent::new(4, 8, 6, vec![0.0; 4 * 48]).unwrap();
    let e = pollster::block_on(vae.decode(&lat))
        .unwrap_err()
        .to_string();
    assert!(e.contains("4 channels") && e.contains("16"), "{e}");
}

/// A tiny autoencoder against diffusers' `AutoencoderTiny`: `encode` then `to_diffusion` equals
/// `encode(x).latents`; decoding those latents (after `from_diffusion`) equals `decode(..).sample`.
/// Returns the worst (latent, decoded) errors.
fn check_tiny(vae: &Vae, variant: &str, img: &str) -> (f32, f32) {
    let image = png(&format!("img_{img}.png"));
    let (shape, want) = npy(&format!("{variant}_{img}_latents.npy"));
    let (dshape, decoded) = npy(&format!("{variant}_{img}_decoded.npy"));
    let le = if vae.info().tiny.is_some_and(|t| t.encoder) {
        let mut lat = pollster::block_on(vae.encode(&image)).unwrap();
        assert_eq!(
            shape,
            [1, lat.channels as u64, lat.height as u64, lat.width as u64]
        );
        vae.to_diffusion(&mut lat).unwrap();
        assert_close(
            &format!("{variant} {img} latents"),
            &lat.data,
            &want,
            1e-4,
            0.0,
        )
    } else {
        let e = pollster::block_on(vae.encode(&image))
            .unwrap_err()
            .to_string();
        assert!(e.contains("without its encoder"), "{e}");
        0.0
    };
    if !vae.info().tiny.is_some_and(|t| t.decoder) {
        let lat = Latent::new(shape[1] as u32, shape[3] as u32, shape[2] as u32, want).unwrap();
        let e = pollster::block_on(vae.decode(&lat))
            .unwrap_err()
            .to_string();
        assert!(e.contains("without its decoder"), "{e}");
        return (le, 0.0);
    }
    let mut z = Latent::new(shape[1] as u32, shape[3] as u32, shape[2] as u32, want).unwrap();
    (z.image_width, z.image_height) = (image.width, image.height);
    vae.from_diffusion(&mut z).unwrap();
    let raw = pollster::block_on(vae.decode_raw(&z)).unwrap();
    assert_eq!(dshape, [1, 3, raw.height as u64, raw.width as u64]);
    let de = assert_close(
        &format!("{variant} {img} decoded"),
        &raw.data,
        &decoded,
        2e-4,
        0.0,
    );
    let px = pollster::block_on(vae.decode(&z)).unwrap();
    let (w, h) = (raw.width as usize, raw.height as usize);
    let want_px = sdxl_vae::cpu::tensor_to_image(&decoded, w, h, w, h);
    let worst = px
        .rgba
        .iter()
        .zip(&want_px)
        .map(|(a, b)| a.abs_diff(*b))
        .max();
    assert!(
        worst <= Some(1),
        "{variant} {img}: 8-bit image off by {worst:?}"
    );
    (le, de)
}

fn tiny(latent: usize, encoder: bool, decoder: bool) -> TinyConfig {
    TinyConfig {
        pools: false,
        video: None,
        latent_channels: latent,
        encoder,
        decoder,
    }
}

/// TAESD/TAESDXL (4 channels) and TAESD3/TAEF1 (16) in diffusers names and taesd.py's own, whole
/// and as the split encoder and decoder files, in f32 and f16.
#[test]
fn tiny_autoencoders_in_every_layout_match_diffusers() {
    let gpu = gpu();
    for (latent, variant, family) in [(4, "tae4", Family::Taesdxl), (16, "tae16", Family::Taef1)] {
        for (layout, prefix) in [(Layout::Diffusers, "vae."), (Layout::Taesd, "")] {
            let file = synthetic_tiny(&tiny(latent, true, true), layout, SynthDtype::F32, prefix);
            let vae = load(&gpu, &file, 10_007);
            assert_eq!((vae.family(), vae.info().kind), (family, Kind::Tiny));
            // diffusers: sum of AutoencoderTiny(latent_channels=…).parameters().
            assert_eq!(
                vae.info().param_count,
                if latent == 4 { 2_445_063 } else { 2_458_899 }
            );
            for img in ["64x48", "37x29"] {
                let (le, de) = check_tiny(&vae, variant, img);
                println!("{variant} {layout:?} {img}: latents {le:.2e}, decoded {de:.2e}");
            }
        }
        for (enc, dec) in [(true, false), (false, true)] {
            let cfg = tiny(latent, enc, dec);
            let file = synthetic_tiny(&cfg, Layout::TaesdHalf, SynthDtype::F32, "");
            let vae = load(&gpu, &file, 1 << 20);
            assert_eq!(vae.info().tiny, Some(cfg));
            let (le, de) = check_tiny(&vae, variant, "64x48");
            println!("{variant} half enc={enc} dec={dec}: latents {le:.2e}, decoded {de:.2e}");
        }
    }
}

/// Row bands (forced by a small buffer limit) give the tiny autoencoder's unbanded results.
#[test]
fn tiny_autoencoder_over_row_bands_matches_diffusers() {
    let gpu = gpu();
    let file = synthetic_tiny(&tiny(4, true, true), Layout::Diffusers, SynthDtype::F32, "");
    let mut vae = load(&gpu, &file, 1 << 20);
    vae.set_max_band_bytes(Some(200 << 10));
    let bands = vae.band_starts(8, 6).unwrap().len();
    assert!(bands > 1, "{bands} bands");
    let (le, de) = check_tiny(&vae, "tae4", "64x48");
    println!("tae4 in {bands} row bands: latents {le:.2e}, decoded {de:.2e}");
}

/// PyTorch checkpoints (kl-f8-style zip and legacy, a bare state_dict of strided views, a full
/// model) load their VAE and equal diffusers' AutoencoderKL on the same weights.
#[test]
fn checkpoints_match_diffusers() {
    let gpu = gpu();
    for name in [
        "mini_ldm.ckpt",
        "mini_ldm_legacy.ckpt",
        "mini_views.pt",
        "mini_full.ckpt",
    ] {
        let file = std::fs::read(support::fixtures::fixture(name)).unwrap();
        let vae = load(&gpu, &file, 1 << 16);
        assert_eq!(
            vae.family(),
            Family::Sd1,
            "{name}: a checkpoint's 4 channels guess SD 1.x"
        );
        let (le, de) = check_image(&vae, "mini", "64x48", 1e-4, 5e-4, true);
        println!("{name}: latent {le:.2e}, decoded {de:.2e}");
    }
}

/// TAEF2, a real model (madebyollin's f16 weights, its two `.pth` halves as published) on a real
/// photo, against its own reference `taesd.py` (tests/fixtures/gen_taef2_fixtures.py): the
/// pooled blocks, the 32 channels, the family it is told by; and it reconstructs the photo.
#[test]
fn taef2_real_weights_on_a_photo_match_taesd_py() {
    let gpu = gpu();
    let file = |name: &str| {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let encoder = load(&gpu, &file("taef2_encoder.pth"), 1 << 16);
    let decoder = load(&gpu, &file("taef2_decoder.pth"), 1 << 16);
    for vae in [&encoder, &decoder] {
        assert_eq!((vae.family(), vae.info().kind), (Family::Taef2, Kind::Tiny));
        assert_eq!(vae.latent_channels(), 32);
        assert!(vae.info().tiny.is_some_and(|t| t.pools));
    }
    let photo = png("photo_96x72.png");
    let latents = pollster::block_on(encoder.encode(&photo)).unwrap();
    let (shape, want) = npy("taef2_photo_latents.npy");
    assert_eq!(shape, [1, 32, 9, 12]);
    let le = assert_close("taef2 latents", &latents.data, &want, 1e-3, 0.0);
    let raw =
        pollster::block_on(decoder.decode_raw(&Latent::new(32, 12, 9, want).unwrap())).unwrap();
    // diffusers' convention for the raw output: the decoder's [0, 1] as [-1, 1].
    let (_, decoded) = npy("taef2_photo_decoded.npy");
    let decoded: Vec<f32> = decoded.iter().map(|v| 2.0 * v - 1.0).collect();
    let de = assert_close("taef2 decoded", &raw.data, &decoded, 2e-3, 0.0);
    let back = pollster::block_on(decoder.decode(&latents)).unwrap();
    let psnr = sdxl_vae::metrics::psnr(&photo, &back).unwrap();
    println!("taef2 on a photo: latents {le:.2e}, decoded {de:.2e}; PSNR {psnr:.2} dB");
    assert!(
        psnr > 25.0,
        "the real model reconstructs the photo: {psnr} dB"
    );
    // Each half refuses the other's call by name.
    let e = pollster::block_on(decoder.encode(&photo))
        .unwrap_err()
        .to_string();
    assert!(e.contains("encoder"), "{e}");
}
