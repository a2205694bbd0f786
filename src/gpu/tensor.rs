//! Row-banded activations: a `[c, h, w]` tensor held in one buffer per row band, each band with
//! the halo rows its neighbours' 3×3 convolutions read.

use super::plan::{PlanEvent, PlanLog, PlannedBuffers};
use super::BufferPool;
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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

/// What holds a band (see [`Tensor::storage`]): equal for two bands exactly where they are held
/// in the same place.
#[derive(Clone, Debug, PartialEq)]
pub enum Storage {
    /// The plan request of a call not run yet.
    Request(usize),
    Buffer(wgpu::Buffer),
}

/// Where a tensor's band buffers come from, and where they go when it is dropped.
pub(crate) enum BufferSource<'a> {
    /// A planning recording: a stand-in buffer, and the request logged (its end too).
    Planning(&'a PlanLog, &'a wgpu::Buffer),
    /// A plan's buffers (returned with the plan, not on drop).
    Planned(&'a PlannedBuffers),
}

enum Owner {
    Pool,
    Planning(PlanLog, Vec<usize>),
    Planned,
    /// Band `.1` of another tensor, seen as a tensor of its own (see [`Tensor::band_view`]).
    View(Arc<TensorInner>, usize),
}

impl TensorInner {
    /// The plan request of each band, for a tensor of a planning recording (or a view of one).
    fn requests(&self) -> Option<&[usize]> {
        match &self.owner {
            Owner::Planning(_, ids) => Some(ids),
            Owner::View(parent, i) => parent.requests().and_then(|ids| ids.get(*i..*i + 1)),
            _ => None,
        }
    }
}

struct TensorInner {
    pool: Arc<BufferPool>,
    owner: Owner,
    bands: Vec<Band>,
    /// Whether every band's halo rows hold their neighbours' current values.
    halos_valid: AtomicBool,
}

impl Drop for TensorInner {
    fn drop(&mut self) {
        // wgpu buffers are reference-counted handles: the pool keeps these alive.
        match &self.owner {
            Owner::Pool => {
                for b in self.bands.drain(..) {
                    self.pool.give_back(b.buf);
                }
            }
            Owner::Planning(log, ids) => {
                if let Ok(mut log) = log.lock() {
                    log.events.extend(ids.iter().map(|&i| PlanEvent::Free(i)));
                }
            }
            Owner::Planned | Owner::View(..) => {}
        }
    }
}

/// A `[c, h, w]` activation on the GPU, stored as one or more row bands so that no buffer
/// exceeds the device's binding limit. Cloning shares the buffers; they go back to the pool when
/// the last clone is dropped.
///
/// Its values are f32, or where `f16` f16 in pairs of channels: `[⌈c/2⌉, rows, w]` u32, channel
/// 2j in the low half of plane j's words and 2j + 1 in the high half (WGSL `pack2x16float`; an
/// odd last channel's high half is zero). Either way a band is a run of 4-byte planes, so rows
/// are copied and banded alike.
#[derive(Clone)]
pub struct Tensor {
    inner: Arc<TensorInner>,
    pub c: u32,
    pub h: u32,
    pub w: u32,
    pub f16: bool,
}

/// 4-byte planes of `c` channels: `c` of f32, `⌈c/2⌉` of f16 pairs.
pub fn planes(c: u32, f16: bool) -> u32 {
    match f16 {
        true => c.div_ceil(2),
        false => c,
    }
}

/// `[c, plane]` values as f16 pairs (rounded to nearest even), [`Tensor`]'s layout.
pub fn pack_f16(data: &[f32], c: usize, plane: usize) -> Vec<u32> {
    let bits = |ch: usize, i: usize| match ch < c {
        true => half::f16::from_f32(data[ch * plane + i]).to_bits() as u32,
        false => 0,
    };
    (0..c.div_ceil(2))
        .flat_map(|j| (0..plane).map(move |i| bits(2 * j, i) | bits(2 * j + 1, i) << 16))
        .collect()
}

