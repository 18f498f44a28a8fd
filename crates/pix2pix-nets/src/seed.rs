//! Seeds derived from the run's seed and a position (epoch, iteration, sample), so every random
//! draw can be replayed after a resume without saving generator states.

use burn::prelude::*;
use burn::tensor::Distribution;

/// The random streams of a run: each draws its seeds from the run's seed, its tag and a position,
/// so that no two streams share a seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The weight initialisation (position: none).
    Init,
    /// Training-time dropout (position: the run's iteration).
    Dropout,
    /// The order of an epoch's samples (position: the epoch).
    Order,
    /// A sample's crop and flip (position: the epoch and the sample's place in it).
    Sample,
    /// Test-time dropout (position: the image's index).
    Test,
}

impl Stream {
    fn tag(self) -> u8 {
        match self {
            Stream::Init => b'i',
            Stream::Dropout => b'd',
            Stream::Order => b'o',
            Stream::Sample => b's',
            Stream::Test => b't',
        }
    }

    /// The seed of this stream at `position` in a run seeded with `seed`.
    pub fn seed(self, seed: u64, position: &[u64]) -> u64 {
        let tagged = mix(seed, self.tag() as u64);
        splitmix64(
            position
                .iter()
                .fold(tagged, |state, &part| mix(state, part)),
        )
    }
}

/// 64 bits from the device's generator (the one `Device::seed` sets), 16 at a time so that they
/// fit every backend's integer type.
pub(crate) fn device_seed(device: &Device) -> u64 {
    Tensor::<1, Int>::random([4], Distribution::Uniform(0.0, 65536.0), device)
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .expect("integers")
        .into_iter()
        .fold(0, |seed, part| (seed << 16) | part as u64)
}

/// SplitMix64 over the seed and the parts: well mixed, stable across versions and platforms.
pub fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    splitmix64(parts.iter().fold(seed, |state, &part| mix(state, part)))
}

fn mix(state: u64, part: u64) -> u64 {
    splitmix64(state ^ splitmix64(part.wrapping_add(0x9E37_79B9_7F4A_7C15)))
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream's seed is the run's seed mixed with its tag, then with its position.
    #[test]
    fn streams_extend_the_derived_seed_with_their_tag() {
        assert_eq!(
            Stream::Sample.seed(7, &[3, 5]),
            derive_seed(7, &[b's' as u64, 3, 5])
        );
        assert_ne!(Stream::Dropout.seed(7, &[3]), Stream::Test.seed(7, &[3]));
    }
}
