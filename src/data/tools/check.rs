//! `data check`: what a dataset folder holds and whether training on it would work, before a
//! long run fails on it: counts per phase, sizes, A|B width parity, unreadable or truncated files,
//! duplicate names, and whether the sizes suit the network and crop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::for_each_with_progress;
use crate::data::DataOptions;
use crate::data::image::{list_images, load_rgb};
use crate::data::transform::{Preprocess, Transform};
use crate::error::{Error, Result};
use crate::model::ModelOptions;
use crate::progress::Progress;

pub struct CheckOptions {
    pub dir: PathBuf,
    /// The networks to train: the sizes must suit G and D.
    pub model: ModelOptions,
    pub preprocess: Preprocess,
    pub load_size: usize,
    pub crop_size: usize,
}

impl CheckOptions {
    /// Training's defaults: unet_256 and the 70x70 PatchGAN on resize_and_crop from 286 to 256.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let data = DataOptions::default();
        Self {
            dir: dir.into(),
            model: ModelOptions::default(),
            preprocess: data.preprocess,
            load_size: data.load_size,
            crop_size: data.crop_size,
        }
    }
}

#[derive(Debug, Default)]
pub struct PhaseReport {
    pub name: String,
    pub count: usize,
    /// Pair sizes (whole A|B file) and how many files have each.
    pub sizes: BTreeMap<(u32, u32), usize>,
    pub odd_width: Vec<PathBuf>,
    /// Files that are not twice as wide as high, as every A|B pair of square halves is.
    pub not_pairs: Vec<PathBuf>,
    pub unreadable: Vec<(PathBuf, String)>,
    /// Files whose halves end up smaller than crop_size.
    pub too_small: Vec<PathBuf>,
    /// Files whose halves end up at a size the networks cannot take, and why.
    pub unsuitable: Vec<(PathBuf, String)>,
    /// Stems held by more than one file (e.g. a.png and a.jpg).
    pub duplicates: Vec<String>,
}

#[derive(Debug, Default)]
pub struct CheckReport {
    pub phases: Vec<PhaseReport>,
    /// What would make training fail.
    pub problems: Vec<String>,
    /// What deserves a look but does not stop training.
    pub warnings: Vec<String>,
}

