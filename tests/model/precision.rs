//! f16 precision (`Precision::F16`): the texture convolution and the chunked attention reading
//! f16 weights and inputs, against their CPU twins on the same f16-rounded values; the overflow
//! guard in both pack kernels; and whole models against their f32 runs (past f16's range:
//! `precision_overflow.rs`; f16 activations: `kernels_f16.rs`).

use crate::support;

use half::f16;
use sdxl_vae::cpu;
use sdxl_vae::gpu::{BufferPool, Weight};
use sdxl_vae::kernels::conv2d::{out_size, ConvMode, ConvWeights};
use sdxl_vae::kernels::conv_weights::weight_texture;
use sdxl_vae::kernels::group_norm::NormWeights;
use sdxl_vae::kernels::{AdapterClass, Kernels, Precision, Staging, Tuning};
use sdxl_vae::model::Ops;
use sdxl_vae::{Error, Gpu, Image, Latent};
use support::{assert_close, small_vae, worst, Rng};

/// Rounded to f16 (nearest even) and back.
fn round(v: &[f32]) -> Vec<f32> {
    v.iter().map(|&x| f16::from_f32(x).to_f32()).collect()
}

struct F16Env {
    gpu: Gpu,
    kern: Kernels,
}

impl F16Env {
    fn new() -> F16Env {
        F16Env::with_workgroup(None)
    }

    fn with_workgroup(wg: Option<[u32; 2]>) -> F16Env {
        let gpu = support::gpu();
        let mut tuning = Tuning::for_adapter(AdapterClass::of(&gpu));
        if let Some(wg) = wg {
            tuning.workgroup = wg;
        }
        let kern = Kernels::with_tuning(&gpu, tuning);
        F16Env { gpu, kern }
    }

    /// Ops of a call at f16 precision if `f16`.
    fn ops(&self, f16: bool) -> Ops<'_> {
        let pool = BufferPool::new(self.gpu.device().clone(), self.gpu.max_binding_bytes());
        let halves = sdxl_vae::gpu::Halves {
            textures: f16,
            store: f16,
        };
        Ops::new(&self.gpu, pool, &self.kern, halves).expect("ops")
    }

    fn weight(&self, data: &[f32]) -> Weight {
        Weight::upload(self.gpu.device(), self.gpu.queue(), "test", data)
    }

    /// Texture-only weights, f16 where the values allow (checked, with the texture's bytes).
    fn conv_weights(
        &self,
        wt: &[f32],
        b: &[f32],
        cout: usize,
        cin: usize,
        k: usize,
    ) -> ConvWeights {
        let texture = weight_texture(&self.gpu, wt, cout as u32, cin as u32, k as u32, true);
        let (f16, bytes) = (texture.f16, texture.bytes);
        let fits = wt.iter().all(|v| v.abs() <= 65504.0);
        assert_eq!(f16, fits, "f16 weights where they fit");
        // 16-byte texels, 8·k·k wide, a row per 8 input channels (f32: 2), a layer per 8 outputs.
        let rows = cin.div_ceil(8) * if f16 { 1 } else { 2 };
        assert_eq!(
            bytes,
            16 * (8 * k * k * rows * cout.div_ceil(8)) as u64,
            "texture bytes"
        );
        ConvWeights {
            texture,
            bias: self.weight(b),
            cin: cin as u32,
            cout: cout as u32,
            k: k as u32,
        }
    }
}

/// Every mode, with and without a residual and an input GroupNorm (+ SiLU): the GPU equals the
/// twin on f16-rounded inputs and weights (f32 accumulation), and differs from the f32 twin by
/// the rounding — so a silently f32 path fails too. Weights beyond f16's range stay f32 (the
/// kernel for f16 inputs with f32 weights).
#[test]
fn texture_conv_in_f16_matches_cpu_twin_on_rounded_values() {
    let mut e = F16Env::new();
    // Where the adapter has subgroups of 8 (lavapipe), with and without sharing weight fetches;
    // then with the weights staged in workgroup memory (as on GPUs).
    let has_sg = e.gpu.is_cpu() && e.gpu.has_subgroups_of(8);
    let staging = e.kern.conv(true, true, u32::MAX, false).1.staging;
    assert_eq!(staging == Staging::Subgroup, has_sg);
    for (sg, shared) in [(has_sg, false), (false, false), (false, true)] {
        e.kern.tuning.subgroups = sg;
        e.kern.tuning.staged = shared;
        f16_conv_cases(&e, sg, shared);
    }
}

