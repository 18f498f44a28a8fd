//! A procedural paired dataset for the demo and the tests, needing no download: A is a label map
//! of simple shapes in flat class colours, B a shaded, textured rendering of the same scene
//! (spheres, brick boxes and two-tone pyramids over a sky-and-ground backdrop).

use std::path::Path;

use image::{Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::image::save_png;
use crate::error::Result;
use crate::seed::derive_seed;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sphere,
    Box,
    Pyramid,
}

#[derive(Clone, Copy, Debug)]
struct Shape {
    kind: Kind,
    cx: f32,
    cy: f32,
    /// Half extent (radius) in pixels.
    r: f32,
}

/// The label colours of the A side, with their names.
pub const LABELS: [([u8; 3], &str); 5] = [
    (LABEL_SKY, "sky"),
    (LABEL_GROUND, "ground"),
    (LABEL_SPHERE, "sphere"),
    (LABEL_BOX, "box"),
    (LABEL_PYRAMID, "pyramid"),
];
const LABEL_SKY: [u8; 3] = [40, 60, 160];
const LABEL_GROUND: [u8; 3] = [120, 80, 40];
const LABEL_SPHERE: [u8; 3] = [230, 40, 40];
const LABEL_BOX: [u8; 3] = [40, 200, 70];
const LABEL_PYRAMID: [u8; 3] = [240, 220, 40];

impl Kind {
    fn label(self) -> [u8; 3] {
        match self {
            Kind::Sphere => LABEL_SPHERE,
            Kind::Box => LABEL_BOX,
            Kind::Pyramid => LABEL_PYRAMID,
        }
    }
}

impl Shape {
    /// Where (x, y) falls on the shape: local coordinates in [-1, 1], or None outside.
    fn local(&self, x: f32, y: f32) -> Option<(f32, f32)> {
        let (u, v) = ((x - self.cx) / self.r, (y - self.cy) / self.r);
        let inside = match self.kind {
            Kind::Sphere => u * u + v * v <= 1.0,
            Kind::Box => u.abs() <= 1.0 && v.abs() <= 0.7,
            Kind::Pyramid => (-1.0..=0.8).contains(&v) && u.abs() <= (v + 1.0) / 1.8,
        };
        inside.then_some((u, v))
    }

    fn shade(&self, u: f32, v: f32, x: f32, y: f32) -> [f32; 3] {
        match self.kind {
            Kind::Sphere => {
                let z = (1.0 - u * u - v * v).max(0.0).sqrt();
                let light = (-0.5 * u - 0.6 * v + 0.62 * z).max(0.0);
                let highlight = light.powi(12) * 0.8;
                let base = 0.15 + 0.85 * light;
                [
                    0.85 * base + highlight,
                    0.2 * base + highlight,
                    0.15 * base + highlight,
                ]
            }
            Kind::Box => {
                // Bricks: rows of mortar lines, offset every other row.
                let row = ((y / 4.0).floor() as i32).rem_euclid(2) as f32;
                let mortar = (y % 4.0) < 0.8 || ((x + row * 3.0) % 6.0) < 0.8;
                let shade = 0.75 + 0.25 * (-u);
                if mortar {
                    [0.8 * shade, 0.8 * shade, 0.75 * shade]
                } else {
                    [0.3 * shade, 0.55 * shade, 0.25 * shade]
                }
            }
            Kind::Pyramid => {
                let lit = if u < 0.0 { 1.0 } else { 0.55 };
                [0.95 * lit, 0.8 * lit, 0.3 * lit]
            }
        }
    }
}

fn random_shapes(size: u32, rng: &mut StdRng) -> Vec<Shape> {
    let s = size as f32;
    let count = rng.random_range(2..=4);
    (0..count)
        .map(|_| Shape {
            kind: match rng.random_range(0..3) {
                0 => Kind::Sphere,
                1 => Kind::Box,
                _ => Kind::Pyramid,
            },
            cx: rng.random_range(0.15 * s..0.85 * s),
            cy: rng.random_range(0.25 * s..0.8 * s),
            r: rng.random_range(0.1 * s..0.22 * s),
        })
        .collect()
}

/// The (label map, rendering) pair of scene `index` of `seed`, `size` pixels square.
pub fn scene(size: u32, seed: u64, index: usize) -> (RgbImage, RgbImage) {
    let mut rng = StdRng::seed_from_u64(derive_seed(seed, &[index as u64]));
    let shapes = random_shapes(size, &mut rng);
    let horizon = rng.random_range(0.45..0.7) * size as f32;
    let mut labels = RgbImage::new(size, size);
    let mut photo = RgbImage::new(size, size);
    for y in 0..size {
        for x in 0..size {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let hit = shapes
                .iter()
                .rev()
                .find_map(|shape| shape.local(fx, fy).map(|(u, v)| (shape, u, v)));
            let (label, colour) = match hit {
                Some((shape, u, v)) => (shape.kind.label(), shape.shade(u, v, fx, fy)),
                None if fy < horizon => {
                    let t = fy / horizon;
                    (LABEL_SKY, [0.35 + 0.3 * t, 0.55 + 0.3 * t, 0.95])
                }
                None => {
                    let grain = ((fx * 0.7).sin() * (fy * 1.3).cos()) * 0.05;
                    (LABEL_GROUND, [0.35 + grain, 0.5 + grain, 0.2 + grain])
                }
            };
            let noise: f32 = rng.random_range(-0.03..0.03);
            labels.put_pixel(x, y, Rgb(label));
            photo.put_pixel(
                x,
                y,
                Rgb(colour.map(|c| ((c + noise).clamp(0.0, 1.0) * 255.0).round() as u8)),
            );
        }
    }
    (labels, photo)
}

/// Writes `count` A|B files (labels | rendering) of `size` x `size` halves into `dir`.
pub fn write_split(dir: &Path, count: usize, size: u32, seed: u64) -> Result<()> {
    for index in 0..count {
        let (a, b) = scene(size, seed, index);
        let mut pair = RgbImage::new(2 * size, size);
        image::imageops::replace(&mut pair, &a, 0, 0);
        image::imageops::replace(&mut pair, &b, size as i64, 0);
        save_png(&pair, &dir.join(format!("{index:04}.png")))?;
    }
    Ok(())
}
