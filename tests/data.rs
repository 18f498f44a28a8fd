//! The aligned dataset, its preprocessing and the prefetching loader.

use std::path::Path;

use image::{Rgb, RgbImage};
use pix2pix::data::{
    AlignedDataset, BatchLoader, DataOptions, Direction, LoaderOptions, Preprocess,
};

/// One A|B file: A red-ish with a horizontal ramp, B blue-ish with a vertical ramp.
fn write_pair(dir: &Path, name: &str, half_w: u32, h: u32) {
    let pair = RgbImage::from_fn(2 * half_w, h, |x, y| {
        if x < half_w {
            Rgb([200, (x * 255 / half_w) as u8, 10])
        } else {
            Rgb([10, (y * 255 / h) as u8, 220])
        }
    });
    std::fs::create_dir_all(dir).unwrap();
    pair.save(dir.join(name)).unwrap();
}

fn options(root: &Path, preprocess: Preprocess, load: usize, crop: usize) -> DataOptions {
    DataOptions {
        dataroot: root.to_path_buf(),
        preprocess,
        load_size: load,
        crop_size: crop,
        num_threads: 2,
        ..DataOptions::default()
    }
}

#[test]
fn every_preprocess_mode_gives_the_official_sizes() {
    let root = tempfile::tempdir().unwrap();
    write_pair(&root.path().join("train"), "a.png", 45, 37);
    let cases = [
        (Preprocess::ResizeAndCrop, 40, 32, (32, 32)),
        (Preprocess::Crop, 0, 16, (16, 16)),
        (Preprocess::ScaleWidth, 30, 16, (30, 24)),
        (Preprocess::ScaleWidthAndCrop, 30, 16, (16, 16)),
        (Preprocess::None, 0, 0, (44, 36)),
    ];
    for (preprocess, load, crop, (w, h)) in cases {
        let o = options(root.path(), preprocess, load.max(1), crop.max(1));
        let sample = AlignedDataset::open(&o, 3, 3).unwrap().get(0, 7).unwrap();
        assert_eq!((sample.width, sample.height), (w, h), "{preprocess}");
        assert_eq!(sample.input.len(), 3 * w * h);
    }
}

#[test]
fn direction_picks_the_input_half_and_one_channel_means_luma() {
    let root = tempfile::tempdir().unwrap();
    write_pair(&root.path().join("train"), "a.png", 16, 16);
    let mut o = options(root.path(), Preprocess::None, 16, 16);
    o.flip = false;
    let a_to_b = AlignedDataset::open(&o, 3, 3).unwrap().get(0, 0).unwrap();
    // A's red channel is 200 -> 200 / 127.5 - 1.
    assert!((a_to_b.input[0] - (200.0 / 127.5 - 1.0)).abs() < 1e-6);
    o.direction = Direction::BtoA;
    let b_to_a = AlignedDataset::open(&o, 1, 3).unwrap().get(0, 0).unwrap();
    assert_eq!(b_to_a.input.len(), 16 * 16);
    // B's first pixel (10, 0, 220) in PIL's luma: (10*299 + 0*587 + 220*114 + 500) / 1000 = 28.
    assert!((b_to_a.input[0] - (28.0 / 127.5 - 1.0)).abs() < 1e-6);
    assert_eq!(b_to_a.target, a_to_b.input);
}

#[test]
fn crop_and_flip_are_shared_by_both_halves() {
    let root = tempfile::tempdir().unwrap();
    write_pair(&root.path().join("train"), "a.png", 40, 40);
    let o = options(root.path(), Preprocess::ResizeAndCrop, 40, 24);
    let dataset = AlignedDataset::open(&o, 3, 3).unwrap();
    // A's green ramps along x and B's along y: a flip reverses A's ramp; B is unaffected by flips.
    let mut flips = 0;
    for seed in 0..20 {
        let s = dataset.get(0, seed).unwrap();
        let plane = 24 * 24;
        let (first, last) = (s.input[plane], s.input[plane + 23]);
        if first > last {
            flips += 1;
        }
        // Same crop: B's vertical ramp starts where A's crop starts vertically.
        assert!(s.target[plane] <= s.target[plane + 23 * 24]);
    }
    assert!(flips > 3 && flips < 17, "{flips} flips of 20");
}

#[test]
fn the_loader_is_reproducible_and_resumable() {
    let root = tempfile::tempdir().unwrap();
    for i in 0..7 {
        write_pair(&root.path().join("train"), &format!("{i}.png"), 16 + i, 16);
    }
    let o = options(root.path(), Preprocess::ResizeAndCrop, 20, 16);
    let loader = |seed| {
        BatchLoader::new(
            AlignedDataset::open(&o, 3, 3).unwrap(),
            LoaderOptions {
                batch_size: 3,
                shuffle: true,
                seed,
                threads: 3,
                skip_bad: false,
            },
        )
    };
    let epoch = |l: &BatchLoader, e, start| -> Vec<(Vec<f32>, Vec<std::path::PathBuf>)> {
        l.epoch(e, start)
            .map(|b| {
                let b = b.unwrap();
                (b.input, b.paths)
            })
            .collect()
    };
    let a = epoch(&loader(5), 1, 0);
    assert_eq!(
        a.iter().map(|(_, p)| p.len()).collect::<Vec<_>>(),
        [3, 3, 1]
    );
    assert_eq!(a, epoch(&loader(5), 1, 0), "same seed, same batches");
    assert_ne!(
        a.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(),
        epoch(&loader(5), 2, 0)
            .iter()
            .map(|(_, p)| p.clone())
            .collect::<Vec<_>>(),
        "another epoch, another order"
    );
    // Resuming at position 3 gives the rest of the same epoch.
    assert_eq!(epoch(&loader(5), 1, 3), a[1..].to_vec());
}

#[test]
fn max_dataset_size_limits_the_files() {
    let root = tempfile::tempdir().unwrap();
    for i in 0..5 {
        write_pair(&root.path().join("train"), &format!("{i}.png"), 8, 8);
    }
    let mut o = options(root.path(), Preprocess::None, 8, 8);
    o.max_dataset_size = Some(2);
    assert_eq!(AlignedDataset::open(&o, 3, 3).unwrap().len(), 2);
}
