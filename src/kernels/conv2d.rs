//! Launcher for `conv2d.wgsl` (and, through it, the uniform-window and texture kernels).

pub use super::conv_weights::{
    block_vec4, relayout, window_channels, ConvRef, ConvWeights, WINDOW,
};
use crate::gpu::{Bind, Recorder, Tensor};
use crate::{Error, Result};

/// Output pixels per `conv2d` invocation, and its workgroup shape (`P` and `@workgroup_size` in
/// the generated `conv2d.wgsl`; see `gen_conv2d.py`).
pub const PIXELS: u32 = 16;
pub const WORKGROUP: [u32; 2] = [16, 4];
/// How the convolution maps input to output pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvMode {
    /// Stride 1, zero padding (k−1)/2 on every side: output size = input size.
    Same,
    /// diffusers Downsample2D: zero pad (0,1,0,1), then stride 2 without padding.
    Down,
    /// diffusers Upsample2D: nearest 2× upsample, then stride 1 "same": output = 2× input.
    Up,
}

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
    pub in_rows: u32,
    pub out_row0: u32,
    pub out_rows: u32,
    pub y0: u32,
    pub y1: u32,
    pub norm: u32,
    pub wblock: u32,
    pub oc8_base: u32,
    pub ci0: u32,
    pub ci1: u32,
    pub accumulate: u32,
    pub x_begin: u32,
    pub col0: u32,
    pub x_end: u32,
    pub _pad: u32,
}

/// Fewest workgroups per dispatch (per row band) for which the uniform-window kernel is used:
/// measured on lavapipe, 16 (a 64² activation) gains 1.3×, 8 loses.
pub const UNIFORM_MIN_WORKGROUPS: u32 = 16;

/// Output size of `mode` for an input of `h × w` (3×3 kernels; 1×1 only with `Same`).
pub fn out_size(mode: ConvMode, h: u32, w: u32) -> (u32, u32) {
    match mode {
        ConvMode::Same => (h, w),
        ConvMode::Down => ((h + 1 - 3) / 2 + 1, (w + 1 - 3) / 2 + 1),
        ConvMode::Up => (2 * h, 2 * w),
    }
}

/// Output band starts for input bands starting at `starts`: band `i` of the output is computed
/// from band `i` of the input (and its halo rows).
pub fn out_starts(mode: ConvMode, starts: &[u32]) -> Result<Vec<u32>> {
    match mode {
        ConvMode::Same => Ok(starts.to_vec()),
        ConvMode::Up => Ok(starts.iter().map(|s| 2 * s).collect()),
        ConvMode::Down if starts.iter().all(|s| s % 2 == 0) => {
            Ok(starts.iter().map(|s| s / 2).collect())
        }
        ConvMode::Down => Err(Error::Input(format!(
            "conv2d: cannot downsample row bands starting at odd rows {starts:?}"
        ))),
    }
}

/// Global input rows `[lo, hi)` that output rows `y0..y1` read (clipped to the input).
pub(super) fn rows_read(mode: ConvMode, k: u32, in_h: u32, y0: u32, y1: u32) -> (u32, u32) {
    let r = (k / 2) as i64;
    let (lo, hi) = match mode {
        ConvMode::Same => (y0 as i64 - r, y1 as i64 + r),
        ConvMode::Down => (2 * y0 as i64, 2 * (y1 as i64 - 1) + 3),
        ConvMode::Up => (
            (y0 as i64 - r).div_euclid(2),
            (y1 as i64 - 1 + r).div_euclid(2) + 1,
        ),
    };
    (lo.max(0) as u32, hi.min(in_h as i64) as u32)
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
    kern: &crate::kernels::Kernels,
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
    kern: &crate::kernels::Kernels,
    x: &Tensor,
    norm: Option<InputNorm>,
    cw: ConvRef,
    mode: ConvMode,
    residual: Option<&Tensor>,
) -> Result<Tensor> {
    conv2d_to(rec, kern, x, norm, cw, mode, Dest::New(residual))
}

/// Whether the texture kernel runs `cw` (see [`Dest::OverInput`]).
fn runs_on_texture(
    rec: &Recorder,
    kern: &crate::kernels::Kernels,
    cw: &ConvRef,
    mode: ConvMode,
) -> bool {
    cw.texture.is_some() && super::conv2d_texture::takes(rec, kern, cw.cin, mode, cw.k)
}

