//! Convolutions whose results are written into buffers already held: a residual added in place
//! and a narrowing 1×1 convolution written over its own input, against their naive CPU twin.

use crate::support;

use sdxl_vae::cpu;
use sdxl_vae::kernels::conv2d::{self, out_size, ConvMode};
use sdxl_vae::kernels::group_norm::NormWeights;
use sdxl_vae::model::Ops;
use support::{assert_close, conv_envs, Env, Rng};

/// Results written into buffers already held: `conv(x) (+ GroupNorm on load) + r` added into
/// `r`'s own buffers (every mode, whole and banded, in chunks of input channels, column chunks),
/// and a 1×1 convolution that narrows its input written over that input. Each equals its CPU
/// twin; each is in place where it may be and not where a clone of the buffers is held, whose values then stay as they were.
#[test]
fn convolutions_in_place_match_cpu_twin() {
    for e in &conv_envs() {
        let mut rng = Rng(21);
        type Case = (
            usize,
            usize,
            usize,
            usize,
            usize,
            ConvMode,
            bool,
            &'static [u32],
        );
        let cases: [Case; 7] = [
            (5, 9, 12, 11, 3, ConvMode::Same, false, &[0, 3, 7]),
            (8, 8, 9, 17, 3, ConvMode::Same, true, &[0, 2, 3, 8]),
            (4, 7, 6, 9, 3, ConvMode::Up, false, &[0, 2, 3]),
            (5, 6, 12, 10, 3, ConvMode::Down, false, &[0, 4, 8, 10]),
            (240, 10, 4, 21, 3, ConvMode::Same, true, &[0]),
            (8, 12, 9, 13, 1, ConvMode::Same, false, &[0, 4]),
            (2, 3, 2, 16400, 3, ConvMode::Same, false, &[0]),
        ];
        for (cin, cout, h, w, k, mode, norm, starts) in cases {
            for held in [false, true] {
                let x = rng.vec(cin * h * w, -1.0, 1.0);
                let wt = rng.vec(cout * cin * k * k, -0.5, 0.5);
                let b = rng.vec(cout, -0.5, 0.5);
                let (oh, ow) = out_size(mode, h as u32, w as u32);
                let r = rng.vec(cout * (oh * ow) as usize, -1.0, 1.0);
                let (gamma, beta) = (rng.vec(cin, 0.5, 1.5), rng.vec(cin, -0.5, 0.5));
                let groups = if cin % 4 == 0 { 4 } else { 1 };
                let input = if norm {
                    cpu::group_norm(&x, cin, h * w, groups, &gamma, &beta, 1e-6, true)
                } else {
                    x.clone()
                };
                let want = cpu::conv2d(&input, (cin, h, w), &wt, &b, cout, k, mode, Some(&r));
                let cw = e.conv_weights(&wt, &b, cout, cin, k);
                let out_starts = conv2d::out_starts(mode, starts).unwrap();
                let nw = NormWeights {
                    gamma: e.weight(&gamma),
                    beta: e.weight(&beta),
                    groups: groups as u32,
                    eps: 1e-6,
                };
                let what = format!(
                    "conv {cin}->{cout} {h}x{w} k{k} {mode:?} norm={norm} bands {starts:?} \
                     into the residual, a clone held: {held}"
                );
                // The call: the result, and the clone of the residual where one is held.
                let record = |ops: &mut Ops| {
                    let xt = ops.tensor_from(cin as u32, h as u32, w as u32, &x).unwrap();
                    // (The unbanded tensor is the banded one where `starts` is [0].)
                    let xt = ops.reband(&{ xt }, starts).unwrap();
                    let rt = ops.tensor_from(cout as u32, oh, ow, &r).unwrap();
                    let rt = ops.reband(&{ rt }, &out_starts).unwrap();
                    let keep = held.then(|| rt.clone());
                    let bufs = rt.storage();
                    let out = if norm {
                        let affine = ops.norm_affine(&xt, &nw).unwrap();
                        ops.conv_normed_add(&xt, &affine, true, &cw, rt).unwrap()
                    } else {
                        ops.conv_add(&xt, &cw, mode, rt).unwrap()
                    };
                    assert_eq!(out.storage() == bufs, !held, "{what}: in place");
                    assert_eq!(out.starts(), out_starts);
                    let kept = keep.map(|t| ops.whole(&t).unwrap());
                    (ops.whole(&out).unwrap(), kept)
                };
                let mut ops = e.ops();
                let (out, _) = record(&mut ops);
                let got = pollster::block_on(ops.read_f32(&out)).unwrap();
                assert_close(&what, &got, &want, 1e-4, 1e-4);
                // The same call again, reading the clone.
                let mut ops = e.ops();
                if let (_, Some(t)) = record(&mut ops) {
                    let got = pollster::block_on(ops.read_f32(&t)).unwrap();
                    assert_eq!(got, r, "{what}: the clone's values");
                }
            }
        }
    }
}

