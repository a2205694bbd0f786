//! Launcher for the convolution family (`conv2d.wgsl`): per row band of the input, each chunk
//! of rows (and of columns, past the texture width limit) is packed by `pack_input.wgsl`, then
//! convolved by the form [`super::choose`] picks.

use super::conv_form::PIXELS;
use super::conv_geometry::rows_read;
pub use super::conv_geometry::{chunk_rows, out_size, out_starts, Activation, ConvMode};
pub use super::conv_weights::{ConvRef, ConvWeights};
use super::Kernels;
use crate::error::{Error, Result};
use crate::gpu::{Bind, Recorder, Tensor};

/// `Params` of `conv2d.wgsl` (what each field means is said there).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvParams {
    pub cin: u32,
    pub cout: u32,
    pub in_h: u32,
    pub in_w: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub k: u32,
    pub stride: u32,
    pub pad: u32,
    pub upsample: u32,
    pub has_residual: u32,
    pub cout4: u32,
    pub in_row0: u32,
    pub out_row0: u32,
    pub out_rows: u32,
    pub y0: u32,
    pub y1: u32,
    pub x_begin: u32,
    pub col0: u32,
    pub x_end: u32,
    pub relu: u32,
    pub _pad: [u32; 3],
}

/// GroupNorm applied to a convolution's input as it is loaded: the per-channel statistics and
/// scale from [`super::group_norm::norm_affine`], then SiLU if `silu`.
#[derive(Clone, Copy)]
pub struct InputNorm<'a> {
    pub affine: &'a Tensor,
    pub silu: bool,
}

/// Where a convolution's result goes.
pub(crate) enum Dest<'t> {
    /// A new tensor banded like the input (rows scaled by the mode), with `residual` added when
    /// given.
    New(Option<&'t Tensor>),
    /// `acc`'s own buffers, added to the values it holds: the residual is not copied, and no
    /// output buffer is taken. Where anything else holds `acc` (a clone), a new tensor instead.
    AddTo(Tensor),
    /// The first `cout` channels of the input's own buffers (see [`conv2d_over_input`]).
    OverInput,
}

/// `conv(norm(x)) + bias (+ residual)`, as a new tensor banded like `x` (rows scaled by the
/// mode); `norm` is the identity when `None`.
pub fn conv2d(
    rec: &mut Recorder,
    kern: &Kernels,
    x: &Tensor,
    norm: Option<InputNorm>,
    cw: &ConvWeights,
    mode: ConvMode,
    residual: Option<&Tensor>,
) -> Result<Tensor> {
    conv2d_ref(rec, kern, x, norm, cw.as_ref(), mode, residual)
}

/// [`conv2d`] with borrowed weights.
pub fn conv2d_ref(
    rec: &mut Recorder,
    kern: &Kernels,
    x: &Tensor,
    norm: Option<InputNorm>,
    cw: ConvRef,
    mode: ConvMode,
    residual: Option<&Tensor>,
) -> Result<Tensor> {
    conv2d_to(rec, kern, x, norm, cw, mode, Dest::New(residual))
}

/// `act(conv(x) + bias + residual)`; the residual's own buffers take the result where nothing
/// else holds them (as [`Dest::AddTo`]).
pub fn conv2d_act(
    rec: &mut Recorder,
    kern: &Kernels,
    x: &Tensor,
    cw: ConvRef,
    mode: ConvMode,
    residual: Option<Tensor>,
    act: Activation,
) -> Result<Tensor> {
    let dest = match residual {
        Some(r) => Dest::AddTo(r),
        None => Dest::New(None),
    };
    conv2d_act_to(rec, kern, x, None, cw, mode, dest, act)
}

/// A 1×1 convolution that does not widen `x`, written over the first `cout` channels of `x`'s
/// own buffers (each chunk of rows is read from the packed texture before any of them is
/// written) where nothing else holds `x`; into a new tensor otherwise.
pub fn conv2d_over_input(
    rec: &mut Recorder,
    kern: &Kernels,
    x: Tensor,
    cw: ConvRef,
) -> Result<Tensor> {
    let over = x.is_unique() && cw.k == 1 && cw.cout <= cw.cin && x.c == cw.cin;
    let dest = if over {
        Dest::OverInput
    } else {
        Dest::New(None)
    };
    conv2d_to(rec, kern, &x, None, cw, ConvMode::Same, dest)
}

/// [`conv2d_ref`] into `dest`.
pub(crate) fn conv2d_to(
    rec: &mut Recorder,
    kern: &Kernels,
    x: &Tensor,
    norm: Option<InputNorm>,
    cw: ConvRef,
    mode: ConvMode,
    dest: Dest,
) -> Result<Tensor> {
    conv2d_act_to(rec, kern, x, norm, cw, mode, dest, Activation::None)
}

