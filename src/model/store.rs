//! Uploaded weights by canonical (diffusers) name, taken out as the model is assembled.

use crate::clock::timed;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Owned, Weight};
use crate::kernels::conv_weights::{
    weight_layout, weight_layout_f16, ConvWeights, WeightLayout, WeightTexture,
};
use crate::kernels::group_norm::NormWeights;
use crate::kernels::Precision;
use crate::weights::arch::{one_frame, split_qkv, LATENT_STATS};
use crate::weights::taehv::{one_image, OneImage};
use crate::weights::WeightsError;
use std::collections::HashMap;

/// GroupNorm epsilon of every norm in the VAE.
pub const NORM_EPS: f32 = 1e-6;

/// One uploaded tensor.
enum Stored {
    /// Conv and linear weights, as the convolution's texture.
    Conv(WeightTexture),
    /// Everything else (norms, biases), as is.
    Buffer(Weight),
}

pub struct WeightStore {
    gpu: Gpu,
    map: HashMap<String, (Stored, Vec<usize>)>,
    /// Tensors the host applies ([`LATENT_STATS`]), kept here rather than uploaded.
    host: HashMap<String, Vec<f32>>,
    /// Conv textures in f16 where the values allow.
    precision: Precision,
    pub groups: u32,
    /// Bytes uploaded so far.
    pub bytes: u64,
    /// Every buffer and texture made, freed with the store unless taken by the model's owner.
    pub owned: Owned,
    /// Milliseconds spent handing weights to the GPU (queue writes).
    pub upload_ms: f64,
}

impl WeightStore {
    pub fn new(gpu: &Gpu, groups: u32, precision: Precision) -> WeightStore {
        WeightStore {
            gpu: gpu.clone(),
            map: HashMap::new(),
            host: HashMap::new(),
            precision,
            bytes: 0,
            groups,
            owned: Owned::default(),
            upload_ms: 0.0,
        }
    }

    /// Uploads one tensor: conv and linear weights as textures, the rest as is.
    /// Qwen-Image's tensors are taken as one frame sees them: a causal 3-D convolution's last
    /// temporal tap, the fused `to_qkv` as `to_q`, `to_k`, `to_v`, an RMS norm's `gamma` as the
    /// vector it is; TAEHV's as one image uses them ([`one_image`]).
    pub fn upload(&mut self, name: &str, shape: &[usize], data: &[f32]) {
        if LATENT_STATS.contains(&name) {
            self.host.insert(name.to_string(), data.to_vec());
            return;
        }
        if let Some((shape, data)) = one_frame(shape, data) {
            return self.upload(name, &shape, &data);
        }
        if let Some(parts) = one_image(name, shape, data) {
            for (part, shape, values) in parts {
                self.upload(&part, &shape, &values);
            }
            return;
        }
        if let Some(parts) = split_qkv(name, data) {
            let part_shape: Vec<usize> = shape
                .iter()
                .enumerate()
                .map(|(d, &n)| if d == 0 { n / 3 } else { n })
                .collect();
            for (part, values) in parts {
                self.upload(&part, &part_shape, &values);
            }
            return;
        }
        let vector = [data.len()];
        let shape = match name.ends_with(".gamma") {
            true => &vector[..],
            false => shape,
        };
        if let Some((o, i, k)) = conv_dims(shape) {
            let f16 = self.precision == Precision::F16;
            return self.store_conv(name, shape, weight_layout(data, o, i, k, f16));
        }
        self.bytes += 4 * data.len() as u64;
        let gpu = &self.gpu;
        let w = timed(&mut self.upload_ms, || {
            Weight::upload(&gpu.device, &gpu.queue, name, data)
        });
        self.owned.buffer(&w.buf);
        self.map
            .insert(name.to_string(), (Stored::Buffer(w), shape.to_vec()));
    }

