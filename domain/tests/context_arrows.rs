//! The bounded contexts of `domain/src` use one another one way only: a
//! context may use the contexts below it in [`ORDER`] (kernel at the bottom),
//! never one above it. This reads the sources and names every path that
//! points the wrong way.

use std::path::{Path, PathBuf};

/// Bottom first: each context may use only those before it.
const ORDER: &[&str] = &[
    "kernel",
    "platform",
    "identity",
    "customers",
    "billing",
    "service_desk",
    "inventory",
    "integrations",
    "portal",
    "reports",
];

fn rank(context: &str) -> Option<usize> {
    ORDER.iter().position(|c| *c == context)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading domain/src") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The contexts a source file names through `crate::<context>` or inside a
/// `crate::{...}` group (over as many lines as it takes), with the line;
/// comments left out.
fn contexts_used(text: &str) -> Vec<(usize, String)> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let head = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut used = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => {
                        item_start = true;
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if item_start && !c.is_whitespace() {
                    item_start = false;
                    let name = head(&group[i..]);
                    if rank(&name).is_some() {
                        used.push((line_of(at), name));
                    }
                }
            }
        } else {
            let name = head(rest);
            if rank(&name).is_some() {
                used.push((line_of(at), name));
            }
        }
    }
    used
}

#[test]
fn contexts_use_only_the_contexts_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    let mut seen = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let Some(own) = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .and_then(rank)
        else {
            continue;
        };
        seen += 1;
        let text = std::fs::read_to_string(file).expect("reading a source");
        for (line, used) in contexts_used(&text) {
            if rank(&used).is_some_and(|r| r > own) {
                wrong.push(format!("{}:{line} uses {used}", rel.display()));
            }
        }
    }
    assert!(seen > 50, "read only {seen} files of the contexts");
    assert!(
        wrong.is_empty(),
        "paths that point up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_grouped_and_plain_paths() {
    let text = "use crate::billing::invoices;\nuse crate::{\n    Id, kernel::money,\n    reports::{x, y},\n};\n// crate::inventory\n";
    let used: Vec<String> = contexts_used(text).into_iter().map(|(_, c)| c).collect();
    assert_eq!(used, ["billing", "kernel", "reports"]);
}
