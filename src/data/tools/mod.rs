//! `pix2pix data`: making training-ready A|B datasets from users' images. Every tool writes into
//! a staging folder beside its output and renames it into place at the end, so a failure leaves
//! no partial output, and an existing output is only replaced with `--force`.

pub mod check;
pub mod colorization;
pub mod combine;
pub mod download;
pub mod edges;
pub mod split;

use std::path::{Path, PathBuf};

use image::RgbImage;
use rayon::prelude::*;

use crate::error::{Error, Result};
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

/// An output folder being written: files go to `<out>.partial-<pid>` until [`Staging::finish`].
pub struct Staging {
    target: PathBuf,
    staging: PathBuf,
    force: bool,
}

impl Staging {
    /// Checks that `target` may be written (absent, or `force`) and is not inside any of
    /// `inputs`, then creates the staging folder.
    pub fn new(target: &Path, inputs: &[&Path], force: bool) -> Result<Self> {
        if target.exists() && !force {
            return Err(Error::OutputExists {
                path: target.to_path_buf(),
            });
        }
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        for input in inputs {
            // Either way round is refused: writing into the input, or (with --force)
            // replacing a folder that holds the input.
            let (out, inp) = (absolute(target), absolute(input));
            if out.starts_with(&inp) || inp.starts_with(&out) {
                return Err(Error::OutputInsideInput {
                    output: target.to_path_buf(),
                    input: input.to_path_buf(),
                });
            }
        }
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let staging = target.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        crate::fsutil::create_dir(&staging)?;
        Ok(Self {
            target: target.to_path_buf(),
            staging,
            force,
        })
    }

    /// Where to write: a path inside the staging folder.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.staging.join(relative)
    }

    /// Moves the staging folder into place (replacing the old output with --force).
    pub fn finish(self) -> Result<PathBuf> {
        if self.force && self.target.exists() {
            std::fs::remove_dir_all(&self.target).map_err(|e| Error::io(&self.target, e))?;
        }
        std::fs::rename(&self.staging, &self.target).map_err(|e| Error::io(&self.target, e))?;
        Ok(self.target.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Unfinished (an error): remove what was written.
        let _ = std::fs::remove_dir_all(&self.staging);
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

/// The largest side the tools resize to: a 16384 x 16384 RGB image is 805 MB.
pub const MAX_SIDE: u32 = 16384;

/// Checks a `--size`/`--resize` value: from 1 to [`MAX_SIDE`] pixels, or none.
pub fn check_side(option: &'static str, size: Option<u32>) -> Result<()> {
    match size {
        Some(0) => Err(Error::InvalidOption {
            option,
            reason: "must be at least 1 pixel".into(),
        }),
        Some(s) if s > MAX_SIDE => Err(Error::InvalidOption {
            option,
            reason: format!("{s} is above the largest side supported, {MAX_SIDE}"),
        }),
        _ => Ok(()),
    }
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
    if !dir.is_dir() {
        return Err(Error::MissingDataFolder {
            path: dir.to_path_buf(),
        });
    }
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
