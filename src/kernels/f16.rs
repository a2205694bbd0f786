//! Precision::F16: the f16 forms of the pack shaders and of the texture convolution
//! (`conv2d_texture_oct.wgsl`, its operand sections swapped per format), and their pipelines.

use super::{pipeline, pipeline_from, source, Kernel};

/// What the texture convolution kernel reads: its weights and (packed) inputs as f32 or f16.
/// Activations between kernels, accumulation, GroupNorm and softmax statistics are f32 either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// Exact (the default).
    #[default]
    F32,
    /// Weights and every convolution's input rounded to f16 (8 values a rgba32uint texel:
    /// half the texture memory and half the fetches; no `shader-f16` needed), accumulated in
    /// f32. Weights beyond f16's range stay f32; a call in which an input exceeds it runs again
    /// with f32 inputs, and the model keeps them (see `Vae::precision`).
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

/// The f32 operand sections of `conv2d_texture_oct.wgsl` (see [`oct_source`]).
pub const OCT_IO: &str = include_str!("../shaders/conv2d_texture_oct_io.wgsl");

/// The f16 form of a pack shader (`pack_input.wgsl`, `pack_weights.wgsl`): rgba32uint texels,
/// the lines ending in `// f32` dropped and those starting with `// f16: ` uncommented; to be
/// made with the override `F16` true.
pub fn f16_source(src: &str) -> String {
    src.replace("rgba32float", "rgba32uint")
        .lines()
        .filter(|l| !l.trim_end().ends_with("// f32"))
        .map(|l| {
            let code = l.trim_start();
            match code.strip_prefix("// f16: ") {
                Some(rest) => format!("{}{rest}", &l[..l.len() - code.len()]),
                None => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The section `// io: name` .. next `// io:` marker of `src` (with its marker line).
fn io_section<'a>(src: &'a str, name: &str) -> &'a str {
    let marker = format!("// io: {name}\n");
    let Some(start) = src.find(&marker) else {
        return "";
    };
    let rest = &src[start + marker.len()..];
    &src[start..start + marker.len() + rest.find("// io:").unwrap_or(rest.len())]
}

/// `conv2d_texture_oct.wgsl` with f16 (rgba32uint, 8 values a texel) or f32 (the
/// rgba32float layouts of `conv2d_texture.wgsl`) input and weights.
pub fn oct_source(name: &str, in_f16: bool, weights_f16: bool) -> String {
    let mut src = source(name).to_string();
    for (name, f16) in [("in", in_f16), ("weights", weights_f16)] {
        if !f16 {
            let ours = io_section(&src, name).to_string();
            src = src.replacen(&ours, io_section(OCT_IO, name), 1);
        }
    }
    src
}

/// The kernels that read or write f16 textures (rgba32uint, 8 f16 values a texel).
pub struct F16Kernels {
    /// `pack_input.wgsl` and `pack_weights.wgsl` in their f16 form ([`f16_source`]), which
    /// report values beyond f16's range.
    pub pack_input: Kernel,
    pub pack_weights: Kernel,
    /// `conv2d_texture_oct.wgsl` ([`oct_source`]) for f16 input and weights.
    pub conv: Kernel,
    /// `conv2d_texture_oct_sg.wgsl`, the same sharing weight fetches across subgroups: made
    /// where `conv2d_texture_sg` is.
    pub conv_sg: Option<Kernel>,
    /// The same for f32 input and f16 weights (after an overflow), and for f16 input and f32
    /// weights (weights beyond f16's range): made when first needed.
    mixed: [std::sync::OnceLock<Kernel>; 2],
    /// `conv2d_texture_oct_wg.wgsl` for (input, weights) f16: [f32, f32 weights], [f32, f16],
    /// [f16, f32], [f16, f16] (the first is never made: that is `conv2d_texture_wg`).
    shared: [std::sync::OnceLock<Kernel>; 4],
    device: wgpu::Device,
    workgroup: [u32; 2],
}

impl F16Kernels {
    pub(crate) fn new(device: &wgpu::Device, workgroup: [u32; 2], sg: bool) -> F16Kernels {
        let pack = |name| {
            pipeline_from(
                device,
                name,
                f16_source(source(name)).into(),
                &[("F16", 1.0)],
            )
        };
        F16Kernels {
            pack_input: pack("pack_input"),
            pack_weights: pack("pack_weights"),
            conv: F16Kernels::oct(device, workgroup, true, true),
            conv_sg: sg.then(|| {
                let constants = [("WGX", workgroup[0] as f64), ("WGY", workgroup[1] as f64)];
                pipeline(device, "conv2d_texture_oct_sg", &constants)
            }),
            mixed: Default::default(),
            shared: Default::default(),
            device: device.clone(),
            workgroup,
        }
    }

    fn oct(device: &wgpu::Device, wg: [u32; 2], in_f16: bool, weights_f16: bool) -> Kernel {
        F16Kernels::oct_of(device, "conv2d_texture_oct", wg, in_f16, weights_f16)
    }

    fn oct_of(
        device: &wgpu::Device,
        name: &'static str,
        wg: [u32; 2],
        in_f16: bool,
        weights_f16: bool,
    ) -> Kernel {
        let constants = [("WGX", wg[0] as f64), ("WGY", wg[1] as f64)];
        let src = oct_source(name, in_f16, weights_f16).into();
        pipeline_from(device, name, src, &constants)
    }

    /// The workgroup form (weights staged in workgroup memory) for these operand formats.
    pub(crate) fn shared(&self, in_f16: bool, weights_f16: bool) -> &Kernel {
        self.shared[in_f16 as usize * 2 + weights_f16 as usize].get_or_init(|| {
            let name = "conv2d_texture_oct_wg";
            F16Kernels::oct_of(&self.device, name, self.workgroup, in_f16, weights_f16)
        })
    }

    /// The kernel for f16 input and f32 weights if `in_f16`, else the reverse.
    pub(crate) fn mixed(&self, in_f16: bool) -> &Kernel {
        self.mixed[in_f16 as usize]
            .get_or_init(|| F16Kernels::oct(&self.device, self.workgroup, in_f16, !in_f16))
    }
}
