//! Push-based reader of PyTorch checkpoints (`.ckpt`, `.pt`, `.pth`) in both `torch.save`
//! formats, front to back, without running any pickle code:
//!
//! - **zip** (torch ≥ 1.6): `<dir>/data.pkl`, small records, then `<dir>/data/<key>` per storage;
//! - **legacy**: five pickles (magic, protocol, sys_info, the object, its storage keys), then
//!   each storage as an 8-byte element count and its bytes.
//!
//! The pickle gives the tensors (see [`plan`]); they are reported to [`ReadEvents`] as a
//! safetensors-like [`Header`], then each wanted tensor as soon as its storage's last byte has
//! arrived. Storages nobody wants are skipped as they stream past, never buffered: a full model
//! checkpoint costs the memory of its largest VAE tensor, not of its UNet.
mod content;
mod pickle;
mod plan;
mod step;
mod zip;

use super::header::Header;
use super::reader::ReadEvents;
use super::WeightsError;
use plan::Plan;

/// Largest pickle accepted (a full SDXL checkpoint's `data.pkl` is under 1 MiB).
pub const MAX_PICKLE_BYTES: usize = 64 << 20;
/// Largest small zip record (`version`, `byteorder`, …) accepted.
const MAX_RECORD_BYTES: usize = 1 << 20;

/// Which `torch.save` format a stream's first bytes announce, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Zip,
    Legacy,
}

/// Bytes needed to tell the format.
pub const SNIFF_BYTES: usize = 4;

/// The format of a stream starting with `first` (at least [`SNIFF_BYTES`] bytes).
pub fn sniff(first: &[u8]) -> Option<Format> {
    match first.get(..4)? {
        b"PK\x03\x04" => Some(Format::Zip),
        // PROTO 2, LONG1 of 10 bytes: the legacy magic number.
        [0x80, 0x02, 0x8a, 0x0a] => Some(Format::Legacy),
        _ => None,
    }
}

enum State {
    /// Buffering a zip local header.
    Local,
    /// Buffering a pickle until its STOP (zip: `data.pkl`; legacy: pickle number `legacy`).
    Pickle { next_try: usize },
    /// Buffering a small zip record until its data descriptor.
    Record { name: String },
    /// Buffering a data descriptor after an entry of `size` bytes.
    Descriptor {
        name: String,
        size: u64,
        zip64: bool,
    },
    /// Streaming an entry's bytes: storage `key` (if any) or bytes to skip.
    Data {
        name: String,
        key: Option<String>,
        left: u64,
        size: u64,
        after: After,
    },
    /// Buffering a legacy storage's 8-byte element count.
    Count { index: usize },
    /// The zip's central directory: read past, not used.
    Tail,
    /// A legacy file's last storage is done.
    Done,
}

/// What follows an entry's data.
#[derive(Clone, Copy)]
enum After {
    Local,
    Descriptor { zip64: bool },
    Count { index: usize },
}

enum Step {
    /// Took this many bytes of the input.
    Took(usize),
    /// Took `took` bytes of the input into a buffer and gives back the part of the buffer it
    /// did not use: that is read next, then the input's untaken rest.
    Replace { took: usize, unused: Vec<u8> },
}

pub struct CkptReader {
    format: Format,
    state: State,
    /// Bytes of a buffered state.
    pending: Vec<u8>,
    /// Bytes read so far.
    pos: u64,
    legacy: usize,
    legacy_keys: Vec<String>,
    plan: Option<Plan>,
    /// Bytes so far of a wanted storage that straddles chunks.
    partial: Vec<u8>,
    scratch: Vec<u8>,
    /// Wanted tensors handed on, of how many.
    emitted: usize,
    wanted: usize,
    peak_buffered: usize,
    skipped: u64,
    /// Zip: the `data.pkl` entry's name and what follows its data.
    pickle_entry: Option<(String, After)>,
}

impl CkptReader {
    pub fn new(format: Format) -> Self {
        CkptReader {
            format,
            state: match format {
                Format::Zip => State::Local,
                Format::Legacy => State::Pickle { next_try: 0 },
            },
            pending: Vec::new(),
            pos: 0,
            legacy: 0,
            legacy_keys: Vec::new(),
            plan: None,
            partial: Vec::new(),
            scratch: Vec::new(),
            emitted: 0,
            wanted: 0,
            peak_buffered: 0,
            skipped: 0,
            pickle_entry: None,
        }
    }