fn f16_conv_cases(e: &F16Env, sg: bool, shared: bool) {
    let mut rng = Rng(21);
    type Case = (
        usize,
        usize,
        usize,
        usize,
        usize,
        ConvMode,
        bool,
        Option<bool>,
    );
    let cases: [Case; 10] = [
        (12, 9, 7, 19, 3, ConvMode::Same, true, None),
        (8, 10, 6, 11, 3, ConvMode::Up, false, None),
        (9, 7, 8, 21, 3, ConvMode::Down, true, None),
        // More groups of 8 input channels than the workgroup form stages at once (36 of a
        // 1×1, 4 of a 3×3), with a partial last stage.
        (300, 12, 5, 9, 1, ConvMode::Same, false, None),
        (72, 16, 6, 6, 3, ConvMode::Same, false, None),
        (16, 12, 7, 20, 3, ConvMode::Same, true, Some(true)),
        (32, 9, 9, 17, 1, ConvMode::Same, false, Some(false)),
        // With one weight beyond f16 (these keep f32 weights).
        (13, 9, 7, 10, 3, ConvMode::Same, true, None),
        (12, 8, 4, 9, 3, ConvMode::Up, false, None),
        (20, 5, 6, 8, 1, ConvMode::Same, false, None),
    ];
    for (i, (cin, cout, h, w, k, mode, residual, norm)) in cases.into_iter().enumerate() {
        let x = rng.vec(cin * h * w, -4.0, 4.0);
        let mut wt = rng.vec(cout * cin * k * k, -0.5, 0.5);
        let big = i >= 7;
        if big {
            wt[cin * k * k + 1] = 7e4;
        }
        let b = rng.vec(cout, -0.5, 0.5);
        let (oh, ow) = out_size(mode, h as u32, w as u32);
        let r = rng.vec(cout * (oh * ow) as usize, -1.0, 1.0);
        let (gamma, beta) = (rng.vec(cin, 0.5, 1.5), rng.vec(cin, -0.5, 0.5));
        let input = match norm {
            Some(silu) => cpu::group_norm(&x, cin, h * w, 4, &gamma, &beta, 1e-6, silu),
            None => x.clone(),
        };
        let res = residual.then_some(&r[..]);
        let twin = |x: &[f32], wt: &[f32]| cpu::conv2d(x, (cin, h, w), wt, &b, cout, k, mode, res);
        let want16 = twin(&round(&input), &if big { wt.clone() } else { round(&wt) });
        let want32 = twin(&input, &wt);

        let cw = e.conv_weights(&wt, &b, cout, cin, k);
        let mut ops = e.ops(true);
        let xt = ops.tensor_from(cin as u32, h as u32, w as u32, &x).unwrap();
        let rt = ops.tensor_from(cout as u32, oh, ow, &r).unwrap();
        let rt = residual.then_some(&rt);
        // f32 outputs: the operands' rounding alone (f16 outputs: `kernels_f16.rs`).
        let out = ops.f32_outputs(|ops| match norm {
            Some(silu) => {
                let nw = NormWeights {
                    gamma: e.weight(&gamma),
                    beta: e.weight(&beta),
                    groups: 4,
                    eps: 1e-6,
                };
                let affine = ops.norm_affine(&xt, &nw)?;
                ops.conv_normed(&xt, &affine, silu, &cw, rt)
            }
            None => ops.conv(&xt, &cw, mode, rt),
        });
        let out = out.unwrap();
        let got = pollster::block_on(ops.read_f32(&out)).unwrap();
        let what =
            format!("f16 conv {cin}->{cout} {h}x{w} k{k} {mode:?} norm {norm:?} big {big} sg {sg} shared {shared}");
        // A normalised input computed a hair apart on the GPU may round to the neighbouring
        // f16 (one step: 2⁻¹⁰·|x|), hence the looser bound with a norm.
        let atol = if norm.is_some() { 2e-3 } else { 1e-4 };
        assert_close(&what, &got, &want16, atol, 1e-4);
        let (off, _) = worst(&got, &want32);
        // f32 operands would be within ~1e-5 of it.
        assert!(
            off > 2e-4,
            "{what}: only {off:.2e} from the f32 twin: not f16?"
        );
    }
}

