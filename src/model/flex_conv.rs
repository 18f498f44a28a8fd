//! Faster 2-D convolutions and transposed convolutions for Flex, forward and backward, as a Burn
//! backend extension: one im2col over the whole image in PyTorch's (channel, kernel row, kernel
//! column) order and one GEMM with the weight as it is stored.
//!
//! Flex's own convolution tiles the output in blocks of 512 pixels and transposes the input to
//! NHWC and the weight to (kh, kw, c) order on one thread at every call: for unet_256's 512-channel
//! layers at 2x2 to 16x16 that reshuffle of a 16 MB weight dominates (about 20 ms a call against
//! 2 ms here), and its gradients go through the same path. Here a convolution is im2col + GEMM,
//! its input gradient GEMM + col2im, its weight gradient a GEMM against the columns; a transposed
//! convolution is the adjoint: its forward is the convolution's input gradient and so on.
//! With a stride, each channel is first split by column phase (column modulo stride), so that
//! every line im2col copies, and col2im adds, is contiguous instead of strided.

use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, backend_extension};
use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::Tensor;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn_autodiff::Autodiff;
use burn_autodiff::NodeId;
use burn_autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::FlexTensor;
use std::cell::RefCell;
use std::ops::Range;

use rayon::prelude::*;

use super::flex_tensor::{f32_tensor, is_f32};

/// Convolutions (`transposed` false) and transposed convolutions (true) with square kernels,
/// equal strides and symmetric padding: what pix2pix's networks use. Weights are laid out as in
/// PyTorch: (out, in, k, k) for convolutions, (in, out, k, k) for transposed ones.
#[backend_extension(Flex, Autodiff)]
pub trait Im2colConv: Backend {
    fn im2col_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        shape: ConvShape,
    ) -> FloatTensor<Self>;

    /// One gradient of `im2col_conv`: for its input or for its weight. Apart, so that a
    /// backward pass computes only what is tracked: no weight gradients through the frozen
    /// discriminator in the generator's step, no gradient for the images fed in.
    fn im2col_conv_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        shape: ConvShape,
        wrt: ConvGradient,
    ) -> FloatTensor<Self>;
}

/// Which gradient [`Im2colConv::im2col_conv_backward`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvGradient {
    Input,
    Weight,
}

/// The hyper-parameters of one [`Im2colConv`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub stride: usize,
    pub padding: usize,
    /// Transposed convolution; its extra rows and columns at the end are `output_padding`.
    pub transposed: bool,
    pub output_padding: usize,
}

impl ConvShape {
    fn conv_options(self) -> ConvOptions<2> {
        ConvOptions::new([self.stride; 2], [self.padding; 2], [1; 2], 1)
    }

    fn transpose_options(self) -> ConvTransposeOptions<2> {
        let (stride, padding) = ([self.stride; 2], [self.padding; 2]);
        ConvTransposeOptions::new(stride, padding, [self.output_padding; 2], [1; 2], 1)
    }
}

