//! Image-quality metrics of `test`, computed on the saved 8-bit images scaled to [0, 1]:
//! mean absolute error (L1), PSNR and SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5,
//! K1 0.01, K2 0.03, averaged over channels).

use image::RgbImage;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageMetrics {
    pub l1: f64,
    pub psnr: f64,
    pub ssim: f64,
}

impl ImageMetrics {
    /// Compares `output` with `target` (same size).
    pub fn compare(output: &RgbImage, target: &RgbImage) -> Self {
        assert_eq!(
            output.dimensions(),
            target.dimensions(),
            "images differ in size"
        );
        let (mut abs, mut sq) = (0.0f64, 0.0f64);
        for (a, b) in output.as_raw().iter().zip(target.as_raw()) {
            let d = (*a as f64 - *b as f64) / 255.0;
            abs += d.abs();
            sq += d * d;
        }
        let n = output.as_raw().len() as f64;
        let mse = sq / n;
        let psnr = if mse == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (1.0 / mse).log10()
        };
        let ssim = (0..3).map(|c| ssim_channel(output, target, c)).sum::<f64>() / 3.0;
        Self {
            l1: abs / n,
            psnr,
            ssim,
        }
    }

    /// Means over images; PSNR of identical pairs (infinite) is left out of its mean.
    pub fn mean(all: &[ImageMetrics]) -> ImageMetrics {
        if all.is_empty() {
            return ImageMetrics::default();
        }
        let n = all.len() as f64;
        let finite: Vec<f64> = all
            .iter()
            .map(|m| m.psnr)
            .filter(|p| p.is_finite())
            .collect();
        ImageMetrics {
            l1: all.iter().map(|m| m.l1).sum::<f64>() / n,
            psnr: if finite.is_empty() {
                f64::INFINITY
            } else {
                finite.iter().sum::<f64>() / finite.len() as f64
            },
            ssim: all.iter().map(|m| m.ssim).sum::<f64>() / n,
        }
    }
}

const WINDOW: usize = 11;
const SIGMA: f64 = 1.5;

fn gaussian_window() -> [f64; WINDOW] {
    let mut w = [0.0; WINDOW];
    let center = (WINDOW / 2) as f64;
    for (i, v) in w.iter_mut().enumerate() {
        *v = (-((i as f64 - center).powi(2)) / (2.0 * SIGMA * SIGMA)).exp();
    }
    let sum: f64 = w.iter().sum();
    w.map(|v| v / sum)
}

/// Separable Gaussian filtering of a plane, 'valid' region only (as skimage / the reference).
fn filter(
    plane: &[f64],
    width: usize,
    height: usize,
    kernel: &[f64; WINDOW],
) -> (Vec<f64>, usize, usize) {
    let (ow, oh) = (width + 1 - WINDOW, height + 1 - WINDOW);
    let mut rows = vec![0.0; ow * height];
    for y in 0..height {
        for x in 0..ow {
            rows[y * ow + x] = (0..WINDOW)
                .map(|k| kernel[k] * plane[y * width + x + k])
                .sum();
        }
    }
    let mut out = vec![0.0; ow * oh];
    for y in 0..oh {
        for x in 0..ow {
            out[y * ow + x] = (0..WINDOW)
                .map(|k| kernel[k] * rows[(y + k) * ow + x])
                .sum();
        }
    }
    (out, ow, oh)
}

fn ssim_channel(a: &RgbImage, b: &RgbImage, channel: usize) -> f64 {
    let (width, height) = (a.width() as usize, a.height() as usize);
    let plane = |img: &RgbImage| -> Vec<f64> {
        img.pixels().map(|p| p.0[channel] as f64 / 255.0).collect()
    };
    let (x, y) = (plane(a), plane(b));
    if width < WINDOW || height < WINDOW {
        // Too small for the window: SSIM over the whole image as one window.
        return ssim_from_moments(&x, &y);
    }
    let kernel = gaussian_window();
    let product = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(u, v)| u * v).collect::<Vec<f64>>();
    let (mx, ow, oh) = filter(&x, width, height, &kernel);
    let (my, ..) = filter(&y, width, height, &kernel);
    let (mxx, ..) = filter(&product(&x, &x), width, height, &kernel);
    let (myy, ..) = filter(&product(&y, &y), width, height, &kernel);
    let (mxy, ..) = filter(&product(&x, &y), width, height, &kernel);
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let total: f64 = (0..ow * oh)
        .map(|i| {
            let (vx, vy, cxy) = (
                mxx[i] - mx[i] * mx[i],
                myy[i] - my[i] * my[i],
                mxy[i] - mx[i] * my[i],
            );
            ((2.0 * mx[i] * my[i] + c1) * (2.0 * cxy + c2))
                / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2))
        })
        .sum();
    total / (ow * oh) as f64
}

fn ssim_from_moments(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let vx = x.iter().map(|v| (v - mx).powi(2)).sum::<f64>() / n;
    let vy = y.iter().map(|v| (v - my).powi(2)).sum::<f64>() / n;
    let cxy = x
        .iter()
        .zip(y)
        .map(|(u, v)| (u - mx) * (v - my))
        .sum::<f64>()
        / n;
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    ((2.0 * mx * my + c1) * (2.0 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn gradient(offset: u8) -> RgbImage {
        RgbImage::from_fn(32, 32, |x, y| {
            Rgb([
                (x * 7 + y) as u8,
                (y * 5) as u8,
                offset.wrapping_add((x * y) as u8),
            ])
        })
    }

    #[test]
    fn identical_images_are_perfect() {
        let m = ImageMetrics::compare(&gradient(0), &gradient(0));
        assert_eq!(m.l1, 0.0);
        assert!(m.psnr.is_infinite());
        assert!((m.ssim - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_uniform_shift_gives_the_expected_l1_and_psnr() {
        let a = RgbImage::from_pixel(16, 16, Rgb([100, 100, 100]));
        let b = RgbImage::from_pixel(16, 16, Rgb([110, 110, 110]));
        let m = ImageMetrics::compare(&a, &b);
        assert!((m.l1 - 10.0 / 255.0).abs() < 1e-12);
        let expected = 10.0 * (1.0 / (10.0f64 / 255.0).powi(2)).log10();
        assert!((m.psnr - expected).abs() < 1e-9);
        assert!(m.ssim < 1.0 && m.ssim > 0.9);
    }

    #[test]
    fn noise_lowers_ssim() {
        let a = gradient(0);
        let mut b = a.clone();
        for (i, p) in b.pixels_mut().enumerate() {
            if i % 3 == 0 {
                p.0 = [255 - p.0[0], p.0[1], 0];
            }
        }
        assert!(ImageMetrics::compare(&a, &b).ssim < 0.8);
    }
}
