//! `sdxl-vae bench` runs end to end on generated full-size SDXL weights and ends with its
//! machine-readable line (figures are printed, not asserted: speed belongs to benchmarks).

use std::process::Command;

#[test]
fn bench_prints_one_machine_readable_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_sdxl-vae"))
        .args([
            "bench",
            "--weights",
            "synthetic",
            "--size",
            "16",
            "--reps",
            "1",
        ])
        .output()
        .expect("run sdxl-vae");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    println!("{stdout}");
    let fields: Vec<(&str, &str)> = last
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.split_once('='))
        .collect();
    assert!(last.starts_with("bench size=16 "), "{last}");
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        [
            "size",
            "encode_s",
            "decode_s",
            "encode_gflops",
            "decode_gflops",
            "peak_gpu_mib"
        ]
    );
    for (k, v) in fields {
        let v: f64 = v
            .parse()
            .unwrap_or_else(|_| panic!("{k}={v} is not a number"));
        assert!(v.is_finite() && v > 0.0, "{k}={v}");
    }
}

#[test]
fn bench_rejects_sizes_that_are_not_multiples_of_8() {
    let out = Command::new(env!("CARGO_BIN_EXE_sdxl-vae"))
        .args(["bench", "--weights", "synthetic", "--size", "12"])
        .output()
        .expect("run sdxl-vae");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: --size must be a positive multiple of 8"),
        "{stderr}"
    );
}
