//! Kernel launchers: one per `.wgsl` file in `src/shaders`, same name. A launcher takes tensors,
//! weights and parameters (never model structs), checks shapes, and records its dispatches.
//! [`Kernels`] makes each pipeline when first used and keeps it, keyed by [`PipelineKey`].

pub mod attention;
pub mod conv2d;
pub mod conv_form;
mod conv_geometry;
pub mod conv_weights;
pub mod conv_wgsl;
pub mod copy_rows;
pub mod group_norm;
pub mod image;
pub mod pack_input;
pub mod posterior;
pub mod preprocess;
pub mod rms_norm;
pub mod tuning;

pub use conv_form::{choose, ConvForm, Precision, Staging, PIXELS};
pub use tuning::{AdapterClass, Tuning};

use crate::error::Result;
use crate::gpu::Kernel;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Every shader source but the convolution family's (see [`conv_wgsl`]), by kernel name.
pub const SOURCES: &[(&str, &str)] = &[
    ("pack_input", include_str!("../shaders/pack_input.wgsl")),
    ("pack_weights", include_str!("../shaders/pack_weights.wgsl")),
    (
        "group_norm_stats",
        include_str!("../shaders/group_norm_stats.wgsl"),
    ),
    (
        "group_norm_merge",
        include_str!("../shaders/group_norm_merge.wgsl"),
    ),
    (
        "group_norm_apply",
        include_str!("../shaders/group_norm_apply.wgsl"),
    ),
    ("attention", include_str!("../shaders/attention.wgsl")),
    (
        "attention_softmax",
        include_str!("../shaders/attention_softmax.wgsl"),
    ),
    (
        "image_to_tensor",
        include_str!("../shaders/image_to_tensor.wgsl"),
    ),
    (
        "tensor_to_image",
        include_str!("../shaders/tensor_to_image.wgsl"),
    ),
    ("posterior", include_str!("../shaders/posterior.wgsl")),
    ("copy_rows", include_str!("../shaders/copy_rows.wgsl")),
    ("rms_norm", include_str!("../shaders/rms_norm.wgsl")),
];

pub use crate::gpu::Halves;

/// The kernels of [`SOURCES`] with an f16-pair form (`#if STORE_F16`), which an f16 call uses.
pub const STORES_F16: &[&str] = &["pack_input", "group_norm_stats", "rms_norm"];

/// The source of every pipeline: a kernel of [`SOURCES`] in one of its forms, or a member of
/// the convolution family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PipelineKey {
    Named(&'static str, Halves),
    Conv(ConvForm),
}

impl PipelineKey {
    /// The WGSL of this pipeline.
    pub fn source(&self) -> String {
        match *self {
            PipelineKey::Named(name, halves) => {
                let defines = [(halves.textures, "F16"), (halves.store, "STORE_F16")];
                let defines: Vec<&str> = defines.iter().filter(|d| d.0).map(|d| d.1).collect();
                preprocess::preprocess(source(name), &defines, &[])
            }
            PipelineKey::Conv(form) => conv_wgsl::source(&form),
        }
    }
}

/// The source of kernel `name` of [`SOURCES`] (empty for none: the pipeline then fails loudly).
fn source(name: &str) -> &'static str {
    SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .unwrap_or_default()
}

/// The pipelines of one device, made when first used, and the few buffers every call binds.
pub struct Kernels {
    device: wgpu::Device,
    /// What the adapter offers the convolution family.
    pub class: AdapterClass,
    /// Tuning knobs (defaults: [`Tuning::for_adapter`]); tests and benchmarks change them.
    pub tuning: Tuning,
    pipelines: Arc<Mutex<HashMap<PipelineKey, Kernel>>>,
    /// Zeros, the bias of attention's products.
    pub(crate) zero_bias: crate::gpu::Weight,
    /// Bound where a kernel's optional input is unused.
    pub(crate) dummy: wgpu::Buffer,
    /// Bound as the pack kernels' overflow flag with f32 textures (apart from `dummy`, which
    /// the same dispatch may read).
    pub(crate) unused_flag: wgpu::Buffer,
}

