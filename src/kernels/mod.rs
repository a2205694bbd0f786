//! Kernel launchers: one per `.wgsl` file in `src/shaders`, same name. A launcher takes tensors,
//! weights and parameters (never model structs), checks shapes, and records one or two dispatches.

pub mod attention;
pub mod conv2d;
pub mod conv2d_texture;
pub mod conv_weights;
pub mod copy_rows;
pub mod f16;
pub mod group_norm;
pub mod image;
pub mod pack_input;
pub mod posterior;

pub use f16::{f16_source, oct_source, F16Kernels, Precision};

/// Every shader source, by kernel name.
pub const SOURCES: &[(&str, &str)] = &[
    ("conv2d", include_str!("../shaders/conv2d.wgsl")),
    (
        "conv2d_uniform",
        include_str!("../shaders/conv2d_uniform.wgsl"),
    ),
    (
        "conv2d_texture",
        include_str!("../shaders/conv2d_texture.wgsl"),
    ),
    // Subgroups are native only: not in the web build.
    #[cfg(not(target_arch = "wasm32"))]
    (
        "conv2d_texture_sg",
        include_str!("../shaders/conv2d_texture_sg.wgsl"),
    ),
    (
        "conv2d_texture_wg",
        include_str!("../shaders/conv2d_texture_wg.wgsl"),
    ),
    (
        "conv2d_texture_oct_wg",
        include_str!("../shaders/conv2d_texture_oct_wg.wgsl"),
    ),
    (
        "conv2d_texture_oct",
        include_str!("../shaders/conv2d_texture_oct.wgsl"),
    ),
    // Subgroups are native only: not in the web build.
    #[cfg(not(target_arch = "wasm32"))]
    (
        "conv2d_texture_oct_sg",
        include_str!("../shaders/conv2d_texture_oct_sg.wgsl"),
    ),
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
];

/// A compute pipeline and its bind group layout, both made once.
pub struct Kernel {
    /// The shader's name, as in [`SOURCES`].
    pub name: &'static str,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// The compute pipelines, created once per device and reused by every call.
pub struct Kernels {
    /// Which convolution kernel these kernels use.
    pub variant: ConvVariant,
    /// `conv2d.wgsl`: weights in a storage buffer.
    pub conv2d: Kernel,
    /// `conv2d_uniform.wgsl`, made for [`ConvVariant::Uniform`] only.
    pub conv2d_uniform: Option<Kernel>,
    /// Fewest workgroups per dispatch for which `conv2d_uniform` is used (tests lower it).
    pub uniform_min_workgroups: u32,
    /// `conv2d_texture.wgsl`, used for convolutions whose weights have a texture (model
    /// weights under [`ConvVariant::Texture`]; attention's products everywhere).
    pub conv2d_texture: Kernel,
    /// `conv2d_texture_sg.wgsl`, the same sharing weight fetches across subgroups of 8: made on
    /// CPU adapters with such subgroups (lavapipe) for workgroups of a multiple of 8
    /// invocations, used instead where `texture_subgroups`.
    pub conv2d_texture_sg: Option<Kernel>,
    /// Whether the texture convolutions use `conv2d_texture_sg` where it was made (tests turn
    /// it off to check the other).
    pub texture_subgroups: bool,
    /// Whether the texture convolutions stage their weights in workgroup memory
    /// (`conv2d_texture_wg.wgsl`, `conv2d_texture_oct_wg.wgsl`, made when first needed) where no
    /// subgroup form applies: on by default on GPUs, whose plain kernel is bound by texel
    /// fetches; off on CPU adapters, where barriers cost more than the fetches they save (3×
    /// slower on lavapipe; tests turn it on there to check it).
    pub texture_shared: bool,
    /// `conv2d_texture_wg.wgsl`, made when first needed.
    conv2d_texture_wg: std::sync::OnceLock<Kernel>,
    /// `conv2d_texture.wgsl`'s workgroup shape (x: groups of 8 pixels along a row, y: rows).
    pub texture_workgroup: [u32; 2],
    /// The subgroup forms (f32, f16) half as wide and twice as tall, for rows of at most half
    /// the workgroup's width (see [`Kernels::texture_conv`]): made when first needed.
    narrow_sg: [std::sync::OnceLock<Kernel>; 2],
    device: wgpu::Device,
    /// Input rows the texture kernel packs at a time (see [`conv2d_texture::TEXTURE_ROWS_CPU`]; tests
    /// lower it to exercise the row chunks).
    pub texture_rows: u32,
    /// Most input columns the texture kernel packs at a time (besides the device's texture
    /// width limit, which always applies; tests lower it to exercise the column chunks).
    pub texture_cols: u32,
    /// `pack_input.wgsl`: the texture convolution's input.
    pub pack_input: Kernel,
    /// `pack_weights.wgsl`: attention's keys and values as texture convolution weights.
    pub pack_weights: Kernel,
    /// The kernels of f16 textures, made for [`Precision::F16`] only.
    pub f16: Option<F16Kernels>,
    pub group_norm_stats: Kernel,
    pub group_norm_merge: Kernel,
    pub group_norm_apply: Kernel,
    /// `attention.wgsl`: attention in one dispatch, where the chunked form does not fit.
    pub attention: Kernel,
    /// `attention_softmax.wgsl`: the online softmax of the chunked attention.
    pub attention_softmax: Kernel,
    /// Keys per chunk of the chunked attention (see [`attention::attention`]); 0 uses
    /// `attention.wgsl` alone (tests vary it).
    pub attention_chunk: u32,
    /// Zeros, the bias of attention's products.
    pub(crate) zero_bias: crate::gpu::Weight,
    pub image_to_tensor: Kernel,
    pub tensor_to_image: Kernel,
    pub posterior: Kernel,
    pub copy_rows: Kernel,
    /// Bound where a kernel's optional input is unused.
    pub(crate) dummy: wgpu::Buffer,
    /// Bound as the pack kernels' overflow flag with f32 textures (apart from `dummy`, which
    /// the same dispatch may read).
    pub(crate) unused_flag: wgpu::Buffer,
}

pub(crate) fn pipeline(
    device: &wgpu::Device,
    name: &'static str,
    constants: &[(&str, f64)],
) -> Kernel {
    pipeline_from(device, name, source(name).into(), constants)
}

/// The source of kernel `name` (see [`SOURCES`]).
pub(crate) fn source(name: &str) -> &'static str {
    SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .unwrap_or_default()
}

