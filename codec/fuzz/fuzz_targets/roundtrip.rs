//! Frames built from arbitrary bytes, encoded with `encode_into` (plus heartbeat comments) and decoded in
//! arbitrary chunks, come back as the same events (see `props::check_roundtrip`).
#![no_main]

mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    props::check_roundtrip(data);
});
