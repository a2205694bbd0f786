//! Launcher for `conv2d_texture.wgsl` (through [`super::conv2d::conv2d`], which picks it for
//! weights that are textures): each chunk of rows (and of columns, past the texture width
//! limit) of an input band is packed by `pack_input.wgsl`, then convolved.

use super::conv2d::{rows_read, ConvMode, ConvParams, ConvRef};
use super::{pipeline, Kernel, Kernels};
use crate::gpu::{Bind, Recorder, Tensor};
use crate::Result;

/// Output pixels per `conv2d_texture.wgsl` invocation; its workgroup shape is
/// [`crate::kernels::Kernels::texture_workgroup`].
pub const TEXTURE_PIXELS: u32 = 8;
/// The texture kernel's workgroup shape on CPU adapters (measured on lavapipe: 4×8 0.35×,
/// 16×2 0.7×; sharing weights across subgroups, at 128²: 8×8 within noise, 8×2 0.9×, 16×4 0.55×).
pub const TEXTURE_WORKGROUP_CPU: [u32; 2] = [8, 4];
/// The same on GPUs, where the weights are staged in workgroup memory
/// ([`crate::kernels::Kernels::texture_shared`]). Measured on an H100, 1024² decode s, f32 /
/// f16: 8×4 0.508 / 0.499, 8×8 0.507 / 0.384, 16×4 0.507 / 0.391, 16×8 0.490 / 0.401, 4×8
/// 0.517 / 0.501 (the f16 form stages 9 KiB a workgroup: at 32 invocations that bounds
/// occupancy). Without staging, 8×4 was best (0.580 / 0.415 in the same run; 8×8, 16×4, 4×16,
/// 8×16 and 16×8 within 1% of it, 32×4 0.96×, 32×8 0.83×, 64×4 0.65× in an earlier one).
pub const TEXTURE_WORKGROUP_GPU: [u32; 2] = [8, 8];

/// Input rows the texture kernel packs at a time on CPU adapters (the default of
/// [`crate::kernels::Kernels::texture_rows`] there): convolutions run in chunks of output rows
/// that read at most this many, so that the one input texture — which must cover the widest
/// input, the most rows and the most channels of all — holds (width + 18) × 66 texels × 128
/// layers at most for the SDXL VAE: 134 MiB at 1024², whatever the row bands. No slower on
/// lavapipe than whole bands.
pub const TEXTURE_ROWS_CPU: u32 = 64;
/// The same on GPUs, where each chunk's pack → convolution is a pipeline drain. Measured on an
/// H100 at 1024² (decode s, peak MiB): 64 rows 0.577, 3470; 128 0.544, 3600; 256 0.528, 3861;
/// whole image 0.524, 5424. At 512²: 64 rows 0.162; 256 0.129; whole 0.123.
pub const TEXTURE_ROWS_GPU: u32 = 256;

/// Which form of the texture kernel runs a convolution (see [`Kernels::texture_subgroups`],
/// [`Kernels::texture_shared`]).
impl Kernels {
    /// The texture convolution kernel for an input and weights of these formats and an output
    /// `width` pixels wide, with its workgroup shape. Where the subgroup forms are in use, rows
    /// of at most half the workgroup's width (32 pixels at 8×4) take a form half as wide and
    /// twice as tall, whose lanes would otherwise idle (on lavapipe about 2× on 32² layers,
    /// such as a 256² decode's first level).
    pub fn texture_conv(
        &self,
        in_f16: bool,
        weights_f16: bool,
        width: u32,
    ) -> crate::Result<(&Kernel, [u32; 2])> {
        let [wx, wy] = self.texture_workgroup;
        let kernel = self.texture_conv_of(in_f16, weights_f16)?;
        let sg = match in_f16 {
            false => self.conv2d_texture_sg.as_ref(),
            true => self.f16.as_ref().and_then(|k| k.conv_sg.as_ref()),
        };
        let narrow = in_f16 == weights_f16
            && self.texture_subgroups
            && sg.is_some()
            && wx.is_multiple_of(2)
            && width.div_ceil(TEXTURE_PIXELS) <= wx / 2;
        if !narrow {
            return Ok((kernel, [wx, wy]));
        }
        let shape = [wx / 2, wy * 2];
        let name = match in_f16 {
            false => "conv2d_texture_sg",
            true => "conv2d_texture_oct_sg",
        };
        let kernel = self.narrow_sg[in_f16 as usize].get_or_init(|| {
            let constants = [("WGX", shape[0] as f64), ("WGY", shape[1] as f64)];
            pipeline(&self.device, name, &constants)
        });
        Ok((kernel, shape))
    }

    /// The texture convolution kernel for an input and weights of these formats, of
    /// [`Kernels::texture_workgroup`]'s shape.
    fn texture_conv_of(&self, in_f16: bool, weights_f16: bool) -> crate::Result<&Kernel> {
        let shared = self.texture_shared;
        Ok(match (in_f16, weights_f16) {
            (false, false) => match &self.conv2d_texture_sg {
                Some(sg) if self.texture_subgroups => sg,
                _ if shared => self.conv2d_texture_wg.get_or_init(|| {
                    let [x, y] = self.texture_workgroup;
                    let constants = [("WGX", x as f64), ("WGY", y as f64)];
                    pipeline(&self.device, "conv2d_texture_wg", &constants)
                }),
                _ => &self.conv2d_texture,
            },
            (true, true) => {
                let k = self.f16_kernels("f16 textures")?;
                match &k.conv_sg {
                    Some(sg) if self.texture_subgroups => sg,
                    _ if shared => k.shared(true, true),
                    _ => &k.conv,
                }
            }
            _ => {
                let k = self.f16_kernels(if in_f16 {
                    "f16 textures"
                } else {
                    "f16 weights"
                })?;
                match shared {
                    true => k.shared(in_f16, weights_f16),
                    false => k.mixed(in_f16),
                }
            }
        })
    }
}

