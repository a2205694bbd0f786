//! The parts of the zip format a streamed `torch.save` archive needs: local file headers and
//! data descriptors, read front to back. `torch.save` writes every entry uncompressed with a
//! data descriptor (flag bit 3) and sizes of 0 in the local header, so an entry's size comes
//! from elsewhere: `data.pkl` ends at its `STOP` opcode, a storage's size is what the pickle
//! says, and the few small records (`byteorder`, `version`, …) end at their descriptor.
use crate::weights::WeightsError;

pub const LOCAL: [u8; 4] = *b"PK\x03\x04";
pub const CENTRAL: [u8; 4] = *b"PK\x01\x02";
pub const END: [u8; 4] = *b"PK\x05\x06";
pub const END64: [u8; 4] = *b"PK\x06\x06";
pub const DESCRIPTOR: [u8; 4] = *b"PK\x07\x08";
/// Fixed part of a local file header.
pub const LOCAL_BYTES: usize = 30;

/// A local file header.
#[derive(Debug)]
pub struct Local {
    pub name: String,
    /// 0: stored; 8: deflated.
    pub method: u16,
    /// The entry's size where the header gives it (no data descriptor, or zip64 sizes).
    pub size: Option<u64>,
    /// A data descriptor follows the data.
    pub descriptor: bool,
    /// The descriptor's sizes are 8 bytes each.
    pub zip64: bool,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    (b.get(at..at + 8).and_then(|s| s.try_into().ok())).map_or(0, u64::from_le_bytes)
}

/// Bytes the whole local header takes, given its fixed part.
pub fn local_len(fixed: &[u8]) -> usize {
    LOCAL_BYTES + u16_at(fixed, 26) as usize + u16_at(fixed, 28) as usize
}

/// Parses a whole local header (`local_len` bytes, signature checked by the caller).
pub fn local(b: &[u8]) -> Result<Local, WeightsError> {
    let flags = u16_at(b, 6);
    let method = u16_at(b, 8);
    let compressed = u32_at(b, 18);
    let name_len = u16_at(b, 26) as usize;
    let extra_len = u16_at(b, 28) as usize;
    let name_bytes = b.get(LOCAL_BYTES..LOCAL_BYTES + name_len).unwrap_or(&[]);
    let name = String::from_utf8_lossy(name_bytes).into_owned();
    if flags & 1 != 0 {
        return Err(WeightsError::Checkpoint(format!(
            "zip entry {name} is encrypted"
        )));
    }
    let extra = (b.get(LOCAL_BYTES + name_len..LOCAL_BYTES + name_len + extra_len)).unwrap_or(&[]);
    let zip64_size = zip64_extra(extra);
    let descriptor = flags & 8 != 0;
    let size = match (compressed, zip64_size) {
        (0xFFFF_FFFF, Some(n)) => Some(n),
        (0xFFFF_FFFF, None) => None,
        (0, _) if descriptor => None,
        (n, _) => Some(n.into()),
    };
    Ok(Local {
        name,
        method,
        size,
        descriptor,
        zip64: zip64_size.is_some(),
    })
}

/// The compressed size in a zip64 extra field (id 1: uncompressed size, then compressed size).
fn zip64_extra(mut extra: &[u8]) -> Option<u64> {
    while extra.len() >= 4 {
        let id = u16_at(extra, 0);
        let len = u16_at(extra, 2) as usize;
        let body = extra.get(4..4 + len)?;
        if id == 1 {
            return match body.len() {
                n if n >= 16 => Some(u64_at(body, 8)),
                n if n >= 8 => Some(u64_at(body, 0)),
                _ => None,
            };
        }
        extra = &extra[(4 + len).min(extra.len())..];
    }
    None
}

/// Bytes a data descriptor takes, given its first 4 bytes.
pub fn descriptor_len(first: &[u8], zip64: bool) -> usize {
    let sizes = if zip64 { 16 } else { 8 };
    let sig = if first.starts_with(&DESCRIPTOR) { 4 } else { 0 };
    sig + 4 + sizes
}

/// The compressed size a whole data descriptor records.
pub fn descriptor_size(b: &[u8], zip64: bool) -> u64 {
    let at = if b.starts_with(&DESCRIPTOR) { 8 } else { 4 };
    match zip64 {
        true => u64_at(b, at),
        false => u32_at(b, at).into(),
    }
}

/// Finds an entry of unknown size in `b` (its data, then a descriptor with signature whose size
/// field equals the data's length): returns the data's length and the descriptor's.
pub fn find_descriptor(b: &[u8]) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(p) = (b.get(from..)?.windows(4)).position(|w| w == DESCRIPTOR) {
        let at = from + p;
        if b.len() >= at + 16 && u32_at(b, at + 8) as usize == at {
            return Some((at, 16));
        }
        if b.len() >= at + 24 && u64_at(b, at + 8) == at as u64 {
            return Some((at, 24));
        }
        if b.len() < at + 24 {
            // Not enough bytes yet to tell whether this is the descriptor.
            return None;
        }
        from = at + 1;
    }
    None
}
