//! Push-based streaming safetensors reader.
//!
//! Chunks of any size go in; the header is validated as soon as its last byte arrives and each
//! tensor is handed on as soon as its own last byte arrives. Only a tensor that straddles chunk
//! boundaries is copied (into one buffer, reused, sized to the largest such tensor); a tensor
//! lying whole inside a chunk is passed as a slice of it, and tensors nobody wants are skipped.
use super::header::{self, Header, TensorEntry, LEN_BYTES};
use super::WeightsError;

/// What the reader reports to.
pub trait ReadEvents {
    type Error: From<WeightsError>;
    /// The validated header; returns, per tensor of `header.tensors`, whether it is wanted.
    fn header(&mut self, header: &Header) -> Result<Vec<bool>, Self::Error>;
    /// All bytes of wanted tensor `header.tensors[index]`.
    fn tensor(
        &mut self,
        index: usize,
        entry: &TensorEntry,
        bytes: &[u8],
    ) -> Result<(), Self::Error>;
}

enum Stage {
    /// Collecting the 8-byte header length.
    Len {
        buf: [u8; 8],
        got: usize,
    },
    /// Collecting `len` bytes of JSON.
    Json {
        buf: Vec<u8>,
        len: usize,
    },
    Data(Data),
}

struct Data {
    header: Header,
    wanted: Vec<bool>,
    /// Data bytes consumed so far.
    pos: u64,
    /// Index of the tensor `pos` lies in (or `tensors.len()` at the end).
    next: usize,
    /// Bytes so far of a wanted tensor that straddles chunks.
    partial: Vec<u8>,
}

pub struct StreamReader {
    stage: Stage,
    peak_buffered: usize,
}

impl Default for StreamReader {
    fn default() -> Self {
        StreamReader {
            stage: Stage::Len {
                buf: [0; 8],
                got: 0,
            },
            peak_buffered: 0,
        }
    }
}

impl StreamReader {
    /// The validated header, once it has arrived.
    pub fn header(&self) -> Option<&Header> {
        match &self.stage {
            Stage::Data(d) => Some(&d.header),
            _ => None,
        }
    }

    /// Most bytes held at once for tensors straddling chunks (the header's JSON not counted).
    pub fn peak_buffered_bytes(&self) -> usize {
        self.peak_buffered
    }

    pub fn push<E: ReadEvents>(
        &mut self,
        mut chunk: &[u8],
        events: &mut E,
    ) -> Result<(), E::Error> {
        while !chunk.is_empty() {
            match &mut self.stage {
                Stage::Len { buf, got } => {
                    let take = (buf.len() - *got).min(chunk.len());
                    buf[*got..*got + take].copy_from_slice(&chunk[..take]);
                    *got += take;
                    chunk = &chunk[take..];
                    if *got == buf.len() {
                        let len = u64::from_le_bytes(*buf);
                        header::check_len(len)?;
                        // check_len bounds len to 100 MiB, so it fits a usize on every target.
                        let len = len as usize;
                        // The buffer grows as bytes arrive, not to what a bogus length claims.
                        let buf = Vec::with_capacity(len.min(1 << 20));
                        self.stage = Stage::Json { buf, len };
                    }
                }
                Stage::Json { buf, len } => {
                    if buf.is_empty() {
                        header::check_first_byte(chunk[0])?;
                    }
                    let take = (*len - buf.len()).min(chunk.len());
                    buf.extend_from_slice(&chunk[..take]);
                    chunk = &chunk[take..];
                    if buf.len() == *len {
                        let header = header::parse(buf)?;
                        let wanted = events.header(&header)?;
                        self.stage = Stage::Data(Data {
                            header,
                            wanted,
                            pos: 0,
                            next: 0,
                            partial: Vec::new(),
                        });
                        if let Stage::Data(d) = &mut self.stage {
                            d.emit_empty(events)?;
                        }
                    }
                }
                Stage::Data(d) => {
                    d.push(chunk, events, &mut self.peak_buffered)?;
                    chunk = &[];
                }
            }
        }
        Ok(())
    }

