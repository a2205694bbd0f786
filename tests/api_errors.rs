//! Bad input to the public API gives an error that names the problem — never a panic.

mod support;

use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::{Layout, VaeConfig};
use sdxl_vae::{Error, Gpu, GpuOptions, Image, Latent, LimitsChoice, LoadOptions, Vae};

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
    let e = pollster::block_on(vae.encode(&short))
        .unwrap_err()
        .to_string();
    assert!(e.contains("256") && e.contains("10"), "{e}");
    let empty = Image {
        width: 0,
        height: 8,
        rgba: vec![],
    };
    assert!(matches!(
        pollster::block_on(vae.encode(&empty)),
        Err(Error::Input(_))
    ));

    let e = Latent::new(4, 4, 4, vec![0.0; 63]).unwrap_err().to_string();
    assert!(e.contains("64") && e.contains("63"), "{e}");
    let mut nan = vec![0.0; 64];
    nan[5] = f32::NAN;
    let e = Latent::new(4, 4, 4, nan).unwrap_err().to_string();
    assert!(e.contains("value 5"), "{e}");
    let mut lat = Latent::new(4, 2, 2, vec![0.0; 16]).unwrap();
    lat.image_width = 17;
    let e = pollster::block_on(vae.decode(&lat))
        .unwrap_err()
        .to_string();
    assert!(e.contains("17"), "{e}");
}
