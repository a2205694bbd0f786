//! The `encode`, `decode`, `roundtrip` and `info` commands, and the model loading they share.
//! Inputs are read and checked before the GPU is started, so a bad file fails fast.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pollster::block_on;
use sdxl_vae::weights::{read_info, DiffusersConfig, ModelInfo};
use sdxl_vae::{metrics, Gpu, GpuOptions, Image, LoadOptions, Vae};

use crate::batch;
use crate::error::{coded, invalid, CliResult, Context};
use crate::imageio::{load_image, raw_to_image, save_image};
use crate::progress::with_progress;
use crate::tensorio::{read_latent, write_latent, write_raw};
use sdxl_vae::ErrorCode;

/// Options that apply to every command.
pub struct Globals {
    pub gpu: GpuOptions,
    pub load: LoadOptions,
    pub tuning: crate::tuning::TuningArgs,
}

/// A model on a GPU. `vae` is declared first so it is dropped before the device it lives on.
pub struct Model {
    pub vae: Vae,
    pub gpu: Gpu,
}

impl Model {
    /// Checks the weights header, starts the GPU and uploads the weights.
    pub fn load(weights: &Path, globals: &Globals) -> CliResult<Model> {
        let mut load = globals.load.clone();
        load.family.config = config_for(weights, globals)?;
        let info = read_weights_info(weights, &load)?;
        if info.ignored_bytes >= 1 << 20 {
            eprintln!(
                "note: {} holds more than the VAE: {} tensors ({:.1} MiB) outside it are skipped",
                weights.display(),
                info.ignored_tensors,
                info.ignored_bytes as f64 / (1024.0 * 1024.0)
            );
        }
        let gpu = block_on(Gpu::new(&globals.gpu)).context("cannot start the GPU")?;
        let vae = Vae::load_file(&gpu, weights, globals.tuning.apply(&gpu, &load))
            .context(format!("cannot load weights {}", weights.display()))?;
        Ok(Model { vae, gpu })
    }

    /// Says which family and factors a scaled latent used, where the user did not name both.
    pub fn note_family(&self, globals: &Globals) {
        let f = &globals.load.family;
        if f.family.is_none() || f.scaling_factor.is_none() || f.shift_factor.is_none() {
            eprintln!("note: {}", family_line(self.vae.info()));
        }
    }

    /// The notes a call ends with: the family and factors of a scaled latent, and the
    /// precision where it stepped down.
    pub fn notes(&self, globals: &Globals, scaled: bool) {
        if scaled {
            self.note_family(globals);
        }
        self.note_precision(globals);
    }

    /// Says so where f16 was asked for and a value exceeded its range (the call ran again
    /// with f32 activations, and inputs where they overflowed too).
    pub fn note_precision(&self, globals: &Globals) {
        if globals.load.precision != sdxl_vae::Precision::F16 || self.vae.f16_activations() {
            return;
        }
        let what = match self.vae.precision() {
            sdxl_vae::Precision::F16 => "activations are f32 (the convolutions still read f16)",
            _ => "activations and convolution inputs are f32 (the weights stay f16)",
        };
        eprintln!("note: a value exceeded f16's range (±65504), so {what}");
    }
}

/// `--config`, or else the diffusers `config.json` beside the weights where it describes a VAE.
pub fn config_for(weights: &Path, globals: &Globals) -> CliResult<Option<DiffusersConfig>> {
    if globals.load.family.config.is_some() {
        return Ok(globals.load.family.config.clone());
    }
    let beside = weights.with_file_name("config.json");
    let Ok(text) = std::fs::read_to_string(&beside) else {
        return Ok(None);
    };
    match DiffusersConfig::parse(&text) {
        // A config of another class (a UNet's, a pipeline's) is not this file's.
        Ok(c) if c.kind.is_some() => Ok(Some(c)),
        Ok(_) => Ok(None),
        Err(e) if text.contains("\"_class_name\": \"Autoencoder") => {
            Err(invalid(format!("{}: {e}", beside.display())))
        }
        Err(_) => Ok(None),
    }
}

