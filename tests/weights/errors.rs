//! One test per way a weights file can be wrong: the error's variant, and a message that names
//! the tensor or the problem.
use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::{Dtype, Layout, WeightsError, WeightsLoader};

use super::support::*;

fn tiny_file() -> Vec<u8> {
    synthetic_safetensors(&tiny(), Layout::Ldm, SynthDtype::F32, "")
}

fn header_end(file: &[u8]) -> usize {
    8 + u64::from_le_bytes(file[..8].try_into().unwrap_or_default()) as usize
}

/// Checks the message names every `parts` (and is one line).
fn assert_names(e: &WeightsError, parts: &[&str]) {
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} lacks {p:?}");
    }
}

#[test]
fn not_safetensors() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    let e = load_err(png);
    assert!(matches!(e, WeightsError::NotSafetensors(_)), "{e}");
    assert_names(&e, &["not a safetensors file"]);
    let e = load_err(&raw_file("[1, 2, 3]", &[]));
    assert!(matches!(e, WeightsError::NotSafetensors(_)), "{e}");
    assert_names(&e, &["not a safetensors file", "'{'"]);
}

#[test]
fn truncated_in_header() {
    let file = tiny_file();
    let e = load_err(&file[..header_end(&file) - 10]);
    assert!(matches!(e, WeightsError::Truncated { .. }), "{e}");
    assert_names(&e, &["file ended inside the header"]);
    let e = load_err(&file[..3]);
    assert!(
        matches!(
            e,
            WeightsError::Truncated {
                expected: 8,
                got: 3,
                ..
            }
        ),
        "{e}"
    );
    assert_names(&e, &["header length", "expected 8 bytes, got 3"]);
    let e = load_err(&[]);
    assert!(matches!(e, WeightsError::Truncated { got: 0, .. }), "{e}");
}

#[test]
fn truncated_in_data() {
    let file = tiny_file();
    let cut = file.len() - 10;
    let e = load_err(&file[..cut]);
    let expected = file.len() as u64;
    assert!(
        matches!(e, WeightsError::Truncated { expected: x, got, .. } if x == expected && got == cut as u64),
        "{e}"
    );
    // The file's last tensor in diffusers order: post_quant_conv.bias.
    assert_names(
        &e,
        &["inside tensor post_quant_conv.bias", &format!("got {cut}")],
    );
}

#[test]
fn header_too_large() {
    let mut file = (200u64 << 20).to_le_bytes().to_vec();
    file.extend_from_slice(b"{\"a\": ");
    let e = load_err(&file);
    assert!(matches!(e, WeightsError::HeaderTooLarge { .. }), "{e}");
    assert_names(&e, &["209715200", "104857600"]);
}

#[test]
fn invalid_json() {
    let e = load_err(&raw_file("{\"encoder.conv_in.weight\": {\"dtype\": ", &[]));
    assert!(matches!(e, WeightsError::InvalidHeader(_)), "{e}");
    assert_names(&e, &["invalid safetensors header", "EOF"]);
    let e = load_err(&raw_file(
        "{\"encoder.conv_in.weight\": {\"dtype\": \"F32\"}}",
        &[],
    ));
    assert!(matches!(e, WeightsError::InvalidHeader(_)), "{e}");
    assert_names(&e, &["encoder.conv_in.weight", "shape"]);
}

#[test]
fn offsets_out_of_range() {
    let json = r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}"#;
    let e = load_err(&raw_file(json, &[0; 8]));
    assert!(
        matches!(
            e,
            WeightsError::OffsetsOutOfRange {
                start: 8,
                end: 4,
                ..
            }
        ),
        "{e}"
    );
    assert_names(&e, &["tensor a", "[8, 4)"]);
}

#[test]
fn overlapping_tensors() {
    let json = r#"{"first": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                   "second": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#;
    let e = load_err(&raw_file(json, &[0; 12]));
    assert!(matches!(e, WeightsError::Overlap { .. }), "{e}");
    assert_names(&e, &["first", "second", "overlap"]);
}

#[test]
fn gap_between_tensors() {
    let json = r#"{"first": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                   "second": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}}"#;
    let e = load_err(&raw_file(json, &[0; 20]));
    assert!(matches!(e, WeightsError::Gap { bytes: 4, .. }), "{e}");
    assert_names(
        &e,
        &["4 unused bytes", "before tensor second", "after first"],
    );
}

