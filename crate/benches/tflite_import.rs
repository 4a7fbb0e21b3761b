//! A model trained and converted outside the kit, imported and run by the kit against LiteRT.
//!
//! `cargo bench -p tinyml-kit --bench tflite_import` computes the kit's MFCC features of the
//! spoken digits in data/fsdd (george held out for test), standardises them with the training
//! clips' per-coefficient mean and standard deviation, and hands them to
//! `bench/keras_tflite.py`, which trains a small CNN in Keras, converts it with TensorFlow's
//! converter (full-integer int8), quantizes the test clips with the model's input quantization
//! and runs them with LiteRT's reference kernels. The kit then imports the `.tflite`
//! (`TfliteModel::to_quantized`, the front end being the kit's MFCC with those statistics) and
//! runs the same int8 inputs. Printed: what the converter wrote, how many inputs the kit's own
//! front end quantizes to the same bytes, how many outputs and answers agree, and both
//! accuracies. Python: `$TINYML_BENCH_PYTHON` (default
//! `~/.cache/tinyml-kit/bench-venv/bin/python`, with tensorflow-cpu and ai-edge-litert).

// Only the baselines' Python: this benchmark times nothing.
#[allow(dead_code)]
mod common;

use std::path::Path;
use std::process::Command;

use tinyml_core::int8::argmax;
use tinyml_kit::front_end::{InputKind, KeywordFrontEnd};
use tinyml_kit::kws::{standardisation, KeywordData};
use tinyml_kit::tflite::{ImportOptions, TfliteModel};

/// Keras training epochs.
const EPOCHS: usize = 15;
/// The voice held out for test.
const TEST_SPEAKER: &str = "george";

fn write_f32(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn write_labels(path: &Path, data: &KeywordData, names: &[String]) {
    let bytes: Vec<u8> = data
        .labels()
        .iter()
        .map(|l| names.iter().position(|n| n == l).unwrap() as i32)
        .flat_map(|i| i.to_le_bytes())
        .collect();
    std::fs::write(path, bytes).unwrap();
}

fn main() {
    let dir = std::env::temp_dir().join(format!("tinyml-tflite-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = KeywordData::course_default().expect("data/fsdd");
    let (train, test) = data.split_by_speaker(&[TEST_SPEAKER]).unwrap();
    let names = data.label_names();
    let config = data.config();
    let coefficients = config.coefficients();
    let (mut x_train, mut x_test) = (train.features().unwrap(), test.features().unwrap());
    // Per-coefficient statistics of the training clips, as the kit's own keyword models take.
    let (mean, std) = standardisation(&x_train, coefficients);
    let raw_test = x_test.clone();
    for x in [&mut x_train, &mut x_test] {
        tinyml_core::mfcc::standardize(x, coefficients, |c| (mean[c], std[c]));
    }
    write_f32(&dir.join("train.bin"), &x_train);
    write_f32(&dir.join("test.bin"), &x_test);
    write_labels(&dir.join("train_labels.bin"), &train, &names);
    write_labels(&dir.join("test_labels.bin"), &test, &names);
    let meta = serde_json::json!({
        "frames": config.clip_frames(), "coefficients": coefficients,
        "classes": names.len(), "epochs": EPOCHS,
    });
    std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();

    let python = common::python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/keras_tflite.py");
    println!(
        "training in Keras and converting ({} training clips, {} test clips of {TEST_SPEAKER})…",
        train.len(),
        test.len()
    );
    let out = Command::new(&python)
        .arg(script)
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "keras_tflite.py failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("result {key} ")))
            .unwrap_or("?")
            .to_string()
    };

    let file = TfliteModel::load(dir.join("model.tflite")).unwrap();
    println!("\nthe converter's model, as the kit reads it:");
    println!("{}", file.table());
    let options = ImportOptions {
        labels: Some(names.clone()),
        front_end: Some(InputKind::Keywords(KeywordFrontEnd {
            features: config,
            clip_mean_normalization: false,
            mean: mean.clone(),
            std: std.clone(),
        })),
        kind: None,
    };
    let model = file.to_quantized(&options).expect("imports");
    let m = model.model();
    let per = m.input().len();
    let inputs: Vec<i8> = std::fs::read(dir.join("test_int8.bin"))
        .unwrap()
        .into_iter()
        .map(|b| b as i8)
        .collect();
    let theirs: Vec<i8> = std::fs::read(dir.join("litert_outputs.bin"))
        .unwrap()
        .into_iter()
        .map(|b| b as i8)
        .collect();
    let classes = m.output().len();
    let (mut same_input, mut values_differ, mut most, mut answers_differ, mut right) =
        (0, 0, 0, 0, 0);
    for (i, x) in inputs.chunks_exact(per).enumerate() {
        // The kit's own front end on the raw features gives the input the board would.
        let ours_input = model
            .quantize_input(&raw_test[i * per..(i + 1) * per])
            .unwrap();
        same_input += usize::from(ours_input == x);
        let ours = model.simulate(x).unwrap();
        let litert = &theirs[i * classes..(i + 1) * classes];
        for (a, b) in ours.iter().zip(litert) {
            let d = (*a as i32 - *b as i32).abs();
            values_differ += usize::from(d > 0);
            most = most.max(d);
        }
        answers_differ += usize::from(argmax(&ours) != argmax(litert));
        right += usize::from(names[argmax(&ours)] == test.labels()[i]);
    }
    let n = inputs.len() / per;
    println!("ops: {}", result("ops"));
    println!(
        "input quantization: {} (scale, zero point)",
        result("input_quantization")
    );
    println!("\n| | |\n|---|---|");
    println!("| test clips | {n} |");
    println!(
        "| inputs the kit's front end quantizes to the same bytes as Python | {same_input} of {n} |"
    );
    println!(
        "| outputs that differ, kit against LiteRT | {values_differ} of {}, by at most {most}/256 |",
        n * classes
    );
    println!("| answers that differ | {answers_differ} of {n} |");
    println!(
        "| accuracy on {TEST_SPEAKER}: Keras float / LiteRT int8 / kit int8 | {:.1}% / {:.1}% / {:.1}% |",
        100.0 * result("keras_accuracy").parse::<f64>().unwrap_or(f64::NAN),
        100.0 * result("litert_accuracy").parse::<f64>().unwrap_or(f64::NAN),
        100.0 * right as f64 / n as f64
    );
    if std::env::var_os("TINYML_BENCH_KEEP").is_some() {
        println!("kept: {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
