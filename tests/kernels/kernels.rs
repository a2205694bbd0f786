//! Every GPU kernel against its naive CPU twin (`sdxl_vae::cpu`), over random shapes including
//! awkward ones: odd sizes, one row or column, channel counts that are not multiples of 4.
//! Convolutions are in `kernels_conv.rs`.

use crate::support;

use sdxl_vae::cpu;
use sdxl_vae::kernels::group_norm::NormWeights;
use support::{assert_close, env, Env, Rng};

/// Splitting into bands, re-splitting differently and gathering back copies every value exactly,
/// halo rows included.
#[test]
fn row_bands_round_trip_exactly() {
    let e = env();
    let mut rng = Rng(12);
    let (c, h, w) = (3u32, 11u32, 6u32);
    let x = rng.vec((c * h * w) as usize, -1.0, 1.0);
    let mut ops = e.ops();
    let t = ops.tensor_from(c, h, w, &x).unwrap();
    let a = ops.reband(&t, &[0, 4, 5]).unwrap();
    let b = ops.reband(&a, &[0, 2, 6, 10]).unwrap();
    assert_eq!(b.bands().len(), 4);
    assert_eq!(
        (b.bands()[1].row0, b.bands()[1].rows),
        (1, 6),
        "band 1 holds rows 2..6 and one halo row each side"
    );
    let got = pollster::block_on(ops.read_f32(&b)).unwrap();
    assert_eq!(got, x);
    let mut ops = e.ops();
    let t = ops.tensor_from(c, h, w, &x).unwrap();
    assert!(ops.reband(&t, &[0, 11]).is_err(), "a band past the end");
    assert!(ops.reband(&t, &[1, 5]).is_err(), "bands not starting at 0");
    assert!(ops.reband(&t, &[0, 5, 5]).is_err(), "an empty band");
}

#[allow(clippy::too_many_arguments)]
fn run_norm(
    e: &Env,
    rng: &mut Rng,
    c: usize,
    groups: usize,
    h: usize,
    w: usize,
    offset: f32,
    silu: bool,
    starts: &[u32],
) {
    let x: Vec<f32> = rng
        .vec(c * h * w, -2.0, 2.0)
        .iter()
        .map(|v| v + offset)
        .collect();
    let gamma = rng.vec(c, 0.5, 1.5);
    let beta = rng.vec(c, -0.5, 0.5);
    let want = cpu::group_norm(&x, c, h * w, groups, &gamma, &beta, 1e-6, silu);
    let nw = NormWeights {
        gamma: e.weight(&gamma),
        beta: e.weight(&beta),
        groups: groups as u32,
        eps: 1e-6,
    };
    let mut ops = e.ops();
    let xt = ops.tensor_from(c as u32, h as u32, w as u32, &x).unwrap();
    let xt = ops.reband(&xt, starts).unwrap();
    let out = ops.group_norm(&xt, &nw, silu).unwrap();
    assert_eq!(out.starts(), starts);
    let got = pollster::block_on(ops.read_f32(&out)).unwrap();
    assert_close(
        &format!("group_norm c{c} g{groups} {h}x{w} +{offset} silu={silu} bands {starts:?}"),
        &got,
        &want,
        2e-5,
        2e-4,
    );
}

#[test]
fn group_norm_matches_cpu_twin() {
    let e = env();
    let mut rng = Rng(2);
    run_norm(&e, &mut rng, 64, 32, 5, 7, 0.0, true, &[0]);
    run_norm(&e, &mut rng, 32, 32, 1, 1, 0.0, false, &[0]);
    run_norm(&e, &mut rng, 96, 32, 3, 1, 0.5, false, &[0]);
    // A large group with a large mean: a one-pass E[x²]−E[x]² would lose most digits here.
    // Groups of 61 440 values span 15 chunks of the statistics kernel.
    run_norm(&e, &mut rng, 64, 8, 96, 80, 100.0, true, &[0]);
    // Statistics merged across row bands, one of them a single row.
    run_norm(&e, &mut rng, 64, 8, 96, 80, 100.0, true, &[0, 30, 31, 70]);
    run_norm(&e, &mut rng, 12, 4, 7, 5, -3.0, false, &[0, 2, 6]);
}

