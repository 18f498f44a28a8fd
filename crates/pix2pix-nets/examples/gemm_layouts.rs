//! How the convolutions' matrix products run through the gemm crate, by layout: the measurement
//! behind two choices in src/backend/flex/conv/kernel.rs (BENCHMARKS.md has the results).
//!
//! 1. Grouping images: the three products of a convolution (forward, input gradient, weight
//!    gradient) on one image's columns, against one product over four images' columns side by
//!    side, per image.
//! 2. The weight gradient over many pixels: grad x columns^T as it is stored, against
//!    columns x grad^T followed by a transpose.
//! 3. Winograd's products of one shape, 16 of them (src/backend/flex/conv/winograd/plan.rs): one
//!    after the other, each on gemm's threads, against side by side, each on one thread.
//! 4. Small results over long sums (the weight gradients of the first and last layers, and of
//!    the ResNet's strided ones; src/backend/flex/conv/gemm.rs): one product on gemm's threads,
//!    against the sums split in two, a part on each thread, added at the end.
//!
//! `cargo run --release -p pix2pix-nets --example gemm_layouts`. Shapes are (output channels,
//! depth = input channels x k x k, output pixels) of layers of unet_256, resnet_9blocks and the
//! basic PatchGAN at 256x256 (and for 3, the shapes of their Winograd products); medians of 5
//! interleaved repetitions.

use rayon::prelude::*;
use std::time::Instant;

type View<'a> = (&'a [f32], isize, isize);

/// dst[m, n] (row-major) = lhs[m, k] x rhs[k, n], as the kernels call gemm, on gemm's threads.
fn matmul(m: usize, n: usize, k: usize, dst: &mut [f32], lhs: View, rhs: View) {
    gemm_on(m, n, k, dst, lhs, rhs, gemm::Parallelism::Rayon(0));
}

