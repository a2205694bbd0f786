//! Launcher for `pack_input.wgsl`, and the textures the texture convolution kernel
//! (`conv2d_texture.wgsl`, for CPU adapters) reads: each convolution's input packed 4 channels a
//! texel with a zero border, and the weights, made once at load time.

use super::conv2d::block_vec4;
use super::conv2d_texture::TEXTURE_PIXELS;
use super::Kernel;
use crate::gpu::{Bind, Recorder, Tensor};
use crate::Result;

/// Parameters of `pack_input.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PackParams {
    pub cin: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub in_row0: u32,
    pub in_rows: u32,
    pub tex_w: u32,
    pub norm: u32,
    /// Band-local first row packed, and rows packed (texture rows 1 ..= rows).
    pub row_lo: u32,
    pub rows: u32,
    /// First column packed, and columns packed (texel columns 1 ..= cols).
    pub col_lo: u32,
    pub cols: u32,
    pub _pad: u32,
}

/// Input texture size (width, height, layers) that `conv2d_texture.wgsl` reads for one input
/// band of `rows` rows: a zero border column and row on each side, and columns of slack on the
/// right so that the pixels of a last, partly used invocation read zeros too.
pub fn texture_size(cin: u32, w: u32, rows: u32) -> [u32; 3] {
    [w + 2 + 2 * TEXTURE_PIXELS, rows + 2, cin.div_ceil(4)]
}

/// Records packing `rows` (band-local first row, count) and `cols` (first, count) of band `i` of `x` (normalised by
/// `affine` as `norm` says: see `ConvParams`) into the pool's input texture of at least `size`
/// ([`texture_size`]), and returns the texture.
#[allow(clippy::too_many_arguments)]
pub fn pack(
    rec: &mut Recorder,
    kernel: &Kernel,
    x: &Tensor,
    i: usize,
    rows: (u32, u32),
    cols: (u32, u32),
    affine: Bind,
    norm: u32,
    size: [u32; 3],
) -> Result<wgpu::TextureView> {
    let view = rec.texture(crate::gpu::TextureSlot::Input, size)?;
    let b = &x.bands()[i];
    let p = PackParams {
        cin: x.c,
        in_h: x.h,
        in_w: x.w,
        in_row0: b.row0,
        in_rows: b.rows,
        tex_w: size[0],
        norm,
        row_lo: rows.0,
        rows: rows.1,
        col_lo: cols.0,
        cols: cols.1,
        _pad: 0,
    };
    rec.dispatch(
        kernel,
        &[Bind::Band(x, i), affine, Bind::Texture(&view)],
        bytemuck::bytes_of(&p),
        [size[0].div_ceil(8), (rows.1 + 2).div_ceil(8), size[2]],
    );
    Ok(view)
}

/// The weights in `relayout` (the output of [`super::conv2d::relayout`]) as the rgba32float texture array that
/// `conv2d_texture.wgsl` reads: texel `(c·2·k·k + tap·2 + h, q, block)` holds output channels
/// `8·block + 4h .. +3` of input channel `4q + c` at `tap` (zero past `cin`).
pub fn weight_texture(
    gpu: &crate::gpu::Gpu,
    relayout: &[f32],
    cout: u32,
    cin: u32,
    k: u32,
) -> wgpu::TextureView {
    let (kk, quads, blocks) = ((k * k) as usize, cin.div_ceil(4), cout.div_ceil(8));
    let width = 8 * kk;
    let block = 4 * block_vec4(cin as usize, k as usize);
    let mut data = vec![0f32; 4 * width * (quads * blocks) as usize];
    for b in 0..blocks as usize {
        for q in 0..quads as usize {
            for c in 0..4 {
                let ci = 4 * q + c;
                if ci >= cin as usize {
                    continue;
                }
                for t in 0..kk {
                    let src = b * block + (ci * kk + t) * 8;
                    let dst = 4 * ((b * quads as usize + q) * width + c * 2 * kk + t * 2);
                    data[dst..dst + 8].copy_from_slice(&relayout[src..src + 8]);
                }
            }
        }
    }
    let usage = wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST;
    let size = [width as u32, quads, blocks];
    let (texture, view) = crate::gpu::rgba32f_array(gpu.device(), "conv weights", size, usage);
    gpu.queue().write_texture(
        texture.as_image_copy(),
        bytemuck::cast_slice(&data),
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(16 * width as u32),
            rows_per_image: Some(quads),
        },
        texture.size(),
    );
    view
}
