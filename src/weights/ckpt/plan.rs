//! From a checkpoint's pickle to the tensors it names and the storages their bytes come from.
//!
//! The tensors sit under `state_dict` (Lightning/LDM checkpoints) or at the top level (a bare
//! `state_dict()`); everything else in the pickle (`global_step`, `epoch`, …) is ignored. Each
//! tensor is a view of a storage (offset, shape, stride in elements); its bytes are cut out of
//! the storage when that arrives, gathered element by element where the view is not contiguous.
use std::collections::HashMap;

use safetensors::Dtype;

use super::pickle::{element_size, Node, Pickle, TensorRef, Value};
use crate::weights::header::{Header, TensorEntry};
use crate::weights::WeightsError;

/// The tensors of a checkpoint, in pickle order.
pub fn tensors(p: &Pickle) -> Result<Vec<(String, TensorRef)>, WeightsError> {
    let Some(Node::Dict(top)) = p.node(p.root) else {
        return Err(WeightsError::Checkpoint(
            "the pickle holds no dict of tensors".into(),
        ));
    };
    let nested = top.iter().find_map(|&(k, v)| match p.node(v) {
        Some(Node::Dict(d)) if p.str(k) == Some("state_dict") => Some(d),
        _ => None,
    });
    let dict = nested.unwrap_or(top);
    let out: Vec<(String, TensorRef)> = (dict.iter())
        .filter_map(|&(k, v)| match (p.str(k), p.node(v)) {
            (Some(name), Some(Node::Tensor(t))) => Some((name.to_string(), t.clone())),
            _ => None,
        })
        .collect();
    if out.is_empty() {
        let keys: Vec<&str> = top.iter().filter_map(|&(k, _)| p.str(k)).take(8).collect();
        return Err(WeightsError::Checkpoint(format!(
            "no tensors at the top level or under state_dict (top-level keys: {})",
            keys.join(", ")
        )));
    }
    Ok(out)
}

/// The magic number a legacy (non-zip) `torch.save` file starts with.
pub const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;
/// The legacy format's protocol version.
pub const LEGACY_PROTOCOL: i128 = 1001;

/// An int at the top of a small pickle (legacy magic and protocol version).
pub fn int(p: &Pickle) -> Option<i128> {
    match p.root {
        Value::Int(i) => Some(i),
        _ => None,
    }
}

/// The legacy format's storage keys, in the order their data follows.
pub fn key_list(p: &Pickle) -> Result<Vec<String>, WeightsError> {
    let bad = || WeightsError::Checkpoint("the storage key list is not a list of strings".into());
    let Some(Node::List(items)) = p.node(p.root) else {
        return Err(bad());
    };
    items
        .iter()
        .map(|&v| p.str(v).map(str::to_string).ok_or_else(bad))
        .collect()
}

/// Whether the legacy `sys_info` dict says big-endian.
pub fn big_endian(p: &Pickle) -> bool {
    let Some(Node::Dict(d)) = p.node(p.root) else {
        return false;
    };
    d.iter()
        .any(|&(k, v)| p.str(k) == Some("little_endian") && v == Value::Bool(false))
}

/// A storage and the wanted tensors that view it.
#[derive(Debug)]
pub struct Storage {
    pub dtype: Dtype,
    pub numel: u64,
    /// Indices into [`Plan::header`]'s tensors.
    pub views: Vec<usize>,
}

impl Storage {
    pub fn bytes(&self) -> u64 {
        self.numel * element_size(self.dtype)
    }
}

/// What to cut out of which storage.
pub struct Plan {
    /// The tensors as a safetensors-like header, offsets virtual (each tensor's own byte count),
    /// so the manifest treats checkpoints and safetensors files alike.
    pub header: Header,
    pub views: Vec<TensorRef>,
    /// Every storage the pickle names, by key.
    pub storages: HashMap<String, Storage>,
}

