//! Activations held as f16 pairs (`Precision::F16`): row copies, convolutions reading and
//! writing them (GroupNorm statistics on load, residuals bound or added in place, a narrowing
//! convolution over its own input, row bands, odd channel counts) and the overflow guard on
//! their stores — against the CPU twins on f16-rounded values.

use crate::support;

use half::f16;
use sdxl_vae::cpu;
use sdxl_vae::gpu::BufferPool;
use sdxl_vae::kernels::conv2d::{out_size, out_starts, ConvMode};
use sdxl_vae::kernels::group_norm::NormWeights;
use sdxl_vae::model::Ops;
use sdxl_vae::Error;
use support::{assert_close, worst, Env, Rng};

/// Rounded to f16 (nearest even) and back.
fn round(v: &[f32]) -> Vec<f32> {
    v.iter().map(|&x| f16::from_f32(x).to_f32()).collect()
}

/// Ops of an f16 call: f16 textures, and new activations held as f16 pairs.
fn ops(e: &Env) -> Ops<'_> {
    let pool = BufferPool::new(e.gpu.device().clone(), e.gpu.max_binding_bytes());
    let both = sdxl_vae::gpu::Halves {
        textures: true,
        store: true,
    };
    Ops::new(&e.gpu, pool, &e.kern, both).expect("ops")
}

/// Values put into f16 pairs come back rounded, and unchanged through row bands and back into
/// one buffer (odd channel counts too: the last pair's high half is padding); the pairs take
/// half the bytes.
#[test]
fn f16_pairs_round_trip_through_row_bands() {
    let e = support::env();
    let mut rng = Rng(31);
    for (c, h, w) in [(1, 6, 5), (4, 7, 9), (5, 9, 3)] {
        let x = rng.vec(c * h * w, -100.0, 100.0);
        let mut ops = ops(&e);
        let t = ops
            .tensor_from_f16(c as u32, h as u32, w as u32, &x)
            .unwrap();
        assert!(t.f16);
        assert_eq!(t.bytes(), 4 * (c.div_ceil(2) * h * w) as u64);
        let banded = ops.reband(&t, &[0, 2, 5]).unwrap();
        let back = ops.whole(&banded).unwrap();
        assert!(banded.f16 && back.f16);
        let got = pollster::block_on(ops.read_f32(&back)).unwrap();
        assert_eq!(got, round(&x), "[{c}, {h}, {w}]");
    }
}

/// Where a convolution's result goes.
#[derive(Clone, Copy, Debug)]
enum Res {
    None,
    /// Added from another tensor into a new one.
    New,
    /// Added into the residual's own buffers.
    InPlace,
}

/// Convolutions on f16 activations (every mode, whole and banded, GroupNorm + SiLU on load
/// (with "same" padding, as the model has it) with groups whose channels straddle the pairs, odd channel counts, residuals): the GPU equals the
/// twin on rounded values with the output rounded (one f16 step apart at most, where a sum
/// falls on the other side of a rounding boundary), and differs from the f32 twin.
#[test]
fn convolutions_on_f16_activations_match_cpu_twin() {
    let e = support::env();
    let mut rng = Rng(32);
    type Case = (
        usize,
        usize,
        usize,
        usize,
        usize,
        ConvMode,
        Option<usize>,
        Res,
    );
    let cases: [(Case, &[u32]); 6] = [
        ((12, 9, 7, 19, 3, ConvMode::Same, Some(4), Res::New), &[0]),
        ((8, 10, 6, 11, 3, ConvMode::Up, None, Res::None), &[0, 2]),
        (
            (9, 8, 10, 21, 3, ConvMode::Down, None, Res::InPlace),
            &[0, 4],
        ),
        (
            (16, 12, 9, 13, 1, ConvMode::Same, Some(4), Res::InPlace),
            &[0, 4],
        ),
        ((6, 3, 5, 8, 3, ConvMode::Same, None, Res::None), &[0]),
        (
            (9, 7, 11, 9, 3, ConvMode::Same, Some(3), Res::New),
            &[0, 3, 4, 9],
        ),
    ];
    for ((cin, cout, h, w, k, mode, groups, res), starts) in cases {
        let x = rng.vec(cin * h * w, -4.0, 4.0);
        let wt = rng.vec(cout * cin * k * k, -0.5, 0.5);
        let b = rng.vec(cout, -0.5, 0.5);
        let (oh, ow) = out_size(mode, h as u32, w as u32);
        let r = rng.vec(cout * (oh * ow) as usize, -1.0, 1.0);
        let (gamma, beta) = (rng.vec(cin, 0.5, 1.5), rng.vec(cin, -0.5, 0.5));
        let twin = |x: &[f32], wt: &[f32], r: &[f32]| {
            let input = match groups {
                Some(g) => cpu::group_norm(x, cin, h * w, g, &gamma, &beta, 1e-6, true),
                None => x.to_vec(),
            };
            let r = (!matches!(res, Res::None)).then_some(r);
            cpu::conv2d(&round(&input), (cin, h, w), wt, &b, cout, k, mode, r)
        };
        // (The weights are f32: `Env::conv_weights`.)
        let want = round(&twin(&round(&x), &wt, &round(&r)));
        let want32 = twin(&x, &wt, &r);

        let cw = e.conv_weights(&wt, &b, cout, cin, k);
        let mut ops = ops(&e);
        let xt = ops
            .tensor_from_f16(cin as u32, h as u32, w as u32, &x)
            .unwrap();
        let xt = ops.reband(&xt, starts).unwrap();
        let rt = ops.tensor_from_f16(cout as u32, oh, ow, &r).unwrap();
        let rt = ops.reband(&rt, &out_starts(mode, starts).unwrap()).unwrap();
        let affine = groups.map(|g| {
            let nw = NormWeights {
                gamma: e.weight(&gamma),
                beta: e.weight(&beta),
                groups: g as u32,
                eps: 1e-6,
            };
            ops.norm_affine(&xt, &nw).unwrap()
        });
        let held = rt.storage();
        let bound = matches!(res, Res::New).then_some(&rt);
        let out = match (res, &affine) {
            (Res::InPlace, Some(a)) => ops.conv_normed_add(&xt, a, true, &cw, rt),
            (Res::InPlace, None) => ops.conv_add(&xt, &cw, mode, rt),
            (_, Some(a)) => ops.conv_normed(&xt, a, true, &cw, bound),
            (_, None) => ops.conv(&xt, &cw, mode, bound),
        }
        .unwrap();
        assert!(out.f16, "f16 output");
        if matches!(res, Res::InPlace) {
            assert_eq!(out.storage(), held, "added in place");
        }
        let got = pollster::block_on(ops.read_f32(&out)).unwrap();
        let what = format!("f16 activations {cin}->{cout} {h}x{w} k{k} {mode:?} groups {groups:?} {res:?} bands {starts:?}");
        // A normalised input a hair apart may round to the neighbouring f16 as well.
        let atol = if groups.is_some() { 2e-3 } else { 1e-4 };
        assert_close(&what, &got, &want, atol, 1.1e-3);
        let (off, _) = worst(&got, &want32);
        assert!(off > 2e-4, "{what}: only {off:.2e} from f32: not f16?");
    }
}