/// Qwen-Image's channel RMS norm, with and without SiLU, over row bands (each band's halo rows
/// normalised too), odd channel counts and a pixel of zeros (the 1e-12 floor, not a NaN).
#[test]
fn rms_norm_matches_cpu_twin() {
    let e = env();
    let mut rng = Rng(41);
    for (c, h, w, silu, starts) in [
        (16, 5, 7, true, vec![0]),
        (3, 9, 4, false, vec![0, 3, 4]),
        (96, 6, 5, true, vec![0, 2]),
    ] {
        let mut x = rng.vec(c * h * w, -3.0, 3.0);
        for ch in 0..c {
            x[ch * h * w] = 0.0;
        }
        let gamma = rng.vec(c, 0.5, 1.5);
        let want = cpu::rms_norm(&x, c, h * w, &gamma, silu);
        let mut ops = e.ops();
        let xt = ops.tensor_from(c as u32, h as u32, w as u32, &x).unwrap();
        let xt = ops.reband(&xt, &starts).unwrap();
        let out = ops.rms_norm(&xt, &e.weight(&gamma), silu).unwrap();
        assert_eq!(out.starts(), starts);
        let got = pollster::block_on(ops.read_f32(&out)).unwrap();
        assert_eq!(got[0], 0.0, "a pixel of zeros stays zero");
        let what = format!("rms_norm c{c} {h}x{w} silu={silu} bands {starts:?}");
        assert_close(&what, &got, &want, 2e-5, 2e-5);
    }
}

fn run_attention(e: &Env, rng: &mut Rng, c: usize, h: usize, w: usize, spread: f32) {
    let n = h * w;
    let q = rng.vec(c * n, -spread, spread);
    let k = rng.vec(c * n, -spread, spread);
    let v = rng.vec(c * n, -1.0, 1.0);
    let want = cpu::attention(&q, &k, &v, c, n);
    let mut ops = e.ops();
    let (qt, kt, vt) = (
        ops.tensor_from(c as u32, h as u32, w as u32, &q).unwrap(),
        ops.tensor_from(c as u32, h as u32, w as u32, &k).unwrap(),
        ops.tensor_from(c as u32, h as u32, w as u32, &v).unwrap(),
    );
    let out = ops.attention(&qt, &kt, &vt).unwrap();
    let got = pollster::block_on(ops.read_f32(&out)).unwrap();
    let chunk = e.kern.tuning.attention_chunk;
    let what = format!("attention c{c} n{n}, chunks of {chunk} keys (0: one kernel)");
    assert_close(&what, &got, &want, 2e-5, 1e-4);
}

/// Both forms of attention: one workgroup per query (`attention.wgsl`), and key chunks through
/// texture convolutions with an online softmax — chunks of 1, of 8, partly filled last chunks,
/// and one chunk holding every key.
#[test]
fn attention_matches_cpu_twin() {
    let mut e = env();
    for chunk in [0, 1024, 8, 48] {
        e.kern.tuning.attention_chunk = chunk;
        let mut rng = Rng(3);
        run_attention(&e, &mut rng, 3, 1, 1, 1.0);
        run_attention(&e, &mut rng, 64, 5, 7, 1.0);
        // 512 channels as in the SDXL mid block (527 keys: partly filled last chunks), and
        // peaked scores that exercise the running-max rescaling.
        run_attention(&e, &mut rng, 512, 17, 31, 0.6);
        run_attention(&e, &mut rng, 32, 20, 30, 4.0);
        // Channels not a multiple of 4.
        run_attention(&e, &mut rng, 6, 3, 11, 2.0);
    }
    // Scores so peaked that a later chunk's maximum exceeds the first's by far: the sum so far
    // must be rescaled, not overflow.
    e.kern.tuning.attention_chunk = 8;
    let mut rng = Rng(4);
    run_attention(&e, &mut rng, 16, 4, 8, 12.0);
}

