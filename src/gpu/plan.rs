//! Planned buffer assignment: a call is recorded once without touching the GPU, logging every
//! band buffer it asks for and when it lets go of it, and keeping its dispatches with each
//! activation named by its request; the intervals are then packed into as few bytes of buffers
//! as a best-fit-decreasing pass finds, and the kept dispatches are encoded onto those buffers
//! (`Recorder::run`). (A pool reusing by liveness in arrival order instead strands large free
//! buffers behind small requests: at 1024² it held ~45% more than was alive at once.)

use super::BufferPool;
use crate::error::Result;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What a planning recording did with buffers, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanEvent {
    /// A request of this many bytes (already rounded to its size class); requests are numbered
    /// in the order they are taken.
    Take(u64),
    /// Request `n` is no longer used.
    Free(usize),
}

/// Buffers for every request of a recording.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Size of each buffer.
    pub sizes: Vec<u64>,
    /// Buffer of each request.
    pub assign: Vec<usize>,
    /// Most bytes requested by buffers in use at once.
    pub peak_live: u64,
    /// The largest texture of each [`super::TextureSlot`] the call asks for (width, height,
    /// layers; zero when it uses none).
    pub textures: [[u32; 3]; super::texture::TEXTURE_SLOTS],
    /// Set where the call runs out of core: its steps (see [`super::paging`]); the buffers
    /// above are then not made.
    pub paged: Option<std::sync::Arc<super::paging::Schedule>>,
}

