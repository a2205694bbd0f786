//! Convolution weights on the GPU and the per-block layout the convolution kernels read.

use crate::gpu::Weight;

/// vec4 in the uniform weight window of `conv2d_uniform.wgsl` (64 KiB, WebGPU's default
/// `maxUniformBufferBindingSize`).
pub const WINDOW: u64 = 4096;

/// Conv weights on the GPU: a buffer in the layout of [`relayout`] (storage and uniform
/// kernels) or a texture (the texture kernel), bias padded to a multiple of 4.
pub struct ConvWeights {
    pub weight: Option<Weight>,
    pub bias: Weight,
    pub cin: u32,
    pub cout: u32,
    pub k: u32,
    /// The same weights as a texture for `conv2d_texture.wgsl` ([`super::pack_input::weight_texture`]), made
    /// where the device uses [`crate::kernels::ConvVariant::Texture`].
    pub texture: Option<wgpu::TextureView>,
    /// Whether that texture holds f16 values (the layout of `conv2d_texture_oct.wgsl`).
    pub texture_f16: bool,
}

/// Convolution weights as a launch reads them: [`ConvWeights`] of the model, or weights made on
/// the GPU for one call (attention's keys and values: a texture only).
#[derive(Clone, Copy)]
pub struct ConvRef<'a> {
    /// In the layout of [`relayout`]; `None` for texture-only weights.
    pub weight: Option<&'a Weight>,
    /// Padded to a multiple of 4.
    pub bias: &'a Weight,
    pub texture: Option<&'a wgpu::TextureView>,
    /// Whether `texture` holds f16 values.
    pub texture_f16: bool,
    pub cin: u32,
    pub cout: u32,
    pub k: u32,
}

impl ConvWeights {
    pub fn as_ref(&self) -> ConvRef<'_> {
        ConvRef {
            weight: self.weight.as_ref(),
            bias: &self.bias,
            texture: self.texture.as_ref(),
            texture_f16: self.texture_f16,
            cin: self.cin,
            cout: self.cout,
            k: self.k,
        }
    }
}

/// vec4 of weights per block of 8 output channels: `cin·k·k` pairs of vec4, padded to a
/// multiple of 16 vec4 (256 bytes, the uniform-buffer offset alignment).
pub fn block_vec4(cin: usize, k: usize) -> usize {
    (cin * k * k * 2).next_multiple_of(16)
}

/// PyTorch `[cout, cin, k, k]` → per block of 8 output channels `[cin][k·k][8]` (two vec4, output
/// channels past `cout` zero), each block padded to [`block_vec4`], then one [`WINDOW`] of zeros
/// so that a uniform window starting in the last block stays inside the buffer.
pub fn relayout(w: &[f32], cout: usize, cin: usize, k: usize) -> Vec<f32> {
    let kk = k * k;
    let block = 4 * block_vec4(cin, k);
    let blocks = cout.div_ceil(8);
    let mut out = vec![0.0; blocks * block + 4 * WINDOW as usize];
    for o in 0..cout {
        let (b, j) = (o / 8, o % 8);
        for i in 0..cin {
            for t in 0..kk {
                out[b * block + (i * kk + t) * 8 + j] = w[(o * cin + i) * kk + t];
            }
        }
    }
    out
}

/// Input channels per dispatch of the uniform-window variant: as many as fit one window, a
/// multiple of 8 so that every window starts 256-byte aligned.
pub fn window_channels(k: u32) -> u32 {
    ((WINDOW as u32 / (2 * k * k)) / 8 * 8).max(8)
}
