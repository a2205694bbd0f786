//! The GPU kernels against their naive CPU twins (`sdxl_vae::cpu`), one binary: the plain
//! kernels, the convolution family in each staging, and convolutions written in place.

#[path = "../support/mod.rs"]
mod support;

mod kernels;
mod kernels_conv;
mod kernels_conv_in_place;
mod kernels_f16;
