//! Every reader against damaged input: bit flips, cuts and runs of the file copied over other
//! places (plausible-looking structure), where structure lives — a safetensors header, a
//! checkpoint's pickle and zip records, a config.json, a latent file (`.npy`, safetensors). Each must end in an error or a load,
//! never a panic, a hang or an allocation only the input asks for. A few thousand inputs run in
//! the suite; `SDXL_VAE_FUZZ_INPUTS=1000000` runs that many per reader and prints the rate.
use sdxl_vae::latent_file;
use sdxl_vae::weights::synthetic::{synthetic_safetensors, SynthDtype};
use sdxl_vae::weights::{DiffusersConfig, Layout, ModelInfo, WeightSink, WeightsLoader};

use super::support::tiny;

fn inputs(default: usize) -> usize {
    (std::env::var("SDXL_VAE_FUZZ_INPUTS").ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One damaged copy of `file`, its changes within the first `span` bytes.
fn mutate(file: &[u8], span: usize, rng: &mut Rng) -> Vec<u8> {
    let span = span.min(file.len()).max(1);
    let mut f = file.to_vec();
    match rng.next() % 4 {
        0 => f.truncate(rng.below(span).max(1)),
        1 => {
            let (from, to) = (rng.below(span), rng.below(span));
            let n = (1 + rng.below(16)).min(span - from.max(to));
            let run = f[from..from + n].to_vec();
            f[to..to + n].copy_from_slice(&run);
        }
        _ => {
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(span);
                f[at] ^= 1 << rng.below(8);
            }
        }
    }
    f
}

/// Takes tensors and keeps nothing.
struct Discard;

impl WeightSink for Discard {
    type Error = sdxl_vae::Error;

    fn begin(&mut self, _: &ModelInfo) -> sdxl_vae::Result<()> {
        Ok(())
    }
    fn tensor(&mut self, _: &str, _: &[usize], _: &[f32]) -> sdxl_vae::Result<()> {
        Ok(())
    }
}

/// Loads every damaged copy in chunks of random size; returns how many still loaded.
fn run(what: &str, files: &[Vec<u8>], span: usize, n: usize, seed: u64) -> usize {
    let mut rng = Rng(seed);
    let (start, mut loaded) = (std::time::Instant::now(), 0);
    for i in 0..n {
        let f = mutate(&files[i % files.len()], span, &mut rng);
        let mut loader = WeightsLoader::new(Discard, Default::default());
        let chunk = 1 + rng.below(70_000);
        let pushed = f.chunks(chunk).try_for_each(|c| loader.push(c));
        loaded += usize::from(pushed.is_ok() && loader.finish().is_ok());
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{what}: {n} damaged inputs in {secs:.1} s ({:.0}/s), {loaded} loaded",
        n as f64 / secs
    );
    loaded
}

#[test]
fn damaged_safetensors_never_panic() {
    let file = synthetic_safetensors(&tiny(), Layout::Ldm, SynthDtype::F16, "");
    let header = 8 + u64::from_le_bytes(file[..8].try_into().unwrap_or_default()) as usize;
    run("safetensors", &[file], header + 64, inputs(2000), 0x5afe);
}

#[test]
fn damaged_checkpoints_never_panic() {
    let files: Vec<Vec<u8>> = [
        "mini_ldm.ckpt",
        "mini_ldm_legacy.ckpt",
        "mini_views.pt",
        "evil.ckpt",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect();
    // The pickles and headers lie in the first 64 KiB; later flips only change values.
    run("checkpoints", &files, 64 << 10, inputs(600), 0x5eed);
}

#[test]
fn damaged_config_json_never_panics() {
    let text = r#"{"_class_name": "AutoencoderKL", "_diffusers_version": "0.20.0",
        "act_fn": "silu", "block_out_channels": [128, 256, 512, 512], "latent_channels": 16,
        "scaling_factor": 1.5305, "shift_factor": 0.0609, "use_quant_conv": false,
        "nested": {"a": [1, 2, {"b": null}]}}"#;
    let mut rng = Rng(0xc0f1);
    let n = inputs(5000);
    let (start, mut parsed) = (std::time::Instant::now(), 0);
    for _ in 0..n {
        let bytes = mutate(text.as_bytes(), text.len(), &mut rng);
        let text = String::from_utf8_lossy(&bytes);
        parsed += usize::from(DiffusersConfig::parse(&text).is_ok());
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "config.json: {n} damaged inputs in {secs:.1} s ({:.0}/s), {parsed} parsed",
        n as f64 / secs
    );
}

/// A `.npy` file of format `version` (1: 16-bit header length, 2: 32-bit) holding `data`.
fn npy(version: u8, descr: &str, shape: &[u64], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| format!("{d}, ")).collect();
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}), }}",
        dims.concat()
    );
    let pre = if version == 1 { 10 } else { 12 };
    while (pre + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = b"\x93NUMPY".to_vec();
    f.extend([version, 0]);
    match version {
        1 => f.extend((header.len() as u16).to_le_bytes()),
        _ => f.extend((header.len() as u32).to_le_bytes()),
    }
    f.extend(header.bytes());
    f.extend(data);
    f
}

