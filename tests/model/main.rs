//! The whole model against diffusers, one binary: the SDXL VAE on golden fixtures, the other VAE
//! families, and f16 precision against f32 and the CPU twins.

#[path = "../support/mod.rs"]
mod support;

mod golden;
mod golden_families;
mod precision;
