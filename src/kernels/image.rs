//! Launchers for `image_to_tensor.wgsl` and `tensor_to_image.wgsl`.

use super::Kernels;
use crate::error::{Error, Result};
use crate::gpu::{Bind, Recorder, Tensor};

/// The values a model's images are: pixels `v` in 0..=255 as `v/127.5 − 1` (AutoencoderKL) or
/// `v/255` (AutoencoderTiny's own convention inside diffusers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PixelRange {
    #[default]
    Signed,
    Unit,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ToTensorParams {
    pub src_w: u32,
    pub src_h: u32,
    pub dst_w: u32,
    pub dst_h: u32,
    pub row0: u32,
    pub rows: u32,
    /// 1: [`PixelRange::Unit`].
    pub unit: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ToImageParams {
    pub src_w: u32,
    pub src_h: u32,
    pub out_w: u32,
    pub out_h: u32,
    pub row0: u32,
    pub rows: u32,
    pub y0: u32,
    pub y1: u32,
    /// 1: [`PixelRange::Unit`].
    pub unit: u32,
    pub _pad: [u32; 3],
}

/// RGBA8 pixels (`w × h`) → `[3, H, W]` in `range`, edge-replicated to `pad_w × pad_h`, in row
/// bands starting at `starts` (halo rows written too).
#[allow(clippy::too_many_arguments)]
pub fn image_to_tensor(
    rec: &mut Recorder,
    kern: &Kernels,
    rgba: &[u8],
    w: u32,
    h: u32,
    pad_w: u32,
    pad_h: u32,
    starts: &[u32],
    range: PixelRange,
) -> Result<Tensor> {
    if w == 0 || h == 0 || rgba.len() != 4 * w as usize * h as usize || pad_w < w || pad_h < h {
        return Err(Error::Input(format!(
            "image of {w}×{h} with {} bytes (padded to {pad_w}×{pad_h})",
            rgba.len()
        )));
    }
    let out = rec.tensor_banded([3, pad_h, pad_w], false, starts, "image tensor")?;
    let what = format!("the RGBA pixels of a {w}×{h} image");
    rec.pool.check(rgba.len() as u64, &what)?;
    let src = rec.upload("image pixels", rgba);
    for (i, b) in out.bands().iter().enumerate() {
        let p = ToTensorParams {
            src_w: w,
            src_h: h,
            dst_w: pad_w,
            dst_h: pad_h,
            row0: b.row0,
            rows: b.rows,
            unit: (range == PixelRange::Unit) as u32,
            _pad: 0,
        };
        rec.dispatch(
            &kern.named("image_to_tensor"),
            &[Bind::Raw(&src), Bind::Band(&out, i)],
            bytemuck::bytes_of(&p),
            [pad_w.div_ceil(8), b.rows.div_ceil(8), 1],
        );
    }
    out.set_halos_valid(true);
    Ok(out)
}

/// `[3, H, W]` decoder output in `range` (any row bands) → RGBA8 cropped to `w × h`, in a
/// tensor-shaped buffer of `h·w` u32.
pub fn tensor_to_image(
    rec: &mut Recorder,
    kern: &Kernels,
    x: &Tensor,
    w: u32,
    h: u32,
    range: PixelRange,
) -> Result<Tensor> {
    if x.c != 3 || x.f16 || w > x.w || h > x.h || w == 0 || h == 0 {
        return Err(Error::Input(format!(
            "tensor_to_image: [{}, {}, {}] (f16: {}) cropped to {w}×{h}",
            x.c, x.h, x.w, x.f16
        )));
    }
    let out = rec.tensor(1, h, w, "image pixels")?;
    for (i, b) in x.bands().iter().enumerate() {
        if b.y0 >= h {
            break;
        }
        let p = ToImageParams {
            src_w: x.w,
            src_h: x.h,
            out_w: w,
            out_h: h,
            row0: b.row0,
            rows: b.rows,
            y0: b.y0,
            y1: b.y1,
            unit: (range == PixelRange::Unit) as u32,
            _pad: [0; 3],
        };
        rec.dispatch(
            &kern.named("tensor_to_image"),
            &[Bind::Band(x, i), Bind::Tensor(&out)],
            bytemuck::bytes_of(&p),
            [w.div_ceil(8), (b.y1.min(h) - b.y0).div_ceil(8), 1],
        );
    }
    Ok(out)
}
