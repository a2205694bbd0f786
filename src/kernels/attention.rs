//! Launchers for single-head attention, `softmax(qᵀk / √C) v` over the H·W tokens of `[C, H, W]`
//! tensors, in two forms with the same result:
//! - chunked (where the device's texture limits allow it; always at the VAE's sizes): keys in
//!   chunks of up to [`CHUNK`], the two products as 1×1 texture convolutions
//!   (`conv2d.wgsl`, weights made by `pack_weights.wgsl` from the keys and values), and
//!   an online softmax between them (`attention_softmax.wgsl`). The N×N scores are never held:
//!   one chunk's `[keys, N]` at a time.
//! - `attention.wgsl`: one dispatch, one workgroup per query (slow at large N: every query
//!   reads every key from storage).
//!
//! Tensors in row bands (a latent too large for one buffer, or a call run out of core) take the
//! chunked form band by band of queries, each against every chunk of keys drawn from the key
//! and value bands: no buffer holds more than a band, and the result is the same.

use super::conv2d::{conv2d_ref, conv2d_to, ConvMode, ConvRef, Dest};
use super::{groups_1d, Kernels};
use crate::error::{Error, Result};
use crate::gpu::{Bind, Recorder, Tensor, TextureSlot};

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AttentionParams {
    pub channels: u32,
    pub tokens: u32,
    pub scale: f32,
    pub _pad: u32,
}

/// Parameters of `pack_weights.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PackWeightsParams {
    pub cin: u32,
    pub cout: u32,
    pub tokens: u32,
    pub t0: u32,
    pub transpose: u32,
    pub scale: f32,
    pub _pad: [u32; 2],
}

/// Parameters of `attention_softmax.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SoftmaxParams {
    pub keys: u32,
    pub tokens: u32,
    pub channels: u32,
    pub mode: u32,
}

/// Most channels either form holds per query (`attention.wgsl`'s `MAX_C`).
pub const MAX_CHANNELS: u32 = 1024;
pub use super::tuning::{ATTENTION_CHUNK as CHUNK, ATTENTION_CHUNK_MAX as CHUNK_MAX};

/// Keys per chunk for the chunked form of attention over `c` channels and `h × w` tokens with
/// activation buffers of at most `max_binding` bytes, or `None` where it does not fit (the knob
/// is 0, or a texture or score block exceeds a limit).
pub fn chunk_keys(
    gpu: &crate::gpu::Gpu,
    max_binding: u64,
    kern: &Kernels,
    c: u32,
    h: u32,
    w: u32,
) -> Option<u32> {
    let n = h * w;
    let by_binding = max_binding / (4 * n as u64);
    let mut kc = (kern.tuning.attention_chunk.min(CHUNK_MAX) as u64).min(by_binding);
    if kc < n as u64 {
        kc -= kc % 8;
    }
    let kc = kc.min(n as u64) as u32;
    if kc == 0 {
        return None;
    }
    let l = gpu.device().limits();
    let widest = c.max(kc);
    let input = super::pack_input::texture_size(widest, w, h, false);
    let fits = input[0].max(input[1]) <= l.max_texture_dimension_2d
        && input[2] <= l.max_texture_array_layers
        && widest.div_ceil(4) <= l.max_texture_dimension_2d
        && widest.div_ceil(8) <= l.max_texture_array_layers;
    fits.then_some(kc)
}

