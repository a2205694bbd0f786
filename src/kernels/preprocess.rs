//! The one way a shader source is specialised: `#if NAME` / `#if !NAME` / `#else` / `#endif`
//! lines keep or drop the lines between them by which names are defined, and `{{SLOT}}` marks
//! are replaced by text the caller composes (the convolution's unrolled loops). Directives may
//! be indented and nest; everything else passes through unchanged.

/// `src` with its `#if` blocks resolved for `defines` and each `{{name}}` of `slots` replaced.
/// A directive out of place, or a slot left unfilled, is a bug in the source: it panics with the
/// line, which the shader tests catch for every form.
pub fn preprocess(src: &str, defines: &[&str], slots: &[(&str, &str)]) -> String {
    // For each open `#if`: whether its current branch is kept, and whether the enclosing one is.
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut out = String::with_capacity(src.len());
    for (n, line) in src.lines().enumerate() {
        let directive = line.trim_start();
        let outer = stack.last().is_none_or(|&(keep, outer)| keep && outer);
        if let Some(cond) = directive.strip_prefix("#if ") {
            let cond = cond.trim();
            let (negate, name) = match cond.strip_prefix('!') {
                Some(name) => (true, name),
                None => (false, cond),
            };
            stack.push((defines.contains(&name) != negate, outer));
        } else if directive == "#else" {
            let top = stack.last_mut();
            let top = top.unwrap_or_else(|| panic!("line {}: #else without #if", n + 1));
            top.0 = !top.0;
        } else if directive == "#endif" {
            stack
                .pop()
                .unwrap_or_else(|| panic!("line {}: #endif without #if", n + 1));
        } else if outer && stack.last().is_none_or(|t| t.0) {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(stack.is_empty(), "#if without #endif");
    for (name, text) in slots {
        out = out.replace(&format!("{{{{{name}}}}}"), text);
    }
    if let Some(at) = out.find("{{") {
        panic!("unfilled slot {}", &out[at..out.len().min(at + 40)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::preprocess;

    #[test]
    fn branches_nest_and_slots_fill() {
        let src = "a\n#if X\n  #if !Y\nxy\n  #else\nnot\n  #endif\n#else\nno x\n#endif\n{{S}}\n";
        assert_eq!(preprocess(src, &["X"], &[("S", "s")]), "a\nxy\ns\n");
        assert_eq!(preprocess(src, &["X", "Y"], &[("S", "")]), "a\nnot\n\n");
        assert_eq!(preprocess(src, &[], &[("S", "t")]), "a\nno x\nt\n");
    }

    #[test]
    #[should_panic(expected = "unfilled slot")]
    fn an_unfilled_slot_is_a_bug() {
        preprocess("{{S}}", &[], &[]);
    }
}
