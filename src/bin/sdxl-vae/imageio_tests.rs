//! The image files users bring, each decoded as a browser shows it: 16-bit, grayscale, alpha,
//! tiny, animated (first frame), EXIF-rotated, CMYK, and a decompression bomb refused from its
//! header. (Fixtures Rust cannot write come from tests/fixtures/gen_image_fixtures.py.)

use super::*;
use image::{Luma, LumaA, Rgb, Rgba};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A deterministic 8-bit RGB pattern.
fn pattern(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 37 + y) as u8, (y * 53 + 7) as u8, (x * y * 11) as u8])
    })
}

fn opaque(rgb: &RgbImage) -> Image {
    from_rgba(DynamicImage::ImageRgb8(rgb.clone()).into_rgba8())
}

fn saved(dir: &tempfile::TempDir, name: &str, image: DynamicImage) -> PathBuf {
    let path = dir.path().join(name);
    image.save(&path).expect("write test image");
    path
}

#[test]
fn sixteen_bit_grayscale_and_alpha_images_become_rgba8() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rgb = pattern(13, 6);
    // 16-bit: v·257 is exactly the 8-bit value v.
    let wide = image::ImageBuffer::<Rgb<u16>, _>::from_fn(13, 6, |x, y| {
        Rgb(rgb.get_pixel(x, y).0.map(|v| u16::from(v) * 257))
    });
    let path = saved(&dir, "16bit.png", DynamicImage::ImageRgb16(wide));
    assert_eq!(load_image(&path).unwrap(), opaque(&rgb));
    // Grayscale (with and without alpha): the grey level in all three channels.
    let grey = image::GrayImage::from_fn(5, 4, |x, y| Luma([(x * 50 + y) as u8]));
    let image = load_image(&saved(&dir, "grey.png", DynamicImage::ImageLuma8(grey))).unwrap();
    assert_eq!(&image.rgba[4 * 7..4 * 8], &[101, 101, 101, 255]);
    let grey_a = image::GrayAlphaImage::from_fn(5, 4, |x, y| LumaA([(x * 50 + y) as u8, 9]));
    let image = load_image(&saved(&dir, "ga.png", DynamicImage::ImageLumaA8(grey_a))).unwrap();
    assert_eq!(&image.rgba[4 * 7..4 * 8], &[101, 101, 101, 9]);
    // Alpha is kept as stored; the engine reads the colour channels only (as diffusers'
    // `convert("RGB")` does).
    let rgba = RgbaImage::from_fn(13, 6, |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        Rgba([r, g, b, (x * 20) as u8])
    });
    let image = load_image(&saved(&dir, "alpha.png", DynamicImage::ImageRgba8(rgba))).unwrap();
    let colours =
        |im: &Image| -> Vec<u8> { im.rgba.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect() };
    assert_eq!(colours(&image), colours(&opaque(&rgb)));
    assert_eq!(image.rgba[4 * 3 + 3], 60);
    // Tiny images load at their size (the engine pads them to whole latent cells).
    for (w, h) in [(1, 1), (7, 9)] {
        let path = saved(
            &dir,
            &format!("{w}x{h}.png"),
            DynamicImage::ImageRgb8(pattern(w, h)),
        );
        let image = load_image(&path).unwrap();
        assert_eq!(
            (image.width, image.height, image.rgba.len()),
            (w, h, (4 * w * h) as usize)
        );
    }
}

#[test]
fn animated_images_give_their_first_frame() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A GIF of two frames (few colours, so its palette keeps them exactly).
    let frame = |shift: u8| {
        RgbaImage::from_fn(6, 4, |x, y| {
            let v = if (x + y) % 2 == 0 { 200 } else { 40 };
            Rgba([v ^ shift, 100, 255 - v, 255])
        })
    };
    let path = dir.path().join("anim.gif");
    {
        let file = std::fs::File::create(&path).expect("create gif");
        let mut gif = image::codecs::gif::GifEncoder::new(file);
        let frames = [frame(0), frame(0x55)].map(image::Frame::new);
        gif.encode_frames(frames).expect("write gif");
    }
    assert_eq!(load_image(&path).unwrap(), from_rgba(frame(0)));
    // An animated lossless WebP (Pillow-written fixture) and its first frame as a PNG.
    let webp = load_image(&fixture("anim_12x10.webp")).unwrap();
    assert_eq!(webp, load_image(&fixture("anim_12x10_first.png")).unwrap());
}

/// `jpeg` with an EXIF APP1 segment whose Orientation tag is `orientation`, inserted after SOI.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0\x01\0".to_vec(); // little-endian TIFF, IFD at 8, one entry
    tiff.extend([0x12, 0x01, 3, 0, 1, 0, 0, 0]); // tag 0x0112 (Orientation), SHORT, count 1
    tiff.extend(orientation.to_le_bytes());
    tiff.extend([0, 0, 0, 0, 0, 0]); // value padding, then no next IFD
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xff, 0xe1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

#[test]
fn exif_orientation_is_applied_as_browsers_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = dir.path().join("plain.jpg");
    DynamicImage::ImageRgb8(pattern(12, 5))
        .save(&plain)
        .expect("write jpeg");
    let stored = load_image(&plain).unwrap();
    let stored = RgbaImage::from_raw(stored.width, stored.height, stored.rgba).unwrap();
    let jpeg = std::fs::read(&plain).unwrap();
    for (orientation, want) in [
        (3, imageops::rotate180(&stored)),
        (6, imageops::rotate90(&stored)),
        (8, imageops::rotate270(&stored)),
        (2, imageops::flip_horizontal(&stored)),
    ] {
        let path = dir.path().join(format!("o{orientation}.jpg"));
        std::fs::write(&path, with_exif_orientation(&jpeg, orientation)).unwrap();
        let got = load_image(&path).unwrap();
        assert_eq!(got, from_rgba(want), "EXIF orientation {orientation}");
    }
}

#[test]
fn cmyk_jpegs_show_their_colours() {
    // Left half cyan ink, right half magenta ink: RGB (0, 255, 255) and (255, 0, 255).
    let image = load_image(&fixture("cmyk_16x8.jpg")).unwrap();
    assert_eq!((image.width, image.height), (16, 8));
    let px = |x: usize, y: usize| &image.rgba[4 * (y * 16 + x)..][..4];
    for (x, want) in [(2, [0, 255, 255, 255]), (13, [255, 0, 255, 255])] {
        let got = px(x, 4);
        let off = (0..4).map(|i| got[i].abs_diff(want[i])).max().unwrap_or(0);
        assert!(off <= 8, "pixel ({x}, 4) is {got:?}, want about {want:?}");
    }
}

#[test]
fn a_decompression_bomb_is_refused_from_its_header() {
    let dir = tempfile::tempdir().expect("temp dir");
    let small = saved(&dir, "one.png", DynamicImage::ImageRgb8(pattern(1, 1)));
    let mut png = std::fs::read(&small).unwrap();
    // IHDR: length (8..12), "IHDR" (12..16), width (16..20), height (20..24), …, CRC (29..33).
    png[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    let bomb = dir.path().join("bomb.png");
    std::fs::write(&bomb, &png).unwrap();
    let started = std::time::Instant::now();
    let e = load_image(&bomb).unwrap_err().to_string();
    assert!(e.contains("60000x60000") && e.contains("16384"), "{e}");
    assert!(
        started.elapsed().as_secs_f32() < 1.0,
        "refused only after decoding"
    );
}
