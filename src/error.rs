//! The crate's error type: one enum per layer, each variant naming the operation, tensor or shape,
//! and the stable codes programs decide on (the CLI's error line, JS's `error.code`).

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
    #[error("{what} needs {needed} bytes in one GPU buffer, but {allowed_by} allows at most {limit} bytes per buffer; use a smaller image")]
    TooLarge {
        what: String,
        needed: u64,
        limit: u64,
        /// Whose limit: "this device" (its binding limit) or "the max-buffer option".
        allowed_by: &'static str,
    },
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
    /// the call again with f32 textures.
    #[error("an activation exceeded f16's range (±65504); run it with f32 precision")]
    F16Overflow,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, for a program to decide on: stable across versions, unlike the messages.
/// The CLI prints it in its error line (`error[bad-weights]: …`), JS errors carry it as `code`,
/// and `sdxl_vae.d.ts` lists them as the union `ErrorCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    NoWebgpu,
    AdapterFailed,
    DeviceLost,
    OutOfMemory,
    TooLarge,
    FetchFailed,
    Aborted,
    BadWeights,
    UnsupportedWeights,
    BadImage,
    BadLatent,
    UnsupportedCall,
    BadArgument,
    NotLoaded,
    GpuError,
    Internal,
}

impl ErrorCode {
    /// Every code with what it means (the README's table and the TypeScript union).
    pub const ALL: [(ErrorCode, &'static str); 16] = [
        (ErrorCode::NoWebgpu, "the browser has no WebGPU (`navigator.gpu` is missing)"),
        (ErrorCode::AdapterFailed, "no GPU adapter, or the device request failed"),
        (ErrorCode::DeviceLost, "the GPU device was lost (driver reset, another tab, destroyed): load the model again"),
        (ErrorCode::OutOfMemory, "the device refused an allocation"),
        (ErrorCode::TooLarge, "one buffer of the call would exceed the device's binding limit: use a smaller image"),
        (ErrorCode::FetchFailed, "the weights could not be fetched or read (HTTP status, network, file system)"),
        (ErrorCode::Aborted, "the caller's AbortSignal fired"),
        (ErrorCode::BadWeights, "not a weights file, or a corrupt or truncated one"),
        (ErrorCode::UnsupportedWeights, "a valid file that is not a VAE this engine knows (missing tensors, wrong shapes or dtypes, a family that does not fit)"),
        (ErrorCode::BadImage, "an image that cannot be used (unreadable, its size and bytes disagree, too large a side)"),
        (ErrorCode::BadLatent, "a latent that cannot be used (shape, channels, values, an unreadable file)"),
        (ErrorCode::UnsupportedCall, "a call this model cannot make (the half a tiny autoencoder's file lacks)"),
        (ErrorCode::BadArgument, "an argument or option the call cannot take (an unknown option or value, a source or input of the wrong type, a callback that threw)"),
        (ErrorCode::NotLoaded, "a call on a model that is not there: a worker's before its load resolved, or after `free()`"),
        (ErrorCode::GpuError, "a GPU validation error (a bug: please report it)"),
        (ErrorCode::Internal, "an internal error (a bug: please report it)"),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NoWebgpu => "no-webgpu",
            ErrorCode::AdapterFailed => "adapter-failed",
            ErrorCode::DeviceLost => "device-lost",
            ErrorCode::OutOfMemory => "out-of-memory",
            ErrorCode::TooLarge => "too-large",
            ErrorCode::FetchFailed => "fetch-failed",
            ErrorCode::Aborted => "aborted",
            ErrorCode::BadWeights => "bad-weights",
            ErrorCode::UnsupportedWeights => "unsupported-weights",
            ErrorCode::BadImage => "bad-image",
            ErrorCode::BadLatent => "bad-latent",
            ErrorCode::UnsupportedCall => "unsupported-call",
            ErrorCode::BadArgument => "bad-argument",
            ErrorCode::NotLoaded => "not-loaded",
            ErrorCode::GpuError => "gpu-error",
            ErrorCode::Internal => "internal",
        }
    }
}

/// The TypeScript of the codes (`sdxl_vae.d.ts`; tests check it against [`ErrorCode::ALL`]).
pub const ERROR_CODE_TS: &str = r#"
/** `error.code` of every rejection: stable across versions, unlike the messages (the README's
 *  table says what each means). */
export type ErrorCode = "no-webgpu" | "adapter-failed" | "device-lost" | "out-of-memory"
  | "too-large" | "fetch-failed" | "aborted" | "bad-weights" | "unsupported-weights"
  | "bad-image" | "bad-latent" | "unsupported-call" | "bad-argument" | "not-loaded"
  | "gpu-error" | "internal";
/** What every promise of the module (and of `VaeWorker`) rejects with. */
export interface VaeError extends Error { code: ErrorCode; }
"#;

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
            Error::TooLarge { .. } => ErrorCode::TooLarge,
            Error::Image(_) => ErrorCode::BadImage,
            Error::Latent(_) => ErrorCode::BadLatent,
            Error::Unsupported(_) => ErrorCode::UnsupportedCall,
            Error::Read(_) => ErrorCode::FetchFailed,
            Error::Input(_) | Error::F16Overflow => ErrorCode::Internal,
        }
    }
}