fn image_subfolders(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut phases: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter(|e| list_images(&e.path()).is_ok_and(|f| !f.is_empty()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    phases.sort();
    Ok(phases)
}

fn check_phase(
    dir: &Path,
    name: &str,
    options: &CheckOptions,
    progress: &dyn Progress,
) -> Result<PhaseReport> {
    let files = list_images(&dir.join(name))?;
    let mut stems = BTreeMap::<String, usize>::new();
    for f in &files {
        *stems
            .entry(
                f.file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
            )
            .or_default() += 1;
    }
    let transform = Transform {
        preprocess: options.preprocess,
        load_size: options.load_size as u32,
        crop_size: options.crop_size as u32,
        flip: false,
    };
    let report = Mutex::new(PhaseReport {
        name: name.to_string(),
        count: files.len(),
        duplicates: stems
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(s, _)| s)
            .collect(),
        ..PhaseReport::default()
    });
    for_each_with_progress(&files, &format!("check {name}"), progress, |path| {
        let unreadable = |reason: String| {
            let mut report = report.lock().unwrap();
            report.unreadable.push((path.clone(), reason));
            Ok(())
        };
        let image = match load_rgb(path) {
            Ok(image) => image,
            Err(Error::BadImage { reason, .. }) => return unreadable(reason),
            Err(other) => return unreadable(other.to_string()),
        };
        let (w, h) = image.dimensions();
        if w < 2 {
            return unreadable("too narrow to hold an A|B pair".into());
        }
        let half = image::RgbImage::new(w / 2, h);
        let out = transform.apply(&half, transform.draw(w / 2, h, &mut rand::rng()));
        let mut report = report.lock().unwrap();
        *report.sizes.entry((w, h)).or_default() += 1;
        let (ow, oh) = (out.width() as usize, out.height() as usize);
        if !transform.crops()
            && let Some(reason) = options.model.unsuitable_image(ow, oh, true)
        {
            report
                .unsuitable
                .push((path.clone(), format!("{ow}x{oh}: {reason}")));
        }
        if w % 2 == 1 {
            report.odd_width.push(path.clone());
        }
        if w.abs_diff(2 * h) > 2 * h / 50 {
            report.not_pairs.push(path.clone());
        }
        if transform.crops()
            && (out.width() < transform.crop_size || out.height() < transform.crop_size)
        {
            report.too_small.push(path.clone());
        }
        Ok(())
    })?;
    Ok(report.into_inner().unwrap())
}

/// Reads every image of every phase folder under `options.dir`.
pub fn check(options: &CheckOptions, progress: &dyn Progress) -> Result<CheckReport> {
    crate::fsutil::require_dir(&options.dir)?;
    crate::data::check_side("crop_size", Some(options.crop_size as u64))?;
    crate::data::check_side("load_size", Some(options.load_size as u64))?;
    let mut report = CheckReport::default();
    let side = options.crop_size;
    if options.preprocess.crops_to_crop_size()
        && let Some(reason) = (options.model.net_g.unsuitable_side(side))
            .or_else(|| options.model.unsuitable_discriminator_side(side))
    {
        report.problems.push(format!("crop_size {reason}"));
    }
    let phases = image_subfolders(&options.dir)?;
    if phases.is_empty() {
        let flat = list_images(&options.dir)?.len();
        report.problems.push(if flat > 0 {
            format!(
                "{} holds {flat} images but no train/ folder: split them into train/val/test \
                 folders (data split)",
                options.dir.display()
            )
        } else {
            format!("{} holds no images in any subfolder", options.dir.display())
        });
        return Ok(report);
    }
    if !phases.iter().any(|p| p == "train") {
        report.problems.push(format!(
            "no train/ folder with images in {}",
            options.dir.display()
        ));
    }
    for phase in &phases {
        let p = check_phase(&options.dir, phase, options, progress)?;
        if !p.unreadable.is_empty() {
            report.problems.push(format!(
                "{phase}: {} unreadable files (e.g. {}: {}): fix or remove them (training can skip them with skip_bad)",
                p.unreadable.len(),
                p.unreadable[0].0.display(),
                p.unreadable[0].1
            ));
        }
        if !p.too_small.is_empty() {
            report.problems.push(format!(
                "{phase}: {} files have halves smaller than crop_size {} after preprocessing (e.g. {})",
                p.too_small.len(),
                options.crop_size,
                p.too_small[0].display()
            ));
        }
        if let Some((path, reason)) = p.unsuitable.first() {
            report.problems.push(format!(
                "{phase}: {} files have halves the networks cannot take after preprocessing \
                 (e.g. {}, {reason})",
                p.unsuitable.len(),
                path.display()
            ));
        }
        if !p.odd_width.is_empty() {
            report.warnings.push(format!(
                "{phase}: {} files have an odd width, so A and B differ by a column (e.g. {})",
                p.odd_width.len(),
                p.odd_width[0].display()
            ));
        }
        if let Some(first) = p.not_pairs.first() {
            report.warnings.push(format!(
                "{phase}: {} of {} files are not twice as wide as high (e.g. {}), as A|B pairs \
                 of square halves are: each file is cut into a left (A) and a right (B) half; \
                 single images must be paired first (data combine)",
                p.not_pairs.len(),
                p.count,
                first.display()
            ));
        }
        if !p.duplicates.is_empty() {
            report.warnings.push(format!(
                "{phase}: names used by several files: {}",
                p.duplicates.join(", ")
            ));
        }
        if p.sizes.len() > 1 && options.preprocess == Preprocess::None {
            report.warnings.push(format!(
                "{phase}: {} different sizes with preprocess none: batches above 1 need equal sizes",
                p.sizes.len()
            ));
        }
        report.phases.push(p);
    }
    Ok(report)
}

impl std::fmt::Display for CheckReport {
    /// A line per phase (images and their sizes), then the warnings and problems; "ok: ready for
    /// training" when there is no problem.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for phase in &self.phases {
            let sizes: Vec<String> = phase
                .sizes
                .iter()
                .map(|((w, h), n)| format!("{w}x{h} ({n})"))
                .collect();
            writeln!(
                f,
                "{}: {} images, sizes {}",
                phase.name,
                phase.count,
                sizes.join(", ")
            )?;
        }
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        for problem in &self.problems {
            writeln!(f, "problem: {problem}")?;
        }
        match (self.problems.is_empty(), self.warnings.len()) {
            (false, _) => {}
            (true, 0) => write!(f, "ok: ready for training")?,
            (true, n) => write!(
                f,
                "ok, with {n} warning{}: training will run, but read {} first",
                if n == 1 { "" } else { "s" },
                if n == 1 { "it" } else { "them" }
            )?,
        }
        Ok(())
    }
}