impl Plan {
    pub fn new(tensors: Vec<(String, TensorRef)>) -> Result<Plan, WeightsError> {
        let mut entries = Vec::with_capacity(tensors.len());
        let mut storages = HashMap::<String, Storage>::new();
        let mut views = Vec::with_capacity(tensors.len());
        let mut pos = 0u64;
        for (name, t) in tensors {
            let numel = (t.shape.iter()).try_fold(1u64, |n, &d| n.checked_mul(d as u64));
            let bytes = numel.and_then(|n| n.checked_mul(element_size(t.storage.dtype)));
            let bad = |m: String| WeightsError::Checkpoint(format!("tensor {name}: {m}"));
            let bytes = bytes.ok_or_else(|| bad(format!("shape {:?} is too large", t.shape)))?;
            if t.stride.len() != t.shape.len() {
                return Err(bad(format!(
                    "shape {:?} and stride {:?} differ in length",
                    t.shape, t.stride
                )));
            }
            if let Some(end) = extent(&t) {
                if end > t.storage.numel {
                    return Err(bad(format!(
                        "its view (offset {}, shape {:?}, stride {:?}) reaches element {end} of \
                         a storage of {} elements",
                        t.offset, t.shape, t.stride, t.storage.numel
                    )));
                }
            }
            let s = (storages.entry(t.storage.key.clone())).or_insert(Storage {
                dtype: t.storage.dtype,
                numel: t.storage.numel,
                views: Vec::new(),
            });
            if s.dtype != t.storage.dtype || s.numel != t.storage.numel {
                return Err(bad(format!(
                    "storage {} is named as {} × {} and as {} × {}",
                    t.storage.key, s.numel, s.dtype, t.storage.numel, t.storage.dtype
                )));
            }
            entries.push(TensorEntry {
                name,
                dtype: t.storage.dtype,
                shape: t.shape.clone(),
                start: pos,
                end: pos + bytes,
            });
            pos += bytes;
            views.push(t);
        }
        Ok(Plan {
            header: Header {
                json_len: 0,
                tensors: entries,
            },
            views,
            storages,
        })
    }

    /// Marks the tensors the model wants in their storages.
    pub fn want(&mut self, wanted: &[bool]) {
        for (i, t) in self.views.iter().enumerate() {
            if wanted.get(i).copied().unwrap_or(false) {
                if let Some(s) = self.storages.get_mut(&t.storage.key) {
                    s.views.push(i);
                }
            }
        }
    }

    /// Bytes of tensor `index` cut from its storage's bytes (`scratch` holds a gathered copy).
    pub fn cut<'a>(
        &self,
        index: usize,
        storage: &'a [u8],
        scratch: &'a mut Vec<u8>,
    ) -> Result<&'a [u8], WeightsError> {
        let (Some(t), Some(e)) = (self.views.get(index), self.header.tensors.get(index)) else {
            return Err(WeightsError::Checkpoint(format!("no tensor {index}")));
        };
        let es = element_size(t.storage.dtype) as usize;
        let short = || {
            WeightsError::Checkpoint(format!(
                "tensor {}: its storage {} ended early",
                e.name, t.storage.key
            ))
        };
        if contiguous(&t.shape, &t.stride) {
            let start = t.offset as usize * es;
            return storage
                .get(start..start + e.len() as usize)
                .ok_or_else(short);
        }
        scratch.clear();
        scratch.reserve(e.len() as usize);
        let mut index = vec![0usize; t.shape.len()];
        let numel: usize = t.shape.iter().product();
        for _ in 0..numel {
            let at = t.offset as usize
                + index
                    .iter()
                    .zip(&t.stride)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            let b = storage.get(at * es..(at + 1) * es).ok_or_else(short)?;
            scratch.extend_from_slice(b);
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < t.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Ok(scratch)
    }
}

/// One past the last element a view touches (`None` for an empty view).
fn extent(t: &TensorRef) -> Option<u64> {
    if t.shape.contains(&0) {
        return None;
    }
    let last = (t.shape.iter().zip(&t.stride))
        .map(|(&n, &s)| (n as u64 - 1).saturating_mul(s as u64))
        .fold(0, u64::saturating_add);
    Some(t.offset.saturating_add(last).saturating_add(1))
}

/// Row-major strides with size-1 dimensions free to have any stride.
fn contiguous(shape: &[usize], stride: &[usize]) -> bool {
    let mut expect = 1usize;
    for (&n, &s) in shape.iter().zip(stride).rev() {
        if n != 1 && s != expect {
            return false;
        }
        expect *= n;
    }
    true
}
