//! Convolutions with few output channels at stride 1, computed directly: each output line is a
//! sum of shifted input lines, each weight a sum of products of lines. The column matrix would
//! hold k x k copies of the input for a product a few rows high: for the ResNet generators' 7x7
//! output convolution (64 channels to 3 at the image's size) that is 49 x 64 values per pixel,
//! written and read once per product, far more memory traffic than arithmetic.
//!
//! The loops are plain slices; pulp's dispatch ([`Task`]) compiles them for the CPU's widest
//! vectors (AVX-512, or AVX2 with FMA) and picks one at run time.

use std::ops::Range;

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

use super::bf16;
use super::im2col::Geometry;

/// The output columns of one kernel column that read inside the input, and the first input
/// column they read ([`Geometry::columns`]).
type Columns = (Range<usize>, usize);

/// Values of a line summed together in vector registers: four AVX-512 registers.
const SPAN: usize = 64;

impl Geometry {
    /// Whether the convolution to `out_channels` is computed here rather than through columns.
    pub(super) fn direct(&self, out_channels: usize) -> bool {
        crate::backend::convolves_directly(self.stride, out_channels)
    }

    /// outputs[batch, out_channels, out_h, out_w], one task per output line.
    pub(super) fn convolve_direct(
        &self,
        images: &[f32],
        weights: &[f32],
        out_channels: usize,
    ) -> Vec<f32> {
        let (images, weights) = (self.operand(images), self.operand(weights));
        let (columns, arch) = (self.columns(), Arch::new());
        let out_h = self.out_h;
        let mut outputs = vec![0f32; images.len() / self.image() * out_channels * self.pixels()];
        outputs
            .par_chunks_mut(self.out_w.max(1))
            .enumerate()
            .for_each(|(index, line)| {
                let (b, o) = (index / out_h / out_channels, index / out_h % out_channels);
                arch.dispatch(Task {
                    geometry: self,
                    columns: &columns,
                    work: Work::Output {
                        line,
                        image: &images[b * self.image()..][..self.image()],
                        weights: &weights[o * self.depth()..][..self.depth()],
                        oh: index % out_h,
                    },
                });
            });
        outputs
    }

    /// The adjoint of [`Self::convolve_direct`]: images[batch, channels, height, width] from
    /// grads[batch, out_channels, out_h, out_w], one task per input plane (a line is too little
    /// work for a task: it sums only out_channels x k x k lines).
    pub(super) fn convolve_direct_adjoint(
        &self,
        grads: &[f32],
        weights: &[f32],
        out_channels: usize,
    ) -> Vec<f32> {
        let (grads, weights) = (self.operand(grads), self.operand(weights));
        let (columns, arch) = (self.columns(), Arch::new());
        let out_image = out_channels * self.pixels();
        let mut images = vec![0f32; grads.len() / out_image.max(1) * self.image()];
        images
            .par_chunks_mut(self.plane().max(1))
            .enumerate()
            .for_each(|(index, plane)| {
                let b = index / self.channels;
                arch.dispatch(Task {
                    geometry: self,
                    columns: &columns,
                    work: Work::Input {
                        plane,
                        grads: &grads[b * out_image..][..out_image],
                        weights: &weights,
                        c: index % self.channels,
                    },
                });
            });
        images
    }

    /// The weight gradient [out_channels, channels, k, k] of [`Self::convolve_direct`], one task
    /// per (output channel, input channel).
    pub(super) fn weight_gradient_direct(
        &self,
        images: &[f32],
        grads: &[f32],
        out_channels: usize,
    ) -> Vec<f32> {
        let (images, grads) = (self.operand(images), self.operand(grads));
        let (columns, arch) = (self.columns(), Arch::new());
        let (channels, out_image) = (self.channels, out_channels * self.pixels());
        let mut product = vec![0f32; out_channels * self.depth()];
        product
            .par_chunks_mut(self.kernel * self.kernel)
            .enumerate()
            .for_each(|(index, taps)| {
                arch.dispatch(Task {
                    geometry: self,
                    columns: &columns,
                    work: Work::Weight {
                        taps,
                        images: &images,
                        grads: &grads,
                        out_image,
                        o: index / channels,
                        c: index % channels,
                    },
                });
            });
        product
    }

