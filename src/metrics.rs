//! Image quality metrics for judging a round trip: PSNR and SSIM computed as scikit-image computes
//! them (`peak_signal_noise_ratio(data_range=255)` and `structural_similarity(gaussian_weights=True,
//! sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1)`), so the numbers are
//! comparable with published evaluations of VAEs. Both work on the RGB channels; alpha is ignored.

use crate::api::Image;
use crate::error::{Error, Result};

/// The value range of an 8-bit channel.
const DATA_RANGE: f64 = 255.0;
/// Standard deviation of SSIM's Gaussian window (Wang et al. 2004).
const SSIM_SIGMA: f64 = 1.5;
/// Window radius: scipy's `int(truncate · σ + 0.5)` with skimage's truncate 3.5, an 11-tap window.
const SSIM_RADIUS: usize = 5;
/// SSIM's stabilising constants, `C1 = (K1·L)²`, `C2 = (K2·L)²`.
const SSIM_K1: f64 = 0.01;
const SSIM_K2: f64 = 0.03;

/// Peak signal-to-noise ratio in dB over the RGB channels; `f64::INFINITY` for identical images.
pub fn psnr(a: &Image, b: &Image) -> Result<f64> {
    check_pair(a, b)?;
    let mut sse = 0.0f64;
    for (pa, pb) in a.rgba.chunks_exact(4).zip(b.rgba.chunks_exact(4)) {
        for c in 0..3 {
            let d = f64::from(pa[c]) - f64::from(pb[c]);
            sse += d * d;
        }
    }
    if sse == 0.0 {
        return Ok(f64::INFINITY);
    }
    let mse = sse / (3.0 * f64::from(a.width) * f64::from(a.height));
    Ok(10.0 * (DATA_RANGE * DATA_RANGE / mse).log10())
}

/// Mean structural similarity, averaged over R, G and B. Both sides must be at least 11 pixels
/// (the window size), as scikit-image requires.
pub fn ssim(a: &Image, b: &Image) -> Result<f64> {
    check_pair(a, b)?;
    let win = 2 * SSIM_RADIUS + 1;
    let (w, h) = (a.width as usize, a.height as usize);
    if w < win || h < win {
        return Err(Error::Image(format!(
            "SSIM needs images of at least {win}x{win} pixels, got {w}x{h}"
        )));
    }
    let kernel = gaussian_kernel();
    let mut total = 0.0;
    for c in 0..3 {
        total += ssim_channel(&channel(a, c), &channel(b, c), w, h, &kernel);
    }
    Ok(total / 3.0)
}

/// Mean and population standard deviation (numpy's default `ddof=0`); NaN for an empty slice.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

fn check_pair(a: &Image, b: &Image) -> Result<()> {
    if (a.width, a.height) != (b.width, b.height) {
        return Err(Error::Image(format!(
            "cannot compare images of different sizes: {}x{} and {}x{}",
            a.width, a.height, b.width, b.height
        )));
    }
    for im in [a, b] {
        let expected = im.width as usize * im.height as usize * 4;
        if im.rgba.len() != expected {
            return Err(Error::Image(format!(
                "a {}x{} RGBA image needs {expected} bytes, got {}",
                im.width,
                im.height,
                im.rgba.len()
            )));
        }
    }
    if a.width == 0 || a.height == 0 {
        return Err(Error::Image(format!(
            "cannot compare empty images ({}x{})",
            a.width, a.height
        )));
    }
    Ok(())
}

/// One channel as f64, row-major `[h, w]`.
fn channel(im: &Image, c: usize) -> Vec<f64> {
    im.rgba.chunks_exact(4).map(|p| f64::from(p[c])).collect()
}

/// scipy's `_gaussian_kernel1d`: `exp(-x²/2σ²)` for x in −r..=r, normalised to sum 1.
fn gaussian_kernel() -> Vec<f64> {
    let r = SSIM_RADIUS as f64;
    let taps: Vec<f64> = (0..=2 * SSIM_RADIUS)
        .map(|i| {
            let x = i as f64 - r;
            (-0.5 * x * x / (SSIM_SIGMA * SSIM_SIGMA)).exp()
        })
        .collect();
    let sum: f64 = taps.iter().sum();
    taps.into_iter().map(|t| t / sum).collect()
}