/// Sizes of one image's convolution.
#[derive(Clone, Copy)]
struct Geometry {
    channels: usize,
    height: usize,
    width: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    /// The convolution's geometry. A transposed convolution is the adjoint of a convolution
    /// from its output (the convolution's input) to its input (the convolution's output).
    fn of(x: &FlexTensor, weight: &FlexTensor, shape: ConvShape) -> Self {
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
        }
    }

    fn image(&self) -> usize {
        self.channels * self.height * self.width
    }

    fn pixels(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Rows of the column matrix: one per (channel, kernel row, kernel column).
    fn depth(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// The outputs `o` along a side whose input `o * stride + k - padding` lies inside it.
    fn inside(&self, k: usize, side: usize, outputs: usize) -> Range<usize> {
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

    /// columns[depth, pixels] of one image.
    fn im2col(&self, image: &[f32], columns: &mut [f32]) {
        if self.stride == 1 {
            // With one phase the phased layout is the image's own.
            self.im2col_phased(image, columns);
        } else {
            with_scratch(self.channels * self.phased_plane(), |phased| {
                self.split_phases(image, phased);
                self.im2col_phased(phased, columns);
            });
        }
    }

    fn im2col_phased(&self, phased: &[f32], columns: &mut [f32]) {
        let kk = self.kernel * self.kernel;
        columns
            .par_chunks_mut(self.pixels())
            .enumerate()
            .for_each(|(row, column)| {
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
            });
    }

    /// The adjoint of `im2col`: sums columns[depth, pixels] back into one image's gradient.
    fn col2im(&self, columns: &[f32], image: &mut [f32]) {
        image
            .par_chunks_mut(self.height * self.width)
            .enumerate()
            .for_each(|(c, plane)| {
                if self.stride == 1 {
                    self.col2im_phased(columns, c, plane);
                } else {
                    with_scratch(self.phased_plane(), |phases| {
                        self.col2im_phased(columns, c, phases);
                        self.join_phases(phases, plane);
                    });
                }
            });
    }

    /// Channel `c`'s sums, into its phased planes.
    fn col2im_phased(&self, columns: &[f32], c: usize, phases: &mut [f32]) {
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
            let column = &columns[(c * kk + k) * pixels..][..pixels];
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

/// A row-major or transposed view of a matrix for [`matmul`]: (data, column stride, row stride).
type View<'a> = (&'a [f32], isize, isize);

/// Whether `view` holds every element of a `rows` x `cols` matrix.
fn covers((data, col_stride, row_stride): View, rows: usize, cols: usize) -> bool {
    let last = (rows as isize - 1) * row_stride + (cols as isize - 1) * col_stride;
    col_stride > 0 && row_stride > 0 && (last as usize) < data.len()
}

/// dst[m, n] (row-major) = lhs[m, k] x rhs[k, n], plus dst when `accumulate`.
///
/// gemm computes outer products (k <= 2) and matrix-vector products (one row or column) on the
/// calling thread alone; the PatchGAN's one-channel last layer has both (its input gradient is
/// an 8192 x 900 outer product), so those are split into blocks of rows, or of the one row's
/// columns, here.
fn matmul(m: usize, n: usize, k: usize, dst: &mut [f32], lhs: View, rhs: View, accumulate: bool) {
    let serial = k <= 2 || m == 1 || n == 1;
    let tasks = rayon::current_num_threads() * 4;
    if !serial || m * n * k < 1 << 18 {
        return product(
            m,
            n,
            k,
            dst,
            lhs,
            rhs,
            accumulate,
            gemm::Parallelism::Rayon(0),
        );
    }
    let single = gemm::Parallelism::None;
    if m > 1 {
        let rows = m.div_ceil(tasks);
        dst[..m * n]
            .par_chunks_mut(rows * n)
            .enumerate()
            .for_each(|(block, dst)| {
                let lhs = (&lhs.0[block * rows * lhs.2 as usize..], lhs.1, lhs.2);
                product(dst.len() / n, n, k, dst, lhs, rhs, accumulate, single);
            });
    } else {
        let cols = n.div_ceil(tasks);
        dst[..n]
            .par_chunks_mut(cols)
            .enumerate()
            .for_each(|(block, dst)| {
                let rhs = (&rhs.0[block * cols * rhs.1 as usize..], rhs.1, rhs.2);
                product(1, dst.len(), k, dst, lhs, rhs, accumulate, single);
            });
    }
}

/// One gemm call for [`matmul`].
#[allow(clippy::too_many_arguments)]
fn product(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    lhs: View,
    rhs: View,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    assert!(dst.len() >= m * n && covers(lhs, m, k) && covers(rhs, k, n));
    // SAFETY: the asserts above keep every access of the product inside the three slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.1,
            lhs.2,
            rhs.0.as_ptr(),
            rhs.1,
            rhs.2,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

impl Geometry {
    /// outputs[batch, out_channels, pixels] of the convolution of images[batch, image].
    fn convolve(&self, images: &[f32], weights: &[f32], out_channels: usize) -> Vec<f32> {
        let (pixels, depth) = (self.pixels(), self.depth());
        let mut outputs = vec![0f32; images.len() / self.image() * out_channels * pixels];
        with_scratch(depth * pixels, |columns| {
            for (image, output) in images
                .chunks(self.image())
                .zip(outputs.chunks_mut(out_channels * pixels))
            {
                self.im2col(image, columns);
                let weights = (weights, 1, depth as isize);
                let columns = (&columns[..], 1, pixels as isize);
                matmul(out_channels, pixels, depth, output, weights, columns, false);
            }
        });
        outputs
    }

    /// The adjoint of `convolve`: images[batch, image] from grads[batch, out_channels, pixels].
    fn convolve_adjoint(&self, grads: &[f32], weights: &[f32], out_channels: usize) -> Vec<f32> {
        let (pixels, depth) = (self.pixels(), self.depth());
        let mut images = vec![0f32; grads.len() / (out_channels * pixels) * self.image()];
        with_scratch(depth * pixels, |columns| {
            for (grad, image) in grads
                .chunks(out_channels * pixels)
                .zip(images.chunks_mut(self.image()))
            {
                // columns[depth, pixels] = weights[out, depth]^T x grad[out, pixels]
                let weights = (weights, depth as isize, 1);
                let grad = (grad, 1, pixels as isize);
                matmul(depth, pixels, out_channels, columns, weights, grad, false);
                self.col2im(columns, image);
            }
        });
        images
    }

    /// The weight gradient [out_channels, depth]: the sum over the batch of
    /// grad[out_channels, pixels] x im2col(image)[depth, pixels]^T.
    fn weight_gradient(&self, images: &[f32], grads: &[f32], out_channels: usize) -> Vec<f32> {
        let (pixels, depth) = (self.pixels(), self.depth());
        let mut weight_grad = vec![0f32; out_channels * depth];
        with_scratch(depth * pixels, |columns| {
            for (index, (image, grad)) in images
                .chunks(self.image())
                .zip(grads.chunks(out_channels * pixels))
                .enumerate()
            {
                self.im2col(image, columns);
                let grad = (grad, 1, pixels as isize);
                let columns = (&columns[..], pixels as isize, 1);
                let accumulate = index > 0;
                matmul(
                    out_channels,
                    depth,
                    pixels,
                    &mut weight_grad,
                    grad,
                    columns,
                    accumulate,
                );
            }
        });
        weight_grad
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
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buffer = SCRATCH.with_borrow_mut(Vec::pop).unwrap_or_default();
    if buffer.len() < len {
        buffer = vec![0f32; len];
    }
    let result = f(&mut buffer[..len]);
    SCRATCH.with_borrow_mut(|pool| pool.push(buffer));
    result
}

fn dims(tensor: &FlexTensor) -> [usize; 4] {
    let shape = tensor.layout().shape();
    [shape[0], shape[1], shape[2], shape[3]]
}

/// Flex's own operations, for dtypes other than f32.
fn flex_conv(x: FlexTensor, weight: FlexTensor, shape: ConvShape) -> FlexTensor {
    if shape.transposed {
        <Flex as ModuleOps<Flex>>::conv_transpose2d(x, weight, None, shape.transpose_options())
    } else {
        <Flex as ModuleOps<Flex>>::conv2d(x, weight, None, shape.conv_options())
    }
}

impl Im2colConv for Flex {
    fn im2col_conv(x: FlexTensor, weight: FlexTensor, shape: ConvShape) -> FlexTensor {
        if !is_f32(&[&x, &weight]) {
            return flex_conv(x, weight, shape);
        }
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let g = Geometry::of(&x, &weight, shape);
        let batch = dims(&x)[0];
        let weights: &[f32] = weight.storage();
        // The convolution's output channels: dim 0 of the weight in both layouts.
        let out_channels = dims(&weight)[0];
        if shape.transposed {
            let y = g.convolve_adjoint(x.storage(), weights, out_channels);
            f32_tensor(y, [batch, g.channels, g.height, g.width])
        } else {
            let y = g.convolve(x.storage(), weights, out_channels);
            f32_tensor(y, [batch, out_channels, g.out_h, g.out_w])
        }
    }

    fn im2col_conv_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        shape: ConvShape,
        wrt: ConvGradient,
    ) -> FlexTensor {
        if !is_f32(&[&x, &weight, &output_grad]) {
            return flex_conv_backward(x, weight, output_grad, shape, wrt);
        }
        let (x, weight, output_grad) = (
            x.to_contiguous(),
            weight.to_contiguous(),
            output_grad.to_contiguous(),
        );
        let g = Geometry::of(&x, &weight, shape);
        let out_channels = dims(&weight)[0];
        // A transposed convolution is the adjoint of the convolution from output_grad's shape
        // to x's: the roles of its input and its output gradient swap.
        match wrt {
            ConvGradient::Input => {
                let (grads, weights) = (output_grad.storage(), weight.storage());
                let x_grad = if shape.transposed {
                    g.convolve(grads, weights, out_channels)
                } else {
                    g.convolve_adjoint(grads, weights, out_channels)
                };
                f32_tensor(x_grad, dims(&x))
            }
            ConvGradient::Weight => {
                let (x, grads) = (x.storage(), output_grad.storage());
                let weight_grad = if shape.transposed {
                    g.weight_gradient(grads, x, out_channels)
                } else {
                    g.weight_gradient(x, grads, out_channels)
                };
                f32_tensor(weight_grad, dims(&weight))
            }
        }
    }
}

/// The gradient from Flex's own backward formulas, for dtypes other than f32.
fn flex_conv_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    shape: ConvShape,
    wrt: ConvGradient,
) -> FlexTensor {
    match (shape.transposed, wrt) {
        (true, ConvGradient::Input) => <Flex as ModuleOps<Flex>>::conv_transpose2d_x_backward(
            weight,
            output_grad,
            shape.transpose_options(),
        ),
        (true, ConvGradient::Weight) => {
            <Flex as ModuleOps<Flex>>::conv_transpose2d_weight_backward(
                x,
                weight,
                output_grad,
                shape.transpose_options(),
            )
        }
        (false, ConvGradient::Input) => <Flex as ModuleOps<Flex>>::conv2d_x_backward(
            x,
            weight,
            output_grad,
            shape.conv_options(),
        ),
        (false, ConvGradient::Weight) => <Flex as ModuleOps<Flex>>::conv2d_weight_backward(
            x,
            weight,
            output_grad,
            shape.conv_options(),
        ),
    }
}

impl<B: Backend + Im2colConv, C: CheckpointStrategy> Im2colConv for Autodiff<B, C> {
    fn im2col_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        shape: ConvShape,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Im2colConvBackward;

        impl<B: Backend + Im2colConv> Backward<B, 2> for Im2colConvBackward {
            type State = (NodeId, NodeId, ConvShape);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_weight] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, weight_state, shape) = ops.state;
                let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
                let weight =
                    checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
                let gradient = |wrt| {
                    B::im2col_conv_backward(x.clone(), weight.clone(), grad.clone(), shape, wrt)
                };
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, gradient(ConvGradient::Input))
                }
                if let Some(node) = node_weight {
                    grads.register::<B>(node.id, gradient(ConvGradient::Weight))
                }
            }
        }

        match Im2colConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                prep.finish(
                    (x_state, weight_state, shape),
                    B::im2col_conv(x.into_primitive(), weight.into_primitive(), shape),
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(B::im2col_conv(
                x.into_primitive(),
                weight.into_primitive(),
                shape,
            )),
        }
    }

    /// Gradients are constants: they are not differentiated again.
    fn im2col_conv_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        shape: ConvShape,
        wrt: ConvGradient,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::im2col_conv_backward(
            x.into_primitive(),
            weight.into_primitive(),
            output_grad.into_primitive(),
            shape,
            wrt,
        ))
    }
}

