//! The bf16 products on Intel's AMX tiles (Sapphire Rapids and later), and a scalar model of the
//! same instructions that every CPU runs.
//!
//! A tile register holds 16 rows of 64 bytes. `tdpbf16ps c, a, b` adds to each f32 `c[m][n]`
//! the products of `a`'s row m (16 lanes, each a pair of bf16 values of consecutive k) with
//! column n of `b` (16 rows of 16 such lanes): a 16 x 16 x 32 product. The kernel keeps a 32 x
//! 32 tile of the result in four accumulator tiles and, for each 16 pairs of k, loads two tiles
//! of the left panel's rows and two of the right panel's columns. Stable Rust has no AMX
//! intrinsics; `asm!` has the instructions, with the tile registers as clobbers.
//!
//! Linux hands the tile state to a process that asks for it (`arch_prctl`), and a hypervisor may
//! hide it even where the CPU has it: on first use [`available`] asks, then runs one product on
//! the instructions and on [`model`] and takes the tiles only if both agree.

use std::ops::Range;
use std::sync::OnceLock;

use super::{NR, TILE_ROWS};

/// Pairs of k per `tdpbf16ps`: the 16 lanes of a tile's row.
pub(super) const STEP: usize = 16;

/// Lanes (and rows) of one tile.
const LANES: usize = 16;

/// A 32 x 32 tile of the result, rows of `NR` values.
#[repr(C, align(64))]
pub(super) struct Sums(pub(super) [f32; TILE_ROWS * NR]);

/// Whether this process runs the AMX kernel: the CPU has AMX-TILE and AMX-BF16 (and AVX512_BF16,
/// whose conversions pack the operands), the operating system granted the tile state, and the
/// instructions compute what [`model`] does. Decided once; where the CPU claims the tiles but
/// they fail, one warning says so and the dot products run instead.
pub(super) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        if !(super::available() && cpu_has_tiles()) {
            return false;
        }
        let failure = if !permitted() {
            Some("the operating system did not grant the tile state")
        } else if !agrees_with_model() {
            Some("their products differ from the reference model's")
        } else {
            None
        };
        if let Some(why) = failure {
            eprintln!(
                "warning: this CPU has AMX tiles but {why}; --precision bf16 runs on the \
                 AVX512_BF16 dot products"
            );
        }
        failure.is_none()
    })
}

/// CPUID leaf 7: AMX-BF16 (EDX bit 22) and AMX-TILE (bit 24).
fn cpu_has_tiles() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__cpuid, __cpuid_count};
        // Leaf 7 is read only where leaf 0 lists it.
        let edx = (__cpuid(0).eax >= 7).then(|| __cpuid_count(7, 0).edx);
        edx.is_some_and(|edx| edx & (1 << 22) != 0 && edx & (1 << 24) != 0)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Asks Linux for the tile data state (`ARCH_REQ_XCOMP_PERM`, `XFEATURE_XTILEDATA`): without it
/// the first tile instruction kills the process. The permission holds for every thread.
fn permitted() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: arch_prctl with this request only changes the process's permissions.
        unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            ) == 0
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        false
    }
}

/// One 32 x 32 product over 48 pairs of k on the instructions equals [`model`]'s within the
/// rounding of f32 sums (the instructions may add in another order). On the calling thread: it
/// runs inside [`available`]'s initialisation, where waiting on other threads could deadlock.
fn agrees_with_model() -> bool {
    let pairs = 3 * STEP;
    let lane = |i: usize| {
        // Values in [-2, 2) with few mantissa bits, exact in bf16: any order sums them exactly.
        let value = |j: usize| ((j * 37 + 11) % 64) as f32 / 16.0 - 2.0;
        let bits = |v: f32| v.to_bits() >> 16;
        bits(value(2 * i)) | bits(value(2 * i + 1)) << 16
    };
    let lhs: Vec<u32> = (0..TILE_ROWS * pairs).map(lane).collect();
    let rhs: Vec<u32> = (0..pairs * NR).map(|i| lane(i + 7)).collect();
    let tiles = product(true, &lhs, pairs, 0..pairs, &rhs);
    let model = product(false, &lhs, pairs, 0..pairs, &rhs);
    tiles.0 == model.0
}

/// The 32 x 32 product of a left panel ([`TILE_ROWS`] rows of `pairs` lanes) and a right one
/// ([block, NR] lanes) over the pairs `block` (a multiple of [`STEP`]), on the instructions
/// (`instructions`; the caller checked [`available`]) or on [`model`].
pub(super) fn product(
    instructions: bool,
    lhs: &[u32],
    pairs: usize,
    block: Range<usize>,
    rhs: &[u32],
) -> Sums {
    assert!(
        block.len().is_multiple_of(STEP)
            && block.end <= pairs
            && lhs.len() >= TILE_ROWS * pairs
            && rhs.len() >= block.len() * NR
    );
    let lhs = &lhs[block.start..];
    let mut sums = Sums([0.0; TILE_ROWS * NR]);
    if instructions {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked `available`; the assertion above keeps every tile load
        // inside `lhs` and `rhs`, and the stores write `sums`.
        unsafe {
            amx(lhs, pairs, rhs, block.len() / STEP, &mut sums)
        };
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("AMX is an x86-64 extension");
    } else {
        model(lhs, pairs, rhs, block.len() / STEP, &mut sums);
    }
    sums
}

