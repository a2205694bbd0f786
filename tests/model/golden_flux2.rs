//! FLUX.2's VAE (diffusers `AutoencoderKLFlux2`) against diffusers (fixtures from
//! `tests/fixtures/gen_flux2_fixtures.py`): in diffusers names (with the `bn.num_batches_tracked`
//! counter diffusers saves), LDM names and FLUX.2's original names; the narrower decoder; and
//! the latent a diffusion model sees (2×2 patches normalised by the weights' statistics), both
//! ways.

use crate::support;

use safetensors::tensor::{Dtype, TensorView};
use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::{DiffusersConfig, Family, FamilyChoice, LatentNorm, Layout, VaeConfig};
use sdxl_vae::{Latent, LoadOptions};
use support::fixtures::{check_image, load, load_with, npy, png};
use support::{assert_close, gpu};

/// Tolerances against diffusers (f32 on both sides).
const LATENT_TOL: f32 = 1e-4;
const DECODED_TOL: f32 = 5e-4;

fn flux2_small(decoder: Option<Vec<usize>>) -> VaeConfig {
    VaeConfig {
        block_out_channels: vec![32, 32, 64, 64],
        decoder_block_out_channels: decoder,
        ..VaeConfig::flux2(false)
    }
}

/// `file` with diffusers' `bn.num_batches_tracked` (an I64 scalar) added, as `save_pretrained`
/// writes it.
fn with_batch_counter(file: &[u8]) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(file).unwrap();
    let counter = 0i64.to_le_bytes();
    let mut tensors: Vec<(String, TensorView)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
    let view = TensorView::new(Dtype::I64, vec![], &counter).unwrap();
    tensors.push(("bn.num_batches_tracked".to_string(), view));
    safetensors::serialize(tensors, None).unwrap()
}

#[test]
fn flux2_in_every_layout_matches_diffusers() {
    let gpu = gpu();
    let cfg = flux2_small(None);
    for (layout, chunk) in [
        (Layout::Diffusers, 4096),
        (Layout::Ldm, 1 << 16),
        (Layout::Flux2, 65_537),
    ] {
        let mut file = synthetic_safetensors(&cfg, layout, SynthDtype::F32, "");
        if layout == Layout::Diffusers {
            file = with_batch_counter(&file);
        }
        let vae = load(&gpu, &file, chunk);
        assert_eq!(vae.info().layout, layout);
        assert_eq!(vae.info().config, cfg);
        assert_eq!(vae.family(), Family::Flux2);
        assert_eq!(vae.latent_channels(), 32);
        assert_eq!(vae.diffusion_layout(), (128, 2));
        for img in ["64x48", "37x29"] {
            let (le, de) = check_image(&vae, "flux2", img, LATENT_TOL, DECODED_TOL, true);
            println!("flux2 {layout:?} {img}: latent {le:.2e}, decoded {de:.2e}");
        }
    }
}

#[test]
fn flux2_small_decoder_matches_diffusers() {
    let gpu = gpu();
    let cfg = flux2_small(Some(vec![32, 32, 32, 32]));
    let file = synthetic_safetensors(&cfg, Layout::Diffusers, SynthDtype::F32, "");
    let vae = load(&gpu, &file, 1 << 16);
    assert_eq!(
        vae.info().config,
        cfg,
        "the decoder's blocks are read off its tensors"
    );
    let (le, de) = check_image(&vae, "flux2s", "64x48", LATENT_TOL, DECODED_TOL, true);
    println!("flux2 small decoder 64x48: latent {le:.2e}, decoded {de:.2e}");
}

/// `to_diffusion` is Flux2Pipeline's `_patchify_latents` then `(x − mean) / √(var + eps)`;
/// `from_diffusion` undoes both, and decoding its result equals the pipeline's decode.
#[test]
fn flux2_scaled_latents_match_the_pipeline_both_ways() {
    let gpu = gpu();
    let file = synthetic_safetensors(&flux2_small(None), Layout::Diffusers, SynthDtype::F32, "");
    let vae = load(&gpu, &file, 1 << 20);
    let image = png("img_64x48.png");
    let mut z = pollster::block_on(vae.encode(&image)).unwrap();
    vae.to_diffusion(&mut z).unwrap();
    let (shape, want) = npy("flux2_64x48_scaled.npy");
    assert_eq!(shape, [1, 128, 3, 4]);
    assert_eq!((z.channels, z.height, z.width), (128, 3, 4));
    let le = assert_close("flux2 scaled latent", &z.data, &want, LATENT_TOL, 0.0);

    let mut back = Latent::new(128, 4, 3, want).unwrap();
    vae.from_diffusion(&mut back).unwrap();
    assert_eq!((back.channels, back.height, back.width), (32, 6, 8));
    assert_eq!((back.image_width, back.image_height), (64, 48));
    let raw = pollster::block_on(vae.decode_raw(&back)).unwrap();
    let (_, decoded) = npy("flux2_64x48_scaled_decoded.npy");
    let de = assert_close(
        "flux2 decoded from scaled",
        &raw.data,
        &decoded,
        DECODED_TOL,
        0.0,
    );
    println!("flux2 scaled: latent {le:.2e}, decoded from it {de:.2e}");

    // An odd latent side has no 2×2 patches; an unscaled latent is not a scaled one.
    let mut odd = pollster::block_on(vae.encode(&png("img_37x29.png"))).unwrap();
    let e = vae.to_diffusion(&mut odd).unwrap_err().to_string();
    assert!(
        e.contains("2×2 patches") && e.contains("multiples of 16"),
        "{e}"
    );
    let mut unscaled = pollster::block_on(vae.encode(&image)).unwrap();
    let e = vae.from_diffusion(&mut unscaled).unwrap_err().to_string();
    assert!(e.contains("32 channels") && e.contains("have 128"), "{e}");
    // Decoding a scaled latent as is says what it is.
    let e = pollster::block_on(vae.decode(&Latent::new(128, 4, 3, vec![0.0; 1536]).unwrap()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("128 channels"), "{e}");
}

/// config.json's `batch_norm_eps` is the one the statistics are applied with.
#[test]
fn flux2_config_sets_the_normalisation_epsilon() {
    let gpu = gpu();
    let file = synthetic_safetensors(&flux2_small(None), Layout::Diffusers, SynthDtype::F32, "");
    let config = DiffusersConfig::parse(
        r#"{"_class_name": "AutoencoderKLFlux2", "latent_channels": 32, "batch_norm_eps": 0.5}"#,
    )
    .unwrap();
    let opts = LoadOptions {
        family: FamilyChoice {
            config: Some(config),
            ..Default::default()
        },
        ..Default::default()
    };
    let vae = load_with(&gpu, &file, 1 << 20, opts);
    assert_eq!(
        vae.info().config.latent_norm,
        Some(LatentNorm::Batch { eps: 0.5 })
    );
    let plain = load(&gpu, &file, 1 << 20);
    let mean = pollster::block_on(plain.encode(&png("img_64x48.png"))).unwrap();
    let (mut a, mut b) = (mean.clone(), mean);
    plain.to_diffusion(&mut a).unwrap();
    vae.to_diffusion(&mut b).unwrap();
    // Same patches, divided by √(var + 1e-4) and by √(var + 0.5), var being 1 ± 0.1 by the
    // rule: a ratio of √(1.5 / 1) within that spread.
    let ratio = a.data[0] / b.data[0];
    assert!((1.19..1.26).contains(&ratio), "ratio {ratio}");
}
