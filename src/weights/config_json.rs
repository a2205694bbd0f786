//! A diffusers `config.json` (the file beside `diffusion_pytorch_model.safetensors`): only the
//! fields that the weights' shapes cannot tell are read — the class, the latent channels (checked
//! against the file), the two latent factors and FLUX.2's `batch_norm_eps`. Unknown fields are
//! ignored, as diffusers does.
use super::family::{Family, Kind, FAMILIES};
use super::WeightsError;

/// The fields of a diffusers VAE config this crate uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DiffusersConfig {
    /// `_class_name`: `AutoencoderKL`, `AutoencoderKLFlux2` or `AutoencoderTiny` (others are
    /// refused).
    pub kind: Option<Kind>,
    pub latent_channels: Option<usize>,
    pub scaling_factor: Option<f32>,
    pub shift_factor: Option<f32>,
    /// FLUX.2's latent normalisation epsilon.
    pub batch_norm_eps: Option<f32>,
    /// Qwen-Image's per-channel latent statistics.
    pub latents_mean: Option<Vec<f32>>,
    pub latents_std: Option<Vec<f32>>,
}

/// Largest config accepted: real ones are under 2 KiB.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

impl DiffusersConfig {
    pub fn parse(text: &str) -> Result<DiffusersConfig, WeightsError> {
        let bad = |m: String| WeightsError::BadConfig(m);
        if text.len() > MAX_CONFIG_BYTES {
            return Err(bad(format!(
                "{} bytes, more than the {MAX_CONFIG_BYTES} allowed",
                text.len()
            )));
        }
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let kind = match map.get("_class_name") {
            None => None,
            Some(v) => Some(match v.as_str() {
                Some("AutoencoderKL" | "AutoencoderKLFlux2") => Kind::Kl,
                Some("AutoencoderKLQwenImage" | "AutoencoderKLWan") => Kind::Qwen,
                Some("AutoencoderTiny") => Kind::Tiny,
                _ => {
                    return Err(bad(format!(
                    "_class_name {v} is not a VAE this crate runs (AutoencoderKL, AutoencoderKLFlux2, AutoencoderKLQwenImage, AutoencoderKLWan, AutoencoderTiny)"
                )))
                }
            }),
        };
        let number = |key: &str| -> Result<Option<f64>, WeightsError> {
            match map.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => match v.as_f64() {
                    Some(x) if x.is_finite() => Ok(Some(x)),
                    _ => Err(bad(format!("{key} is {v}, not a number"))),
                },
            }
        };
        let latent_channels = match number("latent_channels")? {
            None => None,
            Some(c) if (1.0..=1024.0).contains(&c) && c.fract() == 0.0 => Some(c as usize),
            Some(c) => return Err(bad(format!("latent_channels {c} is not a channel count"))),
        };
        let numbers = |key: &str| -> Result<Option<Vec<f32>>, WeightsError> {
            let Some(v) = map.get(key).filter(|v| !v.is_null()) else {
                return Ok(None);
            };
            let list = v
                .as_array()
                .map(|a| a.iter().map(|x| x.as_f64()).collect::<Option<Vec<_>>>());
            match list.flatten() {
                Some(xs) if xs.iter().all(|x| x.is_finite()) => {
                    Ok(Some(xs.into_iter().map(|x| x as f32).collect()))
                }
                _ => Err(bad(format!("{key} is {v}, not a list of numbers"))),
            }
        };
        let positive = |key: &str| -> Result<Option<f32>, WeightsError> {
            match number(key)? {
                Some(v) if v <= 0.0 => Err(bad(format!("{key} {v} is not positive"))),
                v => Ok(v.map(|v| v as f32)),
            }
        };
        Ok(DiffusersConfig {
            kind,
            latent_channels,
            scaling_factor: positive("scaling_factor")?,
            shift_factor: number("shift_factor")?.map(|v| v as f32),
            batch_norm_eps: positive("batch_norm_eps")?,
            latents_mean: numbers("latents_mean")?,
            latents_std: numbers("latents_std")?,
        })
    }

    /// The family whose published scaling factor this config carries (AutoencoderKL only:
    /// every tiny autoencoder's config says 1.0).
    pub fn family(&self, kind: Kind) -> Option<Family> {
        let s = self.scaling_factor?;
        FAMILIES.into_iter().find(|f| {
            f.kind() == kind && kind == Kind::Kl && (f.factors().scaling - s).abs() < 1e-6
        })
    }

    /// Checks the config describes the file's model.
    pub fn check(&self, kind: Kind, latent_channels: usize) -> Result<(), WeightsError> {
        if let Some(k) = self.kind.filter(|&k| k != kind) {
            return Err(WeightsError::BadConfig(format!(
                "config.json describes a {k} model, the weights a {kind} model"
            )));
        }
        if let Some(c) = self.latent_channels.filter(|&c| c != latent_channels) {
            return Err(WeightsError::BadConfig(format!(
                "config.json says {c} latent channels, the weights have {latent_channels}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_factors_of_sd3_and_refuses_nonsense() {
        let sd3 = r#"{"_class_name": "AutoencoderKL", "latent_channels": 16,
            "scaling_factor": 1.5305, "shift_factor": 0.0609, "use_quant_conv": false}"#;
        let c = DiffusersConfig::parse(sd3).unwrap();
        assert_eq!(c.kind, Some(Kind::Kl));
        assert_eq!(c.latent_channels, Some(16));
        assert_eq!(c.family(Kind::Kl), Some(Family::Sd3));
        assert!(c.check(Kind::Kl, 4).is_err());
        c.check(Kind::Kl, 16).unwrap();
        let tiny =
            r#"{"_class_name": "AutoencoderTiny", "scaling_factor": 1.0, "shift_factor": 0.0}"#;
        assert_eq!(
            DiffusersConfig::parse(tiny).unwrap().family(Kind::Tiny),
            None
        );
        for bad in [
            "[]",
            "{",
            r#"{"_class_name": "UNet2DConditionModel"}"#,
            r#"{"scaling_factor": -1}"#,
            r#"{"scaling_factor": "big"}"#,
            r#"{"latent_channels": 2.5}"#,
        ] {
            let e = DiffusersConfig::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("config.json: "), "{bad}: {e}");
        }
    }
}