/// SSIM of one channel, averaged over the pixels whose window lies inside the image. skimage
/// filters the whole image (reflect padding) and then crops `(win − 1)/2` from each border, which
/// discards exactly the pixels whose window touches the padding, so only full windows are computed.
fn ssim_channel(x: &[f64], y: &[f64], w: usize, h: usize, kernel: &[f64]) -> f64 {
    let product =
        |p: &[f64], q: &[f64]| -> Vec<f64> { p.iter().zip(q).map(|(a, b)| a * b).collect() };
    let ux = filter_valid(x, w, h, kernel);
    let uy = filter_valid(y, w, h, kernel);
    let uxx = filter_valid(&product(x, x), w, h, kernel);
    let uyy = filter_valid(&product(y, y), w, h, kernel);
    let uxy = filter_valid(&product(x, y), w, h, kernel);
    let c1 = (SSIM_K1 * DATA_RANGE).powi(2);
    let c2 = (SSIM_K2 * DATA_RANGE).powi(2);
    let mut sum = 0.0;
    for i in 0..ux.len() {
        let (mx, my) = (ux[i], uy[i]);
        let vx = uxx[i] - mx * mx;
        let vy = uyy[i] - my * my;
        let vxy = uxy[i] - mx * my;
        let num = (2.0 * mx * my + c1) * (2.0 * vxy + c2);
        let den = (mx * mx + my * my + c1) * (vx + vy + c2);
        sum += num / den;
    }
    sum / ux.len() as f64
}

