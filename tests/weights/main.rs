//! Weights reader tests (CPU only): streaming in any chunk size, every checkpoint layout, dtype
//! conversion; config inference, the name table against diffusers' (tests/fixtures) and the
//! synthetic-weights rule against the Python generator's (`weights/model.rs`); and one test per
//! error case (`weights/errors.rs`); PyTorch checkpoints (`weights/ckpt.rs`); damaged input to every reader (`weights/fuzz.rs`).

mod ckpt;
mod errors;
mod fuzz;
mod model;
mod support;

use sdxl_vae::weights::synthetic::{
    synthetic_safetensors, synthetic_tensor, write_safetensors, SynthDtype,
};
use sdxl_vae::weights::{convert, expected_tensors, Dtype, Layout};
use support::*;

#[test]
fn chunk_sizes_give_identical_tensors() {
    let file = synthetic_safetensors(&tiny(), Layout::Ldm, SynthDtype::F32, "");
    let want = expected_values(&tiny());
    for chunk in [1, 7, 4096, file.len()] {
        let (rec, info) = load(&file, chunk).unwrap_or_else(|e| panic!("chunk {chunk}: {e}"));
        assert_eq!(rec.tensors, want, "chunk {chunk}");
        assert_eq!(
            (rec.begun.len(), rec.early),
            (1, 0),
            "begin once, before any tensor"
        );
        assert_eq!(info.ignored_tensors, 0);
        assert_eq!(info.file_bytes, file.len() as u64);
    }
}

/// Every accepted naming scheme, prefix and attention shape loads to the same canonical tensors.
#[test]
fn every_layout_loads_to_same_tensors() {
    let want = expected_values(&tiny());
    let layouts = [
        Layout::Ldm,
        Layout::Diffusers,
        Layout::DiffusersOldAttention,
    ];
    for (layout, prefix) in layouts
        .iter()
        .flat_map(|&l| ["", "first_stage_model.", "vae."].map(|p| (l, p)))
    {
        let file = synthetic_safetensors(&tiny(), layout, SynthDtype::F32, prefix);
        let (rec, info) = load(&file, 1000).unwrap_or_else(|e| panic!("{layout} {prefix:?}: {e}"));
        assert_eq!(rec.tensors, want, "{layout} {prefix:?}");
        assert_eq!(info.layout, layout);
    }
    // Attention weights as [C, C] in an LDM file and as [C, C, 1, 1] in a diffusers file.
    for (layout, flip) in [(Layout::Ldm, 2), (Layout::Diffusers, 4)] {
        let tensors = model_tensors(&tiny(), layout, "", |canonical, mut t| {
            if canonical.ends_with("to_q.weight") || canonical.ends_with("to_out.0.weight") {
                t.2 = if flip == 2 {
                    t.2[..2].to_vec()
                } else {
                    vec![t.2[0], t.2[1], 1, 1]
                };
            }
            Some(t)
        });
        let (rec, _) =
            load(&write_safetensors(&tensors), 4096).unwrap_or_else(|e| panic!("{layout}: {e}"));
        assert_eq!(
            rec.tensors, want,
            "{layout} with rank-{flip} attention weights"
        );
    }
}

/// Training checkpoints hold `loss.*`, whole-model ones a UNet and EMA copies: all ignored.
#[test]
fn unrelated_tensors_are_ignored() {
    let mut tensors = model_tensors(&tiny(), Layout::Ldm, "first_stage_model.", |_, t| Some(t));
    let extra = [
        ("loss.logvar", Dtype::F32, vec![]),
        (
            "loss.discriminator.main.0.weight",
            Dtype::F32,
            vec![64, 3, 4, 4],
        ),
        ("model_ema.decay", Dtype::F32, vec![]),
        (
            "model.diffusion_model.input_blocks.0.0.weight",
            Dtype::F16,
            vec![8, 4, 3, 3],
        ),
        (
            "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.bias",
            Dtype::I64,
            vec![3],
        ),
        ("loss.empty", Dtype::F32, vec![0]),
    ];
    for (i, (name, dtype, shape)) in extra.into_iter().enumerate() {
        let bytes = vec![0u8; shape.iter().product::<usize>() * dtype.bitsize() / 8];
        tensors.insert(i * 7, (name.to_string(), dtype, shape, bytes));
    }
    let (rec, info) = load(&write_safetensors(&tensors), 333).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rec.tensors, expected_values(&tiny()));
    assert_eq!(info.ignored_tensors, 6);
}