/// [`conv2d_to`] with an activation after the bias and residual.
#[allow(clippy::too_many_arguments)]
fn conv2d_act_to(
    rec: &mut Recorder,
    kern: &Kernels,
    x: &Tensor,
    norm: Option<InputNorm>,
    cw: ConvRef,
    mode: ConvMode,
    dest: Dest,
    act: Activation,
) -> Result<Tensor> {
    // In place only where nothing else can see the buffers change.
    if let Dest::AddTo(acc) = &dest {
        if !acc.is_unique() {
            let dest = Dest::New(Some(acc));
            return conv2d_act_to(rec, kern, x, norm, cw, mode, dest, act);
        }
    }
    let residual = match &dest {
        Dest::New(r) => *r,
        Dest::AddTo(acc) => Some(acc),
        Dest::OverInput => None,
    };
    if let Some(n) = norm {
        if (n.affine.c, n.affine.h, n.affine.w) != (x.c, 1, 4) {
            return Err(Error::Input(format!(
                "conv2d: GroupNorm scale and shift [{}, {}, {}] for {} input channels",
                n.affine.c, n.affine.h, n.affine.w, x.c
            )));
        }
    }
    if x.c != cw.cin {
        return Err(Error::Input(format!(
            "conv2d: input has {} channels, weights expect {}",
            x.c, cw.cin
        )));
    }
    if mode == ConvMode::Down && (x.h < 2 || x.w < 2) {
        return Err(Error::Input(format!(
            "conv2d: cannot downsample {}×{}",
            x.w, x.h
        )));
    }
    let (oh, ow) = out_size(mode, x.h, x.w);
    if let Some(r) = residual {
        if (r.c, r.h, r.w) != (cw.cout, oh, ow) {
            return Err(Error::Input(format!(
                "conv2d: residual [{}, {}, {}] ≠ output [{}, {oh}, {ow}]",
                r.c, r.h, r.w, cw.cout
            )));
        }
    }
    let starts = out_starts(mode, &x.starts())?;
    if let Some(r) = residual {
        if r.starts() != starts {
            return Err(Error::Input(format!(
                "conv2d: residual bands {:?} ≠ output bands {starts:?}",
                r.starts()
            )));
        }
    }
    // Each band's halo rows are filled just before its convolution reads them, so that an
    // out-of-core run holds the band and its neighbours once.
    let fill = cw.k > 1 && !x.halos_valid();
    let in_place = !matches!(dest, Dest::New(_));
    let out = match &dest {
        Dest::New(r) => {
            // Like its residual, else as the recording makes activations now.
            let f16 = r.map_or(rec.store_f16, |r| r.f16);
            let shape = [cw.cout, oh, ow];
            rec.tensor_banded(shape, f16, &starts, "conv2d output")?
        }
        Dest::AddTo(acc) => acc.clone(),
        Dest::OverInput => x.narrowed(cw.cout),
    };
    // What the kernel adds: 1 the residual bound, 2 what the output holds.
    let has_residual = match (residual.is_some(), in_place) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 2,
    };
    let residual = residual.filter(|_| !in_place);
    let layers = super::pack_input::texture_size(cw.cin, 1, 1, rec.halves.textures)[2];
    let max_layers = rec.gpu.device().limits().max_texture_array_layers;
    if layers > max_layers {
        return Err(Error::Input(format!(
            "conv2d: {} input channels need {layers} texture layers, the device has {max_layers}",
            cw.cin
        )));
    }
    let p = ConvParams {
        cin: cw.cin,
        cout: cw.cout,
        in_h: x.h,
        in_w: x.w,
        out_h: oh,
        out_w: ow,
        k: cw.k,
        stride: if mode.halves() { 2 } else { 1 },
        pad: if mode == ConvMode::Down {
            0
        } else {
            (cw.k - 1) / 2
        },
        upsample: (mode == ConvMode::Up) as u32,
        has_residual,
        cout4: cw.cout.div_ceil(4),
        in_row0: 0,
        out_row0: 0,
        out_rows: 0,
        y0: 0,
        y1: 0,
        x_begin: 0,
        col0: 0,
        x_end: ow,
        relu: (act == Activation::Relu) as u32,
        _pad: [0; 3],
    };
    // How `pack_input.wgsl` normalises the input, and what it binds for it.
    let (affine, norm_mode) = match norm {
        None => (Bind::Raw(&kern.dummy), 0),
        Some(n) => (Bind::Tensor(n.affine), 1 + n.silu as u32),
    };
    for i in rec.pass(out.bands().len()) {
        let (ob, ib) = (&out.bands()[i], &x.bands()[i]);
        if fill {
            super::copy_rows::fill_halo(rec, kern, x, i);
        }
        let (lo, hi) = rows_read(mode, cw.k, x.h, ob.y0, ob.y1);
        if lo < ib.row0 || hi > ib.row0 + ib.rows {
            return Err(Error::Input(format!(
                "conv2d: output rows {}..{} read input rows {lo}..{hi}, band {i} holds {}..{}",
                ob.y0,
                ob.y1,
                ib.row0,
                ib.row0 + ib.rows
            )));
        }
        let band = Band {
            x,
            i,
            out: &out,
            rows: (ob.y0, ob.y1),
            affine: affine.clone(),
            residual: match residual {
                Some(r) => Bind::Band(r, i),
                None => Bind::Raw(&kern.dummy),
            },
            norm: norm_mode,
        };
        let mut q = p;
        (q.out_row0, q.out_rows) = (ob.row0, ob.rows);
        dispatch_band(rec, kern, &band, mode, cw, &q)?;
    }
    if fill {
        x.set_halos_valid(true);
    }
    if in_place {
        out.set_halos_valid(false);
    }
    Ok(out)
}

