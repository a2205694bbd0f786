//! The public API, one binary: errors for bad input, buffer plans, faults forced on the engine
//! (counted on the device after each), and the table of user options.
//!
//! The fault tests count what is alive on a device while other tests run beside them in this
//! process: wgpu keeps those counters per device (`Gpu::resources`, `Gpu::compute_pipelines`),
//! and every test makes its own `Gpu`, so they need no lock and no process of their own.

#[path = "../support/mod.rs"]
mod support;

mod api_errors;
mod api_plans;
mod faults;
mod options;
