//! The table of user options (`sdxl_vae::OPTIONS`) and the surfaces that must follow it: the
//! command line's global flags, and the TypeScript `LoadOptions` of the module, whose types must
//! say what each option's kind takes (tests/browser/run.sh checks the built `.d.ts` carries it).
//! The page reads the table itself through `userOptions()`, and the worker forwards every
//! option: both are exercised in tests/browser.

use sdxl_vae::{OptionKind, OPTIONS};
use std::collections::BTreeSet;
use std::process::Command;

/// The `--flags` of `sdxl-vae --help` (global options; tuning flags are hidden).
fn cli_flags() -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_sdxl-vae"))
        .arg("--help")
        .output()
        .expect("sdxl-vae runs");
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    help.split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| w.trim_end_matches([',', '.', ']']).to_string())
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect()
}

#[test]
fn cli_flags_are_the_table_of_user_options() {
    let flags = cli_flags();
    // Tuning knobs are flags too, but out of the help.
    let shown = OPTIONS.iter().filter(|o| !o.hidden);
    let mut want: BTreeSet<String> = shown.map(|o| o.cli.to_string()).collect();
    want.extend(["help".to_string(), "version".to_string()]);
    assert_eq!(flags, want, "sdxl-vae --help");
}

/// `export interface LoadOptions { … }` of the module's TypeScript types: each key and its type.
fn ts_load_options() -> Vec<(String, String)> {
    let body = sdxl_vae::api::options::LOAD_OPTIONS_TS;
    assert!(body.starts_with("export interface LoadOptions {\n") && body.ends_with("}\n"));
    body.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("/**") && !l.starts_with('*') && !l.starts_with("export"))
        .filter_map(|l| l.split_once("?:"))
        .map(|(k, t)| {
            (
                k.trim().to_string(),
                t.trim().trim_end_matches(';').to_string(),
            )
        })
        .collect()
}

#[test]
fn typescript_load_options_are_the_table_and_the_loader_hooks() {
    let keys = ts_load_options();
    let names: BTreeSet<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    let mut want: BTreeSet<&str> = OPTIONS.iter().map(|o| o.js).collect();
    // The load's own hooks.
    want.extend(["onProgress", "signal"]);
    assert_eq!(names, want);
    for o in OPTIONS {
        let ts = &keys.iter().find(|(k, _)| k == o.js).unwrap().1;
        let expected = match o.kind {
            OptionKind::Number | OptionKind::Real => "number".to_string(),
            OptionKind::Json => "object | string".to_string(),
            OptionKind::Bytes => "number | string".to_string(),
            OptionKind::Bool => "boolean".to_string(),
            OptionKind::Choice(words) => {
                let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
                quoted.join(" | ")
            }
        };
        assert_eq!(ts, &expected, "the type of {}", o.js);
    }
}
