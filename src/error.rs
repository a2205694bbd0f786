//! The crate's error type: one enum per layer, each variant naming the operation, tensor or shape.

pub use crate::weights::WeightsError;

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
    #[error("{what} needs {needed} bytes in one GPU buffer, but this device allows at most {limit} bytes per binding; use a smaller image")]
    TooLarge {
        what: String,
        needed: u64,
        limit: u64,
    },
    #[error("invalid input: {0}")]
    Input(String),
    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),
    /// Only where the f16 overflow guard is read by hand: [`crate::Vae`] catches it and runs
    /// the call again with f32 textures.
    #[error("an activation exceeded f16's range (±65504); run it with f32 precision")]
    F16Overflow,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
