//! Audio files and keyword datasets: every WAV format, bad files, dataset layouts, training, and
//! the `tinyml mfcc` / `tinyml kws` commands. All files are generated here.

mod common;

use std::path::Path;

use common::{assert_fails_with, json, scratch, tinyml};

use tinyml_kit::prelude::*;

fn spec(channels: u16, rate: u32, bits: u16, float: bool) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    }
}

/// A tone of `hz` for `seconds`, amplitude 0.5.
fn tone(hz: f64, rate: u32, seconds: f64) -> Vec<f32> {
    (0..(seconds * rate as f64) as usize)
        .map(|t| (0.5 * (2.0 * std::f64::consts::PI * hz * t as f64 / rate as f64).sin()) as f32)
        .collect()
}

fn write_int(path: &Path, spec: hound::WavSpec, frames: &[Vec<f32>]) {
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let full = (1i64 << (spec.bits_per_sample - 1)) as f32;
    for frame in frames {
        for &x in frame {
            let v = (x * full).round().clamp(-full, full - 1.0) as i32;
            match spec.bits_per_sample {
                8 => w.write_sample(v as i8).unwrap(),
                16 => w.write_sample(v as i16).unwrap(),
                _ => w.write_sample(v).unwrap(),
            }
        }
    }
    w.finalize().unwrap();
}

