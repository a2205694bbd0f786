//! Shared by the GPU tests: the device (a missing adapter fails the test, never skips it), a
//! seeded generator, and tolerance checks that report the worst error and where it occurred.
#![allow(dead_code)]

pub mod fixtures;

use sdxl_vae::gpu::{BufferPool, Weight};
use sdxl_vae::kernels::conv_weights::{weight_texture, ConvWeights};
use sdxl_vae::kernels::{AdapterClass, Kernels, Staging, Tuning};
use sdxl_vae::model::Ops;
use sdxl_vae::{Gpu, GpuOptions};

pub fn gpu() -> Gpu {
    match pollster::block_on(Gpu::new(&GpuOptions::default())) {
        Ok(g) => g,
        Err(e) => panic!("GPU tests need a wgpu adapter (lavapipe in CI: apt-get install mesa-vulkan-drivers): {e}"),
    }
}

/// splitmix64-based uniform values in [lo, hi).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / 16_777_216.0)
    }
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// Worst |a − b| and its index.
pub fn worst(a: &[f32], b: &[f32]) -> (f32, usize) {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .enumerate()
        .fold((0.0, 0), |(m, mi), (i, (x, y))| {
            let d = (x - y).abs();
            if d > m || d.is_nan() {
                (d, i)
            } else {
                (m, mi)
            }
        })
}

/// Asserts |got − want| ≤ atol + rtol·|want| everywhere; prints and returns the worst absolute error.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) -> f32 {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs {}",
        got.len(),
        want.len()
    );
    let mut bad = None;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let within = (g - w).abs() <= atol + rtol * w.abs();
        if !within && bad.is_none() {
            bad = Some(i);
        }
    }
    let (err, at) = worst(got, want);
    println!(
        "{what}: worst abs error {err:.3e} at {at} (got {}, want {})",
        got[at], want[at]
    );
    if let Some(i) = bad {
        panic!("{what}: element {i} got {} want {} (atol {atol}, rtol {rtol}); worst {err:.3e} at {at}", got[i], want[i]);
    }
    err
}

/// A device and its kernels, for the kernel tests.
pub struct Env {
    pub gpu: Gpu,
    pub kern: Kernels,
}

pub fn env() -> Env {
    let gpu = gpu();
    let kern = Kernels::new(&gpu);
    Env { gpu, kern }
}

/// One environment per form of the convolution family's staging: plain, weights staged in
/// workgroup memory (as on GPUs), and where the adapter has subgroups of 8 (lavapipe) weight
/// fetches shared across them.
pub fn conv_envs() -> Vec<Env> {
    let gpu = gpu();
    let class = AdapterClass::of(&gpu);
    let has_sg = class.cpu && class.subgroups_of_8;
    let mut forms = vec![Staging::Plain, Staging::Workgroup];
    if has_sg {
        forms.push(Staging::Subgroup);
    }
    forms
        .into_iter()
        .map(|staging| {
            let mut tuning = Tuning::for_adapter(class);
            tuning.subgroups = staging == Staging::Subgroup;
            tuning.staged = staging == Staging::Workgroup;
            let kern = Kernels::with_tuning(&gpu, tuning);
            assert_eq!(kern.conv(false, false, u32::MAX, false).1.staging, staging);
            Env {
                gpu: gpu.clone(),
                kern,
            }
        })
        .collect()
}

impl Env {
    pub fn ops(&self) -> Ops<'_> {
        let pool = BufferPool::new(self.gpu.device().clone(), self.gpu.max_binding_bytes());
        Ops::new(&self.gpu, pool, &self.kern, Default::default()).expect("ops")
    }
    /// Conv weights from PyTorch's `[cout, cin, k, k]` layout and a bias.
    pub fn conv_weights(
        &self,
        wt: &[f32],
        bias: &[f32],
        cout: usize,
        cin: usize,
        k: usize,
    ) -> ConvWeights {
        let texture = weight_texture(&self.gpu, wt, cout as u32, cin as u32, k as u32, false);
        ConvWeights {
            texture,
            bias: self.weight(bias),
            cin: cin as u32,
            cout: cout as u32,
            k: k as u32,
        }
    }

    pub fn weight(&self, data: &[f32]) -> Weight {
        Weight::upload(self.gpu.device(), self.gpu.queue(), "test", data)
    }
}

/// A small synthetic model (blocks 32, 32, 64, 64) loaded at `precision`.
pub fn small_vae(gpu: &Gpu, precision: sdxl_vae::Precision) -> sdxl_vae::Vae {
    let cfg = sdxl_vae::weights::VaeConfig {
        block_out_channels: vec![32, 32, 64, 64],
        ..sdxl_vae::weights::VaeConfig::sdxl()
    };
    let opts = sdxl_vae::LoadOptions {
        precision,
        ..Default::default()
    };
    let mut loader = sdxl_vae::Vae::loader(gpu, opts);
    let file = sdxl_vae::weights::synthetic::synthetic_safetensors(
        &cfg,
        sdxl_vae::weights::Layout::Diffusers,
        sdxl_vae::weights::synthetic::SynthDtype::F32,
        "",
    );
    loader.push(&file).unwrap();
    let vae = loader.finish().unwrap();
    assert_eq!(vae.precision(), precision);
    vae
}