/// One row band of a convolution: input band `i` of `x`, output rows `rows` into band `i` of
/// `out`, with the input's normalisation (`norm` as `pack_input.wgsl` takes it) and the
/// residual as bound.
struct Band<'a> {
    x: &'a Tensor,
    i: usize,
    out: &'a Tensor,
    rows: (u32, u32),
    affine: Bind<'a>,
    residual: Bind<'a>,
    norm: u32,
}

/// Output columns per texture (a multiple of 8): the widest texture the device takes, less the
/// border and slack columns (`tuning.cols` lowers it for tests).
fn column_step(rec: &Recorder, kern: &Kernels, mode: ConvMode, k: u32) -> Result<u32> {
    let max_cols = (rec.gpu.device().limits().max_texture_dimension_2d)
        .saturating_sub(2 + 2 * PIXELS)
        .min(kern.tuning.cols);
    match chunk_rows(mode, k, max_cols) / 8 * 8 {
        0 => Err(Error::Input(format!(
            "conv2d: textures of {max_cols} columns hold no chunk of 8 output columns"
        ))),
        step => Ok(step),
    }
}

/// Records one band's convolution, a chunk of rows and columns at a time.
fn dispatch_band(
    rec: &mut Recorder,
    kern: &Kernels,
    band: &Band,
    mode: ConvMode,
    cw: ConvRef,
    p: &ConvParams,
) -> Result<()> {
    let Band { x, i, out, .. } = *band;
    let ib = &x.bands()[i];
    let (y_begin, y_end) = band.rows;
    let ow = out.w;
    let blocks = cw.cout.div_ceil(8);
    let xstep = column_step(rec, kern, mode, cw.k)?;
    // Where an f16 output exceeds f16's range (see `Recorder::overflow_flag`).
    let flag = kern.overflow_flag(rec)?;
    let in_f16 = rec.halves.textures;
    // Output rows in chunks, so that the input texture stays small whatever the image size: at
    // most the tuning's rows, and a texture of at most half the call's band limit (a call run
    // out of core bands finely, and its texture counts against its budget). Chunks do not
    // change the result.
    let layers = super::pack_input::texture_size(cw.cin, 1, 1, in_f16)[2] as u64;
    let row_bytes = 16 * (ow.min(xstep) as u64 + 2 + 2 * PIXELS as u64) * layers;
    let by_limit = (rec.band_limit / 2 / row_bytes).min(u32::MAX as u64) as u32;
    let step = chunk_rows(mode, cw.k, kern.tuning.rows.min(by_limit));
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
            let view = super::pack_input::pack(rec, kern, x, i, rows, cols, aff, band.norm, size)?;
            let mut binds = vec![
                Bind::Texture(&view),
                Bind::Texture(cw.texture),
                Bind::Weight(cw.bias),
                band.residual.clone(),
                Bind::Band(out, i),
            ];
            if out.f16 {
                binds.push(Bind::Raw(&flag));
            }
            let mut q = *p;
            (q.in_row0, q.y0, q.y1) = (lo, y, y1);
            (q.x_begin, q.col0, q.x_end) = (xa, clo, xb);
            let (conv, form) = kern.conv(in_f16, cw.texture_f16, xb - xa, out.f16);
            let [wx, wy] = form.workgroup;
            let gx = (xb - xa).div_ceil(PIXELS).div_ceil(wx);
            let gy = (y1 - y).div_ceil(wy);
            rec.dispatch(&conv, &binds, bytemuck::bytes_of(&q), [gx, gy, blocks]);
            xa = xb;
        }
        y = y1;
    }
    Ok(())
}
