//! Any adapter: a device with no optional feature (no subgroups) and WebGPU's default limits —
//! what Safari or Firefox may grant — runs the kernel forms that need none, chosen from what the
//! device reports, and its results equal diffusers' as on the full device.

use crate::support;

use sdxl_vae::kernels::Staging;
use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::{Layout, VaeConfig};
use sdxl_vae::{FeaturesChoice, Gpu, GpuOptions, LimitsChoice, LoadOptions, Precision};
use support::fixtures::{check_image, load_with};

#[test]
fn a_device_without_optional_features_at_default_limits_matches_diffusers() {
    let full = support::gpu();
    let opts = GpuOptions {
        limits: LimitsChoice::WebGpuDefault,
        features: FeaturesChoice::None,
    };
    let gpu = pollster::block_on(Gpu::new(&opts)).expect("a device");
    assert!(
        !gpu.has_subgroups_of(8),
        "no subgroups asked for, none granted"
    );
    assert_eq!(
        gpu.max_binding_bytes(),
        128 << 20,
        "WebGPU's default binding limit"
    );
    let cfg = VaeConfig {
        block_out_channels: vec![32, 32, 64, 64],
        ..VaeConfig::sdxl()
    };
    let file = synthetic_safetensors(&cfg, Layout::Diffusers, SynthDtype::F32, "");
    for (precision, tol) in [
        (Precision::F32, (1e-4, 5e-4)),
        (Precision::F16, (1e-2, 3e-2)),
    ] {
        let opts = LoadOptions {
            precision,
            ..Default::default()
        };
        let vae = load_with(&gpu, &file, 4096, opts.clone());
        // Where the full device has subgroups of 8 (lavapipe), it shares weight fetches across
        // them; this one cannot.
        let on_full = load_with(&full, &file, 4096, opts).conv_staging();
        assert_eq!(
            on_full == Staging::Subgroup,
            full.is_cpu() && full.has_subgroups_of(8)
        );
        assert_ne!(vae.conv_staging(), Staging::Subgroup, "{precision:?}");
        for img in ["64x48", "37x29"] {
            // (The 8-bit image within a level of diffusers' at f32 only.)
            let eight_bit = precision == Precision::F32;
            let (le, de) = check_image(&vae, "small", img, tol.0, tol.1, eight_bit);
            println!("no features, default limits, {precision:?}, {img}: latent {le:.2e}, decoded {de:.2e}");
        }
    }
}
