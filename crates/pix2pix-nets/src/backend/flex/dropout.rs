//! Dropout's mask on the CPU, drawn on every core: Burn's own draws its values one at a time on
//! one thread, a float per value (BENCHMARKS.md, the ResNet blocks' dropout).

use burn::prelude::*;
use burn::tensor::TensorData;
use rand::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use crate::seed::{derive_seed, device_seed};

/// Values per generator: the mask depends on the device's generator alone, not on the threads.
const CHUNK: usize = 1 << 14;

/// x with each value kept with probability `keep` and scaled by 1 / `keep`, zero otherwise.
/// The mask comes from the device's generator (the one `Device::seed` sets), so that a seeded
/// run draws the same masks.
pub(crate) fn dropout(x: Tensor<4>, keep: f64) -> Tensor<4> {
    let device = x.device();
    let mask = mask(device_seed(&device), x.shape().num_elements(), keep);
    let mask = Tensor::<4>::from_data(TensorData::new(mask, x.shape()), &device);
    x * mask
}

/// `len` values, each 1 / `keep` with probability `keep` and zero otherwise, from `seed` alone.
fn mask(seed: u64, len: usize, keep: f64) -> Vec<f32> {
    // A value is kept when a uniform 32-bit draw falls under keep x 2^32.
    let threshold = (keep * 4_294_967_296.0) as u64;
    let scale = (1.0 / keep) as f32;
    let mut mask = vec![0f32; len];
    mask.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(index, chunk)| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(seed, &[index as u64]));
            for value in chunk {
                if u64::from(rng.next_u32()) < threshold {
                    *value = scale;
                }
            }
        });
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kept values are scaled by 1 / keep, about `keep` of them are kept, and the seed alone
    /// decides the mask (checked on the mask itself: the device's generator is shared with the
    /// other tests, which draw from it concurrently).
    #[test]
    fn keeps_a_seeded_share_and_scales_it() {
        let len = 2 * 3 * 64 * 64;
        let values = mask(7, len, 0.5);
        assert!(values.iter().all(|&v| v == 0.0 || v == 2.0));
        let kept = values.iter().filter(|&&v| v > 0.0).count() as f64 / len as f64;
        assert!((kept - 0.5).abs() < 0.02, "kept {kept}");
        assert!(mask(7, len, 0.5) == values, "same seed, same mask");
        assert!(mask(8, len, 0.5) != values, "another seed, another mask");
        assert!(
            mask(7, len, 1.0).iter().all(|&v| v == 1.0),
            "keep 1 keeps everything"
        );
    }

    /// The layer multiplies by a mask, and its gradient is that mask.
    #[test]
    fn the_gradient_is_the_mask() {
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::ones([2, 3, 16, 16], &device).require_grad();
        let y = dropout(x.clone(), 0.5);
        let grad = x.grad(&y.clone().sum().backward()).unwrap();
        let values = y.into_data().try_to_vec::<f32>().unwrap();
        assert!(values.iter().all(|&v| v == 0.0 || v == 2.0));
        assert!(values == grad.into_data().try_to_vec::<f32>().unwrap());
    }
}
