//! Which VAE a file holds: its architecture ([`Kind`]), its family (the model it belongs to,
//! which fixes the latent factors), and the factors that map its latents into the space a
//! diffusion model sees. The one place that names families and knows their factors.
//!
//! Shapes tell the architecture and the latent channels, never the family: SD 1.x and SDXL share
//! every shape, and so do SD3 and FLUX.1. The family is therefore chosen by, in order: the user
//! (`--family`), a diffusers `config.json`, or a guess from the file (which the CLI and the page
//! report). Factors follow the same order per factor: an explicit `--scaling-factor` /
//! `--shift-factor`, then the config, then the family's published values.
use std::fmt;

use super::WeightsError;

/// The network a file describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// diffusers `AutoencoderKL` (SD 1.x, SDXL, SD3, FLUX.1) and `AutoencoderKLFlux2`.
    Kl,
    /// diffusers `AutoencoderTiny` (the TAESD family).
    Tiny,
    /// madebyollin's TAEHV (`taehv.py`), a video tiny autoencoder, on one image.
    Taehv,
    /// diffusers `AutoencoderKLQwenImage` (Wan 2.1's VAE) on one frame.
    Qwen,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Kl => "kl",
            Kind::Tiny => "tae",
            Kind::Taehv => "taehv",
            Kind::Qwen => "qwen",
        })
    }
}

/// What a file shows beyond its shapes, for guessing its family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// LDM names with no `first_stage_model.`/`vae.` prefix (FLUX.1's `ae.safetensors`).
    pub ldm_unprefixed: bool,
    /// A PyTorch checkpoint rather than safetensors.
    pub checkpoint: bool,
}

/// The model a VAE belongs to; fixes its latent channels and factors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Sd1,
    Sdxl,
    Sd3,
    Flux,
    /// FLUX.2 (dev, klein, and the models built on its VAE).
    Flux2,
    /// Qwen-Image (its VAE is Wan 2.1's, used on one frame).
    QwenImage,
    /// Tiny autoencoders, each the fast twin of one of the above.
    Taesd,
    Taesdxl,
    Taesd3,
    Taef1,
    /// FLUX.2's, with pooled blocks at the latent's resolution.
    Taef2,
    /// Wan 2.1's and Qwen-Image's (TAEHV): its latent is the normalised one a diffusion model
    /// sees.
    Taew21,
}

/// `z = (mean − shift) · scale` is the latent a diffusion model sees; `mean = z / scale + shift`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Factors {
    pub scaling: f32,
    pub shift: f32,
}

impl Factors {
    /// An unscaled latent value in the space a diffusion model sees: `(x − shift) · scale`.
    pub fn to_diffusion(self, x: f32) -> f32 {
        (x - self.shift) * self.scaling
    }

    /// The inverse: `z / scale + shift`.
    pub fn from_diffusion(self, z: f32) -> f32 {
        z / self.scaling + self.shift
    }
}

/// Where a model's family or a factor came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Named by the user (an option or flag).
    User,
    /// From a diffusers `config.json`.
    Config,
    /// The family's published value, or the family guessed from the file.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::User => "given",
            Source::Config => "from config.json",
            Source::Default => "default",
        })
    }
}

/// Every family, by the name options and the page use.
pub const FAMILIES: [Family; 12] = [
    Family::Sdxl,
    Family::Sd1,
    Family::Sd3,
    Family::Flux,
    Family::Flux2,
    Family::QwenImage,
    Family::Taesdxl,
    Family::Taesd,
    Family::Taesd3,
    Family::Taef1,
    Family::Taef2,
    Family::Taew21,
];

/// Names of [`FAMILIES`], in order (for option tables).
pub const FAMILY_NAMES: [&str; 12] = [
    "sdxl",
    "sd1",
    "sd3",
    "flux",
    "flux2",
    "qwen-image",
    "taesdxl",
    "taesd",
    "taesd3",
    "taef1",
    "taef2",
    "taew2.1",
];

