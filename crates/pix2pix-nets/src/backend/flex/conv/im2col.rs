//! The column matrix of a convolution: im2col (one image to columns[depth, pixels] in PyTorch's
//! (channel, kernel row, kernel column) order) and its adjoint col2im. With a stride, each channel
//! is first split by column phase (column modulo stride), so that every line im2col copies, and
//! col2im adds, is contiguous instead of strided.

use std::cell::RefCell;
use std::ops::Range;

use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::ConvShape;
use super::bf16::{Packed, SharedLanes, pack_rows};
use crate::backend::Bf16Products;
use crate::backend::flex::dims;

/// Sizes of one image's convolution.
#[derive(Clone, Copy)]
pub(super) struct Geometry {
    pub(super) channels: usize,
    pub(super) height: usize,
    pub(super) width: usize,
    pub(super) kernel: usize,
    pub(super) stride: usize,
    pub(super) padding: usize,
    pub(super) out_h: usize,
    pub(super) out_w: usize,
    /// The products' instructions (`ConvShape::bf16`).
    pub(super) bf16: Bf16Products,
}

impl Geometry {
    /// The convolution's geometry. A transposed convolution is the adjoint of a convolution
    /// from its output (the convolution's input) to its input (the convolution's output).
    pub(super) fn of(x: &FlexTensor, weight: &FlexTensor, shape: ConvShape) -> Self {
        let [_, x_channels, x_height, x_width] = dims(x);
        // A transposed convolution's weight is (in, out, k, k): dim 1 is its output channels.
        let [_, transposed_out, kernel, _] = dims(weight);
        let ConvShape {
            stride, padding, ..
        } = shape;
        let span = |side: usize| (side - 1) * stride + kernel + shape.output_padding - 2 * padding;
        let (channels, height, width, out_h, out_w) = if shape.transposed {
            (
                transposed_out,
                span(x_height),
                span(x_width),
                x_height,
                x_width,
            )
        } else {
            let out = |side: usize| (side + 2 * padding - kernel) / stride + 1;
            (x_channels, x_height, x_width, out(x_height), out(x_width))
        };
        Self {
            channels,
            height,
            width,
            kernel,
            stride,
            padding,
            out_h,
            out_w,
            bf16: shape.bf16,
        }
    }

    /// Whether the convolution's products round their operands to bf16, as the caller chose
    /// (`ConvShape::bf16`; without the CPU's bf16 instructions, `--precision bf16` multiplies in
    /// f32).
    pub(super) fn rounds_operands(&self) -> bool {
        self.bf16 != Bf16Products::F32
    }