impl Drop for Kernels {
    /// Frees the GPU memory now (see [`crate::gpu::Weight`]'s drop).
    fn drop(&mut self) {
        self.dummy.destroy();
        self.unused_flag.destroy();
        self.zero_bias.buf.destroy();
    }
}

impl Kernels {
    /// With the adapter's default tuning.
    pub fn new(gpu: &crate::gpu::Gpu) -> Kernels {
        let class = AdapterClass::of(gpu);
        Kernels::with_tuning(gpu, Tuning::for_adapter(class))
    }

    pub fn with_tuning(gpu: &crate::gpu::Gpu, tuning: Tuning) -> Kernels {
        let device = gpu.device();
        let buffer = |label| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            })
        };
        Kernels {
            device: device.clone(),
            class: AdapterClass::of(gpu),
            tuning,
            pipelines: Default::default(),
            zero_bias: crate::gpu::Weight::upload(
                device,
                gpu.queue(),
                "zero bias",
                &[0.0; tuning::ATTENTION_CHUNK_MAX as usize],
            ),
            dummy: buffer("unused input"),
            unused_flag: buffer("unused overflow flag"),
        }
    }

    /// The pipeline of `key`, made now if it has not been.
    pub fn get(&self, key: PipelineKey) -> Kernel {
        let mut pipelines = self.pipelines.lock().unwrap_or_else(|e| e.into_inner());
        pipelines
            .entry(key)
            .or_insert_with(|| make(&self.device, key))
            .clone()
    }

    /// Kernel `name` of [`SOURCES`] (f32 form).
    pub fn named(&self, name: &'static str) -> Kernel {
        self.get(PipelineKey::Named(name, Halves::default()))
    }

    /// Kernel `name` of [`SOURCES`] reading activations stored as f16 pairs if `store_f16`.
    pub fn named_store(&self, name: &'static str, store_f16: bool) -> Kernel {
        let halves = Halves {
            store: store_f16,
            ..Default::default()
        };
        self.get(PipelineKey::Named(name, halves))
    }

    /// The convolution form [`choose`] picks for these operand formats and output width,
    /// writing its output as f16 pairs if `output_f16`.
    pub fn conv(
        &self,
        input_f16: bool,
        weights_f16: bool,
        width: u32,
        output_f16: bool,
    ) -> (Kernel, ConvForm) {
        let form = ConvForm {
            output_f16,
            ..choose(self.class, &self.tuning, input_f16, weights_f16, width)
        };
        (self.get(PipelineKey::Conv(form)), form)
    }

    /// The pack kernel (`pack_input` or, if `weights`, `pack_weights`) for these texture and
    /// activation formats.
    pub fn pack(&self, weights: bool, halves: Halves) -> Kernel {
        let name = if weights {
            "pack_weights"
        } else {
            "pack_input"
        };
        self.get(PipelineKey::Named(name, halves))
    }

    /// The overflow flag a kernel of `rec` binds: the call's at f16 (see
    /// [`Recorder::overflow_flag`]), else one no one reads.
    pub fn overflow_flag(&self, rec: &crate::gpu::Recorder) -> Result<wgpu::Buffer> {
        Ok(rec
            .overflow_flag()?
            .unwrap_or_else(|| self.unused_flag.clone()))
    }

    /// Makes the pipelines a call at `precision` needs (all but forms for rarer layers, the
    /// f32-input forms an f16 overflow would need and unchunked attention), so that a first call
    /// does not wait for them. Natively on threads of their own, so that they compile while the
    /// weights stream (join them for the milliseconds it took): each convolution form on its own
    /// (lavapipe makes an f16 one in 0.4 s, the rest together in 0.03 s), the others on one. In
    /// the browser at once, where WebGPU compiles them in the GPU process anyway.
    pub fn prepare(&self, precision: Precision) -> Preparing {
        let f16 = precision == Precision::F16;
        // Not `attention`: the one-dispatch form, which runs only where the chunked form does
        // not fit (never at the VAE's sizes) and which a browser takes 0.7 s to compile.
        // At f16 activations are f16 pairs, but the model's inputs and outputs and attention's
        // operands are f32: the kernels that read or write activations, in both forms.
        let stores: &[bool] = if f16 { &[true, false] } else { &[false] };
        let named: Vec<PipelineKey> = (SOURCES.iter())
            .filter(|(name, _)| *name != "attention")
            .flat_map(|(name, _)| {
                let textures = f16 && name.starts_with("pack_");
                let forms = if STORES_F16.contains(name) {
                    stores
                } else {
                    &[false]
                };
                (forms.iter())
                    .map(move |&store| PipelineKey::Named(name, Halves { textures, store }))
            })
            .collect();
        // Wide rows, and narrow ones where the subgroup forms narrow their workgroup.
        let mut conv: Vec<PipelineKey> = Vec::new();
        for width in [u32::MAX, PIXELS] {
            let form = choose(self.class, &self.tuning, f16, f16, width);
            for &output_f16 in stores {
                let key = PipelineKey::Conv(ConvForm { output_f16, ..form });
                if !conv.contains(&key) {
                    conv.push(key);
                }
            }
        }
        let mut groups: Vec<Vec<PipelineKey>> = conv.into_iter().map(|key| vec![key]).collect();
        groups.push(named);
        let start = crate::clock::now_ms();
        let work = |keys: Vec<PipelineKey>| {
            let (device, cache) = (self.device.clone(), self.pipelines.clone());
            move || {
                for key in keys {
                    let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
                    if lock().contains_key(&key) {
                        continue;
                    }
                    // Made without the lock, so that the groups compile side by side.
                    let kernel = make(&device, key);
                    lock().entry(key).or_insert(kernel);
                }
                crate::clock::now_ms() - start
            }
        };
        #[cfg(not(target_arch = "wasm32"))]
        return Preparing(
            groups
                .into_iter()
                .map(|keys| std::thread::spawn(work(keys)))
                .collect(),
        );
        #[cfg(target_arch = "wasm32")]
        Preparing(
            groups
                .into_iter()
                .map(|keys| work(keys)())
                .fold(0.0, f64::max),
        )
    }
}

