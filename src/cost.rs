//! Multiply-add counts of the VAE's convolutions, linear layers and attention, read off the
//! model's description (`weights::arch`'s layers, a tiny autoencoder's layer list), for
//! throughput figures (GFLOP/s = 2 · multiply-adds / seconds). Norms and activations are not
//! counted.

use crate::weights::arch::{kl_layers, layers_macs};
use crate::weights::frames::{plan, Make};
use crate::weights::tiny::{Layer, POOL_CHANNELS, TINY_CHANNELS};
use crate::weights::{ModelInfo, VaeConfig};

/// Multiply-adds of an encode of an `h × w` image (multiples of 8) and of a decode of its
/// latent, for whichever model `info` describes.
pub fn model_macs(info: &ModelInfo, h: usize, w: usize) -> (u64, u64) {
    match &info.tiny {
        Some(t) => {
            let frames = t.video.map_or(1, |v| v.frames());
            (
                tiny_macs(&t.encoder_layers(), frames, h, w),
                tiny_macs(&t.decoder_layers(), 1, h / 8, w / 8),
            )
        }
        None => (
            encode_macs(&info.config, h, w),
            decode_macs(&info.config, h / 8, w / 8),
        ),
    }
}

/// A tiny autoencoder half's layers on an `h × w` input from `frames` copies of it, counting
/// what runs ([`plan`]: each distinct tensor once, only what the last frame needs): stride-2
/// convs halve the size, upsamples double it (a TAEHV `TGrow`, a 1×1 conv, runs before the
/// upsampling it follows); a block is three 3×3 convs (its skip is the identity), a `MemBlock`
/// a fourth for the past where it has one.
fn tiny_macs(layers: &[Layer], frames: usize, h: usize, w: usize) -> u64 {
    let (mut h, mut w) = (h, w);
    let mut up = false;
    let mut m = 0;
    for (layer, plan) in layers.iter().zip(plan(layers, frames)) {
        let made = plan.make.iter().flatten();
        let each = |m: &Make| match (*layer, m) {
            (Layer::Mem(c), Make::Mem { past, .. }) => {
                (3 + u64::from(past.is_some())) * (c * c * 9) as u64
            }
            (Layer::Pool(c, _), Make::Join(group)) => (group.len() * c * c) as u64,
            (Layer::Grow(c, ..), _) => (c * c) as u64,
            (Layer::Block(pooled), _) => {
                let c = TINY_CHANNELS;
                (3 * c * c * 9 + usize::from(pooled) * 2 * c * POOL_CHANNELS) as u64
            }
            (Layer::Conv(cin, cout, ..), _) => (cin * cout * 9) as u64,
            _ => 0,
        };
        if let Layer::Conv(_, _, _, stride2) = *layer {
            if stride2 {
                (h, w) = (h.div_ceil(2), w.div_ceil(2));
            }
            if std::mem::take(&mut up) {
                (h, w) = (2 * h, 2 * w);
            }
        }
        if *layer == Layer::Upsample {
            up = true;
        }
        m += made.map(each).sum::<u64>() * (h * w) as u64;
    }
    m
}

/// Encoder + `quant_conv` for an image of `h × w` (multiples of 8).
pub fn encode_macs(cfg: &VaeConfig, h: usize, w: usize) -> u64 {
    layers_macs(&kl_layers(cfg).encode, (h, w))
}

