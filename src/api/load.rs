//! Loading: the options, and the push-based loader that uploads tensors as they stream in.

use super::{Gpu, Precision, Vae};
use crate::gpu::BufferPool;
use crate::kernels::{AdapterClass, Kernels, Tuning};
use crate::model::{AutoencoderKl, AutoencoderTiny, Model, WeightStore};
use crate::weights::{FamilyChoice, ModelInfo, WeightSink, WeightsError, WeightsLoader};
use crate::{Error, Result};

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The family and latent factors where the user knows them; a file's shapes cannot tell SD
    /// 1.x from SDXL, nor SD3 from FLUX.1 (see [`crate::weights::family`]).
    pub family: FamilyChoice,
    /// Most bytes of any one activation buffer (default: the device's binding limit); see
    /// [`Vae::set_max_band_bytes`].
    pub max_band_bytes: Option<u64>,
    /// What the convolutions read: f32 (the default, exact) or f16 weights and inputs with an
    /// overflow guard (see [`Precision::F16`]).
    pub precision: Precision,
    /// Tuning knobs for benchmarks and tests (default: [`Tuning::for_adapter`]).
    #[doc(hidden)]
    pub tuning: Option<Tuning>,
}

/// Receives tensors from the reader and uploads them as they complete.
struct GpuSink {
    gpu: Gpu,
    store: Option<WeightStore>,
    /// f16 weight textures where the values allow.
    precision: Precision,
}

impl WeightSink for GpuSink {
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
    max_band_bytes: Option<u64>,
}

impl VaeLoader {
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        self.loader.push(chunk)
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
        self.loader.skip(n)
    }

    /// What the file holds, once its header (a checkpoint's pickle) has arrived: the model, and
    /// the tensors outside it that are read past (a full model's UNet and text encoders).
    pub fn info(&self) -> Option<&crate::weights::ModelInfo> {
        self.loader.info()
    }

    pub fn finish(self) -> Result<Vae> {
        let (sink, info) = self.loader.finish()?;
        let mut store = sink.store.ok_or_else(|| WeightsError::Truncated {
            what: "the stream held no header".into(),
            expected: 8,
            got: 0,
        })?;
        let weight_bytes = store.bytes;
        let model = match &info.tiny {
            Some(cfg) => Model::Tiny(AutoencoderTiny::from_store(&mut store, cfg)?),
            None => Model::Kl(Box::new(AutoencoderKl::from_store(
                &mut store,
                &info.config,
            )?)),
        };
        let pool = BufferPool::new(sink.gpu.device.clone(), sink.gpu.max_binding_bytes());
        pool.set_f16(sink.precision == Precision::F16);
        Ok(Vae {
            gpu: sink.gpu,
            kernels: self.kernels,
            pool,
            model,
            info,
            weight_bytes,
            max_band_bytes: self.max_band_bytes,
            plans: Default::default(),
            weights: std::mem::take(&mut store.owned),
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
        let tuning = opts
            .tuning
            .unwrap_or_else(|| Tuning::for_adapter(AdapterClass::of(gpu)));
        let kernels = Kernels::with_tuning(gpu, tuning);
        kernels.prepare(opts.precision);
        VaeLoader {
            loader: WeightsLoader::new(sink, opts.family),
            kernels,
            max_band_bytes: opts.max_band_bytes,
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
            let n = f.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            loader.push(&buf[..n])?;
        }
        loader.finish()
    }
}