/// f16 pairs of `[c, plane]` values ([`Tensor`]'s layout) as f32 values.
pub fn unpack_f16(words: &[u32], c: usize, plane: usize) -> Vec<f32> {
    let half = |w: u32| half::f16::from_bits(w as u16).to_f32();
    (0..c)
        .flat_map(|ch| {
            let words = &words[ch / 2 * plane..][..plane];
            words.iter().map(move |&w| half(w >> (16 * (ch % 2))))
        })
        .collect()
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
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn banded_from(
        pool: &Arc<BufferPool>,
        source: &BufferSource,
        [c, h, w]: [u32; 3],
        f16: bool,
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
        // Every band asks for the largest band's bytes, so all share one size class.
        let band_bytes = 4 * planes(c, f16) as u64 * rows_max as u64 * w as u64;
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
        Ok(Tensor {
            inner,
            c,
            h,
            w,
            f16,
        })
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

    /// Its 4-byte planes (see [`planes`]).
    pub fn planes(&self) -> u32 {
        planes(self.c, self.f16)
    }

    /// Bytes of the values (without halo rows).
    pub fn bytes(&self) -> u64 {
        4 * self.planes() as u64 * self.h as u64 * self.w as u64
    }

    /// Bytes of band `i`'s buffer as bound: `[planes, rows, w]`.
    pub fn band_bytes(&self, i: usize) -> u64 {
        4 * self.planes() as u64 * self.bands()[i].rows as u64 * self.w as u64
    }

    /// Whether this is the only handle to its buffers (no clone, no narrowed view).
    pub fn is_unique(&self) -> bool {
        Arc::strong_count(&self.inner) == 1
    }

    /// What holds each band: which buffers a result was written into (before a call runs,
    /// the plan requests that stand for them).
    pub fn storage(&self) -> Vec<Storage> {
        match self.requests() {
            Some(ids) => ids.iter().map(|&i| Storage::Request(i)).collect(),
            None => (self.bands().iter())
                .map(|b| Storage::Buffer(b.buf.clone()))
                .collect(),
        }
    }

    /// The first `c` channels, in the same buffers: every band's `[self.c, rows, w]` begins
    /// with its `[c, rows, w]` (of f16 pairs, for even `c`).
    pub(crate) fn narrowed(&self, c: u32) -> Tensor {
        debug_assert!(c <= self.c && !(self.f16 && c % 2 == 1));
        Tensor {
            inner: self.inner.clone(),
            c: c.min(self.c),
            ..*self
        }
    }

    /// The plan request of each band, for a tensor of a planning recording.
    pub(crate) fn requests(&self) -> Option<&[usize]> {
        self.inner.requests()
    }

    /// Band `i` as a tensor of its own, `[c, rows, w]` over the band's buffer with its halo rows
    /// as ordinary rows: what is written through it is written into this tensor's band. Keeps
    /// this tensor's buffers alive.
    pub(crate) fn band_view(&self, i: usize) -> Tensor {
        let b = &self.bands()[i];
        let inner = TensorInner {
            pool: self.inner.pool.clone(),
            owner: Owner::View(self.inner.clone(), i),
            bands: vec![Band {
                buf: b.buf.clone(),
                y0: 0,
                y1: b.rows,
                row0: 0,
                rows: b.rows,
            }],
            halos_valid: AtomicBool::new(true),
        };
        #[allow(clippy::arc_with_non_send_sync)]
        let inner = Arc::new(inner);
        Tensor {
            inner,
            h: b.rows,
            ..*self
        }
    }

    /// The same tensor (shape, bands, channels) over `bufs`, one per band, which a plan owns.
    pub(crate) fn over(&self, bufs: Vec<wgpu::Buffer>) -> Tensor {
        let inner = TensorInner {
            pool: self.inner.pool.clone(),
            owner: Owner::Planned,
            bands: (self.bands().iter().zip(bufs))
                .map(|(b, buf)| Band { buf, ..*b })
                .collect(),
            halos_valid: AtomicBool::new(self.halos_valid()),
        };
        #[allow(clippy::arc_with_non_send_sync)]
        let inner = Arc::new(inner);
        Tensor { inner, ..*self }
    }

    /// The buffer of a tensor held whole (one band).
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        debug_assert!(!self.is_banded());
        &self.bands()[0].buf
    }
}
