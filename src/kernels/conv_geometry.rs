//! The geometry of the convolution family: how each mode maps input rows and columns to output
//! ones — output sizes, row bands, the input rows an output range reads, and rows per chunk.

use crate::error::{Error, Result};

/// How the convolution maps input to output pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvMode {
    /// Stride 1, zero padding (k−1)/2 on every side: output size = input size.
    Same,
    /// diffusers Downsample2D: zero pad (0,1,0,1), then stride 2 without padding.
    Down,
    /// diffusers Upsample2D: nearest 2× upsample, then stride 1 "same": output = 2× input.
    Up,
    /// AutoencoderTiny's downsampling conv: stride 2, zero padding 1 on every side.
    DownPad1,
}

impl ConvMode {
    /// Stride 2 (output rows = input rows / 2, bands split at even rows).
    pub(super) fn halves(self) -> bool {
        matches!(self, ConvMode::Down | ConvMode::DownPad1)
    }
}

/// What the convolution does to its result after the bias and residual.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activation {
    #[default]
    None,
    Relu,
}

/// Output size of `mode` for an input of `h × w` (3×3 kernels; 1×1 only with `Same`).
pub fn out_size(mode: ConvMode, h: u32, w: u32) -> (u32, u32) {
    match mode {
        ConvMode::Same => (h, w),
        ConvMode::Down => ((h + 1 - 3) / 2 + 1, (w + 1 - 3) / 2 + 1),
        ConvMode::DownPad1 => (h.div_ceil(2), w.div_ceil(2)),
        ConvMode::Up => (2 * h, 2 * w),
    }
}

/// Output band starts for input bands starting at `starts`: band `i` of the output is computed
/// from band `i` of the input (and its halo rows).
pub fn out_starts(mode: ConvMode, starts: &[u32]) -> Result<Vec<u32>> {
    match mode {
        ConvMode::Same => Ok(starts.to_vec()),
        ConvMode::Up => Ok(starts.iter().map(|s| 2 * s).collect()),
        _ if starts.iter().all(|s| s % 2 == 0) => Ok(starts.iter().map(|s| s / 2).collect()),
        ConvMode::Down | ConvMode::DownPad1 => Err(Error::Input(format!(
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
        ConvMode::DownPad1 => (2 * y0 as i64 - 1, 2 * (y1 as i64 - 1) + 2),
        ConvMode::Up => (
            (y0 as i64 - r).div_euclid(2),
            (y1 as i64 - 1 + r).div_euclid(2) + 1,
        ),
    };
    (lo.max(0) as u32, hi.min(in_h as i64) as u32)
}

/// Output rows per dispatch when at most `in_rows` (≥ 4) input rows are packed.
pub fn chunk_rows(mode: ConvMode, k: u32, in_rows: u32) -> u32 {
    let in_rows = in_rows.max(4);
    let halo = k - 1;
    match mode {
        ConvMode::Same => in_rows.saturating_sub(halo),
        ConvMode::Up => 2 * in_rows.saturating_sub(halo),
        ConvMode::Down | ConvMode::DownPad1 => in_rows.saturating_sub(1) / 2,
    }
    .max(1)
}