#[test]
fn data_size_mismatch() {
    let json = r#"{"w": {"dtype": "F16", "shape": [3, 2], "data_offsets": [0, 8]}}"#;
    let e = load_err(&raw_file(json, &[0; 8]));
    assert!(
        matches!(
            e,
            WeightsError::DataSize {
                expected: 12,
                found: 8,
                ..
            }
        ),
        "{e}"
    );
    assert_names(&e, &["tensor w", "F16", "[3, 2]", "needs 12"]);
}

#[test]
fn missing_tensor() {
    let file =
        ldm_file_with(|name, t| (name != "encoder.mid_block.attentions.0.to_q.bias").then_some(t));
    let e = load_err(&file);
    assert!(
        matches!(
            e,
            WeightsError::MissingTensor {
                layout: Layout::Ldm,
                ..
            }
        ),
        "{e}"
    );
    assert_names(
        &e,
        &[
            "encoder.mid_block.attentions.0.to_q.bias",
            "encoder.mid.attn_1.q.bias",
            "LDM",
        ],
    );
}

#[test]
fn wrong_shape() {
    let file = ldm_file_with(|name, mut t| {
        if name == "decoder.conv_out.weight" {
            t.2 = vec![3, 32, 9, 1];
        }
        Some(t)
    });
    let e = load_err(&file);
    assert!(matches!(e, WeightsError::WrongShape { .. }), "{e}");
    assert_names(
        &e,
        &["decoder.conv_out.weight", "[3, 32, 9, 1]", "[3, 32, 3, 3]"],
    );
}

#[test]
fn unsupported_dtype() {
    let file = ldm_file_with(|name, mut t| {
        if name == "encoder.conv_in.bias" {
            t.1 = Dtype::I64;
            t.3 = vec![0; 32 * 8];
        }
        Some(t)
    });
    let e = load_err(&file);
    assert!(matches!(e, WeightsError::UnsupportedDtype { .. }), "{e}");
    assert_names(&e, &["encoder.conv_in.bias", "I64"]);
}

#[test]
fn duplicate_after_translation() {
    let mut tensors = model_tensors(&tiny(), Layout::Ldm, "", |_, t| Some(t));
    let mut dup = tensors[0].clone();
    dup.0 = format!("vae.{}", dup.0);
    tensors.push(dup);
    let e = load_err(&sdxl_vae::weights::synthetic::write_safetensors(&tensors));
    assert!(matches!(e, WeightsError::DuplicateTensor { .. }), "{e}");
    assert_names(
        &e,
        &["encoder.conv_in.weight", "vae.encoder.conv_in.weight"],
    );
}

#[test]
fn cannot_infer_config() {
    let json = r#"{"loss.logvar": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}"#;
    let e = load_err(&raw_file(json, &[0; 4]));
    assert!(matches!(e, WeightsError::CannotInferConfig(_)), "{e}");
    assert_names(&e, &["encoder.down_blocks.0.resnets.0.conv1.weight"]);
}

#[test]
fn trailing_bytes() {
    let mut file = tiny_file();
    let len = file.len() as u64;
    file.extend_from_slice(b"extra");
    let e = load_err(&file);
    assert!(
        matches!(e, WeightsError::TrailingBytes { extra: 5, .. }),
        "{e}"
    );
    assert_names(&e, &["5 bytes after the last tensor", &len.to_string()]);
}

/// Shape errors come from the header, before the sink sees `begin` or any tensor.
#[test]
fn header_errors_come_before_any_data() {
    let file = ldm_file_with(|name, t| (name != "post_quant_conv.bias").then_some(t));
    let mut loader = WeightsLoader::new(Recorder::default(), Default::default());
    assert!(loader.push(&file[..header_end(&file)]).is_err());
    assert!(loader.info().is_none());
}

/// After an error every call fails again, without panicking; sink errors stop the load too.
#[test]
fn errors_are_sticky() {
    let sink = Recorder {
        fail_on: Some("encoder.conv_in.bias".into()),
        ..Recorder::default()
    };
    let mut loader = WeightsLoader::new(sink, Default::default());
    let file = tiny_file();
    let first = loader
        .push(&file)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        first.contains("sink refused encoder.conv_in.bias"),
        "{first}"
    );
    for _ in 0..3 {
        let again = loader
            .push(&file[..1])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            again.contains("earlier error") && again.contains(&first),
            "{again}"
        );
    }
    assert!(loader.finish().is_err());
}
