//! Weights: streaming safetensors reader, name translation, dtype conversion, config inference.
//!
//! Bytes arrive in chunks of any size (a `fetch` body, a file read loop) and go to
//! [`WeightsLoader::push`]; the header is checked against the model before any tensor data is
//! accepted, and each tensor reaches the [`WeightSink`] as f32 under its diffusers name as soon as
//! its last byte has arrived. Host memory stays near the largest tensor plus one chunk.
pub mod config;
pub mod config_json;
pub mod convert;
mod error;
pub mod family;
mod header;
mod manifest;
pub mod names;
mod reader;
pub mod synthetic;
pub mod tiny;

use std::io::Read;

pub use config::{expected_tensors, param_count, VaeConfig};
pub use config_json::DiffusersConfig;
pub use error::{WeightsError, MAX_HEADER_BYTES};
pub use family::{Factors, Family, FamilyChoice, Kind, Resolved, Source};
pub use names::Layout;
pub use safetensors::Dtype;

use header::{Header, TensorEntry, LEN_BYTES};
use manifest::Manifest;
use reader::{ReadEvents, StreamReader};

/// What a file holds, known once its header has been read.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
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
    /// Size of the whole file.
    pub file_bytes: u64,
    /// Tensors in the file that are not part of the VAE (`loss.*`, a UNet's, …).
    pub ignored_tensors: usize,
}

/// Receives the model as it streams in; the GPU side uploads each tensor.
pub trait WeightSink {
    /// Once, after the header is validated, every expected tensor checked present with the right
    /// shape (errors: missing/wrong shape before any data arrives), and the config inferred.
    fn begin(&mut self, info: &ModelInfo) -> crate::Result<()>;
    /// Each model tensor as soon as its bytes are complete: canonical (diffusers) name, diffusers
    /// shape, values as f32. Tensors come in file order.
    fn tensor(&mut self, name: &str, shape: &[usize], data: &[f32]) -> crate::Result<()>;
}

/// Push-based loader: feed the file's bytes in chunks of any size, then [`finish`](Self::finish).
pub struct WeightsLoader<S: WeightSink> {
    reader: StreamReader,
    model: Model<S>,
    /// Message of the first error; every later call fails with it.
    failed: Option<String>,
}

/// The loader's state that reader events act on.
struct Model<S> {
    sink: S,
    choice: FamilyChoice,
    manifest: Option<Manifest>,
    scratch: Vec<f32>,
}

impl<S: WeightSink> WeightsLoader<S> {
    /// `choice` names the family and factors where the user knows them (a file cannot tell).
    pub fn new(sink: S, choice: FamilyChoice) -> Self {
        WeightsLoader {
            reader: StreamReader::default(),
            model: Model {
                sink,
                choice,
                manifest: None,
                scratch: Vec::new(),
            },
            failed: None,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) -> crate::Result<()> {
        if let Some(message) = &self.failed {
            return Err(WeightsError::Stopped(message.clone()).into());
        }
        let result = self.reader.push(chunk, &mut self.model);
        if let Err(e) = &result {
            self.failed = Some(e.to_string());
        }
        result
    }

    /// Size of the whole file, known once the header has arrived.
    pub fn total_bytes(&self) -> Option<u64> {
        self.reader.header().map(Header::file_bytes)
    }

    pub fn info(&self) -> Option<&ModelInfo> {
        self.model.manifest.as_ref().map(|p| &p.info)
    }

    /// Most bytes held at once for tensors that straddle chunks (0 when every wanted tensor
    /// arrived inside one chunk). Unwanted tensors never count.
    pub fn peak_buffered_bytes(&self) -> usize {
        self.reader.peak_buffered_bytes()
    }

    /// Ends the stream: fails if it stopped short of the last tensor's last byte.
    pub fn finish(self) -> crate::Result<(S, ModelInfo)> {
        if let Some(message) = self.failed {
            return Err(WeightsError::Stopped(message).into());
        }
        self.reader.finish()?;
        match self.model.manifest {
            Some(manifest) => Ok((self.model.sink, manifest.info)),
            // finish() succeeds only after the header, so this is unreachable in practice.
            None => Err(WeightsError::InvalidHeader("no header was read".into()).into()),
        }
    }
}

impl<S: WeightSink> ReadEvents for Model<S> {
    type Error = crate::Error;

    fn header(&mut self, header: &Header) -> crate::Result<Vec<bool>> {
        let manifest = manifest::manifest(header, &self.choice)?;
        self.sink.begin(&manifest.info)?;
        let wanted = manifest.targets.iter().map(Option::is_some).collect();
        self.manifest = Some(manifest);
        Ok(wanted)
    }

    fn tensor(&mut self, index: usize, entry: &TensorEntry, bytes: &[u8]) -> crate::Result<()> {
        let target = self
            .manifest
            .as_ref()
            .and_then(|p| p.targets.get(index)?.as_ref());
        let Some((name, shape)) = target else {
            return Ok(());
        };
        let values = convert::to_f32(&entry.name, entry.dtype, bytes, &mut self.scratch)?;
        self.sink.tensor(name, shape, values)
    }
}

/// Header only: layout, dtypes, parameter count, inferred config, family (for `sdxl-vae info`).
/// Reads just the header's bytes.
pub fn read_info(mut r: impl Read, choice: &FamilyChoice) -> Result<ModelInfo, WeightsError> {
    let len_bytes = read_up_to(&mut r, LEN_BYTES)?;
    let Ok(len_field) = <[u8; 8]>::try_from(len_bytes.as_slice()) else {
        return Err(WeightsError::Truncated {
            what: "file ended inside the 8-byte header length".into(),
            expected: LEN_BYTES,
            got: len_bytes.len() as u64,
        });
    };
    let len = u64::from_le_bytes(len_field);
    header::check_len(len)?;
    let json = read_up_to(&mut r, len)?;
    if let Some(&first) = json.first() {
        header::check_first_byte(first)?;
    }
    if (json.len() as u64) < len {
        return Err(WeightsError::Truncated {
            what: "file ended inside the header".into(),
            expected: LEN_BYTES + len,
            got: LEN_BYTES + json.len() as u64,
        });
    }
    let header = header::parse(&json)?;
    Ok(manifest::manifest(&header, choice)?.info)
}

/// Reads `n` bytes, or fewer if the reader ends first.
fn read_up_to(r: &mut impl Read, n: u64) -> Result<Vec<u8>, WeightsError> {
    let mut buf = Vec::new();
    r.take(n).read_to_end(&mut buf)?;
    Ok(buf)
}