    /// Output line `oh` of one output channel: the sum over the input channels and the kernel
    /// of the weight times the input line it reads, a span of the line at a time.
    #[inline(always)]
    fn output_line(
        &self,
        columns: &[Columns],
        line: &mut [f32],
        image: &[f32],
        weights: &[f32],
        oh: usize,
    ) {
        let k = self.kernel;
        for (start, span) in spans(line) {
            let mut sums = [0f32; SPAN];
            for (c, plane) in image.chunks(self.plane()).enumerate() {
                for kh in 0..k {
                    let Some(ih) = self.input_row(oh, kh) else {
                        continue;
                    };
                    let input = &plane[ih * self.width..][..self.width];
                    for kw in 0..k {
                        let (cols, from) = columns[kw].clone();
                        let shift = from as isize - cols.start as isize;
                        let weight = weights[(c * k + kh) * k + kw];
                        accumulate(&mut sums, start, input, &cols, shift, weight);
                    }
                }
            }
            span.copy_from_slice(&sums[..span.len()]);
        }
    }

    /// Input channel `c`'s gradient: for each line, what each output line that read it sends
    /// back, a span of the line at a time.
    #[inline(always)]
    fn input_plane(
        &self,
        columns: &[Columns],
        plane: &mut [f32],
        grads: &[f32],
        weights: &[f32],
        c: usize,
    ) {
        let k = self.kernel;
        for (ih, line) in plane.chunks_mut(self.width).enumerate() {
            for (start, span) in spans(line) {
                let mut sums = [0f32; SPAN];
                for (o, grad) in grads.chunks(self.pixels()).enumerate() {
                    let weights = &weights[o * self.depth() + c * k * k..][..k * k];
                    for kh in 0..k {
                        let Some(oh) = self.output_row(ih, kh) else {
                            continue;
                        };
                        let grad = &grad[oh * self.out_w..][..self.out_w];
                        for (kw, (cols, from)) in columns.iter().enumerate() {
                            let shift = cols.start as isize - *from as isize;
                            let reached = *from..from + cols.len();
                            accumulate(
                                &mut sums,
                                start,
                                grad,
                                &reached,
                                shift,
                                weights[kh * k + kw],
                            );
                        }
                    }
                }
                span.copy_from_slice(&sums[..span.len()]);
            }
        }
    }

    /// The k x k weight gradients from input channel `c` to output channel `o`, summed over the
    /// batch: each a sum of products of output-gradient lines and the input lines they read.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn weight_taps(
        &self,
        columns: &[Columns],
        taps: &mut [f32],
        images: &[f32],
        grads: &[f32],
        out_image: usize,
        o: usize,
        c: usize,
    ) {
        let k = self.kernel;
        let batch = images
            .chunks(self.image())
            .zip(grads.chunks(out_image.max(1)));
        for (image, grads) in batch {
            let plane = &image[c * self.plane()..][..self.plane()];
            let grad = &grads[o * self.pixels()..][..self.pixels()];
            for (oh, grad) in grad.chunks(self.out_w.max(1)).enumerate() {
                for kh in 0..k {
                    let Some(ih) = self.input_row(oh, kh) else {
                        continue;
                    };
                    let input = &plane[ih * self.width..][..self.width];
                    for kw in 0..k {
                        let (cols, from) = columns[kw].clone();
                        taps[kh * k + kw] += dot(&grad[cols], &input[from..]);
                    }
                }
            }
        }
    }

    /// The operand as the products see it: rounded to bf16 where the convolution's products
    /// are bf16 dot products, so that the direct path computes what the column path would.
    fn operand<'a>(&self, values: &'a [f32]) -> std::borrow::Cow<'a, [f32]> {
        if self.bf16 && crate::backend::bf16_dot_products() {
            values.par_iter().map(|&v| bf16::rounded(v)).collect()
        } else {
            values.into()
        }
    }

    fn plane(&self) -> usize {
        self.height * self.width
    }

    /// The input row that output row `oh` reads at kernel row `kh`, if it is not padding.
    #[inline(always)]
    fn input_row(&self, oh: usize, kh: usize) -> Option<usize> {
        (oh + kh)
            .checked_sub(self.padding)
            .filter(|&ih| ih < self.height)
    }

    /// The output row that reads input row `ih` at kernel row `kh`, if there is one.
    #[inline(always)]
    fn output_row(&self, ih: usize, kh: usize) -> Option<usize> {
        (ih + self.padding)
            .checked_sub(kh)
            .filter(|&oh| oh < self.out_h)
    }

    /// For each kernel column, the output columns that read inside the input and the input
    /// column the first of them reads; worked out once per call, not in the loops.
    fn columns(&self) -> Vec<Columns> {
        (0..self.kernel)
            .map(|kw| {
                let cols = self.inside(kw, self.width, self.out_w);
                if cols.is_empty() {
                    return (0..0, 0);
                }
                let from = cols.start + kw - self.padding;
                (cols, from)
            })
            .collect()
    }
}