/// A 1×1 convolution that narrows its input, written over that input's own buffers (it packs
/// each chunk of rows before any is written), whole, in row bands, in chunks of rows and of
/// columns; into a new tensor where a clone of the input is held (whose values then stay as
/// they were).
#[test]
fn narrowing_1x1_convolution_over_its_input_matches_cpu_twin() {
    let mut envs = conv_envs();
    // Chunks of 4 rows and of 16 columns.
    let mut small = sdxl_vae::kernels::Kernels::new(&envs[0].gpu);
    (small.tuning.rows, small.tuning.cols) = (4, 20);
    envs.push(Env {
        gpu: envs[0].gpu.clone(),
        kern: small,
    });
    for e in &envs {
        let mut rng = Rng(23);
        let cases: [(usize, usize, usize, usize, &[u32]); 4] = [
            (8, 4, 9, 13, &[0]),
            (12, 12, 7, 37, &[0, 2, 5]),
            (40, 20, 11, 33, &[0, 4, 9]),
            (7, 3, 5, 8, &[0, 1]),
        ];
        for (cin, cout, h, w, starts) in cases {
            for held in [false, true] {
                let x = rng.vec(cin * h * w, -1.0, 1.0);
                let wt = rng.vec(cout * cin, -0.5, 0.5);
                let b = rng.vec(cout, -0.5, 0.5);
                let want = cpu::conv2d(&x, (cin, h, w), &wt, &b, cout, 1, ConvMode::Same, None);
                let cw = e.conv_weights(&wt, &b, cout, cin, 1);
                let what = format!(
                    "1x1 {cin}->{cout} {h}x{w} bands {starts:?} over its input, a clone held: \
                     {held}"
                );
                // The call: the result, and the clone of the input where one is held.
                let record = |ops: &mut Ops| {
                    let xt = ops.tensor_from(cin as u32, h as u32, w as u32, &x).unwrap();
                    // (The unbanded tensor is the banded one where `starts` is [0].)
                    let xt = ops.reband(&{ xt }, starts).unwrap();
                    let keep = held.then(|| xt.clone());
                    let bufs = xt.storage();
                    let out = ops.conv_over_input(xt, &cw).unwrap();
                    assert_eq!((out.c, out.starts()), (cout as u32, starts.to_vec()));
                    assert_eq!(out.storage() == bufs, !held, "{what}: in place");
                    let kept = keep.map(|t| ops.whole(&t).unwrap());
                    (ops.whole(&out).unwrap(), kept)
                };
                let mut ops = e.ops();
                let (out, _) = record(&mut ops);
                let got = pollster::block_on(ops.read_f32(&out)).unwrap();
                assert_close(&what, &got, &want, 1e-5, 1e-4);
                // The same call again, reading the clone.
                let mut ops = e.ops();
                if let (_, Some(t)) = record(&mut ops) {
                    let got = pollster::block_on(ops.read_f32(&t)).unwrap();
                    assert_eq!(got, x, "{what}: the clone's values");
                }
            }
        }
    }
}
