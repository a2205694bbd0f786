//! Naive CPU twins of every GPU kernel, written for clarity, used by the tests as references.
//! Tensors are `[c, h, w]` f32 slices; sums in f64.

use crate::kernels::conv2d::{out_size, ConvMode};

/// Reference convolution: PyTorch `weight [cout, cin, k, k]`, `bias [cout]`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    x: &[f32],
    (cin, h, w): (usize, usize, usize),
    weight: &[f32],
    bias: &[f32],
    cout: usize,
    k: usize,
    mode: ConvMode,
    residual: Option<&[f32]>,
) -> Vec<f32> {
    let (oh, ow) = out_size(mode, h as u32, w as u32);
    let (oh, ow) = (oh as usize, ow as usize);
    // The logical input: nearest-upsampled for `Up`; zero outside (padding).
    let (lh, lw) = if mode == ConvMode::Up {
        (2 * h, 2 * w)
    } else {
        (h, w)
    };
    let at = |c: usize, y: i64, xx: i64| -> f64 {
        if y < 0 || xx < 0 || y >= lh as i64 || xx >= lw as i64 {
            return 0.0;
        }
        let (y, xx) = if mode == ConvMode::Up {
            (y as usize / 2, xx as usize / 2)
        } else {
            (y as usize, xx as usize)
        };
        x[(c * h + y) * w + xx] as f64
    };
    let (stride, pad) = match mode {
        ConvMode::Down => (2i64, 0i64),
        ConvMode::DownPad1 => (2, (k as i64 - 1) / 2),
        ConvMode::Same | ConvMode::Up => (1, (k as i64 - 1) / 2),
    };
    let mut out = vec![0f32; cout * oh * ow];
    for o in 0..cout {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut s = bias[o] as f64;
                for i in 0..cin {
                    for ky in 0..k {
                        for kx in 0..k {
                            let wv = weight[((o * cin + i) * k + ky) * k + kx] as f64;
                            s += wv
                                * at(
                                    i,
                                    oy as i64 * stride + ky as i64 - pad,
                                    ox as i64 * stride + kx as i64 - pad,
                                );
                        }
                    }
                }
                let idx = (o * oh + oy) * ow + ox;
                out[idx] = (s + residual.map_or(0.0, |r| r[idx] as f64)) as f32;
            }
        }
    }
    out
}

/// Reference GroupNorm (two-pass statistics in f64), optional SiLU.
#[allow(clippy::too_many_arguments)]
pub fn group_norm(
    x: &[f32],
    c: usize,
    pixels: usize,
    groups: usize,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    silu: bool,
) -> Vec<f32> {
    let per = c / groups * pixels;
    let mut out = vec![0f32; x.len()];
    for g in 0..groups {
        let xs = &x[g * per..(g + 1) * per];
        let mean = xs.iter().map(|&v| v as f64).sum::<f64>() / per as f64;
        let var = xs.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / per as f64;
        let rstd = 1.0 / (var + eps as f64).sqrt();
        for (i, &v) in xs.iter().enumerate() {
            let ch = (g * per + i) / pixels;
            let y = (v as f64 - mean) * rstd * gamma[ch] as f64 + beta[ch] as f64;
            out[g * per + i] = if silu {
                (y / (1.0 + (-y).exp())) as f32
            } else {
                y as f32
            };
        }
    }
    out
}

/// Reference channel RMS norm (Qwen-Image's `F.normalize` over channels · √C · gamma, then SiLU
/// when `silu`) of `[c, pixels]` values.
pub fn rms_norm(x: &[f32], c: usize, pixels: usize, gamma: &[f32], silu: bool) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for i in 0..pixels {
        let ss: f64 = (0..c).map(|ch| (x[ch * pixels + i] as f64).powi(2)).sum();
        let s = (c as f64).sqrt() / ss.sqrt().max(1e-12);
        for ch in 0..c {
            let y = x[ch * pixels + i] as f64 * s * gamma[ch] as f64;
            out[ch * pixels + i] = if silu {
                (y / (1.0 + (-y).exp())) as f32
            } else {
                y as f32
            };
        }
    }
    out
}

/// Reference single-head attention over `[c, n]` q, k, v (softmax in f64).
pub fn attention(q: &[f32], k: &[f32], v: &[f32], c: usize, n: usize) -> Vec<f32> {
    let scale = 1.0 / (c as f64).sqrt();
    let mut out = vec![0f32; c * n];
    let mut s = vec![0f64; n];
    for i in 0..n {
        for (j, sj) in s.iter_mut().enumerate() {
            *sj = (0..c)
                .map(|ch| q[ch * n + i] as f64 * k[ch * n + j] as f64)
                .sum::<f64>()
                * scale;
        }
        let m = s.iter().cloned().fold(f64::MIN, f64::max);
        let l: f64 = s.iter().map(|&x| (x - m).exp()).sum();
        for ch in 0..c {
            let acc: f64 = (0..n)
                .map(|j| (s[j] - m).exp() * v[ch * n + j] as f64)
                .sum();
            out[ch * n + i] = (acc / l) as f32;
        }
    }
    out
}

/// Reference RGBA8 → `[3, ph, pw]` in [−1, 1] with edge replication.
pub fn image_to_tensor(rgba: &[u8], w: usize, h: usize, pw: usize, ph: usize) -> Vec<f32> {
    let mut out = vec![0f32; 3 * pw * ph];
    for c in 0..3 {
        for y in 0..ph {
            for x in 0..pw {
                let v = rgba[(y.min(h - 1) * w + x.min(w - 1)) * 4 + c];
                out[(c * ph + y) * pw + x] = v as f32 / 127.5 - 1.0;
            }
        }
    }
    out
}

/// Reference `[3, sh, sw]` → RGBA8 cropped to `w × h`: round-half-even(clamp((x+1)/2)·255).
pub fn tensor_to_image(x: &[f32], sw: usize, sh: usize, w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![255u8; 4 * w * h];
    for y in 0..h {
        for xx in 0..w {
            for c in 0..3 {
                let v = (x[(c * sh + y) * sw + xx] / 2.0 + 0.5).clamp(0.0, 1.0);
                out[(y * w + xx) * 4 + c] = (v * 255.0).round_ties_even() as u8;
            }
        }
    }
    out
}

fn pcg(v: u32) -> u32 {
    let state = v.wrapping_mul(747796405).wrapping_add(2891336453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
    (word >> 22) ^ word
}

fn uniform(x: u32) -> f64 {
    ((x >> 8) + 1) as f64 / 16777216.0
}

/// Reference posterior over `[2c, pixels]` moments: the mean, or the seeded sample the GPU draws.
pub fn posterior(moments: &[f32], c: usize, pixels: usize, seed: Option<u64>) -> Vec<f32> {
    let total = c * pixels;
    (0..total)
        .map(|i| {
            let mean = moments[i] as f64;
            let Some(s) = seed else { return mean as f32 };
            let logvar = (moments[total + i] as f64).clamp(-30.0, 20.0);
            let h = pcg(pcg(i as u32 ^ pcg(s as u32)) ^ (s >> 32) as u32);
            let (u1, u2) = (uniform(pcg(h)), uniform(pcg(h ^ 0x9e37_79b9)));
            let eps = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            (mean + (0.5 * logvar).exp() * eps) as f32
        })
        .collect()
}
