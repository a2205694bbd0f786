//! Qwen-Image's VAE (diffusers `AutoencoderKLQwenImage`, Wan 2.1's VAE) on one frame, against
//! diffusers (fixtures from `tests/fixtures/gen_qwen_fixtures.py`): in diffusers names and in Wan's
//! original names, with the temporal convolutions a file carries but one frame never runs; the
//! latent a diffusion model sees (per-channel statistics), both ways; config.json's statistics.

use crate::support;

use safetensors::tensor::{Dtype, TensorView};
use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::{
    DiffusersConfig, Family, FamilyChoice, Kind, LatentNorm, Layout, VaeConfig,
};
use sdxl_vae::{Latent, LoadOptions, Vae};
use support::fixtures::{check_image, load, npy, png};
use support::{assert_close, gpu};

/// The engine's tolerances against diffusers (docs/numerics.md).
const LATENT_TOL: f32 = 1e-3;
const DECODED_TOL: f32 = 2e-3;

fn qwen_small() -> VaeConfig {
    VaeConfig {
        block_out_channels: vec![16, 32, 64, 64],
        ..VaeConfig::qwen_image()
    }
}

/// `file` with the `time_conv` weights of the temporal resamplings added (zeros; diffusers
/// skips them on a first frame), named as `layout` names them.
fn with_time_convs(file: &[u8], layout: Layout) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(file).unwrap();
    let mut tensors: Vec<(String, Vec<usize>)> = Vec::new();
    let (enc, dec) = match layout {
        Layout::Wan => ("encoder.downsamples", "decoder.upsamples"),
        _ => ("encoder.down_blocks", "decoder.up_blocks"),
    };
    for (i, c) in [(5, 32), (8, 64)] {
        tensors.push((format!("{enc}.{i}.time_conv.weight"), vec![c, c, 3, 1, 1]));
        tensors.push((format!("{enc}.{i}.time_conv.bias"), vec![c]));
    }
    for (b, c) in [(0, 64), (1, 64)] {
        let p = match layout {
            Layout::Wan => format!("{dec}.{}", 4 * b + 3),
            _ => format!("{dec}.{b}.upsamplers.0"),
        };
        tensors.push((format!("{p}.time_conv.weight"), vec![2 * c, c, 3, 1, 1]));
        tensors.push((format!("{p}.time_conv.bias"), vec![2 * c]));
    }
    let zeros: Vec<Vec<u8>> = (tensors.iter())
        .map(|(_, s)| vec![0u8; 4 * s.iter().product::<usize>()])
        .collect();
    let mut views: Vec<(String, TensorView)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
    for ((name, shape), bytes) in tensors.iter().zip(&zeros) {
        views.push((
            name.clone(),
            TensorView::new(Dtype::F32, shape.clone(), bytes).unwrap(),
        ));
    }
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn qwen_image_in_both_layouts_matches_diffusers() {
    let gpu = gpu();
    let cfg = qwen_small();
    for (layout, chunk) in [(Layout::Diffusers, 4096), (Layout::Wan, 65_537)] {
        let plain = synthetic_safetensors(&cfg, layout, SynthDtype::F32, "");
        let file = with_time_convs(&plain, layout);
        let vae = load(&gpu, &file, chunk);
        let info = vae.info();
        assert_eq!(
            (info.layout, info.kind, &info.config),
            (layout, Kind::Qwen, &cfg)
        );
        assert_eq!(vae.family(), Family::QwenImage);
        assert_eq!(
            info.ignored_tensors, 8,
            "the time_conv weights are read past"
        );
        assert_eq!(vae.diffusion_layout(), (16, 1));
        for img in ["64x48", "37x29"] {
            let (le, de) = check_image(&vae, "qwen", img, LATENT_TOL, DECODED_TOL, true);
            println!("qwen-image {layout:?} {img}: latent {le:.2e}, decoded {de:.2e}");
        }
    }
}

