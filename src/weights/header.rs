//! The safetensors header: `u64` little-endian length, then that many bytes of JSON mapping each
//! tensor name to `{dtype, shape, data_offsets: [begin, end)}` (offsets relative to the data
//! that follows the header), plus an optional `__metadata__` entry.
//!
//! Entries are parsed with the `safetensors` crate's `TensorInfo`, one by one rather than as a
//! whole `Metadata`: `Metadata`'s own validation reports every layout fault as one generic
//! error, and these checks name the tensor and the kind of fault.
use safetensors::tensor::TensorInfo;
use safetensors::Dtype;

use super::error::MAX_HEADER_BYTES;
use super::WeightsError;

/// Size of the header-length field.
pub const LEN_BYTES: u64 = 8;

/// One tensor of the file, offsets relative to the start of the data.
#[derive(Clone, Debug)]
pub struct TensorEntry {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub start: u64,
    pub end: u64,
}

impl TensorEntry {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
}

/// A validated header: tensors sorted by offset, contiguous from 0.
#[derive(Clone, Debug)]
pub struct Header {
    /// JSON length in bytes (the value of the length field).
    pub json_len: u64,
    pub tensors: Vec<TensorEntry>,
}

impl Header {
    pub fn data_len(&self) -> u64 {
        self.tensors.last().map_or(0, |t| t.end)
    }
    /// Where the data starts in the file.
    pub fn data_offset(&self) -> u64 {
        LEN_BYTES + self.json_len
    }
    pub fn file_bytes(&self) -> u64 {
        self.data_offset() + self.data_len()
    }
}

/// Checks the header length field. A value of 4 GiB or more is no header length at all (a zip,
/// PNG or HTML file's first bytes read as one), so it is reported as "not safetensors".
pub fn check_len(len: u64) -> Result<(), WeightsError> {
    if len >= 1 << 32 {
        return Err(WeightsError::NotSafetensors(format!(
            "the first 8 bytes give a header length of {len} bytes"
        )));
    }
    if len > MAX_HEADER_BYTES {
        return Err(WeightsError::HeaderTooLarge {
            len,
            max: MAX_HEADER_BYTES,
        });
    }
    if len < 2 {
        return Err(WeightsError::NotSafetensors(format!(
            "header length {len} is too short for a JSON object"
        )));
    }
    Ok(())
}

/// Checks the header's first byte, as soon as it arrives: JSON objects start with `{`.
pub fn check_first_byte(byte: u8) -> Result<(), WeightsError> {
    if byte == b'{' {
        return Ok(());
    }
    Err(WeightsError::NotSafetensors(format!(
        "the header starts with byte 0x{byte:02x}, not '{{'"
    )))
}

/// Parses and validates the JSON header.
pub fn parse(json: &[u8]) -> Result<Header, WeightsError> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(json).map_err(|e| WeightsError::InvalidHeader(e.to_string()))?;
    let mut tensors = Vec::with_capacity(map.len());
    for (name, value) in map {
        if name == "__metadata__" {
            continue;
        }
        let info: TensorInfo = serde_json::from_value(value)
            .map_err(|e| WeightsError::InvalidHeader(format!("entry {name}: {e}")))?;
        let (start, end) = (info.data_offsets.0 as u64, info.data_offsets.1 as u64);
        let entry = TensorEntry {
            name,
            dtype: info.dtype,
            shape: info.shape,
            start,
            end,
        };
        check_entry(&entry)?;
        tensors.push(entry);
    }
    tensors.sort_by_key(|t| (t.start, t.end));
    check_layout(&tensors)?;
    Ok(Header {
        json_len: json.len() as u64,
        tensors,
    })
}

/// Offsets in order, byte length = element count × dtype size.
fn check_entry(t: &TensorEntry) -> Result<(), WeightsError> {
    if t.end < t.start {
        return Err(WeightsError::OffsetsOutOfRange {
            name: t.name.clone(),
            start: t.start,
            end: t.end,
        });
    }
    let too_large = || {
        WeightsError::InvalidHeader(format!(
            "tensor {}: shape {:?} is too large",
            t.name, t.shape
        ))
    };
    let bits = t
        .shape
        .iter()
        .try_fold(t.dtype.bitsize() as u64, |acc, &d| {
            acc.checked_mul(d as u64)
        })
        .ok_or_else(too_large)?;
    if bits % 8 != 0 || bits / 8 != t.len() {
        return Err(WeightsError::DataSize {
            name: t.name.clone(),
            dtype: t.dtype.to_string(),
            shape: t.shape.clone(),
            expected: bits.div_ceil(8),
            found: t.len(),
        });
    }
    Ok(())
}

/// Tensors sorted by offset must tile the data from 0 with no overlap and no gap.
fn check_layout(tensors: &[TensorEntry]) -> Result<(), WeightsError> {
    let mut prev: Option<&TensorEntry> = None;
    for t in tensors {
        let (after, prev_end) =
            prev.map_or(("the start of the data", 0), |p| (p.name.as_str(), p.end));
        if t.start < prev_end {
            return Err(WeightsError::Overlap {
                first: after.to_string(),
                second: t.name.clone(),
                start: t.start,
                first_end: prev_end,
            });
        }
        if t.start > prev_end {
            return Err(WeightsError::Gap {
                after: after.to_string(),
                name: t.name.clone(),
                bytes: t.start - prev_end,
            });
        }
        prev = Some(t);
    }
    Ok(())
}
