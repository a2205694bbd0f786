//! Uploaded weights by canonical (diffusers) name, taken out as the model is assembled.

use crate::gpu::{Gpu, Weight};
use crate::kernels::conv2d::{relayout, ConvWeights};
use crate::kernels::group_norm::NormWeights;
use crate::{Error, Result};
use std::collections::HashMap;

/// GroupNorm epsilon of every norm in the VAE.
pub const NORM_EPS: f32 = 1e-6;

pub struct WeightStore {
    map: HashMap<String, (Weight, Vec<usize>)>,
    pub groups: u32,
    /// Bytes uploaded so far.
    pub bytes: u64,
}

impl WeightStore {
    pub fn new(groups: u32) -> WeightStore {
        WeightStore {
            map: HashMap::new(),
            bytes: 0,
            groups,
        }
    }

    /// Uploads one tensor: conv and linear weights re-laid out for `conv2d.wgsl`, the rest as is.
    pub fn upload(&mut self, gpu: &Gpu, name: &str, shape: &[usize], data: &[f32]) {
        let w = match *shape {
            [o, i, k, _] => Weight::upload(&gpu.device, &gpu.queue, name, &relayout(data, o, i, k)),
            [o, i] => Weight::upload(&gpu.device, &gpu.queue, name, &relayout(data, o, i, 1)),
            _ => Weight::upload(&gpu.device, &gpu.queue, name, data),
        };
        self.bytes += 4 * w.len as u64;
        self.map.insert(name.to_string(), (w, shape.to_vec()));
    }

    fn take(&mut self, name: &str) -> Result<(Weight, Vec<usize>)> {
        self.map
            .remove(name)
            .ok_or_else(|| Error::Input(format!("weights lack {name}")))
    }

    /// A conv (`[o, i, k, k]`) or linear (`[o, i]`, as a 1×1 conv) at `prefix`.
    pub fn conv(&mut self, prefix: &str) -> Result<ConvWeights> {
        let (weight, shape) = self.take(&format!("{prefix}.weight"))?;
        let (bias, _) = self.take(&format!("{prefix}.bias"))?;
        let k = shape.get(2).copied().unwrap_or(1) as u32;
        Ok(ConvWeights {
            weight,
            bias,
            cout: shape[0] as u32,
            cin: shape[1] as u32,
            k,
        })
    }

    pub fn norm(&mut self, prefix: &str) -> Result<NormWeights> {
        let (gamma, _) = self.take(&format!("{prefix}.weight"))?;
        let (beta, _) = self.take(&format!("{prefix}.bias"))?;
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
