//! The convolution family's key ([`ConvForm`]) and the one function that chooses it
//! ([`choose`]) for an adapter class under a [`Tuning`]. The forms, where each runs and what it was
//! measured to win are in docs/kernels.md; the source of each is `conv_wgsl::source`.

use super::tuning::{AdapterClass, Tuning};

/// Output pixels per invocation, along a row (8 output channels each): the register tile.
pub const PIXELS: u32 = 8;

/// What a model holds its values as: f32, or f16 weights, convolution inputs and activations.
/// Accumulation, GroupNorm and softmax statistics are f32 either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// Exact (the default).
    #[default]
    F32,
    /// Weights and every convolution's input rounded to f16 (8 values a rgba32uint texel:
    /// half the texture memory and half the fetches; no `shader-f16` needed), and activations
    /// between kernels held as f16 pairs (`gpu::Tensor`), accumulated in f32; the model's
    /// inputs and outputs and attention's operands stay f32. Weights beyond f16's range stay
    /// f32. A call in which an activation exceeds the range runs again with f32 activations,
    /// and where a convolution's input does, with f32 inputs too; the model keeps them (see
    /// `Vae::precision`, `Vae::f16_activations`).
    F16,
}

impl Precision {
    /// Its name on the command line and in JS: `f32` or `f16`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        }
    }
}

/// How a workgroup shares the weight texels that all its invocations read at each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Staging {
    /// Every invocation fetches them (CPU adapters without subgroups of 8: SwiftShader).
    Plain,
    /// Fetched once per subgroup of 8 and broadcast (CPU adapters with them: lavapipe).
    Subgroup,
    /// Staged in workgroup memory (GPUs).
    Workgroup,
}

impl Staging {
    /// Its name on the command line and in JS: `plain`, `subgroups` or `workgroup`.
    pub fn name(self) -> &'static str {
        match self {
            Staging::Plain => "plain",
            Staging::Subgroup => "subgroups",
            Staging::Workgroup => "workgroup",
        }
    }
}

/// One member of the convolution family: one source, one pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvForm {
    /// The packed input is f16 (8 values a rgba32uint texel) rather than f32.
    pub input_f16: bool,
    /// The weight texture is f16.
    pub weights_f16: bool,
    /// The output (and a residual read from another tensor) is held as f16 pairs (see
    /// [`crate::gpu::Tensor`]).
    pub output_f16: bool,
    pub staging: Staging,
    /// x: groups of [`PIXELS`] pixels along a row, y: rows.
    pub workgroup: [u32; 2],
}

impl ConvForm {
    /// f32 operands, 4 channels a texel (else 8 channels a step, either format: an `Oct`).
    pub fn quad(&self) -> bool {
        !self.input_f16 && !self.weights_f16
    }

    /// Its pipeline's label (forms of other formats or workgroups share one).
    pub fn name(&self) -> &'static str {
        match (self.quad(), self.staging) {
            (true, Staging::Plain) => "conv2d",
            (true, Staging::Subgroup) => "conv2d_sg",
            (true, Staging::Workgroup) => "conv2d_wg",
            (false, Staging::Plain) => "conv2d_oct",
            (false, Staging::Subgroup) => "conv2d_oct_sg",
            (false, Staging::Workgroup) => "conv2d_oct_wg",
        }
    }
}

/// The form that runs a convolution with these operand formats and an output `width` pixels
/// wide. The subgroup forms run where the adapter is a CPU with subgroups of 8, for workgroups
/// of whole subgroups and equal operand formats; rows of at most half the workgroup's width
/// take a workgroup half as wide and twice as tall, whose lanes would otherwise idle (lavapipe:
/// about 2× on 32² layers). Elsewhere weights are staged if `tuning.staged`, else plain.
pub fn choose(
    class: AdapterClass,
    tuning: &Tuning,
    input_f16: bool,
    weights_f16: bool,
    width: u32,
) -> ConvForm {
    let [wx, wy] = tuning.workgroup;
    let subgroups = tuning.subgroups
        && class.cpu
        && class.subgroups_of_8
        && (wx * wy).is_multiple_of(8)
        && input_f16 == weights_f16;
    let (staging, workgroup) = if subgroups {
        let narrow = wx.is_multiple_of(2) && width.div_ceil(PIXELS) <= wx / 2;
        let shape = if narrow { [wx / 2, wy * 2] } else { [wx, wy] };
        (Staging::Subgroup, shape)
    } else if tuning.staged {
        (Staging::Workgroup, [wx, wy])
    } else {
        (Staging::Plain, [wx, wy])
    };
    ConvForm {
        input_f16,
        weights_f16,
        output_f16: false,
        staging,
        workgroup,
    }
}
