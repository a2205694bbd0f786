//! From a validated header to the model: translate names, detect the layout, infer the config,
//! check every expected tensor is present with its shape and a supported dtype — all before any
//! tensor data arrives.
use std::collections::{BTreeMap, HashMap};

use super::arch::{expected_tensors, param_count};
use super::choice::FamilyChoice;
use super::config::{LatentNorm, Style, VaeConfig};
use super::config_json::DiffusersConfig;
use super::family::{Evidence, Kind};
use super::header::{Header, TensorEntry};
use super::names::{self, Layout};
use super::taehv;
use super::tiny::{self, TinyConfig, TinyNames};
use super::{convert, FileFormat, ModelInfo, WeightsError};

/// What to do with each tensor of the file.
pub struct Manifest {
    pub info: ModelInfo,
    /// Per `header.tensors` entry: canonical name and diffusers shape if the model uses it.
    pub targets: Vec<Option<(String, Vec<usize>)>>,
}

/// Canonical names found in a file, with the evidence of its layout.
struct Found {
    /// Canonical name → index into `header.tensors`.
    index: HashMap<String, usize>,
    /// Canonical name → diffusers shape.
    shapes: HashMap<String, Vec<usize>>,
    layout: Layout,
    prefix: &'static str,
}

pub fn manifest(
    header: &Header,
    choice: &FamilyChoice,
    format: FileFormat,
) -> Result<Manifest, WeightsError> {
    let checkpoint = format != FileFormat::Safetensors;
    let mut manifest = match tiny_names(header) {
        Some(names) => tiny_manifest(header, choice, names, checkpoint)?,
        None => kl_manifest(header, choice, checkpoint)?,
    };
    manifest.info.format = format;
    if checkpoint {
        manifest.info.file_bytes = 0;
    }
    Ok(manifest)
}

fn kl_manifest(
    header: &Header,
    choice: &FamilyChoice,
    checkpoint: bool,
) -> Result<Manifest, WeightsError> {
    let found = translate(header)?;
    let mut config = VaeConfig::infer(&found.shapes)?;
    let kind = match config.style {
        Style::Kl => Kind::Kl,
        Style::Qwen => Kind::Qwen,
    };
    if let Some(c) = &choice.config {
        c.check(kind, config.latent_channels)?;
        match (config.latent_norm.as_mut(), c) {
            (
                Some(LatentNorm::Batch { eps }),
                DiffusersConfig {
                    batch_norm_eps: Some(e),
                    ..
                },
            ) => *eps = *e,
            (Some(LatentNorm::Channels { mean, std }), c) => {
                let n = config.latent_channels;
                for (into, from, what) in [
                    (mean, &c.latents_mean, "mean"),
                    (std, &c.latents_std, "std"),
                ] {
                    match from {
                        Some(v) if v.len() == n => *into = v.clone(),
                        Some(v) => {
                            return Err(WeightsError::BadConfig(format!(
                                "latents_{what} has {} values, the latent {n} channels",
                                v.len()
                            )))
                        }
                        None => {}
                    }
                }
            }
            _ => {}
        }
    }
    let evidence = Evidence {
        ldm_unprefixed: matches!(found.layout, Layout::Ldm | Layout::Flux2)
            && found.prefix.is_empty(),
        checkpoint,
    };
    let family = choice.resolve(kind, config.latent_channels, evidence)?;
    let expected = expected_tensors(&config);
    let n_blocks = config.block_out_channels.len();
    let mut targets = vec![None; header.tensors.len()];
    let mut dtypes = BTreeMap::<String, usize>::new();
    for (name, shape) in &expected {
        let (i, t) = found.check(header, name, shape, n_blocks)?;
        *dtypes.entry(t.dtype.to_string()).or_default() += 1;
        if let Some(slot) = targets.get_mut(i) {
            *slot = Some((name.clone(), shape.clone()));
        }
    }
    let info = ModelInfo {
        layout: found.layout,
        dtypes: dtypes.into_iter().collect(),
        param_count: param_count(&expected),
        config,
        kind,
        tiny: None,
        family,
        format: FileFormat::Safetensors,
        file_bytes: header.file_bytes(),
        ignored_tensors: header.tensors.len() - expected.len(),
        ignored_bytes: ignored_bytes(header, &targets),
    };
    Ok(Manifest { info, targets })
}

