//! Weights: streaming safetensors and PyTorch checkpoint readers, name translation, dtype
//! conversion, config inference.
//!
//! Bytes arrive in chunks of any size (a `fetch` body, a file read loop) and go to
//! [`WeightsLoader::push`], which tells the format from the first bytes; the header (a
//! checkpoint's pickle) is checked against the model before any tensor data is accepted, and each
//! tensor reaches the [`WeightSink`] as f32 under its diffusers name as soon as its last byte has
//! arrived. Host memory stays near the largest tensor plus one chunk.
pub mod arch;
mod choice;
pub mod ckpt;
pub mod config;
pub mod config_json;
pub mod convert;
mod error;
pub mod family;
pub mod frames;
mod header;
mod manifest;
pub mod names;
mod reader;
pub mod synthetic;
pub mod taehv;
pub mod tiny;

use crate::error_code::{Coded, ErrorCode};
use std::io::Read;

pub use arch::{expected_tensors, param_count};
pub use choice::{FamilyChoice, Resolved};
pub use config::{LatentNorm, Style, VaeConfig};
pub use config_json::DiffusersConfig;
pub use error::{WeightsError, MAX_HEADER_BYTES};
pub use family::{Evidence, Factors, Family, Kind, Source};
pub use names::Layout;
pub use safetensors::Dtype;

use ckpt::CkptReader;
use header::{Header, TensorEntry};
use manifest::Manifest;
use reader::{ReadEvents, StreamReader};

/// The container a weights file comes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Safetensors,
    /// `torch.save`'s zip format (`.ckpt`, `.pt`, `.pth` since torch 1.6).
    TorchZip,
    /// `torch.save`'s older non-zip format.
    TorchLegacy,
}

impl std::fmt::Display for FileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileFormat::Safetensors => "safetensors",
            FileFormat::TorchZip => "PyTorch checkpoint (zip)",
            FileFormat::TorchLegacy => "PyTorch checkpoint (legacy)",
        })
    }
}

/// What a file holds, known once its header has been read.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub format: FileFormat,
    pub layout: Layout,
    /// Dtype name (`"F32"`, `"F16"`, `"BF16"`) and how many model tensors have it.
    pub dtypes: Vec<(String, usize)>,
    /// Values in the model's tensors (83,653,863 for SDXL).
    pub param_count: usize,
    pub config: VaeConfig,
    /// The architecture: `AutoencoderKL` or `AutoencoderTiny`.
    pub kind: Kind,
    /// For a tiny autoencoder, its latent channels and halves (`config` then gives its channel
    /// widths per scale, [64; 4], for row banding).
    pub tiny: Option<tiny::TinyConfig>,
    /// The family and latent factors, and where each came from.
    pub family: Resolved,
    /// Size of the whole file as a safetensors header gives it; 0 for checkpoints, whose size
    /// only the source knows.
    pub file_bytes: u64,
    /// Tensors in the file that are not part of the VAE (`loss.*`, a UNet's, …), and their
    /// bytes: read past, never kept.
    pub ignored_tensors: usize,
    pub ignored_bytes: u64,
}

/// Receives the model as it streams in; the GPU side uploads each tensor. Its errors are its own
/// (the GPU side's: out of memory, a lost device), so long as the loader's own can become one.
pub trait WeightSink {
    type Error: From<WeightsError> + Coded + std::fmt::Display;

    /// Once, after the header is validated, every expected tensor checked present with the right
    /// shape (errors: missing/wrong shape before any data arrives), and the config inferred.
    fn begin(&mut self, info: &ModelInfo) -> Result<(), Self::Error>;
    /// Each model tensor as soon as its bytes are complete: canonical (diffusers) name, diffusers
    /// shape, values as f32. Tensors come in file order.
    fn tensor(&mut self, name: &str, shape: &[usize], data: &[f32]) -> Result<(), Self::Error>;
    /// An F16 tensor's bytes as they are (little-endian f16 bits, [`convert::as_u16`]), offered
    /// before [`tensor`](Self::tensor): a sink that keeps them as f16 takes them (returns true)
    /// and saves two conversions. The default takes none, and the values come to `tensor` as f32.
    fn tensor_f16(
        &mut self,
        _name: &str,
        _shape: &[usize],
        _bytes: &[u8],
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }
}

