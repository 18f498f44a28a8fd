//! The official preprocessing (`--preprocess`, `--load_size`, `--crop_size`, `--no_flip`): one
//! random draw of crop position and flip, applied identically to both halves of a pair.

use image::RgbImage;
use image::imageops::{self, FilterType};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// `--preprocess`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Preprocess {
    /// Bicubic resize to load_size x load_size, then a random crop_size crop (the default).
    #[default]
    ResizeAndCrop,
    /// A random crop_size crop of the image as it is.
    Crop,
    /// Width to load_size, keeping the aspect ratio.
    ScaleWidth,
    /// Width to load_size, then a random crop.
    ScaleWidthAndCrop,
    /// Nothing but rounding the sides to multiples of 4.
    None,
}

crate::names::named_values!(Preprocess, "preprocess", {
    ResizeAndCrop => "resize_and_crop",
    Crop => "crop",
    ScaleWidth => "scale_width",
    ScaleWidthAndCrop => "scale_width_and_crop",
    None => "none",
});

impl Preprocess {
    /// Whether training images end up exactly crop_size square.
    pub fn crops_to_crop_size(self) -> bool {
        matches!(self, Preprocess::ResizeAndCrop | Preprocess::Crop)
    }
}

/// The random part of a transform, drawn once per pair (the official `get_params`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransformParams {
    pub crop_x: u32,
    pub crop_y: u32,
    pub flip: bool,
}

/// A fully specified preprocessing of one half image.
#[derive(Clone, Copy, Debug)]
pub struct Transform {
    pub preprocess: Preprocess,
    pub load_size: u32,
    pub crop_size: u32,
    pub flip: bool,
}

impl Transform {
    /// The size after resizing, before cropping, of a `width` x `height` half.
    fn resized_size(&self, width: u32, height: u32) -> (u32, u32) {
        match self.preprocess {
            Preprocess::ResizeAndCrop => (self.load_size, self.load_size),
            Preprocess::ScaleWidth | Preprocess::ScaleWidthAndCrop => {
                scale_width_size(width, height, self.load_size, self.crop_size)
            }
            Preprocess::Crop | Preprocess::None => (width, height),
        }
    }

    /// Whether this preprocessing ends in a crop_size crop.
    pub fn crops(&self) -> bool {
        matches!(
            self.preprocess,
            Preprocess::ResizeAndCrop | Preprocess::Crop | Preprocess::ScaleWidthAndCrop
        )
    }

    /// Draws crop position and flip for a half of `width` x `height`.
    pub fn draw(&self, width: u32, height: u32, rng: &mut impl Rng) -> TransformParams {
        let (w, h) = self.resized_size(width, height);
        TransformParams {
            crop_x: rng.random_range(0..=w.saturating_sub(self.crop_size)),
            crop_y: rng.random_range(0..=h.saturating_sub(self.crop_size)),
            flip: self.flip && rng.random::<f64>() > 0.5,
        }
    }

    pub fn apply(&self, image: &RgbImage, params: TransformParams) -> RgbImage {
        let (w, h) = self.resized_size(image.width(), image.height());
        let mut out = if (w, h) != image.dimensions() {
            imageops::resize(image, w, h, FilterType::CatmullRom)
        } else {
            image.clone()
        };
        if self.crops() && (w > self.crop_size || h > self.crop_size) {
            let cw = self.crop_size.min(w);
            let ch = self.crop_size.min(h);
            out = imageops::crop_imm(&out, params.crop_x, params.crop_y, cw, ch).to_image();
        }
        if self.preprocess == Preprocess::None {
            let (tw, th) = (round_to_multiple(w, 4), round_to_multiple(h, 4));
            if (tw, th) != (w, h) {
                out = imageops::resize(&out, tw, th, FilterType::CatmullRom);
            }
        }
        if params.flip {
            imageops::flip_horizontal_in_place(&mut out);
        }
        out
    }
}

/// The official `__scale_width`: width to `target`, height keeping the aspect ratio but at least
/// `crop_size`.
fn scale_width_size(width: u32, height: u32, target: u32, crop_size: u32) -> (u32, u32) {
    if width == target && height >= crop_size {
        return (width, height);
    }
    let h = (target as u64 * height as u64 / width.max(1) as u64) as u32;
    (target, h.max(crop_size))
}

/// The official `__make_power_2`: round to the nearest multiple (at least one multiple).
fn round_to_multiple(value: u32, base: u32) -> u32 {
    (((value as f64 / base as f64).round() as u32) * base).max(base)
}
