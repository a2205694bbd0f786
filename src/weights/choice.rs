//! The family and factors a model is loaded with: what the user chose, else what a diffusers
//! `config.json` says, else the family's defaults — and where each came from.

use super::config_json::DiffusersConfig;
use super::family::{Evidence, Factors, Family, Kind, Source};
use super::WeightsError;

/// What the user asked for; every field optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FamilyChoice {
    pub family: Option<Family>,
    pub scaling_factor: Option<f32>,
    pub shift_factor: Option<f32>,
    /// A diffusers `config.json` for the model.
    pub config: Option<DiffusersConfig>,
}

/// The family and factors a model was loaded with, and where each came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resolved {
    pub family: Family,
    pub family_source: Source,
    pub factors: Factors,
    pub scaling_source: Source,
    pub shift_source: Source,
}

impl FamilyChoice {
    /// Resolves the family and factors for a file of `kind` with `latent_channels`.
    pub fn resolve(
        &self,
        kind: Kind,
        latent_channels: usize,
        evidence: Evidence,
    ) -> Result<Resolved, WeightsError> {
        let cfg = self.config.as_ref();
        let (family, family_source) = match (self.family, cfg.and_then(|c| c.family(kind))) {
            (Some(f), _) => (f, Source::User),
            (None, Some(f)) => (f, Source::Config),
            (None, None) => {
                let f = Family::guess(kind, latent_channels, evidence).ok_or_else(|| {
                    WeightsError::WrongFamily(format!(
                        "no known family has a {latent_channels}-channel {kind} model"
                    ))
                })?;
                (f, Source::Default)
            }
        };
        family.check(kind, latent_channels)?;
        let pick = |user: Option<f32>, config: Option<f32>, default: f32| match (user, config) {
            (Some(v), _) => (v, Source::User),
            (None, Some(v)) => (v, Source::Config),
            (None, None) => (default, Source::Default),
        };
        let d = family.factors();
        let (scaling, scaling_source) = pick(
            self.scaling_factor,
            cfg.and_then(|c| c.scaling_factor),
            d.scaling,
        );
        let (shift, shift_source) =
            pick(self.shift_factor, cfg.and_then(|c| c.shift_factor), d.shift);
        Ok(Resolved {
            family,
            family_source,
            factors: Factors { scaling, shift },
            scaling_source,
            shift_source,
        })
    }
}
