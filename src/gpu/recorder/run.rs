//! Running a planning recording's work: every call goes through [`Recorder::run`]. Its requests
//! get the buffers of the call's [`Plan`]; or, for a call run out of core, buffers taken and
//! given back as the plan's [`Schedule`] says, with values stored to and loaded from the host in
//! between. A call whose caller asked for progress or may abort it is submitted in several
//! parts, reporting after each.

use super::deferred::{Deferred, Real, Res};
use super::readback::pop_scopes;
use super::{Alloc, Recorder, Scopes};
use crate::error::{Error, Result};
use crate::gpu::host::HostStore;
use crate::gpu::paging::{Schedule, Step};
use crate::gpu::plan::{Plan, PlannedBuffers};
use crate::gpu::texture::TEXTURE_SLOTS;
use crate::gpu::TextureSlot;

/// What the caller of a long call may ask for: progress reports (`done` of `total` steps) and
/// a way to abort it between steps. Both are checked between submissions.
#[derive(Clone, Copy, Default)]
pub struct CallControl<'a> {
    pub progress: Option<&'a dyn Fn(u32, u32)>,
    pub cancelled: Option<&'a dyn Fn() -> bool>,
}

impl CallControl<'_> {
    fn wanted(&self) -> bool {
        self.progress.is_some() || self.cancelled.is_some()
    }

    /// [`Error::Aborted`] once the caller has asked.
    pub fn check(&self) -> Result<()> {
        match self.cancelled {
            Some(c) if c() => Err(Error::Aborted(
                "the call was aborted; what it had made on the GPU is freed".into(),
            )),
            _ => Ok(()),
        }
    }

    pub fn report(&self, done: usize, total: usize) {
        if let Some(p) = self.progress {
            p(done as u32, total as u32);
        }
    }
}

/// Parts a controlled call is submitted in: its progress steps.
const PARTS: usize = 32;

/// An out-of-core run's state: each request's buffer while it is on the GPU, and host copies.
struct Paged<'s> {
    schedule: &'s Schedule,
    sizes: Vec<u64>,
    bufs: Vec<Option<wgpu::Buffer>>,
    host: HostStore,
    /// Most bytes the pool's buffers and textures may hold.
    cap: u64,
}

