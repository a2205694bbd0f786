//! Image files through the whole command line: tiny images round-trip at their size, alpha does
//! not change the latent, an animated GIF encodes its first frame, a bomb is one error line.
//! (How each file decodes is tested in the binary's own tests, `imageio_tests.rs`.)

use std::path::Path;

use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};

use crate::cli_support;
use cli_support::{read_npy, s, sdxl_vae};

fn pattern(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 37 + y * 5) as u8,
            (y * 53 + 7) as u8,
            (x * y * 11) as u8,
        ])
    })
}

fn ok(args: &[&str]) -> String {
    let out = sdxl_vae(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    stderr.into_owned()
}

fn encode(weights: &Path, image: &Path, latent: &Path) -> (Vec<u64>, Vec<f32>) {
    ok(&["encode", "--weights", s(weights), s(image), "-o", s(latent)]);
    read_npy(latent)
}

#[test]
fn images_of_every_kind_through_the_cli() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name);
    let weights = cli_support::write_small_weights(dir.path());

    // 1×1 and 7×9 round-trip at their own size (a safetensors latent records it).
    for (w, h, lat) in [(1, 1, [1, 1]), (7, 9, [2, 1])] {
        let png = path(&format!("{w}x{h}.png"));
        pattern(w, h).save(&png).unwrap();
        let latent = path(&format!("{w}x{h}.safetensors"));
        ok(&[
            "encode",
            "--weights",
            s(&weights),
            s(&png),
            "-o",
            s(&latent),
        ]);
        let out = path(&format!("{w}x{h}_out.png"));
        ok(&[
            "decode",
            "--weights",
            s(&weights),
            s(&latent),
            "-o",
            s(&out),
        ]);
        let decoded = image::open(&out).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (w, h));
        let npy = path(&format!("{w}x{h}.npy"));
        let (shape, _) = encode(&weights, &png, &npy);
        assert_eq!(shape, [1, 4, lat[0], lat[1]]);
    }

    // Alpha does not change the latent.
    let rgb = pattern(24, 16);
    rgb.save(path("opaque.png")).unwrap();
    let rgba = RgbaImage::from_fn(24, 16, |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        Rgba([r, g, b, (x * 10) as u8])
    });
    rgba.save(path("alpha.png")).unwrap();
    let (_, opaque) = encode(&weights, &path("opaque.png"), &path("o.npy"));
    let (_, alpha) = encode(&weights, &path("alpha.png"), &path("a.npy"));
    assert_eq!(opaque, alpha);

    // An animated GIF encodes as its first frame.
    let frame = |shift: u8| {
        RgbaImage::from_fn(24, 16, |x, y| {
            let v = if (x / 4 + y / 4) % 2 == 0 { 220 } else { 30 };
            Rgba([v ^ shift, 90, 255 - v, 255])
        })
    };
    {
        let gif = std::fs::File::create(path("anim.gif")).unwrap();
        let mut gif = image::codecs::gif::GifEncoder::new(gif);
        gif.encode_frames([frame(0), frame(0x66)].map(image::Frame::new))
            .unwrap();
    }
    DynamicImage::ImageRgba8(frame(0))
        .save(path("first.png"))
        .unwrap();
    let (_, gif) = encode(&weights, &path("anim.gif"), &path("g.npy"));
    let (_, first) = encode(&weights, &path("first.png"), &path("f.npy"));
    assert_eq!(gif, first);

    // A PNG whose header claims 60000×60000 (its CRC made good): one error line, at once.
    let mut png = std::fs::read(path("1x1.png")).unwrap();
    png[16..24].copy_from_slice(&[0, 0, 0xea, 0x60, 0, 0, 0xea, 0x60]);
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(path("bomb.png"), &png).unwrap();
    let (bomb, never) = (path("bomb.png"), path("never.npy"));
    let out = sdxl_vae(&[
        "encode",
        "--weights",
        s(&weights),
        s(&bomb),
        "-o",
        s(&never),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.lines().count() == 1
            && stderr.starts_with("error[bad-image]: ")
            && stderr.contains("60000x60000"),
        "{stderr}"
    );
    assert!(!never.exists());
}
