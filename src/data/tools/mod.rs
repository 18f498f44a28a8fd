//! `pix2pix data`: making training-ready A|B datasets from users' images. Every tool writes into
//! a staging folder beside its output and renames it into place at the end, so a failure
//! leaves no partial output, and an existing output is only replaced with `--force`.

pub mod check;
pub mod colorization;
pub mod combine;
#[cfg(feature = "download")]
pub mod download;
pub mod edges;
pub mod split;

use std::path::{Path, PathBuf};

use image::RgbImage;
use rayon::prelude::*;

pub use crate::data::{MAX_SIDE, check_side};
use crate::error::{Error, Result};
use crate::fsutil::{Maker, Staging};
use crate::progress::{Progress, Unit};

/// What a tool that writes one pair per photo made.
#[derive(Clone, Debug)]
pub struct Written {
    pub pairs: usize,
    /// What each pair holds, e.g. "edges|photo".
    pub kind: &'static str,
    pub out: PathBuf,
}

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wrote {} {} pairs to {}",
            self.pairs,
            self.kind,
            self.out.display()
        )
    }
}

/// Runs `job` on every item in parallel, reporting to `progress`; the first error stops the run.
pub fn for_each_with_progress<T: Sync>(
    items: &[T],
    label: &str,
    progress: &dyn Progress,
    job: impl Fn(&T) -> Result<()> + Sync + Send,
) -> Result<()> {
    progress.start(label, Unit::Items, items.len() as u64, 0);
    let result = items.par_iter().try_for_each(|item| {
        let outcome = job(item);
        progress.advance(1);
        outcome
    });
    progress.finish();
    result
}

/// Places A and B side by side (both the height of A; B is resized if it differs).
pub fn side_by_side(a: &RgbImage, b: &RgbImage) -> RgbImage {
    let b = if b.dimensions() == a.dimensions() {
        b.clone()
    } else {
        image::imageops::resize(
            b,
            a.width(),
            a.height(),
            image::imageops::FilterType::CatmullRom,
        )
    };
    let mut pair = RgbImage::new(a.width() * 2, a.height());
    image::imageops::replace(&mut pair, a, 0, 0);
    image::imageops::replace(&mut pair, &b, a.width() as i64, 0);
    pair
}

/// Resizes to `size` x `size` (bicubic), or keeps the image when `size` is None.
pub fn resized(image: RgbImage, size: Option<u32>) -> RgbImage {
    match size {
        Some(s) if image.dimensions() != (s, s) => {
            image::imageops::resize(&image, s, s, image::imageops::FilterType::CatmullRom)
        }
        _ => image,
    }
}

/// The images of an input folder, which must exist and hold at least one.
pub fn input_images(dir: &Path) -> Result<Vec<PathBuf>> {
    crate::fsutil::require_dir(dir)?;
    let images = crate::data::image::list_images(dir)?;
    if images.is_empty() {
        return Err(Error::EmptyDataFolder {
            path: dir.to_path_buf(),
        });
    }
    Ok(images)
}

/// The output file for an input image: its stem with `.png`.
pub fn png_name(input: &Path) -> String {
    format!(
        "{}.png",
        input
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("image")
    )
}
