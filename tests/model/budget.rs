//! Runs within a memory budget: out of core, row bands of the activations wait in host memory
//! between layers, and the results still equal diffusers' and the unbudgeted run's.

use crate::support;

use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::{Layout, VaeConfig};
use sdxl_vae::{CallControl, Error, ErrorCode, LoadOptions, Vae};
use std::cell::{Cell, RefCell};
use support::fixtures::{check_image, load_with, png};
use support::{assert_close, gpu};

const MIB: u64 = 1 << 20;

/// Encode, a posterior sample and the raw decode of `img`.
fn outputs(vae: &Vae, img: &str) -> [Vec<f32>; 3] {
    let image = png(&format!("img_{img}.png"));
    let lat = pollster::block_on(vae.encode(&image)).unwrap();
    let sample = pollster::block_on(vae.encode_sample(&image, 7)).unwrap();
    let raw = pollster::block_on(vae.decode_raw(&lat)).unwrap();
    [lat.data, sample.data, raw.data]
}

/// The full-size model under a budget 7 MiB above its weights (319 MiB): both calls run in fine
/// row bands, the decode with activations waiting on the host, within the budget, and equal
/// diffusers and the unbudgeted run.
#[test]
fn full_size_sdxl_under_a_budget_matches_diffusers_and_the_unbudgeted_run() {
    let gpu = gpu();
    let file = synthetic_safetensors(&VaeConfig::sdxl(), Layout::Ldm, SynthDtype::F32, "");
    let free = load_with(&gpu, &file, 1 << 20, LoadOptions::default());
    let budget = 326 * MIB;
    let opts = LoadOptions {
        memory_budget: Some(budget),
        ..Default::default()
    };
    let vae = load_with(&gpu, &file, 1 << 20, opts);
    let (enc, dec) = pollster::block_on(vae.dry_run(64, 48)).unwrap();
    for (what, r) in [("encode", enc), ("decode", dec)] {
        println!("{what}: {r:?}");
        assert!(r.bands > 1 && r.gpu_bytes <= budget, "{what}: {r:?}");
    }
    assert!(
        dec.moved_bytes > 0 && dec.host_bytes > 0,
        "the decode ran in core: {dec:?}"
    );
    let (le, de) = check_image(&vae, "sdxl", "64x48", 1e-3, 2e-3, false);
    println!("SDXL 64x48 under 326 MiB: latent {le:.3e}, decoded {de:.3e} from diffusers");
    let held = vae.peak_gpu_bytes();
    assert!(held <= budget, "held {held} bytes of GPU memory");
    let (a, b) = (outputs(&free, "64x48"), outputs(&vae, "64x48"));
    for (name, (b, a)) in ["latent", "sample", "decoded"].iter().zip(b.iter().zip(&a)) {
        let e = assert_close(
            &format!("{name} under a budget vs without"),
            b,
            a,
            1e-4,
            0.0,
        );
        println!("{name}: {e:.2e} from the unbudgeted run");
    }
}

/// A budget below what one layer needs is refused before the GPU is touched, naming the least
/// budget that would do; that budget then works, out of core.
#[test]
fn a_budget_too_small_names_the_least_that_works() {
    let gpu = gpu();
    let vae = support::small_vae(&gpu, sdxl_vae::Precision::F32);
    let image = png("img_64x48.png");
    let want = pollster::block_on(vae.encode(&image)).unwrap();
    let want_raw = pollster::block_on(vae.decode_raw(&want)).unwrap();
    vae.set_memory_budget(Some(vae.weight_bytes() + 4096));
    let before = gpu.resources();
    let least = |e: Error| {
        assert_eq!(e.code(), ErrorCode::TooLarge, "{e}");
        println!("{e}");
        match e {
            Error::OverBudget { needed, .. } => needed,
            e => panic!("{e}"),
        }
    };
    let encode = least(pollster::block_on(vae.encode(&image)).unwrap_err());
    let decode = least(pollster::block_on(vae.decode_raw(&want)).unwrap_err());
    assert_eq!(gpu.resources(), before, "a refused call left GPU objects");
    let budget = encode.max(decode);
    vae.set_memory_budget(Some(budget));
    let (enc, dec) = pollster::block_on(vae.dry_run(64, 48)).unwrap();
    println!("at the least budget: {enc:?}, {dec:?}");
    assert!(enc.gpu_bytes <= budget && dec.gpu_bytes <= budget);
    assert!(
        enc.moved_bytes > 0 && dec.moved_bytes > 0,
        "{enc:?} {dec:?}"
    );
    let got = pollster::block_on(vae.encode(&image)).unwrap();
    assert_close(
        "latent at the least budget",
        &got.data,
        &want.data,
        1e-4,
        0.0,
    );
    let raw = pollster::block_on(vae.decode_raw(&want)).unwrap();
    assert_close(
        "decoded at the least budget",
        &raw.data,
        &want_raw.data,
        1e-4,
        0.0,
    );
    // The unbudgeted calls before held more; a fresh model holds what the budget allows.
    let fresh = support::small_vae(&gpu, sdxl_vae::Precision::F32);
    fresh.set_memory_budget(Some(budget));
    pollster::block_on(fresh.encode(&image)).unwrap();
    pollster::block_on(fresh.decode_raw(&want)).unwrap();
    let held = fresh.peak_gpu_bytes();
    println!("held {held} bytes of GPU memory at most under a budget of {budget}");
    assert!(
        held <= budget,
        "held {held} bytes under a budget of {budget}"
    );
}

