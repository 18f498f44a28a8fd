//! The AVX-512 parts of the bf16 products: the conversions that pack the operands
//! (`vcvtne2ps2bf16`) and the dot-product microkernel (`vdpbf16ps`).
//!
//! Every function here needs AVX-512F, AVX-512BW, AVX-512VL and AVX512_BF16 ([`super::available`]).

use std::arch::x86_64::*;

use super::{MR, NR, Shared, Tile};

/// For slices of a multiple of 8 lanes (a left panel's width): 16 at a time, then 8.
///
/// # Safety
/// The CPU has AVX-512F, AVX-512BW, AVX-512VL and AVX512_BF16.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
pub(super) unsafe fn interleave(even: &[f32], odd: &[f32], out: &mut [u32]) {
    // Word j of the result is word j / 2 of the evens (j even) or of the odds (j odd),
    // which the conversion puts in the low and the high half of its words.
    let order: [i16; 32] = std::array::from_fn(|j| (j / 2 + j % 2 * 16) as i16);
    let half_order: [i16; 16] = std::array::from_fn(|j| (j / 2 + j % 2 * 8) as i16);
    let sixteens = out.len() / 16 * 16;
    let (out, rest) = out.split_at_mut(sixteens);
    // SAFETY: each load reads 16 or 8 lanes of 4 bytes from chunks of that length, each
    // store writes as many; the order arrays are 64 and 32 bytes.
    unsafe {
        let order = _mm512_loadu_si512(order.as_ptr().cast());
        for ((e, o), out) in even
            .chunks_exact(16)
            .zip(odd.chunks_exact(16))
            .zip(out.chunks_exact_mut(16))
        {
            let words =
                _mm512_cvtne2ps_pbh(_mm512_loadu_ps(o.as_ptr()), _mm512_loadu_ps(e.as_ptr()));
            let lanes =
                _mm512_permutexvar_epi16(order, std::mem::transmute::<__m512bh, __m512i>(words));
            _mm512_storeu_si512(out.as_mut_ptr().cast(), lanes);
        }
        let half_order = _mm256_loadu_si256(half_order.as_ptr().cast());
        for ((e, o), out) in even[sixteens..]
            .chunks_exact(8)
            .zip(odd[sixteens..].chunks_exact(8))
            .zip(rest.chunks_exact_mut(8))
        {
            let words =
                _mm256_cvtne2ps_pbh(_mm256_loadu_ps(o.as_ptr()), _mm256_loadu_ps(e.as_ptr()));
            let lanes = _mm256_permutexvar_epi16(
                half_order,
                std::mem::transmute::<__m256bh, __m256i>(words),
            );
            _mm256_storeu_si256(out.as_mut_ptr().cast(), lanes);
        }
    }
}

/// For slices of a multiple of 16 lanes.
///
/// # Safety
/// As [`interleave`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
pub(super) unsafe fn adjacent(values: &[f32], out: &mut [u32]) {
    for (values, out) in values.chunks_exact(32).zip(out.chunks_exact_mut(16)) {
        // SAFETY: 32 values in, 16 lanes out; the conversion's words 0-15 are values 0-15
        // (pairs 0-7), words 16-31 values 16-31.
        unsafe {
            let words = _mm512_cvtne2ps_pbh(
                _mm512_loadu_ps(values[16..].as_ptr()),
                _mm512_loadu_ps(values.as_ptr()),
            );
            _mm512_storeu_si512(
                out.as_mut_ptr().cast(),
                std::mem::transmute::<__m512bh, __m512i>(words),
            );
        }
    }
}

/// The product of one packed left panel ([pairs, MR] lanes) and one packed right panel
/// ([pairs, NR] lanes) into `tile`.
///
/// # Safety
/// [`super::available`] holds, and `tile` lies inside `dst`'s buffer.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn dot_products(lhs: &[u32], rhs: &[u32], dst: Shared, tile: Tile) {
    let pairs = lhs.len() / MR;
    debug_assert_eq!(rhs.len(), pairs * NR);
    let mut sums = [[_mm512_setzero_ps(); 2]; MR];
    for (a, b) in lhs.chunks_exact(MR).zip(rhs.chunks_exact(NR)) {
        // SAFETY: `b` holds NR = 32 lanes, two vectors of 16; the transmutes reinterpret 64
        // bytes of lanes as the 32 bf16 values they are.
        let (b0, b1): (__m512bh, __m512bh) = unsafe {
            (
                std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(b.as_ptr().cast())),
                std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                    b[16..].as_ptr().cast(),
                )),
            )
        };
        for (row, &lane) in sums.iter_mut().zip(a) {
            // SAFETY: as above, 16 copies of one lane.
            let a: __m512bh =
                unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(lane as i32)) };
            row[0] = _mm512_dpbf16_ps(row[0], a, b0);
            row[1] = _mm512_dpbf16_ps(row[1], a, b1);
        }
    }
    let mask = |cols: usize| -> __mmask16 { ((1u32 << cols.min(16)) - 1) as u16 };
    let masks = [mask(tile.cols), mask(tile.cols.saturating_sub(16))];
    for (r, row) in sums.iter().enumerate().take(tile.rows) {
        for (half, (&sum, &mask)) in row.iter().zip(&masks).enumerate() {
            let at = dst.0.wrapping_add(tile.at + r * tile.stride + 16 * half);
            // SAFETY: the mask covers only the tile's columns, inside the buffer; masked-off
            // lanes are not accessed.
            unsafe {
                let sum = if tile.accumulate {
                    _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask, at))
                } else {
                    sum
                };
                _mm512_mask_storeu_ps(at, mask, sum);
            }
        }
    }
}
