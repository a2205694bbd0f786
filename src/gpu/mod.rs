//! GPU context (acquired once, passed everywhere), tensors with a reusable buffer pool, command
//! recording and readback. Everything wgpu-specific lives here and in `kernels`.

pub mod host;
mod kernel;
mod owned;
pub mod paging;
pub mod plan;
mod pool;
mod profile;
mod recorder;
mod tensor;
mod texture;

pub use kernel::Kernel;

/// Which operands are f16: textures (the convolutions' packed inputs, rgba32uint texels of 8
/// values; a kernel's `#if F16` form) and activations (f16 pairs of channels, see [`Tensor`]; a
/// kernel's `#if STORE_F16` form). For a call, what it runs at; for a kernel of
/// `kernels::SOURCES`, its form. The default: f32 throughout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Halves {
    pub textures: bool,
    pub store: bool,
}
pub use owned::{Owned, Weight};
pub use pool::BufferPool;
pub use profile::KernelTime;
pub use recorder::{Bind, CallControl, Recorder};
pub use tensor::{check_starts, pack_f16, planes, unpack_f16, Band, Storage, Tensor};
pub(crate) use texture::float_array;
pub use texture::{texture_bytes, TextureSlot, DEEP_LAYERS};

use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};

/// Which device limits to request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LimitsChoice {
    /// Everything the adapter offers (the default).
    #[default]
    Adapter,
    /// Only WebGPU's default limits (128 MiB per binding, 256 MiB per buffer), as a browser on a
    /// modest adapter grants.
    WebGpuDefault,
}

/// Which optional device features to request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FeaturesChoice {
    /// Those the engine uses where the adapter has them (the default): subgroups, with which
    /// the convolutions share weight fetches on CPU adapters.
    #[default]
    Adapter,
    /// None, as on an adapter that has none of them (Safari's, without subgroups): the forms
    /// are then those that need no optional feature.
    None,
}

#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    pub limits: LimitsChoice,
    pub features: FeaturesChoice,
}

/// The GPU context: device, queue and what went wrong on them asynchronously.
#[derive(Clone)]
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    /// Set by the device-lost callback; checked before and after every submission.
    lost: Arc<Mutex<Option<String>>>,
    /// Time per kernel while profiling (see [`Gpu::set_profiling`]).
    pub(crate) profile: Arc<Mutex<Option<Vec<KernelTime>>>>,
}

impl Gpu {
    /// Requests an adapter (high performance preferred; `WGPU_BACKEND` etc. honoured natively) and
    /// a device with the chosen limits.
    pub async fn new(opts: &GpuOptions) -> Result<Gpu> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::NoAdapter(e.to_string()))?;
        let required_limits = match opts.limits {
            LimitsChoice::Adapter => adapter.limits(),
            LimitsChoice::WebGpuDefault => wgpu::Limits::default(),
        };
        // Subgroups (native only) let the convolutions share weight fetches on CPU adapters.
        let required_features = match opts.features {
            FeaturesChoice::Adapter => adapter.features() & wgpu::Features::SUBGROUP,
            FeaturesChoice::None => wgpu::Features::empty(),
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("sdxl-vae"),
                required_features,
                required_limits,
                memory_hints: wgpu::MemoryHints::Performance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Device(e.to_string()))?;
        Ok(Self::from_device(device, queue, adapter.get_info()))
    }

    /// Wraps a device the caller already owns.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, info: wgpu::AdapterInfo) -> Gpu {
        let lost = Arc::new(Mutex::new(None));
        let flag = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut l) = flag.lock() {
                let cause = match reason {
                    wgpu::DeviceLostReason::Destroyed => "the device was destroyed",
                    _ => "the driver or browser gave it up",
                };
                *l = Some(match message.trim() {
                    "" => cause.to_string(),
                    m => format!("{cause} ({m})"),
                });
            }
        });
        device.on_uncaptured_error(Arc::new(|e| log::error!("uncaptured GPU error: {e}")));
        Gpu {
            device,
            queue,
            info,
            lost,
            profile: Arc::new(Mutex::new(None)),
        }
    }

    /// Adapter name and backend, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)".
    pub fn adapter_name(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }

    /// Whether the device has subgroups of exactly `size` invocations.
    pub fn has_subgroups_of(&self, size: u32) -> bool {
        self.device.features().contains(wgpu::Features::SUBGROUP)
            && self.info.subgroup_min_size == size
            && self.info.subgroup_max_size == size
    }

    /// Whether the adapter is a CPU implementation (lavapipe, SwiftShader, WARP).
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// The largest tensor one binding may hold, in bytes.
    pub fn max_binding_bytes(&self) -> u64 {
        let l = self.device.limits();
        l.max_storage_buffer_binding_size.min(l.max_buffer_size)
    }

    /// [`Error::DeviceLost`] if the device has been lost (what caused `e`, then), else `e`.
    pub(crate) fn lost_or(&self, e: Error) -> Error {
        self.check_lost().err().unwrap_or(e)
    }

    /// Error if the device has been lost.
    pub fn check_lost(&self) -> Result<()> {
        match self.lost.lock().ok().and_then(|l| l.clone()) {
            Some(m) => Err(Error::DeviceLost(m)),
            None => Ok(()),
        }
    }
}

/// The GPU objects alive on a device and the memory they hold, as wgpu counts them: what the
/// fault tests compare before and after a load, a failed call or a freed model. Textures are
/// counted by their memory alone: wgpu-hal 30's Vulkan backend counts destroyed textures but
/// not created ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub buffers: isize,
    pub buffer_bytes: isize,
    pub texture_bytes: isize,
}

impl std::fmt::Display for Resources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} buffers of {} bytes, textures of {} bytes",
            self.buffers, self.buffer_bytes, self.texture_bytes
        )
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Gpu {
    /// What is alive on this device once its submitted work has finished (objects dropped
    /// while in use are freed when that work completes). Native only: the browser's WebGPU
    /// does not count.
    pub fn resources(&self) -> Resources {
        // Uploads wait for the next submission; an empty one flushes them.
        self.queue.submit(std::iter::empty());
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
        let hal = self.device.get_internal_counters().hal;
        Resources {
            buffers: hal.buffers.read(),
            buffer_bytes: hal.buffer_memory.read(),
            texture_bytes: hal.texture_memory.read(),
        }
    }

    /// Compute pipelines made on this device so far and alive: what shows that a call made
    /// none of its own (native only, as [`resources`](Self::resources)).
    pub fn compute_pipelines(&self) -> isize {
        self.device
            .get_internal_counters()
            .hal
            .compute_pipelines
            .read()
    }
}
