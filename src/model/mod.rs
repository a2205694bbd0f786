//! The VAE, module by module as diffusers writes it (`diffusers/models/autoencoders/vae.py`,
//! `resnet.py`, `attention_processor.py`). Knows nothing of wgpu: it calls [`Ops`].

mod blocks;
mod coders;
mod ops;
mod store;
mod tiny;

pub use blocks::{Attention, ResnetBlock};
pub use coders::{Decoder, Encoder};
pub use ops::Ops;
pub use store::WeightStore;
pub use tiny::{AutoencoderTiny, TinyCoder};

use crate::error::Result;
use crate::kernels::conv2d::ConvWeights;
use crate::weights::VaeConfig;

/// The network a [`crate::Vae`] runs.
pub enum Model {
    Kl(Box<AutoencoderKl>),
    Tiny(AutoencoderTiny),
}

/// diffusers `AutoencoderKL`: encoder, `quant_conv`, decoder, `post_quant_conv` (the 1×1 convs
/// absent in SD3's and FLUX.1's VAEs).
pub struct AutoencoderKl {
    pub encoder: Encoder,
    pub quant_conv: Option<ConvWeights>,
    pub decoder: Decoder,
    pub post_quant_conv: Option<ConvWeights>,
}

impl AutoencoderKl {
    pub fn from_store(store: &mut WeightStore, cfg: &VaeConfig) -> Result<AutoencoderKl> {
        Ok(AutoencoderKl {
            encoder: Encoder::new(store, "encoder", cfg)?,
            quant_conv: (cfg.use_quant_conv)
                .then(|| store.conv("quant_conv"))
                .transpose()?,
            decoder: Decoder::new(store, "decoder", cfg)?,
            post_quant_conv: (cfg.use_post_quant_conv)
                .then(|| store.conv("post_quant_conv"))
                .transpose()?,
        })
    }
}
