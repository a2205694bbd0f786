//! The `sdxl-vae` command-line tool run as a process, one binary: its commands, folders of
//! files, row banding, `bench`, PyTorch checkpoints, the newer families, image files and `soak`.

#[path = "../cli_support/mod.rs"]
mod cli_support;

mod cli;
mod cli_bands;
mod cli_batch;
mod cli_bench;
mod cli_ckpt;
mod cli_families;
mod cli_images;
mod cli_soak;
