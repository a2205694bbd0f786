//! The page's image metrics, for JS: PSNR and SSIM of two RGBA images.

use wasm_bindgen::prelude::*;

use super::convert;
use super::failure::Failure;

/// PSNR in dB between two same-size RGBA images (RGB channels).
#[wasm_bindgen]
pub fn psnr(
    #[wasm_bindgen(unchecked_param_type = "ImageData | ImageLike")] a: JsValue,
    #[wasm_bindgen(unchecked_param_type = "ImageData | ImageLike")] b: JsValue,
) -> Result<f64, JsValue> {
    metric(&a, &b, crate::metrics::psnr)
}

/// SSIM between two same-size RGBA images.
#[wasm_bindgen]
pub fn ssim(
    #[wasm_bindgen(unchecked_param_type = "ImageData | ImageLike")] a: JsValue,
    #[wasm_bindgen(unchecked_param_type = "ImageData | ImageLike")] b: JsValue,
) -> Result<f64, JsValue> {
    metric(&a, &b, crate::metrics::ssim)
}

fn metric(
    a: &JsValue,
    b: &JsValue,
    f: fn(&crate::api::Image, &crate::api::Image) -> crate::error::Result<f64>,
) -> Result<f64, JsValue> {
    let (a, b) = (convert::image_from_js(a)?, convert::image_from_js(b)?);
    Ok(f(&a, &b).map_err(Failure::from)?)
}
