//! Every ```rust block of README.md is built: examples/readme.rs holds each one verbatim and scripts/test.sh builds it
//! for wasm32 with every feature. This host test checks that each block is there, line for line (leading and
//! trailing whitespace aside), so that the README cannot drift from what compiles.
#![cfg(not(target_arch = "wasm32"))]

#[path = "../codec/tests/support/markdown.rs"]
mod markdown;
use markdown::{contains, rust_blocks};

#[test]
fn every_rust_block_of_the_readme_is_in_the_readme_example() {
    let missing = markdown::blocks_missing_from(include_str!("../README.md"), include_str!("../examples/readme.rs"));
    assert!(
        missing.is_empty(),
        "these ```rust blocks of README.md are not in examples/readme.rs (copy them there, verbatim, so that they \
         are built):\n{}",
        missing.join("\n---\n")
    );
}

#[test]
fn a_changed_block_is_noticed() {
    let readme = "text\n```rust\nlet a = 1;\nlet b = 2;\n```\n```sh\nls\n```\n";
    assert_eq!(rust_blocks(readme), [vec!["let a = 1;", "let b = 2;"]]);
    assert!(contains("fn f() {\n    let a = 1;\n    let b = 2;\n}", &["let a = 1;", "let b = 2;"]));
    assert!(!contains("fn f() {\n    let a = 1;\n    let b = 3;\n}", &["let a = 1;", "let b = 2;"]));
    assert!(!contains("let b = 2;\nlet a = 1;", &["let a = 1;", "let b = 2;"]));
}
