//! Host memory for the activations an out-of-core run moves off the GPU: plain vectors natively,
//! JS `ArrayBuffer`s in the browser, so that neither wasm32's 4 GiB nor wasm memory growth caps
//! what a call may hold there. Values move in chunks of at most [`CHUNK`] bytes, so the copies
//! through wasm memory stay small too.

use std::collections::HashMap;

/// Most bytes moved between the GPU and the host at once.
pub const CHUNK: u64 = 8 << 20;

/// The staging buffer of a run whose requests are `sizes` bytes: a chunk, or the largest.
pub fn staging_bytes(sizes: &[u64]) -> u64 {
    sizes.iter().copied().max().unwrap_or(0).clamp(4, CHUNK)
}

#[cfg(not(target_arch = "wasm32"))]
type Block = Vec<u8>;
#[cfg(target_arch = "wasm32")]
type Block = js_sys::Uint8Array;

/// Host copies of plan requests, by request.
#[derive(Default)]
pub struct HostStore {
    blocks: HashMap<usize, Block>,
}

impl HostStore {
    /// Writes `bytes` at `offset` of request `req`'s copy, made `size` bytes long if new.
    pub fn put(&mut self, req: usize, size: u64, offset: u64, bytes: &[u8]) {
        let b = self.blocks.entry(req).or_insert_with(|| new_block(size));
        #[cfg(not(target_arch = "wasm32"))]
        b[offset as usize..offset as usize + bytes.len()].copy_from_slice(bytes);
        #[cfg(target_arch = "wasm32")]
        b.subarray(offset as u32, offset as u32 + bytes.len() as u32)
            .copy_from(bytes);
    }

    /// `len` bytes at `offset` of request `req`'s copy, if there is one.
    pub fn get(&self, req: usize, offset: u64, len: u64) -> Option<Vec<u8>> {
        let b = self.blocks.get(&req)?;
        #[cfg(not(target_arch = "wasm32"))]
        return b
            .get(offset as usize..(offset + len) as usize)
            .map(<[u8]>::to_vec);
        #[cfg(target_arch = "wasm32")]
        return Some(b.subarray(offset as u32, (offset + len) as u32).to_vec());
    }

    /// Forgets request `req`'s copy.
    pub fn remove(&mut self, req: usize) {
        self.blocks.remove(&req);
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn new_block(size: u64) -> Block {
    vec![0; size as usize]
}

#[cfg(target_arch = "wasm32")]
fn new_block(size: u64) -> Block {
    js_sys::Uint8Array::new_with_length(size as u32)
}
