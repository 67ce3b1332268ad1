//! Removing the HTTP/1.1 chunked transfer coding, incrementally.

/// Removes the HTTP/1.1 chunked transfer coding, incrementally.
#[derive(Default)]
pub(crate) struct Dechunk {
    pub(crate) state: ChunkState,
    pub(crate) size: usize,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkState {
    #[default]
    Size,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Done,
}

impl Dechunk {
    /// Feeds `input`, calling `out` with the payload pieces; false once the last chunk has been read.
    pub(crate) fn feed(&mut self, mut input: &[u8], out: &mut impl FnMut(&[u8])) -> bool {
        use ChunkState::*;
        while !input.is_empty() {
            match self.state {
                Done => return false,
                Data => {
                    let n = self.size.min(input.len());
                    out(&input[..n]);
                    self.size -= n;
                    input = &input[n..];
                    if self.size == 0 {
                        self.state = DataCr;
                    }
                    continue;
                }
                _ => {}
            }
            let b = input[0];
            input = &input[1..];
            self.state = match (self.state, b) {
                (Size, b'0'..=b'9') => {
                    self.size = self.size * 16 + usize::from(b - b'0');
                    Size
                }
                (Size, b'a'..=b'f') => {
                    self.size = self.size * 16 + usize::from(b - b'a' + 10);
                    Size
                }
                (Size, b'A'..=b'F') => {
                    self.size = self.size * 16 + usize::from(b - b'A' + 10);
                    Size
                }
                (Size | Ext, b'\r') => SizeLf,
                (Size | Ext | SizeLf, b'\n') => {
                    if self.size == 0 {
                        Done
                    } else {
                        Data
                    }
                }
                (Size | Ext, _) => Ext,
                (DataCr, b'\r') => DataLf,
                (DataCr | DataLf, b'\n') => {
                    self.size = 0;
                    Size
                }
                (s, _) => s,
            };
        }
        self.state != Done
    }
}
