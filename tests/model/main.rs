//! The whole model against diffusers, one binary: the SDXL VAE on golden fixtures, the other VAE
//! families (FLUX.2's among them), f16 precision against f32 and the CPU twins, and runs within a memory budget.

#[path = "../support/mod.rs"]
mod support;

mod adapters;
mod budget;
mod golden;
mod golden_families;
mod golden_flux2;
mod golden_qwen;
mod golden_taew;
mod precision;
mod precision_overflow;
