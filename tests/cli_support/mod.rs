//! Shared by the command-line tests: runs the `sdxl-vae` binary and reads and writes `.npy` files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::{Layout, VaeConfig};

/// The small synthetic model's weights: SDXL's layout with blocks 32, 32, 64, 64 (the fixtures'
/// `small`), diffusers names, f32.
pub fn small_weights() -> Vec<u8> {
    let cfg = VaeConfig {
        block_out_channels: vec![32, 32, 64, 64],
        ..VaeConfig::sdxl()
    };
    synthetic_safetensors(&cfg, Layout::Diffusers, SynthDtype::F32, "")
}

/// [`small_weights`] written as `dir/small.safetensors`.
pub fn write_small_weights(dir: &Path) -> PathBuf {
    let path = dir.join("small.safetensors");
    std::fs::write(&path, small_weights()).expect("write weights");
    path
}

/// Runs `sdxl-vae` with `args`, whatever the outcome.
pub fn sdxl_vae(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sdxl-vae"))
        .args(args)
        .output()
        .expect("the sdxl-vae binary runs")
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

pub fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).expect("read npy");
    let npy = npyz::NpyFile::new(&bytes[..]).expect("parse npy");
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().expect("f32 npy"))
}

pub fn write_npy(path: &Path, shape: &[u64], data: &[f32]) {
    use npyz::WriterBuilder;
    let file = std::fs::File::create(path).expect("create npy");
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(shape)
        .writer(file)
        .begin_nd()
        .expect("npy header");
    w.extend(data.iter().copied()).expect("npy data");
    w.finish().expect("npy finish");
}
