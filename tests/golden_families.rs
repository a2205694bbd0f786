//! The VAE families beyond SDXL's shapes against diffusers (fixtures from
//! `tests/fixtures/gen_family_fixtures.py`): the 16-channel AutoencoderKL of SD3 and FLUX.1 in
//! every layout and in bf16, and how the family and its latent factors are chosen.

mod support;

use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::{DiffusersConfig, Family, FamilyChoice, Layout, Source, VaeConfig};
use sdxl_vae::LoadOptions;
use support::fixtures::{check_image, load, load_with, png};
use support::gpu;

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
    vae.to_diffusion(&mut z);
    for (a, m) in z.data.iter().zip(&mean.data) {
        assert!((a - (m - 0.0609) * 1.5305).abs() <= 1e-6 * (1.0 + a.abs()));
    }
    vae.from_diffusion(&mut z);
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
    let mut loader = sdxl_vae::Vae::loader(
        &gpu,
        LoadOptions {
            family: FamilyChoice {
                family: Some(Family::Sdxl),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let e = loader.push(&file).err().expect("sdxl family refused");
    let e = e.to_string();
    assert!(e.contains("sdxl") && e.contains("16-channel"), "{e}");
    let four = DiffusersConfig::parse(r#"{"latent_channels": 4}"#).unwrap();
    let mut loader = sdxl_vae::Vae::loader(
        &gpu,
        LoadOptions {
            family: FamilyChoice {
                config: Some(four),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let e = loader
        .push(&file)
        .err()
        .expect("config refused")
        .to_string();
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
