//! `eval`: reconstruction quality over a folder of images, the protocol of the SDXL VAE model
//! card (COCO 2017 val, resized and centre-cropped to 256×256, PSNR and SSIM of the round trip).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sdxl_vae::metrics::{self, mean_std};

use crate::commands::{reconstruct, Globals, Model};
use crate::error::{invalid, CliResult, Context};
use crate::imageio::{load_image, resize_center_crop, IMAGE_EXTENSIONS};

/// Smallest `--size`: SSIM's 11×11 window must fit.
const MIN_SIZE: u32 = 11;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Weights (.safetensors or PyTorch .ckpt/.pt/.pth; diffusers or LDM names)
    #[arg(long)]
    weights: PathBuf,
    /// Folder of images (png, jpg, jpeg, webp, bmp), taken in name order
    dir: PathBuf,
    /// Resize the shorter side to N (Lanczos3) and centre-crop N×N; the model card uses 256
    #[arg(long, value_name = "N")]
    size: Option<u32>,
    /// Write `file,width,height,psnr,ssim` per image
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
}

/// One evaluated image; width and height are those compared (after resizing).
struct Row {
    file: String,
    width: u32,
    height: u32,
    psnr: f64,
    ssim: f64,
}

pub fn eval(args: &EvalArgs, globals: &Globals) -> CliResult<()> {
    if let Some(size) = args.size.filter(|&s| s < MIN_SIZE) {
        return Err(invalid(format!(
            "--size {size} is too small; SSIM needs at least {MIN_SIZE}"
        )));
    }
    let files = crate::batch::list(&args.dir, &IMAGE_EXTENSIONS)?;
    if files.is_empty() {
        return Err(invalid(format!("no images in {}", args.dir.display())));
    }
    let model = Model::load(&args.weights, globals)?;
    let mut rows = Vec::with_capacity(files.len());
    for path in &files {
        let row = evaluate(&model, path, args.size)?;
        println!(
            "{}  {}x{}  PSNR {:.2} dB  SSIM {:.4}",
            row.file, row.width, row.height, row.psnr, row.ssim
        );
        rows.push(row);
    }
    if let Some(csv) = &args.csv {
        std::fs::write(csv, to_csv(&rows)).context(format!("cannot write {}", csv.display()))?;
    }
    let psnr: Vec<f64> = rows.iter().map(|r| r.psnr).collect();
    let ssim: Vec<f64> = rows.iter().map(|r| r.ssim).collect();
    let (pm, ps) = mean_std(&psnr);
    let (sm, ss) = mean_std(&ssim);
    println!("images  {}", rows.len());
    println!("PSNR    {pm:.2} ± {ps:.2} dB");
    println!("SSIM    {sm:.4} ± {ss:.4}");
    Ok(())
}

fn evaluate(model: &Model, path: &Path, size: Option<u32>) -> CliResult<Row> {
    let mut image = load_image(path)?;
    if let Some(size) = size {
        image = resize_center_crop(image, size)?;
    }
    let shown = path.display();
    let out = reconstruct(&model.vae, &image).context(format!("round trip of {shown}"))?;
    let context = format!("metrics of {shown}");
    let psnr = metrics::psnr(&image, &out.image).context(&context)?;
    let ssim = metrics::ssim(&image, &out.image).context(&context)?;
    let file = path
        .file_name()
        .map_or_else(|| shown.to_string(), |n| n.to_string_lossy().into_owned());
    Ok(Row {
        file,
        width: image.width,
        height: image.height,
        psnr,
        ssim,
    })
}

fn to_csv(rows: &[Row]) -> String {
    let mut out = String::from("file,width,height,psnr,ssim\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            csv_field(&r.file),
            r.width,
            r.height,
            r.psnr,
            r.ssim
        );
    }
    out
}

/// RFC 4180 quoting for names with commas, quotes or line breaks.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_awkward_names() {
        assert_eq!(csv_field("a.png"), "a.png");
        assert_eq!(csv_field("a,b \"c\".png"), "\"a,b \"\"c\"\".png\"");
    }
}