    /// Uploads a conv or linear weight given as f16 bits straight into its f16 texture, where
    /// every value is finite (as [`upload`](Self::upload) would after converting them to f32 and
    /// back); false for anything else, which then comes to `upload`.
    pub fn upload_f16(&mut self, name: &str, shape: &[usize], bits: &[u16]) -> bool {
        // What `upload` reshapes or splits first goes there.
        if name.ends_with(".gamma") || name.contains(".to_qkv.") || OneImage::of(name).is_some() {
            return false;
        }
        let layout = conv_dims(shape).and_then(|(o, i, k)| weight_layout_f16(bits, o, i, k));
        match layout {
            Some(layout) => {
                self.store_conv(name, shape, layout);
                true
            }
            None => false,
        }
    }

    /// Uploads a conv weight's texture and keeps it under `name`.
    fn store_conv(&mut self, name: &str, shape: &[usize], layout: WeightLayout) {
        let t = timed(&mut self.upload_ms, || layout.upload(&self.gpu));
        self.owned.texture(&t.texture);
        self.bytes += t.bytes;
        self.map
            .insert(name.to_string(), (Stored::Conv(t), shape.to_vec()));
    }

    fn take(&mut self, name: &str) -> Result<(Stored, Vec<usize>)> {
        self.map
            .remove(name)
            .ok_or_else(|| Error::Weights(WeightsError::Model(format!("no tensor {name}"))))
    }

    /// A tensor that is always a buffer (norms, biases).
    fn take_buffer(&mut self, name: &str) -> Result<(Weight, Vec<usize>)> {
        match self.take(name)? {
            (Stored::Buffer(w), shape) => Ok((w, shape)),
            (Stored::Conv(_), shape) => Err(Error::Weights(WeightsError::Model(format!(
                "{name}: a {shape:?} tensor where a vector was expected"
            )))),
        }
    }

    /// A conv (`[o, i, k, k]`) or linear (`[o, i]`, as a 1×1 conv) at `prefix`.
    pub fn conv(&mut self, prefix: &str) -> Result<ConvWeights> {
        let mut w = self.conv_without_bias(prefix)?;
        w.bias = self.take_buffer(&format!("{prefix}.bias"))?.0;
        Ok(w)
    }

    /// A conv created without a bias (`bias=False`): its bias is zeros.
    pub fn conv_without_bias(&mut self, prefix: &str) -> Result<ConvWeights> {
        let name = format!("{prefix}.weight");
        let (texture, shape) = match self.take(&name)? {
            (Stored::Conv(t), shape) => (t, shape),
            (Stored::Buffer(_), shape) => {
                return Err(Error::Weights(WeightsError::Model(format!(
                    "{name}: a {shape:?} tensor where a convolution or linear weight was expected"
                ))))
            }
        };
        let zeros = vec![0.0; shape[0]];
        let bias = Weight::upload(&self.gpu.device, &self.gpu.queue, &name, &zeros);
        self.owned.buffer(&bias.buf);
        Ok(ConvWeights {
            texture,
            bias,
            cout: shape[0] as u32,
            cin: shape[1] as u32,
            k: shape.get(2).copied().unwrap_or(1) as u32,
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

    /// A tensor kept on the host ([`LATENT_STATS`]).
    pub fn host(&mut self, name: &str) -> Result<Vec<f32>> {
        self.host
            .remove(name)
            .ok_or_else(|| Error::Weights(WeightsError::Model(format!("no tensor {name}"))))
    }

    /// An RMS norm's `gamma` (a vector).
    pub fn gamma(&mut self, prefix: &str) -> Result<Weight> {
        Ok(self.take_buffer(&format!("{prefix}.gamma"))?.0)
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }
}

/// `(cout, cin, k)` of a conv (`[o, i, k, k]`) or linear (`[o, i]`, a 1×1 conv) weight.
fn conv_dims(shape: &[usize]) -> Option<(u32, u32, u32)> {
    match *shape {
        [o, i, k, _] => Some((o as u32, i as u32, k as u32)),
        [o, i] => Some((o as u32, i as u32, 1)),
        _ => None,
    }
}
