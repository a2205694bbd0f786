//! Synthetic weights: every value computed from the tensor's diffusers name, its diffusers shape
//! and the element's flat (C-order) index, so that full-size tests need no checkpoint and a
//! Python script computes the same weights for diffusers reference outputs.
//!
//! The rule (the same as `tests/fixtures/gen_fixtures.py`'s `rule_values`), for tensor `name`
//! (UTF-8 bytes of the diffusers name) and element `i`:
//!
//! ```text
//! seed = FNV-1a 64 of the name's bytes: h = 0xcbf29ce484222325; for each byte b:
//!        h = (h ^ b) * 0x100000001b3 (mod 2^64)
//! z    = seed + (i + 1) * 0x9e3779b97f4a7c15                 (mod 2^64; splitmix64 output i)
//! z    = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9                (mod 2^64)
//! z    = (z ^ (z >> 27)) * 0x94d049bb133111eb                (mod 2^64)
//! z    =  z ^ (z >> 31)
//! s    = 2 * ((z >> 40) / 2^24) - 1                          (f64, exact, in [-1, 1))
//! value, computed in f64 and rounded once to f32 (round to nearest even):
//!   name ends ".bias":                     0.05 * s
//!   name ends ".weight", rank 1 (GroupNorm scale):  1 + 0.1 * s
//!   name ends ".weight", rank >= 2 (conv / linear):  s * (1 / sqrt(fan_in)),
//!                                          fan_in = product of shape[1..]
//! ```
//!
//! Shapes are diffusers shapes (attention weights `[C, C]`), so an LDM file holds the same
//! values under `[C, C, 1, 1]`. F16/BF16 files hold those f32 values rounded to nearest even.
//! (The Python rule rejects other names; here any other rank-≤1 tensor is scaled like a
//! GroupNorm scale, any other higher-rank one like a weight.)
use half::slice::HalfFloatSliceExt;
use safetensors::Dtype;

use super::arch::expected_tensors;
use super::config::VaeConfig;
use super::names::{self, Layout};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// Element type of a synthetic file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynthDtype {
    F32,
    F16,
    BF16,
}