/// The f16 kernels with an odd workgroup shape, in chunks of 4 input rows and 16 output
/// columns, over row bands, plain and with weights staged in workgroup memory: equal to the
/// twin on rounded values.
#[test]
fn f16_texture_conv_in_chunks_and_bands_matches_cpu_twin() {
    let mut e = F16Env::with_workgroup(Some([3, 5]));
    (e.kern.tuning.rows, e.kern.tuning.cols) = (4, 20);
    for shared in [false, true] {
        e.kern.tuning.staged = shared;
        f16_chunk_cases(&e);
    }
}

fn f16_chunk_cases(e: &F16Env) {
    let mut rng = Rng(22);
    for (cin, cout, h, w, k, mode, starts) in [
        (12, 9, 11, 37, 3, ConvMode::Same, &[0u32, 3, 4, 9][..]),
        (10, 6, 6, 19, 3, ConvMode::Up, &[0, 2][..]),
        (9, 8, 10, 21, 3, ConvMode::Down, &[0, 4][..]),
        (17, 5, 5, 27, 1, ConvMode::Same, &[0][..]),
    ] {
        let x = rng.vec(cin * h * w, -4.0, 4.0);
        let wt = rng.vec(cout * cin * k * k, -0.5, 0.5);
        let b = rng.vec(cout, -0.5, 0.5);
        let want = cpu::conv2d(
            &round(&x),
            (cin, h, w),
            &round(&wt),
            &b,
            cout,
            k,
            mode,
            None,
        );
        let cw = e.conv_weights(&wt, &b, cout, cin, k);
        let mut ops = e.ops(true);
        let xt = ops.tensor_from(cin as u32, h as u32, w as u32, &x).unwrap();
        let xt = ops.reband(&xt, starts).unwrap();
        let out = ops
            .f32_outputs(|ops| ops.conv(&xt, &cw, mode, None))
            .unwrap();
        let got = pollster::block_on(ops.read_f32(&out)).unwrap();
        let what = format!(
            "f16 chunked conv {cin}->{cout} {h}x{w} k{k} {mode:?} bands {starts:?} shared {}",
            e.kern.tuning.staged
        );
        assert_close(&what, &got, &want, 1e-4, 1e-4);
    }
}

/// A convolution input beyond f16's range makes the read fail with `F16Overflow` (the
/// largest finite f16 passes); the same input through f32 textures, with the f16 weights (the
/// kernel of the rerun after an overflow), reads fine.
#[test]
fn f16_guard_reports_inputs_beyond_f16_in_the_input_pack() {
    let e = F16Env::new();
    let (cin, cout, h, w) = (6, 5, 4, 7);
    let mut rng = Rng(5);
    let wt = rng.vec(cout * cin, -0.5, 0.5);
    let b = rng.vec(cout, -0.5, 0.5);
    let cw = e.conv_weights(&wt, &b, cout, cin, 1);
    for (big, f16, overflows) in [
        (65504.0, true, false),
        (-65600.0, true, true),
        (7e4, true, true),
        (7e4, false, false),
    ] {
        let mut x = rng.vec(cin * h * w, -1.0, 1.0);
        x[cin * h * w - 3] = big;
        let mut ops = e.ops(f16);
        let xt = ops.tensor_from(cin as u32, h as u32, w as u32, &x).unwrap();
        let out = ops.f32_outputs(|ops| ops.conv(&xt, &cw, ConvMode::Same, None));
        let got = pollster::block_on(ops.read_f32(&out.unwrap()));
        let what = format!(
            "input {big} through {} textures",
            if f16 { "f16" } else { "f32" }
        );
        match got {
            Err(Error::F16Overflow { activation }) => {
                assert!(overflows, "{what}: overflow reported");
                assert!(!activation, "{what}: reported as an input");
            }
            Ok(got) => {
                assert!(!overflows, "{what}: no overflow reported");
                // The weights are f16 either way; the input only through f16 textures.
                let x = if f16 { round(&x) } else { x };
                let wt = round(&wt);
                let want = cpu::conv2d(&x, (cin, h, w), &wt, &b, cout, 1, ConvMode::Same, None);
                assert_close(&what, &got, &want, 1e-4, 1e-5);
            }
            Err(other) => panic!("{what}: {other}"),
        }
    }
}