/// The tile configuration that `ldtilecfg` loads: palette 1, all eight tiles 16 rows of 64
/// bytes.
#[cfg(target_arch = "x86_64")]
#[repr(C, align(64))]
struct Config {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    bytes_per_row: [u16; 16],
    rows: [u8; 16],
}

/// The kernel on the tile instructions: accumulators tmm0-tmm3 (rows 0-15 and 16-31, columns
/// 0-15 and 16-31), the left panel's two row tiles in tmm4-tmm5, the right panel's two column
/// tiles in tmm6-tmm7, `steps` times 16 pairs of k.
///
/// # Safety
/// The CPU runs the tile instructions and the process holds the tile state; `lhs` holds
/// [`TILE_ROWS`] rows `stride` lanes apart of `steps` x 16 lanes each, `rhs` `steps` x 16 rows
/// of `NR` lanes.
#[cfg(target_arch = "x86_64")]
unsafe fn amx(lhs: &[u32], stride: usize, rhs: &[u32], steps: usize, sums: &mut Sums) {
    let config = Config {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        bytes_per_row: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
        rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
    };
    let lhs = lhs.as_ptr();
    let out = sums.0.as_mut_ptr();
    // SAFETY: per the function's contract; the loop runs `steps` >= 1 times (the caller's blocks
    // are whole steps, at least one).
    unsafe {
        std::arch::asm!(
            "ldtilecfg [{config}]",
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            "2:",
            "tileloadd tmm4, [{a} + {a_stride}*1]",
            "tileloadd tmm5, [{a_low} + {a_stride}*1]",
            "tileloadd tmm6, [{b} + {b_stride}*1]",
            "tileloadd tmm7, [{b} + {b_stride}*1 + 64]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "add {a}, 64",
            "add {a_low}, 64",
            "add {b}, {b_step}",
            "dec {steps}",
            "jnz 2b",
            "tilestored [{c} + {c_stride}*1], tmm0",
            "tilestored [{c} + {c_stride}*1 + 64], tmm1",
            "tilestored [{c_low} + {c_stride}*1], tmm2",
            "tilestored [{c_low} + {c_stride}*1 + 64], tmm3",
            "tilerelease",
            config = in(reg) &config,
            a = inout(reg) lhs => _,
            a_low = inout(reg) lhs.add(LANES * stride) => _,
            a_stride = in(reg) stride * 4,
            b = inout(reg) rhs.as_ptr() => _,
            b_stride = in(reg) NR * 4,
            b_step = in(reg) STEP * NR * 4,
            steps = inout(reg) steps => _,
            c = in(reg) out,
            c_low = in(reg) out.add(LANES * NR),
            c_stride = in(reg) NR * 4,
            out("tmm0") _, out("tmm1") _, out("tmm2") _, out("tmm3") _,
            out("tmm4") _, out("tmm5") _, out("tmm6") _, out("tmm7") _,
            options(nostack),
        );
    }
}

/// One tile register's contents.
type Tile<T> = [[T; LANES]; LANES];

/// The kernel of [`amx`] in scalar code, instruction by instruction, on the same layouts.
pub(super) fn model(lhs: &[u32], stride: usize, rhs: &[u32], steps: usize, sums: &mut Sums) {
    // `tileloadd`: 16 rows of 16 lanes, `stride` lanes apart.
    let load = |lanes: &[u32], stride: usize| -> Tile<u32> {
        std::array::from_fn(|r| std::array::from_fn(|c| lanes[r * stride + c]))
    };
    let mut c = [[[0f32; LANES]; LANES]; 4];
    for step in 0..steps {
        let a = [
            load(&lhs[step * STEP..], stride),
            load(&lhs[LANES * stride + step * STEP..], stride),
        ];
        let b = [
            load(&rhs[step * STEP * NR..], NR),
            load(&rhs[step * STEP * NR + LANES..], NR),
        ];
        for (i, c) in c.iter_mut().enumerate() {
            tdpbf16ps(c, &a[i / 2], &b[i % 2]);
        }
    }
    // `tilestored`: accumulator i at rows 16 x (i / 2), columns 16 x (i % 2).
    for (i, c) in c.iter().enumerate() {
        for (r, row) in c.iter().enumerate() {
            let at = (LANES * (i / 2) + r) * NR + LANES * (i % 2);
            sums.0[at..at + LANES].copy_from_slice(row);
        }
    }
}

/// `tdpbf16ps c, a, b` as Intel's manual states it: for each row m, pair k and column n, the
/// even and then the odd product added in f32 (bf16 products are exact in f32), outputs below
/// f32's normal range flushed to zero.
fn tdpbf16ps(c: &mut Tile<f32>, a: &Tile<u32>, b: &Tile<u32>) {
    let half =
        |lane: u32, odd: bool| f32::from_bits(if odd { lane & 0xffff_0000 } else { lane << 16 });
    let flush = |v: f32| {
        if v.is_subnormal() {
            0.0f32.copysign(v)
        } else {
            v
        }
    };
    for (c, a) in c.iter_mut().zip(a) {
        for (&a, b) in a.iter().zip(b) {
            for (c, &b) in c.iter_mut().zip(b) {
                *c = flush(*c + half(a, false) * half(b, false));
                *c = flush(*c + half(a, true) * half(b, true));
            }
        }
    }
}