/// `post_quant_conv` + decoder for a latent of `h × w`.
pub fn decode_macs(cfg: &VaeConfig, h: usize, w: usize) -> u64 {
    layers_macs(&kl_layers(cfg).decode, (h, w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::taehv;
    use crate::weights::tiny::{decoder_layers, encoder_layers, Video};

    /// Counted by hand from taehv.py for one 512² image: the encoder's four copies are one
    /// tensor until the first MemBlock, which makes two (no past, and itself as its past) until
    /// the second pool joins them. The decoder's second TGrow makes two frames at half size (the
    /// second's blocks read the first's past) and its third four at full size, of which only the
    /// kept last is made; each TGrow runs at the size before its upsampling, and no block runs at
    /// full size.
    #[test]
    fn taehv_work_is_counted_as_one_image_runs() {
        let v = Video::TAEW2_1;
        let at = |s: usize| (s * s) as u64;
        let k3 = |i: usize, o: usize| (i * o * 9) as u64;
        let k1 = |i: usize, o: usize| (i * o) as u64;
        let c = k3(64, 64);
        let enc = k3(3, 64) * at(512)
            + 2 * k1(64, 64) * at(512)
            + (c + 3 * 7 * c + 2 * k1(64, 64)) * at(256)
            + (c + 9 * c + k1(64, 64)) * at(128)
            + (c + 9 * c + k3(64, 16)) * at(64);
        let dec = (k3(16, 256) + 9 * k3(256, 256) + k1(256, 256)) * at(64)
            + (k3(256, 128) + 9 * k3(128, 128) + 2 * k1(128, 128)) * at(128)
            // Two frames' convs; blocks: 3 for the first frame's and 4 for the second's, in each
            // of the first two, but only the second frame's in the last (what the kept frame reads).
            + (2 * k3(128, 64) + (7 + 7 + 4) * c + k1(64, 64)) * at(256)
            + (k3(64, 64) + k3(64, 3)) * at(512);
        let layers = taehv::encoder_layers(16, &v);
        assert_eq!(tiny_macs(&layers, v.frames(), 512, 512), enc);
        assert_eq!(tiny_macs(&taehv::decoder_layers(16, &v), 1, 64, 64), dec);
    }

    /// Counted by hand from taesd.py: the encoder is a 3→64 conv at full size, then per scale a
    /// stride-2 conv and 1/3/3/3 blocks of three convs; the decoder mirrors it.
    #[test]
    fn tiny_work_is_counted_layer_by_layer() {
        let c = 64 * 64 * 9;
        let at = |s: usize| (s * s) as u64;
        let enc = (3 * 64 * 9) as u64 * at(512)
            + 3 * c as u64 * at(512)
            + (c as u64 + 9 * c as u64) * at(256)
            + (c as u64 + 9 * c as u64) * at(128)
            + (c as u64 + 9 * c as u64) * at(64)
            + (64 * 4 * 9) as u64 * at(64);
        let dec = (4 * 64 * 9) as u64 * at(64)
            + 9 * c as u64 * at(64)
            + (c as u64 + 9 * c as u64) * at(128)
            + (c as u64 + 9 * c as u64) * at(256)
            + (c as u64 + 3 * c as u64) * at(512)
            + (64 * 3 * 9) as u64 * at(512);
        assert_eq!(tiny_macs(&encoder_layers(4, false), 1, 512, 512), enc);
        assert_eq!(tiny_macs(&decoder_layers(4, false), 1, 64, 64), dec);
        // The encoder is about a ninth of SDXL's (61 vs 558 G multiply-adds at 512²), the
        // decoder about a twelfth.
        let full = encode_macs(&VaeConfig::sdxl(), 512, 512);
        assert!(
            enc * 8 < full && enc * 10 > full,
            "tiny {enc} vs full {full}"
        );
        let full = decode_macs(&VaeConfig::sdxl(), 64, 64);
        assert!(dec * 8 < full, "tiny {dec} vs full {full}");
    }

    /// The work table of the design notes: SDXL at 256², 512², 1024² (TFLOP, two per multiply-add).
    #[test]
    fn sdxl_work_matches_the_design_table() {
        let cfg = VaeConfig::sdxl();
        for (size, enc, dec) in [(256, 0.27, 0.62), (512, 1.12, 2.51), (1024, 4.88, 10.47)] {
            let e = 2.0 * encode_macs(&cfg, size, size) as f64 / 1e12;
            let d = 2.0 * decode_macs(&cfg, size / 8, size / 8) as f64 / 1e12;
            assert!(
                (e / enc - 1.0).abs() < 0.03,
                "{size}²: encode {e:.3} TFLOP, table {enc}"
            );
            assert!(
                (d / dec - 1.0).abs() < 0.03,
                "{size}²: decode {d:.3} TFLOP, table {dec}"
            );
        }
    }
}