/// The convolution (or transposed convolution) through [`Im2colConv`]; no bias, the caller
/// adds it.
pub fn conv(x: Tensor<4>, weight: Tensor<4>, shape: ConvShape) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as Im2colConv>::im2col_conv(
        x.into_dispatch(),
        weight.into_dispatch(),
        shape,
    ))
}

/// `conv` applied to `x` through [`Im2colConv`], or None where that does not apply: not on
/// Flex, or not a square kernel with equal strides and one padding on every side.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Option<Tensor<4>> {
    let PaddingConfig2d::Explicit(top, left, bottom, right) = conv.padding else {
        return None;
    };
    let padding = [top, left, bottom, right];
    let fits = padding.iter().all(|&p| p == top)
        && plain(conv.kernel_size, conv.stride, conv.dilation, conv.groups);
    let shape = ConvShape {
        stride: conv.stride[0],
        padding: top,
        transposed: false,
        output_padding: 0,
    };
    run(fits, x, &conv.weight, &conv.bias, shape)
}

/// The transposed counterpart of [`conv2d`].
pub fn conv_transpose2d(conv: &ConvTranspose2d, x: Tensor<4>) -> Option<Tensor<4>> {
    let fits = conv.padding[0] == conv.padding[1]
        && conv.padding_out[0] == conv.padding_out[1]
        && plain(conv.kernel_size, conv.stride, conv.dilation, conv.groups);
    let shape = ConvShape {
        stride: conv.stride[0],
        padding: conv.padding[0],
        transposed: true,
        output_padding: conv.padding_out[0],
    };
    run(fits, x, &conv.weight, &conv.bias, shape)
}

