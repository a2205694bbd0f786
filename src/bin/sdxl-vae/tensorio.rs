//! Latents and raw decoder outputs as files: NumPy `.npy` (NCHW, as diffusers' tensors are laid
//! out) or safetensors with one tensor `latent`. Safetensors latents also record the size of the
//! image they came from, so decoding crops back to it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use npyz::{NpyFile, Order, WriterBuilder};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use sdxl_vae::api::{Latent, RawImage};

use crate::error::{invalid, CliResult, Context};

/// Name of the tensor in a latent safetensors file.
pub const LATENT_TENSOR: &str = "latent";
const META_WIDTH: &str = "image_width";
const META_HEIGHT: &str = "image_height";

/// True when the path names a safetensors file (by extension); everything else is `.npy`.
fn is_safetensors(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

/// Writes `latent` as float32 `[1, C, h, w]`.
pub fn write_latent(path: &Path, latent: &Latent) -> CliResult<()> {
    let shape = [
        1,
        u64::from(latent.channels),
        u64::from(latent.height),
        u64::from(latent.width),
    ];
    if !is_safetensors(path) {
        return write_npy(path, &shape, &latent.data);
    }
    let bytes: Vec<u8> = latent.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let context = format!("cannot write latent {}", path.display());
    let view = TensorView::new(Dtype::F32, dims, &bytes).context(&context)?;
    let meta = HashMap::from([
        (META_WIDTH.to_string(), latent.image_width.to_string()),
        (META_HEIGHT.to_string(), latent.image_height.to_string()),
    ]);
    let file = safetensors::serialize([(LATENT_TENSOR, view)], Some(meta)).context(&context)?;
    std::fs::write(path, file).context(&context)
}

/// Writes the decoder output as float32 `[1, 3, H, W]`.
pub fn write_raw(path: &Path, raw: &RawImage) -> CliResult<()> {
    let shape = [1, 3, u64::from(raw.height), u64::from(raw.width)];
    write_npy(path, &shape, &raw.data)
}

fn write_npy(path: &Path, shape: &[u64], data: &[f32]) -> CliResult<()> {
    let context = format!("cannot write {}", path.display());
    let file = File::create(path).context(&context)?;
    let mut writer = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(shape)
        .writer(BufWriter::new(file))
        .begin_nd()
        .context(&context)?;
    writer.extend(data.iter().copied()).context(&context)?;
    writer.finish().context(&context)
}

/// Reads a latent `[1, C, h, w]` or `[C, h, w]` (f32; f16, bf16 and f64 are converted); the
/// model checks C against its own latent channels.
pub fn read_latent(path: &Path) -> CliResult<Latent> {
    let (shape, data, image_size) = if is_safetensors(path) {
        read_safetensors(path)?
    } else {
        let (shape, data) = read_npy(path)?;
        (shape, data, None)
    };
    let (c, h, w) = latent_dims(path, &shape)?;
    let mut latent = Latent::new(c, w, h, data).context(format!("latent {}", path.display()))?;
    if let Some((iw, ih)) = image_size {
        // The image is cropped from the 8×-sized decoder output, so its size must fall within the
        // last latent cell; anything else is not a size this latent came from.
        let fits = |img: u32, lat: u32| img <= 8 * lat && img + 8 > 8 * lat;
        if !fits(iw, w) || !fits(ih, h) {
            return Err(invalid(format!(
                "latent {}: recorded image size {iw}x{ih} does not match a {w}x{h} latent",
                path.display()
            )));
        }
        (latent.image_width, latent.image_height) = (iw, ih);
    }
    Ok(latent)
}

/// (channels, height, width) of a latent shape, or an error that says what was expected.
fn latent_dims(path: &Path, shape: &[u64]) -> CliResult<(u32, u32, u32)> {
    let dims = match shape {
        [1, c, h, w] | [c, h, w] => Some((*c, *h, *w)),
        _ => None,
    };
    let shown = path.display();
    let Some((c, h, w)) = dims else {
        return Err(invalid(format!(
            "latent {shown} has shape {shape:?}; expected [1, channels, height, width] or [channels, height, width]"
        )));
    };
    let side = |v: u64| u32::try_from(v).ok().filter(|&v| v > 0);
    match (side(c).filter(|&c| c <= 1024), side(h), side(w)) {
        (Some(c), Some(h), Some(w)) => Ok((c, h, w)),
        _ => Err(invalid(format!(
            "latent {shown} has an empty or oversized shape {shape:?}"
        ))),
    }
}

fn read_npy(path: &Path) -> CliResult<(Vec<u64>, Vec<f32>)> {
    let shown = path.display();
    let file = File::open(path).context(format!("cannot open latent {shown}"))?;
    let npy = NpyFile::new(BufReader::new(file))
        .context(format!("latent {shown} is not a valid .npy file"))?;
    if npy.order() != Order::C {
        return Err(invalid(format!(
            "latent {shown} is stored in Fortran order; save it C-contiguous (np.ascontiguousarray)"
        )));
    }
    let shape = npy.shape().to_vec();
    let context = format!("cannot read latent {shown}");
    let npy = match npy.try_data::<f32>() {
        Ok(reader) => return Ok((shape, reader.collect::<Result<_, _>>().context(&context)?)),
        Err(npy) => npy,
    };
    let npy = match npy.try_data::<f64>() {
        Ok(reader) => {
            let data = reader
                .map(|r| r.map(|v| v as f32))
                .collect::<Result<_, _>>();
            return Ok((shape, data.context(&context)?));
        }
        Err(npy) => npy,
    };
    match npy.try_data::<half::f16>() {
        Ok(reader) => {
            let data = reader.map(|r| r.map(f32::from)).collect::<Result<_, _>>();
            Ok((shape, data.context(&context)?))
        }
        Err(npy) => Err(invalid(format!(
            "latent {shown} has dtype {}; expected float32, float16 or float64",
            npy.dtype().descr()
        ))),
    }
}

type SafetensorsLatent = (Vec<u64>, Vec<f32>, Option<(u32, u32)>);

/// Reads the tensor `latent` (or the file's only tensor) and the recorded image size, if any.
fn read_safetensors(path: &Path) -> CliResult<SafetensorsLatent> {
    let shown = path.display();
    let bytes = std::fs::read(path).context(format!("cannot read latent {shown}"))?;
    let context = format!("latent {shown} is not a valid safetensors file");
    let tensors = SafeTensors::deserialize(&bytes).context(&context)?;
    let names = tensors.names();
    let name = match names.as_slice() {
        [only] => only.to_string(),
        _ if names.contains(&LATENT_TENSOR) => LATENT_TENSOR.to_string(),
        _ => {
            return Err(invalid(format!(
                "latent {shown} has no tensor named `{LATENT_TENSOR}` (it holds {} tensors)",
                names.len()
            )))
        }
    };
    let view = tensors.tensor(&name).context(&context)?;
    let data = to_f32(view.dtype(), view.data()).ok_or_else(|| {
        invalid(format!(
            "latent {shown}: tensor `{name}` has dtype {:?}; expected F32, F16, BF16 or F64",
            view.dtype()
        ))
    })?;
    let shape = view.shape().iter().map(|&d| d as u64).collect();
    let (_, metadata) = SafeTensors::read_metadata(&bytes).context(&context)?;
    let size = metadata.metadata().as_ref().and_then(|m| {
        let parse = |k: &str| m.get(k).and_then(|v| v.parse::<u32>().ok());
        Some((parse(META_WIDTH)?, parse(META_HEIGHT)?))
    });
    Ok((shape, data, size))
}

/// Little-endian tensor bytes to f32, for the float dtypes a latent may come in.
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
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
                .map(|b| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    f64::from_le_bytes(a) as f32
                })
                .collect(),
        ),
        Dtype::F16 => Some(two(|b| half::f16::from_le_bytes(b).to_f32())),
        Dtype::BF16 => Some(two(|b| half::bf16::from_le_bytes(b).to_f32())),
        _ => None,
    }
}
