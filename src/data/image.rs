//! Conversions between image files, 8-bit images and the [-1, 1] CHW floats the networks see.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use image::{DynamicImage, ImageFormat, ImageReader, RgbImage};

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::pixels;

/// Extensions the datasets and `translate` accept.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "webp", "bmp"];

pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The image files directly in `dir`, sorted by name (the official `make_dataset` order).
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image_file(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Decodes a whole file; a truncated or foreign file is an error naming it. A JPEG cut short is
/// refused as PIL refuses it ("image file is truncated"), although the decoder would fill in
/// the missing rows.
pub fn load_image(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|source| Error::io(path, source))?;
    decode_image(&bytes, path)
}

/// [`load_image`] of bytes in memory; `path` names them in errors.
pub fn decode_image(bytes: &[u8], path: &Path) -> Result<DynamicImage> {
    let bad = |reason: String| Error::BadImage {
        path: path.to_path_buf(),
        reason,
    };
    let reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    if reader.format() == Some(ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        return Err(bad(
            "the JPEG is truncated (its last scan has no end-of-image marker)".into(),
        ));
    }
    reader.decode().map_err(|e| bad(e.to_string()))
}

/// Width and height from the file's header, without decoding its pixels.
pub fn image_size(path: &Path) -> Result<(u32, u32)> {
    let bad = |reason: String| Error::BadImage {
        path: path.to_path_buf(),
        reason,
    };
    ImageReader::open(path)
        .map_err(|source| Error::io(path, source))?
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?
        .into_dimensions()
        .map_err(|e| bad(e.to_string()))
}

/// Whether the end-of-image marker follows the last start-of-scan. Inside a scan every 0xFF byte
/// is escaped, so the marker cannot occur there by chance; an EXIF thumbnail's markers come
/// before the main image's scans.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    last_scan.is_some_and(|start| bytes[start..].windows(2).any(|w| w == [0xFF, 0xD9]))
}

/// Decodes a whole file as 8-bit RGB.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    load_image(path).map(DynamicImage::into_rgb8)
}

/// Splits an A|B file at int(width / 2), as the official aligned dataset does.
pub fn split_pair(image: &RgbImage) -> (RgbImage, RgbImage) {
    let half = image.width() / 2;
    let a = image::imageops::crop_imm(image, 0, 0, half, image.height()).to_image();
    let b =
        image::imageops::crop_imm(image, half, 0, image.width() - half, image.height()).to_image();
    (a, b)
}

/// `image` as `channels` planes in [-1, 1] ([`pixels::to_chw`]).
pub fn to_chw(image: &RgbImage, channels: usize) -> Vec<f32> {
    pixels::to_chw(image.as_raw(), 3, channels)
}

/// The official `tensor2im` of `channels` planes ([`pixels::from_chw`]).
pub fn from_chw(data: &[f32], channels: usize, height: usize, width: usize) -> RgbImage {
    RgbImage::from_raw(
        width as u32,
        height as u32,
        pixels::from_chw(data, channels, 3),
    )
    .expect("one pixel per value of a plane")
}

/// The PNG file of `image`, as `translate`, `test` and `serve` write it.
pub fn encode_png(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("encoding a PNG into memory cannot fail");
    bytes
}

/// Writes a PNG atomically (temporary file, then rename).
pub fn save_png(image: &RgbImage, path: &Path) -> Result<()> {
    write_atomic(path, &encode_png(image))
}

/// The first image of a batch of network outputs [N, C, H, W] in [-1, 1], as 8-bit RGB.
pub fn first_image(tensor: Tensor<4>) -> RgbImage {
    let [_, channels, height, width] = tensor.dims();
    let first = tensor.slice(s![0..1]).into_data();
    let values = first.try_to_vec::<f32>().expect("network outputs are f32");
    from_chw(&values, channels, height, width)
}
