//! Few-shot keywords from the command line: the keyword bank (espeak-ng and Festival) is the same
//! for the same seed and never mixes with another folder; a few-shot model trains on an embedding, quantizes
//! and evaluates like any keyword model; embeddings that are not one are clear errors.

mod common;

use std::path::Path;
use std::process::Command;

use common::{assert_fails_with, json, scratch, tinyml, tool};
use tinyml_kit::fewshot::{KwsEmbedding, BANK_FESTIVAL_VOICES, REAL_WORDS};
use tinyml_kit::kws::{KeywordData, KwsArchitecture, KwsTrainer};

/// Every file under `dir` (relative path, bytes), sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_bank_is_the_same_for_the_same_seed_and_keeps_to_its_folder() {
    let (Some(_), Some(_)) = (tool("espeak-ng"), tool("festival")) else {
        return;
    };
    let dir = scratch("fewshot_bank");
    let (a, b) = (dir.join("a"), dir.join("b"));
    // The small bank's command; `make` runs it as it is, `bare_bank` (below) with an empty PATH.
    let bank = |out: &Path, seed: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tinyml"));
        command
            .args(["kws", "bank", "--out", out.to_str().unwrap()])
            .args(["--words", "3", "--takes", "2", "--festival-takes", "1"])
            .args(["--seed", seed, "--json"]);
        command
    };
    let make = |out: &Path, seed: &str| bank(out, seed).output().unwrap();
    let first = json(&make(&a, "9"));
    assert_eq!(first["written"], 6);
    assert!(first["espeak_ng"].as_str().unwrap().contains("eSpeak NG"));
    assert!(first["festival"]
        .as_str()
        .unwrap()
        .starts_with("Festival Speech Synthesis System"));
    json(&make(&b, "9"));
    let (fa, fb) = (files(&a), files(&b));
    assert_eq!(fa.len(), 7, "bank.json and six takes");
    assert!(fa == fb, "the same seed made other files");
    // The takes are keyword clips: 16 kHz, one second, someone speaking; a take of each word by
    // Festival, one by espeak-ng.
    let data = KeywordData::load(&a).unwrap();
    assert_eq!(data.len(), 6);
    let festival = data
        .speakers()
        .iter()
        .filter(|s| {
            BANK_FESTIVAL_VOICES
                .iter()
                .any(|v| s.starts_with(&v.0.replace('_', "-")))
        })
        .count();
    assert_eq!(festival, 3);
    for clip in data.clips() {
        assert_eq!(clip.samples().len(), 16_000);
        assert!(clip.samples().iter().any(|s| s.abs() > 0.5));
    }
    // Again: nothing to do. Another seed, or a folder with other files: refused, nothing written.
    let again = json(&make(&a, "9"));
    assert_eq!(
        (again["written"].clone(), again["kept"].clone()),
        (0.into(), 6.into())
    );
    // A finished bank needs neither program (a copy, here with neither on PATH); a missing
    // take needs its program, and nothing is written before it is found.
    let bare = dir.join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    let bare_bank = |out: &Path| bank(out, "9").env("PATH", &bare).output().unwrap();
    let copied = dir.join("copied");
    for (name, bytes) in &fa {
        std::fs::create_dir_all(copied.join(name).parent().unwrap()).unwrap();
        std::fs::write(copied.join(name), bytes).unwrap();
    }
    let kept = json(&bare_bank(&copied));
    assert_eq!(
        (kept["written"].clone(), kept["kept"].clone()),
        (0.into(), 6.into())
    );
    assert!(kept["espeak_ng"].is_null() && kept["festival"].is_null());
    // An espeak-ng take (Festival's are named after its voices).
    let take = &fa
        .iter()
        .find(|(name, _)| {
            name.ends_with(".wav")
                && !BANK_FESTIVAL_VOICES
                    .iter()
                    .any(|v| name.contains(&format!("/{}-", v.0.replace('_', "-"))))
        })
        .unwrap()
        .0;
    std::fs::remove_file(copied.join(take)).unwrap();
    let before = files(&copied);
    assert_fails_with(
        &bare_bank(&copied),
        &["espeak-ng is not installed", "apt-get install espeak-ng"],
    );
    assert!(files(&copied) == before);
    let fresh = dir.join("fresh");
    assert_fails_with(&bare_bank(&fresh), &["is not installed"]);
    assert!(!fresh.exists());
    assert_fails_with(&bare_bank(&copied.join("bank.json")), &["is a file"]);
    assert_fails_with(&make(&a, "10"), &["holds a bank of other words or voices"]);
    assert!(files(&a) == fa);
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    assert_fails_with(&make(&other, "9"), &["is not empty and holds no bank"]);
    assert_eq!(files(&other).len(), 1);
}

