//! Errors of the weights reader: each variant names the tensor or the byte range at fault and
//! displays as one line.
use super::names::Layout;

/// Largest safetensors header accepted (the `safetensors` crate's own limit).
pub const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The first bytes start neither a safetensors file nor a PyTorch checkpoint (an HTML error
    /// page, an image, …).
    #[error("not a safetensors file (nor a PyTorch checkpoint): {0}")]
    NotSafetensors(String),
    /// The stream ended early; `what` says where ("file ended inside the header", a tensor name).
    #[error("file truncated: {what}: expected {expected} bytes, got {got}")]
    Truncated {
        what: String,
        expected: u64,
        got: u64,
    },
    #[error("safetensors header is {len} bytes, more than the {max} bytes allowed")]
    HeaderTooLarge { len: u64, max: u64 },
    /// The header is not valid JSON, or an entry is not a tensor description.
    #[error("invalid safetensors header: {0}")]
    InvalidHeader(String),
    #[error("tensor {name}: data offsets [{start}, {end}) are out of range (end before start)")]
    OffsetsOutOfRange { name: String, start: u64, end: u64 },
    #[error("tensors {first} and {second} overlap: {second} starts at data byte {start}, before {first} ends at {first_end}")]
    Overlap {
        first: String,
        second: String,
        start: u64,
        first_end: u64,
    },
    #[error("{bytes} unused bytes in the data before tensor {name} (after {after})")]
    Gap {
        after: String,
        name: String,
        bytes: u64,
    },
    #[error("tensor {name}: {found} data bytes, but dtype {dtype} with shape {shape:?} needs {expected}")]
    DataSize {
        name: String,
        dtype: String,
        shape: Vec<usize>,
        expected: u64,
        found: u64,
    },
    /// `file_name` is the name looked for in the file's detected layout.
    #[error("missing tensor {name} (looked for {file_name} in a {layout}-layout file)")]
    MissingTensor {
        name: String,
        file_name: String,
        layout: Layout,
    },
    #[error("tensor {name} (in file: {file_name}) has shape {found:?}, expected {expected:?}")]
    WrongShape {
        name: String,
        file_name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("tensor {name}: dtype {dtype} is not supported (F32, F16 and BF16 are)")]
    UnsupportedDtype { name: String, dtype: String },
    #[error("tensors {first} and {second} are both {canonical}")]
    DuplicateTensor {
        canonical: String,
        first: String,
        second: String,
    },
    /// The named family does not fit the file, or no family does.
    #[error("{0}")]
    WrongFamily(String),
    /// A diffusers `config.json` that cannot be read or does not fit the weights.
    #[error("config.json: {0}")]
    BadConfig(String),
    #[error("cannot infer the VAE configuration: {0}")]
    CannotInferConfig(String),
    #[error("{extra} bytes after the last tensor; the file should end at byte {file_bytes}")]
    TrailingBytes { extra: u64, file_bytes: u64 },
    #[error("reading the weights failed: {0}")]
    Io(#[from] std::io::Error),
    /// A PyTorch checkpoint's pickle uses what a checkpoint of tensors has no need of.
    #[error("checkpoint pickle, byte {at}: {message}")]
    Pickle { at: u64, message: String },
    /// A pickle names a global outside the allowed few; nothing in it was run.
    #[error(
        "checkpoint pickle, byte {at}: refused global {name}: a checkpoint may name only \
         collections.OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter and \
         torch storage types; nothing in the file was run"
    )]
    RefusedGlobal { name: String, at: u64 },
    /// A PyTorch checkpoint whose structure is not what `torch.save` writes.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// The weights parsed but do not assemble into the model their header promised.
    #[error("the weights do not make a model: {0}")]
    Model(String),
    /// Returned by every call after the first error; carries that error's code and message.
    #[error("loading stopped after an earlier error: {message}")]
    Stopped {
        code: crate::error_code::ErrorCode,
        message: String,
    },
}

impl crate::error_code::Coded for WeightsError {
    fn code(&self) -> crate::error_code::ErrorCode {
        WeightsError::code(self)
    }
}

impl WeightsError {
    pub fn code(&self) -> crate::error_code::ErrorCode {
        use crate::error_code::ErrorCode::{BadWeights, FetchFailed, UnsupportedWeights};
        match self {
            WeightsError::MissingTensor { .. }
            | WeightsError::WrongShape { .. }
            | WeightsError::UnsupportedDtype { .. }
            | WeightsError::WrongFamily(_)
            | WeightsError::BadConfig(_)
            | WeightsError::CannotInferConfig(_)
            | WeightsError::Model(_) => UnsupportedWeights,
            WeightsError::Io(_) => FetchFailed,
            WeightsError::Stopped { code, .. } => *code,
            _ => BadWeights,
        }
    }
}
