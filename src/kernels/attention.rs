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

use super::conv2d::{conv2d_ref, ConvMode, ConvRef};
use super::{groups_1d, Kernels};
use crate::error::{Error, Result};
use crate::gpu::{Bind, Recorder, Tensor, TextureSlot};

mod banded;
use banded::banded;

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

/// `softmax(qᵀk / √C) v` over the H·W tokens of f32 `[C, H, W]` tensors, as a new f32
/// `[C, H, W]` tensor. Every tensor it makes is f32 (scores, softmax state), whatever the
/// precision.
pub fn attention(
    rec: &mut Recorder,
    kern: &Kernels,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
) -> Result<Tensor> {
    let store_f16 = std::mem::replace(&mut rec.store_f16, false);
    let out = attention_f32(rec, kern, q, k, v);
    rec.store_f16 = store_f16;
    out
}

fn attention_f32(
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
    if q.f16 || k.f16 || v.f16 {
        return Err(Error::Input(
            "attention: q, k and v must be f32 (`Ops::f32_outputs`)".into(),
        ));
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
    let f16 = rec.halves.textures;
    let rows = if f16 {
        widest.div_ceil(8)
    } else {
        widest.div_ceil(4)
    };
    let wsize = [8, rows, widest.div_ceil(8)];
    let state = rec.tensor(2, h, w, "attention softmax state")?;
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
        let mode = out.is_some() as u32;
        softmax(rec, kern, Some(&s), &state, out.as_ref(), keys, c, mode);
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
    softmax(rec, kern, None, &state, Some(&out), 0, c, 2);
    Ok(out)
}

/// Records `attention_softmax.wgsl` in `mode` (see the shader) over the queries of `state`
/// (`[2, h, w]`): a chunk's `scores` of `keys` keys (none to finish) and the output so far.
#[allow(clippy::too_many_arguments)]
fn softmax(
    rec: &mut Recorder,
    kern: &Kernels,
    scores: Option<&Tensor>,
    state: &Tensor,
    out: Option<&Tensor>,
    keys: u32,
    channels: u32,
    mode: u32,
) {
    let tokens = state.h * state.w;
    let sp = SoftmaxParams {
        keys,
        tokens,
        channels,
        mode,
    };
    let (gx, gy) = groups_1d(tokens as u64, 64);
    let dummy = Bind::Raw(&kern.dummy);
    let scores = scores.map_or(dummy.clone(), Bind::Tensor);
    let out = out.map_or(dummy, Bind::Tensor);
    rec.dispatch(
        &kern.named("attention_softmax"),
        &[scores, Bind::Tensor(state), out],
        bytemuck::bytes_of(&sp),
        [gx, gy, 1],
    );
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
    let f16 = rec.halves.textures;
    let halves = super::Halves {
        textures: f16,
        store: false,
    };
    let (kernel, flag) = (kern.pack(true, halves), kern.overflow_flag(rec)?);
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
