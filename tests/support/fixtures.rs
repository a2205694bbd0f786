//! Golden fixtures (`tests/fixtures`, made by diffusers): reading them, loading weights in
//! chunks, and comparing a model's encode and decode with them.

use super::assert_close;
use sdxl_vae::{cpu, Gpu, Image, Latent, LoadOptions, Vae};
use std::path::PathBuf;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A float32 `.npy` file: shape and values.
pub fn npy(name: &str) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let arr = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = arr.shape().to_vec();
    (shape, arr.into_vec::<f32>().unwrap())
}

pub fn png(name: &str) -> Image {
    let img = image::open(fixture(name)).unwrap().to_rgba8();
    Image {
        width: img.width(),
        height: img.height(),
        rgba: img.into_raw(),
    }
}

/// Streams `file` into the loader in `chunk`-byte pieces.
pub fn load(gpu: &Gpu, file: &[u8], chunk: usize) -> Vae {
    load_with(gpu, file, chunk, LoadOptions::default())
}

pub fn load_with(gpu: &Gpu, file: &[u8], chunk: usize, opts: LoadOptions) -> Vae {
    let mut loader = Vae::loader(gpu, opts);
    for c in file.chunks(chunk) {
        loader.push(c).unwrap();
    }
    loader.finish().unwrap()
}

/// Encode `img` and compare the posterior mean; decode diffusers' mean and compare the raw output
/// and (with `eight_bit`) the 8-bit image. Returns the worst (latent, decoded) errors.
pub fn check_image(
    vae: &Vae,
    variant: &str,
    img: &str,
    latent_tol: f32,
    decoded_tol: f32,
    eight_bit: bool,
) -> (f32, f32) {
    let image = png(&format!("img_{img}.png"));
    let lat = pollster::block_on(vae.encode(&image)).unwrap();
    let (shape, mean) = npy(&format!("{variant}_{img}_mean.npy"));
    assert_eq!(
        shape,
        [1, lat.channels as u64, lat.height as u64, lat.width as u64],
        "{variant} {img}: latent shape"
    );
    let le = assert_close(
        &format!("{variant} {img} latent mean"),
        &lat.data,
        &mean,
        latent_tol,
        0.0,
    );

    let (dshape, decoded) = npy(&format!("{variant}_{img}_decoded.npy"));
    let z = Latent {
        channels: shape[1] as u32,
        width: shape[3] as u32,
        height: shape[2] as u32,
        data: mean,
        image_width: image.width,
        image_height: image.height,
    };
    let raw = pollster::block_on(vae.decode_raw(&z)).unwrap();
    assert_eq!(
        dshape,
        [1, 3, raw.height as u64, raw.width as u64],
        "{variant} {img}: decoded shape"
    );
    let de = assert_close(
        &format!("{variant} {img} decoded"),
        &raw.data,
        &decoded,
        decoded_tol,
        0.0,
    );
    if !eight_bit {
        return (le, de);
    }

    // The 8-bit image equals diffusers' postprocessing of its own output, up to one level where
    // a value lies within the tolerance of a rounding boundary.
    let px = pollster::block_on(vae.decode(&z)).unwrap();
    let want = cpu::tensor_to_image(
        &decoded,
        raw.width as usize,
        raw.height as usize,
        raw.width as usize,
        raw.height as usize,
    );
    assert_eq!((px.width, px.height), (image.width, image.height));
    let worst = px
        .rgba
        .iter()
        .zip(&want)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(
        worst <= 1,
        "{variant} {img}: 8-bit image differs by {worst} levels"
    );
    (le, de)
}
