//! The latent a model encodes to and decodes from, checked on the way in, and the latent a
//! diffusion model sees (the family's factors, or the statistics of FLUX.2 and Qwen-Image).

use crate::error::{Error, Result};
use crate::model::{LatentStats, Model};

/// A latent: `[channels, height, width]` f32 (NCHW without the batch), unscaled (diffusers'
/// `latent_dist.mean`; see [`Vae::to_diffusion`] for the space a diffusion model sees).
/// `image_width`/`image_height` is the image size the decoder crops to (8× the latent size unless
/// the latent came from an image whose sides were not multiples of 8).
#[derive(Clone, Debug)]
pub struct Latent {
    /// 4 (SD 1.x, SDXL and their tiny twins) or 16 (SD3, FLUX.1).
    pub channels: u32,
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
    pub image_width: u32,
    pub image_height: u32,
}

impl Latent {
    /// A latent of `[channels, height, width]` values; decodes to an image of 8× its size.
    pub fn new(channels: u32, width: u32, height: u32, data: Vec<f32>) -> Result<Latent> {
        let lat = Latent {
            channels,
            width,
            height,
            data,
            image_width: width * 8,
            image_height: height * 8,
        };
        lat.check()?;
        Ok(lat)
    }

    pub(super) fn check(&self) -> Result<()> {
        let (w, h) = (self.width as usize, self.height as usize);
        let c = self.channels as usize;
        if c == 0 || w == 0 || h == 0 || self.data.len() != c * w * h {
            return Err(Error::Latent(format!(
                "latent of {c}×{h}×{w} needs {} values, got {}",
                c * w * h,
                self.data.len()
            )));
        }
        if self.image_width == 0
            || self.image_height == 0
            || self.image_width > 8 * self.width
            || self.image_height > 8 * self.height
        {
            return Err(Error::Latent(format!(
                "image size {}×{} does not fit latent {w}×{h}",
                self.image_width, self.image_height
            )));
        }
        if let Some(i) = self.data.iter().position(|v| !v.is_finite()) {
            return Err(Error::Latent(format!(
                "latent value {i} is not finite ({})",
                self.data[i]
            )));
        }
        Ok(())
    }
}

impl Latent {
    /// FLUX.2's 2×2 patches: `[C, h, w]` → `[4C, h/2, w/2]`, channel `4c + 2i + j` holding
    /// value `(2y + i, 2x + j)` of channel `c` (diffusers' `Flux2Pipeline._patchify_latents`).
    /// Needs even sides; the image size is kept.
    pub fn patchify(&self) -> Result<Latent> {
        let (c, h, w) = (
            self.channels as usize,
            self.height as usize,
            self.width as usize,
        );
        if h % 2 != 0 || w % 2 != 0 {
            return Err(Error::Latent(format!(
                "a {w}×{h} latent cannot be cut into 2×2 patches: FLUX.2's diffusion space needs \
                 even latent sides (an image whose sides are multiples of 16)"
            )));
        }
        let (ph, pw) = (h / 2, w / 2);
        let mut data = vec![0.0; self.data.len()];
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let k = 4 * ch + 2 * (y % 2) + x % 2;
                    data[(k * ph + y / 2) * pw + x / 2] = self.data[(ch * h + y) * w + x];
                }
            }
        }
        Ok(Latent {
            channels: 4 * self.channels,
            width: pw as u32,
            height: ph as u32,
            data,
            ..*self
        })
    }

    /// The inverse of [`Latent::patchify`]: `[4C, h, w]` → `[C, 2h, 2w]`. An image size that
    /// was only the default (8× the latent) becomes the new latent's default.
    pub fn unpatchify(&self) -> Result<Latent> {
        let (c4, h, w) = (
            self.channels as usize,
            self.height as usize,
            self.width as usize,
        );
        if c4 % 4 != 0 || self.data.len() != c4 * h * w {
            return Err(Error::Latent(format!(
                "a {c4}×{h}×{w} latent is not made of 2×2 patches (its channels are not a multiple of 4)"
            )));
        }
        let (oh, ow) = (2 * h, 2 * w);
        let mut data = vec![0.0; self.data.len()];
        for k in 0..c4 {
            let (ch, i, j) = (k / 4, (k / 2) % 2, k % 2);
            for y in 0..h {
                for x in 0..w {
                    data[(ch * oh + 2 * y + i) * ow + 2 * x + j] = self.data[(k * h + y) * w + x];
                }
            }
        }
        let default = self.image_width == 8 * self.width && self.image_height == 8 * self.height;
        Ok(Latent {
            channels: self.channels / 4,
            width: ow as u32,
            height: oh as u32,
            data,
            image_width: if default {
                8 * ow as u32
            } else {
                self.image_width
            },
            image_height: if default {
                8 * oh as u32
            } else {
                self.image_height
            },
        })
    }
}