    /// The file offsets of the next byte to read and of the next byte anyone wants, when bytes
    /// between them may be skipped (in the data, past the header, no tensor half-read).
    pub fn skippable(&self) -> Option<(u64, u64)> {
        let Stage::Data(d) = &self.stage else {
            return None;
        };
        if !d.partial.is_empty() {
            return None;
        }
        let next_wanted = (d.header.tensors.iter().enumerate().skip(d.next))
            .find(|(i, _)| d.wanted.get(*i).copied().unwrap_or(false))
            .map_or(d.header.data_len(), |(_, t)| t.start);
        let base = d.header.data_offset();
        Some((base + d.pos, base + next_wanted.max(d.pos)))
    }

    /// Moves `n` bytes ahead without reading them; they must lie before the next wanted byte.
    pub fn skip(&mut self, n: u64) -> Result<(), WeightsError> {
        let Some((pos, next)) = self.skippable() else {
            return Err(WeightsError::InvalidHeader(
                "cannot skip before the header or inside a tensor".into(),
            ));
        };
        if pos + n > next {
            return Err(WeightsError::InvalidHeader(format!(
                "cannot skip {n} bytes from byte {pos}: byte {next} is wanted"
            )));
        }
        if let Stage::Data(d) = &mut self.stage {
            d.pos += n;
            // Past every tensor that ends before the new position; an empty one right at it is
            // left to the next push only if it is wanted.
            while let Some(t) = d.header.tensors.get(d.next) {
                let wanted = d.wanted.get(d.next).copied().unwrap_or(false);
                if t.end < d.pos || (t.end == d.pos && (t.len() > 0 || !wanted)) {
                    d.next += 1;
                } else {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Checks that the stream ended exactly after the last tensor.
    pub fn finish(&self) -> Result<(), WeightsError> {
        match &self.stage {
            Stage::Len { got, .. } => Err(WeightsError::Truncated {
                what: "file ended inside the 8-byte header length".into(),
                expected: LEN_BYTES,
                got: *got as u64,
            }),
            Stage::Json { buf, len } => Err(WeightsError::Truncated {
                what: "file ended inside the header".into(),
                expected: LEN_BYTES + *len as u64,
                got: LEN_BYTES + buf.len() as u64,
            }),
            Stage::Data(d) => match d.header.tensors.get(d.next) {
                None => Ok(()),
                Some(t) => Err(WeightsError::Truncated {
                    what: format!("file ended inside tensor {}", t.name),
                    expected: d.header.file_bytes(),
                    got: d.header.data_offset() + d.pos,
                }),
            },
        }
    }
}

impl Data {
    /// Consumes a chunk of data bytes.
    fn push<E: ReadEvents>(
        &mut self,
        mut chunk: &[u8],
        events: &mut E,
        peak: &mut usize,
    ) -> Result<(), E::Error> {
        while !chunk.is_empty() {
            let Some(t) = self.header.tensors.get(self.next) else {
                return Err(WeightsError::TrailingBytes {
                    extra: chunk.len() as u64,
                    file_bytes: self.header.file_bytes(),
                }
                .into());
            };
            // emit_empty leaves `next` on a tensor with bytes still to come, so take ≥ 1.
            let take = (t.end - self.pos).min(chunk.len() as u64) as usize;
            let (part, rest) = chunk.split_at(take);
            chunk = rest;
            self.pos += take as u64;
            let complete = self.pos == t.end;
            if self.wanted.get(self.next).copied().unwrap_or(false) {
                if complete && self.partial.is_empty() {
                    events.tensor(self.next, t, part)?;
                } else {
                    if self.partial.is_empty() {
                        self.partial.reserve_exact(t.len() as usize);
                    }
                    self.partial.extend_from_slice(part);
                    *peak = (*peak).max(self.partial.capacity());
                    if complete {
                        events.tensor(self.next, t, &self.partial)?;
                        self.partial.clear();
                    }
                }
            }
            if complete {
                self.next += 1;
                self.emit_empty(events)?;
            }
        }
        Ok(())
    }

    /// Hands on zero-byte tensors at the current position, which no chunk will complete.
    fn emit_empty<E: ReadEvents>(&mut self, events: &mut E) -> Result<(), E::Error> {
        while let Some(t) = self.header.tensors.get(self.next) {
            if t.len() != 0 {
                break;
            }
            if self.wanted.get(self.next).copied().unwrap_or(false) {
                events.tensor(self.next, t, &[])?;
            }
            self.next += 1;
        }
        Ok(())
    }
}
