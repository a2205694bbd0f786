//! Little-endian F32/F16/BF16 tensor bytes → f32. Bytes may lie at any address (inside a fetch
//! chunk), so they are copied into aligned memory before being read as numbers. The work is done
//! by `memcpy`, `calloc` and `half`'s slice conversion, so it stays fast in unoptimised builds of
//! this crate.
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use safetensors::Dtype;

use super::WeightsError;

/// True for the dtypes [`decode`] handles.
pub fn is_supported(dtype: Dtype) -> bool {
    matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16)
}

/// Values of tensor `name`. Aligned F32 on a little-endian target is returned without a copy;
/// everything else is decoded into `scratch` (replaced) and returned from there.
pub fn to_f32<'a>(
    name: &str,
    dtype: Dtype,
    bytes: &'a [u8],
    scratch: &'a mut Vec<f32>,
) -> Result<&'a [f32], WeightsError> {
    if dtype == Dtype::F32 && cfg!(target_endian = "little") {
        if let Ok(values) = bytemuck::try_cast_slice::<u8, f32>(bytes) {
            return Ok(values);
        }
    }
    *scratch = decode(name, dtype, bytes)?;
    Ok(scratch)
}

/// Little-endian 16-bit words of `bytes` (a trailing odd byte is dropped): borrowed where they
/// are aligned, else copied.
pub fn as_u16(bytes: &[u8]) -> std::borrow::Cow<'_, [u16]> {
    let bytes = &bytes[..bytes.len() & !1];
    match bytemuck::try_cast_slice::<u8, u16>(bytes) {
        Ok(words) if cfg!(target_endian = "little") => std::borrow::Cow::Borrowed(words),
        _ => {
            let mut words = vec![0u16; bytes.len() / 2];
            bytemuck::cast_slice_mut::<u16, u8>(&mut words).copy_from_slice(bytes);
            words.iter_mut().for_each(|w| *w = u16::from_le(*w));
            std::borrow::Cow::Owned(words)
        }
    }
}

/// Decodes `bytes` (a trailing partial element is dropped); other dtypes are an
/// [`WeightsError::UnsupportedDtype`] naming the tensor.
pub fn decode(name: &str, dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>, WeightsError> {
    let size = match dtype {
        Dtype::F32 => 4,
        Dtype::F16 | Dtype::BF16 => 2,
        other => {
            return Err(WeightsError::UnsupportedDtype {
                name: name.to_string(),
                dtype: other.to_string(),
            })
        }
    };
    // Zero-filled allocation (calloc), not an element loop.
    let mut out = vec![0.0f32; bytes.len() / size];
    match dtype {
        Dtype::F16 => decode_halves::<f16>(bytes, &mut out),
        Dtype::BF16 => decode_halves::<bf16>(bytes, &mut out),
        _ => {
            let n = out.len();
            bytemuck::cast_slice_mut::<f32, u8>(&mut out).copy_from_slice(&bytes[..4 * n]);
            if cfg!(target_endian = "big") {
                out.iter_mut()
                    .for_each(|v| *v = f32::from_bits(u32::from_le(v.to_bits())));
            }
        }
    }
    Ok(out)
}

/// 16-bit floats into `dst`, a block at a time through an aligned stack buffer.
fn decode_halves<H>(bytes: &[u8], dst: &mut [f32])
where
    H: bytemuck::Pod,
    [H]: HalfFloatSliceExt,
{
    const BLOCK: usize = 4096;
    let mut bits = [0u16; BLOCK];
    for (src, dst) in bytes.chunks(2 * BLOCK).zip(dst.chunks_mut(BLOCK)) {
        let bits = &mut bits[..dst.len()];
        bytemuck::cast_slice_mut::<u16, u8>(bits).copy_from_slice(&src[..2 * dst.len()]);
        if cfg!(target_endian = "big") {
            bits.iter_mut().for_each(|b| *b = u16::from_le(*b));
        }
        bytemuck::cast_slice::<u16, H>(bits).convert_to_f32_slice(dst);
    }
}
