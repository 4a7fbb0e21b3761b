//! Digits data loaders, model files and the `tinyml digits` commands, on small generated files.

mod common;

use std::path::PathBuf;

use common::tinyml;
use tinyml_kit::digits::{
    Architecture, Digits, DigitsModel, DigitsTrainer, MnistSet, Shifts, PIXELS,
};

fn scratch(name: &str) -> PathBuf {
    common::scratch(&format!("digits-{name}"))
}

fn small() -> Digits {
    Digits::course_default().sample(60, 1)
}

fn err_of(r: tinyml_kit::error::Result<impl std::fmt::Debug>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn default_set_has_500_of_each_digit() {
    let d = Digits::course_default();
    assert_eq!(d.len(), 5000);
    for digit in 0..10 {
        assert_eq!(d.labels.iter().filter(|&&l| l == digit).count(), 500);
    }
    let (train, val) = d.split(500, 3).unwrap();
    assert_eq!((train.len(), val.len()), (4500, 500));
    let odd = d.sample(977, 1);
    for holdout in [1, 7, 99, 500] {
        assert_eq!(
            odd.split(holdout, 2).unwrap().1.len(),
            holdout,
            "exactly the images asked for"
        );
    }
    assert!(
        val.labels.iter().filter(|&&l| l == 7).count() == 50,
        "the split keeps the balance"
    );
}

#[test]
fn idx_round_trip_plain_and_gzip_and_folder() {
    let dir = scratch("idx");
    let d = small();
    let (images, labels) = d.save_idx(&dir, "t10k").unwrap();
    let back = Digits::load_idx(&images, &labels).unwrap();
    assert_eq!(
        (back.pixels.clone(), back.labels.clone()),
        (d.pixels.clone(), d.labels.clone())
    );
    // gzip copies in another folder, found by name.
    let gz = scratch("idx-gz");
    for (src, name) in [
        (&images, "train-images-idx3-ubyte.gz"),
        (&labels, "train-labels-idx1-ubyte.gz"),
    ] {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &std::fs::read(src).unwrap()).unwrap();
        std::fs::write(gz.join(name), enc.finish().unwrap()).unwrap();
    }
    assert_eq!(Digits::load(&gz, MnistSet::Test).unwrap().labels, d.labels);
    assert_eq!(Digits::load(&dir, MnistSet::Test).unwrap().labels, d.labels);
    // A name whose lower-case form is shorter (U+212A KELVIN SIGN lower-cases to a one-byte
    // 'k'): its labels file is still found beside it, and nothing panics.
    let odd = scratch("idx-kelvin");
    let kelvin_images = odd.join("\u{212A}elvin-IMAGES-idx3-ubyte");
    std::fs::copy(&images, &kelvin_images).unwrap();
    std::fs::copy(&labels, odd.join("\u{212A}elvin-labels-idx1-ubyte")).unwrap();
    assert_eq!(
        Digits::load(&kelvin_images, MnistSet::Test).unwrap().labels,
        d.labels
    );
}

#[test]
fn bad_idx_files_are_explained() {
    let dir = scratch("bad-idx");
    let d = small();
    let (images, labels) = d.save_idx(&dir, "train").unwrap();
    let bytes = std::fs::read(&images).unwrap();
    // Truncated images.
    let cut = dir.join("cut-images-idx3-ubyte");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let e = err_of(Digits::load_idx(&cut, &labels));
    assert!(e.contains("truncated") && e.contains("cut-images"), "{e}");
    // A header cut short.
    std::fs::write(&cut, &bytes[..10]).unwrap();
    assert!(err_of(Digits::load_idx(&cut, &labels)).contains("too short"));
    // Wrong magic: labels given as images.
    let e = err_of(Digits::load_idx(&labels, &labels));
    assert!(e.contains("magic number 0x00000801"), "{e}");
    // Counts that disagree.
    let fewer = Digits {
        pixels: d.pixels.clone(),
        labels: d.labels[..59].to_vec(),
        source: String::new(),
    };
    let other = scratch("bad-idx-count");
    let (_, short_labels) = fewer.save_idx(&other, "train").unwrap();
    let e = err_of(Digits::load_idx(&images, &short_labels));
    assert!(e.contains("59 labels for 60 images"), "{e}");
    // A folder without MNIST files.
    assert!(err_of(Digits::load(scratch("empty"), MnistSet::Train)).contains("no MNIST files"));
}

