//! What a file must hold: the config inferred from shapes, the expected tensors, the name table
//! against diffusers' own (tests/fixtures), and the synthetic-weights rule against the Python
//! generator's.
use sdxl_vae::weights::names::{canonical_shape, to_canonical, to_layout_name, to_layout_shape};
use std::collections::BTreeMap;

use sdxl_vae::weights::synthetic::{synthetic_tensor, synthetic_value, write_safetensors};
use sdxl_vae::weights::{expected_tensors, param_count, read_info, Layout, VaeConfig};

use super::support::*;

#[test]
fn config_inference() {
    let no_quant = VaeConfig {
        use_quant_conv: false,
        ..VaeConfig::sdxl()
    };
    let odd = VaeConfig {
        in_channels: 4,
        out_channels: 1,
        latent_channels: 16,
        layers_per_block: 3,
        ..small()
    };
    for config in [
        VaeConfig::sdxl(),
        VaeConfig::kl16(),
        no_quant,
        small(),
        tiny(),
        odd,
    ] {
        let shapes = expected_tensors(&config).into_iter().collect();
        let got = VaeConfig::infer(&shapes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, config);
    }
}

/// `read_info` reads only the header: the SDXL file's data need not be there.
#[test]
fn read_info_reads_the_header_only() {
    let sdxl = VaeConfig::sdxl();
    let tensors = model_tensors(&tiny(), Layout::Ldm, "", |_, t| Some(t));
    let n = tensors.len();
    let file = write_safetensors(&tensors);
    let info = read_info(&file[..], &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (info.layout, info.file_bytes, info.dtypes.clone()),
        (Layout::Ldm, file.len() as u64, vec![("F32".into(), n)])
    );
    // SDXL header with offsets for F16 data, followed by no data at all.
    let mut header = serde_json::Map::new();
    let mut offset = 0;
    for (name, shape) in expected_tensors(&sdxl) {
        let bytes = shape.iter().product::<usize>() * 2;
        let entry = serde_json::json!({"dtype": "F16", "shape": to_layout_shape(&name, &shape, Layout::Ldm), "data_offsets": [offset, offset + bytes]});
        header.insert(
            format!(
                "first_stage_model.{}",
                to_layout_name(&name, Layout::Ldm, 4)
            ),
            entry,
        );
        offset += bytes;
    }
    let json = serde_json::Value::Object(header).to_string();
    let info =
        read_info(&raw_file(&json, &[])[..], &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (info.layout, info.param_count, &info.config),
        (Layout::Ldm, 83_653_863, &sdxl)
    );
    assert_eq!(info.file_bytes, 8 + json.len() as u64 + 2 * 83_653_863);
}

