//! Reading latent files (native): NumPy `.npy` (NCHW, as diffusers' tensors are laid out) or
//! safetensors with one tensor `latent` and, where this engine wrote it, the size of the image it
//! came from. Both are parsed from bytes in memory; every size in a header is checked against the
//! bytes present before anything is allocated, so a damaged file is an error, never a huge
//! allocation. The browser page reads the same two formats in `web/files.js`.

use crate::api::Latent;
use crate::error::{Error, Result};
use safetensors::{Dtype, SafeTensors};

/// Name of the tensor in a latent safetensors file.
pub const LATENT_TENSOR: &str = "latent";
/// Metadata keys of the image size in a latent safetensors file.
pub const META_WIDTH: &str = "image_width";
pub const META_HEIGHT: &str = "image_height";

fn bad(message: impl Into<String>) -> Error {
    Error::Latent(message.into())
}

/// A latent `[1, C, h, w]` or `[C, h, w]` (f32; f16, bf16 and f64 are converted) from the bytes
/// of a safetensors (`safetensors: true`) or `.npy` file. The model checks C against its own.
pub fn parse(bytes: &[u8], safetensors: bool) -> Result<Latent> {
    let (shape, data, image_size) = if safetensors {
        parse_safetensors(bytes)?
    } else {
        let (shape, data) = parse_npy(bytes)?;
        (shape, data, None)
    };
    let (c, h, w) = latent_dims(&shape)?;
    let mut latent = Latent::new(c, w, h, data)?;
    if let Some((iw, ih)) = image_size {
        // The image is cropped from the 8×-sized decoder output, so its size must fall within the
        // last latent cell; anything else is not a size this latent came from.
        let fits = |img: u32, lat: u32| img <= 8 * lat && img + 8 > 8 * lat;
        if !fits(iw, w) || !fits(ih, h) {
            return Err(bad(format!(
                "recorded image size {iw}x{ih} does not match a {w}x{h} latent"
            )));
        }
        (latent.image_width, latent.image_height) = (iw, ih);
    }
    Ok(latent)
}

/// (channels, height, width) of a latent shape, or an error that says what was expected. A
/// video VAE's latent of one frame (`[1, channels, 1, height, width]`, Qwen-Image's and Wan's) is
/// taken as the image latent it is.
fn latent_dims(shape: &[u64]) -> Result<(u32, u32, u32)> {
    let Some((c, h, w)) = (match shape {
        [1, c, h, w] | [c, h, w] | [1, c, 1, h, w] => Some((*c, *h, *w)),
        _ => None,
    }) else {
        return Err(bad(format!(
            "shape {shape:?}; expected [1, channels, height, width], [channels, height, width] \
             or one frame [1, channels, 1, height, width]"
        )));
    };
    let side = |v: u64| u32::try_from(v).ok().filter(|&v| v > 0);
    match (side(c).filter(|&c| c <= 1024), side(h), side(w)) {
        (Some(c), Some(h), Some(w)) => Ok((c, h, w)),
        _ => Err(bad(format!("empty or oversized shape {shape:?}"))),
    }
}

/// The shape and values of a `.npy` file of floats.
pub fn parse_npy(bytes: &[u8]) -> Result<(Vec<u64>, Vec<f32>)> {
    // The header's own length, checked against the file before it is read.
    let header_end = match bytes {
        [0x93, b'N', b'U', b'M', b'P', b'Y', 1, _, a, b, ..] => {
            10 + u16::from_le_bytes([*a, *b]) as usize
        }
        [0x93, b'N', b'U', b'M', b'P', b'Y', 2 | 3, _, a, b, c, d, ..] => {
            12 + u32::from_le_bytes([*a, *b, *c, *d]) as usize
        }
        [0x93, b'N', b'U', b'M', b'P', b'Y', v, ..] => {
            return Err(bad(format!(
                ".npy format version {v} is not one of 1, 2, 3"
            )))
        }
        _ => return Err(bad("not a .npy file (no \\x93NUMPY magic)")),
    };
    if header_end > bytes.len() {
        return Err(bad(format!(
            "the .npy header says it is {header_end} bytes; the file has {}",
            bytes.len()
        )));
    }
    let start = if bytes[6] == 1 { 10 } else { 12 };
    let header = std::str::from_utf8(&bytes[start..header_end])
        .map_err(|_| bad("the .npy header is not text"))?;
    let (descr, fortran, shape) = npy_header(header).ok_or_else(|| {
        bad(format!(
            "the .npy header {:?} is not a dict of descr, fortran_order and shape",
            header.trim().chars().take(120).collect::<String>()
        ))
    })?;
    if fortran {
        return Err(bad(
            "stored in Fortran order; save it C-contiguous (np.ascontiguousarray)",
        ));
    }
    let (dtype, size) = match descr.trim_start_matches(['<', '|']) {
        "f4" => (Dtype::F32, 4u64),
        "f8" => (Dtype::F64, 8),
        "f2" => (Dtype::F16, 2),
        _ => {
            return Err(bad(format!(
                "dtype {descr}; expected little-endian float32, float16 or float64"
            )))
        }
    };
    // The header's shape against the bytes after it, before any allocation.
    let data = &bytes[header_end..];
    let needed = (shape.iter()).try_fold(size, |n, &d| n.checked_mul(d));
    if needed != Some(data.len() as u64) {
        let needed = needed.map_or("over 2^64".into(), |b| b.to_string());
        return Err(bad(format!(
            "the header's shape {shape:?} of {descr} needs {needed} bytes of data; the file has {}",
            data.len()
        )));
    }
    Ok((shape, to_f32_values(dtype, data).unwrap_or_default()))
}

