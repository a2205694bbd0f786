//! Profiling: each dispatch submitted and waited for on its own, its wall time added to its
//! kernel's (`sdxl-vae bench --profile`). Slower overall; for finding where time goes.

use super::{Gpu, Recorder};

/// Time spent in one kernel while profiling.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTime {
    /// The kernel's name (its `.wgsl` file), or `copies` for buffer copies between dispatches.
    pub kernel: &'static str,
    pub dispatches: u32,
    pub seconds: f64,
}

impl Gpu {
    /// Profiling (native only): every dispatch is then submitted on its own and waited for,
    /// and its wall time added to its kernel's (slower overall; for finding where time goes).
    pub fn set_profiling(&self, on: bool) {
        if let Ok(mut p) = self.profile.lock() {
            *p = on.then(Vec::new);
        }
    }

    /// Time per kernel since profiling was switched on or last taken, most first.
    pub fn take_profile(&self) -> Vec<KernelTime> {
        let mut out = match self.profile.lock() {
            Ok(mut p) => p.as_mut().map(std::mem::take).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        out.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        out
    }
}

impl Recorder<'_> {
    /// Profiling: submits what is recorded, waits for it, and adds the wall time to `what`.
    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn run_now(&mut self, what: &'static str) {
        let device = &self.gpu.device;
        let encoder = std::mem::replace(
            &mut self.encoder,
            device.create_command_encoder(&Default::default()),
        );
        let t = std::time::Instant::now();
        self.gpu.queue.submit([encoder.finish()]);
        let _ = device.poll(wgpu::PollType::wait_indefinitely());
        let seconds = t.elapsed().as_secs_f64();
        if let Ok(mut p) = self.gpu.profile.lock() {
            if let Some(p) = p.as_mut() {
                match p.iter_mut().find(|k| k.kernel == what) {
                    Some(k) => {
                        k.dispatches += 1;
                        k.seconds += seconds;
                    }
                    None => p.push(KernelTime {
                        kernel: what,
                        dispatches: 1,
                        seconds,
                    }),
                }
            }
        }
    }
}