#[test]
fn sdxl_expected_tensors() {
    let tensors = expected_tensors(&VaeConfig::sdxl());
    assert_eq!(tensors.len(), 248);
    assert_eq!(param_count(&tensors), 83_653_863);
    let part = |p: &str| {
        param_count(
            &tensors
                .iter()
                .filter(|(n, _)| n.starts_with(p))
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        (part("encoder."), part("decoder.")),
        (34_163_592, 49_490_179)
    );
    assert_eq!((part("quant_conv."), part("post_quant_conv.")), (72, 20));
}

/// The name tables written by tests/fixtures/gen_fixtures.py from diffusers itself (and
/// checked there against diffusers' own LDM converter).
#[test]
fn name_tables_match_diffusers() {
    for (file, config) in [
        ("names_sdxl.json", VaeConfig::sdxl()),
        ("names_small.json", small()),
    ] {
        let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let rows: Vec<serde_json::Value> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        let ours = expected_tensors(&config);
        assert_eq!(rows.len(), ours.len(), "{file}");
        let n = config.block_out_channels.len();
        for (row, (name, shape)) in rows.iter().zip(&ours) {
            let field = |k: &str| row[k].clone();
            let dims = |k: &str| serde_json::from_value::<Vec<usize>>(field(k)).unwrap_or_default();
            let ldm = field("ldm").as_str().unwrap_or_default().to_string();
            assert_eq!(
                (field("diffusers").as_str(), &dims("diffusers_shape")),
                (Some(name.as_str()), shape)
            );
            assert_eq!(to_layout_name(name, Layout::Ldm, n), ldm, "{name}");
            assert_eq!(
                to_layout_shape(name, shape, Layout::Ldm),
                dims("ldm_shape"),
                "{name}"
            );
            assert_eq!(
                to_canonical(&ldm, n).map(|t| t.canonical).as_deref(),
                Some(name.as_str())
            );
            assert_eq!(&canonical_shape(name, &dims("ldm_shape")), shape, "{name}");
        }
    }
}

/// tests/fixtures/names_flux2.json (gen_flux2_fixtures.py): the full-size FLUX.2 VAEs as diffusers
/// builds them, both decoder widths, and FLUX.2's original `AutoEncoder` (black-forest-labs/flux2,
/// whose names `flux2-vae.safetensors` carries): ours are the same tensors in the same order, the
/// configuration is read back from them, and every original name translates to its diffusers
/// twin and back. `bn.num_batches_tracked` (a counter) is the one tensor left unused.
#[test]
fn flux2_tables_match_diffusers_and_the_original() {
    let path = format!(
        "{}/tests/fixtures/names_flux2.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let table: BTreeMap<String, Vec<(String, Vec<usize>)>> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let used = |key: &str| -> Vec<(String, Vec<usize>)> {
        let rows = table[key]
            .iter()
            .filter(|(n, _)| n != "bn.num_batches_tracked");
        rows.cloned().collect()
    };
    for (key, config) in [
        ("diffusers", VaeConfig::flux2(false)),
        ("diffusers_small_decoder", VaeConfig::flux2(true)),
    ] {
        let want = used(key);
        assert_eq!(table[key].len(), want.len() + 1, "{key}: one counter");
        assert_eq!(expected_tensors(&config), want, "{key}");
        let shapes = want.iter().cloned().collect();
        assert_eq!(VaeConfig::infer(&shapes).unwrap(), config, "{key}");
    }
    let diffusers: BTreeMap<String, Vec<usize>> = used("diffusers").into_iter().collect();
    let original = used("original");
    assert_eq!(original.len(), diffusers.len());
    for (name, shape) in &original {
        let t = to_canonical(name, 4).unwrap_or_else(|| panic!("{name} not translated"));
        let canonical_shape = canonical_shape(&t.canonical, shape);
        assert_eq!(
            diffusers.get(&t.canonical),
            Some(&canonical_shape),
            "{name}"
        );
        assert_eq!(&to_layout_name(&t.canonical, Layout::Flux2, 4), name);
        assert_eq!(
            &to_layout_shape(&t.canonical, &canonical_shape, Layout::Flux2),
            shape
        );
    }
    // diffusers' parameter counts, and the two statistics of 128 values.
    assert_eq!(
        param_count(&expected_tensors(&VaeConfig::flux2(false))),
        84_046_115 + 256
    );
    assert_eq!(
        param_count(&expected_tensors(&VaeConfig::flux2(true))),
        62_373_091 + 256
    );
}

/// tests/fixtures/names_qwen.json (gen_qwen_fixtures.py): Qwen-Image's full-size VAE as
/// diffusers builds it and as Wan 2.1's original module names it (`qwen_image_vae.safetensors`,
/// `Wan2.1_VAE.pth`). Ours are the same tensors in the same order but the temporal
/// convolutions (`time_conv`), which one frame never runs; the configuration is read back from
/// the shapes; every original name translates to its diffusers twin and back.
#[test]
fn qwen_tables_match_diffusers_and_wan() {
    let path = format!(
        "{}/tests/fixtures/names_qwen.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let table: BTreeMap<String, Vec<(String, Vec<usize>)>> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let config = VaeConfig::qwen_image();
    let diffusers = &table["diffusers"];
    let used: Vec<(String, Vec<usize>)> = (diffusers.iter())
        .filter(|(n, _)| !n.contains(".time_conv."))
        .cloned()
        .collect();
    assert_eq!(
        diffusers.len() - used.len(),
        8,
        "four temporal convolutions"
    );
    assert_eq!(expected_tensors(&config), used);
    let shapes = diffusers.iter().cloned().collect();
    assert_eq!(VaeConfig::infer(&shapes).unwrap(), config);
    let by_name: BTreeMap<&String, &Vec<usize>> = diffusers.iter().map(|(n, s)| (n, s)).collect();
    let original = &table["original"];
    assert_eq!(original.len(), diffusers.len());
    let mut seen = std::collections::BTreeSet::new();
    for (name, shape) in original {
        let t = to_canonical(name, 4).unwrap_or_else(|| panic!("{name} not translated"));
        assert_eq!(
            by_name.get(&t.canonical),
            Some(&shape),
            "{name} → {}",
            t.canonical
        );
        assert!(t.evidence.is_none_or(|e| e == Layout::Wan), "{name}");
        assert_eq!(&to_layout_name(&t.canonical, Layout::Wan, 4), name);
        assert!(seen.insert(t.canonical), "{name}: two names for one tensor");
    }
    // diffusers' parameter count without the temporal convolutions (2,949,120 + … values).
    let time_conv: usize = (diffusers.iter())
        .filter(|(n, _)| n.contains(".time_conv."))
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    let all: usize = diffusers
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    assert_eq!(param_count(&expected_tensors(&config)), all - time_conv);
}

/// tests/fixtures/rule_check.json: first values (as f32 bits) and sums of the Python rule.
#[test]
fn synthetic_rule_matches_python() {
    let path = format!(
        "{}/tests/fixtures/rule_check.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let rules: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rules.len(), 5);
    for (name, rule) in &rules {
        let shape: Vec<usize> = serde_json::from_value(rule["shape"].clone()).unwrap_or_default();
        let bits: Vec<String> =
            serde_json::from_value(rule["first8_f32_bits"].clone()).unwrap_or_default();
        let ours: Vec<String> = (0..8)
            .map(|i| format!("0x{:08x}", synthetic_value(name, &shape, i).to_bits()))
            .collect();
        assert_eq!(ours, bits, "{name}");
        let sum: f64 = synthetic_tensor(name, &shape)
            .iter()
            .map(|&v| f64::from(v))
            .sum();
        let want = rule["sum_f64"].as_f64().unwrap_or(f64::NAN);
        assert!(
            (sum - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{name}: sum {sum} vs {want}"
        );
    }
}
