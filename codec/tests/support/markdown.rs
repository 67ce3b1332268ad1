//! The ```rust blocks of a README and whether a source file holds each of them: shared by the tests that keep a
//! README's snippets compiling (codec/tests/readme.rs, and the root crate's tests/readme_snippets.rs through a
//! `#[path]` module).
#![allow(dead_code)]

/// The lines of each block fenced with ```rust, each trimmed.
pub fn rust_blocks(markdown: &str) -> Vec<Vec<&str>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim()) {
            (None, "```rust") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => block.push(line.trim()),
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "a ```rust block of the README is not closed");
    blocks
}

/// Whether `block` appears in `source` as consecutive lines, whitespace around each line aside.
pub fn contains(source: &str, block: &[&str]) -> bool {
    let lines: Vec<&str> = source.lines().map(str::trim).collect();
    lines.windows(block.len()).any(|window| window == block)
}

/// The ```rust blocks of `markdown` (there must be one at least) that `source` does not hold, each as its text.
pub fn blocks_missing_from(markdown: &str, source: &str) -> Vec<String> {
    let blocks = rust_blocks(markdown);
    assert!(!blocks.is_empty(), "no ```rust block found in the README");
    blocks.into_iter().filter(|block| !contains(source, block)).map(|block| block.join("\n")).collect()
}