/// Output rows per texture-kernel dispatch when at most `in_rows` (≥ 4) input rows are packed.
pub fn texture_chunk_rows(mode: ConvMode, k: u32, in_rows: u32) -> u32 {
    let in_rows = in_rows.max(4);
    let halo = k - 1;
    match mode {
        ConvMode::Same => in_rows.saturating_sub(halo),
        ConvMode::Up => 2 * in_rows.saturating_sub(halo),
        ConvMode::Down => in_rows.saturating_sub(1) / 2,
    }
    .max(1)
}

/// One row band of a convolution: input band `i` of `x`, output rows `rows` into band `i` of
/// `out`, with the input's normalisation and the residual as `conv2d` binds them.
pub(super) struct Band<'a> {
    pub x: &'a Tensor,
    pub i: usize,
    pub out: &'a Tensor,
    pub rows: (u32, u32),
    pub affine: Bind<'a>,
    pub residual: Bind<'a>,
}

/// Output columns per texture (a multiple of 8; 0 where not even 8 fit): the widest texture
/// the device takes, less the border and slack columns (`kern.texture_cols` lowers it for tests).
fn column_step(rec: &Recorder, kern: &Kernels, mode: ConvMode, k: u32) -> u32 {
    let max_cols = (rec.gpu.device().limits().max_texture_dimension_2d)
        .saturating_sub(2 + 2 * TEXTURE_PIXELS)
        .min(kern.texture_cols);
    texture_chunk_rows(mode, k, max_cols) / 8 * 8
}

/// Whether the texture kernel takes a convolution of `cin` input channels: their texture
/// layers within the device's limit (column chunks make any width fit).
pub(super) fn takes(rec: &Recorder, kern: &Kernels, cin: u32, mode: ConvMode, k: u32) -> bool {
    let layers = super::pack_input::texture_size(cin, 1, 1, rec.pool.f16())[2];
    layers <= rec.gpu.device().limits().max_texture_array_layers
        && column_step(rec, kern, mode, k) > 0
}

/// Records one band's convolution; `false` (nothing recorded) where the input has more
/// channels than the device's texture layers hold.
pub(super) fn dispatch(
    rec: &mut Recorder,
    kern: &Kernels,
    band: &Band,
    mode: ConvMode,
    cw: ConvRef,
    wt: &wgpu::TextureView,
    p: &ConvParams,
) -> Result<bool> {
    let Band { x, i, out, .. } = *band;
    let ib = &x.bands()[i];
    let (y_begin, y_end) = band.rows;
    let ow = out.w;
    let blocks = cw.cout.div_ceil(8);
    if !takes(rec, kern, cw.cin, mode, cw.k) {
        return Ok(false);
    }
    let xstep = column_step(rec, kern, mode, cw.k);
    let in_f16 = rec.pool.f16();
    // Output rows in chunks, so that the input texture stays small whatever the image size
    // (see TEXTURE_ROWS_CPU).
    let step = texture_chunk_rows(mode, cw.k, kern.texture_rows);
    let mut y = y_begin;
    while y < y_end {
        let y1 = (y + step).min(y_end);
        let (lo, hi) = rows_read(mode, cw.k, x.h, y, y1);
        // Output columns in chunks too where a row is wider than a texture. Invocations past a
        // chunk's last column compute from stale texels; what they store is overwritten by the
        // next chunk.
        let mut xa = 0;
        while xa < ow {
            let xb = (xa + xstep).min(ow);
            let (clo, chi) = rows_read(mode, cw.k, x.w, xa, xb);
            let size = super::pack_input::texture_size(cw.cin, chi - clo, hi - lo, in_f16);
            let (rows, cols) = ((lo - ib.row0, hi - lo), (clo, chi - clo));
            let aff = band.affine.clone();
            let view = super::pack_input::pack(rec, kern, x, i, rows, cols, aff, p.norm, size)?;
            let binds = [
                Bind::Texture(&view),
                Bind::Texture(wt),
                Bind::Weight(cw.bias),
                band.residual.clone(),
                Bind::Band(out, i),
            ];
            let mut q = *p;
            (q.in_row0, q.y0, q.y1) = (lo, y, y1);
            (q.x_begin, q.col0, q.x_end) = (xa, clo, xb);
            let (conv, [wx, wy]) = kern.texture_conv(in_f16, cw.texture_f16, xb - xa)?;
            let gx = (xb - xa).div_ceil(TEXTURE_PIXELS).div_ceil(wx);
            let gy = (y1 - y).div_ceil(wy);
            rec.dispatch(conv, &binds, bytemuck::bytes_of(&q), [gx, gy, blocks]);
            xa = xb;
        }
        y = y1;
    }
    Ok(true)
}
