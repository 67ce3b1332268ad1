//! The fuzz targets' properties (codec/fuzz/fuzz_targets/props.rs) run on stable over a few thousand
//! pseudo-random inputs, so CI checks them without nightly or cargo-fuzz.

#[path = "../fuzz/fuzz_targets/props.rs"]
mod props;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

/// Bytes that matter to the parser, so random streams hit its cases often.
const PIECES: [&[u8]; 24] = [
    b"data",
    b"data:",
    b"data: ",
    b"id:",
    b"id: 7",
    b"event:",
    b"retry:",
    b"retry: 12",
    b":",
    b" ",
    b"\t",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"\0",
    b"\xEF\xBB\xBF",
    b"\xEF",
    b"\xF0\x9F",
    b"\x98\x80",
    b"\xFF",
    b"x",
    b"hello",
    b"9",
];

fn random_stream(rng: &mut Rng) -> Vec<u8> {
    let mut out = vec![rng.next() as u8, rng.next() as u8];
    let pattern = usize::from(out[1] % 8);
    out.extend((0..pattern).map(|_| rng.next() as u8));
    for _ in 0..rng.below(60) {
        if rng.below(8) == 0 {
            out.push(rng.next() as u8);
        } else {
            out.extend_from_slice(PIECES[rng.below(PIECES.len() as u64)]);
        }
    }
    out
}

#[test]
fn split_invariance_on_random_streams() {
    let mut rng = Rng(0x5EED_0001);
    for _ in 0..4000 {
        let input = random_stream(&mut rng);
        props::check_split_invariance(&input);
    }
}

#[test]
fn split_invariance_on_random_bytes() {
    let mut rng = Rng(0x5EED_0002);
    for _ in 0..2000 {
        let len = rng.below(200);
        let input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        props::check_split_invariance(&input);
    }
}

#[test]
fn encode_decode_roundtrip_on_random_frames() {
    let mut rng = Rng(0x5EED_0003);
    for _ in 0..3000 {
        let len = rng.below(300);
        let input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        props::check_roundtrip(&input);
    }
}

#[test]
fn roundtrip_covers_line_ends_in_data() {
    // Make sure the generator really produces data with CR, LF and CRLF (atoms 6, 7, 8) and empty data.
    let frames = props::frames_from_bytes(&[0, 3, 6, 7, 8, 0, 0]);
    assert_eq!(frames.len(), 2);
    props::check_roundtrip(&[0, 3, 6, 7, 8, 0, 0]);
}
