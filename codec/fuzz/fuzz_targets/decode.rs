//! Arbitrary bytes, split at arbitrary points: the decoder never panics and gives the same outcome as when fed
//! whole (see `props::check_split_invariance`).
#![no_main]

mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    props::check_split_invariance(data);
});
