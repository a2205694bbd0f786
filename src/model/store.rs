//! Uploaded weights by canonical (diffusers) name, taken out as the model is assembled.

use crate::gpu::{Gpu, Weight};
use crate::kernels::conv2d::{relayout, ConvWeights};
use crate::kernels::group_norm::NormWeights;
use crate::kernels::pack_input::weight_texture;
use crate::{Error, Result};
use std::collections::HashMap;

/// GroupNorm epsilon of every norm in the VAE.
pub const NORM_EPS: f32 = 1e-6;

pub struct WeightStore {
    /// `None` for conv weights held as textures only.
    map: HashMap<String, (Option<Weight>, Vec<usize>)>,
    /// Conv weights as textures (for `conv2d_texture.wgsl`) instead of buffers, by name, and
    /// whether each is f16.
    textures: Option<HashMap<String, (wgpu::TextureView, bool)>>,
    /// Those textures in f16 where the values allow.
    f16: bool,
    pub groups: u32,
    /// Bytes uploaded so far.
    pub bytes: u64,
}

impl WeightStore {
    /// `textures`: make conv weights textures instead of buffers; `f16`: rgba16float ones
    /// (see [`weight_texture`]).
    pub fn new(groups: u32, textures: bool, f16: bool) -> WeightStore {
        WeightStore {
            map: HashMap::new(),
            textures: textures.then(HashMap::new),
            f16,
            bytes: 0,
            groups,
        }
    }

    /// Uploads one tensor: conv and linear weights re-laid out for `conv2d.wgsl`, the rest as is.
    pub fn upload(&mut self, gpu: &Gpu, name: &str, shape: &[usize], data: &[f32]) {
        let conv = match *shape {
            [o, i, k, _] => Some((o, i, k)),
            [o, i] => Some((o, i, 1)),
            _ => None,
        };
        let w = match conv {
            Some((o, i, k)) => {
                let r = relayout(data, o, i, k);
                if let Some(t) = self.textures.as_mut() {
                    let (view, f16, bytes) =
                        weight_texture(gpu, &r, o as u32, i as u32, k as u32, self.f16);
                    t.insert(name.to_string(), (view, f16));
                    self.bytes += bytes;
                    None
                } else {
                    Some(Weight::upload(&gpu.device, &gpu.queue, name, &r))
                }
            }
            None => Some(Weight::upload(&gpu.device, &gpu.queue, name, data)),
        };
        self.bytes += 4 * w.as_ref().map_or(0, |w| w.len) as u64;
        self.map.insert(name.to_string(), (w, shape.to_vec()));
    }

    fn take(&mut self, name: &str) -> Result<(Option<Weight>, Vec<usize>)> {
        self.map
            .remove(name)
            .ok_or_else(|| Error::Input(format!("weights lack {name}")))
    }

    /// A tensor that is always a buffer (norms, biases).
    fn take_buffer(&mut self, name: &str) -> Result<(Weight, Vec<usize>)> {
        match self.take(name)? {
            (Some(w), shape) => Ok((w, shape)),
            (None, shape) => Err(Error::Input(format!(
                "{name}: a {shape:?} tensor where a vector was expected"
            ))),
        }
    }

    /// A conv (`[o, i, k, k]`) or linear (`[o, i]`, as a 1×1 conv) at `prefix`.
    pub fn conv(&mut self, prefix: &str) -> Result<ConvWeights> {
        let name = format!("{prefix}.weight");
        let (weight, shape) = self.take(&name)?;
        let (bias, _) = self.take_buffer(&format!("{prefix}.bias"))?;
        let k = shape.get(2).copied().unwrap_or(1) as u32;
        let texture = self.textures.as_mut().and_then(|t| t.remove(&name));
        Ok(ConvWeights {
            weight,
            bias,
            cout: shape[0] as u32,
            cin: shape[1] as u32,
            k,
            texture_f16: texture.as_ref().is_some_and(|t| t.1),
            texture: texture.map(|t| t.0),
        })
    }

    pub fn norm(&mut self, prefix: &str) -> Result<NormWeights> {
        let (gamma, _) = self.take_buffer(&format!("{prefix}.weight"))?;
        let (beta, _) = self.take_buffer(&format!("{prefix}.bias"))?;
        Ok(NormWeights {
            gamma,
            beta,
            groups: self.groups,
            eps: NORM_EPS,
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }
}