/// Push-based loader: feed the file's bytes in chunks of any size, then [`finish`](Self::finish).
pub struct WeightsLoader<S: WeightSink> {
    reader: Reader,
    model: Model<S>,
    /// Message of the first error; every later call fails with it.
    failed: Option<(ErrorCode, String)>,
}

/// The loader's state that reader events act on.
struct Model<S> {
    sink: S,
    format: FileFormat,
    choice: FamilyChoice,
    manifest: Option<Manifest>,
    scratch: Vec<f32>,
}

impl<S: WeightSink> WeightsLoader<S> {
    /// `choice` names the family and factors where the user knows them (a file cannot tell).
    pub fn new(sink: S, choice: FamilyChoice) -> Self {
        WeightsLoader {
            reader: Reader::Sniff(Vec::new()),
            model: Model {
                sink,
                format: FileFormat::Safetensors,
                choice,
                manifest: None,
                scratch: Vec::new(),
            },
            failed: None,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), S::Error> {
        if let Some((code, message)) = &self.failed {
            let (code, message) = (*code, message.clone());
            return Err(WeightsError::Stopped { code, message }.into());
        }
        let result = self.reader.push(chunk, &mut self.model);
        if let Err(e) = &result {
            self.failed = Some((e.code(), e.to_string()));
        }
        result
    }

    /// Size of the whole file, known once a safetensors header has arrived (a checkpoint does
    /// not say).
    pub fn total_bytes(&self) -> Option<u64> {
        match &self.reader {
            Reader::Safetensors(r) => r.header().map(Header::file_bytes),
            _ => None,
        }
    }

    pub fn info(&self) -> Option<&ModelInfo> {
        self.model.manifest.as_ref().map(|p| &p.info)
    }

    /// Most bytes held at once for tensors that straddle chunks (0 when every wanted tensor
    /// arrived inside one chunk). Unwanted tensors never count.
    pub fn peak_buffered_bytes(&self) -> usize {
        match &self.reader {
            Reader::Sniff(_) => 0,
            Reader::Safetensors(r) => r.peak_buffered_bytes(),
            Reader::Ckpt(r) => r.peak_buffered_bytes(),
        }
    }

    /// Where the source may jump ahead: `(next byte to read, next byte anyone wants)`, both file
    /// offsets, when the bytes between are wanted by nobody (a full model's UNet, a tensor
    /// outside the VAE). A source that can seek (a file, a `Blob`, an HTTP server taking
    /// `Range`) reads on from the second offset and calls [`skip`](Self::skip); any other just
    /// keeps pushing. `None` while a header, pickle or wanted tensor is being read.
    pub fn skippable(&self) -> Option<(u64, u64)> {
        if self.failed.is_some() {
            return None;
        }
        match &self.reader {
            Reader::Sniff(_) => None,
            Reader::Safetensors(r) => r.skippable(),
            Reader::Ckpt(r) => r.skippable(),
        }
        .filter(|(pos, next)| next > pos)
    }

    /// The source jumped `n` bytes ahead (within [`skippable`](Self::skippable)).
    pub fn skip(&mut self, n: u64) -> Result<(), S::Error> {
        if let Some((code, message)) = &self.failed {
            let (code, message) = (*code, message.clone());
            return Err(WeightsError::Stopped { code, message }.into());
        }
        let result = match &mut self.reader {
            Reader::Safetensors(r) => r.skip(n),
            Reader::Ckpt(r) => r.skip(n),
            Reader::Sniff(_) => Err(WeightsError::InvalidHeader(
                "cannot skip before the format is known".into(),
            )),
        };
        if let Err(e) = &result {
            self.failed = Some((e.code(), e.to_string()));
        }
        Ok(result?)
    }

    /// Ends the stream: fails if it stopped short of the last tensor's last byte.
    pub fn finish(self) -> Result<(S, ModelInfo), S::Error> {
        if let Some((code, message)) = self.failed {
            return Err(WeightsError::Stopped { code, message }.into());
        }
        let mut model = self.model;
        self.reader.finish(&mut model)?;
        match model.manifest {
            Some(manifest) => Ok((model.sink, manifest.info)),
            // finish() succeeds only after the header, so this is unreachable in practice.
            None => Err(WeightsError::InvalidHeader("no header was read".into()).into()),
        }
    }
}

impl<S: WeightSink> ReadEvents for Model<S> {
    type Error = S::Error;