fn run_attention(
    e: &F16Env,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    c: usize,
    h: usize,
    w: usize,
) -> sdxl_vae::Result<Vec<f32>> {
    let mut ops = e.ops(true);
    let (qt, kt, vt) = (
        ops.tensor_from(c as u32, h as u32, w as u32, q).unwrap(),
        ops.tensor_from(c as u32, h as u32, w as u32, k).unwrap(),
        ops.tensor_from(c as u32, h as u32, w as u32, v).unwrap(),
    );
    let out = ops.attention(&qt, &kt, &vt).unwrap();
    pollster::block_on(ops.read_f32(&out))
}

/// The chunked attention with queries, keys, values and probabilities through f16 textures
/// (scores, softmax statistics and sums in f32): within 2e-3 of the f32 twin over several
/// chunks; values beyond f16 (packed as weights by `pack_weights.wgsl`) are reported.
#[test]
fn chunked_attention_in_f16_is_close_to_cpu_twin_and_guarded() {
    let mut e = F16Env::new();
    e.kern.tuning.attention_chunk = 48;
    let (c, h, w) = (64, 9, 13);
    let n = h * w;
    let mut rng = Rng(8);
    let q = rng.vec(c * n, -1.0, 1.0);
    let k = rng.vec(c * n, -1.0, 1.0);
    let mut v = rng.vec(c * n, -1.0, 1.0);
    let want = cpu::attention(&q, &k, &v, c, n);
    let got = run_attention(&e, &q, &k, &v, c, h, w).unwrap();
    let err = assert_close("f16 attention", &got, &want, 2e-3, 0.0);
    assert!(
        err > 1e-5,
        "f16 attention only {err:.2e} from f32: not f16?"
    );
    v[c * n - 5] = 1e5;
    match run_attention(&e, &q, &k, &v, c, h, w) {
        Err(Error::F16Overflow { activation: false }) => {}
        other => panic!("a value of 1e5 gave {:?}", other.map(|_| ())),
    }
}

/// A whole model in f16 against its f32 run: the encoder's latent and the decoder's output
/// within the stated tolerances (measured: about a third of them), and not equal; f16 weights
/// take half the bytes.
#[test]
fn model_in_f16_is_close_to_f32() {
    let gpu = support::gpu();
    let (v32, v16) = (
        small_vae(&gpu, Precision::F32),
        small_vae(&gpu, Precision::F16),
    );
    assert!(
        v16.weight_bytes() < v32.weight_bytes() * 6 / 10,
        "f16 weight bytes"
    );
    let mut rng = Rng(9);
    let (w, h) = (72, 56);
    let rgba: Vec<u8> = (0..4 * w * h)
        .map(|_| rng.uniform(0.0, 255.0) as u8)
        .collect();
    let image = Image {
        width: w as u32,
        height: h as u32,
        rgba,
    };
    let l32 = pollster::block_on(v32.encode(&image)).unwrap();
    let l16 = pollster::block_on(v16.encode(&image)).unwrap();
    let err = assert_close("f16 latent", &l16.data, &l32.data, 2e-2, 0.0);
    assert!(err > 1e-6, "f16 latent equals f32");
    let latent = Latent::new(4, 16, 12, rng.vec(4 * 16 * 12, -3.0, 3.0)).unwrap();
    let d32 = pollster::block_on(v32.decode_raw(&latent)).unwrap();
    let d16 = pollster::block_on(v16.decode_raw(&latent)).unwrap();
    let err = assert_close("f16 decode", &d16.data, &d32.data, 3e-2, 0.0);
    assert!(err > 1e-6, "f16 decode equals f32");
    assert_eq!(
        v16.precision(),
        Precision::F16,
        "no overflow at these values"
    );
}
