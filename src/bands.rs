//! Row banding: how many row bands a run needs so that no activation buffer exceeds the
//! device's binding limit. Bands are planned once per encode or decode, in latent rows; every
//! activation at scale `s` (`s` image rows per latent row) is split at `s` times those rows, so
//! a convolution's output band `i` reads only band `i` of its input plus one halo row each side.

use crate::error::{Error, Result};
use crate::weights::arch::{kl_layers, Layer, Resample};
use crate::weights::VaeConfig;

/// The largest channel count of any activation at each resolution, finest first, as the
/// model's description (`weights::arch`) has its modules: the encoder's and decoder's at that
/// scale and the resampling convolutions that write into it.
fn channels_per_scale(cfg: &VaeConfig) -> Vec<u64> {
    let n = cfg.block_out_channels.len();
    let layers = kl_layers(cfg);
    let mut ch = vec![0u64; n];
    let mut walk = |path: &[Layer], mut scale: usize| {
        for layer in path {
            let (cin, cout) = layer.channels();
            ch[scale] = ch[scale].max(cin as u64);
            if let Layer::Conv { resample, .. } = layer {
                scale = match resample {
                    Resample::Down => (scale + 1).min(n - 1),
                    Resample::Up => scale.saturating_sub(1),
                    Resample::Same => scale,
                };
            }
            ch[scale] = ch[scale].max(cout as u64);
        }
    };
    walk(&layers.encode, 0);
    walk(&layers.decode, n - 1);
    ch
}

/// Bytes a value of the activations at each resolution (finest first) takes: 4 for f32; with
/// `f16` activations 2, but at the latent's resolution, where attention's operands are f32.
fn value_bytes(n: usize, f16: bool) -> impl Fn(usize) -> u64 {
    move |i| if f16 && i + 1 < n { 2 } else { 4 }
}

/// Image rows (and columns) per latent row: 8 for the SD/SDXL VAEs.
pub fn image_scale(cfg: &VaeConfig) -> u32 {
    1 << cfg.block_out_channels.len().saturating_sub(1)
}

/// Band starts, in latent rows, for a latent of `h × w` such that every band's buffer — its own
/// rows plus halo rows — holds at most `limit` bytes at every scale (activations held as f16
/// pairs if `f16`). `[0]` (one band) when the whole tensors fit. `allowed_by` says whose limit
/// it is, for the error where no band fits.
pub fn starts(
    cfg: &VaeConfig,
    (h, w): (u32, u32),
    f16: bool,
    limit: u64,
    allowed_by: &'static str,
) -> Result<Vec<u32>> {
    let chans = channels_per_scale(cfg);
    let n = chans.len();
    let bytes = value_bytes(n, f16);
    // (value bytes × channels, scale) of every resolution: block i runs at scale 2^(n-1-i).
    let scales: Vec<(u64, u64)> = (chans.iter().enumerate())
        .map(|(i, &c)| (bytes(i) * c, 1u64 << (n - 1 - i)))
        .collect();
    let row_bytes = |c: u64, s: u64| c * s * w as u64;
    if scales
        .iter()
        .all(|&(c, s)| s * h as u64 * row_bytes(c, s) <= limit)
    {
        return Ok(vec![0]);
    }
    // Latent rows per band such that s·rows + 2 halo rows fit at every scale.
    let mut per_band = u64::MAX;
    for &(c, s) in &scales {
        let max_rows = limit / row_bytes(c, s);
        if max_rows < s + 2 {
            return Err(Error::TooLarge {
                what: format!(
                    "a row band of {} channels × {} pixels (image {}×{})",
                    c / if f16 && s > 1 { 2 } else { 4 },
                    s * w as u64,
                    w as u64 * image_scale(cfg) as u64,
                    h as u64 * image_scale(cfg) as u64
                ),
                needed: (s + 2) * row_bytes(c, s),
                limit,
                allowed_by,
            });
        }
        per_band = per_band.min((max_rows - 2) / s);
    }
    let bands = (h as u64).div_ceil(per_band);
    Ok((0..bands).map(|i| (i * h as u64 / bands) as u32).collect())
}

/// The smallest band limit [`starts`] accepts for a latent `w` wide: bands of one latent row.
pub fn finest_limit(cfg: &VaeConfig, w: u32, f16: bool) -> u64 {
    let chans = channels_per_scale(cfg);
    let n = chans.len();
    let bytes = value_bytes(n, f16);
    (chans.iter().enumerate())
        .map(|(i, &c)| {
            let s = 1u64 << (n - 1 - i);
            (s + 2) * bytes(i) * c * s * w as u64
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn sdxl_at_webgpu_default_limits() {
        let cfg = VaeConfig::sdxl();
        // 512²: the 256-channel 512² and 512-channel 256² activations are 256 and 128 MiB.
        assert_eq!(
            starts(&cfg, (32, 32), false, 128 * MIB, "this device").unwrap(),
            vec![0]
        );
        let p = starts(&cfg, (64, 64), false, 128 * MIB, "this device").unwrap();
        assert!(p.len() > 1, "{p:?}");
        // 1024²: band buffers of the 256-channel 1024-wide scale hold ≤ 128 rows.
        let p = starts(&cfg, (128, 128), false, 128 * MIB, "this device").unwrap();
        let rows = |i: usize| p.get(i + 1).copied().unwrap_or(128) - p[i];
        for i in 0..p.len() {
            let bytes = 4 * 256 * 1024 * (8 * rows(i) as u64 + 2);
            assert!(bytes <= 128 * MIB, "band {i}: {bytes}");
        }
        assert_eq!(p.len(), 9, "{p:?}");
        // f16 activations: half the bytes a row, half the bands (the latent scale's attention
        // stays f32 and is far from its limit).
        let p16 = starts(&cfg, (128, 128), true, 128 * MIB, "this device").unwrap();
        assert_eq!(p16.len(), 5, "{p16:?}");
        assert_eq!(
            starts(&cfg, (128, 128), false, 4096 * MIB, "this device").unwrap(),
            vec![0]
        );
    }

    #[test]
    fn too_wide_for_the_limit_is_an_error() {
        let cfg = VaeConfig::sdxl();
        let e = starts(&cfg, (16, 4096), false, 128 * MIB, "this device").unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    }
}
