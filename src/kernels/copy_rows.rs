//! Launcher for `copy_rows.wgsl`: moving rows between the row bands of tensors — halo rows from
//! neighbouring bands, bands gathered into one buffer, one buffer split into bands.

use super::{groups_1d, Kernels};
use crate::error::{Error, Result};
use crate::gpu::{Bind, Recorder, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct CopyParams {
    pub planes: u32,
    pub width: u32,
    pub src_row0: u32,
    pub src_rows: u32,
    pub dst_row0: u32,
    pub dst_rows: u32,
    pub y0: u32,
    pub n_rows: u32,
}

/// Copies global rows `y0..y1` from band `si` of `src` to band `di` of `dst` (same `c`, `w`
/// and format; both bands must hold those rows).
#[allow(clippy::too_many_arguments)]
fn copy(
    rec: &mut Recorder,
    kern: &Kernels,
    src: &Tensor,
    si: usize,
    dst: &Tensor,
    di: usize,
    y0: u32,
    y1: u32,
) {
    let (s, d) = (&src.bands()[si], &dst.bands()[di]);
    debug_assert!(s.row0 <= y0 && y1 <= s.row0 + s.rows);
    debug_assert!(d.row0 <= y0 && y1 <= d.row0 + d.rows);
    if y1 <= y0 {
        return;
    }
    let p = CopyParams {
        planes: src.planes(),
        width: src.w,
        src_row0: s.row0,
        src_rows: s.rows,
        dst_row0: d.row0,
        dst_rows: d.rows,
        y0,
        n_rows: y1 - y0,
    };
    let (gx, gy) = groups_1d((y1 - y0) as u64 * src.w as u64, 64);
    rec.dispatch(
        &kern.named("copy_rows"),
        &[Bind::Band(src, si), Bind::Band(dst, di)],
        bytemuck::bytes_of(&p),
        [gx, gy, src.planes()],
    );
}

/// Fills every band's halo rows from its neighbours, unless they are already current.
pub fn fill_halos(rec: &mut Recorder, kern: &Kernels, t: &Tensor) {
    if t.halos_valid() {
        return;
    }
    for i in rec.pass(t.bands().len()) {
        fill_halo(rec, kern, t, i);
    }
    t.set_halos_valid(true);
}

/// Fills band `i`'s halo rows from its neighbours' own rows.
pub fn fill_halo(rec: &mut Recorder, kern: &Kernels, t: &Tensor, i: usize) {
    let n = t.bands().len();
    let b = &t.bands()[i];
    if i > 0 {
        copy(rec, kern, t, i - 1, t, i, b.row0, b.y0);
    }
    if i + 1 < n {
        copy(rec, kern, t, i + 1, t, i, b.y1, b.row0 + b.rows);
    }
}

/// `t` with its rows split into bands starting at `starts` (halos filled); `t` itself if it is
/// already banded so.
pub fn reband(rec: &mut Recorder, kern: &Kernels, t: &Tensor, starts: &[u32]) -> Result<Tensor> {
    if t.starts() == starts {
        return Ok(t.clone());
    }
    let out = rec.tensor_banded([t.c, t.h, t.w], t.f16, starts, "rebanded tensor")?;
    for (di, d) in out.bands().iter().enumerate() {
        // Every destination row (halos included) from the source band that owns it.
        for (si, s) in t.bands().iter().enumerate() {
            let y0 = d.row0.max(s.y0);
            let y1 = (d.row0 + d.rows).min(s.y1);
            copy(rec, kern, t, si, &out, di, y0, y1);
        }
    }
    out.set_halos_valid(true);
    Ok(out)
}

/// `t` held whole in one buffer.
pub fn whole(rec: &mut Recorder, kern: &Kernels, t: &Tensor) -> Result<Tensor> {
    reband(rec, kern, t, &[0])
}

/// Errors unless `t` is held whole (kernels that need every row at once).
pub fn require_whole(t: &Tensor, op: &str) -> Result<()> {
    if t.is_banded() {
        return Err(Error::Input(format!(
            "{op}: needs its input in one buffer, got {} row bands",
            t.bands().len()
        )));
    }
    Ok(())
}
