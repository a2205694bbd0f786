//! What a model's calls hold as f16 now, and how its convolutions share weight fetches.

use super::{Precision, Vae};
use crate::gpu::Halves;
use crate::kernels::Staging;
use std::sync::atomic::Ordering;

impl Vae {
    /// How the convolutions of wide rows share their weight fetches on this adapter (see
    /// [`Staging`]; docs/kernels.md).
    pub fn conv_staging(&self) -> Staging {
        let h = self.halves();
        let f16 = h.textures;
        self.kernels.conv(f16, f16, u32::MAX, h.store).1.staging
    }

    /// Which operands calls hold as f16 now.
    pub(super) fn halves(&self) -> Halves {
        let bits = self.halves.load(Ordering::Relaxed);
        Halves {
            textures: bits & 1 != 0,
            store: bits & 2 != 0,
        }
    }

    pub(super) fn set_halves(&self, h: Halves) {
        self.halves.store(bits(h), Ordering::Relaxed);
    }

    /// Whether activations are held as f16 now: loaded at f16 precision, and none has exceeded
    /// f16's range yet (then they are f32 from that call on, while [`Vae::precision`] may
    /// stay f16).
    pub fn f16_activations(&self) -> bool {
        self.halves().store
    }

    /// What the convolutions read now: [`Precision::F16`] if loaded so and no input has
    /// exceeded f16's range yet; after one has, its call ran again with f32 inputs and every
    /// later call uses them too (the weights stay as loaded).
    pub fn precision(&self) -> Precision {
        if self.halves().textures {
            Precision::F16
        } else {
            Precision::F32
        }
    }
}

/// `h` as the bits `Vae::halves` holds: 1 textures, 2 activations.
pub(super) fn bits(h: Halves) -> u8 {
    h.textures as u8 | (h.store as u8) << 1
}
