//! The buffer pool activations return to when dropped, so a run reuses memory by liveness instead
//! of allocating every intermediate anew, and weight buffers. Reusing a buffer inside one command
//! encoder is safe: wgpu orders the later write after the earlier read with a barrier.

use super::texture::{float_array, texture_bytes, TextureSlot, TEXTURE_SLOTS};
use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// A texture of the pool: its size, and whether it holds f16 values (rgba32uint) rather than
/// f32.
struct PoolTexture {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    size: [u32; 3],
    f16: bool,
}

#[derive(Default)]
struct PoolState {
    free: Vec<wgpu::Buffer>,
    allocated: u64,
    peak: u64,
    /// The pool's textures (see [`BufferPool::texture`]), by [`TextureSlot`].
    textures: [Option<PoolTexture>; TEXTURE_SLOTS],
    /// Set by the kernels of an f16 call where a value exceeds f16's range (see
    /// [`BufferPool::overflow_flag`]).
    overflow: Option<wgpu::Buffer>,
    /// Bytes of the recordings' own buffers (uploads, uniforms, staging, readback) alive now,
    /// and the most that these and the pool's buffers and textures held at once.
    transient: u64,
    gpu_peak: u64,
}

/// Buffer sizes are rounded up to one of 8 steps per power of two (at most 12.5% more), so that
/// tensors of nearly equal sizes (such as row bands with and without a halo row) share buffers.
pub fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(16);
    let step = (1u64 << (63 - bytes.leading_zeros())) / 8;
    bytes.next_multiple_of(step.max(4))
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

    /// Most bytes of one activation buffer.
    pub fn max_binding(&self) -> u64 {
        self.max_binding
    }

    /// Errors if one buffer of `bytes` exceeds the binding limit.
    pub(crate) fn check(&self, bytes: u64, what: &str) -> Result<()> {
        if bytes > self.max_binding {
            return Err(Error::TooLarge {
                what: what.to_string(),
                needed: bytes,
                limit: self.max_binding,
                allowed_by: "this device",
            });
        }
        Ok(())
    }

    /// A free buffer of at least `size` bytes (the smallest), else a new one of `size`.
    pub(crate) fn take_exact(&self, size: u64, what: &str) -> Result<wgpu::Buffer> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::Input("buffer pool poisoned".into()))?;
        let best = (st.free.iter().enumerate())
            .filter(|(_, b)| b.size() >= size)
            .min_by_key(|(_, b)| b.size())
            .map(|(i, _)| i);
        if let Some(i) = best {
            return Ok(st.free.swap_remove(i));
        }
        Ok(self.create(&mut st, size, what))
    }

    /// The smallest idle buffer of at least `size` bytes and at most a size class more
    /// (`size_class(size + 1)`), if any.
    pub(crate) fn take_fitting(&self, size: u64) -> Option<wgpu::Buffer> {
        let mut st = self.state.lock().ok()?;
        let most = size_class(size + 1);
        let best = (st.free.iter().enumerate())
            .filter(|(_, b)| b.size() >= size && b.size() <= most)
            .min_by_key(|(_, b)| b.size())
            .map(|(i, _)| i)?;
        Some(st.free.swap_remove(best))
    }

    /// An idle buffer of exactly `size` bytes, else a new one where the pool's buffers and
    /// textures stay within `cap` bytes with it; `None` where they would not (the caller frees
    /// idle buffers once no unsubmitted work binds them, then takes one).
    pub(crate) fn take_within(
        &self,
        size: u64,
        cap: u64,
        what: &str,
    ) -> Result<Option<wgpu::Buffer>> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::Input("buffer pool poisoned".into()))?;
        if let Some(i) = st.free.iter().position(|b| b.size() == size) {
            return Ok(Some(st.free.swap_remove(i)));
        }
        if st.allocated + size > cap {
            return Ok(None);
        }
        Ok(Some(self.create(&mut st, size, what)))
    }

    /// A new buffer of `size` bytes, counted.
    fn create(&self, st: &mut PoolState, size: u64, what: &str) -> wgpu::Buffer {
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size,
            usage: STORAGE,
            mapped_at_creation: false,
        });
        st.allocated += buf.size();
        st.peak = st.peak.max(st.allocated);
        st.gpu_peak = st.gpu_peak.max(st.allocated + st.transient);
        buf
    }

    /// Counts `delta` bytes of a recording's own buffers (see [`BufferPool::gpu_peak`]).
    pub(crate) fn transient(&self, delta: i64) {
        if let Ok(mut st) = self.state.lock() {
            st.transient = st.transient.saturating_add_signed(delta);
            st.gpu_peak = st.gpu_peak.max(st.allocated + st.transient);
        }
    }

    /// The most GPU memory the pool's buffers and textures and the recordings' own buffers
    /// (uploads, uniforms, staging, readback) held at once.
    pub fn gpu_peak(&self) -> u64 {
        self.state.lock().map(|s| s.gpu_peak).unwrap_or(0)
    }

    /// Frees every idle buffer (the textures stay).
    pub(crate) fn free_idle(&self) {
        if let Ok(mut st) = self.state.lock() {
            let freed: u64 = st.free.iter().map(|b| b.size()).sum();
            // In a browser a dropped handle keeps its memory until garbage collection, so they
            // are destroyed; there calls on one model never overlap (the JS queue), so no idle
            // buffer is bound by work recorded and not yet submitted. Natively wgpu frees a
            // dropped buffer once no submission uses it, and calls from threads may overlap.
            #[cfg(target_arch = "wasm32")]
            st.free.iter().for_each(wgpu::Buffer::destroy);
            st.free.clear();
            st.allocated -= freed;
        }
    }

    /// A buffer for `bytes` (within the binding limit), of its size class.
    pub(crate) fn take(&self, bytes: u64, what: &str) -> Result<wgpu::Buffer> {
        self.check(bytes, what)?;
        self.take_exact(self.rounded(bytes), what)
    }

    /// The size a buffer for `bytes` is made with: its size class, within the binding limit.
    pub(crate) fn rounded(&self, bytes: u64) -> u64 {
        size_class(bytes).min(self.max_binding.max(bytes).next_multiple_of(4))
    }

    /// Puts a buffer back on the free list.
    pub(crate) fn give_back(&self, buf: wgpu::Buffer) {
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

    /// Frees every idle buffer, and the textures.
    pub fn trim(&self) {
        self.free_idle();
        if let Ok(mut st) = self.state.lock() {
            for slot in 0..TEXTURE_SLOTS {
                if let Some(t) = st.textures[slot].take() {
                    st.allocated -= texture_bytes(t.size);
                    release(t.texture);
                }
            }
        }
    }

    /// The flag the kernels of an f16 call set where a value exceeds f16's range: a 16-byte
    /// buffer whose first u32 is nonzero after such a value (made when first asked for).
    pub fn overflow_flag(&self) -> Result<wgpu::Buffer> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::Input("buffer pool poisoned".into()))?;
        let flag = st.overflow.get_or_insert_with(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("f16 overflow flag"),
                size: 16,
                usage: STORAGE,
                mapped_at_creation: false,
            })
        });
        Ok(flag.clone())
    }

    /// The texture array of `slot`, f16 (rgba32uint, 8 values a texel) if `f16` else
    /// rgba32float, written as storage and read by `conv2d.wgsl`, at least `size` (width,
    /// height, layers). One texture a slot serves every convolution: it is replaced by one
    /// covering both sizes when a larger one is asked for, and by one of `size` when the other
    /// format is (work already recorded keeps the old one alive until it has run).
    pub(crate) fn texture(
        &self,
        slot: TextureSlot,
        size: [u32; 3],
        f16: bool,
    ) -> Result<wgpu::TextureView> {
        self.texture_sized(slot, size, f16, true)
    }

    /// The texture of `slot` for a planned call that needs `size`: the one held where it has
    /// that size and format, else one of `size` in its place (neither a larger one kept nor one
    /// covering both: a call holds what its plan asks for, whatever calls of other shapes asked
    /// before).
    pub(crate) fn texture_for_call(
        &self,
        slot: TextureSlot,
        size: [u32; 3],
        f16: bool,
    ) -> Result<wgpu::TextureView> {
        self.texture_sized(slot, size, f16, false)
    }

    fn texture_sized(
        &self,
        slot: TextureSlot,
        size: [u32; 3],
        f16: bool,
        cover_old: bool,
    ) -> Result<wgpu::TextureView> {
        let slot_i = slot as usize;
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::Input("buffer pool poisoned".into()))?;
        if let Some(t) = &st.textures[slot_i] {
            let fits = match cover_old {
                true => (0..3).all(|i| t.size[i] >= size[i]),
                false => t.size == size,
            };
            if fits && t.f16 == f16 {
                return Ok(t.view.clone());
            }
        }
        let old = st.textures[slot_i].take().map(|t| {
            if !cover_old {
                // A call's first use: nothing this call recorded binds the old one.
                release(t.texture);
            }
            (t.size, t.f16)
        });
        let size = match old {
            Some((o, old_f16)) => {
                st.allocated -= texture_bytes(o);
                match cover_old && old_f16 == f16 {
                    true => [0, 1, 2].map(|i| o[i].max(size[i])),
                    false => size,
                }
            }
            None => size,
        };
        let usage = wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::STORAGE_BINDING;
        let (texture, view) = float_array(&self.device, slot.label(), size, f16, usage);
        st.allocated += texture_bytes(size);
        st.peak = st.peak.max(st.allocated);
        st.gpu_peak = st.gpu_peak.max(st.allocated + st.transient);
        let kept = PoolTexture {
            texture,
            view: view.clone(),
            size,
            f16,
        };
        st.textures[slot_i] = Some(kept);
        Ok(view)
    }
}

/// Lets go of a pool texture between calls. In a browser a dropped handle keeps its memory
/// until garbage collection, so it is destroyed: there calls on one model never overlap (the JS
/// queue) and each has submitted its work before the next begins, and WebGPU frees it once that
/// work is done. Natively wgpu frees a dropped texture once no submission uses it, and calls from
/// threads may overlap.
fn release(texture: wgpu::Texture) {
    #[cfg(target_arch = "wasm32")]
    texture.destroy();
    drop(texture);
}

impl Drop for BufferPool {
    /// Frees the GPU memory now (WebGPU otherwise keeps it until the handles are
    /// garbage-collected). The pool outlives every tensor and call, which hold it, so nothing
    /// recorded and not yet submitted can still use these.
    fn drop(&mut self) {
        if let Ok(st) = self.state.get_mut() {
            st.free.iter().for_each(wgpu::Buffer::destroy);
            st.overflow.iter().for_each(wgpu::Buffer::destroy);
            for t in st.textures.iter().flatten() {
                t.texture.destroy();
            }
        }
    }
}
