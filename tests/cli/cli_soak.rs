//! `sdxl-vae soak`: many alternating encodes and decodes over several sizes on one model, ending
//! with its machine-readable line; it fails (status 1, one `error:` line) if held GPU memory grows
//! past the first round's by more than 5% or resident memory by more than 64 MiB. Figures are
//! printed; the command itself is the assertion.

use std::process::Command;

use tempfile::TempDir;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sdxl-vae"))
        .args(args)
        .output()
        .expect("run sdxl-vae")
}

#[test]
fn soak_holds_memory_flat_and_prints_its_line() {
    let dir = TempDir::new().expect("temp dir");
    let weights = dir.path().join("small.safetensors");
    let w = weights.to_str().expect("utf-8 path");
    let synth = run(&["synth", "--blocks", "32,32,64,64", "-o", w]);
    assert!(synth.status.success(), "{synth:?}");
    for precision in ["f32", "f16"] {
        let out = run(&[
            "--precision",
            precision,
            "soak",
            "--weights",
            w,
            "--calls",
            "16",
            "--sizes",
            "64,37x29,96x72",
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{precision}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let last = stdout.lines().last().unwrap_or_default();
        println!("{precision}: {last}");
        let fields: Vec<(&str, f64)> = (last.split_whitespace().skip(1))
            .filter_map(|f| f.split_once('='))
            .map(|(k, v)| (k, v.parse().expect("number")))
            .collect();
        let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "calls",
                "gpu_mib_first",
                "gpu_mib_max",
                "gpu_mib_last",
                "rss_mib_first",
                "rss_mib_last"
            ]
        );
        assert!(last.starts_with("soak calls=16 "), "{last}");
        assert!(fields[1].1 > 0.0 && fields[4].1 > 0.0, "{last}");
    }
}

#[test]
fn soak_refuses_too_few_calls_and_bad_sizes() {
    for (args, says) in [
        (&["--calls", "3"][..], "two rounds"),
        (&["--sizes", "64,0x5"], "positive sides"),
        (&["--sizes", "big"], "positive sides"),
    ] {
        let mut all = vec!["soak", "--weights", "synthetic"];
        all.extend_from_slice(args);
        let out = run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with("error[usage]: ") && stderr.contains(says),
            "{stderr}"
        );
    }
}
