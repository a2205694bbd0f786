//! The GPU objects a recording makes for itself, destroyed when it ends.

use crate::gpu::BufferPool;
use std::sync::Arc;

/// GPU objects one recording makes for itself (uniforms, uploads, the readback buffer, a
/// planning recording's stand-ins), destroyed when the recording is dropped: after its
/// readback, or unsubmitted after an error. wgpu's WebGPU backend does not destroy a dropped
/// handle, so in a browser each would otherwise hold its memory until garbage collection. Work
/// already submitted still completes: WebGPU and wgpu defer the free until it has.
/// Their bytes count in the pool's peak of GPU memory (see [`BufferPool::gpu_peak`]).
pub(super) struct Transient {
    pool: Arc<BufferPool>,
    buffers: Vec<wgpu::Buffer>,
    textures: Vec<wgpu::Texture>,
    bytes: u64,
}

impl Transient {
    pub(super) fn new(pool: &Arc<BufferPool>) -> Transient {
        Transient {
            pool: pool.clone(),
            buffers: Vec::new(),
            textures: Vec::new(),
            bytes: 0,
        }
    }

    /// A texture to destroy with the recording (a planning recording's stand-ins).
    pub(super) fn texture(&mut self, t: wgpu::Texture) {
        self.textures.push(t);
    }

    pub(super) fn buffer(&mut self, b: &wgpu::Buffer) {
        self.buffers.push(b.clone());
        self.bytes += b.size();
        self.pool.transient(b.size() as i64);
    }

    /// Takes over `other`'s objects (a planning recording's, whose work another encodes).
    pub(super) fn absorb(&mut self, mut other: Transient) {
        self.buffers.append(&mut other.buffers);
        self.textures.append(&mut other.textures);
        self.bytes += std::mem::take(&mut other.bytes);
    }
}

impl Drop for Transient {
    fn drop(&mut self) {
        self.buffers.iter().for_each(wgpu::Buffer::destroy);
        self.textures.iter().for_each(wgpu::Texture::destroy);
        self.pool.transient(-(self.bytes as i64));
    }
}