#[test]
fn tools_setup_installs_every_festival_voice_of_the_bank() {
    let setup =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/setup"))
            .unwrap();
    // Its list: one loop over `<language>/<voice folder>:<Debian package>` pairs.
    let start = setup
        .find("for pair in english/")
        .expect("the voices' loop")
        + 12;
    let end = start + setup[start..].find("; do").unwrap();
    let mut listed: Vec<(&str, &str)> = setup[start..end]
        .split_whitespace()
        .filter(|w| *w != "\\")
        .map(|pair| {
            let (folder, package) = pair.split_once(':').unwrap();
            (folder.rsplit('/').next().unwrap(), package)
        })
        .collect();
    let mut ours = BANK_FESTIVAL_VOICES.to_vec();
    listed.sort();
    ours.sort();
    assert_eq!(
        listed, ours,
        "tools/setup installs other voices than the bank's"
    );
}

#[test]
fn a_few_shot_model_trains_quantizes_and_evaluates_like_any_keyword_model() {
    let dir = scratch("fewshot_cli");
    // A small embedding: one epoch on "0" to "4".
    let digits = KeywordData::course_default().unwrap();
    let (some, _) = digits.split_clips(0.8, 1).unwrap();
    let model = KwsTrainer::params()
        .architecture(KwsArchitecture::Embedding)
        .epochs(1)
        .progress(false)
        .fit(&some.only_words(&REAL_WORDS).unwrap(), None)
        .unwrap();
    let embedding = dir.join("embedding.tkf");
    KwsEmbedding::from_model(model, "test")
        .unwrap()
        .save(&embedding)
        .unwrap();
    let (e, m, q) = (
        embedding.to_str().unwrap(),
        dir.join("few.tkf"),
        dir.join("few.tkm"),
    );
    let (m, q) = (m.to_str().unwrap(), q.to_str().unwrap());
    let out = json(&tinyml(&[
        "kws",
        "train",
        "--few-shot",
        "--embedding",
        e,
        "--keywords",
        "5,6,7",
        "--test-speakers",
        "george",
        "--augment",
        "0",
        "--epochs",
        "5",
        "--out",
        m,
        "--json",
    ]));
    assert_eq!(out["labels"], serde_json::json!(["5", "6", "7", "unknown"]));
    assert_eq!(out["history"]["epochs"].as_array().unwrap().len(), 5);
    let test = out["test"]["accuracy"].as_f64().unwrap();
    assert!(test > 0.25, "{test}");
    let quantized = json(&tinyml(&["quantize", "--model", m, "--out", q, "--json"]));
    assert_eq!(quantized["labels"], out["labels"]);
    let eval = json(&tinyml(&["kws", "eval", "--model", q, "--json"]));
    assert!(eval["accuracy"].as_f64().unwrap() > 0.25);
    // What is not an embedding of this kit is refused, saying so.
    assert_fails_with(
        &tinyml(&["kws", "train", "--few-shot", "--embedding", m, "--out", m]),
        &["not a keyword embedding of this kit's version"],
    );
    let missing = dir.join("missing.tkf");
    let missing = missing.to_str().unwrap();
    assert_fails_with(
        &tinyml(&[
            "kws",
            "train",
            "--few-shot",
            "--embedding",
            missing,
            "--out",
            m,
        ]),
        &["missing.tkf"],
    );
    let o = tinyml(&["kws", "train", "--embedding", e, "--out", m]);
    assert_eq!(o.status.code(), Some(2), "--embedding needs --few-shot");
}
