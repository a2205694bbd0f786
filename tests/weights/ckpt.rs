//! PyTorch checkpoints (fixtures written by `torch.save` in tests/fixtures/gen_family_fixtures.py):
//! every format and layout gives the same tensors as the safetensors reader gives for the same
//! weights; a full-model checkpoint yields just its VAE without keeping the rest; pickles that
//! name anything but tensors are refused, and no cut of a file panics (corruption: `fuzz.rs`).
use std::collections::BTreeMap;

use sdxl_vae::weights::{FileFormat, Layout, WeightSink, WeightsError, WeightsLoader};

use super::support::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn weights_err(e: sdxl_vae::Error) -> WeightsError {
    match e {
        sdxl_vae::Error::Weights(w) => w,
        other => panic!("not a weights error: {other}"),
    }
}

/// The `mini` VAE's tensors as the safetensors reader gives them from the full-model file.
fn reference() -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let (rec, info) = load(&fixture("mini_full.safetensors"), 1 << 16).unwrap();
    assert_eq!(info.format, FileFormat::Safetensors);
    assert_eq!(rec.tensors.len(), 176);
    rec.tensors
}

#[test]
fn every_checkpoint_format_gives_the_safetensors_tensors() {
    let want = reference();
    for (name, format, layout, ignored) in [
        ("mini_ldm.ckpt", FileFormat::TorchZip, Layout::Ldm, 2),
        (
            "mini_ldm_legacy.ckpt",
            FileFormat::TorchLegacy,
            Layout::Ldm,
            2,
        ),
        ("mini_views.pt", FileFormat::TorchZip, Layout::Diffusers, 0),
        ("mini_full.ckpt", FileFormat::TorchZip, Layout::Ldm, 7),
    ] {
        let file = fixture(name);
        for chunk in [1, 7, 4096, 1 << 20, 1 << 24] {
            let (rec, info) = load(&file, chunk).unwrap_or_else(|e| panic!("{name} {chunk}: {e}"));
            assert_eq!(rec.tensors.len(), want.len(), "{name} chunk {chunk}");
            for (k, (shape, values)) in &want {
                let got = rec
                    .tensors
                    .get(k)
                    .unwrap_or_else(|| panic!("{name}: no {k}"));
                assert_eq!(&got.0, shape, "{name} {k}");
                assert!(
                    got.1 == *values,
                    "{name} chunk {chunk}: values of {k} differ"
                );
            }
            assert_eq!((rec.begun.len(), rec.early), (1, 0), "{name}");
            assert_eq!(
                (info.format, info.layout, info.ignored_tensors),
                (format, layout, ignored),
                "{name}"
            );
            assert_eq!(info.file_bytes, 0, "a checkpoint does not say its size");
            assert_eq!(info.family.family.to_string(), "sd1", "{name}");
        }
    }
}

/// Counts what reaches the sink, to see what a full-model checkpoint costs.
#[derive(Default)]
struct Count {
    tensors: usize,
    largest: usize,
}

impl WeightSink for Count {
    type Error = sdxl_vae::Error;

    fn begin(&mut self, _: &sdxl_vae::weights::ModelInfo) -> sdxl_vae::Result<()> {
        Ok(())
    }
    fn tensor(&mut self, _: &str, _: &[usize], data: &[f32]) -> sdxl_vae::Result<()> {
        self.tensors += 1;
        self.largest = self.largest.max(data.len() * 4);
        Ok(())
    }
}

#[test]
fn full_model_checkpoint_keeps_only_the_vae() {
    for name in ["mini_full.ckpt", "mini_full.safetensors"] {
        let file = fixture(name);
        let mut loader = WeightsLoader::new(Count::default(), Default::default());
        for c in file.chunks(4096) {
            loader.push(c).unwrap();
        }
        let peak = loader.peak_buffered_bytes();
        let (count, info) = loader.finish().unwrap();
        assert_eq!(count.tensors, 176);
        // UNet, text encoder (an int64 position_ids among them) and EMA counters.
        assert_eq!(info.ignored_tensors, 7, "{name}");
        let unet = (64 * 4 * 9 + 256 * 256 + 4 * 320 * 9 + 512 * 64) * 4;
        let other = 77 * 8 + 4 + 4;
        assert_eq!(info.ignored_bytes, (unet + other) as u64, "{name}");
        // Only a VAE tensor straddling chunks is ever held (f32 here, as the sink gets it).
        assert!(peak <= count.largest, "{name}: held {peak} bytes");
        println!(
            "{name}: held at most {peak} bytes; skipped {} bytes",
            info.ignored_bytes
        );
    }
}

