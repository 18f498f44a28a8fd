//! A pix2pix generator in the browser: the WebAssembly module of `pix2pix export --format web`.
//! [`Translator`] builds G from its options (the `ModelOptions` JSON of the export's model.json)
//! and a compact weight file ([`pix2pix_nets::weights`]), then translates RGBA pixels as a
//! canvas gives them, exactly as `pix2pix translate` and `pix2pix serve` do: the image padded to
//! G's size multiple and cropped back, eval mode (`--eval`) or the paper's test mode with a
//! seeded dropout stream. It runs on Burn's Flex backend, natively too, where the tests compare
//! it with the `pix2pix` crate. The JavaScript bindings are in bindings.rs (wasm32 only).

#[cfg(target_arch = "wasm32")]
mod bindings;

use burn::module::Module;
use burn::prelude::*;
use pix2pix_nets::footprint::inference_bytes;
use pix2pix_nets::model::{Generator, ModelOptions};
use pix2pix_nets::pixels;
use pix2pix_nets::weights::{self, WeightsError};

const MIB: f64 = (1 << 20) as f64;

/// The most bytes a model and a translation may take: a page's WebAssembly memory is at most
/// 4 GiB (32-bit addresses), less room for the module, the weight file and the allocator.
pub const MEMORY_LIMIT: f64 = 3072.0 * MIB;

/// What the page shows when a model or an image cannot be translated.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("the model's description (model.json) is not valid: {0}")]
    Description(String),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("the weight file does not fit the model's description: {0}")]
    Mismatch(String),
    #[error(
        "{what} needs about {needed:.0} MB, more than the {limit:.0} MB that WebAssembly in a \
         browser can use: translate it natively with `pix2pix translate`"
    )]
    TooLarge {
        what: String,
        needed: f64,
        limit: f64,
    },
    #[error("the image's pixels are {got} bytes; {width}x{height} RGBA needs {expected}")]
    Pixels {
        width: u32,
        height: u32,
        got: usize,
        expected: usize,
    },
    #[error("a {width}x{height} image cannot be translated by this model: {reason}")]
    Unsuitable {
        width: u32,
        height: u32,
        reason: String,
    },
}

/// G, loaded and ready to translate.
pub struct Translator {
    generator: Generator,
    options: ModelOptions,
    device: Device,
}

impl Translator {
    /// G of `options` (`ModelOptions` as JSON) with the weights of a compact weight file.
    pub fn new(options: &str, weights: &[u8]) -> Result<Self, WebError> {
        let options = Self::check(options, weights.len())?;
        let dict = weights::decode(weights)?;
        let device = Device::flex();
        let (generator, mismatch) = options.load_generator_state_dict(&dict, &device);
        if !mismatch.is_empty() {
            return Err(WebError::Mismatch(format!(
                "missing {:?}, wrong shapes {:?}, unexpected {:?}",
                mismatch.missing, mismatch.wrong_shape, mismatch.unexpected
            )));
        }
        Ok(Self {
            generator,
            options,
            device,
        })
    }

    /// The options of `options` (JSON), if G fits in the browser's memory with a weight file of
    /// `weight_bytes`: what the page checks before downloading the weights.
    pub fn check(options: &str, weight_bytes: usize) -> Result<ModelOptions, WebError> {
        let options: ModelOptions =
            serde_json::from_str(options).map_err(|e| WebError::Description(e.to_string()))?;
        options
            .validate()
            .map_err(|e| WebError::Description(e.to_string()))?;
        // Built, then loaded: two copies of the weights at once, with the file's bytes.
        let parameters = options.generator_plan().parameters() as f64;
        let needed = 2.0 * 4.0 * parameters + weight_bytes as f64;
        if needed > MEMORY_LIMIT {
            return Err(WebError::TooLarge {
                what: format!("loading netG {} (ngf {})", options.net_g, options.ngf),
                needed: needed / MIB,
                limit: MEMORY_LIMIT / MIB,
            });
        }
        Ok(options)
    }

    /// The options that built G.
    pub fn options(&self) -> &ModelOptions {
        &self.options
    }

