//! Rust source read as text, for checks on how the crate's files name each other: every file
//! under `src/` with its module path, the crate paths each names (through `crate::`, `super::` or
//! its own submodules, in `use` lines and in code alike), and the file that defines a path.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A source file: its path under `src/` and its module path (`["kernels", "conv2d"]`).
pub(crate) struct File {
    pub(crate) rel: String,
    pub(crate) module: Vec<String>,
    pub(crate) text: String,
}

pub(crate) fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

pub(crate) fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
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

pub(crate) fn files() -> Vec<File> {
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
pub(crate) fn resolve(path: &[String]) -> Option<String> {
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
pub(crate) fn code(line: &str) -> String {
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

pub(crate) fn ident_at(s: &[u8], mut i: usize) -> (String, usize) {
    let start = i;
    while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
        i += 1;
    }
    (String::from_utf8_lossy(&s[start..i]).into_owned(), i)
}

/// The paths a `use` tree or path expression names from byte `i` on (just after `crate::`):
/// `a::b::{C, d::E}` gives `[a, b, C]` and `[a, b, d, E]`.
pub(crate) fn paths_at(
    s: &[u8],
    i: usize,
    prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
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
pub(crate) struct Reference {
    pub(crate) line: usize,
    pub(crate) path: Vec<String>,
    /// In a `pub use` of the file's own submodules: the module's face, not a dependency of it.
    pub(crate) reexport: bool,
}

/// Every crate path a file names: `crate::…`, `super::…` made absolute, and the paths into the
/// file's own child modules (`use child::x` beside `mod child;`).
pub(crate) fn references(file: &File) -> Vec<Reference> {
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