#[test]
fn bad_csv_rows_name_the_line_and_column() {
    let dir = scratch("csv");
    let good = vec!["0"; PIXELS].join(",") + ",7\n";
    let short = vec!["0"; PIXELS - 1].join(",") + ",7\n";
    let f = dir.join("short.csv");
    std::fs::write(&f, format!("{good}{short}")).unwrap();
    let e = err_of(Digits::load(&f, MnistSet::Train));
    assert!(
        e.contains("short.csv:2") && e.contains("expected 785 values") && e.contains("found 784"),
        "{e}"
    );
    let f = dir.join("word.csv");
    std::fs::write(&f, good.replacen("0", "x", 1)).unwrap();
    let e = err_of(Digits::load(&f, MnistSet::Train));
    assert!(
        e.contains("word.csv:1 column 1") && e.contains("'x'"),
        "{e}"
    );
    let f = dir.join("label.csv");
    std::fs::write(&f, good.replace(",7\n", ",12\n")).unwrap();
    assert!(err_of(Digits::load(&f, MnistSet::Train)).contains("label 12"));
    let f = dir.join("empty.csv");
    std::fs::write(&f, "").unwrap();
    assert!(err_of(Digits::load(&f, MnistSet::Train)).contains("no digits"));
}

#[test]
fn same_seed_same_model_file_and_files_round_trip() {
    let d = small();
    let train = |seed| {
        DigitsTrainer::params()
            .architecture(Architecture::Cnn)
            .epochs(1)
            .batch_size(16)
            .seed(seed)
            .progress(false)
            .fit(&d, Some(&d))
            .unwrap()
            .to_bytes()
    };
    let (a, b, c) = (train(3), train(3), train(4));
    assert!(a == b, "same seed, same bytes");
    assert!(a != c);
    let dir = scratch("model");
    let path = dir.join("m.tkf");
    std::fs::write(&path, &a).unwrap();
    let m = DigitsModel::load(&path).unwrap();
    assert_eq!(m.to_bytes(), a);
    let p = m.predict(&d.image(0).unwrap()).unwrap();
    assert!(d.image(60).is_err());
    assert!((p.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    assert!(m.predict(&[0; 10]).is_err());
}

#[test]
fn bad_model_files_are_explained() {
    let dir = scratch("bad-model");
    let bytes = DigitsModel::mlp(1).to_bytes();
    let write = |name: &str, b: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    let e = err_of(DigitsModel::load(write(
        "cut.tkf",
        &bytes[..bytes.len() - 9],
    )));
    assert!(e.contains("cut.tkf") && e.contains("truncated"), "{e}");
    let mut v2 = bytes.clone();
    v2[4] = 2;
    let e = err_of(DigitsModel::load(write("v2.tkf", &v2)));
    assert!(
        e.contains("version 2") && e.contains("update tinyml-kit"),
        "{e}"
    );
    let mut flipped = bytes.clone();
    let n = flipped.len();
    flipped[n - 20] ^= 1;
    assert!(err_of(DigitsModel::load(write("flip.tkf", &flipped))).contains("checksum"));
    assert!(err_of(DigitsModel::load(write(
        "png.tkf",
        b"\x89PNG\r\n\x1a\n0000000000"
    )))
    .contains("not a tinyml-kit float model"));
    assert!(err_of(DigitsModel::load(write("tiny.tkf", b"TKMF"))).contains("too short"));
}

#[test]
fn cli_train_then_eval_json() {
    let dir = scratch("cli");
    let data = dir.join("data");
    small().save_idx(&data, "train").unwrap();
    let model = dir.join("mlp.tkf");
    let o = tinyml(&[
        "digits",
        "train",
        "--model",
        "mlp",
        "--epochs",
        "2",
        "--validation",
        "10",
        "--augment",
        "0",
        "--data",
        data.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = tinyml(&[
        "digits",
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["n"], 60);
    assert!(v["accuracy"].as_f64().unwrap() > 0.0);
    assert_eq!(v["confusion"].as_array().unwrap().len(), 10);
    let o = tinyml(&[
        "digits",
        "eval",
        "--model",
        dir.join("missing.tkf").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.tkf"));
}

#[test]
fn model_headers_with_absurd_sizes_are_refused_without_allocating() {
    let dir = scratch("absurd");
    let file = |header: &str| {
        let mut b = b"TKMF".to_vec();
        b.extend(1u16.to_le_bytes());
        b.extend(0u16.to_le_bytes());
        b.extend((header.len() as u32).to_le_bytes());
        b.extend(header.as_bytes());
        b.extend([0u8; 8]);
        let crc = tinyml_core::crc32::crc32(&b);
        b.extend(crc.to_le_bytes());
        b
    };
    let huge = r#"{"kind":"digits-mlp","input":{"Flat":784},"layers":[{"Dense":{"units":1099511627776}}],"labels":[],"tensors":[2]}"#;
    let p = dir.join("huge.tkf");
    std::fs::write(&p, file(huge)).unwrap();
    let e = err_of(DigitsModel::load(&p));
    assert!(
        e.contains("huge.tkf") && e.contains("larger than") || e.contains("more than"),
        "{e}"
    );
    let wrapping = r#"{"kind":"digits-mlp","input":{"Flat":784},"layers":[{"Dense":{"units":10}}],"labels":[],"tensors":[18446744073709551615,2]}"#;
    let p = dir.join("wrap.tkf");
    std::fs::write(&p, file(wrapping)).unwrap();
    let e = err_of(DigitsModel::load(&p));
    assert!(e.contains("its layers need [7840, 10]"), "{e}");
}

#[test]
fn csv_variants_header_label_first_and_bom() {
    let dir = scratch("csv-variants");
    let d = Digits::course_default().sample(30, 4);
    let mut header = String::from("\u{feff}label");
    for i in 0..PIXELS {
        header += &format!(",pixel{i}");
    }
    let mut text = header + "\n";
    for i in 0..d.len() {
        let px: Vec<String> = d.image(i).unwrap().iter().map(|p| p.to_string()).collect();
        text += &format!("{},{}\n", d.labels[i], px.join(","));
    }
    let f = dir.join("kaggle.csv");
    std::fs::write(&f, &text).unwrap();
    let back = Digits::load(&f, MnistSet::Train).unwrap();
    assert_eq!(
        (back.labels.clone(), back.pixels.clone()),
        (d.labels.clone(), d.pixels.clone())
    );
    // Label first without a header: every "label" read from the last pixel is 0.
    let no_header: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    let f = dir.join("label-first.csv");
    std::fs::write(&f, no_header).unwrap();
    let e = err_of(Digits::load(&f, MnistSet::Train));
    assert!(
        e.contains("all 30 labels are 0") && e.contains("another column"),
        "{e}"
    );
}

#[test]
fn dotted_idx_names_and_training_never_uses_the_test_set() {
    let dir = scratch("dotted");
    let d = small();
    let (images, labels) = d.save_idx(&dir, "t10k").unwrap();
    let dotted = scratch("dotted-names");
    std::fs::copy(&images, dotted.join("train-images.idx3-ubyte")).unwrap();
    std::fs::copy(&labels, dotted.join("train-labels.idx1-ubyte")).unwrap();
    assert_eq!(Digits::load(&dotted, MnistSet::Train).unwrap().len(), 60);
    assert_eq!(
        Digits::load(dotted.join("train-images.idx3-ubyte"), MnistSet::Train)
            .unwrap()
            .len(),
        60
    );
    let e = err_of(Digits::load(&dir, MnistSet::Train));
    assert!(e.contains("only the test set"), "{e}");
    assert_eq!(Digits::load(&dir, MnistSet::Test).unwrap().len(), 60);
}

#[test]
fn cli_names_the_argument_that_is_out_of_range() {
    let o = tinyml(&[
        "digits",
        "train",
        "--validation",
        "0",
        "--out",
        "/tmp/never.tkf",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid validation"));
    let o = tinyml(&[
        "digits",
        "train",
        "--augment",
        "1000",
        "--out",
        "/tmp/never.tkf",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid augment"));
}

#[test]
fn the_trainer_checks_its_settings_before_any_training() {
    let trainer = DigitsTrainer::params().epochs(0);
    assert!(err_of(trainer.check()).contains("epochs"));
    assert!(err_of(trainer.fit(&small(), None)).contains("epochs"));
    let e = err_of(
        DigitsTrainer::params()
            .early_stopping(2)
            .progress(false)
            .fit(&small(), None),
    );
    assert!(e.contains("validation"), "{e}");
    assert!(err_of(Shifts::new().copies(21).check()).contains("use 0 to 20"));
    // The other trainers refuse early stopping with nothing to watch before any feature.
    let activity = tinyml_kit::activity::ActivityTrainer::params().early_stopping(3);
    assert!(err_of(activity.check()).contains("early_stopping"));
    let words = tinyml_kit::kws::KeywordData::course_default().unwrap();
    let e = err_of(
        tinyml_kit::kws::KwsTrainer::params()
            .early_stopping(3)
            .fit(&words, None),
    );
    assert!(e.contains("validation set"), "{e}");
    assert!(err_of(small().augmented(&Shifts::new().max_shift(14), 1)).contains("max_shift"));
}

#[test]
fn a_trained_model_keeps_its_history_and_a_loaded_one_says_it_has_none() {
    let d = small();
    let shifted = d.augmented(&Shifts::new().copies(2), 1).unwrap();
    assert_eq!(shifted.len(), 3 * d.len());
    assert_eq!(&shifted.labels[..d.len()], &d.labels[..]);
    let model = DigitsTrainer::params()
        .epochs(2)
        .progress(false)
        .fit(&shifted, Some(&d))
        .unwrap();
    let history = model.history.as_ref().expect("trained here");
    assert_eq!(history.epochs.len(), 2);
    assert_eq!(model.training_figure("MLP").series().len(), 3);
    let path = scratch("history").join("mlp.tkf");
    model.save(&path).unwrap();
    let loaded = DigitsModel::load(&path).unwrap();
    assert!(loaded.history.is_none());
    let figure = loaded.training_figure("MLP");
    assert!(
        figure.title().contains("not trained here"),
        "{}",
        figure.title()
    );
    assert!(figure.png().is_ok());
}
