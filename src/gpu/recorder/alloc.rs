//! What a recording gives its kernels to write into: new tensors (requests logged while
//! planning, the plan's buffers once it runs), the pool's textures, the overflow flag.

use super::{Alloc, Recorder};
use crate::error::Result;
use crate::gpu::tensor::BufferSource;
use crate::gpu::{Tensor, TextureSlot};

impl Recorder<'_> {
    /// A new f32 tensor of shape `[c, h, w]` in one buffer.
    pub fn tensor(&self, c: u32, h: u32, w: u32, what: &str) -> Result<Tensor> {
        self.tensor_banded([c, h, w], false, &[0], what)
    }

    /// A new tensor of `shape` (f16 pairs if `f16`) in row bands starting at `starts`.
    pub fn tensor_banded(
        &self,
        shape: [u32; 3],
        f16: bool,
        starts: &[u32],
        what: &str,
    ) -> Result<Tensor> {
        let source = match &self.alloc {
            Alloc::Planning { log, stand_in, .. } => BufferSource::Planning(log, stand_in),
            Alloc::Planned(p) => BufferSource::Planned(p),
        };
        Tensor::banded_from(&self.pool, &source, shape, f16, starts, what)
    }

    /// The pool's texture of `slot`, at least `size` (width, height, layers): see
    /// `BufferPool::texture`. A planning recording notes the size and allocates nothing.
    pub fn texture(&mut self, slot: TextureSlot, size: [u32; 3]) -> Result<wgpu::TextureView> {
        if let Alloc::Planning {
            textures,
            stand_ins,
            ..
        } = &mut self.alloc
        {
            let t = &mut textures[slot as usize];
            *t = [0, 1, 2].map(|i| t[i].max(size[i]));
            return Ok(stand_ins[slot as usize].clone());
        }
        self.pool.texture(slot, size, self.halves.textures)
    }

    /// The flag this call's kernels set where a value exceeds f16's range (the pool's), for an
    /// f16 call.
    pub fn overflow_flag(&self) -> Result<Option<wgpu::Buffer>> {
        self.halves
            .textures
            .then(|| self.pool.overflow_flag())
            .transpose()
    }
}
