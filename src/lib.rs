//! sdxl-vae: the Stable Diffusion XL VAE (diffusers `AutoencoderKL`) as WGSL compute shaders on wgpu.
//!
//! Data flow: bytes → [`weights`] reader → GPU weights; image → tensor → encoder → posterior →
//! latent → decoder → tensor → image.

pub mod api;
pub mod bands;
pub mod clock;
pub mod cost;
pub mod cpu;
pub mod error;
pub mod error_code;
pub mod gpu;
pub mod kernels;
#[cfg(not(target_arch = "wasm32"))]
pub mod latent_file;
pub mod metrics;
pub mod model;
#[cfg(target_arch = "wasm32")]
mod web;
pub mod weights;

pub use api::options::{Choices, OptionKind, OptionValue, UserOption, OPTIONS};
pub use api::{
    CallControl, DryRun, FeaturesChoice, Gpu, GpuOptions, Image, Latent, LimitsChoice, LoadOptions,
    Precision, RawImage, Resources, Vae, VaeLoader,
};
pub use error::{Error, Result};
pub use error_code::{ErrorCode, ERROR_CODE_TS};
