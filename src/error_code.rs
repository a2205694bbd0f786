//! The stable codes programs decide on (the CLI's `error[code]` line, JS's `error.code`), written
//! once: [`error_codes!`] below makes the enum, its strings, the meanings that `docs/errors.md`
//! tabulates and the TypeScript union from one list. A leaf: both error types use it.

/// An error that carries a stable code.
pub trait Coded {
    fn code(&self) -> ErrorCode;
}

macro_rules! error_codes {
    ($($variant:ident $code:literal $meaning:literal,)*) => {
        /// What went wrong, for a program to decide on: stable across versions, unlike the
        /// messages.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code with what it means (`docs/errors.md`'s table; a test compares them).
            pub const ALL: &'static [(ErrorCode, &'static str)] = &[$((ErrorCode::$variant, $meaning),)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }

        /// The TypeScript of the codes (in `sdxl_vae.d.ts`).
        pub const ERROR_CODE_TS: &str = concat!(
            "\n/** `error.code` of every rejection: stable across versions, unlike the messages\n",
            " *  (docs/errors.md says what each means). */\nexport type ErrorCode =",
            $("\n  | \"", $code, "\"",)*
            ";\n/** What every promise of the module (and of `VaeWorker`) rejects with. */\n",
            "export interface VaeError extends Error {\n  code: ErrorCode;\n  /** With `too-large` over a memory budget: the least budget, in bytes, that would do. */\n  neededBytes?: number;\n}\n",
        );
    };
}

error_codes! {
    NoWebgpu "no-webgpu" "the browser has no WebGPU (`navigator.gpu` is missing)",
    AdapterFailed "adapter-failed" "no GPU adapter, or the device request failed",
    DeviceLost "device-lost" "the GPU device was lost (driver reset, another tab, destroyed): load the model again",
    OutOfMemory "out-of-memory" "the device refused an allocation",
    TooLarge "too-large" "the call cannot fit: one buffer would exceed the device's binding limit, or the call the memory budget; use a smaller image or a larger budget",
    FetchFailed "fetch-failed" "the weights could not be fetched or read (HTTP status, network, file system)",
    Aborted "aborted" "the caller's AbortSignal fired (a load, or an encode or decode between its parts)",
    BadWeights "bad-weights" "not a weights file, or a corrupt or truncated one",
    UnsupportedWeights "unsupported-weights" "a valid file that is not a VAE this engine knows (missing tensors, wrong shapes or dtypes, a family that does not fit)",
    BadImage "bad-image" "an image that cannot be used (unreadable, its size and bytes disagree, too large a side)",
    BadLatent "bad-latent" "a latent that cannot be used (shape, channels, values, an unreadable file)",
    UnsupportedCall "unsupported-call" "a call this model cannot make (the half a tiny autoencoder's file lacks)",
    BadArgument "bad-argument" "an argument or option the call cannot take (an unknown option or value, a source or input of the wrong type, a callback that threw)",
    NotLoaded "not-loaded" "a call on a model that is not there: a worker's before its load resolved, or after `free()`",
    GpuError "gpu-error" "a GPU validation error (a bug: please report it)",
    Internal "internal" "an internal error (a bug: please report it)",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
