//! `data colorization`: gray|colour pairs from photos, for learning colourisation. Train with
//! `--input_nc 1 --output_nc 3`: the gray side is then read as one channel.

use std::path::PathBuf;

use super::{
    Maker, Staging, Written, check_side, for_each_with_progress, input_images, png_name, resized,
    side_by_side,
};
use crate::data::image::{load_rgb, save_png};
use crate::error::Result;
use crate::progress::Progress;

pub struct ColorizationOptions {
    pub photos: PathBuf,
    pub out: PathBuf,
    /// Side of the square outputs; None keeps each photo's size.
    pub size: Option<u32>,
    /// Replace an existing output folder.
    pub force: bool,
}

impl ColorizationOptions {
    /// Each photo's own size.
    pub fn new(photos: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            photos: photos.into(),
            out: out.into(),
            size: None,
            force: false,
        }
    }
}

/// Writes a gray|colour pair for every photo.
pub fn colorization(options: &ColorizationOptions, progress: &dyn Progress) -> Result<Written> {
    check_side("size", options.size)?;
    let photos = input_images(&options.photos)?;
    let staging = Staging::new(
        &options.out,
        &[&options.photos],
        options.force,
        Maker::new("data colorization"),
    )?;
    for_each_with_progress(&photos, "colorization", progress, |path| {
        let photo = resized(load_rgb(path)?, options.size);
        let gray = image::DynamicImage::ImageLuma8(image::imageops::grayscale(&photo)).to_rgb8();
        save_png(&side_by_side(&gray, &photo), &staging.path(png_name(path)))
    })?;
    Ok(Written {
        pairs: photos.len(),
        kind: "gray|colour",
        out: staging.finish()?,
    })
}