    /// Translates `width` x `height` RGBA pixels; the result is RGBA of the same size (opaque).
    /// `eval`: running statistics and no dropout; otherwise the paper's test mode, its dropout
    /// drawn from `seed` as `pix2pix translate --seed` and `serve` draw it.
    pub fn translate(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
        eval: bool,
        seed: u64,
    ) -> Result<Vec<u8>, WebError> {
        let (w, h) = (width as usize, height as usize);
        let expected = w.checked_mul(h).and_then(|n| n.checked_mul(4));
        if expected != Some(rgba.len()) || w == 0 || h == 0 {
            return Err(WebError::Pixels {
                width,
                height,
                got: rgba.len(),
                expected: expected.unwrap_or(usize::MAX),
            });
        }
        let multiple = self.options.net_g.size_multiple();
        let (padded_w, padded_h) = (w.next_multiple_of(multiple), h.next_multiple_of(multiple));
        if let Some(reason) = self.options.unsuitable_image(padded_w, padded_h, false) {
            return Err(WebError::Unsuitable {
                width,
                height,
                reason,
            });
        }
        let needed = inference_bytes(&self.options, 1, padded_h, padded_w);
        if needed > MEMORY_LIMIT {
            return Err(WebError::TooLarge {
                what: format!("translating a {width}x{height} image"),
                needed: needed / MIB,
                limit: MEMORY_LIMIT / MIB,
            });
        }
        let channels = self.options.input_nc;
        let input = Tensor::<4>::from_data(
            TensorData::new(pixels::to_chw(rgba, 4, channels), [1, channels, h, w]),
            &self.device,
        );
        let output = if eval {
            pixels::translate(&self.generator.valid(), input, multiple)
        } else {
            self.device.seed(seed);
            pixels::translate(&self.generator, input, multiple)
        };
        let values = output
            .into_data()
            .try_into_vec::<f32>()
            .expect("the generator's output is f32");
        Ok(pixels::from_chw(&values, self.options.output_nc, 4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pix2pix_nets::model::GeneratorArch;
    use pix2pix_nets::weights::{WeightFormat, encode};

    /// unet_64: the smallest U-Net with a dropout layer.
    fn model() -> (ModelOptions, Generator) {
        let options = ModelOptions {
            net_g: GeneratorArch::Unet { num_downs: 6 },
            ngf: 8,
            ..ModelOptions::default()
        };
        let generator = options.generator(&Device::flex());
        (options, generator)
    }

    fn translator(
        options: &ModelOptions,
        generator: &Generator,
        format: WeightFormat,
    ) -> Translator {
        let file = encode(&options.generator_state_dict(generator), format);
        Translator::new(&serde_json::to_string(options).unwrap(), &file).unwrap()
    }

    /// The device's random stream is one for the process: the tests that draw from it (every
    /// network built, the seeded dropout) take turns.
    static RANDOM_STREAM: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn f32_weights_translate_as_the_network_itself() {
        let _turn = RANDOM_STREAM.lock().unwrap_or_else(|e| e.into_inner());
        let (options, generator) = model();
        let translator = translator(&options, &generator, WeightFormat::F32);
        let rgba: Vec<u8> = (0..40 * 24 * 4).map(|i| (i * 7 % 256) as u8).collect();
        let ours = translator.translate(&rgba, 40, 24, true, 0).unwrap();
        let input = Tensor::<4>::from_data(
            TensorData::new(pixels::to_chw(&rgba, 4, 3), [1, 3, 24, 40]),
            &Device::flex(),
        );
        let direct = pixels::translate(&generator.valid(), input, 64);
        let direct = pixels::from_chw(&direct.into_data().try_into_vec::<f32>().unwrap(), 3, 4);
        let differing = ours.iter().zip(&direct).filter(|(a, b)| a != b).count();
        assert_eq!((ours.len(), differing), (direct.len(), 0));
        assert!(ours.chunks(4).all(|p| p[3] == 255));
        assert_eq!(options, *translator.options());
    }

    #[test]
    fn test_mode_is_seeded() {
        let _turn = RANDOM_STREAM.lock().unwrap_or_else(|e| e.into_inner());
        let (options, generator) = model();
        let translator = translator(&options, &generator, WeightFormat::F16);
        let rgba: Vec<u8> = (0..64 * 64 * 4).map(|i| (i * 5 % 256) as u8).collect();
        let run = |seed| translator.translate(&rgba, 64, 64, false, seed).unwrap();
        let once = run(3);
        assert!(once == run(3), "the same seed draws the same dropout");
        assert!(once != run(4), "another seed draws other dropout");
    }

    #[test]
    fn bad_inputs_are_errors() {
        let _turn = RANDOM_STREAM.lock().unwrap_or_else(|e| e.into_inner());
        let (options, generator) = model();
        let json = serde_json::to_string(&options).unwrap();
        let file = encode(
            &options.generator_state_dict(&generator),
            WeightFormat::Int8,
        );
        let cut = Translator::new(&json, &file[..file.len() / 2]);
        assert!(matches!(
            cut,
            Err(WebError::Weights(WeightsError::Truncated { .. }))
        ));
        assert!(matches!(
            Translator::new("{}", &file),
            Err(WebError::Description(_))
        ));
        let other = ModelOptions {
            ngf: 16,
            ..options.clone()
        };
        let other = serde_json::to_string(&other).unwrap();
        assert!(matches!(
            Translator::new(&other, &file),
            Err(WebError::Mismatch(_))
        ));
        let huge = ModelOptions {
            ngf: 4096,
            ..options
        };
        let huge = serde_json::to_string(&huge).unwrap();
        assert!(matches!(
            Translator::new(&huge, &file),
            Err(WebError::TooLarge { .. })
        ));

        let translator = Translator::new(&json, &file).unwrap();
        assert!(matches!(
            translator.translate(&[0; 12], 2, 2, true, 0),
            Err(WebError::Pixels { .. })
        ));
        assert!(matches!(
            translator.translate(&[], 0, 0, true, 0),
            Err(WebError::Pixels { .. })
        ));
        assert!(matches!(
            translator.translate(&[], 60000, 60000, true, 0),
            Err(WebError::Pixels { .. })
        ));
    }
}