#[test]
fn pickle_that_would_run_a_command_is_refused_and_runs_nothing() {
    let marker = std::path::Path::new("/tmp/sdxl-vae-evil-pickle-ran");
    let _ = std::fs::remove_file(marker);
    let e = weights_err(load(&fixture("evil.ckpt"), 1 << 16).err().unwrap());
    assert!(matches!(e, WeightsError::RefusedGlobal { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("posix.system") && msg.contains("nothing in the file was run"),
        "{msg}"
    );
    assert!(!marker.exists());
}

/// A legacy checkpoint around `main` (the pickled object) and `keys` (the storage key list).
fn legacy(main: &[u8], keys: &[u8], data: &[u8]) -> Vec<u8> {
    let mut f = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
    f.extend_from_slice(b"\x80\x02M\xe9\x03.");
    f.extend_from_slice(b"\x80\x02}.");
    f.extend_from_slice(main);
    f.extend_from_slice(keys);
    f.extend_from_slice(data);
    f
}

fn legacy_err(main: &[u8]) -> WeightsError {
    weights_err(load(&legacy(main, b"\x80\x02].", &[]), 3).err().unwrap())
}

#[test]
fn pickles_naming_anything_but_tensors_are_refused() {
    for (main, named) in [
        (&b"\x80\x02cbuiltins\neval\n."[..], "builtins.eval"),
        (b"\x80\x02ctorch\nload\n.", "torch.load"),
        (b"\x80\x02c__builtin__\ngetattr\n.", "__builtin__.getattr"),
        (b"\x80\x04\x8c\x02os\x8c\x06system\x93.", "os.system"),
    ] {
        let e = legacy_err(main);
        assert!(
            matches!(&e, WeightsError::RefusedGlobal { name, .. } if name == named),
            "{e}"
        );
    }
    for (main, says) in [
        (&b"\x80\x02(i__main__\nX\n."[..], "INST"),
        (b"\x80\x02I1\n.", "INT"),
        (b"\x80\x02(\x81.", "stack underflow"),
        (b"\x80\x02h\x05.", "memo entry 5"),
        (b"\x80\x02}q\x00K\x01K\x02K\x03u.", "no MARK"),
        (b"\x80\x02ccollections\nOrderedDict\nK\x01R.", "not a tuple"),
        (b"\x80\x02]K\x01K\x02s.", "not a dict"),
        (b"\x80\x02K\x01.", "no dict of tensors"),
        (b"\x80\x02}X\x01\x00\x00\x00aK\x01s.", "no tensors"),
        (b"\x80\x06}.", "protocol 6"),
    ] {
        let e = legacy_err(main);
        assert!(e.to_string().contains(says), "{says}: {e}");
    }
}

/// A tensor whose view reaches past its storage is refused before any data.
#[test]
fn view_beyond_its_storage_is_refused() {
    let main = b"\x80\x02}X\x01\x00\x00\x00actorch._utils\n_rebuild_tensor_v2\n\
        ((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu\
        K\x04tQK\x02K\x03\x85K\x01\x85\x89NtRs.";
    let e = legacy_err(main);
    let msg = e.to_string();
    assert!(
        msg.contains("tensor a") && msg.contains("element 5 of a storage of 4"),
        "{msg}"
    );
}

#[test]
fn zip_holding_a_checkpoint_or_compressed_entries_says_what_to_do() {
    let mut f = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
    f.extend_from_slice(&[0; 16]);
    f.extend_from_slice(&10u16.to_le_bytes());
    f.extend_from_slice(&0u16.to_le_bytes());
    f.extend_from_slice(b"model.ckpt");
    let e = weights_err(load(&f, 5).err().unwrap());
    assert!(e.to_string().contains("unzip it"), "{e}");
    let mut ckpt = fixture("mini_ldm.ckpt");
    ckpt[8] = 8; // data.pkl deflated
    let e = weights_err(load(&ckpt, 4096).err().unwrap());
    assert!(e.to_string().contains("compressed"), "{e}");
}

/// Every cut of a checkpoint is an error naming where it ended, never a panic or a success.
#[test]
fn truncated_checkpoints_are_errors() {
    for name in ["mini_ldm.ckpt", "mini_ldm_legacy.ckpt"] {
        let file = fixture(name);
        let ends_in_tail = name.ends_with(".ckpt") && !name.contains("legacy");
        for i in 0..97 {
            let cut = file.len() * i / 97;
            match load(&file[..cut], 1000) {
                Ok(_) => assert!(ends_in_tail, "{name} cut at {cut} loaded"),
                Err(e) => {
                    let msg = weights_err(e).to_string();
                    assert!(!msg.contains('\n'), "{msg}");
                }
            }
        }
    }
}

/// A source that can seek jumps over what nobody wants, in both formats, and gets the same
/// tensors; a jump onto a wanted byte is refused.
#[test]
fn seeking_sources_skip_what_the_model_does_not_use() {
    let want = reference();
    // Jumps of any size with small reads; only big jumps with big reads (as a Blob is read).
    for (name, min_jump, read_size) in [
        ("mini_full.ckpt", 1, 1000),
        ("mini_full.safetensors", 1, 1000),
        ("mini_full.ckpt", 64 << 10, 4 << 20),
        ("mini_full.safetensors", 64 << 10, 4 << 20),
    ] {
        let file = fixture(name);
        let mut loader = WeightsLoader::new(Recorder::default(), Default::default());
        let (mut at, mut read) = (0usize, 0usize);
        while at < file.len() {
            if let Some((pos, next)) = loader.skippable() {
                assert_eq!(pos, at as u64, "{name}");
                if next - pos >= min_jump {
                    loader.skip(next - pos).unwrap();
                    at = next as usize;
                    continue;
                }
            }
            let end = (at + read_size).min(file.len());
            loader.push(&file[at..end]).unwrap();
            read += end - at;
            at = end;
        }
        let (rec, info) = loader.finish().unwrap();
        assert_eq!(rec.tensors, want, "{name}");
        println!("{name}: read {read} of {} bytes", file.len());
        if min_jump == 1 {
            let most = file.len() as u64 - info.ignored_bytes + (64 << 10);
            assert!(read as u64 <= most, "{name}: read {read}");
        }
    }
    let file = fixture("mini_full.safetensors");
    let mut loader = WeightsLoader::new(Recorder::default(), Default::default());
    loader.push(&file[..1 << 16]).unwrap();
    let (pos, next) = loader.skippable().unwrap();
    assert!(loader.skip(next - pos + 1).is_err());
}
