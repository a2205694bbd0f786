//! Helpers for the weights tests: a recording sink, file builders, loaders.
use std::collections::BTreeMap;

use sdxl_vae::weights::names::{to_layout_name, to_layout_shape};
use sdxl_vae::weights::synthetic::{encode, synthetic_tensor, write_safetensors, SynthDtype};
use sdxl_vae::weights::{
    expected_tensors, Dtype, Layout, ModelInfo, VaeConfig, WeightSink, WeightsError, WeightsLoader,
};

/// A file tensor: name, dtype, shape, bytes.
pub type FileTensor = (String, Dtype, Vec<usize>, Vec<u8>);

/// Records what the loader hands on.
#[derive(Default)]
pub struct Recorder {
    pub begun: Vec<ModelInfo>,
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    /// Tensor calls that came before `begin`.
    pub early: usize,
    /// Fail on the tensor of this name.
    pub fail_on: Option<String>,
}

impl WeightSink for Recorder {
    type Error = sdxl_vae::Error;

    fn begin(&mut self, info: &ModelInfo) -> sdxl_vae::Result<()> {
        self.begun.push(info.clone());
        Ok(())
    }
    fn tensor(&mut self, name: &str, shape: &[usize], data: &[f32]) -> sdxl_vae::Result<()> {
        if self.fail_on.as_deref() == Some(name) {
            return Err(sdxl_vae::Error::Input(format!("sink refused {name}")));
        }
        self.early += usize::from(self.begun.is_empty());
        let previous = self
            .tensors
            .insert(name.to_string(), (shape.to_vec(), data.to_vec()));
        assert!(previous.is_none(), "{name} handed on twice");
        Ok(())
    }
}

/// Two blocks, one resnet each: has a shortcut in encoder and decoder, loads in milliseconds.
pub fn tiny() -> VaeConfig {
    VaeConfig {
        block_out_channels: vec![32, 64],
        layers_per_block: 1,
        ..VaeConfig::sdxl()
    }
}

/// The configuration of `tests/fixtures/names_small.json`.
pub fn small() -> VaeConfig {
    VaeConfig {
        block_out_channels: vec![32, 32, 64, 64],
        ..VaeConfig::sdxl()
    }
}

/// The model's tensors in `layout` (names behind `prefix`), each passed through `edit`, which
/// may rename, reshape, retype or drop it; synthetic values.
pub fn model_tensors(
    config: &VaeConfig,
    layout: Layout,
    prefix: &str,
    mut edit: impl FnMut(&str, FileTensor) -> Option<FileTensor>,
) -> Vec<FileTensor> {
    let n = config.block_out_channels.len();
    expected_tensors(config)
        .into_iter()
        .filter_map(|(name, shape)| {
            let mut bytes = Vec::new();
            encode(
                &synthetic_tensor(&name, &shape),
                SynthDtype::F32,
                &mut bytes,
            );
            let file_name = format!("{prefix}{}", to_layout_name(&name, layout, n));
            let t = (
                file_name,
                Dtype::F32,
                to_layout_shape(&name, &shape, layout),
                bytes,
            );
            edit(&name, t)
        })
        .collect()
}

/// The model as an LDM F32 file with `edit` applied.
pub fn ldm_file_with(edit: impl FnMut(&str, FileTensor) -> Option<FileTensor>) -> Vec<u8> {
    write_safetensors(&model_tensors(&tiny(), Layout::Ldm, "", edit))
}

/// A file from raw header JSON and data bytes.
pub fn raw_file(json: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Loads `bytes` pushed `chunk` bytes at a time.
pub fn load(bytes: &[u8], chunk: usize) -> sdxl_vae::Result<(Recorder, ModelInfo)> {
    load_into(Recorder::default(), bytes, chunk)
}

pub fn load_into(
    sink: Recorder,
    bytes: &[u8],
    chunk: usize,
) -> sdxl_vae::Result<(Recorder, ModelInfo)> {
    let mut loader = WeightsLoader::new(sink, Default::default());
    for c in bytes.chunks(chunk.max(1)) {
        loader.push(c)?;
    }
    loader.finish()
}

/// The weights error loading `bytes` fails with (whole, and in 3-byte chunks: same variant).
pub fn load_err(bytes: &[u8]) -> WeightsError {
    let whole = weights_error(load(bytes, bytes.len()).err());
    let chunked = weights_error(load(bytes, 3).err());
    assert_eq!(
        std::mem::discriminant(&whole),
        std::mem::discriminant(&chunked),
        "whole: {whole}; chunked: {chunked}"
    );
    whole
}

fn weights_error(e: Option<sdxl_vae::Error>) -> WeightsError {
    match e {
        Some(sdxl_vae::Error::Weights(w)) => w,
        other => panic!("expected a weights error, got {other:?}"),
    }
}

/// Canonical tensors the model should load to: synthetic values under diffusers names/shapes.
pub fn expected_values(config: &VaeConfig) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    expected_tensors(config)
        .into_iter()
        .map(|(name, shape)| {
            let values = synthetic_tensor(&name, &shape);
            (name, (shape, values))
        })
        .collect()
}
