//! The convolution family, in each of its stagings, against its naive CPU twin, whole and in row
//! bands, with and without GroupNorm applied on load; at odd workgroup shapes and in row and
//! column chunks. In-place results: `kernels_conv_in_place.rs`.

use crate::support;

use sdxl_vae::cpu;
use sdxl_vae::kernels::conv2d::{self, out_size, ConvMode};
use sdxl_vae::kernels::group_norm::NormWeights;
use sdxl_vae::kernels::{AdapterClass, Kernels, Staging, Tuning};
use support::{assert_close, conv_envs, Env, Rng};

#[allow(clippy::too_many_arguments)]
fn run_conv(
    e: &Env,
    rng: &mut Rng,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    k: usize,
    mode: ConvMode,
    residual: bool,
    starts: &[u32],
) {
    let x = rng.vec(cin * h * w, -1.0, 1.0);
    let wt = rng.vec(cout * cin * k * k, -0.5, 0.5);
    let b = rng.vec(cout, -0.5, 0.5);
    let (oh, ow) = out_size(mode, h as u32, w as u32);
    let r = rng.vec(cout * (oh * ow) as usize, -1.0, 1.0);
    let want = cpu::conv2d(
        &x,
        (cin, h, w),
        &wt,
        &b,
        cout,
        k,
        mode,
        residual.then_some(&r[..]),
    );
    let cw = e.conv_weights(&wt, &b, cout, cin, k);
    let mut ops = e.ops();
    let xt = ops.tensor_from(cin as u32, h as u32, w as u32, &x).unwrap();
    let xt = ops.reband(&xt, starts).unwrap();
    let out_starts = conv2d::out_starts(mode, starts).unwrap();
    let rt = ops.tensor_from(cout as u32, oh, ow, &r).unwrap();
    let rt = ops.reband(&rt, &out_starts).unwrap();
    let out = ops.conv(&xt, &cw, mode, residual.then_some(&rt)).unwrap();
    assert_eq!((out.c, out.h, out.w), (cout as u32, oh, ow));
    assert_eq!(out.starts(), out_starts);
    let got = pollster::block_on(ops.read_f32(&out)).unwrap();
    assert_close(
        &format!("conv {cin}->{cout} {h}x{w} k{k} {mode:?} res={residual} bands {starts:?}"),
        &got,
        &want,
        1e-5,
        1e-4,
    );
}

#[test]
fn conv2d_matches_cpu_twin() {
    for e in &conv_envs() {
        let mut rng = Rng(1);
        let cases = [
            (3, 5, 7, 9, 3, ConvMode::Same, false),
            (4, 8, 1, 1, 3, ConvMode::Same, true),
            (1, 1, 1, 13, 3, ConvMode::Same, false),
            (5, 3, 6, 10, 3, ConvMode::Down, false),
            (7, 9, 7, 5, 3, ConvMode::Down, true),
            (6, 7, 5, 3, 3, ConvMode::Up, true),
            (2, 4, 1, 1, 3, ConvMode::Up, false),
            (8, 12, 9, 13, 1, ConvMode::Same, true),
            (33, 6, 4, 37, 1, ConvMode::Same, false),
            (40, 36, 12, 11, 3, ConvMode::Same, true),
            // Rows wider than one invocation's 16 pixels, channel counts not multiples of 8.
            (3, 13, 5, 35, 3, ConvMode::Up, true),
            (9, 10, 6, 34, 3, ConvMode::Down, false),
            (17, 9, 3, 50, 3, ConvMode::Same, false),
            // More input channels than a workgroup stages at once (4 steps): several stages.
            (240, 10, 4, 21, 3, ConvMode::Same, true),
            (232, 9, 4, 6, 3, ConvMode::Up, false),
            // Wider than a texture may be (16384 on lavapipe): the input is packed in column
            // chunks.
            (2, 3, 2, 16400, 3, ConvMode::Same, true),
        ];
        for (cin, cout, h, w, k, mode, res) in cases {
            run_conv(e, &mut rng, cin, cout, h, w, k, mode, res, &[0]);
        }
    }
}

/// Row-banded input: each output band reads its input band and the halo rows copied from the
/// neighbours, including one-row bands and bands whose halo rows are image edges.
#[test]
fn conv2d_over_row_bands_matches_cpu_twin() {
    for e in &conv_envs() {
        let mut rng = Rng(11);
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
        let cases: [Case; 8] = [
            (5, 9, 12, 11, 3, ConvMode::Same, true, &[0, 3, 7]),
            (
                3,
                4,
                7,
                20,
                3,
                ConvMode::Same,
                false,
                &[0, 1, 2, 3, 4, 5, 6],
            ),
            (6, 8, 9, 5, 1, ConvMode::Same, true, &[0, 4]),
            (4, 7, 6, 9, 3, ConvMode::Up, true, &[0, 2, 3]),
            (2, 3, 3, 4, 3, ConvMode::Up, false, &[0, 1, 2]),
            (5, 6, 12, 10, 3, ConvMode::Down, true, &[0, 4, 8, 10]),
            (3, 5, 8, 7, 3, ConvMode::Down, false, &[0, 2, 4, 6]),
            (20, 17, 16, 35, 3, ConvMode::Same, true, &[0, 5, 11]),
        ];
        for (cin, cout, h, w, k, mode, res, starts) in cases {
            run_conv(e, &mut rng, cin, cout, h, w, k, mode, res, starts);
        }
    }
}