impl<'g> Recorder<'g> {
    /// Encodes what this planning recording kept and submits it where it must (out of core, or
    /// in parts for `ctl`), returning a recording whose result tensor ([`Recorder::resolve`])
    /// is on the GPU, with work possibly still to submit. `cap`: the most bytes the pool's
    /// buffers and textures may hold during an out-of-core run.
    pub async fn run(self, plan: &Plan, ctl: CallControl<'_>, cap: u64) -> Result<Recorder<'g>> {
        let Recorder {
            gpu,
            pool,
            alloc,
            transient,
            halves,
            ..
        } = self;
        // The texture sizes are this recording's own (a kept plan's are those of the same
        // call).
        let Alloc::Planning {
            ops,
            textures: sizes,
            log,
            ..
        } = alloc
        else {
            return Err(Error::Input("internal: not a planning recording".into()));
        };
        let mut paged = match &plan.paged {
            Some(schedule) => {
                let log = log.lock().map_err(|_| Error::Input("plan log".into()))?;
                let sizes: Vec<u64> = (log.events.iter())
                    .filter_map(|e| match *e {
                        crate::gpu::plan::PlanEvent::Take(s) => Some(s),
                        _ => None,
                    })
                    .collect();
                pool.free_idle();
                Some(Paged {
                    schedule,
                    bufs: vec![None; sizes.len()],
                    sizes,
                    host: HostStore::default(),
                    cap,
                })
            }
            None => None,
        };
        let planned = match paged {
            None => Some(PlannedBuffers::new(&pool, plan)?),
            Some(_) => None,
        };
        planned.iter().for_each(PlannedBuffers::used_up);
        let mut textures: [Option<wgpu::TextureView>; TEXTURE_SLOTS] = Default::default();
        for slot in TextureSlot::ALL {
            let size = sizes[slot as usize];
            if size.iter().all(|&d| d > 0) {
                // Made once, at the largest size the call needs.
                textures[slot as usize] =
                    Some(pool.texture_for_call(slot, size, halves.textures)?);
            }
        }
        let mut rec = Recorder::encoding(gpu, pool, halves)?;
        // The planning recording's uploads are bound by the work encoded here.
        rec.transient.absorb(transient);
        let total = ops.len();
        let every = match ctl.wanted() {
            true => total.div_ceil(PARTS).max(1),
            false => usize::MAX,
        };
        for (i, op) in ops.into_iter().enumerate() {
            if let Some(p) = &mut paged {
                rec.steps(p, i, ctl, total).await?;
            }
            if i > 0 && i % every == 0 {
                rec.part_done(ctl, i, total).await?;
            }
            let uses = op.uses();
            let real = |r: Res| {
                Ok(match r {
                    Res::Request { req, size } => {
                        let b = match (&planned, &paged) {
                            (Some(p), _) => p.buffer_of(req),
                            (_, Some(p)) => p.bufs.get(req).cloned().flatten(),
                            _ => None,
                        };
                        let b = b.ok_or_else(|| {
                            Error::Input(format!("internal: no buffer for request {req}"))
                        })?;
                        Real::Buffer(b, Some(size))
                    }
                    Res::Buffer(b, size) => Real::Buffer(b, size),
                    Res::PoolTexture(slot) => match &textures[slot as usize] {
                        Some(v) => Real::View(v.clone()),
                        None => return Err(Error::Input("internal: an unplanned texture".into())),
                    },
                    Res::View(v) => Real::View(v),
                })
            };
            match op {
                Deferred::Dispatch {
                    kernel,
                    binds,
                    params,
                    groups,
                } => {
                    let binds = binds.into_iter().map(real).collect::<Result<Vec<_>>>()?;
                    rec.encode_dispatch(&kernel, &binds, &params, groups);
                }
                Deferred::CopyIn { data, dst } => match real(dst)? {
                    Real::Buffer(b, _) => rec.copy_bytes(&data, &b),
                    Real::View(_) => {
                        return Err(Error::Input("internal: copy into a texture".into()))
                    }
                },
            }
            if let Some(p) = &mut paged {
                // A written value's host copy is stale; what is used no more is let go.
                for u in uses.iter().filter(|u| u.writes) {
                    p.host.remove(u.req);
                }
                for &r in &p.schedule.after[i] {
                    p.host.remove(r);
                    if let Some(b) = p.bufs[r].take() {
                        rec.pool.give_back(b);
                    }
                }
            }
        }
        rec.alloc = Alloc::Planned(match (planned, paged) {
            (Some(planned), _) => planned,
            (None, Some(mut p)) => {
                rec.steps(&mut p, total, ctl, total).await?;
                let outputs = (p.bufs.iter_mut().enumerate())
                    .filter_map(|(r, b)| b.take().map(|b| (r, b)))
                    .collect();
                PlannedBuffers::holding(&rec.pool, outputs)
            }
            (None, None) => return Err(Error::Input("internal: no buffers".into())),
        });
        Ok(rec)
    }

    /// Submits what is encoded so far and starts a new part; its errors are reported here.
    async fn flush(&mut self) -> Result<wgpu::SubmissionIndex> {
        let device = &self.gpu.device;
        let encoder = std::mem::replace(
            &mut self.encoder,
            device.create_command_encoder(&Default::default()),
        );
        let index = self.gpu.queue.submit([encoder.finish()]);
        self.encoded = false;
        // Each part pushes and pops its own scopes in one synchronous stretch.
        pop_scopes(self.gpu, &mut self.scopes).await?;
        self.scopes = Scopes::push(device);
        Ok(index)
    }

    /// Waits for the GPU to finish what has been submitted.
    async fn settle(&mut self) -> Result<()> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.gpu.queue.on_submitted_work_done(move || {
            let _ = tx.send(());
        });
        #[cfg(not(target_arch = "wasm32"))]
        (self.gpu.device.poll(wgpu::PollType::wait_indefinitely()))
            .map_err(|e| self.gpu.lost_or(Error::Readback(e.to_string())))?;
        rx.await
            .map_err(|_| Error::Readback("the GPU's completion callback was dropped".into()))?;
        self.gpu.check_lost()
    }

    /// One part of a controlled call is done: submit it, wait for the previous part, report,
    /// and stop here if the caller has aborted.
    async fn part_done(&mut self, ctl: CallControl<'_>, done: usize, total: usize) -> Result<()> {
        ctl.check()?;
        self.flush().await?;
        self.settle().await?;
        ctl.report(done, total);
        ctl.check()
    }