/// A 1×1 convolution that does not widen `x`, written over the first `cout` channels of `x`'s
/// own buffers where the texture kernel runs it (it reads each chunk of rows from the packed
/// texture before any of them is written) and nothing else holds `x`; into a new tensor
/// otherwise.
pub fn conv2d_over_input(
    rec: &mut Recorder,
    kern: &crate::kernels::Kernels,
    x: Tensor,
    cw: ConvRef,
) -> Result<Tensor> {
    let over = x.is_unique()
        && cw.k == 1
        && cw.cout <= cw.cin
        && x.c == cw.cin
        && runs_on_texture(rec, kern, &cw, ConvMode::Same);
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
    kern: &crate::kernels::Kernels,
    x: &Tensor,
    norm: Option<InputNorm>,
    cw: ConvRef,
    mode: ConvMode,
    dest: Dest,
) -> Result<Tensor> {
    // In place only where nothing else can see the buffers change.
    if let Dest::AddTo(acc) = &dest {
        if !acc.is_unique() {
            return conv2d_to(rec, kern, x, norm, cw, mode, Dest::New(Some(acc)));
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
    if cw.k > 1 {
        super::copy_rows::fill_halos(rec, kern, x);
    }
    let in_place = !matches!(dest, Dest::New(_));
    let out = match &dest {
        Dest::New(_) => rec.tensor_banded(cw.cout, oh, ow, &starts, "conv2d output")?,
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
    let mut p = ConvParams {
        cin: cw.cin,
        cout: cw.cout,
        in_h: x.h,
        in_w: x.w,
        out_h: oh,
        out_w: ow,
        k: cw.k,
        stride: if mode == ConvMode::Down { 2 } else { 1 },
        pad: if mode == ConvMode::Down {
            0
        } else {
            (cw.k - 1) / 2
        },
        upsample: (mode == ConvMode::Up) as u32,
        has_residual,
        cout4: cw.cout.div_ceil(4),
        in_row0: 0,
        in_rows: 0,
        out_row0: 0,
        out_rows: 0,
        y0: 0,
        y1: 0,
        norm: match norm {
            None => 0,
            Some(InputNorm { silu: false, .. }) => 1,
            Some(InputNorm { silu: true, .. }) => 2,
        },
        wblock: block_vec4(cw.cin as usize, cw.k as usize) as u32,
        oc8_base: 0,
        ci0: 0,
        ci1: cw.cin,
        accumulate: 0,
        x_begin: 0,
        col0: 0,
        x_end: ow,
        _pad: 0,
    };
    let blocks = cw.cout.div_ceil(8);
    for (i, ob) in out.bands().iter().enumerate() {
        let ib = &x.bands()[i];
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
        (p.in_row0, p.in_rows) = (ib.row0, ib.rows);
        (p.out_row0, p.out_rows) = (ob.row0, ob.rows);
        (p.y0, p.y1) = (ob.y0, ob.y1);
        let res = match residual {
            Some(r) => Bind::Band(r, i),
            None => Bind::Raw(&kern.dummy),
        };
        let affine = match norm {
            Some(n) => Bind::Tensor(n.affine),
            None => Bind::Raw(&kern.dummy),
        };
        if let Some(wt) = cw.texture {
            let band = super::conv2d_texture::Band {
                x,
                i,
                out: &out,
                rows: (ob.y0, ob.y1),
                affine: affine.clone(),
                residual: res.clone(),
            };
            if super::conv2d_texture::dispatch(rec, kern, &band, mode, cw, wt, &p)? {
                continue;
            }
        }
        let Some(weight) = cw.weight else {
            return Err(Error::Input(format!(
                "conv2d: {} input channels exceed the device's {} texture layers of 4 channels; \
                 the storage kernel (--conv-kernel storage) takes them",
                cw.cin,
                rec.gpu.device().limits().max_texture_array_layers
            )));
        };
        let gx = ow.div_ceil(PIXELS).div_ceil(WORKGROUP[0]);
        let gy = (ob.y1 - ob.y0).div_ceil(WORKGROUP[1]);
        // Uniform windows pay off for 3×3 stride-1 convolutions with work for every core in
        // each of their many dispatches (measured on lavapipe: 1.3× at 64², slower at 32²).
        let uniform = kern.conv2d_uniform.as_ref().filter(|_| {
            cw.k == 3 && mode != ConvMode::Down && gx * gy >= kern.uniform_min_workgroups
        });
        let Some(uniform) = uniform else {
            let binds = [
                Bind::Band(x, i),
                Bind::Weight(weight),
                Bind::Weight(cw.bias),
                res,
                Bind::Band(&out, i),
                affine,
            ];
            rec.dispatch(
                &kern.conv2d,
                &binds,
                bytemuck::bytes_of(&p),
                [gx, gy, blocks],
            );
            continue;
        };
        // One dispatch per block of 8 output channels and window of input channels.
        let chunk = window_channels(cw.k);
        let kk = (cw.k * cw.k) as u64;
        for b in 0..blocks {
            for ci0 in (0..cw.cin).step_by(chunk as usize) {
                let ci1 = (ci0 + chunk).min(cw.cin);
                let mut q = p;
                (q.wblock, q.oc8_base, q.ci0, q.ci1) = (0, b, ci0, ci1);
                q.accumulate = (ci0 > 0) as u32;
                // A bound residual is added by the last chunk, one held in place by the first.
                q.has_residual = match has_residual {
                    1 if ci1 == cw.cin => 1,
                    2 if ci0 == 0 => 2,
                    _ => 0,
                };
                let offset = 16 * (b as u64 * p.wblock as u64 + ci0 as u64 * kk * 2);
                let binds = [
                    Bind::Band(x, i),
                    Bind::WeightWindow(weight, offset, 16 * WINDOW),
                    Bind::Weight(cw.bias),
                    res.clone(),
                    Bind::Band(&out, i),
                    affine.clone(),
                ];
                rec.dispatch(uniform, &binds, bytemuck::bytes_of(&q), [gx, gy, 1]);
            }
        }
    }
    if in_place {
        out.set_halos_valid(false);
    }
    Ok(out)
}
