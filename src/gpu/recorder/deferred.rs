//! A planning recording's work, kept with each activation named by its plan request, then
//! encoded once the plan's buffers exist ([`Recorder::realize`]): a call walks the model once.

use super::{Alloc, Bind, Recorder};
use crate::error::{Error, Result};
use crate::gpu::plan::{Plan, PlannedBuffers};
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

/// The stand-in views a planning recording hands out for the pool's textures, by slot.
pub(super) type StandIns = [wgpu::TextureView; 2];

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
        Bind::Texture(v) if *v == stand_ins[TextureSlot::Input as usize] => {
            Res::PoolTexture(TextureSlot::Input)
        }
        Bind::Texture(v) if *v == stand_ins[TextureSlot::Weights as usize] => {
            Res::PoolTexture(TextureSlot::Weights)
        }
        Bind::Texture(v) => Res::View(v.clone()),
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
    /// Encodes what this planning recording kept onto the buffers of `plan` (made from its log,
    /// or kept from an earlier call of the same shape) and the pool's textures at the sizes it
    /// asked for, in a recording whose later requests take from the pool and whose plan buffers
    /// go back to the pool when it is dropped.
    pub fn realize(self, plan: &Plan) -> Result<Recorder<'g>> {
        let Recorder {
            gpu,
            pool,
            alloc,
            transient,
            ..
        } = self;
        // The texture sizes are this recording's own: a kept plan may come from the same call
        // with other texture formats (f16 before an overflow).
        let Alloc::Planning {
            ops,
            textures: sizes,
            ..
        } = alloc
        else {
            return Err(Error::Input("internal: not a planning recording".into()));
        };
        let planned = PlannedBuffers::new(&pool, plan)?;
        planned.used_up();
        let mut textures: [Option<wgpu::TextureView>; 2] = [None, None];
        for slot in [TextureSlot::Input, TextureSlot::Weights] {
            let size = sizes[slot as usize];
            if size.iter().all(|&d| d > 0) {
                // Made once, at the largest size the call needs.
                textures[slot as usize] = Some(pool.texture(slot, size)?);
            }
        }
        let mut rec = Recorder::new(gpu, pool)?;
        // The planning recording's uploads are bound by the work encoded here.
        rec.transient.absorb(transient);
        let real = |r: Res| {
            Ok(match r {
                Res::Request { req, size } => match planned.buffer_of(req) {
                    Some(b) => Real::Buffer(b, Some(size)),
                    None => return Err(Error::Input(format!("internal: no buffer for {req}"))),
                },
                Res::Buffer(b, size) => Real::Buffer(b, size),
                Res::PoolTexture(slot) => match &textures[slot as usize] {
                    Some(v) => Real::View(v.clone()),
                    None => return Err(Error::Input("internal: an unplanned texture".into())),
                },
                Res::View(v) => Real::View(v),
            })
        };
        for op in ops {
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
        }
        rec.alloc = Alloc::Planned(planned);
        Ok(rec)
    }

    /// `t` of the planning recording this one realized, over its planned buffers.
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
