//! The latent a model encodes to and decodes from, checked on the way in.

use crate::error::{Error, Result};

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
