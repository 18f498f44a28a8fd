//! What the drawing canvas offers for a run: the label colours of its training inputs (facades,
//! cityscapes), black on white for edge maps, or free colours for photo-like inputs. Read from
//! the input side of the run's training pairs; labels are named by the run's own `labels.json`,
//! or where the set is known (the CMP Facades classes, the demo's shapes).

use serde::Serialize;

use std::io::Read;
use std::path::Path;

use crate::checkpoint::SavedRun;
use crate::data::Direction;
use crate::data::image::{list_images, load_rgb, split_pair};
use crate::data::synthetic;
use crate::error::{Error, Result};

/// The file of a run folder that names its label colours: `{"#rrggbb": "name", ...}`.
pub const LABELS_FILE: &str = "labels.json";
/// The most bytes of it read.
const LABELS_FILE_BYTES: u64 = 64 << 10;

/// How many training pairs are looked at.
const SAMPLED_PAIRS: usize = 12;
/// A colour is one of the labels when at least this share of the pixels has it.
const LEAST_SHARE: f64 = 0.002;
/// Label maps: the flat colours cover at least this share of the pixels...
const FLAT_SHARE: f64 = 0.9;
/// ... and there are at most this many of them.
const MOST_LABELS: usize = 40;
/// Colours closer than this (in 0-255 units, per channel) are one label: JPEG noise around a
/// flat colour stays within it.
const SAME_COLOUR: i32 = 24;

/// The CMP Facade Database's classes in the colours of pix2pix's facades label maps (MATLAB's
/// `jet(12)` over the class numbers).
const FACADES: [([u8; 3], &str); 12] = [
    ([0, 0, 170], "background"),
    ([0, 0, 255], "facade"),
    ([0, 85, 255], "window"),
    ([0, 170, 255], "door"),
    ([0, 255, 255], "cornice"),
    ([85, 255, 170], "sill"),
    ([170, 255, 85], "balcony"),
    ([255, 255, 0], "blind"),
    ([255, 170, 0], "deco"),
    ([255, 85, 0], "molding"),
    ([255, 0, 0], "pillar"),
    ([170, 0, 0], "shop"),
];

/// The label sets whose names are known.
const KNOWN: [&[([u8; 3], &str)]; 2] = [&FACADES, &synthetic::LABELS];

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Palette {
    /// Flat label colours, most frequent first, and their names where known (as many).
    Labels {
        colours: Vec<[u8; 3]>,
        names: Vec<Option<String>>,
    },
    /// Black strokes on white (edges, sketches).
    Edges,
    /// Any colour (photos, or no training data to look at).
    Free,
}

impl Palette {
    /// The CMP Facades classes: the input of the official facades_label2photo model, which
    /// comes with no data to look at.
    pub fn facades() -> Palette {
        Palette::Labels {
            colours: FACADES.iter().map(|(colour, _)| *colour).collect(),
            names: FACADES
                .iter()
                .map(|(_, name)| Some(name.to_string()))
                .collect(),
        }
    }

    /// `colours` as labels, named by the known set that names most of them, when it names at
    /// least half.
    fn labels(colours: Vec<[u8; 3]>) -> Palette {
        let name = |set: &[([u8; 3], &str)]| -> Vec<Option<String>> {
            colours
                .iter()
                .map(|colour| {
                    set.iter()
                        .find(|(known, _)| near(known, colour))
                        .map(|(_, name)| name.to_string())
                })
                .collect()
        };
        let named = |names: &Vec<Option<String>>| names.iter().flatten().count();
        let names = KNOWN
            .iter()
            .map(|set| name(set))
            .max_by_key(named)
            .filter(|names| 2 * named(names) >= colours.len())
            .unwrap_or_else(|| vec![None; colours.len()]);
        Palette::Labels { colours, names }
    }

