//! `sdxl-vae bench` runs end to end on generated full-size SDXL weights and ends with its
//! machine-readable line (figures are printed, not asserted: speed belongs to benchmarks).

use std::process::Command;

/// In f32 and in f16 (whose line names the precision the run ended in: full-size synthetic
/// weights do not overflow f16).
#[test]
fn bench_prints_one_machine_readable_line() {
    for precision in ["f32", "f16"] {
        bench_line(precision);
    }
}

fn bench_line(precision: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_sdxl-vae"))
        .args([
            "--precision",
            precision,
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
            "peak_gpu_mib",
            "precision"
        ]
    );
    assert!(last.ends_with(&format!(" precision={precision}")), "{last}");
    for (k, v) in &fields[..fields.len() - 1] {
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
        stderr.starts_with("error[usage]: --size must be a positive multiple of 8"),
        "{stderr}"
    );
}

/// Runs `sdxl-vae` with `args`, asserting success; returns stdout.
fn run_ok(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sdxl-vae"))
        .args(args)
        .output()
        .expect("run sdxl-vae");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `bench --profile` submits and times every dispatch on its own: the dispatches it counts per
/// kernel add up to what the dry run records for the same call, and the convolutions are there.
#[test]
fn bench_profile_times_every_dispatch() {
    let common = ["bench", "--weights", "synthetic", "--size", "16"];
    let profile = run_ok(&[&common[..], &["--profile"]].concat());
    println!("{profile}");
    let dry = run_ok(&[&common[..], &["--dry-run"]].concat());
    let recorded = |phase: &str| -> u64 {
        let key = format!("{phase}_dispatches=");
        let last = dry.lines().last().unwrap_or_default();
        let v = last
            .split_whitespace()
            .find_map(|f| f.strip_prefix(key.as_str()));
        v.and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {last}"))
    };
    for phase in ["encode", "decode"] {
        let head = format!("{phase} 16x16: ");
        let section: Vec<&str> = profile
            .lines()
            .skip_while(|l| !l.starts_with(&head))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .collect();
        let kernels: Vec<(&str, u64)> = section
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0], f[1].parse().unwrap())
            })
            .collect();
        assert!(
            kernels
                .iter()
                .any(|(k, n)| k.starts_with("conv2d") && *n > 10),
            "{phase}: {kernels:?}"
        );
        // The dry run records the calls' dispatches, the conversion to pixels among them.
        let timed: u64 = kernels
            .iter()
            .filter(|(k, _)| *k != "copies")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(timed, recorded(phase), "{phase}: {kernels:?}");
    }
}