/// GroupNorm (+ SiLU) applied by the convolution as it loads its input equals GroupNorm, then
/// the convolution, on the CPU: zero padding stays zero after the norm.
#[test]
fn conv2d_with_input_group_norm_matches_cpu_twins() {
    for e in &conv_envs() {
        let mut rng = Rng(13);
        type Case = (
            usize,
            usize,
            usize,
            usize,
            usize,
            bool,
            bool,
            &'static [u32],
        );
        let cases: [Case; 6] = [
            (8, 5, 6, 9, 3, true, false, &[0]),
            (16, 12, 7, 20, 3, false, true, &[0, 3]),
            (12, 7, 5, 4, 1, false, false, &[0]),
            (32, 9, 9, 17, 3, true, true, &[0, 2, 3, 8]),
            (8, 4, 4, 4, 1, true, true, &[0, 1]),
            (232, 6, 5, 7, 3, true, true, &[0, 2]),
        ];
        for (cin, cout, h, w, k, silu, residual, starts) in cases {
            let groups = 4;
            let x: Vec<f32> = rng
                .vec(cin * h * w, -2.0, 2.0)
                .iter()
                .map(|v| v + 3.0)
                .collect();
            let gamma = rng.vec(cin, 0.5, 1.5);
            let beta = rng.vec(cin, -0.5, 0.5);
            let wt = rng.vec(cout * cin * k * k, -0.5, 0.5);
            let b = rng.vec(cout, -0.5, 0.5);
            let r = rng.vec(cout * h * w, -1.0, 1.0);
            let normed = cpu::group_norm(&x, cin, h * w, groups, &gamma, &beta, 1e-6, silu);
            let want = cpu::conv2d(
                &normed,
                (cin, h, w),
                &wt,
                &b,
                cout,
                k,
                ConvMode::Same,
                residual.then_some(&r[..]),
            );
            let nw = NormWeights {
                gamma: e.weight(&gamma),
                beta: e.weight(&beta),
                groups: groups as u32,
                eps: 1e-6,
            };
            let cw = e.conv_weights(&wt, &b, cout, cin, k);
            let mut ops = e.ops();
            let xt = ops.tensor_from(cin as u32, h as u32, w as u32, &x).unwrap();
            let xt = ops.reband(&xt, starts).unwrap();
            let rt = ops
                .tensor_from(cout as u32, h as u32, w as u32, &r)
                .unwrap();
            let rt = ops.reband(&rt, starts).unwrap();
            let affine = ops.norm_affine(&xt, &nw).unwrap();
            let out = ops
                .conv_normed(&xt, &affine, silu, &cw, residual.then_some(&rt))
                .unwrap();
            let got = pollster::block_on(ops.read_f32(&out)).unwrap();
            let what = format!("norm+conv {cin}->{cout} {h}x{w} k{k} silu={silu} bands {starts:?}");
            assert_close(&what, &got, &want, 1e-4, 1e-4);
        }
    }
}

/// The convolution under other workgroup shapes (GPUs get their own): every mode, sizes that
/// leave workgroups partly filled in both directions; and with its input texture so small that
/// every convolution runs in chunks of a few rows (1 to 4 here) and of 8 to 32 columns, within
/// row bands too. Where the adapter has subgroups of 8, workgroups of a multiple of 8 take the
/// form that shares weight fetches across them (one of exactly 8 with chunks too), the others
/// the plain one.
#[test]
fn texture_kernel_workgroup_shapes_and_row_chunks_match_cpu_twin() {
    let gpu = support::gpu();
    // The last field: also with weights staged in workgroup memory.
    let configs = [
        ([3, 5], None, None, true),
        ([16, 8], None, None, false),
        ([1, 1], None, None, true),
        ([8, 4], Some(4), None, false),
        // Column chunks of 16 output columns (8 where downsampling), within row chunks.
        ([8, 4], Some(6), Some(20), true),
        ([4, 2], Some(4), Some(20), false),
    ];
    let has_sg = gpu.is_cpu() && gpu.has_subgroups_of(8);
    for (wg, rows, cols, shared_too) in configs {
        let class = AdapterClass::of(&gpu);
        let mut tuning = Tuning::for_adapter(class);
        tuning.workgroup = wg;
        if let Some(c) = cols {
            tuning.cols = c;
        }
        if let Some(r) = rows {
            tuning.rows = r;
            // Output rows of a chunk that reads 4 input rows.
            if r == 4 {
                assert_eq!(conv2d::chunk_rows(ConvMode::Same, 3, r), 2);
                assert_eq!(conv2d::chunk_rows(ConvMode::Up, 3, r), 4);
                assert_eq!(conv2d::chunk_rows(ConvMode::Down, 3, r), 1);
                assert_eq!(conv2d::chunk_rows(ConvMode::Same, 1, r), 4);
            }
        }
        let kern = Kernels::with_tuning(&gpu, tuning);
        let sg = kern.conv(false, false, u32::MAX, false).1.staging == Staging::Subgroup;
        assert_eq!(
            sg,
            has_sg && (wg[0] * wg[1]) % 8 == 0,
            "subgroup form for {wg:?}"
        );
        let mut e = Env {
            gpu: gpu.clone(),
            kern,
        };
        // The form for this shape (subgroups or plain), then weights staged in workgroup memory.
        for shared in [false, true] {
            if shared && !shared_too {
                break;
            }
            e.kern.tuning.staged = shared;
            e.kern.tuning.subgroups = !shared;
            workgroup_cases(&e, shared);
        }
    }
}