/// One task of a direct kernel. Through pulp's dispatch, which runs it inside a function compiled
/// for the CPU's vectors; its loops are `#[inline(always)]` methods, so they are compiled there
/// too (a closure's body would be compiled apart, for the baseline CPU).
struct Task<'a> {
    geometry: &'a Geometry,
    columns: &'a [Columns],
    work: Work<'a>,
}

/// What a [`Task`] computes: an output line, an input plane's gradient or the weight gradient
/// between two channels.
enum Work<'a> {
    Output {
        line: &'a mut [f32],
        image: &'a [f32],
        weights: &'a [f32],
        oh: usize,
    },
    Input {
        plane: &'a mut [f32],
        grads: &'a [f32],
        weights: &'a [f32],
        c: usize,
    },
    Weight {
        taps: &'a mut [f32],
        images: &'a [f32],
        grads: &'a [f32],
        out_image: usize,
        o: usize,
        c: usize,
    },
}

impl WithSimd for Task<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let Task {
            geometry: g,
            columns,
            work,
        } = self;
        match work {
            Work::Output {
                line,
                image,
                weights,
                oh,
            } => g.output_line(columns, line, image, weights, oh),
            Work::Input {
                plane,
                grads,
                weights,
                c,
            } => g.input_plane(columns, plane, grads, weights, c),
            Work::Weight {
                taps,
                images,
                grads,
                out_image,
                o,
                c,
            } => g.weight_taps(columns, taps, images, grads, out_image, o, c),
        }
    }
}

/// The line in spans of `SPAN` values, each with where it starts.
#[inline(always)]
fn spans(line: &mut [f32]) -> impl Iterator<Item = (usize, &mut [f32])> {
    line.chunks_mut(SPAN)
        .enumerate()
        .map(|(index, span)| (index * SPAN, span))
}

/// sums[i] += weight x src[start + i + shift] for the i whose start + i lies in `valid`: the
/// sums stay in vector registers over a whole kernel, and only the edges of an image, where
/// a span is partly padding, go through a copy.
#[inline(always)]
fn accumulate(
    sums: &mut [f32; SPAN],
    start: usize,
    src: &[f32],
    valid: &Range<usize>,
    shift: isize,
    weight: f32,
) {
    let at = |x: usize| (x as isize + shift) as usize;
    if valid.start <= start && start + SPAN <= valid.end {
        let src: &[f32; SPAN] = src[at(start)..][..SPAN].try_into().unwrap();
        for (sum, &value) in sums.iter_mut().zip(src) {
            *sum += weight * value;
        }
        return;
    }
    let mut edge = [0f32; SPAN];
    let (first, end) = (valid.start.max(start), valid.end.min(start + SPAN));
    if first < end {
        edge[first - start..end - start].copy_from_slice(&src[at(first)..at(end)]);
    }
    for (sum, &value) in sums.iter_mut().zip(&edge) {
        *sum += weight * value;
    }
}

/// The dot product of `a` with the start of `b`, in `SPAN` partial sums that vectorise.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let b = &b[..a.len()];
    let mut sums = [0f32; SPAN];
    let (chunks, rest) = (a.chunks_exact(SPAN), b.chunks_exact(SPAN));
    let tail: f32 = chunks
        .remainder()
        .iter()
        .zip(rest.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in chunks.zip(rest) {
        for lane in 0..SPAN {
            sums[lane] += x[lane] * y[lane];
        }
    }
    // Halving the partial sums keeps the reduction in vector adds.
    let mut width = SPAN / 2;
    while width > 0 {
        for lane in 0..width {
            sums[lane] += sums[lane + width];
        }
        width /= 2;
    }
    sums[0] + tail
}
