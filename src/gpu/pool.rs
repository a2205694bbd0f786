//! GPU tensors and the buffer pool they return to when dropped, so a run reuses memory by
//! liveness instead of allocating every intermediate anew. Reusing a buffer inside one command
//! encoder is safe: wgpu orders the later write after the earlier read with a barrier.

use crate::{Error, Result};
use std::sync::{Arc, Mutex};

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

#[derive(Default)]
struct PoolState {
    free: Vec<wgpu::Buffer>,
    allocated: u64,
    peak: u64,
}

/// Activation buffers, reused across ops and calls.
pub struct BufferPool {
    device: wgpu::Device,
    max_binding: u64,
    state: Mutex<PoolState>,
}

impl BufferPool {
    // On wasm, wgpu handles are not Send; the Arc is for native, where the pool is shared
    // between threads.
    #[allow(clippy::arc_with_non_send_sync)]
    pub fn new(device: wgpu::Device, max_binding: u64) -> Arc<BufferPool> {
        Arc::new(BufferPool {
            device,
            max_binding,
            state: Mutex::new(PoolState::default()),
        })
    }

    /// A buffer of at least `bytes`: the smallest free one that fits, else a new one.
    fn take(&self, bytes: u64, what: &str) -> Result<wgpu::Buffer> {
        if bytes > self.max_binding {
            return Err(Error::TooLarge {
                what: what.to_string(),
                needed: bytes,
                limit: self.max_binding,
            });
        }
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::Input("buffer pool poisoned".into()))?;
        let best = (st.free.iter().enumerate())
            .filter(|(_, b)| b.size() >= bytes)
            .min_by_key(|(_, b)| b.size())
            .map(|(i, _)| i);
        if let Some(i) = best {
            return Ok(st.free.swap_remove(i));
        }
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size: bytes.max(4).next_multiple_of(4),
            usage: STORAGE,
            mapped_at_creation: false,
        });
        st.allocated += buf.size();
        st.peak = st.peak.max(st.allocated);
        Ok(buf)
    }

    fn give_back(&self, buf: wgpu::Buffer) {
        if let Ok(mut st) = self.state.lock() {
            st.free.push(buf);
        }
    }

    /// Bytes held in activation buffers now, and at most so far.
    pub fn allocated(&self) -> (u64, u64) {
        self.state
            .lock()
            .map(|s| (s.allocated, s.peak))
            .unwrap_or((0, 0))
    }

    /// Frees every idle buffer.
    pub fn trim(&self) {
        if let Ok(mut st) = self.state.lock() {
            let freed: u64 = st.free.iter().map(|b| b.size()).sum();
            st.free.clear();
            st.allocated -= freed;
        }
    }
}

/// A `[c, h, w]` f32 activation on the GPU. Its buffer goes back to the pool on drop.
pub struct Tensor {
    buf: wgpu::Buffer,
    pool: Arc<BufferPool>,
    pub c: u32,
    pub h: u32,
    pub w: u32,
}

impl Tensor {
    pub fn new(pool: &Arc<BufferPool>, c: u32, h: u32, w: u32, what: &str) -> Result<Tensor> {
        let bytes = 4 * c as u64 * h as u64 * w as u64;
        let buf = pool.take(bytes, what)?;
        Ok(Tensor {
            buf,
            pool: pool.clone(),
            c,
            h,
            w,
        })
    }

    pub fn len(&self) -> usize {
        self.c as usize * self.h as usize * self.w as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> u64 {
        4 * self.len() as u64
    }

    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        &self.buf
    }
}

impl Drop for Tensor {
    fn drop(&mut self) {
        // wgpu buffers are reference-counted handles: the pool keeps this one alive.
        self.pool.give_back(self.buf.clone());
    }
}

/// A weight tensor on the GPU (f32, in the layout its kernel expects).
pub struct Weight {
    pub(crate) buf: wgpu::Buffer,
    /// Number of f32 values.
    pub len: usize,
}

impl Weight {
    pub fn upload(device: &wgpu::Device, queue: &wgpu::Queue, label: &str, data: &[f32]) -> Weight {
        let size = (4 * data.len() as u64).max(16).next_multiple_of(16);
        let buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        queue.write_buffer(&buf, 0, bytemuck::cast_slice(data));
        Weight {
            buf,
            len: data.len(),
        }
    }
}