    pub fn header(&self) -> Option<&Header> {
        self.plan.as_ref().map(|p| &p.header)
    }

    /// Most bytes held at once for a wanted storage that straddled chunks.
    pub fn peak_buffered_bytes(&self) -> usize {
        self.peak_buffered
    }

    /// Bytes of storages and records passed over without being kept.
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped
    }

    /// The offsets of the next byte to read and of the end of the storage or record being read
    /// past, while one is (nobody wants its bytes).
    pub fn skippable(&self) -> Option<(u64, u64)> {
        let State::Data { key, left, .. } = &self.state else {
            return None;
        };
        let plan = self.plan.as_ref();
        let wanted = (key.as_ref())
            .and_then(|k| plan?.storages.get(k))
            .is_some_and(|s| !s.views.is_empty());
        (!wanted && self.partial.is_empty()).then_some((self.pos, self.pos + left))
    }

    /// Moves `n` bytes ahead without reading them, within what [`skippable`](Self::skippable)
    /// allows.
    pub fn skip(&mut self, n: u64) -> Result<(), WeightsError> {
        match self.skippable() {
            Some((pos, end)) if pos + n <= end => {}
            _ => {
                return Err(WeightsError::Checkpoint(format!(
                    "cannot skip {n} bytes at byte {}",
                    self.pos
                )))
            }
        }
        if let State::Data { left, .. } = &mut self.state {
            *left -= n;
        }
        self.pos += n;
        self.skipped += n;
        Ok(())
    }

    pub fn push<E: ReadEvents>(&mut self, chunk: &[u8], events: &mut E) -> Result<(), E::Error> {
        let mut owned: Option<Vec<u8>> = None;
        let mut off = 0;
        loop {
            let data = match &owned {
                Some(v) => v.get(off..).unwrap_or(&[]),
                None => chunk.get(off..).unwrap_or(&[]),
            };
            if data.is_empty() {
                return Ok(());
            }
            match self.step(data, events)? {
                Step::Took(n) => off += n,
                Step::Replace { took, mut unused } => {
                    unused.extend_from_slice(data.get(took..).unwrap_or(&[]));
                    owned = Some(unused);
                    off = 0;
                }
            }
        }
    }

    /// Checks the stream ended where a checkpoint may end, every wanted tensor delivered.
    pub fn finish<E: ReadEvents>(&mut self, events: &mut E) -> Result<(), E::Error> {
        // A pickle waits for more bytes before retrying; the stream's end is the last chance.
        if let State::Pickle { next_try } = &mut self.state {
            *next_try = 0;
            let rest = std::mem::take(&mut self.pending);
            self.pos -= rest.len() as u64;
            self.push(&rest, events)?;
        }
        // An empty storage is complete without any byte arriving.
        if matches!(self.state, State::Data { left: 0, .. }) {
            self.data(&[], events)?;
        }
        let truncated = |what: String, at: u64| WeightsError::Truncated {
            what,
            expected: at + 1,
            got: at,
        };
        let what = match &self.state {
            State::Tail | State::Done => None,
            State::Local if self.format == Format::Zip && self.pending.is_empty() => {
                (self.plan.is_none()).then(|| "zip archive ended before data.pkl".to_string())
            }
            State::Local => Some("file ended inside a zip entry header".into()),
            State::Pickle { .. } => Some("file ended inside the checkpoint's pickle".into()),
            State::Record { name } => Some(format!("file ended inside zip entry {name}")),
            State::Descriptor { name, .. } => Some(format!("file ended after zip entry {name}")),
            State::Data { name, .. } => Some(format!("file ended inside {name}")),
            State::Count { index } => Some(format!("file ended before storage {index}'s size")),
        };
        if let Some(what) = what {
            return Err(truncated(what, self.pos).into());
        }
        if self.emitted < self.wanted {
            let missing = self.first_missing().unwrap_or_default();
            return Err(WeightsError::Checkpoint(format!(
                "the file ended without the data of tensor {missing}"
            ))
            .into());
        }
        Ok(())
    }

    fn first_missing(&self) -> Option<String> {
        let plan = self.plan.as_ref()?;
        let s = plan.storages.values().find(|s| !s.views.is_empty())?;
        Some(plan.header.tensors.get(*s.views.first()?)?.name.clone())
    }
}
