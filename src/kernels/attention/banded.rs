//! Attention over tensors in row bands: queries band by band, each against every chunk of keys,
//! so that no buffer holds more than a band (see the parent module).

use super::{chunk_keys, pack_weights, softmax, texture_weights, CHUNK_MAX};
use crate::error::{Error, Result};
use crate::gpu::{Recorder, Tensor};
use crate::kernels::conv2d::{conv2d_ref, conv2d_to, ConvMode, Dest};
use crate::kernels::Kernels;

/// [`attention`] over tensors in row bands (the same bands): for each band of queries, every
/// chunk of at most `kc` keys of every key band, the band's output accumulated in place.
pub(super) fn banded(
    rec: &mut Recorder,
    kern: &Kernels,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
) -> Result<Tensor> {
    let starts = q.starts();
    if k.starts() != starts || v.starts() != starts {
        return Err(Error::Input(format!(
            "attention: query bands {starts:?}, key bands {:?}, value bands {:?}",
            k.starts(),
            v.starts()
        )));
    }
    let (c, h, w) = (q.c, q.h, q.w);
    // Query bands as coarse as the call's band limit allows (the queries, the output and one
    // chunk's scores a band each): a pair of a query band and a key chunk is a few dispatches.
    let max_binding = rec.pool.max_binding();
    let widest = c.max(kern.tuning.attention_chunk.min(CHUNK_MAX)) as u64;
    let fits =
        |rows: u32| 4 * widest * (rows as u64 + 2) * w as u64 <= rec.band_limit.min(max_binding);
    let mut merged = vec![0];
    for (b, &y0) in starts.iter().enumerate() {
        // Band `b` joins the group before it where the group then still fits.
        let y1 = starts.get(b + 1).copied().unwrap_or(h);
        let first = merged[merged.len() - 1];
        if y0 > first && !fits(y1 - first) {
            merged.push(y0);
        }
    }
    // Keys and values in the same coarser bands: chunks of `kc` keys, not of a thin band's.
    let mut coarser = |t: &Tensor| match merged.len() < starts.len() {
        true => crate::kernels::copy_rows::reband(rec, kern, t, &merged),
        false => Ok(t.clone()),
    };
    let (q, k, v) = (coarser(q)?, coarser(k)?, coarser(v)?);
    let (q, k, v, out_starts) = (&q, &k, &v, merged);
    let rows = q.bands().iter().map(|b| b.rows).max().unwrap_or(0);
    let kc = chunk_keys(rec.gpu, max_binding, kern, c, rows, w).ok_or_else(|| {
        Error::Input(format!(
            "attention: bands of {rows} rows × {w} tokens exceed this device's texture limits"
        ))
    })?;
    let f16 = rec.halves.textures;
    let widest = c.max(kc);
    let texel_rows = if f16 {
        widest.div_ceil(8)
    } else {
        widest.div_ceil(4)
    };
    let wsize = [8, texel_rows, widest.div_ceil(8)];
    // The key chunks: (band, first token in the band's buffer, keys), over each band's own rows.
    let mut chunks = Vec::new();
    for (j, b) in k.bands().iter().enumerate() {
        let (first, n) = ((b.y0 - b.row0) * w, (b.y1 - b.y0) * w);
        for t in (0..n).step_by(kc as usize) {
            chunks.push((j, first + t, kc.min(n - t)));
        }
    }
    // Halo rows are queries too: filled, they hold real values (and no stale one trips f16).
    crate::kernels::copy_rows::fill_halos(rec, kern, q);
    let out = rec.tensor_banded([c, h, w], false, &out_starts, "attention output")?;
    for i in rec.pass(out_starts.len()) {
        let qi = q.band_view(i);
        let mut oi = out.band_view(i);
        let state = rec.tensor(2, qi.h, w, "attention softmax state")?;
        for (ci, &(j, t0, keys)) in chunks.iter().enumerate() {
            let kt = pack_weights(rec, kern, (k, j), wsize, keys, c, t0, true)?;
            let weights = texture_weights(kern, &kt, f16, c, keys);
            let s = conv2d_ref(rec, kern, &qi, None, weights, ConvMode::Same, None)?;
            // The first chunk zeroes the output it then adds to.
            let mode = if ci == 0 { 3 } else { 1 };
            softmax(rec, kern, Some(&s), &state, Some(&oi), keys, c, mode);
            let vt = pack_weights(rec, kern, (v, j), wsize, c, keys, t0, false)?;
            let weights = texture_weights(kern, &vt, f16, keys, c);
            oi = conv2d_to(
                rec,
                kern,
                &s,
                None,
                weights,
                ConvMode::Same,
                Dest::AddTo(oi),
            )?;
        }
        softmax(rec, kern, None, &state, Some(&oi), 0, c, 2);
    }
    out.set_halos_valid(false);
    crate::kernels::copy_rows::reband(rec, kern, &out, &starts)
}