impl Found {
    /// The file tensor for expected tensor `name`: present, of `shape`, of a supported dtype.
    fn check<'h>(
        &self,
        header: &'h Header,
        name: &str,
        shape: &[usize],
        n_blocks: usize,
    ) -> Result<(usize, &'h TensorEntry), WeightsError> {
        let file_tensor = (self.index.get(name)).and_then(|&i| Some((i, header.tensors.get(i)?)));
        let Some((i, t)) = file_tensor else {
            let file_name = names::to_layout_name(name, self.layout, n_blocks);
            return Err(WeightsError::MissingTensor {
                name: name.to_string(),
                file_name: format!("{}{file_name}", self.prefix),
                layout: self.layout,
            });
        };
        if self.shapes.get(name).map(Vec::as_slice) != Some(shape) {
            return Err(WeightsError::WrongShape {
                name: name.to_string(),
                file_name: t.name.clone(),
                expected: shape.to_vec(),
                found: t.shape.clone(),
            });
        }
        if !convert::is_supported(t.dtype) {
            return Err(WeightsError::UnsupportedDtype {
                name: t.name.clone(),
                dtype: t.dtype.to_string(),
            });
        }
        Ok((i, t))
    }
}

/// Translates every file name; two file tensors with one canonical name are an error.
fn translate(header: &Header) -> Result<Found, WeightsError> {
    let n_up = names::ldm_up_blocks(header.tensors.iter().map(|t| t.name.as_str()));
    let mut index = HashMap::<String, usize>::new();
    let mut shapes = HashMap::<String, Vec<usize>>::new();
    let (mut ldm, mut old, mut flux2, mut wan) = (false, false, false, false);
    let mut prefix = "";
    for (i, t) in header.tensors.iter().enumerate() {
        let Some(tr) = names::to_canonical(&t.name, n_up) else {
            continue;
        };
        if let Some(first) = index
            .get(&tr.canonical)
            .and_then(|&j| header.tensors.get(j))
        {
            return Err(WeightsError::DuplicateTensor {
                canonical: tr.canonical,
                first: first.name.clone(),
                second: t.name.clone(),
            });
        }
        ldm |= tr.evidence == Some(Layout::Ldm);
        flux2 |= tr.evidence == Some(Layout::Flux2);
        wan |= tr.evidence == Some(Layout::Wan);
        old |= tr.evidence == Some(Layout::DiffusersOldAttention);
        if !tr.prefix.is_empty() {
            prefix = tr.prefix;
        }
        shapes.insert(
            tr.canonical.clone(),
            names::canonical_shape(&tr.canonical, &t.shape),
        );
        index.insert(tr.canonical, i);
    }
    let layout = match (ldm, old) {
        _ if wan => Layout::Wan,
        (true, _) if flux2 => Layout::Flux2,
        (true, _) => Layout::Ldm,
        (false, true) => Layout::DiffusersOldAttention,
        (false, false) => Layout::Diffusers,
    };
    Ok(Found {
        index,
        shapes,
        layout,
        prefix,
    })
}

/// How the file names a tiny autoencoder's tensors, if it holds one and no AutoencoderKL.
fn tiny_names(header: &Header) -> Option<TinyNames> {
    let kl = header.tensors.iter().any(|t| {
        let name = names::strip_prefix(&t.name).1;
        name == "encoder.conv_in.weight" || name == "decoder.conv_in.weight"
    });
    if kl {
        return None;
    }
    let stripped = || {
        header
            .tensors
            .iter()
            .map(|t| names::strip_prefix(&t.name).1)
    };
    if stripped().any(taehv::looks_taehv) {
        return Some(TinyNames::Taehv);
    }
    stripped().find_map(tiny::looks_tiny)
}