/// Progress is reported in order up to the end; an abort stops a call between steps with
/// `aborted`, frees what it made, and the model goes on working.
#[test]
fn progress_is_reported_and_an_abort_frees_the_call() {
    let gpu = gpu();
    let vae = support::small_vae(&gpu, sdxl_vae::Precision::F32);
    let image = png("img_64x48.png");
    let want = pollster::block_on(vae.encode(&image)).unwrap();
    for budget in [None, Some(vae.weight_bytes() + 3 * MIB)] {
        vae.set_memory_budget(budget);
        let seen = RefCell::new(Vec::new());
        let progress = |done, total| seen.borrow_mut().push((done, total));
        let ctl = CallControl {
            progress: Some(&progress),
            cancelled: None,
        };
        let got = pollster::block_on(vae.encode_with(&image, None, ctl)).unwrap();
        assert_close("latent with progress", &got.data, &want.data, 1e-4, 0.0);
        let seen = seen.into_inner();
        assert!(seen.len() > 4, "{budget:?}: {seen:?}");
        assert!(seen
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 == w[1].1));
        let (done, total) = *seen.last().unwrap();
        assert_eq!(done, total, "{seen:?}");

        let before = gpu.resources();
        let reports = Cell::new(0);
        let progress = |_, _| reports.set(reports.get() + 1);
        let cancelled = || reports.get() >= 2;
        let ctl = CallControl {
            progress: Some(&progress),
            cancelled: Some(&cancelled),
        };
        let e = pollster::block_on(vae.encode_with(&image, None, ctl)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Aborted, "{e}");
        assert_eq!(reports.get(), 2, "{budget:?}: went on after the abort");
        let after = gpu.resources();
        assert!(after.buffers <= before.buffers, "{before} → {after}");
        let again = pollster::block_on(vae.encode(&image)).unwrap();
        assert_close("latent after an abort", &again.data, &want.data, 1e-4, 0.0);
    }
}

/// At f16 precision (f16 activations, whose bands are half the bytes) a call under its least
/// budget runs out of core within it, and is about as far from the unbudgeted f16 run as that
/// run is from the f32 model's: other row bands sum in another order, and a sum may round to
/// the neighbouring f16.
#[test]
fn f16_activations_under_a_budget_match_the_unbudgeted_run() {
    let gpu = gpu();
    let vae = support::small_vae(&gpu, sdxl_vae::Precision::F16);
    let image = png("img_64x48.png");
    let want = pollster::block_on(vae.encode(&image)).unwrap();
    let want_raw = pollster::block_on(vae.decode_raw(&want)).unwrap();
    vae.set_memory_budget(Some(vae.weight_bytes() + 4096));
    let least = |e: Error| match e {
        Error::OverBudget { needed, .. } => needed,
        e => panic!("{e}"),
    };
    let encode = least(pollster::block_on(vae.encode(&image)).unwrap_err());
    let decode = least(pollster::block_on(vae.decode_raw(&want)).unwrap_err());
    let budget = encode.max(decode);
    // A fresh model, so that the unbudgeted calls' peak does not count.
    let vae = support::small_vae(&gpu, sdxl_vae::Precision::F16);
    vae.set_memory_budget(Some(budget));
    let (enc, dec) = pollster::block_on(vae.dry_run(64, 48)).unwrap();
    println!("f16 at the least budget {budget}: {enc:?}, {dec:?}");
    assert!(enc.moved_bytes > 0 && dec.moved_bytes > 0);
    let got = pollster::block_on(vae.encode(&image)).unwrap();
    let raw = pollster::block_on(vae.decode_raw(&want)).unwrap();
    assert_eq!(vae.precision(), sdxl_vae::Precision::F16);
    assert!(vae.f16_activations(), "no overflow");
    // The scale of f16's rounding: the unbudgeted f16 run against the f32 model's (half as much
    // again as a margin; a wrong band would be off by the values themselves).
    let f32 = support::small_vae(&gpu, sdxl_vae::Precision::F32);
    let l32 = pollster::block_on(f32.encode(&image)).unwrap();
    let r32 = pollster::block_on(f32.decode_raw(&want)).unwrap();
    let (ln, _) = support::worst(&want.data, &l32.data);
    let (dn, _) = support::worst(&want_raw.data, &r32.data);
    let (ln, dn) = (1.5 * ln, 1.5 * dn);
    let le = assert_close("f16 latent under a budget", &got.data, &want.data, ln, 0.0);
    let de = assert_close(
        "f16 decoded under a budget",
        &raw.data,
        &want_raw.data,
        dn,
        0.0,
    );
    println!("f16 under a budget vs without: latent {le:.2e}, decoded {de:.2e} (bounds from f16 vs f32: {ln:.2e}, {dn:.2e})");
    let held = vae.peak_gpu_bytes();
    assert!(
        held <= budget,
        "held {held} bytes under a budget of {budget}"
    );
}
