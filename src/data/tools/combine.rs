//! `data combine`: A and B images paired by file name into A|B files (the official
//! `combine_A_and_B.py`), per phase when the folders have train/val/test subfolders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Maker, Staging, check_side, for_each_with_progress, png_name, resized, side_by_side};
use crate::data::image::{list_images, load_rgb, save_png};
use crate::error::{Error, Result};
use crate::progress::Progress;

pub struct CombineOptions {
    pub a: PathBuf,
    pub b: PathBuf,
    pub out: PathBuf,
    /// Resize both sides to this square size; without it, pairs whose sizes differ are skipped.
    pub resize: Option<u32>,
    /// Replace an existing output folder.
    pub force: bool,
}

impl CombineOptions {
    /// Pairs of equal sizes only, into a new folder.
    pub fn new(a: impl Into<PathBuf>, b: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            a: a.into(),
            b: b.into(),
            out: out.into(),
            resize: None,
            force: false,
        }
    }
}

/// A pair whose sides differ in size: its name and the sizes of A and B.
#[derive(Debug)]
pub struct SizeMismatch {
    pub name: String,
    pub a: (u32, u32),
    pub b: (u32, u32),
}

#[derive(Debug, Default)]
pub struct CombineReport {
    pub written: usize,
    /// Names found on one side only, with the side that has them.
    pub unpaired: Vec<(String, &'static str)>,
    /// Pairs skipped because A and B differ in size (and no --resize was given).
    pub size_mismatches: Vec<SizeMismatch>,
    pub out: PathBuf,
}

/// The phases to combine: the common subfolders (train, val, test, ...) or the folders
/// themselves (phase "").
fn phases(a: &Path, b: &Path) -> Vec<String> {
    let subfolders = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (sa, sb) = (subfolders(a), subfolders(b));
    let mut common: Vec<String> = sa.into_iter().filter(|p| sb.contains(p)).collect();
    common.sort();
    if common.is_empty() {
        vec![String::new()]
    } else {
        common
    }
}

/// Images of `dir` by file stem (the pairing key).
fn by_stem(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    Ok(list_images(dir)?
        .into_iter()
        .map(|p| {
            let stem = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (stem, p)
        })
        .collect())
}

/// Writes an A|B file for every name found on both sides.
pub fn combine(options: &CombineOptions, progress: &dyn Progress) -> Result<CombineReport> {
    check_side("resize", options.resize)?;
    for dir in [&options.a, &options.b] {
        crate::fsutil::require_dir(dir)?;
    }
    let staging = Staging::new(
        &options.out,
        &[&options.a, &options.b],
        options.force,
        Maker::new("data combine"),
    )?;
    let mut report = CombineReport::default();
    let mut jobs = Vec::new();
    for phase in phases(&options.a, &options.b) {
        let (a, b) = (
            by_stem(&options.a.join(&phase))?,
            by_stem(&options.b.join(&phase))?,
        );
        for name in a.keys().filter(|n| !b.contains_key(*n)) {
            report.unpaired.push((format!("{phase}/{name}"), "A"));
        }
        for name in b.keys().filter(|n| !a.contains_key(*n)) {
            report.unpaired.push((format!("{phase}/{name}"), "B"));
        }
        for (name, a_path) in &a {
            if let Some(b_path) = b.get(name) {
                jobs.push((phase.clone(), a_path.clone(), b_path.clone()));
            }
        }
    }
    if jobs.is_empty() {
        return Err(Error::EmptyDataFolder {
            path: options.a.clone(),
        });
    }
    let mismatches = std::sync::Mutex::new(Vec::new());
    for_each_with_progress(&jobs, "combine", progress, |(phase, a_path, b_path)| {
        let (a, b) = (load_rgb(a_path)?, load_rgb(b_path)?);
        if options.resize.is_none() && a.dimensions() != b.dimensions() {
            let name = format!("{phase}/{}", png_name(a_path));
            mismatches.lock().unwrap().push(SizeMismatch {
                name,
                a: a.dimensions(),
                b: b.dimensions(),
            });
            return Ok(());
        }
        let pair = side_by_side(&resized(a, options.resize), &resized(b, options.resize));
        save_png(
            &pair,
            &staging.path(Path::new(phase).join(png_name(a_path))),
        )
    })?;
    report.size_mismatches = mismatches.into_inner().unwrap();
    report.written = jobs.len() - report.size_mismatches.len();
    report.out = staging.finish()?;
    Ok(report)
}

impl std::fmt::Display for CombineReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wrote {} pairs to {} ({} unpaired names, {} size mismatches)",
            self.written,
            self.out.display(),
            self.unpaired.len(),
            self.size_mismatches.len()
        )
    }
}