/// The latent Qwen-Image's transformer sees: `(x − latents_mean) / latents_std` per channel,
/// with the published statistics, or config.json's.
#[test]
fn qwen_image_scaled_latents_and_config_statistics() {
    let gpu = gpu();
    let file = synthetic_safetensors(&qwen_small(), Layout::Diffusers, SynthDtype::F32, "");
    let vae = load(&gpu, &file, 1 << 20);
    let image = png("img_64x48.png");
    let mean = pollster::block_on(vae.encode(&image)).unwrap();
    let mut z = mean.clone();
    vae.to_diffusion(&mut z).unwrap();
    let (shape, want) = npy("qwen_64x48_scaled.npy");
    assert_eq!(shape, [1, 16, 6, 8]);
    let le = assert_close("qwen scaled latent", &z.data, &want, LATENT_TOL, 0.0);
    vae.from_diffusion(&mut z).unwrap();
    let back = assert_close("qwen unscaled again", &z.data, &mean.data, 1e-5, 1e-5);
    println!("qwen scaled: {le:.2e}; there and back {back:.2e}");

    let mean_of = |c: usize| format!("[{}]", vec![format!("{c}.0"); 16].join(", "));
    let text = format!(
        r#"{{"_class_name": "AutoencoderKLQwenImage", "z_dim": 16, "latents_mean": {}, "latents_std": {}}}"#,
        mean_of(1),
        mean_of(2)
    );
    let with = |text: &str| {
        let opts = LoadOptions {
            family: FamilyChoice {
                config: Some(DiffusersConfig::parse(text).unwrap()),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut loader = Vae::loader(&gpu, opts);
        loader.push(&file).and_then(|_| loader.finish())
    };
    let v = with(&text).unwrap();
    assert_eq!(
        v.info().config.latent_norm,
        Some(LatentNorm::Channels {
            mean: vec![1.0; 16],
            std: vec![2.0; 16]
        })
    );
    let mut z = mean.clone();
    v.to_diffusion(&mut z).unwrap();
    assert_eq!(z.data[0], (mean.data[0] - 1.0) / 2.0);
    let short = r#"{"_class_name": "AutoencoderKLQwenImage", "latents_mean": [0.0, 1.0]}"#;
    let e = with(short).err().expect("refused").to_string();
    assert!(e.contains("latents_mean has 2 values"), "{e}");
    // And a latent of another model's channel count is refused by name.
    let e = pollster::block_on(vae.decode(&Latent::new(4, 8, 6, vec![0.0; 192]).unwrap()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("qwen-image") && e.contains("16"), "{e}");
}

/// At f16 (`Precision::F16`: weights, RMS norms and activations as f16, accumulated in f32),
/// within the f16 tolerances against diffusers' f32 (latent 1e-2, decoded output 3e-2), in both
/// layouts; and not equal to f32's (it did run in f16).
#[test]
fn qwen_image_in_f16_is_close_to_diffusers() {
    let gpu = gpu();
    for layout in [Layout::Diffusers, Layout::Wan] {
        let file = synthetic_safetensors(&qwen_small(), layout, SynthDtype::F32, "");
        let opts = LoadOptions {
            precision: sdxl_vae::Precision::F16,
            ..Default::default()
        };
        let vae = support::fixtures::load_with(&gpu, &file, 1 << 20, opts);
        assert_eq!(vae.precision(), sdxl_vae::Precision::F16);
        for img in ["64x48", "37x29"] {
            let (le, de) = check_image(&vae, "qwen", img, 1e-2, 3e-2, false);
            println!("qwen-image {layout:?} {img} in f16: latent {le:.2e}, decoded {de:.2e}");
            assert!(le > 1e-6 && de > 1e-6, "f16 results equal f32's: not f16?");
        }
    }
}

/// `Wan2.1_VAE.pth` as `torch.save` writes it (Wan's names, 5-D causal weights, the `time_conv`s
/// one frame never runs; tests/fixtures/gen_wan_pth.py re-saves the engine's synthetic weights)
/// loads through the PyTorch reader and computes exactly what its safetensors twin does.
#[test]
fn wan_checkpoint_equals_its_safetensors_twin() {
    let gpu = gpu();
    let path = format!("{}/tests/fixtures/wan_tiny.pth", env!("CARGO_MANIFEST_DIR"));
    let pth = load(&gpu, &std::fs::read(&path).unwrap(), 1 << 14);
    let cfg = VaeConfig {
        block_out_channels: vec![8, 8, 8, 8],
        ..VaeConfig::qwen_image()
    };
    let twin = synthetic_safetensors(&cfg, Layout::Wan, SynthDtype::F16, "");
    let twin = load(&gpu, &twin, 1 << 20);
    let info = pth.info();
    assert_eq!(
        (info.layout, info.kind, &info.config),
        (Layout::Wan, Kind::Qwen, &cfg)
    );
    assert_eq!(info.format, sdxl_vae::weights::FileFormat::TorchZip);
    assert_eq!(
        info.ignored_tensors, 8,
        "the time_conv weights are read past"
    );
    let image = png("img_64x48.png");
    let [a, b] = [&pth, &twin].map(|v| pollster::block_on(v.encode(&image)).unwrap());
    assert_eq!(a.data, b.data, "encoded latents differ");
    let [da, db] = [&pth, &twin].map(|v| pollster::block_on(v.decode_raw(&a)).unwrap());
    assert_eq!(da.data, db.data, "decoded images differ");
}