/// Under a small binding limit the chunks shrink so that a chunk's scores fit one buffer.
#[test]
fn attention_chunks_fit_the_binding_limit() {
    let e = env();
    let mut rng = Rng(5);
    let (c, h, w) = (8usize, 16usize, 16usize);
    let n = h * w;
    let q = rng.vec(c * n, -1.0, 1.0);
    let k = rng.vec(c * n, -1.0, 1.0);
    let v = rng.vec(c * n, -1.0, 1.0);
    let want = cpu::attention(&q, &k, &v, c, n);
    // 40 keys × 256 tokens × 4 bytes: chunks of 40 keys, 7 of them.
    let pool = sdxl_vae::gpu::BufferPool::new(e.gpu.device().clone(), 40 * 256 * 4);
    let mut ops = sdxl_vae::model::Ops::new(&e.gpu, pool, &e.kern, Default::default()).unwrap();
    assert_eq!(
        sdxl_vae::kernels::attention::chunk_keys(&e.gpu, 40 * 256 * 4, &e.kern, 8, 16, 16),
        Some(40)
    );
    let t = |x: &[f32], ops: &mut sdxl_vae::model::Ops| {
        ops.tensor_from(c as u32, h as u32, w as u32, x).unwrap()
    };
    let (qt, kt, vt) = (t(&q, &mut ops), t(&k, &mut ops), t(&v, &mut ops));
    let out = ops.attention(&qt, &kt, &vt).unwrap();
    let got = pollster::block_on(ops.read_f32(&out)).unwrap();
    assert_close("attention, 40-key chunks", &got, &want, 2e-5, 1e-4);
}

#[test]
fn image_conversions_match_cpu_twins() {
    let e = env();
    let mut rng = Rng(4);
    for (w, h) in [(1usize, 1usize), (37, 29), (8, 16), (13, 1)] {
        let rgba: Vec<u8> = (0..4 * w * h)
            .map(|_| (rng.next_u64() & 255) as u8)
            .collect();
        let (pw, ph) = (w.div_ceil(8) * 8, h.div_ceil(8) * 8);
        let want = cpu::image_to_tensor(&rgba, w, h, pw, ph);
        for starts in [&[0u32][..], &[0, 3, 4][..]] {
            if starts.last() >= Some(&(ph as u32)) {
                continue;
            }
            let mut ops = e.ops();
            let t = ops
                .image_to_tensor(
                    &rgba,
                    w as u32,
                    h as u32,
                    pw as u32,
                    ph as u32,
                    starts,
                    Default::default(),
                )
                .unwrap();
            // Gathering copies the halo-free rows only: compare the halo rows through a
            // re-split that takes them from the bands themselves.
            let got = pollster::block_on(ops.read_f32(&t)).unwrap();
            let what = format!("image_to_tensor {w}x{h} bands {starts:?}");
            assert_close(&what, &got, &want, 0.0, 0.0);
        }

        // Values beyond [−1, 1] and exact ties at .5 after scaling exercise clamping and rounding.
        let mut x = rng.vec(3 * pw * ph, -1.3, 1.3);
        x[0] = 2.0 * (0.5 / 255.0) - 1.0;
        let want = cpu::tensor_to_image(&x, pw, ph, w, h);
        let mut ops = e.ops();
        let t = ops.tensor_from(3, ph as u32, pw as u32, &x).unwrap();
        let t = ops.reband(&t, &[0, 5, 6]).unwrap();
        let px = ops
            .tensor_to_image(&t, w as u32, h as u32, Default::default())
            .unwrap();
        let got = pollster::block_on(ops.read_bytes(&px)).unwrap();
        let diff = got
            .iter()
            .zip(&want)
            .filter(|(a, b)| a.abs_diff(**b) > 1)
            .count();
        let off_by_one = got
            .iter()
            .zip(&want)
            .filter(|(a, b)| a.abs_diff(**b) == 1)
            .count();
        assert_eq!(
            diff, 0,
            "tensor_to_image {w}x{h}: {diff} bytes differ by more than 1"
        );
        // f32 rounding on a GPU may fall on the other side of a tie only rarely.
        assert!(
            off_by_one * 100 <= got.len(),
            "tensor_to_image {w}x{h}: {off_by_one} bytes off by one"
        );
    }
}

