//! The crate's layers point one way. Every file under `src/` (but `lib.rs`, the façade for users,
//! and `bin/`, which uses the library as users do) names other code only in its own tier of
//! [`ORDER`] or below, through a module of the crate (never through `lib.rs`'s re-exports), and
//! no files import each other in a circle — apart from a file and the modules it belongs to (a
//! submodule may use its parent's names, as the parent uses its own submodules), and a parent's
//! `pub use` of its submodules, which is the module's face rather than a use. This test reads the
//! source as text, so the rule outlives whoever wrote it: a violation names the file, the line
//! and the path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

/// A source file: its path under `src/` and its module path (`["kernels", "conv2d"]`).
struct File {
    rel: String,
    module: Vec<String>,
    text: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn files() -> Vec<File> {
    let src = src_dir();
    let mut paths = vec![];
    walk(&src, &mut paths);
    paths
        .into_iter()
        .filter_map(|path| {
            let rel = path
                .strip_prefix(&src)
                .ok()?
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "lib.rs" || rel.starts_with("bin/") {
                return None;
            }
            let mut module: Vec<String> = rel
                .trim_end_matches(".rs")
                .split('/')
                .map(String::from)
                .collect();
            if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).expect("source file");
            Some(File { rel, module, text })
        })
        .collect()
}

/// The file of the deepest module `path` names (`gpu::Bind` → `gpu/mod.rs`); `None` where its
/// first segment is no module of the crate (a name re-exported by `lib.rs`).
fn resolve(path: &[String]) -> Option<String> {
    let src = src_dir();
    let mut dir = src.clone();
    let mut found = None;
    for seg in path {
        let as_dir = dir.join(seg);
        let as_file = dir.join(format!("{seg}.rs"));
        let file = if as_dir.join("mod.rs").is_file() {
            as_dir.join("mod.rs")
        } else if as_file.is_file() {
            as_file
        } else {
            break;
        };
        found = Some(
            file.strip_prefix(&src)
                .ok()?
                .to_string_lossy()
                .replace('\\', "/"),
        );
        dir = as_dir;
    }
    found
}

/// The code of a line: `//` comments dropped, string literals' contents blanked.
fn code(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let (mut in_str, mut escaped) = (false, false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_str {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => {
                    in_str = false;
                    out.push('"');
                    continue;
                }
                _ => escaped = false,
            }
            out.push(' ');
        } else if c == '/' && chars.peek() == Some(&'/') {
            break;
        } else {
            in_str = c == '"';
            out.push(c);
        }
    }
    out
}

fn ident_at(s: &[u8], mut i: usize) -> (String, usize) {
    let start = i;
    while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
        i += 1;
    }
    (String::from_utf8_lossy(&s[start..i]).into_owned(), i)
}

/// The paths a `use` tree or path expression names from byte `i` on (just after `crate::`):
/// `a::b::{C, d::E}` gives `[a, b, C]` and `[a, b, d, E]`.
fn paths_at(s: &[u8], i: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix;
    let mut i = i;
    loop {
        while i < s.len() && s[i] == b' ' {
            i += 1;
        }
        if i < s.len() && s[i] == b'{' {
            i += 1;
            loop {
                i = paths_at(s, i, path.clone(), out);
                while i < s.len() && (s[i] == b' ' || s[i] == b',') {
                    i += 1;
                }
                if i >= s.len() || s[i] == b'}' {
                    return i + 1;
                }
            }
        }
        let (name, next) = ident_at(s, i);
        if name.is_empty() {
            if !path.is_empty() {
                out.push(path);
            }
            return i;
        }
        path.push(name);
        i = next;
        if s[i..].starts_with(b"::") {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

/// A crate path a file names.
struct Reference {
    line: usize,
    path: Vec<String>,
    /// In a `pub use` of the file's own submodules: the module's face, not a dependency of it.
    reexport: bool,
}

/// Every crate path a file names: `crate::…`, `super::…` made absolute, and the paths into the
/// file's own child modules (`use child::x` beside `mod child;`).
fn references(file: &File) -> Vec<Reference> {
    let own = file.module.clone();
    let parent = |levels: usize| -> Option<Vec<String>> {
        let m = &own;
        (levels <= m.len()).then(|| m[..m.len() - levels].to_vec())
    };
    let children: BTreeSet<String> = file
        .text
        .lines()
        .filter_map(|l| {
            let l = code(l);
            let l = l.trim();
            let l = l
                .strip_prefix("pub ")
                .or(l.strip_prefix("pub(crate) "))
                .unwrap_or(l);
            l.strip_prefix("mod ")?.strip_suffix(';').map(String::from)
        })
        .collect();
    // Statements may span lines: join each file into one string, remembering line starts.
    let mut joined = String::new();
    let mut line_of = vec![];
    for (n, line) in file.text.lines().enumerate() {
        let c = code(line);
        joined.push_str(&c);
        joined.push(' ');
        line_of.extend(std::iter::repeat_n(n + 1, c.len() + 1));
    }
    let s = joined.as_bytes();
    // Where `pub use` statements stand, as byte ranges.
    let mut pub_uses = vec![];
    for prefix in ["pub use ", "pub(crate) use "] {
        for (at, _) in joined.match_indices(prefix) {
            let end = joined[at..].find(';').map_or(joined.len(), |e| at + e);
            pub_uses.push(at..end);
        }
    }
    let boundary = |i: usize| {
        i == 0 || !(s[i - 1].is_ascii_alphanumeric() || s[i - 1] == b'_' || s[i - 1] == b':')
    };
    let mut out = vec![];
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let mut found: Option<(Vec<String>, usize)> = None;
        if boundary(i) && rest.starts_with(b"crate::") {
            found = Some((vec![], i + 7));
        } else if boundary(i) && rest.starts_with(b"super::") {
            let mut levels = 0;
            let mut j = i;
            while s[j..].starts_with(b"super::") {
                levels += 1;
                j += 7;
            }
            if let Some(base) = parent(levels) {
                found = Some((base, j));
            }
        } else if boundary(i) && (rest.starts_with(b"use ") || rest.starts_with(b"pub use ")) {
            let j = i + if rest.starts_with(b"use ") { 4 } else { 8 };
            let (name, k) = ident_at(s, j);
            if children.contains(&name) && s[k..].starts_with(b"::") {
                let mut base = own.clone();
                base.push(name);
                found = Some((base, k + 2));
            }
        }
        match found {
            Some((base, j)) => {
                let mut paths = vec![];
                let end = paths_at(s, j, base, &mut paths);
                let in_pub_use = pub_uses.iter().any(|r| r.contains(&i));
                for path in paths {
                    let reexport = in_pub_use && path.len() > own.len() && path.starts_with(&own);
                    out.push(Reference {
                        line: line_of[i],
                        path,
                        reexport,
                    });
                }
                i = end.max(i + 1);
            }
            None => i += 1,
        }
    }
    out
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
