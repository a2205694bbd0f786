//! The tuning flags, hidden from `--help`: for benchmarks that compare the convolution forms
//! (benches/gpu_bench.sh), not for users. Defaults: `Tuning::for_adapter`.

use sdxl_vae::kernels::{AdapterClass, Tuning};
use sdxl_vae::{Gpu, LoadOptions};

#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct TuningArgs {
    /// The convolution's workgroup shape XxY (x: groups of 8 pixels along a row, y: rows)
    #[arg(long, global = true, hide = true, value_name = "XxY", value_parser = parse_workgroup)]
    workgroup: Option<[u32; 2]>,
    /// Input rows packed at a time (at least 4)
    #[arg(long, global = true, hide = true, value_name = "ROWS")]
    pack_rows: Option<u32>,
    /// Whether the convolutions share weight fetches across subgroups where they can
    #[arg(long, global = true, hide = true, value_name = "BOOL")]
    subgroups: Option<bool>,
    // Whether they stage weights in workgroup memory is the user options' `--shared-weights`.
}

impl TuningArgs {
    /// `load` with these flags over the adapter's default tuning (unchanged where none is given).
    pub fn apply(&self, gpu: &Gpu, load: &LoadOptions) -> LoadOptions {
        let mut load = load.clone();
        let given =
            self.workgroup.is_some() || self.pack_rows.is_some() || self.subgroups.is_some();
        if given {
            let mut t = Tuning::for_adapter(AdapterClass::of(gpu));
            t.workgroup = self.workgroup.unwrap_or(t.workgroup);
            t.rows = self.pack_rows.map_or(t.rows, |r| r.max(4));
            t.subgroups = self.subgroups.unwrap_or(t.subgroups);
            load.tuning = Some(t);
        }
        load
    }
}

/// `XxY` with x·y between 1 and 256 (WebGPU's default `maxComputeInvocationsPerWorkgroup`).
fn parse_workgroup(s: &str) -> Result<[u32; 2], String> {
    let parsed = s
        .split_once(['x', 'X'])
        .and_then(|(x, y)| Some([x.parse::<u32>().ok()?, y.parse::<u32>().ok()?]));
    match parsed {
        Some([x, y]) if x >= 1 && y >= 1 && x * y <= 256 => Ok([x, y]),
        _ => Err(format!("{s:?}: expected XxY with 1 ≤ X·Y ≤ 256, e.g. 8x4")),
    }
}