fn workgroup_cases(e: &Env, shared: bool) {
    let mut rng = Rng(40);
    run_conv(e, &mut rng, 8, 12, 9, 37, 3, ConvMode::Same, true, &[0]);
    run_conv(e, &mut rng, 5, 9, 6, 19, 3, ConvMode::Up, false, &[0, 2]);
    run_conv(e, &mut rng, 6, 8, 10, 21, 3, ConvMode::Down, false, &[0]);
    run_conv(e, &mut rng, 7, 10, 5, 27, 1, ConvMode::Same, true, &[0]);
    run_conv(
        e,
        &mut rng,
        4,
        6,
        11,
        9,
        3,
        ConvMode::Same,
        false,
        &[0, 3, 4, 9],
    );
    run_conv(
        e,
        &mut rng,
        4,
        6,
        12,
        9,
        3,
        ConvMode::Down,
        true,
        &[0, 4, 6],
    );
    if !shared {
        return;
    }
    // More groups of input channels than the workgroup form stages at once (4 quads of a 3×3,
    // 36 of a 1×1), with a partial last stage.
    run_conv(e, &mut rng, 37, 9, 5, 19, 3, ConvMode::Same, true, &[0]);
    run_conv(e, &mut rng, 18, 8, 4, 9, 3, ConvMode::Up, false, &[0]);
    run_conv(e, &mut rng, 21, 8, 6, 17, 3, ConvMode::Down, false, &[0]);
    run_conv(e, &mut rng, 150, 9, 3, 13, 1, ConvMode::Same, true, &[0]);
}

/// AutoencoderTiny's pieces: the stride-2 convolution with padding 1 (odd sides too, whole and
/// in row bands), and ReLU after bias and residual (the residual's buffers taking the result).
#[test]
fn conv2d_stride2_pad1_and_relu_match_cpu_twin() {
    use sdxl_vae::kernels::conv2d::Activation;
    for e in &conv_envs() {
        let mut rng = Rng(23);
        for (cin, cout, h, w, res, starts) in [
            (5, 7, 8, 10, false, &[0][..]),
            (6, 9, 7, 9, true, &[0]),
            (64, 64, 12, 36, false, &[0, 4, 8]),
            (3, 5, 8, 6, true, &[0, 2, 6]),
        ] {
            run_conv(
                e,
                &mut rng,
                cin,
                cout,
                h,
                w,
                3,
                ConvMode::DownPad1,
                res,
                starts,
            );
        }
        for (mode, h, w, starts) in [
            (ConvMode::Same, 9, 13, &[0, 4][..]),
            (ConvMode::Up, 4, 6, &[0]),
            (ConvMode::DownPad1, 8, 8, &[0, 2]),
        ] {
            let (cin, cout) = (6, 6);
            let x = rng.vec(cin * h * w, -1.0, 1.0);
            let wt = rng.vec(cout * cin * 9, -0.5, 0.5);
            let b = rng.vec(cout, -0.5, 0.5);
            let (oh, ow) = out_size(mode, h as u32, w as u32);
            let r = rng.vec(cout * (oh * ow) as usize, -1.0, 1.0);
            for residual in [false, true] {
                let res = residual.then_some(&r[..]);
                let want: Vec<f32> = cpu::conv2d(&x, (cin, h, w), &wt, &b, cout, 3, mode, res)
                    .into_iter()
                    .map(|v| v.max(0.0))
                    .collect();
                let cw = e.conv_weights(&wt, &b, cout, cin, 3);
                let mut ops = e.ops();
                let xt = ops.tensor_from(cin as u32, h as u32, w as u32, &x).unwrap();
                let xt = ops.reband(&xt, starts).unwrap();
                let rt = residual.then(|| {
                    let rt = ops.tensor_from(cout as u32, oh, ow, &r).unwrap();
                    let out_starts = conv2d::out_starts(mode, starts).unwrap();
                    ops.reband(&rt, &out_starts).unwrap()
                });
                let out = ops.conv_act(&xt, &cw, mode, rt, Activation::Relu).unwrap();
                let got = pollster::block_on(ops.read_f32(&out)).unwrap();
                assert!(got.iter().all(|&v| v >= 0.0) && want.contains(&0.0));
                let what = format!("relu conv {mode:?} res={residual} bands {starts:?}");
                assert_close(&what, &got, &want, 1e-5, 1e-4);
            }
        }
    }
}
