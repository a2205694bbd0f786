//! From a validated header to the model: translate names, detect the layout, infer the config,
//! check every expected tensor is present with its shape and a supported dtype — all before any
//! tensor data arrives.
use std::collections::{BTreeMap, HashMap};

use super::config::{expected_tensors, param_count, VaeConfig};
use super::family::{FamilyChoice, Kind};
use super::header::{Header, TensorEntry};
use super::names::{self, Layout};
use super::{convert, ModelInfo, WeightsError};

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

pub fn manifest(header: &Header, choice: &FamilyChoice) -> Result<Manifest, WeightsError> {
    let found = translate(header)?;
    let config = VaeConfig::infer(&found.shapes)?;
    let kind = Kind::Kl;
    if let Some(c) = &choice.config {
        c.check(kind, config.latent_channels)?;
    }
    let ldm_unprefixed = found.layout == Layout::Ldm && found.prefix.is_empty();
    let family = choice.resolve(kind, config.latent_channels, ldm_unprefixed)?;
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
        family,
        file_bytes: header.file_bytes(),
        ignored_tensors: header.tensors.len() - expected.len(),
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
    let (mut ldm, mut old) = (false, false);
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
