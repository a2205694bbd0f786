//! f16 precision past f16's range: a call whose values exceed it runs again with them in f32 —
//! only the activations where they alone overflowed (the convolutions still read f16), every
//! operand where a convolution's input did — and later calls keep that.

use crate::support;

use sdxl_vae::weights::synthetic::{synthetic_safetensors, write_safetensors, SynthDtype};
use sdxl_vae::weights::{Layout, VaeConfig};
use sdxl_vae::{Gpu, Latent, LoadOptions, Precision, Vae};
use support::{assert_close, small_vae, Rng};

/// A latent whose values exceed f16's range: the f16 model's call runs again in f32 (its result
/// close to the f32 model's, not NaN), and keeps it for later calls.
#[test]
fn overflow_in_f16_reruns_in_f32_and_stays_there() {
    let gpu = support::gpu();
    let (v32, v16) = (
        small_vae(&gpu, Precision::F32),
        small_vae(&gpu, Precision::F16),
    );
    let mut rng = Rng(10);
    let latent = Latent::new(4, 8, 8, rng.vec(4 * 64, -1e5, 1e5)).unwrap();
    let d32 = pollster::block_on(v32.decode_raw(&latent)).unwrap();
    let first = pollster::block_on(v16.decode_raw(&latent)).unwrap();
    assert_eq!(v16.precision(), Precision::F32, "overflow seen");
    assert!(!v16.f16_activations());
    assert_close("after overflow", &first.data, &d32.data, 3e-2, 0.0);
    let second = pollster::block_on(v16.decode_raw(&latent)).unwrap();
    assert_eq!(first.data, second.data, "the rerun and a later call agree");
}

/// The small synthetic model (blocks 32, 32, 64, 64) with one tensor's values scaled.
fn scaled_vae(gpu: &Gpu, precision: Precision, name: &str, scale: f32) -> Vae {
    let cfg = VaeConfig {
        block_out_channels: vec![32, 32, 64, 64],
        ..VaeConfig::sdxl()
    };
    let file = synthetic_safetensors(&cfg, Layout::Diffusers, SynthDtype::F32, "");
    let st = safetensors::SafeTensors::deserialize(&file).unwrap();
    let mut tensors: Vec<_> = (st.tensors().into_iter())
        .map(|(n, v)| (n.clone(), v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    let t = tensors.iter_mut().find(|t| t.0 == name).expect(name);
    let values: Vec<f32> = bytemuck::pod_collect_to_vec(&t.3);
    t.3 = bytemuck::cast_slice(&values.iter().map(|v| v * scale).collect::<Vec<f32>>()).to_vec();
    let opts = LoadOptions {
        precision,
        ..Default::default()
    };
    let mut loader = Vae::loader(gpu, opts);
    loader.push(&write_safetensors(&tensors)).unwrap();
    loader.finish().unwrap()
}

/// Where only activations exceed f16's range — the last block's residual stream, scaled up,
/// which every convolution normalises as it reads — the call runs again with f32 activations
/// and keeps f16 convolution inputs; its result is as close to the f32 model's as f16 inputs
/// make it.
#[test]
fn activations_beyond_f16_rerun_in_f32_with_f16_inputs() {
    let gpu = support::gpu();
    let name = "decoder.up_blocks.3.resnets.0.conv2.weight";
    let (v32, v16) = (
        scaled_vae(&gpu, Precision::F32, name, 1e6),
        scaled_vae(&gpu, Precision::F16, name, 1e6),
    );
    let mut rng = Rng(11);
    let latent = Latent::new(4, 8, 8, rng.vec(4 * 64, -3.0, 3.0)).unwrap();
    let d32 = pollster::block_on(v32.decode_raw(&latent)).unwrap();
    let first = pollster::block_on(v16.decode_raw(&latent)).unwrap();
    assert!(!v16.f16_activations(), "the activations' overflow seen");
    assert_eq!(v16.precision(), Precision::F16, "f16 inputs kept");
    assert_close("f32 activations", &first.data, &d32.data, 3e-2, 0.0);
    let second = pollster::block_on(v16.decode_raw(&latent)).unwrap();
    assert_eq!(first.data, second.data, "the rerun and a later call agree");
}