/// `softmax(qᵀk / √C) v` over the H·W tokens of `[C, H, W]` tensors, as a new `[C, H, W]` tensor.
pub fn attention(
    rec: &mut Recorder,
    kern: &Kernels,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
) -> Result<Tensor> {
    let shape = (q.c, q.h, q.w);
    if (k.c, k.h, k.w) != shape || (v.c, v.h, v.w) != shape || q.c > MAX_CHANNELS {
        return Err(Error::Input(format!(
            "attention: q {shape:?}, k {:?}, v {:?} (≤ {MAX_CHANNELS} channels)",
            (k.c, k.h, k.w),
            (v.c, v.h, v.w)
        )));
    }
    let max_binding = rec.pool.max_binding();
    if q.is_banded() || k.is_banded() || v.is_banded() {
        return banded(rec, kern, q, k, v);
    }
    if let Some(kc) = chunk_keys(rec.gpu, max_binding, kern, q.c, q.h, q.w) {
        return chunked(rec, kern, q, k, v, kc);
    }
    let tokens = q.h * q.w;
    let out = rec.tensor(q.c, q.h, q.w, "attention output")?;
    let p = AttentionParams {
        channels: q.c,
        tokens,
        scale: 1.0 / (q.c as f32).sqrt(),
        _pad: 0,
    };
    let (gx, gy) = groups_1d(tokens as u64, 1);
    let binds = [
        Bind::Tensor(q),
        Bind::Tensor(k),
        Bind::Tensor(v),
        Bind::Tensor(&out),
    ];
    rec.dispatch(
        &kern.named("attention"),
        &binds,
        bytemuck::bytes_of(&p),
        [gx, gy, 1],
    );
    Ok(out)
}

/// The chunked form, `kc` keys a chunk.
fn chunked(
    rec: &mut Recorder,
    kern: &Kernels,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    kc: u32,
) -> Result<Tensor> {
    let (c, h, w) = (q.c, q.h, q.w);
    let n = h * w;
    // One weights texture for both products, so that it is made once: 8 texels wide, rows of
    // 4 input channels (f16: 8), a layer per 8 output channels.
    let widest = c.max(kc);
    let f16 = rec.pool.f16();
    let rows = if f16 {
        widest.div_ceil(8)
    } else {
        widest.div_ceil(4)
    };
    let wsize = [8, rows, widest.div_ceil(8)];
    let state = rec.tensor(2, h, w, "attention softmax state")?;
    let (gx, gy) = groups_1d(n as u64, 64);
    let mut out: Option<Tensor> = None;
    for t0 in (0..n).step_by(kc as usize) {
        let keys = kc.min(n - t0);
        // Scores of this chunk's keys for every query: S = (K[:, t0..]ᵀ / √C) · Q.
        let kt = pack_weights(rec, kern, (k, 0), wsize, keys, c, t0, true)?;
        let s = conv2d_ref(
            rec,
            kern,
            q,
            None,
            texture_weights(kern, &kt, f16, c, keys),
            ConvMode::Same,
            None,
        )?;
        let sp = SoftmaxParams {
            keys,
            tokens: n,
            channels: c,
            mode: out.is_some() as u32,
        };
        let prev = match &out {
            Some(o) => Bind::Tensor(o),
            None => Bind::Raw(&kern.dummy),
        };
        let binds = [Bind::Tensor(&s), Bind::Tensor(&state), prev];
        rec.dispatch(
            &kern.named("attention_softmax"),
            &binds,
            bytemuck::bytes_of(&sp),
            [gx, gy, 1],
        );
        // O = O·rescale (done above) + V[:, t0..] · P.
        let vt = pack_weights(rec, kern, (v, 0), wsize, c, keys, t0, false)?;
        let o = conv2d_ref(
            rec,
            kern,
            &s,
            None,
            texture_weights(kern, &vt, f16, keys, c),
            ConvMode::Same,
            out.as_ref(),
        )?;
        out = Some(o);
    }
    let out = out.ok_or_else(|| Error::Input("attention over no tokens".into()))?;
    let sp = SoftmaxParams {
        keys: 0,
        tokens: n,
        channels: c,
        mode: 2,
    };
    let binds = [
        Bind::Raw(&kern.dummy),
        Bind::Tensor(&state),
        Bind::Tensor(&out),
    ];
    rec.dispatch(
        &kern.named("attention_softmax"),
        &binds,
        bytemuck::bytes_of(&sp),
        [gx, gy, 1],
    );
    Ok(out)
}