/// A square kernel, equal strides, no dilation, no groups.
fn plain(kernel: [usize; 2], stride: [usize; 2], dilation: [usize; 2], groups: usize) -> bool {
    kernel[0] == kernel[1] && stride[0] == stride[1] && dilation == [1, 1] && groups == 1
}

fn run(
    fits: bool,
    x: Tensor<4>,
    weight: &Param<Tensor<4>>,
    bias: &Option<Param<Tensor<1>>>,
    shape: ConvShape,
) -> Option<Tensor<4>> {
    if !fits || !crate::device::is_flex(&x.device()) {
        return None;
    }
    let y = conv(x, weight.val(), shape);
    Some(match bias {
        Some(bias) => {
            let channels = bias.dims()[0];
            y + bias.val().reshape([1, channels, 1, 1])
        }
        None => y,
    })
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::{conv_transpose2d, conv2d};
    use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
    use burn::tensor::{Device, Distribution};

    use super::*;

    fn values(tensor: Tensor<4>) -> Vec<f32> {
        tensor.into_data().try_into_vec::<f32>().unwrap()
    }

    fn assert_close(ours: Tensor<4>, burns: Tensor<4>, what: &str) {
        let (ours, burns) = (values(ours), values(burns));
        assert_eq!(ours.len(), burns.len(), "{what}");
        let scale = burns.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (a, b) in ours.iter().zip(&burns) {
            assert!((a - b).abs() <= 1e-5 * scale.max(1.0), "{what}: {a} vs {b}");
        }
    }

    /// Outputs and both gradients equal Burn's own convolutions, for the geometries the
    /// networks use (U-Net and PatchGAN 4x4 stride 2 or 1, ResNet 3x3 stride 1 or 2 and 7x7,
    /// transposed 4x4 and 3x3 with output padding, the PatchGAN's one-channel output), on a
    /// batch of two images of even and odd sides.
    #[test]
    fn equals_burns_convolutions_and_their_gradients() {
        let device = Device::flex().autodiff();
        let random = |shape: [usize; 4]| {
            Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad()
        };
        // (kernel, stride, padding, transposed, output padding, side, in and out channels)
        let cases = [
            (4, 2, 1, false, 0, 10, [3, 5]),
            (4, 2, 1, false, 0, 11, [3, 5]),
            (3, 2, 1, false, 0, 9, [3, 5]),
            (4, 1, 1, false, 0, 9, [3, 5]),
            (3, 1, 1, false, 0, 9, [3, 5]),
            (7, 1, 0, false, 0, 11, [3, 5]),
            (4, 2, 1, true, 0, 5, [3, 5]),
            (3, 2, 1, true, 1, 5, [3, 5]),
            // The PatchGAN's last layer: one output channel, products big enough to be split.
            (4, 1, 1, false, 0, 24, [32, 1]),
        ];
        for (kernel, stride, padding, transposed, output_padding, side, [c_in, c_out]) in cases {
            let what = format!(
                "k{kernel} s{stride} p{padding} t{transposed} op{output_padding} c{c_in}->{c_out}"
            );
            let x_ours = random([2, c_in, side, side]);
            let x_burns = x_ours.clone().detach().require_grad();
            let weight = random(if transposed {
                [c_in, c_out, kernel, kernel]
            } else {
                [c_out, c_in, kernel, kernel]
            });
            let weight_burns = weight.clone().detach().require_grad();
            let shape = ConvShape {
                stride,
                padding,
                transposed,
                output_padding,
            };
            let ours = conv(x_ours.clone(), weight.clone(), shape);
            let burns = if transposed {
                let options = ConvTransposeOptions::new(
                    [stride; 2],
                    [padding; 2],
                    [output_padding; 2],
                    [1; 2],
                    1,
                );
                conv_transpose2d(x_burns.clone(), weight_burns.clone(), None, options)
            } else {
                let options = ConvOptions::new([stride; 2], [padding; 2], [1; 2], 1);
                conv2d(x_burns.clone(), weight_burns.clone(), None, options)
            };
            let output_grad =
                Tensor::<4>::random(burns.dims(), Distribution::Normal(0.0, 1.0), &device);
            assert_close(ours.clone().inner(), burns.clone().inner(), &what);
            let grads = (ours * output_grad.clone()).sum().backward();
            let grads_burns = (burns * output_grad).sum().backward();
            assert_close(
                x_ours.grad(&grads).unwrap(),
                x_burns.grad(&grads_burns).unwrap(),
                &format!("{what} input gradient"),
            );
            assert_close(
                weight.grad(&grads).unwrap(),
                weight_burns.grad(&grads_burns).unwrap(),
                &format!("{what} weight gradient"),
            );
        }
    }

    /// Each gradient is computed on its own: an untracked input (the images fed in) still
    /// gets its weight gradient, a frozen weight (the discriminator in the generator's step)
    /// its input gradient.
    #[test]
    fn computes_only_the_tracked_gradients() {
        let device = Device::flex().autodiff();
        let random =
            |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let (x, weight) = (random([1, 3, 8, 8]), random([4, 3, 4, 4]));
        let shape = ConvShape {
            stride: 2,
            padding: 1,
            transposed: false,
            output_padding: 0,
        };
        let both = (x.clone().require_grad(), weight.clone().require_grad());
        let grads = conv(both.0.clone(), both.1.clone(), shape).sum().backward();
        let weight_only = weight.clone().require_grad();
        let grads_weight = conv(x.clone(), weight_only.clone(), shape).sum().backward();
        let x_only = x.require_grad();
        let grads_x = conv(x_only.clone(), weight, shape).sum().backward();
        assert_close(
            weight_only.grad(&grads_weight).unwrap(),
            both.1.grad(&grads).unwrap(),
            "weight gradient with an untracked input",
        );
        assert_close(
            x_only.grad(&grads_x).unwrap(),
            both.0.grad(&grads).unwrap(),
            "input gradient with an untracked weight",
        );
    }
}
