//! Loading: the options, and the push-based loader that uploads tensors as they stream in.

use super::{Gpu, Precision, Vae};
use crate::error::{Error, Result};
use crate::gpu::BufferPool;
use crate::kernels::{AdapterClass, Kernels, Tuning};
use crate::model::{AutoencoderKl, AutoencoderTiny, Model, WeightStore};
use crate::weights::{FamilyChoice, ModelInfo, WeightSink, WeightsError, WeightsLoader};

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The family and latent factors where the user knows them; a file's shapes cannot tell SD
    /// 1.x from SDXL, nor SD3 from FLUX.1 (see [`crate::weights::family`]).
    pub family: FamilyChoice,
    /// Most bytes of any one activation buffer (default: the device's binding limit); see
    /// [`Vae::set_max_band_bytes`].
    pub max_band_bytes: Option<u64>,
    /// The most GPU memory the model may hold at once, weights and activations together
    /// (default: no budget); see [`Vae::set_memory_budget`].
    pub memory_budget: Option<u64>,
    /// f32 (the default, exact), or f16 weights, convolution inputs and activations with an
    /// overflow guard (see [`Precision::F16`]).
    pub precision: Precision,
    /// Tuning knobs for benchmarks and tests (default: [`Tuning::for_adapter`]).
    #[doc(hidden)]
    pub tuning: Option<Tuning>,
    /// Whether the convolutions stage their weights in workgroup memory, over the tuning's
    /// choice (the `sharedWeights` option, for tests).
    #[doc(hidden)]
    pub shared_weights: Option<bool>,
}

/// Receives tensors from the reader and uploads them as they complete.
struct GpuSink {
    gpu: Gpu,
    store: Option<WeightStore>,
    /// f16 weight textures where the values allow.
    precision: Precision,
}

impl WeightSink for GpuSink {
    type Error = Error;

    fn begin(&mut self, info: &ModelInfo) -> Result<()> {
        self.gpu.check_lost()?;
        let groups = info.config.norm_num_groups as u32;
        self.store = Some(WeightStore::new(&self.gpu, groups, self.precision));
        Ok(())
    }

    fn tensor(&mut self, name: &str, shape: &[usize], data: &[f32]) -> Result<()> {
        match self.store.as_mut() {
            Some(s) => {
                s.upload(name, shape, data);
                Ok(())
            }
            None => Err(Error::Input(format!(
                "tensor {name} arrived before the header"
            ))),
        }
    }

    fn tensor_f16(&mut self, name: &str, shape: &[usize], bytes: &[u8]) -> Result<bool> {
        match self.store.as_mut() {
            Some(s) if self.precision == Precision::F16 => {
                Ok(s.upload_f16(name, shape, &crate::weights::convert::as_u16(bytes)))
            }
            _ => Ok(false),
        }
    }
}

/// Where a load's time went, in milliseconds (`bench` and the page's log print it). The parts
/// need not add up to `total_ms`: the rest is the source's own work between reads (copies into
/// wasm memory, the event loop).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LoadTimes {
    /// Waiting for bytes: network, cache, disk (as the source reports it).
    pub wait_ms: f64,
    /// Parsing headers, converting dtypes and laying weights out for their kernels (CPU).
    pub convert_ms: f64,
    /// Handing weights to the GPU (queue writes).
    pub upload_ms: f64,
    /// Making the compute pipelines: natively on a thread of its own while the bytes stream (so
    /// it overlaps the other parts), in the browser before the first byte.
    pub pipelines_ms: f64,
    /// From the loader's creation to its `finish`.
    pub total_ms: f64,
    /// Bytes the source delivered or skipped.
    pub bytes: u64,
}

impl LoadTimes {
    /// Megabytes (10⁶ bytes) a second over the whole load.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e3 / self.total_ms.max(1e-3)
    }
}

impl std::fmt::Display for LoadTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = |ms: f64| ms / 1e3;
        write!(
            f,
            "{:.1} MB in {:.2} s ({:.0} MB/s): waiting for bytes {:.2} s, converting {:.2} s, \
             uploading {:.2} s, pipelines {:.2} s",
            self.bytes as f64 / 1e6,
            s(self.total_ms),
            self.mb_per_s(),
            s(self.wait_ms),
            s(self.convert_ms),
            s(self.upload_ms),
            s(self.pipelines_ms)
        )
    }
}

/// Bytes worth a seek rather than a read-and-drop.
#[cfg(not(target_arch = "wasm32"))]
const SEEK_BYTES: u64 = 1 << 20;

/// Push-based loader: feed the file's bytes in chunks of any size, then `finish`. The compute
/// pipelines a call needs are made when the loader is made, so they are ready when the last
/// byte arrives.
pub struct VaeLoader {
    loader: WeightsLoader<GpuSink>,
    kernels: Kernels,
    preparing: crate::kernels::Preparing,
    max_band_bytes: Option<u64>,
    memory_budget: Option<u64>,
    times: LoadTimes,
    /// When the loader was made, and the milliseconds spent in `push` and `skip`.
    started_ms: f64,
    push_ms: f64,
}