    /// The palette of `run`'s training inputs (`Free` when they cannot be read), its labels
    /// named by the `labels.json` of `run_dir` where there is one.
    pub fn of_run(run: &SavedRun, run_dir: &Path) -> Result<Palette> {
        let palette = Palette::of_images(&inputs(run, &run.data.phase, SAMPLED_PAIRS));
        let Some(own) = read_labels(&run_dir.join(LABELS_FILE))? else {
            return Ok(palette);
        };
        Ok(match palette {
            Palette::Labels { colours, names } => {
                let names = colours
                    .iter()
                    .zip(names)
                    .map(|(colour, known)| {
                        own.iter()
                            .find(|(c, _)| near(c, colour))
                            .map(|(_, name)| name.clone())
                            .or(known)
                    })
                    .collect();
                Palette::Labels { colours, names }
            }
            other => other,
        })
    }

    /// The palette of a set of input images.
    pub fn of_images(images: &[image::RgbImage]) -> Palette {
        // Pixels binned at 16 levels a channel; each bin keeps its count and colour sums.
        let mut bins = vec![(0u64, [0u64; 3]); 16 * 16 * 16];
        let mut total = 0u64;
        for pixel in images.iter().flat_map(|image| image.pixels()) {
            let [r, g, b] = pixel.0;
            let bin = &mut bins[(r as usize >> 4) << 8 | (g as usize >> 4) << 4 | b as usize >> 4];
            bin.0 += 1;
            for (sum, value) in bin.1.iter_mut().zip(pixel.0) {
                *sum += value as u64;
            }
            total += 1;
        }
        if total == 0 {
            return Palette::Free;
        }
        let mut dense: Vec<(u64, [i32; 3])> = bins
            .iter()
            .filter(|(count, _)| *count > 0)
            .map(|(count, sums)| (*count, sums.map(|s| (s / count) as i32)))
            .collect();
        dense.sort_by_key(|&(count, _)| std::cmp::Reverse(count));
        // Each bin joins the most frequent colour near it, or starts a colour of its own.
        let mut colours: Vec<(u64, [i32; 3])> = Vec::new();
        for (count, colour) in dense {
            let near = colours.iter_mut().find(|(_, c)| {
                c.iter()
                    .zip(colour)
                    .all(|(a, b)| (a - b).abs() <= SAME_COLOUR)
            });
            match near {
                Some((sum, _)) => *sum += count,
                None => colours.push((count, colour)),
            }
        }
        colours.sort_by_key(|&(count, _)| std::cmp::Reverse(count));
        let share = |count: u64| count as f64 / total as f64;
        let labels: Vec<&(u64, [i32; 3])> = colours
            .iter()
            .filter(|(count, _)| share(*count) >= LEAST_SHARE)
            .collect();
        let covered = share(labels.iter().map(|(count, _)| count).sum());
        let gray = |c: &[i32; 3]| c.iter().max().unwrap_or(&0) - c.iter().min().unwrap_or(&0) < 32;
        let extreme = |c: &[i32; 3]| c.iter().all(|&v| v < 80) || c.iter().all(|&v| v > 175);
        let black_and_white = share(
            colours
                .iter()
                .filter(|(_, c)| gray(c) && extreme(c))
                .map(|(count, _)| count)
                .sum(),
        );
        if black_and_white >= FLAT_SHARE {
            Palette::Edges
        } else if covered >= FLAT_SHARE && labels.len() <= MOST_LABELS {
            Palette::labels(
                labels
                    .iter()
                    .map(|(_, c)| c.map(|v| v.clamp(0, 255) as u8))
                    .collect(),
            )
        } else {
            Palette::Free
        }
    }
}

/// Whether two colours are one label.
fn near(a: &[u8; 3], b: &[u8; 3]) -> bool {
    a.iter()
        .zip(b)
        .all(|(a, b)| (*a as i32 - *b as i32).abs() <= SAME_COLOUR)
}

/// A label colour and its name.
type NamedColour = ([u8; 3], String);