/// `descr`, `fortran_order` and `shape` of a `.npy` header (a Python dict literal, as numpy
/// writes it), read without evaluating anything.
fn npy_header(header: &str) -> Option<(&str, bool, Vec<u64>)> {
    let value = |key: &str| {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        header[at..]
            .trim_start()
            .strip_prefix(':')
            .map(str::trim_start)
    };
    let descr = value("descr")?;
    let quote = descr.chars().next().filter(|q| *q == '\'' || *q == '"')?;
    let descr = &descr[1..][..descr[1..].find(quote)?];
    let fortran = match value("fortran_order")? {
        v if v.starts_with("False") => false,
        v if v.starts_with("True") => true,
        _ => return None,
    };
    let dims = value("shape")?.strip_prefix('(')?;
    let dims = &dims[..dims.find(')')?];
    let shape = (dims.split(',').map(str::trim).filter(|d| !d.is_empty()))
        .map(|d| d.trim_end_matches('L').parse().ok())
        .collect::<Option<Vec<u64>>>()?;
    Some((descr, fortran, shape))
}

type SafetensorsLatent = (Vec<u64>, Vec<f32>, Option<(u32, u32)>);

/// The tensor `latent` (or the file's only tensor) and the recorded image size, if any.
fn parse_safetensors(bytes: &[u8]) -> Result<SafetensorsLatent> {
    let invalid =
        |e: safetensors::SafeTensorError| bad(format!("not a valid safetensors file: {e}"));
    let tensors = SafeTensors::deserialize(bytes).map_err(invalid)?;
    let names = tensors.names();
    let name = match names.as_slice() {
        [only] => only.to_string(),
        _ if names.contains(&LATENT_TENSOR) => LATENT_TENSOR.to_string(),
        _ => {
            return Err(bad(format!(
                "no tensor named `{LATENT_TENSOR}` (the file holds {} tensors)",
                names.len()
            )))
        }
    };
    let view = tensors.tensor(&name).map_err(invalid)?;
    let data = to_f32_values(view.dtype(), view.data()).ok_or_else(|| {
        bad(format!(
            "tensor `{name}` has dtype {:?}; expected F32, F16, BF16 or F64",
            view.dtype()
        ))
    })?;
    let shape = view.shape().iter().map(|&d| d as u64).collect();
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(invalid)?;
    let size = metadata.metadata().as_ref().and_then(|m| {
        let parse = |k: &str| m.get(k).and_then(|v| v.parse::<u32>().ok());
        Some((parse(META_WIDTH)?, parse(META_HEIGHT)?))
    });
    Ok((shape, data, size))
}

/// Little-endian tensor bytes to f32, for the float dtypes a latent may come in.
fn to_f32_values(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    let two = |f: fn([u8; 2]) -> f32| bytes.chunks_exact(2).map(|b| f([b[0], b[1]])).collect();
    match dtype {
        Dtype::F32 => Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        Dtype::F64 => Some(
            bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()) as f32)
                .collect(),
        ),
        Dtype::F16 => Some(two(|b| half::f16::from_le_bytes(b).to_f32())),
        Dtype::BF16 => Some(two(|b| half::bf16::from_le_bytes(b).to_f32())),
        _ => None,
    }
}