pub(crate) fn pipeline_from(
    device: &wgpu::Device,
    name: &'static str,
    src: std::borrow::Cow<'static, str>,
    constants: &[(&str, f64)],
) -> Kernel {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(name),
        source: wgpu::ShaderSource::Wgsl(src),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(name),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            ..Default::default()
        },
        cache: None,
    });
    let layout = pipeline.get_bind_group_layout(0);
    Kernel {
        name,
        pipeline,
        layout,
    }
}

/// Which convolution kernel a device gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvVariant {
    /// Weights in one storage buffer, every block of output channels in one dispatch.
    Storage,
    /// Weights through 64 KiB uniform windows, one dispatch per block and window, for the 3×3
    /// stride-1 convolutions large enough to keep every core busy (storage otherwise): faster
    /// where storage loads are gathers (CPU drivers), more dispatches.
    Uniform,
    /// Every convolution's input packed into an rgba32float texture (4 channels a texel,
    /// normalised, zero border) and its weights in a texture made at load time, one dispatch
    /// per convolution: the fastest measured everywhere — lavapipe (2.6× storage over a 256²
    /// decode: a texel fetch costs about one per-lane storage load and brings 4 values) and an
    /// H100 through Vulkan (1.4× at 1024², 1.8× at 512²). Inputs are packed in chunks of rows
    /// (and of columns past the texture width limit), so the one input texture stays small;
    /// weights are textures only (the storage kernel serves only inputs of more channels than
    /// the texture layer limit holds, where the weights must be buffers: such a model errors).
    Texture,
}

impl ConvVariant {
    /// Its name on the command line: `storage`, `uniform` or `texture`.
    pub fn name(self) -> &'static str {
        match self {
            ConvVariant::Storage => "storage",
            ConvVariant::Uniform => "uniform",
            ConvVariant::Texture => "texture",
        }
    }

    /// The default: `Texture` on every adapter (see there; `Storage` holds less memory).
    pub fn for_gpu(_gpu: &crate::gpu::Gpu) -> ConvVariant {
        ConvVariant::Texture
    }
}

impl Kernels {
    pub fn new(gpu: &crate::gpu::Gpu) -> Kernels {
        Kernels::with_conv(gpu, ConvVariant::for_gpu(gpu))
    }

    pub fn with_conv(gpu: &crate::gpu::Gpu, conv: ConvVariant) -> Kernels {
        Kernels::build(gpu, conv, None, Precision::F32)
    }

    /// The f16 kernels, or an error naming `what` needed them.
    fn f16_kernels(&self, what: &str) -> crate::Result<&F16Kernels> {
        self.f16
            .as_ref()
            .ok_or_else(|| crate::Error::Input(format!("internal: {what} without f16 kernels")))
    }