fn audio_error(path: &Path) -> String {
    match Audio::load(path) {
        Ok(a) => panic!("{} loaded as {} samples", path.display(), a.samples().len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_pcm_width_and_float_loads_to_the_same_samples() {
    let dir = scratch("formats");
    let x = tone(440.0, 16_000, 0.1);
    let frames: Vec<Vec<f32>> = x.iter().map(|&v| vec![v]).collect();
    for bits in [8u16, 16, 24, 32] {
        let path = dir.join(format!("int{bits}.wav"));
        write_int(&path, spec(1, 16_000, bits, false), &frames);
        let a = Audio::load(&path).unwrap();
        assert_eq!(a.sample_rate_hz(), 16_000);
        let tolerance = 1.0 / (1u64 << (bits - 1)) as f32;
        for (got, want) in a.samples().iter().zip(&x) {
            assert!(
                (got - want).abs() <= tolerance,
                "{bits}-bit: {got} vs {want}"
            );
        }
    }
    let path = dir.join("float.wav");
    let mut w = hound::WavWriter::create(&path, spec(1, 16_000, 32, true)).unwrap();
    for &v in &x {
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
    assert_eq!(Audio::load(&path).unwrap().samples(), &x[..]);
}

#[test]
fn stereo_44k_becomes_a_mono_16k_keyword_clip() {
    let dir = scratch("stereo");
    let left = tone(1_000.0, 44_100, 0.6);
    let frames: Vec<Vec<f32>> = left.iter().map(|&l| vec![l, 0.5 * l]).collect();
    let path = dir.join("stereo.wav");
    write_int(&path, spec(2, 44_100, 16, false), &frames);
    let a = Audio::load(&path).unwrap();
    assert_eq!(a.sample_rate_hz(), 44_100);
    assert_eq!(a.samples().len(), left.len());
    assert!((a.samples()[100] - 0.75 * left[100]).abs() < 1e-4);
    let clip = a.keyword_clip(&FeatureConfig::KEYWORDS).unwrap();
    assert_eq!(
        (clip.sample_rate_hz(), clip.samples().len()),
        (16_000, 16_000)
    );
    let features = clip.features(&FeatureConfig::KEYWORDS).unwrap();
    assert_eq!((features.frames, features.coefficients), (49, 13));
}

#[test]
fn bad_wav_files_are_clear_errors() {
    let dir = scratch("bad_wavs");
    let empty = dir.join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    let e = audio_error(&empty);
    assert!(
        e.contains("not a readable WAV file") && e.contains("Export"),
        "{e}"
    );

    let good = dir.join("good.wav");
    write_int(&good, spec(1, 16_000, 16, false), &vec![vec![0.25]; 1_000]);
    let bytes = std::fs::read(&good).unwrap();

    let header = dir.join("truncated_header.wav");
    std::fs::write(&header, &bytes[..20]).unwrap();
    assert!(audio_error(&header).contains("not a readable WAV file"));

    let data = dir.join("truncated_data.wav");
    std::fs::write(&data, &bytes[..bytes.len() - 501]).unwrap();
    let e = audio_error(&data);
    assert!(
        e.contains("ends after") && e.contains("of 1000 frames"),
        "{e}"
    );

    let mut zero_rate = bytes.clone();
    zero_rate[24..32].copy_from_slice(&[0; 8]); // sample rate and byte rate
    let zero = dir.join("zero_rate.wav");
    std::fs::write(&zero, &zero_rate).unwrap();
    let e = audio_error(&zero);
    assert!(
        e.contains("0 samples per second") && e.contains("export it again"),
        "{e}"
    );

    let mut fast = bytes.clone();
    fast[24..28].copy_from_slice(&4_000_000_000u32.to_le_bytes());
    fast[28..32].copy_from_slice(&8_000_000_000u64.to_le_bytes()[..4]);
    let fast_path = dir.join("huge_rate.wav");
    std::fs::write(&fast_path, &fast).unwrap();
    let e = audio_error(&fast_path);
    assert!(!e.contains("panicked"), "{e}");

    let text = dir.join("notes.wav");
    std::fs::write(&text, "these are my notes, not audio").unwrap();
    assert!(audio_error(&text).contains("not a WAV file"));

    let e = audio_error(&dir.join("missing.wav"));
    assert!(e.contains("missing.wav"), "{e}");
}

#[test]
fn a_ten_minute_recording_gives_its_loudest_second() {
    let dir = scratch("long");
    let rate = 8_000;
    let mut x = vec![0.001f32; rate as usize * 600];
    let word = tone(300.0, rate, 0.5);
    let at = rate as usize * 321;
    x[at..at + word.len()].copy_from_slice(&word);
    let path = dir.join("ten_minutes.wav");
    let frames: Vec<Vec<f32>> = x.iter().map(|&v| vec![v]).collect();
    write_int(&path, spec(1, rate, 16, false), &frames);
    let a = Audio::load(&path).unwrap();
    assert!((a.duration_s() - 600.0).abs() < 1e-9);
    let clip = a.keyword_clip(&FeatureConfig::KEYWORDS).unwrap();
    assert_eq!(clip.samples().len(), 16_000);
    // The word (a 0.5 s tone) is inside the clip: half of it is loud.
    let loud = clip.samples().iter().filter(|x| x.abs() > 0.3).count();
    assert!(loud > 4_000, "{loud} loud samples");
}

/// Words as tone patterns: word k is a tone at `300 + 250 k` Hz, each speaker a little higher.
fn synthetic_dataset(dir: &Path, words: &[&str], speakers: &[&str], takes: usize) {
    for (k, word) in words.iter().enumerate() {
        std::fs::create_dir_all(dir.join(word)).unwrap();
        for (s, speaker) in speakers.iter().enumerate() {
            for take in 0..takes {
                let hz = 300.0 + 250.0 * k as f64 + 20.0 * s as f64 + 3.0 * take as f64;
                let x = tone(hz, 8_000, 0.3 + 0.02 * take as f64);
                let frames: Vec<Vec<f32>> = x.iter().map(|&v| vec![v]).collect();
                let path = dir.join(word).join(format!("{speaker}_{take}.wav"));
                write_int(&path, spec(1, 8_000, 16, false), &frames);
            }
        }
    }
}

#[test]
fn datasets_load_by_folder_or_flat_and_split_by_speaker() {
    let dir = scratch("dataset");
    synthetic_dataset(
        &dir,
        &["aoo", "dooda", "yaateeh"],
        &["ann", "ben", "cho"],
        4,
    );
    let data = KeywordData::load(&dir).unwrap();
    assert_eq!(data.len(), 36);
    assert_eq!(data.label_names(), ["aoo", "dooda", "yaateeh"]);
    assert_eq!(data.speaker_names(), ["ann", "ben", "cho"]);
    let (train, test) = data.split_by_speaker(&["cho"]).unwrap();
    assert_eq!((train.len(), test.len()), (24, 12));
    assert!(train.speakers().iter().all(|s| s != "cho"));
    assert!(test.speakers().iter().all(|s| s == "cho"));
    assert!(data
        .split_by_speaker(&["zed"])
        .unwrap_err()
        .to_string()
        .contains("not a speaker"));

    let unknown = data.with_keywords(&["aoo"], 1).unwrap();
    assert_eq!(unknown.label_names(), ["aoo", "unknown"]);
    assert_eq!(
        unknown.labels().iter().filter(|l| *l == "unknown").count(),
        12
    );
    let with_silence = unknown.with_silence(5, 1);
    assert_eq!(
        with_silence
            .labels()
            .iter()
            .filter(|l| *l == "silence")
            .count(),
        5
    );
    let augmented = data.augmented(&Augmentation::new().copies(1), 3).unwrap();
    assert_eq!(augmented.len(), 72);
    assert_eq!(augmented.features().unwrap().len(), 72 * 49 * 13);
    assert!(data.augmented(&Augmentation::new().speed(0.9), 3).is_err());
    // Splits, merges and the originals in an augmented set share the clips' samples: the
    // 30,000-clip keyword bank is not copied at every step.
    let shares = |a: &KeywordData, i: usize, j: usize| {
        std::ptr::eq(
            a.clip(i).unwrap().samples(),
            data.clip(j).unwrap().samples(),
        )
    };
    let first_of_train = (0..data.len())
        .find(|&j| data.speakers()[j] != "cho")
        .unwrap();
    assert!(shares(&train, 0, first_of_train));
    assert!(shares(&augmented, 5, 5) && !shares(&augmented, 36 + 5, 5));
    assert!(shares(&test.merged(&train).unwrap(), 12, first_of_train));

    // The original FSDD layout: one flat folder of {label}_{speaker}_{take}.wav.
    let flat = scratch("dataset_flat");
    for entry in std::fs::read_dir(dir.join("aoo")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        std::fs::copy(&p, flat.join(format!("aoo_{name}"))).unwrap();
        std::fs::copy(&p, flat.join(format!("dooda_{name}"))).unwrap();
    }
    let flat = KeywordData::load(&flat).unwrap();
    assert_eq!(flat.label_names(), ["aoo", "dooda"]);
    assert_eq!(flat.speaker_names(), ["ann", "ben", "cho"]);
}

#[test]
fn bad_datasets_are_clear_errors() {
    let dir = scratch("empty_label");
    synthetic_dataset(&dir, &["aoo"], &["ann"], 2);
    std::fs::create_dir_all(dir.join("dooda")).unwrap();
    let e = KeywordData::load(&dir).unwrap_err().to_string();
    assert!(e.contains("'dooda' has no recordings"), "{e}");

    let one = scratch("one_class");
    synthetic_dataset(&one, &["aoo"], &["ann", "ben"], 3);
    let data = KeywordData::load(&one).unwrap();
    let e = KwsTrainer::params()
        .epochs(1)
        .progress(false)
        .unknown(false)
        .silence(false)
        .fit(&data, None)
        .unwrap_err();
    assert!(e.to_string().contains("only one class"), "{e}");

    let single = scratch("single_clip");
    synthetic_dataset(&single, &["aoo"], &["ann"], 1);
    let one_clip = KeywordData::load(&single).unwrap();
    assert!(one_clip
        .split_clips(0.2, 1)
        .unwrap_err()
        .to_string()
        .contains("cannot be split"));
    let too_long = FeatureConfig {
        sample_rate_hz: 1_000,
        window_ms: 600,
        stride_ms: 20,
        fmin_hz: 0.0,
        fmax_hz: 500.0,
        num_mel_bins: 8,
        num_mfcc: 4,
        ..FeatureConfig::KEYWORDS
    };
    let e = KeywordData::load_with(&single, too_long)
        .unwrap_err()
        .to_string();
    assert!(e.contains("longer than a clip of 1000 ms"), "{e}");

    let nothing = scratch("no_wavs");
    assert!(KeywordData::load(&nothing)
        .unwrap_err()
        .to_string()
        .contains("no recordings"));

    let broken = scratch("broken_clip");
    synthetic_dataset(&broken, &["aoo", "dooda"], &["ann"], 2);
    std::fs::write(broken.join("aoo/ann_9.wav"), b"RIFF").unwrap();
    // A broken file is left out and listed with why; the rest loads.
    let data = KeywordData::load(&broken).unwrap();
    assert_eq!(data.len(), 4);
    let skipped = data.skipped();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].file.ends_with("ann_9.wav"), "{skipped:?}");
    assert!(
        skipped[0].reason.contains("not a readable WAV"),
        "{skipped:?}"
    );
    // A word none of whose files can be read is an error naming a file and why.
    std::fs::create_dir_all(broken.join("hagoonee")).unwrap();
    std::fs::write(broken.join("hagoonee/ann_1.wav"), b"RIFF").unwrap();
    let e = KeywordData::load(&broken).unwrap_err().to_string();
    assert!(
        e.contains("hagoonee/ann_1.wav") && e.contains("not a readable WAV"),
        "{e}"
    );
}

#[test]
fn a_model_learns_synthetic_words_and_survives_a_round_trip() {
    let dir = scratch("train");
    synthetic_dataset(
        &dir,
        &["aoo", "dooda", "yaateeh"],
        &["ann", "ben", "cho"],
        6,
    );
    let data = KeywordData::load(&dir).unwrap();
    let (train, test) = data.split_by_speaker(&["ben"]).unwrap();
    let model = KwsTrainer::params()
        .architecture(KwsArchitecture::TinyConv)
        .epochs(15)
        .progress(false)
        .fit(&train, None)
        .unwrap();
    let eval = model.evaluate(&test).unwrap();
    assert!(eval.accuracy() >= 0.9, "accuracy {}", eval.accuracy());
    assert_eq!(eval.json()["per_speaker"]["ben"], eval.accuracy());
    let path = dir.join("model.tkf");
    model.save(&path).unwrap();
    let loaded = KwsModel::load(&path).unwrap();
    assert_eq!(loaded.to_bytes(), model.to_bytes());
    let clip = Audio::load(dir.join("dooda/ben_2.wav")).unwrap();
    assert_eq!(
        loaded.predict(&clip).unwrap(),
        model.predict(&clip).unwrap()
    );
    // A digits model is not a keyword model.
    let digits = dir.join("digits.tkf");
    DigitsModel::mlp(1).save(&digits).unwrap();
    assert!(KwsModel::load(&digits)
        .unwrap_err()
        .to_string()
        .contains("not a keyword model"));
}

#[test]
fn cli_mfcc_and_kws_train_eval_predict() {
    let dir = scratch("cli_kws");
    synthetic_dataset(
        &dir.join("words"),
        &["aoo", "dooda"],
        &["ann", "ben", "cho"],
        4,
    );
    let wav = dir.join("words/aoo/ann_1.wav");
    let w = wav.to_str().unwrap();

    let o = tinyml(&["mfcc", w]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("8000 Hz") && err.contains("--clip") && !err.contains("panicked"),
        "{err}"
    );

    let clip = dir.join("clip.wav");
    let v = json(&tinyml(&[
        "mfcc",
        w,
        "--clip",
        "--save-clip",
        clip.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(
        (v["frames"].as_u64(), v["coefficients"].as_u64()),
        (Some(49), Some(13))
    );
    assert_eq!(v["features"].as_array().unwrap().len(), 49);
    assert_eq!(v["features"][0].as_array().unwrap().len(), 13);
    assert!(v["librosa"]
        .as_str()
        .unwrap()
        .starts_with("librosa.feature.mfcc(S=librosa.power_to_db("));
    assert_eq!(v["config"]["sample_rate_hz"], 16_000);
    // The saved clip is the prepared samples exactly: its features without --clip are the same.
    let again = json(&tinyml(&["mfcc", clip.to_str().unwrap(), "--json"]));
    assert_eq!(v["features"], again["features"]);

    let model = dir.join("kws.tkf");
    let data = dir.join("words");
    let (d, m) = (data.to_str().unwrap(), model.to_str().unwrap());
    let t = json(&tinyml(&[
        "kws",
        "train",
        "--data",
        d,
        "--model",
        "tiny_conv",
        "--epochs",
        "8",
        "--augment",
        "1",
        "--test-speakers",
        "cho",
        "--out",
        m,
        "--json",
    ]));
    // Own words get "unknown" (other words) and "silence" by default.
    assert_eq!(
        t["labels"],
        serde_json::json!(["aoo", "dooda", "unknown", "silence"])
    );
    assert!(
        t["test"]["accuracy"].as_f64().unwrap() >= 0.75,
        "{}",
        t["test"]
    );
    let e = json(&tinyml(&[
        "kws", "eval", "--model", m, "--data", d, "--json",
    ]));
    for key in [
        "accuracy",
        "n",
        "labels",
        "confusion",
        "per_class",
        "per_speaker",
    ] {
        assert!(e.get(key).is_some(), "{key} missing: {e}");
    }
    assert_eq!(e["n"], 24);
    assert_eq!(e["per_speaker"].as_object().unwrap().len(), 3);
    let p = json(&tinyml(&["kws", "predict", "--model", m, w, "--json"]));
    assert!(p["label"].is_string() && p["probabilities"].as_array().unwrap().len() == 4);

    // Each speaker held out in turn, in float and in the board's int8.
    let f = json(&tinyml(&[
        "kws",
        "folds",
        "--data",
        d,
        "--model",
        "tiny_conv",
        "--epochs",
        "8",
        "--augment",
        "1",
        "--json",
    ]));
    let folds = f["per_speaker"].as_object().unwrap();
    assert_eq!(folds.len(), 3, "{f}");
    let mean = folds.values().map(|a| a.as_f64().unwrap()).sum::<f64>() / 3.0;
    assert!((f["mean"].as_f64().unwrap() - mean).abs() < 1e-9, "{f}");
    for speaker in folds.keys() {
        let int8 = f["int8_per_speaker"][speaker].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&int8), "{f}");
        assert!(f["disagreements"][speaker].as_u64().unwrap() <= 8, "{f}");
    }
    assert!(f["int8_mean"].as_f64().is_some(), "{f}");
    // `kws train` without --test-speakers on three voices: the same folds, then the model.
    assert!(t["folds"].is_null(), "speakers were named: {t}");
    let other = dir.join("kws-folds.tkf");
    let other = other.to_str().unwrap();
    let tf = json(&tinyml(&[
        "kws",
        "train",
        "--data",
        d,
        "--model",
        "tiny_conv",
        "--epochs",
        "8",
        "--augment",
        "1",
        "--out",
        other,
        "--json",
    ]));
    assert_eq!(tf["folds"]["folds"].as_array().unwrap().len(), 3, "{tf}");
    for fold in tf["folds"]["folds"].as_array().unwrap() {
        let speaker = fold["test_speakers"][0].as_str().unwrap();
        assert_eq!(fold["test_speakers"].as_array().unwrap().len(), 1);
        assert_eq!(fold["float_accuracy"], f["per_speaker"][speaker], "{tf}");
        assert_eq!(fold["test_clips"], 8);
    }
    assert_eq!(tf["folds"]["mean"], f["mean"]);
    let quick = json(&tinyml(&[
        "kws",
        "train",
        "--data",
        d,
        "--epochs",
        "1",
        "--no-folds",
        "--out",
        other,
        "--json",
    ]));
    assert!(quick["folds"].is_null(), "{quick}");
    // Clips of 1.5 s, for longer words: carried in the model, and the float model is evaluated
    // on clips as long.
    let long = dir.join("kws-long.tkf");
    let long_q = dir.join("kws-long.tkm");
    let (long, long_q) = (long.to_str().unwrap(), long_q.to_str().unwrap());
    json(&tinyml(&[
        "kws",
        "train",
        "--data",
        d,
        "--epochs",
        "1",
        "--no-folds",
        "--clip-ms",
        "1500",
        "--out",
        long,
        "--json",
    ]));
    let long_eval = json(&tinyml(&[
        "kws", "eval", "--model", long, "--data", d, "--json",
    ]));
    assert_eq!(long_eval["n"], 24, "{long_eval}");
    let j = json(&tinyml(&[
        "quantize",
        "--model",
        long,
        "--calibration",
        d,
        "--out",
        long_q,
        "--json",
    ]));
    assert_eq!(j["front_end"]["frames"], 74, "{j}");
    assert_fails_with(
        &tinyml(&[
            "kws",
            "train",
            "--data",
            d,
            "--clip-ms",
            "2000",
            "--out",
            long,
        ]),
        &["1000 to 1500 ms"],
    );

    // Accuracy against the number of voices trained on, with its figure.
    let figures = dir.join("voices");
    let voices = |more: &[&str]| {
        let common = [
            "kws",
            "voices",
            "--data",
            d,
            "--model",
            "tiny_conv",
            "--augment",
            "0",
        ];
        json(&tinyml(&[&common[..], more, &["--json"]].concat()))
    };
    let v = voices(&["--epochs", "2", "--figures", figures.to_str().unwrap()]);
    assert_eq!(v["runs"].as_array().unwrap().len(), 9, "{v}");
    assert_eq!(v["points"][0]["voices"], 1, "{v}");
    assert_eq!(v["points"][1]["models"], 3, "{v}");
    assert!(figures.join("kws-voices.png").is_file());
    let v = voices(&["--epochs", "1", "--speakers", "ann,cho"]);
    assert_eq!(v["runs"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["runs"][0]["test_speaker"], "ann", "{v}");
    assert_eq!(v["runs"][0]["train_speakers"][0], "cho", "{v}");
    let o = tinyml(&["kws", "voices", "--data", d, "--speakers", "ann,zed"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("'zed' is not a speaker") && !err.contains("panicked"),
        "{err}"
    );

    // int8: quantize on the training words, then the same commands on the .tkm.
    let q = dir.join("kws.tkm");
    let qs = q.to_str().unwrap();
    let j = json(&tinyml(&[
        "quantize",
        "--model",
        m,
        "--calibration",
        d,
        "--out",
        qs,
        "--json",
    ]));
    assert_eq!(j["front_end"]["kind"], "mfcc");
    assert_eq!(j["front_end"]["frames"], 49);
    assert_eq!(
        j["labels"],
        serde_json::json!(["aoo", "dooda", "unknown", "silence"])
    );
    assert_eq!(j["fits"]["ok"], true);
    let qe = json(&tinyml(&[
        "kws", "eval", "--model", qs, "--data", d, "--json",
    ]));
    assert_eq!(qe["n"], 24);
    assert_eq!(qe["per_speaker"].as_object().unwrap().len(), 3);
    let float = e["accuracy"].as_f64().unwrap();
    let int8 = qe["accuracy"].as_f64().unwrap();
    assert!(
        (float - int8).abs() <= 2.0 / 24.0,
        "float {float}, int8 {int8}"
    );
    let qp = json(&tinyml(&["kws", "predict", "--model", qs, w, "--json"]));
    assert_eq!(qp["probabilities"].as_array().unwrap().len(), 4);

    let o = tinyml(&[
        "kws",
        "train",
        "--data",
        d,
        "--keywords",
        "nope",
        "--out",
        m,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("'nope' is not in the data"));

    // Mel filters up to 8 kHz: in the float model, in the int8 model, in what eval computes.
    let wide = dir.join("kws-8k.tkf");
    let ws = wide.to_str().unwrap();
    let args = [
        "kws",
        "train",
        "--data",
        d,
        "--epochs",
        "2",
        "--augment",
        "0",
    ];
    let t = json(&tinyml(
        &[&args[..], &["--upper-hz", "8000", "--out", ws, "--json"]].concat(),
    ));
    assert_eq!(t["labels"].as_array().unwrap().len(), 4, "{t}");
    let wq = dir.join("kws-8k.tkm");
    let wqs = wq.to_str().unwrap();
    let j = json(&tinyml(&[
        "quantize",
        "--model",
        ws,
        "--calibration",
        d,
        "--out",
        wqs,
        "--json",
    ]));
    assert_eq!(j["front_end"]["features"]["fmax_hz"], 8000.0);
    assert_eq!(j["fits"]["ok"], true);
    let qe = json(&tinyml(&[
        "kws", "eval", "--model", wqs, "--data", d, "--json",
    ]));
    assert_eq!(qe["n"], 24);
    // Past the recordings' 8 kHz, and with a few-shot head (the embedding's features): refused.
    let o = tinyml(&[&args[..], &["--upper-hz", "9000", "--out", ws]].concat());
    assert_fails_with(&o, &["fmax", "sample rate / 2"]);
    let o = tinyml(
        &[
            &args[..],
            &["--upper-hz", "8000", "--few-shot", "--out", ws],
        ]
        .concat(),
    );
    assert_eq!(o.status.code(), Some(2), "clap refuses the pair");
}

#[test]
fn the_voice_curve_trains_on_every_set_of_other_speakers() {
    let dir = scratch("voices");
    synthetic_dataset(&dir, &["aoo", "dooda"], &["ann", "ben", "cho"], 3);
    // "dooda" becomes "unknown", and 4 clips of generated silence join every training set.
    let data = KeywordData::load(&dir)
        .unwrap()
        .with_keywords(&["aoo"], 1)
        .unwrap()
        .with_silence(4, 1);
    let trainer = KwsTrainer::params()
        .architecture(KwsArchitecture::TinyConv)
        .epochs(2)
        .progress(false);
    let augmentation = Augmentation::new().copies(1);
    let curve = voice_curve(&data, &trainer, &augmentation, 3).unwrap();
    // Each of 3 speakers held out, trained on {one other} twice and {both others} once.
    assert_eq!(curve.runs.len(), 9);
    for run in &curve.runs {
        assert!(!run.train_speakers.contains(&run.test_speaker));
        assert_ne!(run.test_speaker, "(noise)");
        // 6 clips per voice (3 of each word), plus the silence; the test is one voice.
        assert_eq!(run.train_clips, 6 * run.train_speakers.len() + 4, "{run:?}");
        assert_eq!(run.test_clips, 6, "{run:?}");
        assert!((0.0..=1.0).contains(&run.accuracy));
    }
    // A run is the model trained on exactly its speakers, tested on exactly the held-out one.
    for run in [&curve.runs[0], &curve.runs[2]] {
        let train_on: Vec<&str> = run.train_speakers.iter().map(String::as_str).collect();
        let others: Vec<&str> = ["ann", "ben", "cho"]
            .into_iter()
            .filter(|s| !train_on.contains(s))
            .collect();
        let (train, _) = data.split_by_speaker(&others).unwrap();
        let (_, test) = data.split_by_speaker(&[&run.test_speaker]).unwrap();
        let model = trainer
            .fit(&train.augmented(&augmentation, 3).unwrap(), None)
            .unwrap();
        assert_eq!(model.evaluate(&test).unwrap().accuracy(), run.accuracy);
    }
    let points = curve.points();
    assert_eq!(points.len(), 2);
    assert_eq!((points[0].voices, points[0].models), (1, 6));
    assert_eq!((points[1].voices, points[1].models), (2, 3));
    let twos: Vec<f64> = curve
        .runs
        .iter()
        .filter(|r| r.train_speakers.len() == 2)
        .map(|r| r.accuracy)
        .collect();
    assert!((points[1].mean - twos.iter().sum::<f64>() / 3.0).abs() < 1e-12);
    assert!(points[1].min <= points[1].mean && points[1].mean <= points[1].max);
    assert_eq!(curve.json()["points"][1]["models"], 3);
    assert_eq!(curve.table().rows.len(), 2);
    assert_eq!(curve.figure().series().len(), 2);

    // One speaker is no curve.
    let (_, ann) = data.split_by_speaker(&["ann"]).unwrap();
    let e = voice_curve(&ann, &trainer, &augmentation, 3).unwrap_err();
    assert!(e.to_string().contains("at least two speakers"), "{e}");
    // A voice with one word cannot train alone; refused before the first model.
    let one_word = dir.join("one_word");
    synthetic_dataset(&one_word, &["aoo"], &["ann", "ben"], 2);
    synthetic_dataset(&one_word, &["dooda"], &["ann"], 2);
    let one_word = KeywordData::load(&one_word).unwrap();
    let e = voice_curve(&one_word, &trainer, &augmentation, 3).unwrap_err();
    assert!(e.to_string().contains("training on ben alone"), "{e}");
    // Bad augmentation settings are refused before any training too.
    let e = voice_curve(&data, &trainer, &Augmentation::new().copies(50), 3).unwrap_err();
    assert!(e.to_string().contains("copies"), "{e}");
}
