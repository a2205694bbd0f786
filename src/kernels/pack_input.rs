//! Launcher for `pack_input.wgsl`: each convolution's input, a chunk of rows at a time, packed
//! into the texture that `conv2d.wgsl` reads (4 channels a texel, or 8 as f16), normalised on
//! the way, with a zero border.

use super::conv_form::PIXELS;
use super::Kernels;
use crate::error::Result;
use crate::gpu::{Bind, Recorder, Tensor};

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

/// Input texture size (width, height, layers) that `conv2d.wgsl` reads for one input band of
/// `rows` rows: a zero border column and row on each side, and columns of slack on the right so
/// that the pixels of a last, partly used invocation read zeros too. Layers of 4 channels, an
/// even number of them (the 8-channel forms read them in pairs), or if `f16` of 8 channels.
pub fn texture_size(cin: u32, w: u32, rows: u32, f16: bool) -> [u32; 3] {
    let layers = cin.div_ceil(8) * if f16 { 1 } else { 2 };
    [w + 2 + 2 * PIXELS, rows + 2, layers]
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
    let slot = match size[2] > crate::gpu::DEEP_LAYERS {
        true => crate::gpu::TextureSlot::DeepInput,
        false => crate::gpu::TextureSlot::Input,
    };
    let view = rec.texture(slot, size)?;
    let halves = super::Halves {
        textures: rec.halves.textures,
        store: x.f16,
    };
    let (kernel, flag) = (kern.pack(false, halves), kern.overflow_flag(rec)?);
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
        &kernel,
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