/// What the `family` option takes: `auto` (told by config.json or guessed) or a family's name
/// ([`FAMILY_NAMES`], after it).
pub const FAMILY_CHOICES: [&str; FAMILY_NAMES.len() + 1] = {
    let mut choices = ["auto"; FAMILY_NAMES.len() + 1];
    let mut i = 0;
    while i < FAMILY_NAMES.len() {
        choices[i + 1] = FAMILY_NAMES[i];
        i += 1;
    }
    choices
};

impl Family {
    pub fn name(self) -> &'static str {
        let i = FAMILIES.iter().position(|&f| f == self).unwrap_or(0);
        FAMILY_NAMES[i]
    }

    pub fn parse(name: &str) -> Option<Family> {
        let i = FAMILY_NAMES.iter().position(|&n| n == name)?;
        Some(FAMILIES[i])
    }

    pub fn kind(self) -> Kind {
        match self {
            Family::Sd1 | Family::Sdxl | Family::Sd3 | Family::Flux | Family::Flux2 => Kind::Kl,
            Family::QwenImage => Kind::Qwen,
            Family::Taew21 => Kind::Taehv,
            _ => Kind::Tiny,
        }
    }

    pub fn latent_channels(self) -> usize {
        match self {
            Family::Sd3 | Family::Flux | Family::QwenImage => 16,
            Family::Taesd3 | Family::Taef1 | Family::Taew21 => 16,
            Family::Flux2 | Family::Taef2 => 32,
            _ => 4,
        }
    }

    /// The published factors (diffusers configs; a tiny autoencoder shares its big twin's, so
    /// its unscaled latents are interchangeable with the twin's). FLUX.2's are 1 and 0: its
    /// latents are normalised by the statistics in its weights instead
    /// ([`crate::weights::LatentNorm`]).
    pub fn factors(self) -> Factors {
        let (scaling, shift) = match self {
            Family::Sd1 | Family::Taesd => (0.18215, 0.0),
            Family::Sdxl | Family::Taesdxl => (0.13025, 0.0),
            Family::Sd3 | Family::Taesd3 => (1.5305, 0.0609),
            Family::Flux | Family::Taef1 => (0.3611, 0.1159),
            Family::Flux2 | Family::QwenImage | Family::Taef2 | Family::Taew21 => (1.0, 0.0),
        };
        Factors { scaling, shift }
    }

    /// The family assumed for a file nobody named: the most used one of its kind and channels.
    /// A 16-channel file in LDM names without a prefix is FLUX.1's `ae.safetensors`; otherwise
    /// SD3's.
    pub fn guess(kind: Kind, latent_channels: usize, evidence: Evidence) -> Option<Family> {
        Some(match (kind, latent_channels) {
            // SDXL's VAE never shipped as a PyTorch checkpoint; SD 1.x's (kl-f8, ft-MSE/EMA) and
            // SD 1.x model checkpoints did.
            (Kind::Kl, 4) if evidence.checkpoint => Family::Sd1,
            (Kind::Kl, 4) => Family::Sdxl,
            (Kind::Kl, 16) if evidence.ldm_unprefixed => Family::Flux,
            (Kind::Kl, 16) => Family::Sd3,
            (Kind::Kl, 32) => Family::Flux2,
            (Kind::Qwen, 16) => Family::QwenImage,
            (Kind::Tiny, 4) => Family::Taesdxl,
            (Kind::Tiny, 16) => Family::Taef1,
            (Kind::Tiny, 32) => Family::Taef2,
            (Kind::Taehv, 16) => Family::Taew21,
            _ => return None,
        })
    }

    /// Checks a named family against what the file holds.
    pub fn check(self, kind: Kind, latent_channels: usize) -> Result<(), WeightsError> {
        if self.kind() == kind && self.latent_channels() == latent_channels {
            return Ok(());
        }
        Err(WeightsError::WrongFamily(format!(
            "family {} is a {}-channel {} model, but the file holds a {latent_channels}-channel {kind} model",
            self.name(),
            self.latent_channels(),
            self.kind(),
        )))
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