/// [`matmul`] with gemm's `parallelism`.
fn gemm_on(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    lhs: View,
    rhs: View,
    parallelism: gemm::Parallelism,
) {
    let last = |(data, cs, rs): View, rows: usize, cols: usize| {
        assert!((rows as isize - 1) * rs + (cols as isize - 1) * cs < data.len() as isize)
    };
    last(lhs, m, k);
    last(rhs, k, n);
    assert!(dst.len() >= m * n);
    // SAFETY: the asserts keep every access inside the three slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.0.as_ptr(),
            lhs.1,
            lhs.2,
            rhs.0.as_ptr(),
            rhs.1,
            rhs.2,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Milliseconds of one call of `f`.
fn millis(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64() * 1e3
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The medians over `repeats` calls of `measure`, of each of the two ways it times.
fn medians(repeats: usize, mut measure: impl FnMut() -> [f64; 2]) -> [f64; 2] {
    let (mut first, mut second) = (vec![], vec![]);
    for _ in 0..repeats {
        let [a, b] = measure();
        first.push(a);
        second.push(b);
    }
    [median(first), median(second)]
}

/// Per-image milliseconds of (forward, input gradient, weight gradient) over `images` images.
fn products(out: usize, depth: usize, pixels: usize, images: usize) -> [f64; 3] {
    let n = pixels * images;
    let (weight, columns, grad) = (
        vec![0.5; out * depth],
        vec![0.25; depth * n],
        vec![0.1; out * n],
    );
    let (mut y, mut x_grad, mut w_grad) = (
        vec![0.0; out * n],
        vec![0.0; depth * n],
        vec![0.0; out * depth],
    );
    let (d, n_) = (depth as isize, n as isize);
    let per_image = |ms: f64| ms / images as f64;
    [
        per_image(millis(|| {
            matmul(out, n, depth, &mut y, (&weight, 1, d), (&columns, 1, n_))
        })),
        per_image(millis(|| {
            matmul(depth, n, out, &mut x_grad, (&weight, d, 1), (&grad, 1, n_))
        })),
        per_image(millis(|| {
            matmul(
                out,
                depth,
                n,
                &mut w_grad,
                (&grad, 1, n_),
                (&columns, n_, 1),
            )
        })),
    ]
}

/// Milliseconds of the weight gradient (as stored, transposed and then transposed back).
fn weight_gradients(out: usize, depth: usize, pixels: usize) -> [f64; 2] {
    let (columns, grad) = (vec![0.25; depth * pixels], vec![0.1; out * pixels]);
    let (mut w_grad, mut product) = (vec![0.0; out * depth], vec![0.0; out * depth]);
    let p = pixels as isize;
    let direct = millis(|| {
        matmul(
            out,
            depth,
            pixels,
            &mut w_grad,
            (&grad, 1, p),
            (&columns, p, 1),
        )
    });
    let transposed = millis(|| {
        matmul(
            depth,
            out,
            pixels,
            &mut product,
            (&columns, 1, p),
            (&grad, p, 1),
        );
        for (row, line) in w_grad.chunks_mut(depth).enumerate() {
            for (col, value) in line.iter_mut().enumerate() {
                *value = product[col * out + row];
            }
        }
    });
    [direct, transposed]
}

/// Milliseconds of Winograd's 16 products [out, tiles] = filter [out, depth] x inputs [depth,
/// tiles] (the inputs of every position in one buffer, as plan.rs lays them out): one after the
/// other on gemm's threads, and side by side on one thread each. Each timed after a call
/// untimed, as the networks call them on buffers already in use.
fn sixteen_products(out: usize, depth: usize, tiles: usize) -> [f64; 2] {
    const XI: usize = 16;
    let (filters, inputs) = (vec![0.5; XI * out * depth], vec![0.25; depth * XI * tiles]);
    let mut products = vec![0.0; XI * out * tiles];
    let operands = |xi: usize| {
        let filter = (&filters[xi * out * depth..], 1, depth as isize);
        (filter, (&inputs[xi * tiles..], 1, (XI * tiles) as isize))
    };
    let mut one_after_the_other = || {
        for (xi, product) in products.chunks_mut(out * tiles).enumerate() {
            let (filter, input) = operands(xi);
            matmul(out, tiles, depth, product, filter, input);
        }
    };
    one_after_the_other();
    let one_after_the_other = millis(one_after_the_other);
    let mut side_by_side = || {
        products
            .par_chunks_mut(out * tiles)
            .enumerate()
            .for_each(|(xi, product)| {
                let (filter, input) = operands(xi);
                let single = gemm::Parallelism::None;
                gemm_on(out, tiles, depth, product, filter, input, single);
            })
    };
    side_by_side();
    [one_after_the_other, millis(side_by_side)]
}

/// Milliseconds of the weight gradient computed transposed, columns [depth, pixels] x grad^T
/// [pixels, out], as one product on gemm's threads, and as the sums over each half of the
/// pixels side by side, on one thread each, added at the end. Each timed after a call untimed.
fn split_sums(out: usize, depth: usize, pixels: usize) -> [f64; 2] {
    let (columns, grad) = (vec![0.25; depth * pixels], vec![0.1; out * pixels]);
    let mut product = vec![0.0; depth * out];
    let p = pixels as isize;
    let mut whole = || {
        matmul(
            depth,
            out,
            pixels,
            &mut product,
            (&columns, 1, p),
            (&grad, p, 1),
        )
    };
    whole();
    let whole = millis(whole);
    let half = pixels / 2;
    let mut halves = || {
        let mut sums: Vec<Vec<f32>> = vec![vec![0.0; depth * out]; 2];
        sums.par_iter_mut().enumerate().for_each(|(part, sums)| {
            let (start, len) = (part * half, if part == 0 { half } else { pixels - half });
            let (columns, grad) = ((&columns[start..], 1, p), (&grad[start..], p, 1));
            gemm_on(
                depth,
                out,
                len,
                sums,
                columns,
                grad,
                gemm::Parallelism::None,
            );
        });
        for (value, (a, b)) in product.iter_mut().zip(sums[0].iter().zip(&sums[1])) {
            *value = a + b;
        }
    };
    halves();
    [whole, millis(halves)]
}

/// Repetitions of each measurement, interleaved.
const REPEATS: usize = 5;

/// Prints `title`, then for each shape (name, out, depth, pixels or tiles) the medians of the
/// two ways `measure` times and their ratio.
fn two_ways(
    title: &str,
    shapes: &[(&str, usize, usize, usize)],
    measure: fn(usize, usize, usize) -> [f64; 2],
) {
    println!("{title}");
    for &(name, out, depth, size) in shapes {
        let [a, b] = medians(REPEATS, || measure(out, depth, size));
        println!("{name:28} {a:8.2} / {b:8.2}  ({:.2})", b / a);
    }
}

fn main() {
    println!("grouping: per-image ms of forward / input gradient / weight gradient");
    for (name, out, depth, pixels) in [
        ("unet_256 down 32->16", 512, 4096, 256),
        ("unet_256 down 16->8", 512, 8192, 64),
        ("unet_256 down 4->2", 512, 8192, 4),
        ("unet_256 up 8->16", 1024, 8192, 64),
        ("unet_256 up 16->32", 1024, 4096, 256),
    ] {
        let (mut one, mut four) = (vec![vec![]; 3], vec![vec![]; 3]);
        for _ in 0..REPEATS {
            for (times, images) in [(&mut one, 1), (&mut four, 4)] {
                for (list, ms) in times.iter_mut().zip(products(out, depth, pixels, images)) {
                    list.push(ms);
                }
            }
        }
        let show = |times: Vec<Vec<f64>>| {
            times
                .into_iter()
                .map(|t| format!("{:7.2}", median(t)))
                .collect::<Vec<_>>()
                .join(" /")
        };
        println!(
            "{name:24} 1 image: {}   4 images: {}",
            show(one),
            show(four)
        );
    }
    two_ways(
        "weight gradient: ms as stored / transposed + transpose",
        &[
            ("resnet block 3x3 64x64", 256, 2304, 4096),
            ("resnet 7x7 out 256x256", 3, 3136, 65536),
            ("resnet 7x7 in 256x256", 64, 147, 65536),
            ("unet_256 down 128->64", 128, 1024, 4096),
            ("unet_256 down 32->16", 512, 4096, 256),
            ("patchgan 4x4 s1 31x31", 512, 4096, 961),
        ],
        weight_gradients,
    );
    two_ways(
        "Winograd's 16 products (out, depth, tiles): ms one after the other / side by side",
        &[
            ("unet_128 b8 64->128 64x64", 128, 256, 242),
            ("unet_128 b8 128->256 32x32", 256, 512, 144),
            ("unet_256 b1 64->128 128x128", 128, 256, 484),
            ("patchgan 4x4 s1 31x31 b1", 512, 256, 256),
            ("resnet block 3x3 64x64", 256, 256, 1024),
        ],
        sixteen_products,
    );
    two_ways(
        "weight gradient, small results: ms on gemm's threads / the sums split in two",
        &[
            ("unet_256 D in 6->64", 64, 96, 16384),
            ("unet_256 G out 128->3", 128, 48, 16384),
            ("unet_128 b8 D in, an image", 64, 96, 4096),
            ("resnet 7x7 in 256x256", 64, 147, 65536),
            ("resnet down 64->128", 128, 576, 16384),
            ("resnet down 128->256", 256, 1152, 4096),
            ("resnet block 3x3 64x64", 256, 2304, 4096),
        ],
        split_sums,
    );
}
