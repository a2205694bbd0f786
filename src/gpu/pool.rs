//! GPU tensors and the buffer pool they return to when dropped, so a run reuses memory by
//! liveness instead of allocating every intermediate anew. Reusing a buffer inside one command
//! encoder is safe: wgpu orders the later write after the earlier read with a barrier.

use super::plan::{PlanEvent, PlanLog, PlannedBuffers};
use crate::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

#[derive(Default)]
struct PoolState {
    free: Vec<wgpu::Buffer>,
    allocated: u64,
    peak: u64,
    /// Bytes requested by tensors alive now, and at most so far: what a pool that never
    /// wasted a byte would hold.
    in_use: u64,
    peak_in_use: u64,
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

    /// Errors if one buffer of `bytes` exceeds the binding limit.
    fn check(&self, bytes: u64, what: &str) -> Result<()> {
        if bytes > self.max_binding {
            return Err(Error::TooLarge {
                what: what.to_string(),
                needed: bytes,
                limit: self.max_binding,
            });
        }
        Ok(())
    }

    /// A free buffer of at least `size` bytes (the smallest), else a new one of `size`.
    pub(crate) fn take_exact(&self, size: u64) -> Result<wgpu::Buffer> {
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
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("activations"),
            size,
            usage: STORAGE,
            mapped_at_creation: false,
        });
        st.allocated += buf.size();
        st.peak = st.peak.max(st.allocated);
        Ok(buf)
    }

    /// Puts a buffer taken with [`BufferPool::take_exact`] back on the free list.
    pub(crate) fn return_free(&self, buf: wgpu::Buffer) {
        if let Ok(mut st) = self.state.lock() {
            st.free.push(buf);
        }
    }

    /// A buffer of at least `bytes`: the smallest free one that fits, else a new one.
    fn take(&self, bytes: u64, what: &str) -> Result<wgpu::Buffer> {
        self.check(bytes, what)?;
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::Input("buffer pool poisoned".into()))?;
        let size = self.rounded(bytes);
        st.in_use += size;
        st.peak_in_use = st.peak_in_use.max(st.in_use);
        let best = (st.free.iter().enumerate())
            .filter(|(_, b)| b.size() >= size)
            .min_by_key(|(_, b)| b.size())
            .map(|(i, _)| i);
        if let Some(i) = best {
            return Ok(st.free.swap_remove(i));
        }
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size,
            usage: STORAGE,
            mapped_at_creation: false,
        });
        st.allocated += buf.size();
        st.peak = st.peak.max(st.allocated);
        Ok(buf)
    }

    /// The size a buffer for `bytes` is made with: its size class, within the binding limit.
    pub(crate) fn rounded(&self, bytes: u64) -> u64 {
        size_class(bytes).min(self.max_binding.max(bytes).next_multiple_of(4))
    }

    fn give_back(&self, buf: wgpu::Buffer, bytes: u64) {
        if let Ok(mut st) = self.state.lock() {
            st.in_use -= self.rounded(bytes);
            st.free.push(buf);
        }
    }

    /// Most bytes the tensors alive at one time have requested (a lower bound for `allocated`).
    pub fn peak_in_use(&self) -> u64 {
        self.state.lock().map(|s| s.peak_in_use).unwrap_or(0)
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

/// One row band of a tensor: global rows `y0..y1` are its own, and its buffer holds
/// `[c, rows, w]` for the global rows `row0..row0 + rows`, i.e. its own rows plus one halo row
/// on each side that has a neighbour band (a copy of that neighbour's edge row, filled before a
/// 3×3 convolution reads it).
pub struct Band {
    buf: wgpu::Buffer,
    pub y0: u32,
    pub y1: u32,
    pub row0: u32,
    pub rows: u32,
}

impl Band {
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        &self.buf
    }
}

/// Where a tensor's band buffers come from, and where they go when it is dropped.
pub(crate) enum BufferSource<'a> {
    /// The pool's free list (back to it on drop).
    Pool,
    /// A planning recording: a stand-in buffer, and the request logged (its end too).
    Planning(&'a PlanLog, &'a wgpu::Buffer),
    /// A plan's buffers (returned with the plan, not on drop).
    Planned(&'a PlannedBuffers),
}

enum Owner {
    Pool,
    Planning(PlanLog, Vec<usize>),
    Planned,
}

struct TensorInner {
    pool: Arc<BufferPool>,
    owner: Owner,
    bands: Vec<Band>,
    /// Bytes requested for each band: the largest band's, so all bands share one size class.
    band_bytes: u64,
    /// Whether every band's halo rows hold their neighbours' current values.
    halos_valid: AtomicBool,
}

impl Drop for TensorInner {
    fn drop(&mut self) {
        // wgpu buffers are reference-counted handles: the pool keeps these alive.
        match &self.owner {
            Owner::Pool => {
                for b in self.bands.drain(..) {
                    self.pool.give_back(b.buf, self.band_bytes);
                }
            }
            Owner::Planning(log, ids) => {
                if let Ok(mut log) = log.lock() {
                    log.events.extend(ids.iter().map(|&i| PlanEvent::Free(i)));
                }
            }
            Owner::Planned => {}
        }
    }
}

/// A `[c, h, w]` f32 activation on the GPU, stored as one or more row bands so that no buffer
/// exceeds the device's binding limit. Cloning shares the buffers; they go back to the pool when
/// the last clone is dropped.
#[derive(Clone)]
pub struct Tensor {
    inner: Arc<TensorInner>,
    pub c: u32,
    pub h: u32,
    pub w: u32,
}