    /// The out-of-core steps before op `i`.
    async fn steps(
        &mut self,
        p: &mut Paged<'_>,
        i: usize,
        ctl: CallControl<'_>,
        total: usize,
    ) -> Result<()> {
        let steps = &p.schedule.before[i];
        if steps.is_empty() {
            return Ok(());
        }
        ctl.check()?;
        let mut loaded_after_flush = false;
        for &step in steps {
            match step {
                Step::Store(r) => {
                    let buf = p.bufs[r].take().ok_or_else(|| missing(r))?;
                    let chunk = p.schedule.staging;
                    self.store(&buf, r, p.sizes[r], chunk, &mut p.host).await?;
                    self.pool.give_back(buf);
                    ctl.report(i, total);
                    ctl.check()?;
                }
                Step::Release(r) => {
                    let buf = p.bufs[r].take().ok_or_else(|| missing(r))?;
                    self.pool.give_back(buf);
                }
                Step::Load(r) | Step::Fresh(r) => {
                    let size = p.sizes[r];
                    let buf = match self.pool.take_within(size, p.cap, "activation")? {
                        Some(b) => b,
                        None => {
                            // Idle buffers may be bound by unsubmitted work: submit it first.
                            if self.encoded {
                                self.flush().await?;
                            }
                            self.pool.free_idle();
                            self.pool.take_exact(size, "activation")?
                        }
                    };
                    if let Step::Load(_) = step {
                        // Queue writes run before the next submission: submit what reads the
                        // buffer's earlier values first.
                        if self.encoded && !loaded_after_flush {
                            self.flush().await?;
                        }
                        loaded_after_flush = true;
                        self.load(&buf, r, size, &p.host)?;
                    }
                    p.bufs[r] = Some(buf);
                }
            }
        }
        Ok(())
    }

    /// Copies request `req`'s buffer to the host, a staging buffer's worth at a time.
    async fn store(
        &mut self,
        buf: &wgpu::Buffer,
        req: usize,
        size: u64,
        chunk: u64,
        host: &mut HostStore,
    ) -> Result<()> {
        let staging = match &self.staging {
            Some(s) => s.clone(),
            None => {
                let s = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("out-of-core staging"),
                    size: chunk,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                self.transient.buffer(&s);
                self.staging = Some(s.clone());
                s
            }
        };
        let mut offset = 0;
        while offset < size {
            let len = (size - offset).min(chunk);
            self.encoder
                .copy_buffer_to_buffer(buf, offset, &staging, 0, Some(len));
            self.flush().await?;
            let (tx, rx) = futures_channel::oneshot::channel();
            staging
                .slice(..len)
                .map_async(wgpu::MapMode::Read, move |r| {
                    let _ = tx.send(r);
                });
            #[cfg(not(target_arch = "wasm32"))]
            (self.gpu.device.poll(wgpu::PollType::wait_indefinitely()))
                .map_err(|e| self.gpu.lost_or(Error::Readback(e.to_string())))?;
            match rx.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(self.gpu.lost_or(Error::Readback(e.to_string()))),
                Err(_) => return Err(Error::Readback("the map callback was dropped".into())),
            }
            {
                let view = (staging.slice(..len).get_mapped_range())
                    .map_err(|e| self.gpu.lost_or(Error::Readback(e.to_string())))?;
                host.put(req, size, offset, &view);
            }
            staging.unmap();
            offset += len;
        }
        self.gpu.check_lost()
    }

    /// Writes request `req`'s host copy into `buf` (queue writes: before the next submission).
    fn load(&mut self, buf: &wgpu::Buffer, req: usize, size: u64, host: &HostStore) -> Result<()> {
        let mut offset = 0;
        while offset < size {
            let len = (size - offset).min(crate::gpu::host::CHUNK);
            let bytes = host
                .get(req, offset, len)
                .ok_or_else(|| Error::Input(format!("internal: no host copy of {req}")))?;
            self.gpu.queue.write_buffer(buf, offset, &bytes);
            offset += len;
        }
        Ok(())
    }
}

fn missing(r: usize) -> Error {
    Error::Input(format!("internal: request {r} is not on the GPU"))
}
