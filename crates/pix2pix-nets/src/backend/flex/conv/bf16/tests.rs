use super::*;

#[test]
fn rounding_to_bf16_is_to_nearest_with_ties_to_even() {
    let ulp = 2f32.powi(-7);
    assert_eq!(rounded(1.0), 1.0);
    // Halfway between 1 and 1 + ulp the tie goes to the even 1, halfway between 1 + ulp
    // and 1 + 2 ulp to the even 1 + 2 ulp; off halfway, to the nearer.
    assert_eq!(rounded(1.0 + ulp / 2.0), 1.0);
    assert_eq!(rounded(1.0 + 1.5 * ulp), 1.0 + 2.0 * ulp);
    assert_eq!(rounded(-(1.0 + 0.6 * ulp)), -(1.0 + ulp));
    assert!(rounded(f32::NAN).is_nan());
    assert_eq!(rounded(f32::MAX), f32::INFINITY);
    assert_eq!(rounded(f32::NEG_INFINITY), f32::NEG_INFINITY);
    assert_eq!(
        rounded(-f32::MIN_POSITIVE / 2.0).to_bits(),
        (-0.0f32).to_bits()
    );
}

/// `len` values in [-1, 1) from a fixed sequence.
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Each kernel this CPU runs (the tiles' model on every CPU) equals the f64 sum of the
/// bf16-rounded operands' products, for each layout of the operands the convolutions use, on
/// shapes with partial panels, tiles and k blocks, on rayon's threads and on the calling one.
#[test]
fn products_equal_the_sums_of_rounded_operands() {
    let kernels = [Kernel::DotProducts, Kernel::Tiles, Kernel::TileModel];
    let (run, skipped): (Vec<_>, Vec<_>) = kernels.into_iter().partition(|k| k.runs_here());
    if !skipped.is_empty() {
        eprintln!("skipped: {skipped:?}, which this CPU does not run");
    }
    for kernel in run {
        check_products(kernel);
    }
}

fn check_products(kernel: Kernel) {
    for threads in [Threads::All, Threads::Calling] {
        check_products_on(kernel, threads);
    }
}

fn check_products_on(kernel: Kernel, threads: Threads) {
    // On all threads the second and third are split along k (few tiles, blocks of k), the
    // last runs in five tiles.
    for (m, n, k) in [(16, 32, 2), (37, 70, 1101), (150, 300, 515), (40, 600, 40)] {
        let (lhs, rhs, initial) = (values(m * k, 1), values(k * n, 2), values(m * n, 3));
        for (lhs_transposed, rhs_transposed, accumulate) in [
            (false, false, false),
            (true, false, true),
            (false, true, true),
            (true, true, false),
        ] {
            let view = |data: &[f32], cols: usize, transposed: bool| -> (Vec<f32>, isize, isize) {
                let rows = data.len() / cols;
                if transposed {
                    // Stored column by column: element (r, c) at c x rows + r.
                    let mut stored = vec![0.0; data.len()];
                    for r in 0..rows {
                        for c in 0..cols {
                            stored[c * rows + r] = data[r * cols + c];
                        }
                    }
                    (stored, rows as isize, 1)
                } else {
                    (data.to_vec(), 1, cols as isize)
                }
            };
            let (a, a_col, a_row) = view(&lhs, k, lhs_transposed);
            let (b, b_col, b_row) = view(&rhs, n, rhs_transposed);
            let mut dst = initial.clone();
            matmul(
                kernel,
                (m, n, k),
                &mut dst,
                ((&a, a_col, a_row), Rhs::View((&b, b_col, b_row))),
                accumulate,
                threads,
            );
            for row in 0..m {
                for col in 0..n {
                    let terms = (0..k).map(|i| {
                        rounded(lhs[row * k + i]) as f64 * rounded(rhs[i * n + col]) as f64
                    });
                    let (sum, size) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + t.abs()));
                    let expected = sum
                        + if accumulate {
                            initial[row * n + col] as f64
                        } else {
                            0.0
                        };
                    let got = dst[row * n + col] as f64;
                    assert!(
                        (got - expected).abs() <= 1e-5 * (size + 1.0),
                        "{kernel:?} on {threads:?} {m}x{n}x{k} \
                         ({lhs_transposed}, {rhs_transposed}, {accumulate}) \
                         at ({row}, {col}): {got} vs {expected}"
                    );
                }
            }
        }
    }
}

/// The tiles are taken where they suit the shape, the dot products where the tiles do not, and
/// neither for the f32 products, a product narrower than a panel, or on the dot products one of
/// fewer columns than a task's tile and a sum shorter than four times its rows.
#[test]
fn kernels_suit_their_shapes() {
    use Bf16Products::*;
    assert_eq!(Kernel::suited(Tiles, 64, 32, 32), Some(Kernel::Tiles));
    assert_eq!(Kernel::suited(Tiles, 32, NC, 32), Some(Kernel::DotProducts));
    assert_eq!(
        Kernel::suited(Tiles, 32, 32, 128),
        Some(Kernel::DotProducts)
    );
    assert_eq!(Kernel::suited(Tiles, 32, NC - 1, 127), None);
    assert_eq!(
        Kernel::suited(DotProducts, 64, NC, 32),
        Some(Kernel::DotProducts)
    );
    assert_eq!(Kernel::suited(DotProducts, 2048, 64, 256), None);
    assert_eq!(
        Kernel::suited(DotProducts, 64, 96, 1024),
        Some(Kernel::DotProducts)
    );
    assert_eq!(Kernel::suited(DotProducts, 8, NC, 32), None);
    assert_eq!(Kernel::suited(F32, 512, 512, 512), None);
}

/// The tiles' instructions and their model agree on the tiles' layouts: the self-check of first
/// use passed where the CPU has tiles, and the model itself adds pair by pair as the manual says.
#[test]
fn tile_model_follows_the_manual() {
    // One step: row m of the left tile, column n of the right: lanes (even, odd) each.
    let lane = |even: f32, odd: f32| (even.to_bits() >> 16) | (odd.to_bits() & 0xffff_0000);
    let mut lhs = vec![0u32; TILE_ROWS * tiles::STEP];
    let mut rhs = vec![0u32; tiles::STEP * NR];
    lhs[0] = lane(1.0, 2.0);
    lhs[1] = lane(0.5, 0.0);
    lhs[TILE_ROWS / 2 * tiles::STEP] = lane(3.0, 0.0);
    rhs[0] = lane(4.0, 8.0);
    rhs[NR] = lane(16.0, 0.0);
    rhs[NR - 1] = lane(-1.0, 0.0);
    let sums = tiles::product(false, &lhs, tiles::STEP, 0..tiles::STEP, &rhs);
    // (0, 0) = 1 x 4 + 2 x 8 + 0.5 x 16; (0, 31) = 1 x -1; (16, 0) = 3 x 4; (16, 31) = 3 x -1.
    assert_eq!(sums.0[0], 28.0);
    assert_eq!(sums.0[NR - 1], -1.0);
    assert_eq!(sums.0[16 * NR], 12.0);
    assert_eq!(sums.0[16 * NR + NR - 1], -3.0);
    assert_eq!(sums.0.iter().filter(|&&v| v != 0.0).count(), 4);
    if tiles::available() {
        let instructions = tiles::product(true, &lhs, tiles::STEP, 0..tiles::STEP, &rhs);
        assert_eq!(instructions.0, sums.0);
    }
}