/// The reader keeps at most one wanted tensor in memory: a large unwanted tensor is skipped,
/// not buffered, and tensors inside one chunk are not copied at all.
#[test]
fn unwanted_tensors_are_not_buffered() {
    let big = vec![0u8; 4 << 20];
    let mut tensors = model_tensors(&tiny(), Layout::Diffusers, "", |_, t| Some(t));
    tensors.insert(10, ("loss.big".into(), Dtype::F32, vec![1 << 20], big));
    let file = write_safetensors(&tensors);
    let largest = expected_tensors(&tiny())
        .iter()
        .map(|(_, s)| s.iter().product::<usize>() * 4)
        .max();
    let mut loader = sdxl_vae::weights::WeightsLoader::new(Recorder::default(), Default::default());
    for c in file.chunks(4096) {
        loader.push(c).unwrap_or_else(|e| panic!("{e}"));
    }
    let peak = loader.peak_buffered_bytes();
    assert!(
        Some(peak) <= largest && peak > 0,
        "peak {peak}, largest wanted {largest:?}"
    );
    loader.finish().unwrap_or_else(|e| panic!("{e}"));

    let mut whole = sdxl_vae::weights::WeightsLoader::new(Recorder::default(), Default::default());
    whole.push(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        whole.peak_buffered_bytes(),
        0,
        "one chunk: tensors passed as slices"
    );
}

#[test]
fn total_bytes_and_info_known_once_header_arrived() {
    let file = synthetic_safetensors(&tiny(), Layout::Ldm, SynthDtype::BF16, "vae.");
    let header_end = 8 + u64::from_le_bytes(file[..8].try_into().unwrap_or_default()) as usize;
    let mut loader = sdxl_vae::weights::WeightsLoader::new(
        Recorder::default(),
        sdxl_vae::weights::FamilyChoice {
            scaling_factor: Some(0.18215),
            ..Default::default()
        },
    );
    loader
        .push(&file[..header_end - 1])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (loader.total_bytes(), loader.info().is_some()),
        (None, false)
    );
    loader
        .push(&file[header_end - 1..header_end])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loader.total_bytes(), Some(file.len() as u64));
    let info = loader.info().cloned().unwrap_or_else(|| panic!("no info"));
    assert_eq!(
        info.dtypes,
        vec![("BF16".to_string(), expected_tensors(&tiny()).len())]
    );
    assert_eq!(info.family.factors.scaling, 0.18215);
    loader
        .push(&file[header_end..])
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, done) = loader.finish().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done, info);
}

/// A file written by the `safetensors` crate itself, with `__metadata__`.
#[test]
fn reads_safetensors_crate_output_with_metadata() {
    let tensors = model_tensors(&tiny(), Layout::Ldm, "", |_, t| Some(t));
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b)
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .collect();
    let meta = Some(
        [("format".to_string(), "pt".to_string())]
            .into_iter()
            .collect(),
    );
    let file = safetensors::serialize(views.iter().map(|(n, v)| (n.as_str(), v)), meta)
        .unwrap_or_else(|e| panic!("{e}"));
    let (rec, _) = load(&file, 5000).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rec.tensors, expected_values(&tiny()));
}

/// Naive twin of an IEEE binary16 decode, subnormals, infinities and NaN included.
fn naive_f16(bits: u16) -> f32 {
    let sign = if bits >> 15 == 1 { -1.0 } else { 1.0 };
    let (exp, mant) = ((bits >> 10) & 0x1f, f32::from(bits & 0x3ff));
    match exp {
        0 => sign * mant * 2f32.powi(-24),
        31 if mant == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        e => sign * (1.0 + mant / 1024.0) * 2f32.powi(i32::from(e) - 15),
    }
}

#[test]
fn f16_and_bf16_decode_like_naive_twins() {
    // Offset by one byte: tensors inside a chunk are unaligned.
    let mut bytes = vec![0u8];
    (0..=u16::MAX).for_each(|b| bytes.extend_from_slice(&b.to_le_bytes()));
    for dtype in [Dtype::F16, Dtype::BF16] {
        let got = convert::decode("t", dtype, &bytes[1..]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), 1 << 16);
        for (bits, v) in (0..=u16::MAX).zip(&got) {
            let want = if dtype == Dtype::F16 {
                naive_f16(bits)
            } else {
                f32::from_bits(u32::from(bits) << 16)
            };
            assert!(
                v.to_bits() == want.to_bits() || (v.is_nan() && want.is_nan()),
                "{dtype} 0x{bits:04x}: {v} vs {want}"
            );
        }
    }
    // A whole F16 file: the synthetic values rounded to f16.
    let (rec, info) = load(
        &synthetic_safetensors(&tiny(), Layout::Ldm, SynthDtype::F16, ""),
        999,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        info.dtypes,
        vec![("F16".to_string(), expected_tensors(&tiny()).len())]
    );
    for (name, (shape, values)) in &rec.tensors {
        let rounded: Vec<f32> = synthetic_tensor(name, shape)
            .iter()
            .map(|&v| half::f16::from_f32(v).to_f32())
            .collect();
        assert_eq!(values, &rounded, "{name}");
    }
}
