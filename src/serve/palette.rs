//! What the drawing canvas offers for a run: the label colours of its training inputs (facades,
//! cityscapes), black on white for edge maps, or free colours for photo-like inputs. Read from
//! the input side of the run's training pairs.

use serde::Serialize;

use crate::checkpoint::SavedRun;
use crate::data::Direction;
use crate::data::image::{list_images, load_rgb, split_pair};

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

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Palette {
    /// Flat label colours, most frequent first.
    Labels { colours: Vec<[u8; 3]> },
    /// Black strokes on white (edges, sketches).
    Edges,
    /// Any colour (photos, or no training data to look at).
    Free,
}

impl Palette {
    /// The palette of `run`'s training inputs; `Free` when they cannot be read.
    pub fn of_run(run: &SavedRun) -> Palette {
        let folder = run.data.dataroot.join(&run.data.phase);
        let Ok(files) = list_images(&folder) else {
            return Palette::Free;
        };
        let inputs: Vec<image::RgbImage> = files
            .iter()
            .take(SAMPLED_PAIRS)
            .filter_map(|file| load_rgb(file).ok())
            .map(|pair| {
                let (a, b) = split_pair(&pair);
                match run.data.direction {
                    Direction::AtoB => a,
                    Direction::BtoA => b,
                }
            })
            .collect();
        Palette::of_images(&inputs)
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
            Palette::Labels {
                colours: labels
                    .iter()
                    .map(|(_, c)| c.map(|v| v.clamp(0, 255) as u8))
                    .collect(),
            }
        } else {
            Palette::Free
        }
    }
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
        let Palette::Labels { colours } = Palette::of_images(&[noisy_labels(&facade)]) else {
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
