//! The crate's layers point one way. Every file under `src/` (but `lib.rs`, the façade for users,
//! and `bin/`, which uses the library as users do) names other code only in its own tier of
//! [`ORDER`] or below, through a module of the crate (never through `lib.rs`'s re-exports), and
//! no files import each other in a circle — apart from a file and the modules it belongs to (a
//! submodule may use its parent's names, as the parent uses its own submodules), and a parent's
//! `pub use` of its submodules, which is the module's face rather than a use. This test reads the
//! source as text, so the rule outlives whoever wrote it: a violation names the file, the line
//! and the path.

use crate::paths::{files, references, resolve, File, Reference};
use std::collections::{BTreeMap, BTreeSet};

/// The crate's top-level modules, lowest first. A module may use the modules of its own tier
/// and of the tiers before it; within a tier, files must not form a cycle.
const ORDER: &[&[&str]] = &[
    &["error_code", "clock"],
    &["weights"],
    &["error"],
    &["gpu", "bands", "cost"],
    &["kernels"],
    &["cpu", "model"],
    &["api"],
    &["metrics", "latent_file"],
    &["web"],
];

fn tier(module: &str) -> Option<usize> {
    ORDER.iter().position(|t| t.contains(&module))
}

#[test]
fn layers_point_one_way_and_no_files_import_each_other() {
    let files = files();
    assert!(
        files.len() > 50,
        "found only {} files under src/",
        files.len()
    );
    let mut problems = vec![];
    let mut edges: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for file in &files {
        let top = &file.module[0];
        let Some(own_tier) = tier(top) else {
            problems.push(format!(
                "src/{}: module `{top}` has no place in ORDER",
                file.rel
            ));
            continue;
        };
        for Reference {
            line,
            path,
            reexport,
        } in references(file)
        {
            let shown = format!("crate::{}", path.join("::"));
            let Some(target) = resolve(&path) else {
                problems.push(format!(
                    "src/{}:{line}: `{shown}` goes through lib.rs; import it from the module that defines it",
                    file.rel
                ));
                continue;
            };
            let target_top = &path[0];
            match tier(target_top) {
                Some(t) if t > own_tier => problems.push(format!(
                    "src/{}:{line}: `{shown}`: `{top}` may not use `{target_top}`, which comes after it in the layer order",
                    file.rel
                )),
                None => problems.push(format!("src/{}:{line}: `{shown}`: `{target_top}` has no place in ORDER", file.rel)),
                _ => {}
            }
            if target != file.rel && !reexport && !is_ancestor(&target, &file.rel) {
                edges
                    .entry(file.rel.clone())
                    .or_default()
                    .entry(target)
                    .or_insert(line);
            }
        }
    }
    for cycle in cycles(&edges) {
        let shown: Vec<String> = cycle
            .windows(2)
            .map(|p| format!("src/{}:{} → src/{}", p[0], edges[&p[0]][&p[1]], p[1]))
            .collect();
        problems.push(format!(
            "files import each other in a circle: {}",
            shown.join(", ")
        ));
    }
    assert!(
        problems.is_empty(),
        "{} import problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Whether `module_file` is the file of a module that contains `file` (`gpu/recorder.rs` of
/// `gpu/recorder/deferred.rs`, `weights/mod.rs` of `weights/ckpt/zip.rs`): a file belongs to its
/// ancestors and may use their names, as they may use its own.
fn is_ancestor(module_file: &str, file: &str) -> bool {
    let folder = module_file
        .trim_end_matches("mod.rs")
        .trim_end_matches(".rs")
        .trim_end_matches('/');
    folder.is_empty() || file.starts_with(&format!("{folder}/"))
}

/// One cycle through each strongly connected group of files, as a closed list (first = last).
fn cycles(edges: &BTreeMap<String, BTreeMap<String, usize>>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = edges
        .keys()
        .chain(edges.values().flat_map(|m| m.keys()))
        .collect();
    let reach = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            for next in edges.get(&n).into_iter().flat_map(|m| m.keys()) {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let mut out = vec![];
    for n in nodes {
        if reported.contains(n) || !reach(n).contains(n) {
            continue;
        }
        // The shortest way back to `n`, by breadth-first search.
        let mut prev: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([n.clone()]);
        'search: while let Some(m) = queue.pop_front() {
            for next in edges.get(&m).into_iter().flat_map(|x| x.keys()) {
                if next == n {
                    prev.insert(format!("{next}#end"), m.clone());
                    break 'search;
                }
                if !prev.contains_key(next) {
                    prev.insert(next.clone(), m.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        let mut cycle = vec![n.clone()];
        let mut at = prev[&format!("{n}#end")].clone();
        while at != *n {
            cycle.push(at.clone());
            at = prev[&at].clone();
        }
        cycle.push(n.clone());
        cycle.reverse();
        reported.extend(cycle.iter().cloned());
        out.push(cycle);
    }
    out
}

/// The reader itself: a test that only ever passes proves nothing.
#[test]
fn the_reader_finds_paths_through_groups_super_and_child_modules() {
    let file = File {
        rel: "kernels/conv2d.rs".into(),
        module: vec!["kernels".into(), "conv2d".into()],
        text: "use crate::{Error, gpu::{Bind, Tensor}};\n// use crate::api::Vae;\nuse super::conv_form::PIXELS;\nlet s = \"crate::x\"; let k = crate::model::Ops::new();\n".into(),
    };
    let refs: Vec<(usize, String)> = references(&file)
        .into_iter()
        .map(|r| (r.line, r.path.join("::")))
        .collect();
    assert_eq!(
        refs,
        [
            (1, "Error".to_string()),
            (1, "gpu::Bind".into()),
            (1, "gpu::Tensor".into()),
            (3, "kernels::conv_form::PIXELS".into()),
            (4, "model::Ops::new".into()),
        ]
    );
    assert_eq!(
        resolve(&["gpu".into(), "Bind".into()]),
        Some("gpu/mod.rs".into())
    );
    assert_eq!(resolve(&["Error".into()]), None);
    let circle = BTreeMap::from([
        (
            "a.rs".to_string(),
            BTreeMap::from([("b.rs".to_string(), 1)]),
        ),
        (
            "b.rs".to_string(),
            BTreeMap::from([("a.rs".to_string(), 2)]),
        ),
    ]);
    assert!(is_ancestor("gpu/recorder.rs", "gpu/recorder/deferred.rs"));
    assert!(is_ancestor("weights/mod.rs", "weights/ckpt/zip.rs"));
    assert!(!is_ancestor("web/source.rs", "web/ranges.rs"));
    assert_eq!(
        cycles(&circle),
        [vec!["a.rs".to_string(), "b.rs".into(), "a.rs".into()]]
    );
}