/// The colours and names of a `labels.json` (None when there is none).
fn read_labels(path: &Path) -> Result<Option<Vec<NamedColour>>> {
    let bad = |reason: String| Error::BadLabels {
        path: path.to_path_buf(),
        reason,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(e.to_string())),
    };
    let mut text = String::new();
    file.take(LABELS_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| bad(e.to_string()))?;
    if text.len() as u64 > LABELS_FILE_BYTES {
        return Err(bad(format!("over {} KiB", LABELS_FILE_BYTES >> 10)));
    }
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    map.into_iter()
        .map(|(colour, name)| {
            let hex = colour
                .strip_prefix('#')
                .filter(|h| h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()))
                .ok_or_else(|| bad(format!("'{colour}' is not a colour like #1f77b4")))?;
            let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
            Ok(([channel(0), channel(2), channel(4)], name))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// The input sides of the first `count` pairs of `run`'s `phase` (those that can be read).
pub fn inputs(run: &SavedRun, phase: &str, count: usize) -> Vec<image::RgbImage> {
    let Ok(files) = list_images(&run.data.dataroot.join(phase)) else {
        return Vec::new();
    };
    files
        .iter()
        .take(count)
        .filter_map(|file| load_rgb(file).ok())
        .map(|pair| {
            let (a, b) = split_pair(&pair);
            match run.data.direction {
                Direction::AtoB => a,
                Direction::BtoA => b,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    /// Label stripes with +-6 of noise on every channel, as a JPEG leaves them.
    fn noisy_labels(colours: &[[u8; 3]]) -> RgbImage {
        RgbImage::from_fn(64, 64, |x, y| {
            let base = colours[(x as usize / 8) % colours.len()];
            let noise = ((x * 7 + y * 13) % 13) as i32 - 6;
            Rgb(base.map(|v| (v as i32 + noise).clamp(0, 255) as u8))
        })
    }

    #[test]
    fn label_maps_give_their_flat_colours() {
        let facade = [[0, 0, 170], [255, 85, 0], [0, 170, 255], [170, 255, 85]];
        let Palette::Labels { colours, names } = Palette::of_images(&[noisy_labels(&facade)])
        else {
            panic!("label stripes were not seen as labels");
        };
        assert_eq!(colours.len(), facade.len(), "{colours:?}");
        for label in facade {
            let near = colours.iter().any(|c| {
                c.iter()
                    .zip(label)
                    .all(|(a, b)| (*a as i32 - b as i32).abs() <= 8)
            });
            assert!(near, "{label:?} missing from {colours:?}");
        }
        // Facades' colours are named with the CMP classes, each where it is.
        let mut named: Vec<&str> = names.iter().map(|n| n.as_deref().unwrap()).collect();
        named.sort_unstable();
        assert_eq!(named, ["background", "balcony", "door", "molding"]);
        let unknown = [[10, 120, 10], [200, 200, 240], [90, 40, 140]];
        let Palette::Labels { names, .. } = Palette::of_images(&[noisy_labels(&unknown)]) else {
            panic!("label stripes were not seen as labels");
        };
        assert_eq!(names, vec![None; 3]);
    }

    #[test]
    fn the_demo_labels_are_named() {
        let colours: Vec<[u8; 3]> = synthetic::LABELS.iter().map(|(c, _)| *c).collect();
        let Palette::Labels {
            colours: found,
            names,
        } = Palette::of_images(&[noisy_labels(&colours)])
        else {
            panic!("the demo's labels were not seen as labels");
        };
        for (colour, name) in found.iter().zip(&names) {
            let (_, expected) = synthetic::LABELS
                .iter()
                .min_by_key(|(c, _)| {
                    c.iter()
                        .zip(colour)
                        .map(|(a, b)| (*a as i32 - *b as i32).abs())
                        .sum::<i32>()
                })
                .unwrap();
            assert_eq!(name.as_deref(), Some(*expected));
        }
    }

    #[test]
    fn edges_and_photos() {
        let edges = RgbImage::from_fn(64, 64, |x, y| {
            let v = if (x + y) % 9 == 0 { 0 } else { 250 };
            Rgb([v, v, v])
        });
        assert_eq!(Palette::of_images(&[edges]), Palette::Edges);
        let photo = RgbImage::from_fn(64, 64, |x, y| Rgb([(x * 4) as u8, (y * 4) as u8, 128]));
        assert_eq!(Palette::of_images(&[photo]), Palette::Free);
        assert_eq!(Palette::of_images(&[]), Palette::Free);
    }
}