    fn header(&mut self, header: &Header) -> Result<Vec<bool>, S::Error> {
        let manifest = manifest::manifest(header, &self.choice, self.format)?;
        self.sink.begin(&manifest.info)?;
        let wanted = manifest.targets.iter().map(Option::is_some).collect();
        self.manifest = Some(manifest);
        Ok(wanted)
    }

    fn tensor(&mut self, index: usize, entry: &TensorEntry, bytes: &[u8]) -> Result<(), S::Error> {
        let target = self
            .manifest
            .as_ref()
            .and_then(|p| p.targets.get(index)?.as_ref());
        let Some((name, shape)) = target else {
            return Ok(());
        };
        if entry.dtype == safetensors::Dtype::F16 && self.sink.tensor_f16(name, shape, bytes)? {
            return Ok(());
        }
        let values = convert::to_f32(&entry.name, entry.dtype, bytes, &mut self.scratch)?;
        self.sink.tensor(name, shape, values)
    }
}

/// The model a file holds (for `sdxl-vae info`), read up to its header or pickle only.
pub fn read_info(mut r: impl Read, choice: &FamilyChoice) -> Result<ModelInfo, WeightsError> {
    struct Nothing;
    impl WeightSink for Nothing {
        type Error = WeightsError;
        fn begin(&mut self, _: &ModelInfo) -> Result<(), WeightsError> {
            Ok(())
        }
        fn tensor(&mut self, _: &str, _: &[usize], _: &[f32]) -> Result<(), WeightsError> {
            Ok(())
        }
    }
    let mut loader = WeightsLoader::new(Nothing, choice.clone());
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if let Some(info) = loader.info() {
            return Ok(info.clone());
        }
        let n = r.read(&mut buf).map_err(WeightsError::Io)?;
        if n == 0 {
            // The stream ended before the header: finish() names where.
            return loader.finish().map(|(_, info)| info);
        }
        loader.push(&buf[..n])?;
    }
}

/// The reader for the format the first bytes announce.
enum Reader {
    /// The first bytes, until there are enough to tell the format.
    Sniff(Vec<u8>),
    Safetensors(StreamReader),
    Ckpt(Box<CkptReader>),
}

impl Reader {
    fn push<S: WeightSink>(&mut self, chunk: &[u8], model: &mut Model<S>) -> Result<(), S::Error> {
        if let Reader::Sniff(first) = self {
            let take = (ckpt::SNIFF_BYTES - first.len()).min(chunk.len());
            first.extend_from_slice(&chunk[..take]);
            if first.len() < ckpt::SNIFF_BYTES {
                return Ok(());
            }
            let first = std::mem::take(first);
            self.choose(&first, model);
            self.push(&first, model)?;
            return self.push(&chunk[take..], model);
        }
        match self {
            Reader::Safetensors(r) => r.push(chunk, model),
            Reader::Ckpt(r) => r.push(chunk, model),
            Reader::Sniff(_) => Ok(()),
        }
    }

    fn choose<S>(&mut self, first: &[u8], model: &mut Model<S>) {
        (*self, model.format) = match ckpt::sniff(first) {
            Some(ckpt::Format::Zip) => (
                Reader::Ckpt(Box::new(CkptReader::new(ckpt::Format::Zip))),
                FileFormat::TorchZip,
            ),
            Some(ckpt::Format::Legacy) => (
                Reader::Ckpt(Box::new(CkptReader::new(ckpt::Format::Legacy))),
                FileFormat::TorchLegacy,
            ),
            None => (
                Reader::Safetensors(StreamReader::default()),
                FileFormat::Safetensors,
            ),
        };
    }

    fn finish<S: WeightSink>(mut self, model: &mut Model<S>) -> Result<(), S::Error> {
        if let Reader::Sniff(first) = &mut self {
            // Too short to tell: the safetensors reader says how it is truncated.
            let first = std::mem::take(first);
            self.choose(&first, model);
            self.push(&first, model)?;
        }
        match &mut self {
            Reader::Safetensors(r) => Ok(r.finish()?),
            Reader::Ckpt(r) => r.finish(model),
            Reader::Sniff(_) => Ok(()),
        }
    }
}
