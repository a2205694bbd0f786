//! Multiply-add counts of the VAE's convolutions, linear layers and attention, derived from the
//! config, for throughput figures (GFLOP/s = 2 · multiply-adds / seconds). Norms and activations
//! are not counted.

use crate::weights::VaeConfig;

fn conv(cin: usize, cout: usize, k: usize, h: usize, w: usize) -> u64 {
    (cin * cout * k * k) as u64 * (h * w) as u64
}

fn resnet(cin: usize, cout: usize, h: usize, w: usize) -> u64 {
    let shortcut = if cin != cout {
        conv(cin, cout, 1, h, w)
    } else {
        0
    };
    conv(cin, cout, 3, h, w) + conv(cout, cout, 3, h, w) + shortcut
}

/// Two resnets and single-head attention: q, k, v, out projections, scores and weighted values.
fn mid(c: usize, h: usize, w: usize) -> u64 {
    let n = (h * w) as u64;
    2 * resnet(c, c, h, w) + 4 * (c * c) as u64 * n + 2 * n * n * c as u64
}

/// Encoder + `quant_conv` for an image of `h × w` (multiples of 8).
pub fn encode_macs(cfg: &VaeConfig, h: usize, w: usize) -> u64 {
    let ch = &cfg.block_out_channels;
    let (mut h, mut w) = (h, w);
    let mut m = conv(cfg.in_channels, ch[0], 3, h, w);
    let mut cin = ch[0];
    for (i, &c) in ch.iter().enumerate() {
        for j in 0..cfg.layers_per_block {
            m += resnet(if j == 0 { cin } else { c }, c, h, w);
        }
        cin = c;
        if i + 1 < ch.len() {
            (h, w) = (h / 2, w / 2);
            m += conv(c, c, 3, h, w);
        }
    }
    let moments = 2 * cfg.latent_channels;
    m + mid(cin, h, w) + conv(cin, moments, 3, h, w) + conv(moments, moments, 1, h, w)
}

/// `post_quant_conv` + decoder for a latent of `h × w`.
pub fn decode_macs(cfg: &VaeConfig, h: usize, w: usize) -> u64 {
    let ch = &cfg.block_out_channels;
    let (lat, top) = (cfg.latent_channels, ch[ch.len() - 1]);
    let (mut h, mut w) = (h, w);
    let mut m = conv(lat, lat, 1, h, w) + conv(lat, top, 3, h, w) + mid(top, h, w);
    let mut cin = top;
    for (i, &c) in ch.iter().rev().enumerate() {
        for j in 0..=cfg.layers_per_block {
            m += resnet(if j == 0 { cin } else { c }, c, h, w);
        }
        cin = c;
        if i + 1 < ch.len() {
            (h, w) = (2 * h, 2 * w);
            m += conv(c, c, 3, h, w);
        }
    }
    m + conv(cin, cfg.out_channels, 3, h, w)
}

#[cfg(test)]
mod tests {
    use super::*;

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