    /// The pack kernel (`pack_input` or, if `weights`, `pack_weights`) for the pool's texture
    /// format, and the overflow flag to bind with it (the pool's with f16 textures); also
    /// whether the textures are f16.
    pub fn pack(
        &self,
        weights: bool,
        pool: &crate::gpu::BufferPool,
    ) -> crate::Result<(&Kernel, wgpu::Buffer, bool)> {
        let flag = pool.overflow_flag();
        let kernel = match (flag.is_some(), weights) {
            (false, false) => &self.pack_input,
            (false, true) => &self.pack_weights,
            (true, false) => &self.f16_kernels("f16 textures")?.pack_input,
            (true, true) => &self.f16_kernels("f16 textures")?.pack_weights,
        };
        let f16 = flag.is_some();
        Ok((
            kernel,
            flag.unwrap_or_else(|| self.unused_flag.clone()),
            f16,
        ))
    }

    /// With the texture kernel's workgroup shape (default: [`conv2d_texture::TEXTURE_WORKGROUP_CPU`] on
    /// CPU adapters, [`conv2d_texture::TEXTURE_WORKGROUP_GPU`] elsewhere), and the f16 pack
    /// kernels if `precision` is [`Precision::F16`].
    pub fn build(
        gpu: &crate::gpu::Gpu,
        conv: ConvVariant,
        texture_workgroup: Option<[u32; 2]>,
        precision: Precision,
    ) -> Kernels {
        let device = gpu.device();
        let twg = texture_workgroup.unwrap_or(if gpu.is_cpu() {
            conv2d_texture::TEXTURE_WORKGROUP_CPU
        } else {
            conv2d_texture::TEXTURE_WORKGROUP_GPU
        });
        let wg_constants = [("WGX", twg[0] as f64), ("WGY", twg[1] as f64)];
        // The subgroup forms: on CPU adapters with subgroups of 8, for whole subgroups only (a
        // workgroup of a multiple of 8 invocations).
        let sg = gpu.is_cpu() && gpu.has_subgroups_of(8) && (twg[0] * twg[1]).is_multiple_of(8);
        Kernels {
            variant: conv,
            conv2d: pipeline(device, "conv2d", &[]),
            conv2d_uniform: (conv == ConvVariant::Uniform)
                .then(|| pipeline(device, "conv2d_uniform", &[])),
            uniform_min_workgroups: conv2d::UNIFORM_MIN_WORKGROUPS,
            conv2d_texture: pipeline(device, "conv2d_texture", &wg_constants),
            conv2d_texture_sg: sg.then(|| pipeline(device, "conv2d_texture_sg", &wg_constants)),
            texture_subgroups: true,
            texture_shared: !gpu.is_cpu(),
            conv2d_texture_wg: Default::default(),
            texture_workgroup: twg,
            narrow_sg: Default::default(),
            device: device.clone(),
            texture_cols: u32::MAX,
            texture_rows: if gpu.is_cpu() {
                conv2d_texture::TEXTURE_ROWS_CPU
            } else {
                conv2d_texture::TEXTURE_ROWS_GPU
            },
            pack_input: pipeline(device, "pack_input", &[]),
            pack_weights: pipeline(device, "pack_weights", &[]),
            f16: (precision == Precision::F16).then(|| F16Kernels::new(device, twg, sg)),
            group_norm_stats: pipeline(device, "group_norm_stats", &[]),
            group_norm_merge: pipeline(device, "group_norm_merge", &[]),
            group_norm_apply: pipeline(device, "group_norm_apply", &[]),
            attention: pipeline(device, "attention", &[]),
            attention_softmax: pipeline(device, "attention_softmax", &[]),
            attention_chunk: attention::CHUNK,
            zero_bias: crate::gpu::Weight::upload(
                device,
                gpu.queue(),
                "zero bias",
                &[0.0; attention::CHUNK_MAX as usize],
            ),
            image_to_tensor: pipeline(device, "image_to_tensor", &[]),
            tensor_to_image: pipeline(device, "tensor_to_image", &[]),
            posterior: pipeline(device, "posterior", &[]),
            copy_rows: pipeline(device, "copy_rows", &[]),
            dummy: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("unused input"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            }),
            unused_flag: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("unused overflow flag"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            }),
        }
    }
}

/// Workgroup counts for `n` items at `per_group` items a workgroup, folded into two dimensions
/// so that neither exceeds WebGPU's 65535; shaders recover the index as `x + y·num_workgroups.x·per_group`.
pub fn groups_1d(n: u64, per_group: u64) -> (u32, u32) {
    let total = n.div_ceil(per_group).max(1);
    let x = total.min(65535);
    (x as u32, total.div_ceil(x) as u32)
}
