//! The VAE, module by module as diffusers writes it (`diffusers/models/autoencoders/vae.py`,
//! `resnet.py`, `attention_processor.py`), built from the description of `weights::arch` (the
//! tiny autoencoders' from `weights::tiny`). Knows nothing of wgpu: it calls [`Ops`].

mod blocks;
mod coders;
mod ops;
mod qwen;
mod store;
mod tiny;

pub use blocks::{Attention, ResnetBlock};
pub use coders::{KlPath, Step};
pub use ops::Ops;
pub use store::WeightStore;
pub use tiny::{AutoencoderTiny, TinyCoder};

use crate::error::Result;
use crate::weights::arch::{kl_layers, LATENT_STATS};
use crate::weights::{LatentNorm, VaeConfig};

/// The network a [`crate::Vae`] runs.
pub enum Model {
    Kl(Box<AutoencoderKl>),
    Tiny(AutoencoderTiny),
}

/// diffusers `AutoencoderKL` (and `AutoencoderKLFlux2`, whose latent normalisation is applied on
/// the host): the encode path (encoder, `quant_conv`) and the decode path (`post_quant_conv`,
/// decoder).
pub struct AutoencoderKl {
    pub encode: KlPath,
    pub decode: KlPath,
    /// FLUX.2's latent normalisation, where the model has one.
    pub latent_stats: Option<LatentStats>,
}

/// The latent's normalisation, per channel of what a diffusion model sees: FLUX.2's `bn` in eval
/// mode (of the patchified latent: its running mean and `√(running_var + eps)`), or Qwen-Image's
/// published mean and standard deviation.
#[derive(Clone, Debug, PartialEq)]
pub struct LatentStats {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl AutoencoderKl {
    pub fn from_store(store: &mut WeightStore, cfg: &VaeConfig) -> Result<AutoencoderKl> {
        let layers = kl_layers(cfg);
        let latent_stats = match &cfg.latent_norm {
            None => None,
            Some(LatentNorm::Batch { eps }) => {
                let [mean, var] = LATENT_STATS.map(|name| store.host(name));
                let std = var?.iter().map(|v| (v + eps).sqrt()).collect();
                Some(LatentStats { mean: mean?, std })
            }
            Some(LatentNorm::Channels { mean, std }) => Some(LatentStats {
                mean: mean.clone(),
                std: std.clone(),
            }),
        };
        Ok(AutoencoderKl {
            encode: KlPath::new(store, &layers.encode)?,
            decode: KlPath::new(store, &layers.decode)?,
            latent_stats,
        })
    }
}
