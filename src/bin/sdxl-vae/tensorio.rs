//! Latents and raw decoder outputs as files: NumPy `.npy` (NCHW, as diffusers' tensors are laid
//! out) or safetensors with one tensor `latent`. Safetensors latents also record the size of the
//! image they came from, so decoding crops back to it. Reading is the library's
//! ([`sdxl_vae::latent_file`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use npyz::WriterBuilder;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use sdxl_vae::api::{Latent, RawImage};
use sdxl_vae::latent_file::{self, LATENT_TENSOR, META_HEIGHT, META_WIDTH};

use crate::error::{CliResult, Context};

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

/// Reads a latent file (see [`sdxl_vae::latent_file`]).
pub fn read_latent(path: &Path) -> CliResult<Latent> {
    let shown = path.display();
    let bytes = std::fs::read(path).context(format!("cannot read latent {shown}"))?;
    latent_file::parse(&bytes, is_safetensors(path)).context(format!("latent {shown}"))
}