/// Assigns the requests of `events` to buffers: largest first, each into the smallest buffer
/// already planned that is large enough and free for its whole lifetime, else a new one.
pub fn assign(events: &[PlanEvent]) -> Plan {
    let mut reqs: Vec<(u64, usize, usize)> = Vec::new();
    let (mut live, mut peak_live) = (0u64, 0u64);
    for (t, e) in events.iter().enumerate() {
        match *e {
            PlanEvent::Take(size) => {
                reqs.push((size, t, events.len()));
                live += size;
                peak_live = peak_live.max(live);
            }
            PlanEvent::Free(n) => {
                if let Some(r) = reqs.get_mut(n) {
                    r.2 = t;
                    live -= r.0;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..reqs.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(reqs[i].0), reqs[i].1));
    let mut sizes: Vec<u64> = Vec::new();
    let mut busy: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut assign = vec![0; reqs.len()];
    for i in order {
        let (size, start, end) = reqs[i];
        let fits =
            |b: usize| sizes[b] >= size && busy[b].iter().all(|&(s, e)| end <= s || e <= start);
        let best = (0..sizes.len())
            .filter(|&b| fits(b))
            .min_by_key(|&b| sizes[b]);
        let b = best.unwrap_or_else(|| {
            sizes.push(size);
            busy.push(Vec::new());
            sizes.len() - 1
        });
        busy[b].push((start, end));
        assign[i] = b;
    }
    Plan {
        sizes,
        assign,
        peak_live,
        textures: [[0; 3]; super::texture::TEXTURE_SLOTS],
        paged: None,
    }
}

/// What a planning recording writes: its events, and how many requests it has made.
#[derive(Default)]
pub struct Log {
    pub events: Vec<PlanEvent>,
    pub takes: usize,
}

pub type PlanLog = Arc<Mutex<Log>>;

/// A plan's buffers, handed out to the recording's requests in order and returned to the pool
/// when the recording is done (dropped after its submission).
pub struct PlannedBuffers {
    pool: Arc<BufferPool>,
    bufs: Vec<wgpu::Buffer>,
    assign: Vec<usize>,
    next: AtomicUsize,
}

impl PlannedBuffers {
    /// Takes the plan's buffers from the pool's idle ones where one fits closely (at most a
    /// size class larger), frees the idle buffers left over, which this call would not use
    /// (another call's, such as the encoder's before a decode), and only then makes the missing
    /// ones: a call holds at most what its plan asks for, not that plus what earlier calls of
    /// other shapes left idle.
    pub fn new(pool: &Arc<BufferPool>, plan: &Plan) -> Result<PlannedBuffers> {
        let mut order: Vec<usize> = (0..plan.sizes.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(plan.sizes[i]));
        let mut found: Vec<Option<wgpu::Buffer>> = vec![None; plan.sizes.len()];
        for &i in &order {
            found[i] = pool.take_fitting(plan.sizes[i]);
        }
        pool.free_idle();
        let mut bufs = Vec::with_capacity(plan.sizes.len());
        for (size, b) in plan.sizes.iter().zip(found) {
            match b.map_or_else(|| pool.take_exact(*size, "planned activations"), Ok) {
                Ok(b) => bufs.push(b),
                Err(e) => {
                    for b in bufs {
                        pool.give_back(b);
                    }
                    return Err(e);
                }
            }
        }
        Ok(PlannedBuffers {
            pool: pool.clone(),
            bufs,
            assign: plan.assign.clone(),
            next: AtomicUsize::new(0),
        })
    }

    /// Holds `bufs`, the buffers of the requests named with them (an out-of-core run's result),
    /// returning them to the pool when dropped.
    pub(crate) fn holding(pool: &Arc<BufferPool>, bufs: Vec<(usize, wgpu::Buffer)>) -> Self {
        let n = bufs.iter().map(|(r, _)| r + 1).max().unwrap_or(0);
        let mut assign = vec![usize::MAX; n];
        for (k, (r, _)) in bufs.iter().enumerate() {
            assign[*r] = k;
        }
        PlannedBuffers {
            pool: pool.clone(),
            bufs: bufs.into_iter().map(|(_, b)| b).collect(),
            next: AtomicUsize::new(assign.len()),
            assign,
        }
    }

    /// The buffer of request `req`.
    pub(crate) fn buffer_of(&self, req: usize) -> Option<wgpu::Buffer> {
        (self.assign.get(req)).and_then(|&b| self.bufs.get(b).cloned())
    }

    /// Hands out no more buffers through [`PlannedBuffers::next`]: the requests were resolved
    /// by id ([`PlannedBuffers::buffer_of`]), and what is recorded after them takes from the pool.
    pub(crate) fn used_up(&self) {
        self.next.store(self.assign.len(), Ordering::Relaxed);
    }

    /// Buffers for the next `n` requests (one tensor's bands), or `None` once the plan is used
    /// up: work recorded after the planned part (such as reading a result back) takes buffers
    /// from the pool.
    pub fn next(&self, n: usize) -> Option<Vec<wgpu::Buffer>> {
        let i = self.next.load(Ordering::Relaxed);
        let ids = self.assign.get(i..i + n)?;
        self.next.store(i + n, Ordering::Relaxed);
        Some(ids.iter().map(|&b| self.bufs[b].clone()).collect())
    }
}

impl Drop for PlannedBuffers {
    fn drop(&mut self) {
        for b in self.bufs.drain(..) {
            self.pool.give_back(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlanEvent::*;

    #[test]
    fn disjoint_lifetimes_share_a_buffer_and_overlapping_ones_do_not() {
        // 0: 100 (freed), 1: 60 while 0 is alive, 2: 80 after 0 is freed.
        let p = assign(&[Take(100), Take(60), Free(0), Take(80), Free(1), Free(2)]);
        assert_eq!(p.assign[0], p.assign[2], "{p:?}");
        assert_ne!(p.assign[0], p.assign[1]);
        assert_eq!(p.sizes.iter().sum::<u64>(), 160);
        assert_eq!(p.peak_live, 160);
    }

    #[test]
    fn large_requests_are_placed_first() {
        // Arrival order would put the small one into the big freed buffer and allocate again.
        let p = assign(&[
            Take(10),
            Take(100),
            Free(1),
            Take(20),
            Take(100),
            Free(0),
            Free(2),
            Free(3),
        ]);
        assert_eq!(p.sizes.iter().sum::<u64>(), 130, "{p:?}");
    }
}
