//! Kernel throughput on the present adapter: each conv shape of the SDXL decoder's levels, plus
//! GroupNorm and attention, timed over a few dispatch batches (readback included once per batch).
//! Run: `cargo bench --bench kernels [quick|attention] [f16|both] [nosg] [staged|plain] [profile]`
//! (`profile`: then the time of each kernel, timed dispatch by dispatch; `f16`: f16 textures, see
//! `Precision::F16`; `both`: f32 and f16 in turn; `nosg`: no subgroup forms; `staged` / `plain`:
//! weights staged in workgroup memory or not where no subgroup form runs). Prints GFLOP/s;
//! asserts nothing. `BENCH_RUNS=N` times each N times and keeps the fastest; `BENCH_WORKGROUP=XxY`
//! sets the convolution's workgroup shape.

use sdxl_vae::gpu::{BufferPool, Gpu, GpuOptions, Halves, Weight};
use sdxl_vae::kernels::conv2d::{ConvMode, ConvWeights};
use sdxl_vae::kernels::conv_weights::weight_texture;
use sdxl_vae::kernels::group_norm::NormWeights;
use sdxl_vae::kernels::{AdapterClass, Kernels, Tuning};
use sdxl_vae::model::Ops;
use std::time::Instant;

/// Dispatches of each kernel per timed submission.
const REPS: usize = 2;

fn weight(gpu: &Gpu, n: usize) -> Weight {
    let data: Vec<f32> = (0..n)
        .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.05)
        .collect();
    Weight::upload(gpu.device(), gpu.queue(), "bench", &data)
}

#[allow(clippy::too_many_arguments)]
fn conv(
    gpu: &Gpu,
    kern: &Kernels,
    cin: u32,
    cout: u32,
    hw: u32,
    k: u32,
    mode: ConvMode,
    silu_norm: bool,
    f16: bool,
) {
    let (c, o, kk) = (cin as usize, cout as usize, k as usize);
    let raw: Vec<f32> = (0..o * c * kk * kk)
        .map(|i| ((i % 97) as f32 - 48.0) * 1e-3)
        .collect();
    let cw = ConvWeights {
        texture: weight_texture(gpu, &raw, cout, cin, k, f16),
        bias: weight(gpu, o),
        cin,
        cout,
        k,
    };
    let pool = BufferPool::new(gpu.device().clone(), gpu.max_binding_bytes());
    let x: Vec<f32> = (0..c * (hw * hw) as usize)
        .map(|i| (i % 13) as f32 * 0.1)
        .collect();
    let run = || {
        let mut ops = Ops::new(
            gpu,
            pool.clone(),
            kern,
            Halves {
                textures: f16,
                store: f16,
            },
        )
        .unwrap();
        let xt = ops.tensor_from(cin, hw, hw, &x).unwrap();
        let mut last = None;
        for _ in 0..REPS {
            last = Some(if silu_norm {
                let nw = NormWeights {
                    gamma: weight(gpu, cin as usize),
                    beta: weight(gpu, cin as usize),
                    groups: 32,
                    eps: 1e-6,
                };
                let affine = ops.norm_affine(&xt, &nw).unwrap();
                ops.conv_normed(&xt, &affine, true, &cw, None).unwrap()
            } else {
                ops.conv(&xt, &cw, mode, None).unwrap()
            });
        }
        pollster::block_on(ops.read_f32(last.as_ref().unwrap())).unwrap();
    };
    run();
    let s = fastest(run);
    profile(gpu, &run);
    let out = if mode == ConvMode::Up {
        2 * hw
    } else if mode == ConvMode::Down {
        hw / 2
    } else {
        hw
    } as u64;
    let flop = 2.0 * (cin as u64 * cout as u64 * (k * k) as u64 * out * out) as f64 * REPS as f64;
    println!(
        "conv {cin:>3}->{cout:<3} k{k} {mode:?}{} {hw}x{hw} {}: {:.3} s/op {:6.2} GFLOP/s",
        if silu_norm { " +GroupNorm+SiLU" } else { "" },
        if f16 { "f16" } else { "f32" },
        s / REPS as f64,
        flop / s / 1e9
    );
}

/// With the `profile` argument: `run` once more, timed dispatch by dispatch, and the time of each
/// kernel.
fn profile(gpu: &Gpu, run: &impl Fn()) {
    if !std::env::args().any(|a| a == "profile") {
        return;
    }
    gpu.set_profiling(true);
    run();
    for k in gpu.take_profile() {
        println!(
            "  {:<20} {:>4} dispatches {:8.3} s",
            k.kernel, k.dispatches, k.seconds
        );
    }
    gpu.set_profiling(false);
}