/// One line saying which family and factors a model was loaded with, and why.
pub fn family_line(info: &ModelInfo) -> String {
    let r = &info.family;
    let how = match r.family_source {
        sdxl_vae::weights::Source::Default => "guessed from the file; --family to change",
        sdxl_vae::weights::Source::Config => "from config.json",
        sdxl_vae::weights::Source::User => "given",
    };
    format!(
        "family {} ({how}): scaling factor {} ({}), shift factor {} ({})",
        r.family, r.factors.scaling, r.scaling_source, r.factors.shift, r.shift_source
    )
}

/// Reads only the header (a checkpoint's pickle), and checks a safetensors file holds all the
/// data its header describes; `file_bytes` is set to the file's size.
pub fn read_weights_info(path: &Path, load: &LoadOptions) -> CliResult<ModelInfo> {
    let shown = path.display();
    let unreadable = |e: std::io::Error| {
        coded(
            ErrorCode::FetchFailed,
            format!("cannot open weights {shown}: {e}"),
        )
    };
    let file = File::open(path).map_err(unreadable)?;
    let len = file.metadata().map_err(unreadable)?.len();
    let mut info = read_info(BufReader::new(file), &load.family)
        .map_err(sdxl_vae::Error::from)
        .context(format!("weights {shown}"))?;
    if len < info.file_bytes {
        return Err(coded(
            ErrorCode::BadWeights,
            format!(
                "weights {shown} is truncated: its header describes {} bytes, the file has {len}",
                info.file_bytes
            ),
        ));
    }
    info.file_bytes = len;
    Ok(info)
}

#[derive(clap::Args)]
pub struct EncodeArgs {
    /// Weights (.safetensors or PyTorch .ckpt/.pt/.pth; diffusers or LDM names)
    #[arg(long)]
    pub weights: PathBuf,
    /// Input images (png, jpg, webp, bmp, gif), or folders of them
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Output latent: .npy (float32 [1, 4, h, w]) or .safetensors (tensor `latent`); for
    /// several inputs or a folder, a folder that gets one latent an image, named after it
    #[arg(short, long)]
    pub output: PathBuf,
    /// The latents' format in an output folder
    #[arg(long, default_value = "npy", value_parser = ["npy", "safetensors"])]
    pub format: String,
    /// In an output folder, skip the inputs whose output exists (resumes a run)
    #[arg(long)]
    pub skip_existing: bool,
    /// Draw a posterior sample instead of taking the mean
    #[arg(long)]
    pub sample: bool,
    /// Seed of the posterior sample
    #[arg(long, default_value_t = 0, requires = "sample")]
    pub seed: u64,
    /// Write the latent a diffusion model sees, (mean − shift) × scale, with the family's
    /// factors (see --family, --scaling-factor, --shift-factor)
    #[arg(long)]
    pub scaled: bool,
}

pub fn encode(args: &EncodeArgs, globals: &Globals) -> CliResult<()> {
    if batch::is_batch(&args.images, &args.output) {
        return batch::encode(args, globals);
    }
    let path = &args.images[0];
    let image = load_image(path)?;
    let model = Model::load(&args.weights, globals)?;
    let start = Instant::now();
    let seed = args.sample.then_some(args.seed);
    let encoded = with_progress("encoding", |ctl| {
        block_on(model.vae.encode_with(&image, seed, ctl))
    });
    let mut latent = encoded.context(format!("encoding {}", path.display()))?;
    let seconds = start.elapsed().as_secs_f64();
    if args.scaled {
        (model.vae.to_diffusion(&mut latent))
            .context(format!("scaling the latent of {}", path.display()))?;
        model.note_family(globals);
    }
    write_latent(&args.output, &latent)?;
    println!(
        "encoded {}x{} → latent {}x{} in {seconds:.2} s",
        image.width, image.height, latent.width, latent.height
    );
    model.note_precision(globals);
    Ok(())
}