/// Latent files as the CLI and diffusers write them: `.npy` f32 (numpy's own, a fixture), f16
/// and format 2 (made here), and a safetensors latent with the image size.
fn latent_files() -> Vec<(Vec<u8>, bool)> {
    let values: Vec<f32> = (0..4 * 6 * 8).map(|i| i as f32 * 0.25 - 9.0).collect();
    let f32s: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let f16s: Vec<u8> = (values.iter())
        .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
        .collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1, 4, 6, 8], &f32s)
            .unwrap();
    let meta = std::collections::HashMap::from([
        ("image_width".to_string(), "60".to_string()),
        ("image_height".to_string(), "45".to_string()),
    ]);
    let st = safetensors::serialize([("latent", view)], Some(meta)).unwrap();
    vec![
        (fixture("mini_64x48_mean.npy"), false),
        (npy(1, "<f2", &[4, 6, 8], &f16s), false),
        (npy(2, "<f4", &[1, 4, 6, 8], &f32s), false),
        (st, true),
    ]
}

#[test]
fn latent_files_read_and_their_damaged_copies_never_panic() {
    let files = latent_files();
    for (f, st) in &files {
        let lat = latent_file::parse(f, *st).unwrap();
        assert_eq!((lat.channels, lat.width, lat.height), (4, 8, 6));
    }
    let st = latent_file::parse(&files[3].0, true).unwrap();
    assert_eq!((st.image_width, st.image_height), (60, 45));
    assert_eq!(
        latent_file::parse(&files[1].0, false).unwrap().data[5],
        -7.75
    );
    // Header numbers that would drive allocations are refused against the bytes present.
    let mut long_header = files[2].0.clone();
    long_header[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    let huge_shape = npy(1, "<f4", &[1, 4, 1 << 20, 1 << 20], &[0; 16]);
    let overflow = npy(1, "<f4", &[u64::MAX, 3, 5], &[0; 16]);
    for (bad, says) in [
        (long_header, "header says it is 4294967307 bytes"),
        (
            huge_shape,
            "needs 17592186044416 bytes of data; the file has 16",
        ),
        (overflow, "over 2^64"),
        (npy(1, ">f4", &[4, 6, 8], &[0; 768]), "little-endian"),
        (npy(1, "<f4", &[4, 6, 8], &[0; 700]), "the file has 700"),
        (b"PK\x03\x04 not a latent".to_vec(), "no \\x93NUMPY magic"),
    ] {
        let e = latent_file::parse(&bad, false).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
    let n = inputs(3000);
    let mut rng = Rng(0x1a7e);
    let (start, mut parsed) = (std::time::Instant::now(), 0);
    for i in 0..n {
        let (file, st) = &files[i % files.len()];
        // The headers are in the first 128 bytes (npy) and 8 + 150 (safetensors).
        let damaged = mutate(file, 192, &mut rng);
        parsed += usize::from(latent_file::parse(&damaged, *st).is_ok());
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "latent files: {n} damaged inputs in {secs:.1} s ({:.0}/s), {parsed} parsed",
        n as f64 / secs
    );
}