/// The fastest of `BENCH_RUNS` (default 1) timed runs of `run`: this machine's speed drifts.
fn fastest(run: impl Fn()) -> f64 {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn group_norm(gpu: &Gpu, kern: &Kernels, c: u32, hw: u32) {
    let nw = NormWeights {
        gamma: weight(gpu, c as usize),
        beta: weight(gpu, c as usize),
        groups: 32,
        eps: 1e-6,
    };
    let pool = BufferPool::new(gpu.device().clone(), gpu.max_binding_bytes());
    let x: Vec<f32> = (0..(c * hw * hw) as usize)
        .map(|i| (i % 13) as f32 * 0.1)
        .collect();
    let run = || {
        let mut ops = Ops::new(gpu, pool.clone(), kern, Halves::default()).unwrap();
        let xt = ops.tensor_from(c, hw, hw, &x).unwrap();
        let mut last = None;
        for _ in 0..REPS {
            last = Some(ops.group_norm(&xt, &nw, true).unwrap());
        }
        pollster::block_on(ops.read_f32(last.as_ref().unwrap())).unwrap();
    };
    run();
    let t = Instant::now();
    run();
    let s = t.elapsed().as_secs_f64() / REPS as f64;
    println!(
        "group_norm+silu {c} ch {hw}x{hw}: {:.4} s/op {:.2} GB/s",
        s,
        3.0 * 4.0 * (c * hw * hw) as f64 / s / 1e9
    );
}

/// Attention over `c` channels and `hw × hw` tokens, in chunks of `chunk` keys (0: the
/// one-workgroup-per-query kernel).
fn attention(gpu: &Gpu, kern: &mut Kernels, c: u32, hw: u32, chunk: u32, f16: bool) {
    kern.tuning.attention_chunk = chunk;
    let kern = &*kern;
    let pool = BufferPool::new(gpu.device().clone(), gpu.max_binding_bytes());
    let n = (c * hw * hw) as usize;
    let x: Vec<f32> = (0..n).map(|i| ((i % 17) as f32 - 8.0) * 0.05).collect();
    let run = || {
        let mut ops = Ops::new(
            gpu,
            pool.clone(),
            kern,
            Halves {
                textures: f16,
                store: f16,
            },
        )
        .unwrap();
        let t = ops.tensor_from(c, hw, hw, &x).unwrap();
        let out = ops.attention(&t, &t, &t).unwrap();
        pollster::block_on(ops.read_f32(&out)).unwrap();
    };
    run();
    let t = Instant::now();
    run();
    let s = t.elapsed().as_secs_f64();
    profile(gpu, &run);
    let tokens = (hw * hw) as f64;
    println!(
        "attention {c} ch {hw}x{hw}, chunks of {chunk} keys (0: one kernel): {s:.3} s/op {:.2} GFLOP/s",
        4.0 * c as f64 * tokens * tokens / s / 1e9
    );
}

fn main() {
    let gpu = pollster::block_on(Gpu::new(&GpuOptions::default())).expect("a wgpu adapter");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let has = |w: &str| args.iter().any(|a| a == w);
    let f16s = if has("both") {
        vec![false, true]
    } else {
        vec![has("f16")]
    };
    // `BENCH_WORKGROUP=XxY`: the convolution's workgroup shape.
    let workgroup = std::env::var("BENCH_WORKGROUP").ok().map(|s| {
        let (x, y) = s.split_once('x').expect("BENCH_WORKGROUP=XxY");
        [x, y].map(|v| v.parse().expect("BENCH_WORKGROUP=XxY"))
    });
    let mut tuning = Tuning::for_adapter(AdapterClass::of(&gpu));
    tuning.workgroup = workgroup.unwrap_or(tuning.workgroup);
    tuning.subgroups = !has("nosg");
    tuning.staged = (tuning.staged || has("staged")) && !has("plain");
    let mut kern = Kernels::with_tuning(&gpu, tuning);
    let staging = kern.conv(false, false, u32::MAX, false).1.staging;
    println!("adapter: {}; conv staging {staging:?}", gpu.adapter_name());
    if has("attention") {
        let chunk = kern.tuning.attention_chunk;
        // The one-kernel form at 64² takes minutes on lavapipe: at 32² only.
        for (hw, forms) in [(32, vec![chunk, 0]), (64, vec![chunk])] {
            for form in forms {
                for &f16 in f16s.iter().filter(|&&f| !f || form > 0) {
                    attention(&gpu, &mut kern, 512, hw, form, f16);
                }
            }
        }
        return;
    }
    let convs = |cin, cout, hw, k, mode, norm| {
        for &f16 in &f16s {
            conv(&gpu, &kern, cin, cout, hw, k, mode, norm, f16);
        }
    };
    if has("quick") {
        convs(128, 128, 32, 3, ConvMode::Same, false);
        convs(64, 64, 128, 3, ConvMode::Same, false);
        convs(256, 256, 64, 3, ConvMode::Same, false);
        convs(256, 256, 64, 3, ConvMode::Same, true);
        return;
    }
    convs(512, 512, 32, 3, ConvMode::Same, false);
    convs(256, 256, 64, 3, ConvMode::Same, false);
    convs(128, 128, 64, 3, ConvMode::Same, false);
    convs(128, 128, 64, 3, ConvMode::Same, true);
    convs(256, 128, 64, 1, ConvMode::Same, false);
    convs(256, 256, 32, 3, ConvMode::Up, false);
    convs(128, 128, 64, 3, ConvMode::Down, false);
    convs(256, 256, 128, 3, ConvMode::Down, false);
    convs(128, 3, 128, 3, ConvMode::Same, false);
    group_norm(&gpu, &kern, 256, 128);
    let chunk = kern.tuning.attention_chunk;
    for &f16 in &f16s {
        attention(&gpu, &mut kern, 512, 32, chunk, f16);
    }
}