/// The latent a diffusion model sees, both ways.
impl super::Vae {
    /// The latent statistics of FLUX.2 (in its weights), Qwen-Image and TAEW2.1 (published), where
    /// the model has them.
    fn latent_stats(&self) -> Option<&LatentStats> {
        match &self.model {
            Model::Kl(kl) => kl.latent_stats.as_ref(),
            Model::Tiny(t) => t.latent_stats.as_ref(),
        }
    }

    /// What a diffusion model sees of a `[C, h, w]` latent: its channels and the side of the
    /// patches the latent is cut into — `(C, 1)`, or FLUX.2's `(4C, 2)`: `[4C, h/2, w/2]`.
    pub fn diffusion_layout(&self) -> (u32, u32) {
        let (channels, patch) = self.info.config.diffusion_layout();
        (channels as u32, patch as u32)
    }

    /// Maps an unscaled latent (what [`Vae::encode`] returns) into the space a diffusion model
    /// sees: `(x − shift) · scale`; for FLUX.2, cut into 2×2 patches (`[4C, h/2, w/2]`) and
    /// normalised by the statistics in its weights, `(p − mean) / √(var + eps)`; for Qwen-Image,
    /// `(x − mean) / std` per channel.
    pub fn to_diffusion(&self, latent: &mut Latent) -> Result<()> {
        self.check_latent(latent)?;
        if let Some(stats) = self.latent_stats() {
            if self.diffusion_layout().1 > 1 {
                *latent = latent.patchify()?;
            }
            let plane = (latent.width * latent.height) as usize;
            for (k, values) in latent.data.chunks_mut(plane).enumerate() {
                let (m, s) = (stats.mean[k], stats.std[k]);
                values.iter_mut().for_each(|v| *v = (*v - m) / s);
            }
            return Ok(());
        }
        let f = self.info.family.factors;
        latent.data.iter_mut().for_each(|v| *v = f.to_diffusion(*v));
        Ok(())
    }

    /// The inverse of [`Vae::to_diffusion`] (`x / scale + shift`; `x · std + mean`, then
    /// FLUX.2's patches put back): what [`Vae::decode`] takes.
    pub fn from_diffusion(&self, latent: &mut Latent) -> Result<()> {
        let (channels, patch) = self.diffusion_layout();
        if latent.channels != channels {
            let patches = match patch {
                1 => String::new(),
                _ => format!(" (2×2 patches of its {} channels)", self.latent_channels()),
            };
            return Err(Error::Latent(format!(
                "the latent has {} channels; this {} model's latents in diffusion space have \
                 {channels}{patches}",
                latent.channels,
                self.family()
            )));
        }
        if let Some(stats) = self.latent_stats() {
            let plane = (latent.width * latent.height) as usize;
            for (k, values) in latent.data.chunks_mut(plane).enumerate() {
                let (m, s) = (stats.mean[k], stats.std[k]);
                values.iter_mut().for_each(|v| *v = *v * s + m);
            }
            if patch > 1 {
                *latent = latent.unpatchify()?;
            }
            return Ok(());
        }
        let f = self.info.family.factors;
        latent
            .data
            .iter_mut()
            .for_each(|v| *v = f.from_diffusion(*v));
        Ok(())
    }
}