#[derive(clap::Args)]
pub struct DecodeArgs {
    /// Weights (.safetensors or PyTorch .ckpt/.pt/.pth; diffusers or LDM names)
    #[arg(long)]
    pub weights: PathBuf,
    /// Latents: .npy ([1, 4, h, w] or [4, h, w]; f32, f16 or f64) or .safetensors, or folders
    /// of them
    #[arg(required = true)]
    pub latents: Vec<PathBuf>,
    /// Output image (PNG unless the extension names another format); for several inputs or a
    /// folder, a folder that gets one image a latent, named after it
    #[arg(short, long)]
    pub output: PathBuf,
    /// The images' format in an output folder
    #[arg(long, default_value = "png", value_parser = ["png", "webp", "jpg", "bmp"])]
    pub format: String,
    /// In an output folder, skip the inputs whose output exists (resumes a run)
    #[arg(long)]
    pub skip_existing: bool,
    /// Also write the decoder output before clamping, float32 [1, 3, H, W] .npy (one latent)
    #[arg(long)]
    pub raw: Option<PathBuf>,
    /// The latent is a diffusion model's, (mean − shift) × scale: undo that first
    #[arg(long)]
    pub scaled: bool,
}

pub fn decode(args: &DecodeArgs, globals: &Globals) -> CliResult<()> {
    if batch::is_batch(&args.latents, &args.output) {
        return batch::decode(args, globals);
    }
    let path = &args.latents[0];
    let mut latent = read_latent(path)?;
    let model = Model::load(&args.weights, globals)?;
    if args.scaled {
        (model.vae.from_diffusion(&mut latent)).context(format!("unscaling {}", path.display()))?;
        model.note_family(globals);
    }
    let context = format!("decoding {}", path.display());
    let start = Instant::now();
    // With --raw the PNG is made from the same output, so the decoder runs once.
    let image = match &args.raw {
        Some(raw_path) => {
            let raw = with_progress("decoding", |ctl| {
                block_on(model.vae.decode_raw_with(&latent, ctl))
            })
            .context(&context)?;
            write_raw(raw_path, &raw)?;
            raw_to_image(&raw)?
        }
        None => with_progress("decoding", |ctl| {
            block_on(model.vae.decode_with(&latent, ctl))
        })
        .context(&context)?,
    };
    let seconds = start.elapsed().as_secs_f64();
    save_image(&args.output, &image)?;
    println!(
        "decoded latent {}x{} → {}x{} in {seconds:.2} s",
        latent.width, latent.height, image.width, image.height
    );
    model.note_precision(globals);
    Ok(())
}

#[derive(clap::Args)]
pub struct RoundtripArgs {
    /// Weights (.safetensors or PyTorch .ckpt/.pt/.pth; diffusers or LDM names)
    #[arg(long)]
    weights: PathBuf,
    /// Input image
    image: PathBuf,
    /// Output image, the reconstruction
    #[arg(short, long)]
    output: PathBuf,
}

/// One encode (posterior mean) + decode, with the time each took.
pub struct Reconstruction {
    pub image: Image,
    pub encode: Duration,
    pub decode: Duration,
}

pub fn reconstruct(vae: &Vae, image: &Image) -> sdxl_vae::Result<Reconstruction> {
    let start = Instant::now();
    let latent = block_on(vae.encode(image))?;
    let encode = start.elapsed();
    let decoded = block_on(vae.decode(&latent))?;
    Ok(Reconstruction {
        image: decoded,
        encode,
        decode: start.elapsed() - encode,
    })
}

pub fn roundtrip(args: &RoundtripArgs, globals: &Globals) -> CliResult<()> {
    let image = load_image(&args.image)?;
    let model = Model::load(&args.weights, globals)?;
    let shown = args.image.display();
    let out = reconstruct(&model.vae, &image).context(format!("round trip of {shown}"))?;
    save_image(&args.output, &out.image)?;
    let psnr = metrics::psnr(&image, &out.image).context(format!("PSNR of {shown}"))?;
    // SSIM needs an 11×11 window; smaller images get PSNR only.
    let ssim = match metrics::ssim(&image, &out.image) {
        Ok(s) => format!("{s:.4}"),
        Err(_) => "n/a".into(),
    };
    println!(
        "PSNR {psnr:.2} dB  SSIM {ssim}  (encode {:.2} s, decode {:.2} s)",
        out.encode.as_secs_f64(),
        out.decode.as_secs_f64()
    );
    model.note_precision(globals);
    Ok(())
}
