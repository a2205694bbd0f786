//! A compiled compute pipeline and its bind group layout. Which WGSL becomes which pipeline is
//! the kernel layer's decision ([`crate::kernels`]); this layer compiles it and records with it.

/// A compute pipeline and its bind group layout.
#[derive(Clone)]
pub struct Kernel {
    /// The shader's name (profiles group dispatches by it).
    pub name: &'static str,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
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
        }
    }
}
