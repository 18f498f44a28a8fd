//! `pix2pix translate`: G applied to plain images (no B side) of any size. Each image is padded by
//! reflection to the generator's size multiple, translated, and cropped back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use image::{DynamicImage, GenericImageView, RgbImage};

use super::{LoadedGenerator, ensure_translatable};
use crate::data::image::{
    first_image, image_size, is_image_file, list_images, load_image, save_png, to_chw,
};
use crate::error::{Error, Result};
use crate::model::NormKind;
use crate::pixels;
use crate::progress::{Progress, Unit};

/// Translates one image of any size (padded by reflection to the generator's size multiple,
/// then cropped back); the result has the image's size. Refuses an image too large for the
/// memory left.
pub fn translate_image(
    loaded: &LoadedGenerator,
    image: &DynamicImage,
    device: &Device,
) -> Result<RgbImage> {
    let mut translated = translate_batch(loaded, std::slice::from_ref(image), device)?;
    Ok(translated.remove(0))
}

/// [`translate_image`] for images of one size, run through G as one batch. Each result equals
/// the image's own [`translate_image`] only where G treats the images of a batch apart: eval
/// mode, or instance or no normalisation without dropout ([`batch_independent`]).
pub fn translate_batch(
    loaded: &LoadedGenerator,
    images: &[DynamicImage],
    device: &Device,
) -> Result<Vec<RgbImage>> {
    let Some(first) = images.first() else {
        return Ok(Vec::new());
    };
    let (width, height) = first.dimensions();
    if let Some(other) = images.iter().find(|i| i.dimensions() != (width, height)) {
        return Err(Error::InvalidOption {
            option: "batch",
            reason: format!(
                "images of one batch must have one size: {width}x{height} and {}x{}",
                other.width(),
                other.height()
            ),
        });
    }
    ensure_fits(
        loaded,
        images.len(),
        width,
        height,
        Path::new("the image"),
        device,
    )?;
    let (w, h) = (width as usize, height as usize);
    let channels = loaded.model.input_nc;
    let values: Vec<f32> = images
        .iter()
        .flat_map(|image| to_chw(&image.to_rgb8(), channels))
        .collect();
    let input = Tensor::<4>::from_data(
        TensorData::new(values, [images.len(), channels, h, w]),
        device,
    );
    let output = pixels::translate(&loaded.generator, input, loaded.model.net_g.size_multiple());
    Ok((0..images.len())
        .map(|i| first_image(output.clone().slice(s![i..i + 1])))
        .collect())
}

/// Whether G, as loaded, computes each image of a batch as it would alone: no batch statistics
/// and no dropout draws shared across the batch.
pub fn batch_independent(loaded: &LoadedGenerator) -> bool {
    let trains = loaded.generator_trains;
    !trains || (loaded.model.norm != NormKind::Batch && !loaded.model.dropout)
}

/// [`ensure_translatable`] at the size G sees: `batch` images of `width` x `height` padded to its
/// multiple.
fn ensure_fits(
    loaded: &LoadedGenerator,
    batch: usize,
    width: u32,
    height: u32,
    path: &Path,
    device: &Device,
) -> Result<()> {
    let multiple = loaded.model.net_g.size_multiple();
    let padded = |side: u32| (side as usize).next_multiple_of(multiple);
    ensure_translatable(loaded, batch, (padded(width), padded(height)), path, device)
}

/// The image files named by `inputs` (files, or folders whose images are taken in name order).
pub fn collect_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            files.extend(list_images(input)?);
        } else if input.is_file() {
            if !is_image_file(input) {
                return Err(Error::BadImage {
                    path: input.clone(),
                    reason: "not a .png, .jpg, .jpeg, .webp or .bmp file".into(),
                });
            }
            files.push(input.clone());
        } else {
            return Err(match std::fs::metadata(input) {
                Ok(meta) => Error::WrongKind {
                    path: input.clone(),
                    found: crate::fsutil::kind_of(&meta),
                    expected: "an image file or a folder",
                    writing: false,
                },
                Err(source) => Error::Io {
                    path: input.clone(),
                    source,
                },
            });
        }
    }
    if files.is_empty() {
        return Err(Error::NoInputImages);
    }
    Ok(files)
}

/// Translates every input (image files, or folders of them) into `<output>/<stem>.png`,
/// returning the written paths.
pub fn translate_files(
    loaded: &LoadedGenerator,
    inputs: &[PathBuf],
    output: &Path,
    existing: Existing,
    device: &Device,
    progress: &dyn Progress,
) -> Result<Vec<PathBuf>> {
    let files = collect_inputs(inputs)?;
    let mut targets: HashMap<PathBuf, &Path> = HashMap::new();
    for file in &files {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
        let target = output.join(format!("{stem}.png"));
        if let Some(other) = targets.insert(target.clone(), file) {
            return Err(Error::SameOutput {
                path: target,
                first: other.to_path_buf(),
                second: file.clone(),
            });
        }
        if target.canonicalize().ok() == file.canonicalize().ok() {
            return Err(Error::OutputInsideInput {
                output: target,
                input: file.clone(),
            });
        }
        crate::fsutil::refuse_special(&target)?;
        if existing == Existing::Refuse && target.exists() {
            return Err(Error::OutputExists { path: target });
        }
    }
    crate::fsutil::create_dir(output)?;
    progress.start("translate", Unit::Items, files.len() as u64, 0);
    let mut written = Vec::new();
    for file in &files {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
        let target = output.join(format!("{stem}.png"));
        if !(existing == Existing::Skip && target.is_file()) {
            // From the header, before the pixels are decoded.
            let (width, height) = image_size(file)?;
            ensure_fits(loaded, 1, width, height, file, device)?;
            let translated = translate_image(loaded, &load_image(file)?, device)?;
            save_png(&translated, &target)?;
            written.push(target);
        }
        progress.advance(1);
    }
    progress.finish();
    Ok(written)
}

/// What [`translate_files`] does with output files that already exist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Existing {
    /// Stop before translating anything (nothing is overwritten).
    #[default]
    Refuse,
    /// Write over them.
    Replace,
    /// Keep them and translate the other images: an interrupted folder continues.
    Skip,
}
