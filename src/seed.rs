//! Seeds derived from the run's seed and a position (epoch, iteration, sample), so every random
//! draw can be replayed after a resume without saving generator states.

/// SplitMix64 over the seed and the parts: well mixed, stable across versions and platforms.
pub fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    let mut state = seed;
    for &part in parts {
        state = splitmix64(state ^ splitmix64(part.wrapping_add(0x9E37_79B9_7F4A_7C15)));
    }
    splitmix64(state)
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