#[test]
fn posterior_matches_cpu_twin() {
    let e = env();
    let mut rng = Rng(5);
    let (c, h, w) = (4usize, 9usize, 7usize);
    let mut m = rng.vec(2 * c * h * w, -1.0, 1.0);
    m[c * h * w] = -50.0; // clamped to −30
    m[c * h * w + 1] = 40.0; // clamped to 20
    for seed in [None, Some(0u64), Some(0x1234_5678_9abc_def0)] {
        let want = cpu::posterior(&m, c, h * w, seed);
        let mut ops = e.ops();
        let t = ops
            .tensor_from(2 * c as u32, h as u32, w as u32, &m)
            .unwrap();
        let z = ops.posterior(&t, seed).unwrap();
        let got = pollster::block_on(ops.read_f32(&z)).unwrap();
        assert_close(&format!("posterior seed {seed:?}"), &got, &want, 1e-5, 2e-4);
    }
}

#[test]
fn posterior_samples_are_standard_normal() {
    let e = env();
    let (c, h, w) = (4u32, 64u32, 64u32);
    let zeros = vec![0f32; (2 * c * h * w) as usize];
    let mut ops = e.ops();
    let t = ops.tensor_from(2 * c, h, w, &zeros).unwrap();
    let z = ops.posterior(&t, Some(7)).unwrap();
    let got = pollster::block_on(ops.read_f32(&z)).unwrap();
    let n = got.len() as f64;
    let mean = got.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = got.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    assert!(
        mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
        "ε mean {mean}, var {var}"
    );
}

/// A call takes its planned buffers from the idle ones only where one fits closely, and frees
/// the idle buffers it does not use before making the missing ones: a decode after an encode of
/// other shapes holds what its plan asks for, not that plus the encoder's leftovers.
#[test]
fn planned_buffers_free_idle_buffers_of_other_shapes() {
    use sdxl_vae::gpu::plan::{Plan, PlannedBuffers};
    let e = env();
    let pool = sdxl_vae::gpu::BufferPool::new(e.gpu.device().clone(), 1 << 20);
    let plan = |sizes: &[u64]| Plan {
        sizes: sizes.to_vec(),
        assign: (0..sizes.len()).collect(),
        ..Default::default()
    };
    // An earlier call's buffers, idle now.
    drop(PlannedBuffers::new(&pool, &plan(&[4096, 208])).unwrap());
    assert_eq!(pool.allocated(), (4096 + 208, 4096 + 208));
    // 200 fits the idle 208 closely; 2400 would strand 4096 bytes: freed first, then made.
    let bufs = PlannedBuffers::new(&pool, &plan(&[2400, 200])).unwrap();
    let held: Vec<u64> = bufs.next(2).unwrap().iter().map(|b| b.size()).collect();
    assert_eq!(held, [2400, 208]);
    assert_eq!(pool.allocated(), (2400 + 208, 4096 + 208));
    drop(bufs);
    // The same plan again reuses both.
    let _again = PlannedBuffers::new(&pool, &plan(&[2400, 200])).unwrap();
    assert_eq!(pool.allocated(), (2400 + 208, 4096 + 208));
}
