//! Translating images with the library alone (no command line crates): loads a generator and
//! translates each image given into `<stem>_translated.png` beside it.
//!
//! ```sh
//! cargo run --release --example translate -- checkpoints/facades/latest_net_G.bpk photo.jpg
//! cargo run --release --example translate -- facades_label2photo.pth labels.png
//! ```
//!
//! The generator is any of the files the library loads: an official `.pth`, one of our
//! checkpoints (`.bpk`, with the `train_opt.json` of its run folder beside it), or an exported
//! `.safetensors`. It runs in eval mode (running statistics, no dropout).

use std::path::PathBuf;

use pix2pix::infer::ModelOverrides;
use pix2pix::infer::{GeneratorSource, load_generator, translate_image};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(weights), images) = (args.next(), args.collect::<Vec<_>>()) else {
        return Err("usage: translate GENERATOR_FILE IMAGE...".into());
    };
    let device = pix2pix::device::cpu()?;
    let source = GeneratorSource::File(weights);
    let loaded = load_generator(&source, &ModelOverrides::default(), true, &device)?;
    println!(
        "{} ({} -> {} channels), sides padded to multiples of {}",
        loaded.model.net_g,
        loaded.model.input_nc,
        loaded.model.output_nc,
        loaded.model.net_g.size_multiple()
    );
    for path in images {
        let image = image::open(&path)?;
        let translated = translate_image(&loaded, &image, &device)?;
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let output = path.with_file_name(format!("{stem}_translated.png"));
        translated.save(&output)?;
        println!("{} -> {}", path.display(), output.display());
    }
    Ok(())
}
