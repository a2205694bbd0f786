//! A planning recording's work, kept with each activation named by its plan request, then
//! encoded once the plan's buffers exist ([`Recorder::run`]): a call walks the model once.

use super::{Alloc, Bind, Recorder};
use crate::error::{Error, Result};
use crate::gpu::paging::{Program, Use};
use crate::gpu::plan::PlanEvent;
use crate::gpu::Kernel;
use crate::gpu::{Tensor, TextureSlot};

/// A resource a kept dispatch binds.
pub(super) enum Res {
    /// The first `size` bytes of the buffer of plan request `req` (a band of an activation).
    Request { req: usize, size: u64 },
    /// A buffer that exists already (weights, inputs, flags, tensors from outside the plan):
    /// whole, or its first bytes.
    Buffer(wgpu::Buffer, Option<u64>),
    /// The pool's texture of a slot, made at the plan's size.
    PoolTexture(TextureSlot),
    /// A texture that exists already (weights made at load time).
    View(wgpu::TextureView),
}

/// What a planning recording keeps, in order.
pub(super) enum Deferred {
    Dispatch {
        kernel: Kernel,
        binds: Vec<Res>,
        params: Vec<u8>,
        groups: [u32; 3],
    },
    /// `data` copied into the start of a tensor's buffer.
    CopyIn { data: Vec<u8>, dst: Res },
}

impl Deferred {
    /// The plan requests this op binds, and whether it may write each.
    pub(super) fn uses(&self) -> Vec<Use> {
        let request = |r: &Res| match *r {
            Res::Request { req, .. } => Some(req),
            _ => None,
        };
        match self {
            Deferred::Dispatch { kernel, binds, .. } => (binds.iter().enumerate())
                .filter_map(|(i, r)| {
                    let writes = kernel.writes & 1u32.checked_shl(i as u32).unwrap_or(0) != 0;
                    request(r).map(|req| Use { req, writes })
                })
                .collect(),
            Deferred::CopyIn { dst, .. } => (request(dst).into_iter())
                .map(|req| Use { req, writes: true })
                .collect(),
        }
    }
}

/// The stand-in views a planning recording hands out for the pool's textures, by slot.
pub(super) type StandIns = [wgpu::TextureView; crate::gpu::texture::TEXTURE_SLOTS];

/// Band `i` of `t` as kept: its plan request, or for a tensor from outside the plan its buffer.
fn band(t: &Tensor, i: usize) -> Res {
    let size = t.band_bytes(i).max(4);
    match t.requests().and_then(|ids| ids.get(i).copied()) {
        Some(req) => Res::Request { req, size },
        None => Res::Buffer(t.bands()[i].buffer().clone(), Some(size)),
    }
}

/// `bind` as a kept resource.
pub(super) fn keep(bind: &Bind, stand_ins: &StandIns) -> Res {
    match *bind {
        Bind::Tensor(t) => band(t, 0),
        Bind::Band(t, i) => band(t, i),
        Bind::Weight(w) => Res::Buffer(w.buf.clone(), None),
        Bind::Raw(b) => Res::Buffer(b.clone(), None),
        Bind::Texture(v) => match TextureSlot::ALL
            .iter()
            .find(|s| *v == stand_ins[**s as usize])
        {
            Some(&slot) => Res::PoolTexture(slot),
            None => Res::View(v.clone()),
        },
    }
}

/// A kept resource made real.
pub(super) enum Real {
    Buffer(wgpu::Buffer, Option<u64>),
    View(wgpu::TextureView),
}

impl Real {
    pub(super) fn binding(&self) -> wgpu::BindingResource<'_> {
        match self {
            Real::Buffer(b, None) => b.as_entire_binding(),
            Real::Buffer(b, Some(size)) => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: b,
                offset: 0,
                size: std::num::NonZeroU64::new(*size),
            }),
            Real::View(v) => wgpu::BindingResource::TextureView(v),
        }
    }
}

impl<'g> Recorder<'g> {
    /// The steps a planning recording kept (its progress total).
    pub fn kept(&self) -> usize {
        match &self.alloc {
            Alloc::Planning { ops, .. } => ops.len(),
            _ => 0,
        }
    }

    /// The kept work of a planning recording as the out-of-core scheduler sees it, with
    /// `outputs` (the result's tensor) needed on the GPU at the end.
    pub fn program(&self, outputs: &Tensor) -> Result<Program> {
        let Alloc::Planning { log, ops, .. } = &self.alloc else {
            return Err(Error::Input("internal: not a planning recording".into()));
        };
        let log = log
            .lock()
            .map_err(|_| Error::Input("plan log poisoned".into()))?;
        let sizes = (log.events.iter())
            .filter_map(|e| match *e {
                PlanEvent::Take(size) => Some(size),
                PlanEvent::Free(_) => None,
            })
            .collect();
        Ok(Program {
            ops: ops.iter().map(Deferred::uses).collect(),
            sizes,
            outputs: outputs
                .requests()
                .map(<[usize]>::to_vec)
                .unwrap_or_default(),
        })
    }

    /// `t` of the planning recording this one ran, over its planned buffers.
    pub fn resolve(&self, t: &Tensor) -> Result<Tensor> {
        let (Alloc::Planned(planned), Some(ids)) = (&self.alloc, t.requests()) else {
            return Err(Error::Input(
                "internal: no planned tensor to resolve".into(),
            ));
        };
        let bufs = ids
            .iter()
            .map(|&req| planned.buffer_of(req))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::Input("internal: a tensor outside its plan".into()))?;
        Ok(t.over(bufs))
    }
}
