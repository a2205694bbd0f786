//! Buffer plans are kept per call shape: a repeated call, and the rerun in f32 after an f16
//! overflow, reuse their plan, with the same results; a dry run holds what the calls then hold.

use crate::support;

use sdxl_vae::{Image, Latent, Precision};
use support::{small_vae, Rng};

#[test]
fn plans_are_kept_per_call_shape() {
    let gpu = support::gpu();
    let vae = small_vae(&gpu, Precision::F32);
    let mut rng = Rng(11);
    let latent = Latent::new(4, 8, 6, rng.vec(4 * 48, -2.0, 2.0)).unwrap();
    let first = pollster::block_on(vae.decode_raw(&latent)).unwrap();
    assert_eq!(vae.plans_made(), 1);
    let again = pollster::block_on(vae.decode_raw(&latent)).unwrap();
    pollster::block_on(vae.decode(&latent)).unwrap();
    assert_eq!(vae.plans_made(), 1, "the same decode shape reuses its plan");
    assert_eq!(first.data, again.data, "a kept plan gives the same result");
    let image = Image {
        width: 40,
        height: 24,
        rgba: (0..4 * 40 * 24).map(|i| (i * 7 % 251) as u8).collect(),
    };
    let mean = pollster::block_on(vae.encode(&image)).unwrap();
    let mean_again = pollster::block_on(vae.encode(&image)).unwrap();
    assert_eq!(mean.data, mean_again.data);
    assert_eq!(vae.plans_made(), 2, "encode: one plan");
    pollster::block_on(vae.encode_sample(&image, 3)).unwrap();
    assert_eq!(vae.plans_made(), 3, "sampling is another call");
    let other = Latent::new(4, 5, 7, rng.vec(4 * 35, -2.0, 2.0)).unwrap();
    pollster::block_on(vae.decode_raw(&other)).unwrap();
    assert_eq!(vae.plans_made(), 4, "another size, another plan");
    // Row bands change the plan: a smaller buffer limit splits the same latent into bands.
    let mut banded = small_vae(&gpu, Precision::F32);
    pollster::block_on(banded.decode_raw(&latent)).unwrap();
    banded.set_max_band_bytes(Some(80 * 1024));
    let split = pollster::block_on(banded.decode_raw(&latent)).unwrap();
    assert_eq!(banded.plans_made(), 2, "new row bands, new plan");
    support::assert_close("banded decode", &split.data, &first.data, 1e-4, 1e-4);
}

/// The f16 model's call that overflows runs again, first with f32 activations, then (its
/// inputs overflowing too) all in f32, each on a plan of its own (f32 activations are twice
/// the bytes), which later calls reuse.
#[test]
fn the_rerun_after_an_f16_overflow_reuses_its_plan() {
    let gpu = support::gpu();
    let vae = small_vae(&gpu, Precision::F16);
    let mut rng = Rng(10);
    let latent = Latent::new(4, 8, 8, rng.vec(4 * 64, -1e5, 1e5)).unwrap();
    let out = pollster::block_on(vae.decode_raw(&latent)).unwrap();
    assert_eq!(vae.precision(), Precision::F32, "overflow seen");
    let want = pollster::block_on(small_vae(&gpu, Precision::F32).decode_raw(&latent)).unwrap();
    support::assert_close("the rerun", &out.data, &want.data, 3e-2, 0.0);
    assert_eq!(
        vae.plans_made(),
        3,
        "a plan for the call and one for each rerun"
    );
    let again = pollster::block_on(vae.decode_raw(&latent)).unwrap();
    assert_eq!(again.data, out.data);
    assert_eq!(vae.plans_made(), 3, "the last rerun's plan kept");
}

/// A dry run (what `estimate` shows before a call) records the very calls that then run: its
/// activation bytes are what a fresh model's encode, and another's decode of that latent, hold
/// at most — whole and in row bands, at sizes that are and are not multiples of 8.
#[test]
fn a_dry_run_holds_what_the_calls_then_hold() {
    let gpu = support::gpu();
    for ((w, h), band_bytes) in [
        ((64, 48), None),
        ((37, 29), None),
        ((64, 48), Some(80 * 1024)),
    ] {
        let fresh = || {
            let mut vae = small_vae(&gpu, Precision::F32);
            vae.set_max_band_bytes(band_bytes);
            vae
        };
        let (enc, dec) = pollster::block_on(fresh().dry_run(w, h)).unwrap();
        let image = Image {
            width: w,
            height: h,
            rgba: (0..4 * w * h).map(|i| (i * 13 % 251) as u8).collect(),
        };
        let encoder = fresh();
        let latent = pollster::block_on(encoder.encode(&image)).unwrap();
        let decoder = fresh();
        pollster::block_on(decoder.decode(&latent)).unwrap();
        let what = format!("{w}×{h}, {} band(s)", enc.bands);
        assert_eq!(
            encoder.activation_bytes().1,
            enc.peak_activation_bytes,
            "encode {what}"
        );
        assert_eq!(
            decoder.activation_bytes().1,
            dec.peak_activation_bytes,
            "decode {what}"
        );
        assert_eq!(enc.bands > 1, band_bytes.is_some(), "{what}");
    }
}