/// A 1×1 convolution that narrows an f16 input is written over the input's own buffers, as
/// f16 pairs, equal to the twin.
#[test]
fn narrowing_conv_over_an_f16_input_writes_its_own_buffers() {
    let e = support::env();
    let mut rng = Rng(33);
    let (cin, cout, h, w) = (8, 6, 5, 7);
    let x = rng.vec(cin * h * w, -2.0, 2.0);
    let wt = rng.vec(cout * cin, -0.5, 0.5);
    let b = rng.vec(cout, -0.5, 0.5);
    let want = cpu::conv2d(
        &round(&x),
        (cin, h, w),
        &wt,
        &b,
        cout,
        1,
        ConvMode::Same,
        None,
    );
    let cw = e.conv_weights(&wt, &b, cout, cin, 1);
    let mut ops = ops(&e);
    let xt = ops
        .tensor_from_f16(cin as u32, h as u32, w as u32, &x)
        .unwrap();
    let held = xt.storage();
    let out = ops.conv_over_input(xt, &cw).unwrap();
    assert!(out.f16);
    assert_eq!(out.storage(), held, "written over its input");
    let got = pollster::block_on(ops.read_f32(&out)).unwrap();
    assert_close("narrowing over f16", &got, &round(&want), 1e-4, 1.1e-3);
}

/// An f16 output beyond f16's range fails the read with `F16Overflow` (its operands are within
/// it); the same convolution with f32 outputs reads fine.
#[test]
fn f16_stores_beyond_the_range_are_reported() {
    let e = support::env();
    let (cin, cout, h, w) = (4, 2, 3, 5);
    let x = vec![1000.0; cin * h * w];
    let wt = vec![20.0; cout * cin];
    let cw = e.conv_weights(&wt, &[0.0; 2], cout, cin, 1);
    for f32_out in [false, true] {
        let mut ops = ops(&e);
        let xt = ops
            .tensor_from_f16(cin as u32, h as u32, w as u32, &x)
            .unwrap();
        let out = match f32_out {
            true => ops.f32_outputs(|ops| ops.conv(&xt, &cw, ConvMode::Same, None)),
            false => ops.conv(&xt, &cw, ConvMode::Same, None),
        };
        match pollster::block_on(ops.read_f32(&out.unwrap())) {
            Err(Error::F16Overflow { activation }) => {
                assert!(!f32_out, "reported with f32 outputs");
                assert!(activation, "reported as a stored activation");
            }
            Ok(got) => {
                assert!(f32_out, "8e4 stored as f16 without a report");
                assert!(got.iter().all(|&v| v == 80_000.0), "{got:?}");
            }
            Err(other) => panic!("{other}"),
        }
    }
}

/// The RMS norm on f16 pairs reads and writes pairs (an odd channel count's padding ignored),
/// and equals its CPU twin on the rounded input, up to the output's own rounding.
#[test]
fn rms_norm_on_f16_pairs() {
    let e = support::env();
    let mut rng = Rng(43);
    for (c, h, w) in [(5, 4, 6), (32, 3, 3)] {
        let x = rng.vec(c * h * w, -4.0, 4.0);
        let gamma = rng.vec(c, 0.5, 1.5);
        let want = sdxl_vae::cpu::rms_norm(&round(&x), c, h * w, &gamma, true);
        let mut ops = ops(&e);
        let xt = ops
            .tensor_from_f16(c as u32, h as u32, w as u32, &x)
            .unwrap();
        let xt = ops.reband(&xt, &[0, 1]).unwrap();
        let out = ops.rms_norm(&xt, &e.weight(&gamma), true).unwrap();
        assert!(out.f16);
        let got = pollster::block_on(ops.read_f32(&out)).unwrap();
        assert_close(&format!("rms_norm f16 c{c}"), &got, &want, 2e-3, 2e-3);
    }
}
