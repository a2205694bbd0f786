//! Launchers for `image_to_tensor.wgsl` and `tensor_to_image.wgsl`.

use super::Kernels;
use crate::gpu::{Bind, Recorder, Tensor};
use crate::{Error, Result};

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ImageParams {
    pub src_w: u32,
    pub src_h: u32,
    pub dst_w: u32,
    pub dst_h: u32,
}

/// RGBA8 pixels (`w × h`) → `[3, H, W]` in [−1, 1], edge-replicated to `pad_w × pad_h`.
pub fn image_to_tensor(
    rec: &mut Recorder,
    kern: &Kernels,
    rgba: &[u8],
    w: u32,
    h: u32,
    pad_w: u32,
    pad_h: u32,
) -> Result<Tensor> {
    if w == 0 || h == 0 || rgba.len() != 4 * w as usize * h as usize || pad_w < w || pad_h < h {
        return Err(Error::Input(format!(
            "image of {w}×{h} with {} bytes (padded to {pad_w}×{pad_h})",
            rgba.len()
        )));
    }
    let src = rec.upload("image pixels", rgba);
    let out = rec.tensor(3, pad_h, pad_w, "image tensor")?;
    let p = ImageParams {
        src_w: w,
        src_h: h,
        dst_w: pad_w,
        dst_h: pad_h,
    };
    rec.dispatch(
        &kern.image_to_tensor,
        &[Bind::Raw(&src), Bind::Tensor(&out)],
        bytemuck::bytes_of(&p),
        [pad_w.div_ceil(8), pad_h.div_ceil(8), 1],
    );
    Ok(out)
}

/// `[3, H, W]` decoder output → RGBA8 cropped to `w × h`, in a tensor-shaped buffer of `h·w` u32.
pub fn tensor_to_image(
    rec: &mut Recorder,
    kern: &Kernels,
    x: &Tensor,
    w: u32,
    h: u32,
) -> Result<Tensor> {
    if x.c != 3 || w > x.w || h > x.h || w == 0 || h == 0 {
        return Err(Error::Input(format!(
            "tensor_to_image: [{}, {}, {}] cropped to {w}×{h}",
            x.c, x.h, x.w
        )));
    }
    let out = rec.tensor(1, h, w, "image pixels")?;
    let p = ImageParams {
        src_w: x.w,
        src_h: x.h,
        dst_w: w,
        dst_h: h,
    };
    rec.dispatch(
        &kern.tensor_to_image,
        &[Bind::Tensor(x), Bind::Tensor(&out)],
        bytemuck::bytes_of(&p),
        [w.div_ceil(8), h.div_ceil(8), 1],
    );
    Ok(out)
}
