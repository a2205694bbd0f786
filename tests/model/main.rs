//! The whole model against diffusers, one binary: the SDXL VAE on golden fixtures, the other VAE
//! families, f16 precision against f32 and the CPU twins, and runs within a memory budget.

#[path = "../support/mod.rs"]
mod support;

mod adapters;
mod budget;
mod golden;
mod golden_families;
mod precision;
mod precision_overflow;
