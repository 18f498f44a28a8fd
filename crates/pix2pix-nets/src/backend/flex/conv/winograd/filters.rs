//! The filters' side of a plan: the weights [out, in, k, k] as the products' matrices
//! [ξ, out, in] (G w Gᵀ), and a weight gradient's sums [ξ, out, in] back as weights
//! (Gᵀ s G). Both layouts hold an output channel's values together, so both transforms go
//! output channel by output channel, reading and writing each in order, the taps of a stretch
//! of input channels in between (the U-Net's inner filters are up to 128 MB transformed; the
//! adjoint reads them transposed instead of having them transposed here: BENCHMARKS.md).

use rayon::prelude::*;

use super::layout::space_to_depth_tap;
use super::plan::{Part, Plan};
use super::transforms::{Arch, combine, tables};

/// Input channels per stretch: their taps (up to 16 x 256 values) stay in the first-level
/// cache.
const SPAN: usize = 256;

/// Taps of the largest filter of a part: 4x4.
const MAX_TAPS: usize = 16;

/// Where each tap of a plan's filters sits in an output channel's weights [in, k, k] as stored.
struct Stored {
    /// Taps per filter of the plan.
    taps: usize,
    space_to_depth: bool,
    /// offsets[sub][k]: where tap k of a filter of plane `sub` (of four, after space-to-depth)
    /// is from its stored filter's start.
    offsets: [[usize; MAX_TAPS]; 4],
}

impl Stored {
    /// The filters of `part`, or turned by 180 degrees (the adjoint convolution's).
    fn new(part: &Part, turned: bool) -> Stored {
        let taps = part.algorithm.kernel * part.algorithm.kernel;
        let space_to_depth = part.inputs.planes_per_plane() == 4;
        let offsets = std::array::from_fn(|sub| {
            std::array::from_fn(|k| {
                if k >= taps {
                    return 0;
                }
                let k = if turned { taps - 1 - k } else { k };
                if space_to_depth {
                    space_to_depth_tap(sub, k)
                } else {
                    k
                }
            })
        });
        Stored {
            taps,
            space_to_depth,
            offsets,
        }
    }

    /// The start of the stored filter of the plan's input channel `ch` in its output channel's
    /// weights, and where its taps are from there: a space-to-depth plane's are among the 16 of
    /// its channel's 4x4 filter.
    fn filter(&self, ch: usize) -> (usize, &[usize]) {
        if self.space_to_depth {
            (ch / 4 * 16, &self.offsets[ch % 4][..self.taps])
        } else {
            (ch * self.taps, &self.offsets[0][..self.taps])
        }
    }
}

impl Plan {
    /// `filters` [ξ, out_channels, channels] = the weights [out_channels, in, k, k] as the
    /// part's filters transformed, G w Gᵀ, or `turned` by 180 degrees first: the adjoint's,
    /// which reads them transposed.
    pub(super) fn transform_weights(&self, weights: &[f32], turned: bool, filters: &mut [f32]) {
        let part = self.part();
        let (stored, channels, pairs) = (Stored::new(part, turned), part.channels, self.pairs());
        let positions = self.positions();
        // lines[o]: line o of each of the matrices.
        let mut lines: Vec<Vec<&mut [f32]>> = (0..part.out_channels)
            .map(|_| Vec::with_capacity(positions))
            .collect();
        for matrix in filters[..positions * pairs].chunks_mut(pairs) {
            for (lines, line) in lines.iter_mut().zip(matrix.chunks_mut(channels)) {
                lines.push(line);
            }
        }
        let kernel = part.algorithm.kernel;
        let (tables, arch) = (tables(part.algorithm.filter), Arch::new());
        lines
            .into_par_iter()
            .zip(weights.par_chunks(channels * stored.taps))
            .for_each(|(mut lines, weights)| {
                let mut taps = [[0f32; SPAN]; MAX_TAPS];
                for start in (0..channels).step_by(SPAN) {
                    let span = SPAN.min(channels - start);
                    for c in 0..span {
                        let (filter, offsets) = stored.filter(start + c);
                        for (taps, &offset) in taps.iter_mut().zip(offsets) {
                            taps[c] = weights[filter + offset];
                        }
                    }
                    let values = lines.iter_mut().map(|line| &mut line[start..][..span]);
                    combine(arch, values, &tables, |i, j| &taps[kernel * i + j][..]);
                }
            });
    }

    /// `gradient` [out_channels, in, k, k] (the tensor's input channels: a space-to-depth
    /// plan's filters put back together) = Gᵀ s G of the weight gradient's sums
    /// [ξ, out_channels, channels].
    pub(super) fn transform_sums(&self, sums: &[f32], gradient: &mut [f32]) {
        let part = self.part();
        let (stored, channels, pairs) = (Stored::new(part, false), part.channels, self.pairs());
        let (tables, arch) = (tables(part.algorithm.filter.transpose()), Arch::new());
        let side = part.algorithm.side();
        gradient[..pairs * stored.taps]
            .par_chunks_mut(channels * stored.taps)
            .enumerate()
            .for_each(|(o, weights)| {
                let mut taps = [[0f32; SPAN]; MAX_TAPS];
                for start in (0..channels).step_by(SPAN) {
                    let span = SPAN.min(channels - start);
                    let line = o * channels + start;
                    let values = taps.iter_mut().map(|taps| &mut taps[..span]);
                    combine(arch, values, &tables, |i, j| {
                        &sums[(side * i + j) * pairs + line..]
                    });
                    for c in 0..span {
                        let (filter, offsets) = stored.filter(start + c);
                        for (taps, &offset) in taps.iter().zip(offsets) {
                            weights[filter + offset] = taps[c];
                        }
                    }
                }
            });
    }
}
