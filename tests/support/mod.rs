//! Shared by the GPU tests: the device (a missing adapter fails the test, never skips it), a
//! seeded generator, and tolerance checks that report the worst error and where it occurred.
#![allow(dead_code)]

use sdxl_vae::gpu::{BufferPool, Weight};
use sdxl_vae::kernels::conv2d::{relayout, ConvWeights};
use sdxl_vae::kernels::pack_input::weight_texture;
use sdxl_vae::kernels::{ConvVariant, Kernels};
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

/// One environment per convolution kernel variant; the texture kernel in each of its forms:
/// plain, with its weights staged in workgroup memory (as on GPUs), and where the adapter has
/// subgroups of 8 (lavapipe) sharing weight fetches across them.
pub fn conv_envs() -> Vec<Env> {
    let gpu = gpu();
    let has_sg = gpu.is_cpu() && gpu.has_subgroups_of(8);
    let mut variants = vec![
        (ConvVariant::Storage, false, false),
        (ConvVariant::Uniform, false, false),
        (ConvVariant::Texture, false, false),
        (ConvVariant::Texture, false, true),
    ];
    if has_sg {
        variants.push((ConvVariant::Texture, true, false));
    }
    variants
        .into_iter()
        .map(|(v, sg, shared)| {
            let mut kern = Kernels::with_conv(&gpu, v);
            // Small test shapes take the uniform-window kernel too.
            kern.uniform_min_workgroups = 0;
            kern.texture_subgroups = sg;
            kern.texture_shared = shared;
            assert_eq!(kern.conv2d_texture_sg.is_some(), has_sg);
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
        Ops::new(&self.gpu, pool, &self.kern).expect("ops")
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
        let r = relayout(wt, cout, cin, k);
        let texture = (self.kern.variant == ConvVariant::Texture)
            .then(|| weight_texture(&self.gpu, &r, cout as u32, cin as u32, k as u32, false).0);
        ConvWeights {
            weight: (self.kern.variant != ConvVariant::Texture).then(|| self.weight(&r)),
            bias: self.weight(bias),
            cin: cin as u32,
            cout: cout as u32,
            k: k as u32,
            texture,
            texture_f16: false,
        }
    }

    pub fn weight(&self, data: &[f32]) -> Weight {
        Weight::upload(self.gpu.device(), self.gpu.queue(), "test", data)
    }
}
