//! A compiled compute pipeline and its bind group layout. Which WGSL becomes which pipeline is
//! the kernel layer's decision ([`crate::kernels`]); this layer compiles it and records with it.

/// A compute pipeline and its bind group layout.
#[derive(Clone)]
pub struct Kernel {
    /// The shader's name (profiles group dispatches by it).
    pub name: &'static str,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    /// Bit `i` set where binding `i` is a `read_write` storage buffer: what a dispatch may
    /// write, which tells out-of-core runs which activations it changes.
    pub writes: u32,
}

/// The bindings a WGSL source declares `var<storage, read_write>`, as a bit mask.
pub fn written_bindings(source: &str) -> u32 {
    let mut mask = 0;
    for line in source.lines() {
        let Some(at) = line.find("@binding(") else {
            continue;
        };
        let rest = &line[at + "@binding(".len()..];
        let n = rest
            .split(')')
            .next()
            .and_then(|n| n.trim().parse::<u32>().ok());
        if let (Some(n), true) = (n, line.contains("read_write")) {
            mask |= 1u32.checked_shl(n).unwrap_or(0);
        }
    }
    mask
}

impl Kernel {
    /// Compiles `source` (entry point `main`) with its pipeline-overridable `constants`.
    pub fn compile(
        device: &wgpu::Device,
        name: &'static str,
        source: &str,
        constants: &[(&str, f64)],
    ) -> Kernel {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
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
            writes: written_bindings(source),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn read_write_bindings_are_found() {
        let src = "@group(0) @binding(0) var<storage, read> a: array<f32>;\n\
                   @group(0) @binding(2) var<storage, read_write> b: array<f32>;\n\
                   @group(0) @binding(3) var t: texture_storage_2d_array<rgba32float, write>;";
        assert_eq!(super::written_bindings(src), 0b100);
    }
}
