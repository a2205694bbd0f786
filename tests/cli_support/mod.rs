//! Shared by the command-line tests: runs the `sdxl-vae` binary and reads and writes `.npy` files.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

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