/// Checks band starts: first 0, strictly increasing, all below `h`.
pub fn check_starts(starts: &[u32], h: u32) -> Result<()> {
    let ok = starts.first() == Some(&0)
        && starts.windows(2).all(|p| p[0] < p[1])
        && starts.last().is_some_and(|&s| s < h);
    if ok {
        Ok(())
    } else {
        Err(Error::Input(format!(
            "row bands starting at {starts:?} do not split {h} rows"
        )))
    }
}

impl Tensor {
    /// One buffer holding the whole tensor.
    pub fn new(pool: &Arc<BufferPool>, c: u32, h: u32, w: u32, what: &str) -> Result<Tensor> {
        Tensor::banded(pool, c, h, w, &[0], what)
    }

    /// Row bands starting at the global rows `starts` (the first 0), each with its halo rows.
    pub fn banded(
        pool: &Arc<BufferPool>,
        c: u32,
        h: u32,
        w: u32,
        starts: &[u32],
        what: &str,
    ) -> Result<Tensor> {
        Tensor::banded_from(pool, &BufferSource::Pool, c, h, w, starts, what)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn banded_from(
        pool: &Arc<BufferPool>,
        source: &BufferSource,
        c: u32,
        h: u32,
        w: u32,
        starts: &[u32],
        what: &str,
    ) -> Result<Tensor> {
        check_starts(starts, h)?;
        let n = starts.len();
        let rows_max = (0..n)
            .map(|i| {
                let y1 = starts.get(i + 1).copied().unwrap_or(h);
                y1 - starts[i] + (i > 0) as u32 + (i + 1 < n) as u32
            })
            .max()
            .unwrap_or(0);
        let band_bytes = 4 * c as u64 * rows_max as u64 * w as u64;
        let mut planned = match source {
            BufferSource::Planned(p) => p.next(n),
            _ => None,
        };
        let mut inner = TensorInner {
            pool: pool.clone(),
            owner: match source {
                BufferSource::Planning(log, _) => Owner::Planning((*log).clone(), Vec::new()),
                BufferSource::Planned(_) if planned.is_some() => Owner::Planned,
                _ => Owner::Pool,
            },
            bands: Vec::new(),
            band_bytes,
            halos_valid: AtomicBool::new(n == 1),
        };
        for (i, &y0) in starts.iter().enumerate() {
            let y1 = starts.get(i + 1).copied().unwrap_or(h);
            let row0 = if i > 0 { y0 - 1 } else { y0 };
            let end = if i + 1 < n { y1 + 1 } else { y1 };
            let rows = end - row0;
            let what = if n == 1 {
                what.to_string()
            } else {
                format!("{what} (rows {y0}..{y1} of {h})")
            };
            // On error, the bands taken so far go back to the pool with `inner`.
            let buf = match source {
                BufferSource::Pool => pool.take(band_bytes, &what)?,
                BufferSource::Planned(_) if planned.is_none() => pool.take(band_bytes, &what)?,
                BufferSource::Planning(log, stand_in) => {
                    pool.check(band_bytes, &what)?;
                    let mut log = log
                        .lock()
                        .map_err(|_| Error::Input("plan log poisoned".into()))?;
                    let id = log.takes;
                    log.takes += 1;
                    log.events.push(PlanEvent::Take(pool.rounded(band_bytes)));
                    if let Owner::Planning(_, ids) = &mut inner.owner {
                        ids.push(id);
                    }
                    (*stand_in).clone()
                }
                BufferSource::Planned(_) => {
                    pool.check(band_bytes, &what)?;
                    match planned.as_mut() {
                        Some(bufs) => bufs.remove(0),
                        None => pool.take(band_bytes, &what)?,
                    }
                }
            };
            inner.bands.push(Band {
                buf,
                y0,
                y1,
                row0,
                rows,
            });
        }
        // Not Send on wasm, where wgpu handles are not; see `BufferPool::new`.
        #[allow(clippy::arc_with_non_send_sync)]
        let inner = Arc::new(inner);
        Ok(Tensor { inner, c, h, w })
    }

    pub fn bands(&self) -> &[Band] {
        &self.inner.bands
    }

    /// The first global row of every band.
    pub fn starts(&self) -> Vec<u32> {
        self.bands().iter().map(|b| b.y0).collect()
    }

    pub fn is_banded(&self) -> bool {
        self.bands().len() > 1
    }

    pub(crate) fn halos_valid(&self) -> bool {
        self.inner.halos_valid.load(Ordering::Relaxed)
    }

    pub(crate) fn set_halos_valid(&self, v: bool) {
        self.inner
            .halos_valid
            .store(v || !self.is_banded(), Ordering::Relaxed);
    }

    /// Number of values (without halo rows).
    pub fn len(&self) -> usize {
        self.c as usize * self.h as usize * self.w as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the values (without halo rows).
    pub fn bytes(&self) -> u64 {
        4 * self.len() as u64
    }

    /// Bytes of band `i`'s buffer as bound: `[c, rows, w]` f32.
    pub fn band_bytes(&self, i: usize) -> u64 {
        4 * self.c as u64 * self.bands()[i].rows as u64 * self.w as u64
    }

    /// The buffer of a tensor held whole (one band).
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        debug_assert!(!self.is_banded());
        &self.bands()[0].buf
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
            // Conv weights are also read through uniform windows on CPU adapters.
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::UNIFORM
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        queue.write_buffer(&buf, 0, bytemuck::cast_slice(data));
        Weight {
            buf,
            len: data.len(),
        }
    }
}
