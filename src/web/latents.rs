//! The latent a diffusion model sees, for JS: `vae.latentLayout` says its shape and how it is
//! made; `vae.toDiffusion(latent)` and `vae.fromDiffusion(latent)` map between it and what
//! `encode` returns and `decode` takes (the engine's [`crate::api::Vae::to_diffusion`]).

use js_sys::Object;
use wasm_bindgen::prelude::*;

use super::convert::{self, set};
use super::failure::Failure;
use super::Vae;

#[wasm_bindgen(typescript_custom_section)]
const TS_LATENT_LAYOUT: &'static str = r#"
/** What `vae.toDiffusion` makes of a `[channels, h, w]` latent: `[diffusionChannels, h / patch,
 *  w / patch]`, normalised by the family's `factors` (`(x − shiftFactor) × scalingFactor`) or by
 *  the per-channel `statistics` in the weights (FLUX.2: 2×2 patches, `(p − mean) / √(var + eps)`). */
export interface LatentLayout {
  channels: number;
  diffusionChannels: number;
  patch: number;
  normalization: "factors" | "statistics";
}
"#;

#[wasm_bindgen]
impl Vae {
    /// The latent's shape here and in diffusion space (see `LatentLayout`).
    #[wasm_bindgen(getter, js_name = latentLayout, unchecked_return_type = "LatentLayout")]
    pub fn latent_layout(&self) -> Result<JsValue, JsValue> {
        let vae = &self.inner.vae;
        let (channels, patch) = vae.diffusion_layout();
        let normalization = match vae.info().config.latent_norm {
            Some(_) => "statistics",
            None => "factors",
        };
        let o = Object::new();
        set(&o, "channels", &vae.latent_channels().into())?;
        set(&o, "diffusionChannels", &channels.into())?;
        set(&o, "patch", &patch.into())?;
        set(&o, "normalization", &normalization.into())?;
        Ok(o.into())
    }

    /// `latent` (as `encode` returns it) in the space a diffusion model sees; a new latent.
    #[wasm_bindgen(js_name = toDiffusion, unchecked_return_type = "Latent")]
    pub fn to_diffusion(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Latent")] latent: JsValue,
    ) -> Result<JsValue, JsValue> {
        let mut latent = convert::latent_from_js(&latent)?;
        (self.inner.vae.to_diffusion(&mut latent)).map_err(Failure::from)?;
        Ok(convert::latent_to_js(&latent)?)
    }

    /// The inverse of `toDiffusion`: a diffusion model's latent as `decode` takes it.
    #[wasm_bindgen(js_name = fromDiffusion, unchecked_return_type = "Latent")]
    pub fn out_of_diffusion(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Latent")] latent: JsValue,
    ) -> Result<JsValue, JsValue> {
        let mut latent = convert::latent_from_js(&latent)?;
        (self.inner.vae.from_diffusion(&mut latent)).map_err(Failure::from)?;
        Ok(convert::latent_to_js(&latent)?)
    }
}