impl SynthDtype {
    pub fn dtype(self) -> Dtype {
        match self {
            SynthDtype::F32 => Dtype::F32,
            SynthDtype::F16 => Dtype::F16,
            SynthDtype::BF16 => Dtype::BF16,
        }
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// Output `i` of splitmix64 seeded with `seed`.
fn splitmix64(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add(i.wrapping_add(1).wrapping_mul(GOLDEN));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How a tensor's uniform values are scaled (see the module documentation).
#[derive(Clone, Copy)]
enum Kind {
    Weight { inv_sqrt_fan_in: f64 },
    NormScale,
    Bias,
}

fn kind(name: &str, shape: &[usize]) -> Kind {
    match shape {
        _ if name.ends_with(".bias") => Kind::Bias,
        // Qwen-Image's RMS norm scales, whatever their broadcast shape.
        _ if name.ends_with(".gamma") => Kind::NormScale,
        [_, rest @ ..] if !rest.is_empty() => Kind::Weight {
            inv_sqrt_fan_in: 1.0 / (rest.iter().product::<usize>() as f64).sqrt(),
        },
        _ => Kind::NormScale,
    }
}

fn value(kind: Kind, seed: u64, i: usize) -> f32 {
    let s = 2.0 * ((splitmix64(seed, i as u64) >> 40) as f64 / 16_777_216.0) - 1.0;
    let v = match kind {
        Kind::Weight { inv_sqrt_fan_in } => s * inv_sqrt_fan_in,
        Kind::NormScale => 1.0 + 0.1 * s,
        Kind::Bias => 0.05 * s,
    };
    v as f32
}

/// Element `i` (flat C-order index) of tensor `diffusers_name` with shape `diffusers_shape`.
pub fn synthetic_value(diffusers_name: &str, diffusers_shape: &[usize], i: usize) -> f32 {
    value(
        kind(diffusers_name, diffusers_shape),
        fnv1a64(diffusers_name.as_bytes()),
        i,
    )
}

/// All values of a tensor.
pub fn synthetic_tensor(diffusers_name: &str, diffusers_shape: &[usize]) -> Vec<f32> {
    let k = kind(diffusers_name, diffusers_shape);
    let seed = fnv1a64(diffusers_name.as_bytes());
    let mut out = vec![0.0f32; diffusers_shape.iter().product()];
    for (i, v) in out.iter_mut().enumerate() {
        *v = value(k, seed, i);
    }
    out
}

/// A complete safetensors file of the synthetic model for `config`, with `layout`'s names and
/// shapes, each name behind `prefix` (e.g. `"first_stage_model."`, or `""`).
pub fn synthetic_safetensors(
    config: &VaeConfig,
    layout: Layout,
    dtype: SynthDtype,
    prefix: &str,
) -> Vec<u8> {
    let n_blocks = config.block_out_channels.len();
    synthetic_file(expected_tensors(config), layout, dtype, prefix, n_blocks)
}

/// The synthetic tiny autoencoder `cfg` (its halves) in `layout` (`Diffusers`, `Taesd`, or
/// `TaesdHalf` for a file holding one half).
pub fn synthetic_tiny(
    cfg: &super::tiny::TinyConfig,
    layout: Layout,
    dtype: SynthDtype,
    prefix: &str,
) -> Vec<u8> {
    synthetic_file(super::tiny::expected_tiny(cfg), layout, dtype, prefix, 0)
}

fn synthetic_file(
    tensors: Vec<(String, Vec<usize>)>,
    layout: Layout,
    dtype: SynthDtype,
    prefix: &str,
    n_blocks: usize,
) -> Vec<u8> {
    let entries: Vec<(String, Dtype, Vec<usize>)> = tensors
        .iter()
        .map(|(name, shape)| {
            let file_name = format!("{prefix}{}", names::to_layout_name(name, layout, n_blocks));
            (
                file_name,
                dtype.dtype(),
                names::to_layout_shape(name, shape, layout),
            )
        })
        .collect();
    write_with(&entries, |i, out| {
        if let Some((name, shape)) = tensors.get(i) {
            encode(&synthetic_tensor(name, shape), dtype, out);
        }
    })
}

/// Appends `values` as little-endian `dtype` bytes (f16/bf16 rounded to nearest even).
pub fn encode(values: &[f32], dtype: SynthDtype, out: &mut Vec<u8>) {
    match dtype {
        SynthDtype::F32 if cfg!(target_endian = "little") => {
            out.extend_from_slice(bytemuck::cast_slice(values))
        }
        SynthDtype::F32 => values
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        SynthDtype::F16 => encode_halves::<half::f16>(values, out),
        SynthDtype::BF16 => encode_halves::<half::bf16>(values, out),
    }
}

/// 16-bit floats a block at a time, converted by `half`'s slice routine.
fn encode_halves<H>(values: &[f32], out: &mut Vec<u8>)
where
    H: bytemuck::Pod + Default,
    [H]: HalfFloatSliceExt,
{
    let mut block = [H::default(); 4096];
    for src in values.chunks(block.len()) {
        let dst = &mut block[..src.len()];
        dst.convert_from_f32_slice(src);
        if cfg!(target_endian = "little") {
            out.extend_from_slice(bytemuck::cast_slice(dst));
        } else {
            let bits: &[u16] = bytemuck::cast_slice(dst);
            bits.iter()
                .for_each(|b| out.extend_from_slice(&b.to_le_bytes()));
        }
    }
}

/// A safetensors file of the given tensors (name, dtype, shape, little-endian bytes), stored in
/// the order given. The bytes are not checked against dtype × shape, so tests can write broken
/// files too.
pub fn write_safetensors(tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let entries: Vec<(String, Dtype, Vec<usize>)> = tensors
        .iter()
        .map(|(n, d, s, _)| (n.clone(), *d, s.clone()))
        .collect();
    write_with_sizes(
        &entries,
        |i| tensors.get(i).map_or(0, |t| t.3.len()),
        |i, out| {
            if let Some(t) = tensors.get(i) {
                out.extend_from_slice(&t.3);
            }
        },
    )
}

/// Writes entries whose byte sizes follow from dtype × shape; `data(i, out)` appends tensor i.
fn write_with(
    entries: &[(String, Dtype, Vec<usize>)],
    data: impl FnMut(usize, &mut Vec<u8>),
) -> Vec<u8> {
    let size = |i: usize| {
        entries
            .get(i)
            .map_or(0, |(_, d, s)| s.iter().product::<usize>() * d.bitsize() / 8)
    };
    write_with_sizes(entries, size, data)
}

/// The header (JSON padded with spaces to a multiple of 8 bytes, as the `safetensors` crate
/// writes it) followed by each tensor's bytes.
fn write_with_sizes(
    entries: &[(String, Dtype, Vec<usize>)],
    size: impl Fn(usize) -> usize,
    mut data: impl FnMut(usize, &mut Vec<u8>),
) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (i, (name, dtype, shape)) in entries.iter().enumerate() {
        let end = offset + size(i);
        let entry = serde_json::json!({
            "dtype": dtype.to_string(),
            "shape": shape,
            "data_offsets": [offset, end],
        });
        header.insert(name.clone(), entry);
        offset = end;
    }
    let mut json = serde_json::Value::Object(header).to_string().into_bytes();
    json.resize(json.len().div_ceil(8) * 8, b' ');
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for i in 0..entries.len() {
        data(i, &mut out);
    }
    out
}
