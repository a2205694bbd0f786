//! Image files ↔ `sdxl_vae::Image` (8-bit RGBA): decoding with EXIF orientation applied, a size
//! guard checked before any pixel is decoded, PNG writing, and the evaluation resize/crop.

use std::path::Path;

use image::imageops::{self, FilterType};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage, RgbaImage};
use sdxl_vae::api::{Image, RawImage};

use crate::error::{bad_image, invalid, CliResult, Context};

/// Largest accepted side. A 16384² image already needs 3 GiB of f32 activations per 128
/// channels, far beyond what any adapter binds at once.
pub const MAX_SIDE: u32 = 16384;

/// File extensions `eval` treats as images (compared lower-case).
pub const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "webp", "bmp", "gif"];

/// Decodes an image file, applies its EXIF orientation and converts it to RGBA8.
pub fn load_image(path: &Path) -> CliResult<Image> {
    let shown = path.display();
    let reader = ImageReader::open(path).context(format!("cannot open image {shown}"))?;
    let mut reader = reader
        .with_guessed_format()
        .context(format!("cannot read image {shown}"))?;
    // The side check below replaces the reader's allocation limit, which would refuse large
    // images that are still within MAX_SIDE.
    reader.no_limits();
    let mut decoder = reader
        .into_decoder()
        .context(format!("{shown} is not a readable image"))?;
    let (w, h) = decoder.dimensions();
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(bad_image(format!(
            "image {shown} is {w}x{h}; the largest side accepted is {MAX_SIDE} pixels"
        )));
    }
    if w == 0 || h == 0 {
        return Err(bad_image(format!("image {shown} is empty ({w}x{h})")));
    }
    // Malformed EXIF is not worth refusing an image for: it is then shown as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut dynamic =
        DynamicImage::from_decoder(decoder).context(format!("{shown} is not a readable image"))?;
    dynamic.apply_orientation(orientation);
    Ok(from_rgba(dynamic.into_rgba8()))
}

fn from_rgba(rgba: RgbaImage) -> Image {
    Image {
        width: rgba.width(),
        height: rgba.height(),
        rgba: rgba.into_raw(),
    }
}

/// Writes RGB (alpha dropped) in the format the extension names, PNG when it names none.
pub fn save_image(path: &Path, image: &Image) -> CliResult<()> {
    let rgb: Vec<u8> = image
        .rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let buffer = RgbImage::from_raw(image.width, image.height, rgb).ok_or_else(|| {
        invalid(format!(
            "image of {}x{} has {} bytes of RGBA data",
            image.width,
            image.height,
            image.rgba.len()
        ))
    })?;
    let format = ImageFormat::from_path(path).unwrap_or(ImageFormat::Png);
    buffer
        .save_with_format(path, format)
        .context(format!("cannot write image {}", path.display()))
}

/// The decoder output as 8-bit pixels: `round(clamp((x + 1) / 2, 0, 1) · 255)`, opaque.
pub fn raw_to_image(raw: &RawImage) -> CliResult<Image> {
    let plane = raw.width as usize * raw.height as usize;
    if raw.data.len() != 3 * plane {
        return Err(invalid(format!(
            "decoder output of {}x{} has {} values, expected {}",
            raw.width,
            raw.height,
            raw.data.len(),
            3 * plane
        )));
    }
    let to_u8 = |x: f32| (((x + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0).round() as u8;
    let mut rgba = Vec::with_capacity(plane * 4);
    for i in 0..plane {
        rgba.extend([
            to_u8(raw.data[i]),
            to_u8(raw.data[plane + i]),
            to_u8(raw.data[2 * plane + i]),
            255,
        ]);
    }
    Ok(Image {
        width: raw.width,
        height: raw.height,
        rgba,
    })
}

/// The evaluation protocol: resize so the shorter side is `size` (Lanczos3), then crop the
/// centre `size × size`.
pub fn resize_center_crop(image: Image, size: u32) -> CliResult<Image> {
    let (w, h) = (image.width, image.height);
    let buffer = RgbaImage::from_raw(w, h, image.rgba)
        .ok_or_else(|| invalid(format!("image of {w}x{h} has too few bytes")))?;
    let scale = f64::from(size) / f64::from(w.min(h));
    let nw = ((f64::from(w) * scale).round() as u32).max(size);
    let nh = ((f64::from(h) * scale).round() as u32).max(size);
    let resized = if (nw, nh) == (w, h) {
        buffer
    } else {
        imageops::resize(&buffer, nw, nh, FilterType::Lanczos3)
    };
    let cropped = imageops::crop_imm(&resized, (nw - size) / 2, (nh - size) / 2, size, size);
    Ok(from_rgba(cropped.to_image()))
}

#[cfg(test)]
#[path = "imageio_tests.rs"]
mod files;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_conversion_clamps_and_rounds() {
        let raw = RawImage {
            width: 2,
            height: 1,
            data: vec![-2.0, 0.0, 1.5, 0.5, -1.0, 0.002],
        };
        let im = raw_to_image(&raw).expect("convert");
        // 0.0 → 127.5 rounds half away from zero; 0.002 → 127.755 → 128; 0.5 → 191.25 → 191.
        assert_eq!(im.rgba, vec![0, 255, 0, 255, 128, 191, 128, 255]);
    }

    #[test]
    fn crop_takes_the_centre_of_the_shorter_side() {
        let rgba = (0..6 * 4 * 4).map(|i| i as u8).collect();
        let im = Image {
            width: 6,
            height: 4,
            rgba,
        };
        let out = resize_center_crop(im, 4).expect("crop");
        assert_eq!((out.width, out.height), (4, 4));
        // No resize is needed, so the first pixel is (1, 0) of the source.
        assert_eq!(&out.rgba[..4], &[4, 5, 6, 7]);
    }
}
