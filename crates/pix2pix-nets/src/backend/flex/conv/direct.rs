//! Convolutions with few output channels at stride 1, computed directly: each output line is a
//! sum of shifted input lines, each weight a sum of products of lines. The column matrix would
//! hold k x k copies of the input for a product a few rows high: for the ResNet generators' 7x7
//! output convolution (64 channels to 3 at the image's size) that is 49 x 64 values per pixel,
//! written and read once per product, far more memory traffic than arithmetic.
//!
//! The loops are plain slices; pulp's dispatch ([`Task`]) compiles them for the CPU's widest
//! vectors (AVX-512, or AVX2 with FMA) and picks one at run time.

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

use super::bf16;
use super::im2col::Geometry;

/// Values of a line summed together in vector registers: four AVX-512 registers.
const SPAN: usize = 64;

/// Values of output gradient per run of a weight's products (4 KB).
const RUN: usize = 1024;

impl Geometry {
    /// Whether the convolution to `out_channels` can be computed here ([`Self::algorithm`]
    /// decides).
    pub(super) fn fits_direct(&self, out_channels: usize) -> bool {
        crate::backend::convolves_directly(self.stride, out_channels)
    }

    /// outputs[batch, out_channels, out_h, out_w], one task per output line.
    pub(super) fn convolve_direct(
        &self,
        images: &[f32],
        weights: &[f32],
        out_channels: usize,
    ) -> Vec<f32> {
        let images = self.padded(images, self.width);
        let (weights, arch) = (self.operand(weights), Arch::new());
        let out_h = self.out_h;
        let batch = images.lines / self.channels.max(1) / self.height.max(1);
        let mut outputs = vec![0f32; batch * out_channels * self.pixels()];
        outputs
            .par_chunks_mut(self.out_w.max(1))
            .enumerate()
            .for_each(|(index, line)| {
                let (b, o) = (index / out_h / out_channels, index / out_h % out_channels);
                arch.dispatch(Task {
                    geometry: self,
                    work: Work::Output {
                        line,
                        images: &images,
                        weights: &weights[o * self.depth()..][..self.depth()],
                        b,
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
        let grads = self.padded(grads, self.out_w);
        let (weights, arch) = (self.operand(weights), Arch::new());
        let batch = grads.lines / out_channels.max(1) / self.out_h.max(1);
        let mut images = vec![0f32; batch * self.image()];
        images
            .par_chunks_mut(self.plane().max(1))
            .enumerate()
            .for_each(|(index, plane)| {
                arch.dispatch(Task {
                    geometry: self,
                    work: Work::Input {
                        plane,
                        grads: &grads,
                        weights: &weights,
                        out_channels,
                        b: index / self.channels,
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
        let images = self.padded(images, self.width);
        let grads = self.padded_in(grads, self.out_w, images.margin, images.stride);
        let (channels, arch) = (self.channels, Arch::new());
        let mut product = vec![0f32; out_channels * self.depth()];
        product
            .par_chunks_mut(self.kernel * self.kernel)
            .enumerate()
            .for_each(|(index, taps)| {
                arch.dispatch(Task {
                    geometry: self,
                    work: Work::Weight {
                        taps,
                        images: &images,
                        grads: &grads,
                        out_channels,
                        o: index / channels,
                        c: index % channels,
                    },
                });
            });
        product
    }

    /// Output line `oh` of image `b`'s output channel with `weights`: the sum over the input
    /// channels and the kernel of the weight times the input line it reads, a span at a time.
    #[inline(always)]
    fn output_line(&self, line: &mut [f32], images: &Padded, weights: &[f32], b: usize, oh: usize) {
        let k = self.kernel;
        for (start, span) in spans(line) {
            let mut sums = [0f32; SPAN];
            for c in 0..self.channels {
                for kh in 0..k {
                    let Some(ih) = self.input_row(oh, kh) else {
                        continue;
                    };
                    let l = (b * self.channels + c) * self.height + ih;
                    for kw in 0..k {
                        // Output column x reads input column x + kw - padding.
                        let from = start as isize + kw as isize - self.padding as isize;
                        accumulate(
                            &mut sums,
                            images.span(l, from),
                            weights[(c * k + kh) * k + kw],
                        );
                    }
                }
            }
            span.copy_from_slice(&sums[..span.len()]);
        }
    }

    /// Input channel `c`'s gradient in image `b`: for each line, what each output line that
    /// read it sends back, a span of the line at a time.
    #[inline(always)]
    fn input_plane(
        &self,
        plane: &mut [f32],
        grads: &Padded,
        weights: &[f32],
        out_channels: usize,
        b: usize,
        c: usize,
    ) {
        let k = self.kernel;
        for (ih, line) in plane.chunks_mut(self.width).enumerate() {
            for (start, span) in spans(line) {
                let mut sums = [0f32; SPAN];
                for o in 0..out_channels {
                    let weights = &weights[o * self.depth() + c * k * k..][..k * k];
                    for kh in 0..k {
                        let Some(oh) = self.output_row(ih, kh) else {
                            continue;
                        };
                        let l = (b * out_channels + o) * self.out_h + oh;
                        for kw in 0..k {
                            // Input column x is read by output column x + padding - kw.
                            let from = start as isize + self.padding as isize - kw as isize;
                            accumulate(&mut sums, grads.span(l, from), weights[kh * k + kw]);
                        }
                    }
                }
                span.copy_from_slice(&sums[..span.len()]);
            }
        }
    }

    /// Output channel `o`'s weights from input channel `c`: each tap the sum over the images
    /// of the output gradient times the input lines it read. `grads` sit in lines as long as
    /// the images' and at the same column, zeros around them, so that lines shorter than a span
    /// (14 or 30 values on the PatchGAN's last layer) make runs of products over consecutive
    /// rows, of about `RUN` values, that fill the vectors; the run stays in the first-level
    /// cache for the taps that read it. Longer lines are a run each.
    #[inline(always)]
    fn weight_taps(
        &self,
        taps: &mut [f32],
        images: &Padded,
        grads: &Padded,
        out_channels: usize,
        o: usize,
        c: usize,
    ) {
        let (k, stride) = (self.kernel, images.stride);
        let rows = if self.out_w < SPAN {
            (RUN / stride).max(1)
        } else {
            1
        };
        let batch = images.lines / (self.channels * self.height).max(1);
        let mut partial = vec![[0f32; SPAN]; k * k];
        for b in 0..batch {
            for top in (0..self.out_h).step_by(rows) {
                for kh in 0..k {
                    let reading = self.rows_reading_image(kh);
                    let (first, end) = (top.max(reading.start), (top + rows).min(reading.end));
                    if first >= end {
                        continue;
                    }
                    let len = (end - first - 1) * stride + self.out_w;
                    let grad = grads.line((b * out_channels + o) * self.out_h + first, 0, len);
                    let l = (b * self.channels + c) * self.height + first + kh - self.padding;
                    for kw in 0..k {
                        let input = images.line(l, kw as isize - self.padding as isize, len);
                        add_products(&mut partial[kh * k + kw], grad, input);
                    }
                }
            }
        }
        for (tap, sums) in taps.iter_mut().zip(&mut partial) {
            *tap = reduce(sums);
        }
    }

    /// The operand as the products see it: rounded to bf16 where the convolution's products
    /// are bf16 dot products, so that the direct path computes what the column path would.
    fn operand<'a>(&self, values: &'a [f32]) -> std::borrow::Cow<'a, [f32]> {
        if self.rounds_operands() {
            values.par_iter().map(|&v| bf16::rounded(v)).collect()
        } else {
            values.into()
        }
    }

    /// `planes`' lines of `width` values as operands ([`Self::operand`], in the same copy) with
    /// zeros around them: enough that the kernel's shifted reads, a span at a time, find zeros
    /// wherever the convolution reads padding.
    fn padded(&self, planes: &[f32], width: usize) -> Padded {
        let margin = self.kernel + self.padding;
        self.padded_in(planes, width, margin, width + 2 * margin)
    }

    /// [`Self::padded`] with each line at column `margin` of `stride` values.
    fn padded_in(&self, planes: &[f32], width: usize, margin: usize, stride: usize) -> Padded {
        if self.rounds_operands() {
            Padded::new(planes, width, margin, stride, bf16::rounded)
        } else {
            Padded::new(planes, width, margin, stride, |v| v)
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

    /// The output rows whose input row at kernel row `kh` (see [`Self::input_row`]) is in the
    /// image, not padding.
    #[inline(always)]
    fn rows_reading_image(&self, kh: usize) -> std::ops::Range<usize> {
        let end = (self.height + self.padding).saturating_sub(kh);
        self.padding.saturating_sub(kh)..self.out_h.min(end)
    }

    /// The output row that reads input row `ih` at kernel row `kh`, if there is one.
    #[inline(always)]
    fn output_row(&self, ih: usize, kh: usize) -> Option<usize> {
        (ih + self.padding)
            .checked_sub(kh)
            .filter(|&oh| oh < self.out_h)
    }
}

/// One task of a direct kernel. Through pulp's dispatch, which runs it inside a function compiled
/// for the CPU's vectors; its loops are `#[inline(always)]` methods, so they are compiled there
/// too (a closure's body would be compiled apart, for the baseline CPU).
struct Task<'a> {
    geometry: &'a Geometry,
    work: Work<'a>,
}

/// What a [`Task`] computes: an output line, an input plane's gradient or the weight gradient
/// between two channels.
enum Work<'a> {
    Output {
        line: &'a mut [f32],
        images: &'a Padded,
        weights: &'a [f32],
        b: usize,
        oh: usize,
    },
    Input {
        plane: &'a mut [f32],
        grads: &'a Padded,
        weights: &'a [f32],
        out_channels: usize,
        b: usize,
        c: usize,
    },
    Weight {
        taps: &'a mut [f32],
        images: &'a Padded,
        grads: &'a Padded,
        out_channels: usize,
        o: usize,
        c: usize,
    },
}

impl WithSimd for Task<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let g = self.geometry;
        match self.work {
            Work::Output {
                line,
                images,
                weights,
                b,
                oh,
            } => g.output_line(line, images, weights, b, oh),
            Work::Input {
                plane,
                grads,
                weights,
                out_channels,
                b,
                c,
            } => g.input_plane(plane, grads, weights, out_channels, b, c),
            Work::Weight {
                taps,
                images,
                grads,
                out_channels,
                o,
                c,
            } => g.weight_taps(taps, images, grads, out_channels, o, c),
        }
    }
}

/// Lines with `margin` zeros on both sides, and `SPAN` + `margin` more after the last: a span
/// read from any column between -margin and the line's end stays inside the buffer, so the
/// kernels' loops need no edge cases (lanes past a line's end read its neighbour, and are not
/// kept).
struct Padded {
    values: Vec<f32>,
    lines: usize,
    stride: usize,
    margin: usize,
}

impl Padded {
    /// `planes` in lines of `width` values, each value through `value`, at column `margin` of
    /// lines of `stride` values (at least width + 2 x margin).
    fn new(
        planes: &[f32],
        width: usize,
        margin: usize,
        stride: usize,
        value: impl Fn(f32) -> f32 + Sync,
    ) -> Self {
        let width = width.max(1);
        let lines = planes.len() / width;
        debug_assert!(stride >= width + 2 * margin);
        let mut values = vec![0f32; lines * stride + SPAN + margin];
        values[..lines * stride]
            .par_chunks_mut(stride)
            .zip(planes.par_chunks(width))
            .for_each(|(padded, line)| {
                for (target, &v) in padded[margin..][..width].iter_mut().zip(line) {
                    *target = value(v);
                }
            });
        Self {
            values,
            lines,
            stride,
            margin,
        }
    }

    /// `len` values of line `l` from column `from` (at least -margin).
    #[inline(always)]
    fn line(&self, l: usize, from: isize, len: usize) -> &[f32] {
        let at = (l * self.stride) as isize + self.margin as isize + from;
        &self.values[at as usize..][..len]
    }

    /// A span of line `l` from column `from` (at least -margin, before the line's end).
    #[inline(always)]
    fn span(&self, l: usize, from: isize) -> &[f32; SPAN] {
        self.line(l, from, SPAN).try_into().unwrap()
    }
}

/// The line in spans of `SPAN` values, each with where it starts.
#[inline(always)]
fn spans(line: &mut [f32]) -> impl Iterator<Item = (usize, &mut [f32])> {
    line.chunks_mut(SPAN)
        .enumerate()
        .map(|(index, span)| (index * SPAN, span))
}

/// sums += weight x src, in vector registers.
#[inline(always)]
fn accumulate(sums: &mut [f32; SPAN], src: &[f32; SPAN], weight: f32) {
    for (sum, &value) in sums.iter_mut().zip(src) {
        *sum += weight * value;
    }
}

/// sums[lane] += the products a[i] b[i] with i = lane modulo `SPAN`; the last partial span
/// through zero-filled copies, so that it vectorises too.
#[inline(always)]
fn add_products(sums: &mut [f32; SPAN], a: &[f32], b: &[f32]) {
    let b = &b[..a.len()];
    let (chunks, rest) = (a.chunks_exact(SPAN), b.chunks_exact(SPAN));
    let (a_tail, b_tail) = (chunks.remainder(), rest.remainder());
    for (x, y) in chunks.zip(rest) {
        for lane in 0..SPAN {
            sums[lane] += x[lane] * y[lane];
        }
    }
    if !a_tail.is_empty() {
        let (mut x, mut y) = ([0f32; SPAN], [0f32; SPAN]);
        x[..a_tail.len()].copy_from_slice(a_tail);
        y[..b_tail.len()].copy_from_slice(b_tail);
        for lane in 0..SPAN {
            sums[lane] += x[lane] * y[lane];
        }
    }
}

/// The sum of the partial sums; halving them keeps the reduction in vector adds.
#[inline(always)]
fn reduce(sums: &mut [f32; SPAN]) -> f32 {
    let mut width = SPAN / 2;
    while width > 0 {
        for lane in 0..width {
            sums[lane] += sums[lane + width];
        }
        width /= 2;
    }
    sums[0]
}