/// Separable Gaussian-weighted mean over every full window: `[h, w]` in, `[h − 2r, w − 2r]` out.
fn filter_valid(img: &[f64], w: usize, h: usize, kernel: &[f64]) -> Vec<f64> {
    let taps = kernel.len();
    let ow = w + 1 - taps;
    let oh = h + 1 - taps;
    let mut rows = vec![0.0; h * ow];
    for yy in 0..h {
        let src = &img[yy * w..(yy + 1) * w];
        for xx in 0..ow {
            rows[yy * ow + xx] = kernel
                .iter()
                .zip(&src[xx..xx + taps])
                .map(|(k, v)| k * v)
                .sum();
        }
    }
    let mut out = vec![0.0; oh * ow];
    for yy in 0..oh {
        for xx in 0..ow {
            out[yy * ow + xx] = kernel
                .iter()
                .enumerate()
                .map(|(t, k)| k * rows[(yy + t) * ow + xx])
                .sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, f: impl Fn(u32, u32, u32) -> u8) -> Image {
        let mut rgba = Vec::with_capacity((w * h * 4) as usize);
        for y in 0..h {
            for x in 0..w {
                rgba.extend([f(x, y, 0), f(x, y, 1), f(x, y, 2), 255]);
            }
        }
        Image {
            width: w,
            height: h,
            rgba,
        }
    }

    /// The pair of the scikit-image reference below.
    fn reference_pair() -> (Image, Image) {
        let base = |x: u32, y: u32, c: u32| (x * x * 3 + x * y + y * 17 + c * 71) % 256;
        let a = image(16, 13, |x, y, c| base(x, y, c) as u8);
        let b = image(16, 13, |x, y, c| {
            let v = base(x, y, c) as i64 + i64::from((x * 7 + y * 13 + c * 5) % 61) - 30;
            v.clamp(0, 255) as u8
        });
        (a, b)
    }

    // Reference values from scikit-image 0.26.0 (numpy 2), for the pair built by `reference_pair`:
    //   import numpy as np
    //   from skimage.metrics import structural_similarity, peak_signal_noise_ratio
    //   h, w = 13, 16
    //   y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    //   a = ((x * x * 3 + x * y + y * 17 + c * 71) % 256).astype(np.uint8)
    //   b = np.clip(a.astype(int) + (x * 7 + y * 13 + c * 5) % 61 - 30, 0, 255).astype(np.uint8)
    //   print(peak_signal_noise_ratio(a, b, data_range=255))
    //   print(structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
    //         use_sample_covariance=False, data_range=255, channel_axis=2))
    #[test]
    fn matches_scikit_image() {
        let (a, b) = reference_pair();
        let p = psnr(&a, &b).expect("psnr");
        let s = ssim(&a, &b).expect("ssim");
        assert!((p - 23.55559944589523).abs() < 1e-6, "psnr {p}");
        assert!((s - 0.9726451161538158).abs() < 1e-6, "ssim {s}");
    }

    #[test]
    fn identical_images() {
        let (a, _) = reference_pair();
        assert_eq!(psnr(&a, &a).expect("psnr"), f64::INFINITY);
        assert!((ssim(&a, &a).expect("ssim") - 1.0).abs() < 1e-12);
    }

    #[test]
    fn alpha_is_ignored() {
        let (a, _) = reference_pair();
        let mut b = a.clone();
        b.rgba.iter_mut().skip(3).step_by(4).for_each(|v| *v = 7);
        assert_eq!(psnr(&a, &b).expect("psnr"), f64::INFINITY);
        assert!((ssim(&a, &b).expect("ssim") - 1.0).abs() < 1e-12);
    }

    /// One channel of one pixel off by the full range: MSE = 255²/(3·16), PSNR = 10·log10(48).
    #[test]
    fn psnr_single_pixel() {
        let a = image(4, 4, |_, _, _| 0);
        let b = image(4, 4, |x, y, c| if (x, y, c) == (2, 1, 0) { 255 } else { 0 });
        let p = psnr(&a, &b).expect("psnr");
        assert!((p - 10.0 * 48f64.log10()).abs() < 1e-12, "psnr {p}");
    }

    /// Constant images have zero variance, so SSIM reduces to the luminance term
    /// `(2·μx·μy + C1) / (μx² + μy² + C1)`.
    #[test]
    fn ssim_constant_images() {
        let a = image(12, 11, |_, _, _| 100);
        let b = image(12, 11, |_, _, _| 150);
        let c1 = (0.01f64 * 255.0).powi(2);
        let expected = (2.0 * 100.0 * 150.0 + c1) / (100.0f64.powi(2) + 150.0f64.powi(2) + c1);
        let s = ssim(&a, &b).expect("ssim");
        assert!(
            (s - expected).abs() < 1e-12,
            "ssim {s}, expected {expected}"
        );
    }

    #[test]
    fn symmetric() {
        let (a, b) = reference_pair();
        assert_eq!(psnr(&a, &b).expect("psnr"), psnr(&b, &a).expect("psnr"));
        let (s1, s2) = (ssim(&a, &b).expect("ssim"), ssim(&b, &a).expect("ssim"));
        assert!((s1 - s2).abs() < 1e-15);
    }

    /// More noise must score lower on both metrics.
    #[test]
    fn noise_lowers_scores() {
        let clean = image(24, 20, |x, y, c| (x * 9 + y * 5 + c * 40) as u8);
        let noisy = |amp: i64| {
            image(24, 20, |x, y, c| {
                let h =
                    ((u64::from(x) * 2654435761) ^ (u64::from(y) * 40503) ^ (u64::from(c) * 97))
                        % 1000;
                let v =
                    i64::from((x * 9 + y * 5 + c * 40) as u8) + (h as i64 * amp / 1000) - amp / 2;
                v.clamp(0, 255) as u8
            })
        };
        let (n1, n2) = (noisy(10), noisy(60));
        let s1 = ssim(&clean, &n1).expect("ssim");
        let s2 = ssim(&clean, &n2).expect("ssim");
        assert!(1.0 > s1 && s1 > s2, "ssim {s1} then {s2}");
        assert!(psnr(&clean, &n1).expect("psnr") > psnr(&clean, &n2).expect("psnr"));
    }

    #[test]
    fn size_mismatch_names_both_sizes() {
        let a = image(16, 13, |_, _, _| 0);
        let b = image(13, 16, |_, _, _| 0);
        for err in [psnr(&a, &b).unwrap_err(), ssim(&a, &b).unwrap_err()] {
            let msg = err.to_string();
            assert!(msg.contains("16x13") && msg.contains("13x16"), "{msg}");
        }
    }

    #[test]
    fn ssim_needs_a_full_window() {
        let a = image(10, 40, |_, _, _| 0);
        let msg = ssim(&a, &a).unwrap_err().to_string();
        assert!(msg.contains("11x11") && msg.contains("10x40"), "{msg}");
    }

    #[test]
    fn mean_and_population_std() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - 1.25f64.sqrt()).abs() < 1e-15);
        assert!(mean_std(&[]).0.is_nan());
    }
}