    pub(super) fn image(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub(super) fn pixels(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Rows of the column matrix: one per (channel, kernel row, kernel column).
    pub(super) fn depth(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// The outputs `o` along a side whose input `o * stride + k - padding` lies inside it.
    pub(super) fn inside(&self, k: usize, side: usize, outputs: usize) -> Range<usize> {
        let (stride, padding) = (self.stride, self.padding);
        let first = padding.saturating_sub(k).div_ceil(stride);
        let end = match (side + padding).checked_sub(k + 1) {
            Some(last_reach) => (last_reach / stride + 1).min(outputs),
            None => 0,
        };
        first..end.max(first)
    }

    /// Columns of one plane of each column phase: ceil(width / stride).
    fn phase_width(&self) -> usize {
        self.width.div_ceil(self.stride)
    }

    /// Values of one channel split by column phase: `stride` planes of `height` x `phase_width`.
    fn phased_plane(&self) -> usize {
        self.stride * self.height * self.phase_width()
    }

    /// Where kernel position (kh, kw) reads in one channel's phased planes for the output
    /// columns `cols`: output column o reads input column o * stride + kw - padding, which is
    /// in phase (kw - padding) mod stride at index o + (kw - padding) div stride.
    fn tap(&self, kh: usize, kw: usize, cols: &Range<usize>) -> Tap {
        let (stride, phase_width) = (self.stride as isize, self.phase_width() as isize);
        let offset = kw as isize - self.padding as isize;
        let (phase, shift) = (offset.rem_euclid(stride), offset.div_euclid(stride));
        // Output row 0 reads input row kh - padding.
        let first_row = phase * self.height as isize + kh as isize - self.padding as isize;
        Tap {
            start: first_row * phase_width + cols.start as isize + shift,
            row_step: self.stride * self.phase_width(),
            len: cols.len(),
        }
    }

    /// Splits each channel's columns by phase (column index modulo the stride), so that every
    /// line im2col reads is contiguous: phased[c][phase][h][j] = image[c][h][j * stride + phase].
    fn split_phases(&self, image: &[f32], phased: &mut [f32]) {
        let (stride, width, phase_width) = (self.stride, self.width, self.phase_width());
        phased
            .par_chunks_mut(self.phased_plane())
            .zip(image.par_chunks(self.height * width))
            .for_each(|(phases, plane)| {
                for (phase, phase_plane) in phases.chunks_mut(self.height * phase_width).enumerate()
                {
                    for (row, line) in plane.chunks(width).zip(phase_plane.chunks_mut(phase_width))
                    {
                        for (target, &value) in
                            line.iter_mut().zip(row.iter().skip(phase).step_by(stride))
                        {
                            *target = value;
                        }
                    }
                }
            });
    }

    /// The inverse of `split_phases` for one channel.
    fn join_phases(&self, phases: &[f32], plane: &mut [f32]) {
        let (stride, width, phase_width) = (self.stride, self.width, self.phase_width());
        for (phase, phase_plane) in phases.chunks(self.height * phase_width).enumerate() {
            for (row, line) in plane.chunks_mut(width).zip(phase_plane.chunks(phase_width)) {
                for (target, &value) in row.iter_mut().skip(phase).step_by(stride).zip(line) {
                    *target = value;
                }
            }
        }
    }

    /// One image's columns [depth, pixels], into its slot of `columns`.
    pub(super) fn im2col(&self, image: &[f32], columns: &mut [f32], slot: Slot) {
        self.with_phases(image, |phased| {
            columns[..self.depth() * slot.stride]
                .par_chunks_mut(slot.stride)
                .enumerate()
                .for_each(|(row, column)| {
                    let column = &mut column[slot.offset..][..self.pixels()];
                    self.column_row(phased, row, column);
                });
        });
    }

    /// [`Self::im2col`] as the right operand of the bf16 dot products, packed whole (`packed`
    /// in `lanes`, [`pack_rows`]), the image's pixels as the columns from `slot.offset`.
    pub(super) fn im2col_packed(
        &self,
        image: &[f32],
        packed: Packed,
        lanes: SharedLanes,
        slot: Slot,
    ) {
        assert_eq!(packed.k, self.depth());
        self.with_phases(image, |phased| {
            let columns = (slot.offset, self.pixels());
            let row = |row: usize, values: &mut [f32]| self.column_row(phased, row, values);
            pack_rows(packed, 1, lanes, columns, row);
        });
    }

    /// `f` of the image split by column phase (`split_phases`; with one phase, the image's own
    /// layout).
    fn with_phases(&self, image: &[f32], f: impl FnOnce(&[f32])) {
        if self.stride == 1 {
            f(image);
        } else {
            with_scratch(self.channels * self.phased_plane(), |phased| {
                self.split_phases(image, phased);
                f(phased);
            });
        }
    }

    /// Row `row` of the column matrix, (channel, kernel row, kernel column), of one image's
    /// phased planes: its pixels in `column`.
    fn column_row(&self, phased: &[f32], row: usize, column: &mut [f32]) {
        let kk = self.kernel * self.kernel;
        let (c, kh, kw) = (
            row / kk,
            (row / self.kernel) % self.kernel,
            row % self.kernel,
        );
        let phases = &phased[c * self.phased_plane()..][..self.phased_plane()];
        let rows = self.inside(kh, self.height, self.out_h);
        let cols = self.inside(kw, self.width, self.out_w);
        let tap = self.tap(kh, kw, &cols);
        for (oh, line) in column.chunks_mut(self.out_w).enumerate() {
            if !rows.contains(&oh) || cols.is_empty() {
                line.fill(0.0);
                continue;
            }
            line[..cols.start].fill(0.0);
            line[cols.clone()].copy_from_slice(&phases[tap.line(oh)]);
            line[cols.end..].fill(0.0);
        }
    }

    /// The adjoint of `im2col`: sums one image's columns, in its slot of `columns`, back into
    /// its gradient.
    pub(super) fn col2im(&self, columns: &[f32], slot: Slot, image: &mut [f32]) {
        image
            .par_chunks_mut(self.height * self.width)
            .enumerate()
            .for_each(|(c, plane)| {
                if self.stride == 1 {
                    self.col2im_phased(columns, slot, c, plane);
                } else {
                    with_scratch(self.phased_plane(), |phases| {
                        self.col2im_phased(columns, slot, c, phases);
                        self.join_phases(phases, plane);
                    });
                }
            });
    }

    /// Channel `c`'s sums, into its phased planes.
    fn col2im_phased(&self, columns: &[f32], slot: Slot, c: usize, phases: &mut [f32]) {
        let kk = self.kernel * self.kernel;
        let pixels = self.pixels();
        phases.fill(0.0);
        for k in 0..kk {
            let (kh, kw) = (k / self.kernel, k % self.kernel);
            let rows = self.inside(kh, self.height, self.out_h);
            let cols = self.inside(kw, self.width, self.out_w);
            if cols.is_empty() {
                continue;
            }
            let column = &columns[(c * kk + k) * slot.stride + slot.offset..][..pixels];
            let tap = self.tap(kh, kw, &cols);
            for oh in rows {
                let line = &column[oh * self.out_w..][cols.clone()];
                let targets = &mut phases[tap.line(oh)];
                for (target, &value) in targets.iter_mut().zip(line) {
                    *target += value;
                }
            }
        }
    }
}

/// Where one image's columns sit in a column matrix that a group of images shares: its
/// `pixels` columns start at `offset` in every row of `stride` values.
#[derive(Clone, Copy)]
pub(super) struct Slot {
    offset: usize,
    stride: usize,
}

impl Slot {
    /// The slot of image `index` of a group whose columns make rows of `stride` values.
    pub(super) fn of(index: usize, pixels: usize, stride: usize) -> Self {
        Self {
            offset: index * pixels,
            stride,
        }
    }
}

/// The lines one kernel position reads in a channel's phased planes, output row by output row.
struct Tap {
    /// Index of output row 0's line (negative where that row reads padding only).
    start: isize,
    row_step: usize,
    len: usize,
}

impl Tap {
    /// The line of output row `oh`, which must read inside the image.
    fn line(&self, oh: usize) -> Range<usize> {
        let start = (self.start + (oh * self.row_step) as isize) as usize;
        start..start + self.len
    }
}

thread_local! {
    /// Buffers of the convolutions on this thread, kept for the next ones: fresh buffers of up
    /// to 16 MB per call cost as much in page faults and zeroing as the im2col. A stack, so that
    /// a nested call (the phased image inside the column matrix's call) gets its own.
    static SCRATCH: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a buffer of `len` values (contents unspecified) borrowed from this thread's
/// scratch.
pub(super) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buffer = SCRATCH.with_borrow_mut(Vec::pop).unwrap_or_default();
    if buffer.len() < len {
        buffer = vec![0f32; len];
    }
    let result = f(&mut buffer[..len]);
    SCRATCH.with_borrow_mut(|pool| pool.push(buffer));
    result
}
