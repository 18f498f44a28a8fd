//! `data edges`: the edges2shoes / edges2handbags recipe for any photo collection. The paper
//! used HED edges; its weights are not available offline, so a Canny detector (imageproc) takes
//! its place, followed by the same post-processing: non-maximum suppression and hysteresis
//! thresholds (inside Canny), thinning to one pixel, removal of tiny components, and black edges
//! on white. Written as edges|photo pairs.

use std::path::PathBuf;

use image::{GrayImage, Luma, RgbImage};
use imageproc::region_labelling::{Connectivity, connected_components};

use super::{
    Maker, Staging, Written, check_side, for_each_with_progress, input_images, png_name, resized,
    side_by_side,
};
use crate::data::image::{load_rgb, save_png};
use crate::error::{Error, Result};
use crate::progress::Progress;

pub struct EdgesOptions {
    pub photos: PathBuf,
    pub out: PathBuf,
    /// Side of the square outputs (the official sets are 256).
    pub size: u32,
    /// Canny's hysteresis thresholds on the gradient magnitude of the blurred image.
    pub low: f32,
    pub high: f32,
    /// Edge components with fewer pixels are removed (the official recipe: 5).
    pub min_component: usize,
    /// Replace an existing output folder.
    pub force: bool,
}

impl EdgesOptions {
    /// The official recipe's settings at 256 x 256.
    pub fn new(photos: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            photos: photos.into(),
            out: out.into(),
            size: 256,
            low: 30.0,
            high: 90.0,
            min_component: 5,
            force: false,
        }
    }
}

/// The edge map of a photo: black one-pixel edges on white.
pub fn edge_map(photo: &RgbImage, low: f32, high: f32, min_component: usize) -> GrayImage {
    let gray = image::imageops::grayscale(photo);
    // imageproc's hysteresis walks off the image from its zero-strength border when a threshold
    // is 0 (a panic): the smallest positive one keeps every edge that 0 would.
    let low = low.max(f32::MIN_POSITIVE);
    let mut edges = imageproc::edges::canny(&gray, low, high.max(low));
    thin(&mut edges);
    remove_small_components(&mut edges, min_component);
    image::imageops::invert(&mut edges);
    edges
}

/// Zhang-Suen thinning of a binary image (non-zero = foreground), in place.
fn thin(image: &mut GrayImage) {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let on = |img: &GrayImage, x: i64, y: i64| -> u8 {
        (x >= 0 && y >= 0 && x < w && y < h && img.get_pixel(x as u32, y as u32)[0] > 0) as u8
    };
    loop {
        let mut changed = false;
        for pass in 0..2 {
            let mut remove = Vec::new();
            for y in 0..h {
                for x in 0..w {
                    if on(image, x, y) == 0 {
                        continue;
                    }
                    // Neighbours P2..P9 clockwise from north.
                    let p = [
                        on(image, x, y - 1),
                        on(image, x + 1, y - 1),
                        on(image, x + 1, y),
                        on(image, x + 1, y + 1),
                        on(image, x, y + 1),
                        on(image, x - 1, y + 1),
                        on(image, x - 1, y),
                        on(image, x - 1, y - 1),
                    ];
                    let count: u8 = p.iter().sum();
                    let transitions = (0..8).filter(|&i| p[i] == 0 && p[(i + 1) % 8] == 1).count();
                    let (a, b) = if pass == 0 {
                        (p[0] * p[2] * p[4], p[2] * p[4] * p[6])
                    } else {
                        (p[0] * p[2] * p[6], p[0] * p[4] * p[6])
                    };
                    if (2..=6).contains(&count) && transitions == 1 && a == 0 && b == 0 {
                        remove.push((x as u32, y as u32));
                    }
                }
            }
            changed |= !remove.is_empty();
            for (x, y) in remove {
                image.put_pixel(x, y, Luma([0]));
            }
        }
        if !changed {
            return;
        }
    }
}

/// Clears 8-connected foreground components smaller than `min_pixels`.
fn remove_small_components(image: &mut GrayImage, min_pixels: usize) {
    if min_pixels <= 1 {
        return;
    }
    let labels = connected_components(image, Connectivity::Eight, Luma([0u8]));
    let mut sizes = std::collections::HashMap::<u32, usize>::new();
    for label in labels.pixels() {
        if label[0] != 0 {
            *sizes.entry(label[0]).or_default() += 1;
        }
    }
    for (x, y, label) in labels.enumerate_pixels() {
        if label[0] != 0 && sizes[&label[0]] < min_pixels {
            image.put_pixel(x, y, Luma([0]));
        }
    }
}

/// Writes an edges|photo pair for every photo.
pub fn edges(options: &EdgesOptions, progress: &dyn Progress) -> Result<Written> {
    check_side("size", Some(options.size))?;
    for (option, value) in [("low", options.low), ("high", options.high)] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(Error::InvalidOption {
                option,
                reason: format!("{value} is not a threshold: give a number of 0 or more"),
            });
        }
    }
    if options.low > options.high {
        return Err(Error::InvalidOption {
            option: "low",
            reason: format!("{} is above high {}", options.low, options.high),
        });
    }
    let photos = input_images(&options.photos)?;
    let staging = Staging::new(
        &options.out,
        &[&options.photos],
        options.force,
        Maker::new("data edges"),
    )?;
    for_each_with_progress(&photos, "edges", progress, |path| {
        let photo = resized(load_rgb(path)?, Some(options.size));
        let edges = edge_map(&photo, options.low, options.high, options.min_component);
        let edges = image::DynamicImage::ImageLuma8(edges).to_rgb8();
        save_png(&side_by_side(&edges, &photo), &staging.path(png_name(path)))
    })?;
    Ok(Written {
        pairs: photos.len(),
        kind: "edges|photo",
        out: staging.finish()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_square_gives_its_outline_as_thin_black_lines() {
        let photo = RgbImage::from_fn(64, 64, |x, y| {
            if (16..48).contains(&x) && (16..48).contains(&y) {
                image::Rgb([250, 250, 250])
            } else {
                image::Rgb([10, 10, 10])
            }
        });
        let edges = edge_map(&photo, 30.0, 90.0, 5);
        let black = edges.pixels().filter(|p| p[0] == 0).count();
        // About the square's perimeter (4 x 32), one pixel wide; the inside stays white.
        assert!((100..200).contains(&black), "{black} edge pixels");
        assert_eq!(edges.get_pixel(32, 32)[0], 255);
        assert_eq!(edges.get_pixel(2, 2)[0], 255);
    }

    #[test]
    fn tiny_components_are_removed() {
        let mut image = GrayImage::new(20, 20);
        image.put_pixel(3, 3, Luma([255]));
        for x in 5..15 {
            image.put_pixel(x, 10, Luma([255]));
        }
        remove_small_components(&mut image, 5);
        assert_eq!(image.get_pixel(3, 3)[0], 0);
        assert_eq!(image.get_pixel(8, 10)[0], 255);
    }
}
