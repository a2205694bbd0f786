//! Records one encode or decode into a single command encoder (one submission), catches
//! validation and out-of-memory errors with error scopes, and reads results back with
//! `map_async` (awaited, never blocking on the web).

use super::plan::{assign, Plan, PlanLog, PlannedBuffers};
use super::texture::TEXTURE_SLOTS;
use super::{BufferPool, Gpu, Halves, Tensor, Weight};
use crate::error::{Error, Result};
use std::sync::Arc;
use wgpu::util::DeviceExt;

mod alloc;
mod deferred;
mod readback;
mod run;
mod transient;
use deferred::{keep, Deferred, Real, StandIns};
use readback::{pop_scopes, Scopes};
pub use run::CallControl;
use transient::Transient;

/// A buffer bound to a kernel, in binding order; the uniform parameters follow the last one.
#[derive(Clone)]
pub enum Bind<'b> {
    /// A tensor held whole (one band).
    Tensor(&'b Tensor),
    /// Band `i` of a tensor: its `[c, rows, w]` buffer.
    Band(&'b Tensor, usize),
    Weight(&'b Weight),
    Raw(&'b wgpu::Buffer),
    /// A texture view (sampled or storage, as the kernel declares it).
    Texture(&'b wgpu::TextureView),
}

/// Band `i` of `t` as bound: its buffer, up to the tensor's bytes.
fn band_binding(t: &Tensor, i: usize) -> Real {
    Real::Buffer(t.bands()[i].buffer().clone(), Some(t.band_bytes(i).max(4)))
}

/// Where a recording's activation buffers come from. (One per recording, so the planning
/// variant's size does not matter.)
#[allow(clippy::large_enum_variant)]
enum Alloc {
    /// No activation is allocated and nothing is encoded: requests are logged for [`assign`],
    /// and the work is kept, to be encoded by [`Recorder::run`].
    Planning {
        log: PlanLog,
        stand_in: wgpu::Buffer,
        /// The largest texture of each slot asked for (width, height, layers), and what stands
        /// in for each slot's texture.
        textures: [[u32; 3]; TEXTURE_SLOTS],
        stand_ins: StandIns,
        ops: Vec<Deferred>,
    },
    /// The buffers of the plan a planning recording ran with (tensors made after the run, such
    /// as a result gathered into one buffer, take pool buffers).
    Planned(PlannedBuffers),
}

pub struct Recorder<'g> {
    pub(crate) gpu: &'g Gpu,
    pub(crate) pool: Arc<BufferPool>,
    pub(super) encoder: wgpu::CommandEncoder,
    scopes: Scopes,
    alloc: Alloc,
    /// Dispatches recorded so far.
    pub dispatches: u32,
    /// An f16 call's overflow flag (the pool's), cleared when recording began and read with
    /// the result.
    guard: Option<wgpu::Buffer>,
    /// What this recording made for itself, destroyed when it ends.
    transient: Transient,
    /// Whether commands were encoded since the last submission.
    encoded: bool,
    /// An out-of-core run's staging buffer, made at its first store.
    staging: Option<wgpu::Buffer>,
    /// Bytes of the inputs uploaded for this recording (pixels, latents, each dispatch's
    /// parameters), held to its end.
    pub uploaded: u64,
    /// Whether the latest pass over a tensor's bands went last to first (see [`Recorder::pass`]).
    reverse: bool,
    /// Most bytes a row band's buffer may hold in this call (the binding limit, or less where
    /// the caller banded the call finer): kernels that re-band a tensor stay within it.
    pub band_limit: u64,
    /// What this call runs at (see [`Halves`]).
    pub halves: Halves,
    /// Whether the activations kernels make now are f16 (see [`Tensor`]): `halves.store`, but
    /// f32 for the model's outputs and attention's operands (`model::Ops::f32_outputs`).
    pub store_f16: bool,
}

impl<'g> Recorder<'g> {
    /// The recording that encodes what a planning one kept ([`Recorder::run`]).
    fn encoding(gpu: &'g Gpu, pool: Arc<BufferPool>, halves: Halves) -> Result<Recorder<'g>> {
        gpu.check_lost()?;
        let gpu_pool = pool.clone();
        let scopes = Scopes::push(&gpu.device);
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        let guard = halves.textures.then(|| pool.overflow_flag()).transpose()?;
        if let Some(flag) = &guard {
            encoder.clear_buffer(flag, 0, None);
        }
        Ok(Recorder {
            gpu,
            pool,
            encoder,
            scopes,
            dispatches: 0,
            alloc: Alloc::Planned(PlannedBuffers::holding(&gpu_pool, Vec::new())),
            encoded: guard.is_some(),
            guard,
            transient: Transient::new(&gpu_pool),
            staging: None,
            uploaded: 0,
            reverse: false,
            band_limit: u64::MAX,
            halves,
            store_f16: halves.store,
        })
    }

    /// A recording of a call run at `halves`: it logs its buffer requests (see
    /// [`Recorder::plan`]) and keeps its work for [`Recorder::run`]; no activation is allocated
    /// and nothing is encoded until then.
    pub fn new(gpu: &'g Gpu, pool: Arc<BufferPool>, halves: Halves) -> Result<Recorder<'g>> {
        gpu.check_lost()?;
        let stand_in = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("planning stand-in"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let mut transient = Transient::new(&pool);
        transient.buffer(&stand_in);
        let stand_ins = [(); TEXTURE_SLOTS].map(|_| {
            let usage = wgpu::TextureUsages::TEXTURE_BINDING;
            let (texture, view) =
                super::texture::float_array(&gpu.device, "stand-in", [1, 1, 1], false, usage);
            transient.texture(texture);
            view
        });
        Ok(Recorder {
            gpu,
            pool,
            encoder: gpu.device.create_command_encoder(&Default::default()),
            scopes: Scopes(Vec::new()),
            dispatches: 0,
            guard: None,
            alloc: Alloc::Planning {
                log: Default::default(),
                stand_in,
                textures: [[0; 3]; TEXTURE_SLOTS],
                stand_ins,
                ops: Vec::new(),
            },
            transient,
            encoded: false,
            staging: None,
            uploaded: 0,
            reverse: false,
            band_limit: u64::MAX,
            halves,
            store_f16: halves.store,
        })
    }

    /// Whether this recording has not run yet (see [`Recorder::run`]).
    pub fn is_planning(&self) -> bool {
        matches!(self.alloc, Alloc::Planning { .. })
    }

    /// The buffer plan of a planning recording: tensors still held are alive to the end.
    pub fn plan(&self) -> Result<Plan> {
        match &self.alloc {
            Alloc::Planning { log, textures, .. } => {
                let log = log
                    .lock()
                    .map_err(|_| Error::Input("plan log poisoned".into()))?;
                Ok(Plan {
                    textures: *textures,
                    ..assign(&log.events)
                })
            }
            _ => Err(Error::Input("internal: not a planning recording".into())),
        }
    }

    /// The order of a pass over `n` row bands: each pass runs the other way from the one
    /// before, so that a pass begins with the bands the previous one touched last — those an
    /// out-of-core run still holds on the GPU. Results do not depend on the order.
    pub fn pass(&mut self, n: usize) -> Vec<usize> {
        if n < 2 {
            return (0..n).collect();
        }
        self.reverse = !self.reverse;
        match self.reverse {
            true => (0..n).rev().collect(),
            false => (0..n).collect(),
        }
    }

    /// A storage buffer holding `data` (inputs such as image pixels), for this recording only.
    pub fn upload(&mut self, label: &str, data: &[u8]) -> wgpu::Buffer {
        let contents: Vec<u8> = if data.len() < 16 {
            [data, &[0u8; 16][data.len()..]].concat()
        } else {
            data.to_vec()
        };
        let buffer = self
            .gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: &contents,
                usage: wgpu::BufferUsages::STORAGE,
            });
        self.transient.buffer(&buffer);
        self.uploaded += buffer.size();
        buffer
    }

    /// Records a copy of `data` into `t` (held whole), ordered after everything recorded so far.
    pub fn copy_in(&mut self, data: &[u8], t: &Tensor) {
        if let Alloc::Planning { stand_ins, ops, .. } = &mut self.alloc {
            self.uploaded += data.len() as u64;
            ops.push(Deferred::CopyIn {
                data: data.to_vec(),
                dst: keep(&Bind::Tensor(t), stand_ins),
            });
            return;
        }
        let dst = t.buffer().clone();
        self.copy_bytes(data, &dst);
    }

    /// Records a copy of `data` into the start of `dst`.
    fn copy_bytes(&mut self, data: &[u8], dst: &wgpu::Buffer) {
        let bytes = (data.len() as u64).next_multiple_of(4);
        if bytes == 0 {
            return;
        }
        let mut contents = data.to_vec();
        contents.resize(bytes as usize, 0);
        let src = self
            .gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("upload"),
                contents: &contents,
                usage: wgpu::BufferUsages::COPY_SRC,
            });
        self.encoder
            .copy_buffer_to_buffer(&src, 0, dst, 0, Some(bytes));
        self.encoded = true;
        self.transient.buffer(&src);
    }

    /// Records one dispatch of `kernel` with `binds` at bindings 0.. and `params` as a uniform
    /// buffer at the next binding.
    pub fn dispatch(
        &mut self,
        kernel: &crate::gpu::Kernel,
        binds: &[Bind],
        params: &[u8],
        groups: [u32; 3],
    ) {
        if let Alloc::Planning { stand_ins, ops, .. } = &mut self.alloc {
            // Each dispatch's parameters become a uniform buffer of the run.
            self.uploaded += params.len() as u64;
            ops.push(Deferred::Dispatch {
                kernel: kernel.clone(),
                binds: binds.iter().map(|b| keep(b, stand_ins)).collect(),
                params: params.to_vec(),
                groups,
            });
            self.dispatches += 1;
            return;
        }
        let real: Vec<Real> = binds
            .iter()
            .map(|b| match b {
                Bind::Tensor(t) => band_binding(t, 0),
                Bind::Band(t, i) => band_binding(t, *i),
                Bind::Weight(w) => Real::Buffer(w.buf.clone(), None),
                Bind::Raw(b) => Real::Buffer((*b).clone(), None),
                Bind::Texture(v) => Real::View((*v).clone()),
            })
            .collect();
        self.encode_dispatch(kernel, &real, params, groups);
    }

    /// Encodes one dispatch of `kernel` with `binds` at bindings 0.. and `params` as a uniform
    /// buffer at the next binding.
    fn encode_dispatch(
        &mut self,
        kernel: &crate::gpu::Kernel,
        binds: &[Real],
        params: &[u8],
        groups: [u32; 3],
    ) {
        let device = &self.gpu.device;
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: params,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        self.transient.buffer(&uniform);
        let mut entries: Vec<wgpu::BindGroupEntry> = binds
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.binding(),
            })
            .collect();
        entries.push(wgpu::BindGroupEntry {
            binding: binds.len() as u32,
            resource: uniform.as_entire_binding(),
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &kernel.layout,
            entries: &entries,
        });
        #[cfg(not(target_arch = "wasm32"))]
        let profiling = self
            .gpu
            .profile
            .lock()
            .map(|p| p.is_some())
            .unwrap_or(false);
        #[cfg(not(target_arch = "wasm32"))]
        if profiling {
            self.run_now("copies");
        }
        {
            let mut pass = self.encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        self.encoded = true;
        self.dispatches += 1;
        #[cfg(not(target_arch = "wasm32"))]
        if profiling {
            self.run_now(kernel.name);
        }
    }

    /// Finishes the recording without submitting it and reports the first validation or
    /// out-of-memory error (a dry run: what a call would allocate and record).
    pub async fn validate(self) -> Result<()> {
        let Recorder {
            gpu,
            encoder,
            mut scopes,
            ..
        } = self;
        drop(encoder.finish());
        pop_scopes(gpu, &mut scopes).await
    }
}