fn texture_weights<'a>(
    kern: &'a Kernels,
    t: &'a wgpu::TextureView,
    f16: bool,
    cin: u32,
    cout: u32,
) -> ConvRef<'a> {
    ConvRef {
        bias: &kern.zero_bias,
        texture: t,
        texture_f16: f16,
        cin,
        cout,
        k: 1,
    }
}

/// [`attention`] over tensors in row bands (the same bands): for each band of queries, every
/// chunk of at most `kc` keys of every key band, the band's output accumulated in place.
fn banded(
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
        true => super::copy_rows::reband(rec, kern, t, &merged),
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
    let f16 = rec.pool.f16();
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
    super::copy_rows::fill_halos(rec, kern, q);
    let out = rec.tensor_banded(c, h, w, &out_starts, "attention output")?;
    for i in rec.pass(out_starts.len()) {
        let qi = q.band_view(i);
        let mut oi = out.band_view(i);
        let n = qi.h * w;
        let state = rec.tensor(2, qi.h, w, "attention softmax state")?;
        let (gx, gy) = groups_1d(n as u64, 64);
        for (ci, &(j, t0, keys)) in chunks.iter().enumerate() {
            let kt = pack_weights(rec, kern, (k, j), wsize, keys, c, t0, true)?;
            let weights = texture_weights(kern, &kt, f16, c, keys);
            let s = conv2d_ref(rec, kern, &qi, None, weights, ConvMode::Same, None)?;
            // The first chunk zeroes the output it then adds to.
            let sp = SoftmaxParams {
                keys,
                tokens: n,
                channels: c,
                mode: if ci == 0 { 3 } else { 1 },
            };
            let binds = [Bind::Tensor(&s), Bind::Tensor(&state), Bind::Tensor(&oi)];
            rec.dispatch(
                &kern.named("attention_softmax"),
                &binds,
                bytemuck::bytes_of(&sp),
                [gx, gy, 1],
            );
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
        let sp = SoftmaxParams {
            keys: 0,
            tokens: n,
            channels: c,
            mode: 2,
        };
        let binds = [
            Bind::Raw(&kern.dummy),
            Bind::Tensor(&state),
            Bind::Tensor(&oi),
        ];
        rec.dispatch(
            &kern.named("attention_softmax"),
            &binds,
            bytemuck::bytes_of(&sp),
            [gx, gy, 1],
        );
    }
    out.set_halos_valid(false);
    super::copy_rows::reband(rec, kern, &out, &starts)
}

/// Records `pack_weights.wgsl`: 1×1 weights `cout × cin` from tokens `t0..` of `src` into the
/// pool's weights texture (of `size`), keys as output channels if `transpose` (scaled by 1/√C).
#[allow(clippy::too_many_arguments)]
fn pack_weights(
    rec: &mut Recorder,
    kern: &Kernels,
    (src, band): (&Tensor, usize),
    size: [u32; 3],
    cout: u32,
    cin: u32,
    t0: u32,
    transpose: bool,
) -> Result<wgpu::TextureView> {
    let view = rec.texture(TextureSlot::Weights, size)?;
    let (kernel, flag) = kern.pack(true, &rec.pool);
    let f16 = rec.pool.f16();
    let per_row = if f16 { 8 } else { 4 };
    let p = PackWeightsParams {
        cin,
        cout,
        tokens: src.bands()[band].rows * src.w,
        t0,
        transpose: transpose as u32,
        scale: if transpose {
            1.0 / (src.c as f32).sqrt()
        } else {
            1.0
        },
        _pad: [0; 2],
    };
    rec.dispatch(
        &kernel,
        &[
            Bind::Band(src, band),
            Bind::Texture(&view),
            Bind::Raw(&flag),
        ],
        bytemuck::bytes_of(&p),
        [1, cin.div_ceil(per_row).div_ceil(8), cout.div_ceil(8)],
    );
    Ok(view)
}
