//! Bad input to the public API gives an error that names the problem — never a panic.

use crate::support;

use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::WeightsLoader;
use sdxl_vae::weights::{Layout, VaeConfig};
use sdxl_vae::{Error, ErrorCode, Gpu, GpuOptions, Image, Latent, LimitsChoice, LoadOptions, Vae};

fn small_vae(gpu: &Gpu) -> Vae {
    let cfg = VaeConfig {
        block_out_channels: vec![32, 32, 64, 64],
        ..VaeConfig::sdxl()
    };
    let mut loader = Vae::loader(gpu, LoadOptions::default());
    loader
        .push(&synthetic_safetensors(
            &cfg,
            Layout::Diffusers,
            SynthDtype::F16,
            "",
        ))
        .unwrap();
    loader.finish().unwrap()
}

#[test]
fn activation_over_the_binding_limit_is_a_clear_error() {
    let opts = GpuOptions {
        limits: LimitsChoice::WebGpuDefault,
        ..Default::default()
    };
    let gpu = pollster::block_on(Gpu::new(&opts)).expect("a wgpu adapter");
    assert_eq!(gpu.max_binding_bytes(), 128 << 20);
    let vae = small_vae(&gpu);
    // Tall images are split into row bands; one row band must still hold 8 image rows plus
    // two halo rows of conv_in's output: 32 channels × 139264 × 10 × 4 bytes = 178 MB > 128 MiB.
    let image = Image {
        width: 139_264,
        height: 8,
        rgba: vec![128; 139_264 * 8 * 4],
    };
    match pollster::block_on(vae.encode(&image)) {
        Err(e @ Error::TooLarge { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("134217728") && msg.contains("178257920") && msg.contains("row band"),
                "{msg}"
            );
        }
        other => panic!(
            "expected TooLarge, got {:?}",
            other.map(|l| (l.width, l.height))
        ),
    }
    // The engine stays usable after the error.
    let small = Image {
        width: 16,
        height: 8,
        rgba: vec![7; 16 * 8 * 4],
    };
    let lat = pollster::block_on(vae.encode(&small)).unwrap();
    assert_eq!((lat.width, lat.height), (2, 1));
}

#[test]
fn malformed_images_and_latents_are_rejected() {
    let gpu = support::gpu();
    let vae = small_vae(&gpu);
    let short = Image {
        width: 8,
        height: 8,
        rgba: vec![0; 10],
    };
    let e = pollster::block_on(vae.encode(&short)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadImage);
    let e = e.to_string();
    assert!(e.contains("256") && e.contains("10"), "{e}");
    let empty = Image {
        width: 0,
        height: 8,
        rgba: vec![],
    };
    assert!(matches!(
        pollster::block_on(vae.encode(&empty)),
        Err(Error::Image(_))
    ));

    let e = Latent::new(4, 4, 4, vec![0.0; 63]).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadLatent);
    let e = e.to_string();
    assert!(e.contains("64") && e.contains("63"), "{e}");
    let mut nan = vec![0.0; 64];
    nan[5] = f32::NAN;
    let e = Latent::new(4, 4, 4, nan).unwrap_err().to_string();
    assert!(e.contains("value 5"), "{e}");
    let mut lat = Latent::new(4, 2, 2, vec![0.0; 16]).unwrap();
    lat.image_width = 17;
    let e = pollster::block_on(vae.decode(&lat)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadLatent);
    assert!(e.to_string().contains("17"), "{e}");
}

#[test]
fn error_codes_are_stable_distinct_and_listed() {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|(c, _)| c.as_str()).collect();
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), codes.len(), "{codes:?}");
    for c in &codes {
        assert!(
            c.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "{c} is not kebab-case"
        );
    }
    // The codes the documentation and the TypeScript union promise.
    for promised in [
        "no-webgpu",
        "adapter-failed",
        "device-lost",
        "out-of-memory",
        "too-large",
        "fetch-failed",
        "aborted",
        "bad-weights",
        "unsupported-weights",
        "bad-image",
        "bad-latent",
    ] {
        assert!(codes.contains(&promised), "{promised} missing");
    }
    // docs/errors.md's table is the list itself, row for row, in its order.
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md")).unwrap();
    let table = doc
        .split_once("<!-- error-codes:begin -->\n")
        .and_then(|(_, rest)| rest.split_once("<!-- error-codes:end -->"))
        .map(|(table, _)| table)
        .expect("docs/errors.md has no error-codes block");
    let mut want = String::from("| code | meaning |\n|---|---|\n");
    for (code, meaning) in ErrorCode::ALL {
        want += &format!("| `{code}` | {meaning} |\n");
    }
    assert_eq!(table, want, "docs/errors.md's table is not ErrorCode::ALL");
    // The package's README names each.
    let npm_readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/npm/README.md")).unwrap();
    for code in &codes {
        assert!(
            npm_readme.contains(&format!("`{code}`")),
            "npm/README.md lacks {code}"
        );
    }
    // The TypeScript union names exactly these, in this order.
    let union: Vec<&str> = sdxl_vae::ERROR_CODE_TS
        .split('"')
        .skip(1)
        .step_by(2)
        .collect();
    assert_eq!(union, codes, "ERROR_CODE_TS drifted from ErrorCode::ALL");
    // Weights errors: a damaged file is bad, a valid file of something else unsupported, and
    // the error after the first keeps its code.
    let mut loader = WeightsLoader::new(Keep, Default::default());
    let e = loader.push(b"<html>not weights</html>").unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadWeights);
    assert_eq!(
        loader.push(b"more").unwrap_err().code(),
        ErrorCode::BadWeights
    );
    let cfg = VaeConfig {
        block_out_channels: vec![32, 32, 64, 64],
        ..VaeConfig::sdxl()
    };
    let file = synthetic_safetensors(&cfg, Layout::Diffusers, SynthDtype::F16, "");
    let family = sdxl_vae::weights::FamilyChoice {
        family: Some(sdxl_vae::weights::Family::Sd3),
        ..Default::default()
    };
    let mut loader = WeightsLoader::new(Keep, family);
    let e = loader.push(&file).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnsupportedWeights, "{e}");
}

struct Keep;

impl sdxl_vae::weights::WeightSink for Keep {
    type Error = sdxl_vae::Error;

    fn begin(&mut self, _: &sdxl_vae::weights::ModelInfo) -> sdxl_vae::Result<()> {
        Ok(())
    }
    fn tensor(&mut self, _: &str, _: &[usize], _: &[f32]) -> sdxl_vae::Result<()> {
        Ok(())
    }
}
