//! The crate's error type: every variant names the operation, tensor or shape, and maps to one of
//! the stable codes of [`crate::error_code`]. The weights layer's own errors come in whole.

use crate::error_code::{Coded, ErrorCode};
use crate::weights::WeightsError;

/// Everything that can go wrong in the engine. Displayed as one line that names the problem.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("no GPU adapter found ({0}); on Linux without a GPU install Mesa's lavapipe (mesa-vulkan-drivers)")]
    NoAdapter(String),
    #[error("GPU device request failed: {0}")]
    Device(String),
    #[error("GPU error in {op}: {message}")]
    Gpu { op: String, message: String },
    #[error("GPU device lost: {0}; load the model again to go on")]
    DeviceLost(String),
    /// The device refused an allocation (its memory, not a binding limit, ran out).
    #[error("out of GPU memory: {0}")]
    OutOfMemory(String),
    #[error("{what} needs {needed} bytes in one GPU buffer, but {allowed_by} allows at most {limit} bytes per buffer; use a smaller image")]
    TooLarge {
        what: String,
        needed: u64,
        limit: u64,
        /// Whose limit: "this device" (its binding limit) or "the max-buffer option".
        allowed_by: &'static str,
    },
    /// A call that cannot stay within the memory budget however it is split.
    #[error("{what} needs at least {needed} bytes of GPU memory ({:.1} MiB) at once, but the memory budget is {budget} bytes ({:.1} MiB); raise the budget to at least that, or use a smaller image", *needed as f64 / 1048576.0, *budget as f64 / 1048576.0)]
    OverBudget {
        what: String,
        needed: u64,
        budget: u64,
    },
    /// The caller's abort signal fired during a call; what the call made is freed.
    #[error("aborted: {0}")]
    Aborted(String),
    /// An image the caller passed: its size and bytes disagree, or it is too small for a metric.
    #[error("invalid image: {0}")]
    Image(String),
    /// A latent the caller passed or a latent file: shape, values, channels.
    #[error("invalid latent: {0}")]
    Latent(String),
    /// A call this model cannot make (the half a tiny autoencoder's file lacks, a posterior
    /// sample of a model without one).
    #[error("{0}")]
    Unsupported(String),
    /// The weights' bytes could not be read (a file, a download).
    #[error("cannot read the weights: {0}")]
    Read(String),
    /// Engine misuse: shapes that disagree between kernels, an internal state. A bug if a user
    /// meets it.
    #[error("invalid input: {0}")]
    Input(String),
    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),
    /// Only where the f16 overflow guard is read by hand: [`crate::Vae`] catches it and runs
    /// the call again with f32 activations (`activation`: an activation held as f16 exceeded
    /// the range) or f32 textures (a convolution's input did).
    #[error("an activation exceeded f16's range (±65504); run it with f32 precision")]
    F16Overflow { activation: bool },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Coded for Error {
    fn code(&self) -> ErrorCode {
        Error::code(self)
    }
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Weights(e) => e.code(),
            Error::NoAdapter(_) | Error::Device(_) => ErrorCode::AdapterFailed,
            Error::Gpu { .. } | Error::Readback(_) => ErrorCode::GpuError,
            Error::DeviceLost(_) => ErrorCode::DeviceLost,
            Error::OutOfMemory(_) => ErrorCode::OutOfMemory,
            Error::TooLarge { .. } | Error::OverBudget { .. } => ErrorCode::TooLarge,
            Error::Aborted(_) => ErrorCode::Aborted,
            Error::Image(_) => ErrorCode::BadImage,
            Error::Latent(_) => ErrorCode::BadLatent,
            Error::Unsupported(_) => ErrorCode::UnsupportedCall,
            Error::Read(_) => ErrorCode::FetchFailed,
            Error::Input(_) | Error::F16Overflow { .. } => ErrorCode::Internal,
        }
    }
}
