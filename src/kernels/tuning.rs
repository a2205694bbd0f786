//! What a device offers the kernels and the knobs they are tuned by: a leaf that every launcher
//! may read, with the defaults measured on each class of adapter (docs/kernels.md).

/// Keys per chunk of the chunked attention: 32 chunks at 1024² (16384 tokens), each a 32 MiB
/// score block (fewer keys where the binding limit requires). 512 keys are 128 texture layers in
/// the second product, no more than the VAE's 512-channel convolutions: the shared input texture
/// does not grow for attention.
pub const ATTENTION_CHUNK: u32 = 512;
/// Most keys per chunk: 256 texture layers of 4 keys (WebGPU's default `maxTextureArrayLayers`).
pub const ATTENTION_CHUNK_MAX: u32 = 1024;

/// Knobs for benchmarks and tests; [`Tuning::for_adapter`] holds the measured defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// The convolution's workgroup shape (see [`super::ConvForm::workgroup`]).
    pub workgroup: [u32; 2],
    /// Use the subgroup forms where the adapter allows them.
    pub subgroups: bool,
    /// Stage weights in workgroup memory where no subgroup form runs.
    pub staged: bool,
    /// Input rows packed at a time: convolutions run in chunks of output rows that read at
    /// most this many, so that the one input texture stays small whatever the image size.
    pub rows: u32,
    /// Most input columns packed at a time (besides the device's texture width limit).
    pub cols: u32,
    /// Keys per chunk of the chunked attention; 0: `attention.wgsl` alone.
    pub attention_chunk: u32,
}

/// What the adapter offers the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdapterClass {
    /// A CPU implementation (lavapipe, SwiftShader, WARP).
    pub cpu: bool,
    /// Subgroups of exactly 8 invocations.
    pub subgroups_of_8: bool,
}

impl Tuning {
    /// The defaults measured on each class of adapter (docs/kernels.md): on CPUs 8×4 workgroups,
    /// weights shared across subgroups where there are subgroups of 8 (barriers cost more
    /// than the fetches staging saves: 3× slower on lavapipe), 64 rows a pack; on GPUs 8×8
    /// with weights staged in workgroup memory, 256 rows a pack (each pack → convolution is a
    /// pipeline drain).
    pub fn for_adapter(class: AdapterClass) -> Tuning {
        let (workgroup, staged, rows) = match class.cpu {
            true => ([8, 4], false, 64),
            false => ([8, 8], true, 256),
        };
        Tuning {
            workgroup,
            subgroups: true,
            staged,
            rows,
            cols: u32::MAX,
            attention_chunk: ATTENTION_CHUNK,
        }
    }
}

impl AdapterClass {
    /// The class of `gpu`'s adapter.
    pub fn of(gpu: &crate::gpu::Gpu) -> AdapterClass {
        AdapterClass {
            cpu: gpu.is_cpu(),
            // Not in the browser: the subgroup forms rely on wgpu's WGSL taking subgroup
            // built-ins without `enable subgroups;`.
            subgroups_of_8: cfg!(not(target_arch = "wasm32")) && gpu.has_subgroups_of(8),
        }
    }
}
