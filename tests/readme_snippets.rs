//! Every ```rust block of README.md is built: examples/readme.rs holds each one verbatim and scripts/test.sh builds it
//! for wasm32 with every feature. This host test checks that each block is there, line for line (leading and
//! trailing whitespace aside), so that the README cannot drift from what compiles.
#![cfg(not(target_arch = "wasm32"))]

/// The lines of each block fenced with ```rust.
fn rust_blocks(markdown: &str) -> Vec<Vec<&str>> {
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

/// Whether `block` appears in `file` as consecutive lines, whitespace around each line aside.
fn contains(file: &str, block: &[&str]) -> bool {
    let lines: Vec<&str> = file.lines().map(str::trim).collect();
    lines.windows(block.len()).any(|window| window == block)
}

#[test]
fn every_rust_block_of_the_readme_is_in_the_readme_example() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/readme.rs");
    let blocks = rust_blocks(readme);
    assert!(!blocks.is_empty(), "no ```rust block found in README.md");
    for block in blocks {
        assert!(
            contains(example, &block),
            "this ```rust block of README.md is not in examples/readme.rs (copy it there, verbatim, so that it is \
             built):\n{}",
            block.join("\n")
        );
    }
}

#[test]
fn a_changed_block_is_noticed() {
    let readme = "text\n```rust\nlet a = 1;\nlet b = 2;\n```\n```sh\nls\n```\n";
    assert_eq!(rust_blocks(readme), [vec!["let a = 1;", "let b = 2;"]]);
    assert!(contains("fn f() {\n    let a = 1;\n    let b = 2;\n}", &["let a = 1;", "let b = 2;"]));
    assert!(!contains("fn f() {\n    let a = 1;\n    let b = 3;\n}", &["let a = 1;", "let b = 2;"]));
    assert!(!contains("let b = 2;\nlet a = 1;", &["let a = 1;", "let b = 2;"]));
}