/// [`manifest`] for a tiny autoencoder: either half or both.
fn tiny_manifest(
    header: &Header,
    choice: &FamilyChoice,
    naming: TinyNames,
    checkpoint: bool,
) -> Result<Manifest, WeightsError> {
    fn stripped(t: &TensorEntry) -> (&'static str, &str) {
        names::strip_prefix(&t.name)
    }
    let split =
        tiny::split_part((header.tensors.iter()).map(|t| (stripped(t).1, t.shape.as_slice())));
    let mut found = Found {
        index: HashMap::new(),
        shapes: HashMap::new(),
        layout: match naming {
            TinyNames::Diffusers => Layout::Diffusers,
            TinyNames::Original => Layout::Taesd,
            TinyNames::Split => Layout::TaesdHalf,
            TinyNames::Taehv => Layout::Taehv,
        },
        prefix: "",
    };
    for (i, t) in header.tensors.iter().enumerate() {
        let (prefix, name) = stripped(t);
        if !naming.holds(name) {
            continue;
        }
        let Some(canonical) = tiny::tiny_canonical(name, naming, split) else {
            continue;
        };
        if let Some(first) = found
            .index
            .get(&canonical)
            .and_then(|&j| header.tensors.get(j))
        {
            return Err(WeightsError::DuplicateTensor {
                canonical,
                first: first.name.clone(),
                second: t.name.clone(),
            });
        }
        found.prefix = prefix;
        found.shapes.insert(canonical.clone(), t.shape.clone());
        found.index.insert(canonical, i);
    }
    let has = |part: &str| found.index.keys().any(|k| k.starts_with(part));
    let (encoder, decoder) = (has("encoder."), has("decoder."));
    let (latent, video) = match naming {
        TinyNames::Taehv => {
            let (latent, video) = taehv::infer(&found.shapes)?;
            (latent, Some(video))
        }
        _ => {
            let last = tiny::encoder_layers(0, false).len() - 1;
            let latent = match encoder {
                true => dim(&found.shapes, &format!("encoder.layers.{last}.weight"), 0)?,
                false => dim(&found.shapes, "decoder.layers.0.weight", 1)?,
            };
            (latent, None)
        }
    };
    let cfg = TinyConfig {
        latent_channels: latent,
        encoder,
        decoder,
        pools: found.index.keys().any(|k| k.ends_with(".pool.0.weight")),
        video,
    };
    let kind = match video {
        Some(_) => Kind::Taehv,
        None => Kind::Tiny,
    };
    if let Some(c) = &choice.config {
        c.check(kind, latent)?;
    }
    let evidence = Evidence {
        ldm_unprefixed: false,
        checkpoint,
    };
    let family = choice.resolve(kind, latent, evidence)?;
    let expected = cfg.expected();
    let mut targets = vec![None; header.tensors.len()];
    let mut dtypes = BTreeMap::<String, usize>::new();
    for (name, shape) in &expected {
        let (i, t) = found.check(header, name, shape, 0)?;
        *dtypes.entry(t.dtype.to_string()).or_default() += 1;
        if let Some(slot) = targets.get_mut(i) {
            *slot = Some((name.clone(), shape.clone()));
        }
    }
    let info = ModelInfo {
        layout: found.layout,
        dtypes: dtypes.into_iter().collect(),
        param_count: param_count(&expected),
        config: tiny_config(&cfg),
        kind,
        tiny: Some(cfg),
        family,
        format: FileFormat::Safetensors,
        file_bytes: header.file_bytes(),
        ignored_tensors: header.tensors.len() - expected.len(),
        ignored_bytes: ignored_bytes(header, &targets),
    };
    Ok(Manifest { info, targets })
}

/// What a tiny autoencoder's [`ModelInfo::config`] says: its widest channels per scale (finest
/// first, for row bands), and for TAEHV the latent normalisation of its twin (Qwen-Image's),
/// whose normalised latent it speaks.
fn tiny_config(cfg: &TinyConfig) -> VaeConfig {
    let (block_out_channels, latent_norm) = match &cfg.video {
        Some(v) => {
            let widest = |i: usize| v.encoder.max(v.decoder[3 - i]);
            ((0..4).map(widest).collect(), Some(LatentNorm::qwen_image()))
        }
        None => (vec![tiny::TINY_CHANNELS; 4], None),
    };
    VaeConfig {
        block_out_channels,
        layers_per_block: 0,
        latent_channels: cfg.latent_channels,
        use_quant_conv: false,
        use_post_quant_conv: false,
        latent_norm,
        ..VaeConfig::sdxl()
    }
}

/// Dimension `axis` of tensor `name`.
fn dim(
    shapes: &HashMap<String, Vec<usize>>,
    name: &str,
    axis: usize,
) -> Result<usize, WeightsError> {
    (shapes.get(name).and_then(|s| s.get(axis).copied()))
        .ok_or_else(|| WeightsError::CannotInferConfig(format!("no {name} with axis {axis}")))
}

/// Bytes of the file's tensors the model does not use.
fn ignored_bytes(header: &Header, targets: &[Option<(String, Vec<usize>)>]) -> u64 {
    (header.tensors.iter().zip(targets))
        .filter(|(_, t)| t.is_none())
        .map(|(e, _)| e.len())
        .sum()
}
