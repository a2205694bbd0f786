//! Launcher for `pack_input.wgsl`, and the textures the texture convolution kernel
//! (`conv2d_texture.wgsl`, for CPU adapters) reads: each convolution's input packed 4 channels a
//! texel with a zero border, and the weights, made once at load time.

use super::conv2d::block_vec4;
use super::conv2d_texture::TEXTURE_PIXELS;
use super::Kernels;
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
    /// 1 where the row width and the first column are multiples of 4: the input is read 4
    /// columns at a time.
    pub aligned: u32,
}

/// Input texture size (width, height, layers) that `conv2d_texture.wgsl` reads for one input
/// band of `rows` rows: a zero border column and row on each side, and columns of slack on the
/// right so that the pixels of a last, partly used invocation read zeros too. Layers of 4
/// channels, an even number of them (`conv2d_texture_oct.wgsl` reads them in pairs), or if
/// `f16` of 8 channels.
pub fn texture_size(cin: u32, w: u32, rows: u32, f16: bool) -> [u32; 3] {
    let layers = cin.div_ceil(8) * if f16 { 1 } else { 2 };
    [w + 2 + 2 * TEXTURE_PIXELS, rows + 2, layers]
}

/// Records packing `rows` (band-local first row, count) and `cols` (first, count) of band `i` of `x` (normalised by
/// `affine` as `norm` says: see `ConvParams`) into the pool's input texture of at least `size`
/// ([`texture_size`]), and returns the texture.
#[allow(clippy::too_many_arguments)]
pub fn pack(
    rec: &mut Recorder,
    kern: &Kernels,
    x: &Tensor,
    i: usize,
    rows: (u32, u32),
    cols: (u32, u32),
    affine: Bind,
    norm: u32,
    size: [u32; 3],
) -> Result<wgpu::TextureView> {
    let view = rec.texture(crate::gpu::TextureSlot::Input, size)?;
    let (kernel, flag, _) = kern.pack(false, &rec.pool)?;
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
        aligned: (x.w.is_multiple_of(4) && cols.0.is_multiple_of(4)) as u32,
    };
    rec.dispatch(
        kernel,
        &[
            Bind::Band(x, i),
            affine,
            Bind::Texture(&view),
            Bind::Raw(&flag),
            match p.aligned {
                1 => Bind::Band(x, i),
                _ => Bind::Raw(&kern.dummy),
            },
        ],
        bytemuck::bytes_of(&p),
        [
            (size[0] - 1).div_ceil(4 * 8),
            (rows.1 + 2).div_ceil(8),
            size[2],
        ],
    );
    Ok(view)
}

/// The weights in `relayout` (the output of [`super::conv2d::relayout`]) as the texture array that
/// `conv2d_texture.wgsl` reads: texel `(c·2·k·k + tap·2 + h, q, block)` holds output channels
/// `8·block + 4h .. +3` of input channel `4q + c` at `tap` (zero past `cin`; an even number of
/// rows q). If `f16` and every weight is within f16's range, the f16 layout of
/// `conv2d_texture_oct.wgsl` instead: texel `(c·k·k + tap, q, block)` of a rgba32uint texture
/// holds output channels `8·block .. +7` of input channel `8q + c`. Returns the texture, whether
/// it is f16, and its bytes.
pub fn weight_texture(
    gpu: &crate::gpu::Gpu,
    relayout: &[f32],
    cout: u32,
    cin: u32,
    k: u32,
    f16: bool,
) -> (wgpu::TextureView, bool, u64) {
    let usage = wgpu::TextureUsages::TEXTURE_BINDING
        | wgpu::TextureUsages::STORAGE_BINDING
        | wgpu::TextureUsages::COPY_DST;
    let (kk, blocks) = ((k * k) as usize, cout.div_ceil(8));
    let octs = cin.div_ceil(8);
    if f16 && relayout.iter().all(|v| v.abs() <= half::f16::MAX.to_f32()) {
        // Each run of 8 output channels of `relayout` is one texel.
        let width = 8 * kk;
        let block = 4 * block_vec4(cin as usize, k as usize);
        let mut data = vec![half::f16::ZERO; 8 * width * (octs * blocks) as usize];
        for b in 0..blocks as usize {
            for ci in 0..cin as usize {
                let (q, c) = (ci / 8, ci % 8);
                for t in 0..kk {
                    let src = b * block + (ci * kk + t) * 8;
                    let dst = 8 * ((b * octs as usize + q) * width + c * kk + t);
                    for (d, v) in data[dst..dst + 8].iter_mut().zip(&relayout[src..src + 8]) {
                        *d = half::f16::from_f32(*v);
                    }
                }
            }
        }
        let size = [width as u32, octs, blocks];
        let (texture, view) =
            crate::gpu::float_array(gpu.device(), "conv weights", size, true, usage);
        write_texture(gpu, &texture, bytemuck::cast_slice(&data));
        return (view, true, crate::gpu::texture_bytes(size));
    }
    let quads = 2 * octs;
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
    let size = [width as u32, quads, blocks];
    let (texture, view) = crate::gpu::float_array(gpu.device(), "conv weights", size, false, usage);
    write_texture(gpu, &texture, bytemuck::cast_slice(&data));
    (view, false, crate::gpu::texture_bytes(size))
}

/// Writes all of `texture` (16-byte texels) from `data`.
fn write_texture(gpu: &crate::gpu::Gpu, texture: &wgpu::Texture, data: &[u8]) {
    let size = texture.size();
    gpu.queue().write_texture(
        texture.as_image_copy(),
        data,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(16 * size.width),
            rows_per_image: Some(size.height),
        },
        size,
    );
}