impl VaeLoader {
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        self.times.bytes += chunk.len() as u64;
        let loader = &mut self.loader;
        crate::clock::timed(&mut self.push_ms, || loader.push(chunk))
    }

    /// The source waited `ms` milliseconds for bytes (network, cache, disk): counted in
    /// [`LoadTimes::wait_ms`].
    pub fn waited(&mut self, ms: f64) {
        self.times.wait_ms += ms;
    }

    /// Total file size once a safetensors header has arrived (a checkpoint does not say).
    pub fn total_bytes(&self) -> Option<u64> {
        self.loader.total_bytes()
    }

    /// Where the source may jump ahead (see [`WeightsLoader::skippable`]).
    pub fn skippable(&self) -> Option<(u64, u64)> {
        self.loader.skippable()
    }

    /// The source jumped `n` bytes ahead, within [`skippable`](Self::skippable).
    pub fn skip(&mut self, n: u64) -> Result<()> {
        self.times.bytes += n;
        self.loader.skip(n)
    }

    /// What the file holds, once its header (a checkpoint's pickle) has arrived: the model, and
    /// the tensors outside it that are read past (a full model's UNet and text encoders).
    pub fn info(&self) -> Option<&crate::weights::ModelInfo> {
        self.loader.info()
    }

    pub fn finish(mut self) -> Result<Vae> {
        let loader = self.loader;
        let (sink, info) = crate::clock::timed(&mut self.push_ms, || loader.finish())?;
        let mut store = sink.store.ok_or_else(|| WeightsError::Truncated {
            what: "the stream held no header".into(),
            expected: 8,
            got: 0,
        })?;
        let weight_bytes = store.bytes;
        // Queue writes are copied into place by the next submission: make it now, and natively
        // wait for it, so that the upload is counted here rather than in the first call.
        let mut flush_ms = 0.0;
        crate::clock::timed(&mut flush_ms, || {
            sink.gpu.queue.submit(std::iter::empty());
            #[cfg(not(target_arch = "wasm32"))]
            let _ = sink.gpu.device.poll(wgpu::PollType::wait_indefinitely());
        });
        let model = match &info.tiny {
            Some(cfg) => Model::Tiny(AutoencoderTiny::from_store(&mut store, cfg, &info.config)?),
            None => Model::Kl(Box::new(AutoencoderKl::from_store(
                &mut store,
                &info.config,
            )?)),
        };
        let pool = BufferPool::new(sink.gpu.device.clone(), sink.gpu.max_binding_bytes());
        Ok(Vae {
            gpu: sink.gpu,
            kernels: self.kernels,
            pool,
            halves: {
                let f16 = sink.precision == Precision::F16;
                let halves = crate::gpu::Halves {
                    textures: f16,
                    store: f16,
                };
                super::precision::bits(halves).into()
            },
            model,
            info,
            weight_bytes,
            max_band_bytes: self.max_band_bytes,
            memory_budget: self.memory_budget.unwrap_or(0).into(),
            plans: Default::default(),
            weights: std::mem::take(&mut store.owned),
            load_times: LoadTimes {
                pipelines_ms: self.preparing.join(),
                upload_ms: store.upload_ms + flush_ms,
                // The queue writes made inside `push`; the rest of it is the CPU's work.
                convert_ms: self.push_ms - store.upload_ms,
                total_ms: crate::clock::now_ms() - self.started_ms,
                ..self.times
            },
        })
    }
}

impl Vae {
    pub fn loader(gpu: &Gpu, opts: LoadOptions) -> VaeLoader {
        let sink = GpuSink {
            gpu: gpu.clone(),
            store: None,
            precision: opts.precision,
        };
        let mut tuning = opts
            .tuning
            .unwrap_or_else(|| Tuning::for_adapter(AdapterClass::of(gpu)));
        tuning.staged = opts.shared_weights.unwrap_or(tuning.staged);
        let started_ms = crate::clock::now_ms();
        let kernels = Kernels::with_tuning(gpu, tuning);
        let preparing = kernels.prepare(opts.precision);
        VaeLoader {
            loader: WeightsLoader::new(sink, opts.family),
            kernels,
            preparing,
            max_band_bytes: opts.max_band_bytes,
            memory_budget: opts.memory_budget,
            times: LoadTimes::default(),
            started_ms,
            push_ms: 0.0,
        }
    }

    /// Streams a weights file (safetensors or PyTorch checkpoint) from disk in 1 MiB chunks,
    /// seeking past what the model does not use (a full model's UNet and text encoders).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_file(gpu: &Gpu, path: &std::path::Path, opts: LoadOptions) -> Result<Vae> {
        use std::io::{Read, Seek, SeekFrom};
        let io = |e: std::io::Error| Error::Read(format!("{}: {e}", path.display()));
        let mut f = std::fs::File::open(path).map_err(io)?;
        let mut loader = Vae::loader(gpu, opts);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            if let Some((pos, next)) = loader.skippable() {
                if next - pos >= SEEK_BYTES {
                    f.seek(SeekFrom::Start(next)).map_err(io)?;
                    loader.skip(next - pos)?;
                }
            }
            let mut waited = 0.0;
            let n = crate::clock::timed(&mut waited, || f.read(&mut buf)).map_err(io)?;
            loader.waited(waited);
            if n == 0 {
                break;
            }
            loader.push(&buf[..n])?;
        }
        loader.finish()
    }
}