/// Pipelines being made by [`Kernels::prepare`].
#[cfg(not(target_arch = "wasm32"))]
pub struct Preparing(Vec<std::thread::JoinHandle<f64>>);
#[cfg(target_arch = "wasm32")]
pub struct Preparing(f64);

impl Preparing {
    /// Waits for them; the milliseconds from the start until the last was made.
    pub fn join(self) -> f64 {
        #[cfg(not(target_arch = "wasm32"))]
        return self
            .0
            .into_iter()
            .map(|h| h.join().unwrap_or(0.0))
            .fold(0.0, f64::max);
        #[cfg(target_arch = "wasm32")]
        self.0
    }
}

fn make(device: &wgpu::Device, key: PipelineKey) -> Kernel {
    let (name, constants) = match key {
        PipelineKey::Named(name, _) => (name, vec![]),
        PipelineKey::Conv(form) => {
            let [x, y] = form.workgroup;
            (form.name(), vec![("WGX", x as f64), ("WGY", y as f64)])
        }
    };
    Kernel::compile(device, name, &key.source(), &constants)
}

/// Workgroup counts for `n` items at `per_group` items a workgroup, folded into two dimensions
/// so that neither exceeds WebGPU's 65535; shaders recover the index as `x + y·num_workgroups.x·per_group`.
pub fn groups_1d(n: u64, per_group: u64) -> (u32, u32) {
    let total = n.div_ceil(per_group).max(1);
    let x = total.min(65535);
    (x as u32, total.div_ceil(x) as u32)
}
