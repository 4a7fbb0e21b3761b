//! The class's own words: audio formats people have, spellings, pooling, auditing and forgetting
//! a class's folders, "unknown" and "silence" added to own words, and the browser recorder's
//! server (every request as a browser would send it, and those it must refuse). All audio is
//! generated here.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use common::{assert_fails_with, json, scratch, stdout, tinyml, tool};
use tinyml_kit::prelude::*;
use tinyml_kit::recorder::{MAX_TAKE_BYTES, TAKE_RATE_HZ};
use tinyml_kit::words::{self, Spellings, WORDS_FILE};

/// A generated "word": a tone of `hz` with a rise and fall, inside `seconds` of quiet.
fn word(hz: f64, rate: u32, seconds: f64, gain: f32) -> Vec<f32> {
    let n = (seconds * rate as f64) as usize;
    (0..n)
        .map(|t| {
            let x = t as f64 / n as f64;
            let envelope = if (0.3..0.7).contains(&x) {
                (std::f64::consts::PI * (x - 0.3) / 0.4).sin()
            } else {
                0.0
            };
            let s = (2.0 * std::f64::consts::PI * hz * t as f64 / rate as f64).sin();
            gain * (envelope * s + 0.0005 * s) as f32
        })
        .collect()
}

fn write_wav(path: &Path, samples: &[f32], rate: u32) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    Audio::new(samples.to_vec(), rate)
        .unwrap()
        .save(path)
        .unwrap();
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64) * (*y as f64))
        .sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-12)
}

#[test]
fn phone_and_app_formats_load_like_the_wav_they_came_from() {
    let Some(ffmpeg) = tool("ffmpeg") else { return };
    let dir = scratch("words-formats");
    let wav = dir.join("take.wav");
    let original = word(440.0, 44_100, 1.2, 0.5);
    write_wav(&wav, &original, 44_100);
    let reference = Audio::load(&wav).unwrap();
    for (ext, codec) in [
        ("m4a", "aac"),
        ("mp3", "libmp3lame"),
        ("ogg", "libvorbis"),
        ("flac", "flac"),
    ] {
        let path = dir.join(format!("take.{ext}"));
        let out = Command::new(&ffmpeg)
            .args(["-loglevel", "error", "-y", "-i"])
            .arg(&wav)
            .args(["-c:a", codec])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ffmpeg {ext}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let audio = Audio::load(&path).unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert_eq!(audio.sample_rate_hz(), 44_100, "{ext}");
        // Encoders add a little silence (priming) at the start: compare at the best lag.
        let a = audio.samples();
        let best = (0..3_000)
            .map(|lag| correlation(&a[lag.min(a.len())..], reference.samples()))
            .fold(f64::MIN, f64::max);
        let floor = if ext == "flac" { 0.9999 } else { 0.98 };
        assert!(best > floor, "{ext}: correlation {best}");
        assert!(
            (audio.duration_s() - 1.2).abs() < 0.1,
            "{ext}: {} s",
            audio.duration_s()
        );
    }
    // Opus has no Rust decoder: said plainly, with what to do.
    let opus = dir.join("take.opus");
    let out = Command::new(&ffmpeg)
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(&wav)
        .args(["-c:a", "libopus"])
        .arg(&opus)
        .output()
        .unwrap();
    if out.status.success() {
        let e = Audio::load(&opus).unwrap_err().to_string();
        assert!(e.contains("Opus") && e.contains("WAV"), "{e}");
    }
}

#[test]
fn files_that_are_not_what_their_name_says_are_clear_errors() {
    let dir = scratch("words-bad-files");
    let fake_wav = dir.join("notes.wav");
    std::fs::write(&fake_wav, "these are my notes, not a recording").unwrap();
    let e = Audio::load(&fake_wav).unwrap_err().to_string();
    assert!(e.contains("not a WAV file"), "{e}");
    let fake_mp3 = dir.join("song.mp3");
    std::fs::write(&fake_mp3, vec![7u8; 5000]).unwrap();
    let e = Audio::load(&fake_mp3).unwrap_err().to_string();
    assert!(
        e.contains("not an audio file the kit can read") || e.contains("no sound"),
        "{e}"
    );
    let empty = dir.join("empty.m4a");
    std::fs::write(&empty, b"").unwrap();
    assert!(Audio::load(&empty).is_err());
}

/// Four words by `speakers`, `takes` each: word k a tone at 300 + 220 k Hz, each speaker a
/// little higher, spelled with accents and apostrophes in `words.txt`.
fn class_folder(dir: &Path, speakers: &[&str], takes: usize) {
    let spellings = ["Yá'át'ééh", "aoo'", "dooda", "hágoónee'"];
    let mut file = Spellings::default();
    for (k, spelling) in spellings.iter().enumerate() {
        let id = words::word_id(spelling).unwrap();
        file.insert(&id, spelling);
        for (s, speaker) in speakers.iter().enumerate() {
            for take in 0..takes {
                let hz = 300.0 + 220.0 * k as f64 + 15.0 * s as f64 + 4.0 * take as f64;
                let path = dir.join(&id).join(format!("{speaker}_nohash_{take}.wav"));
                write_wav(&path, &word(hz, 16_000, 1.2, 0.5), 16_000);
            }
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    file.save(dir).unwrap();
}

#[test]
fn spellings_come_from_words_txt_or_the_folder_name_in_nfc() {
    let dir = scratch("words-spellings");
    class_folder(&dir, &["ann", "ben", "cho"], 3);
    // A folder named on macOS: accents as separate marks (NFD), and no words.txt line.
    let nfd = "tse\u{301}'e\u{301}";
    for (s, speaker) in ["ann", "ben", "cho"].iter().enumerate() {
        for take in 0..3 {
            let path = dir.join(nfd).join(format!("{speaker}_{take}.wav"));
            write_wav(
                &path,
                &word(1500.0 + 10.0 * s as f64, 16_000, 1.0, 0.5),
                16_000,
            );
        }
    }
    // Things a folder collects that are not recordings.
    std::fs::write(dir.join("dooda/.DS_Store"), b"x").unwrap();
    std::fs::write(dir.join("dooda/notes.txt"), b"x").unwrap();
    std::fs::write(dir.join("aoo/ann_nohash_9.wav"), b"RIFF but broken").unwrap();
    std::fs::write(dir.join("readme.md"), b"x").unwrap();
    let data = KeywordData::load(&dir).unwrap();
    assert_eq!(
        data.label_names(),
        vec!["Yá'át'ééh", "aoo'", "dooda", "hágoónee'", "tsé'é"]
    );
    assert_eq!(data.len(), 4 * 9 + 9);
    let skipped: Vec<(&str, &str)> = data
        .skipped()
        .iter()
        .map(|s| (s.file.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    for (file, reason) in &skipped {
        assert!(!reason.is_empty(), "{file} has no reason");
    }
    assert!(skipped
        .iter()
        .any(|(f, r)| f.ends_with("ann_nohash_9.wav") && r.contains("WAV")));
    // The spelling is what the model learns and what its file carries, float and int8.
    let model = KwsTrainer::params()
        .epochs(1)
        .progress(false)
        .unknown(false)
        .silence(false)
        .fit(&data, None)
        .unwrap();
    let path = dir.join("m.tkf");
    model.save(&path).unwrap();
    assert_eq!(KwsModel::load(&path).unwrap().labels, data.label_names());
    let int8 = model.quantize(&data).unwrap();
    assert_eq!(int8.labels(), data.label_names());
}

#[test]
fn own_words_get_unknown_and_silence_unless_told_not_to() {
    let dir = scratch("words-others");
    class_folder(&dir, &["ann", "ben", "cho"], 4);
    let data = KeywordData::load(&dir).unwrap();
    let spotting = data.with_others(true, true, 7).unwrap();
    let labels = spotting.label_names();
    assert_eq!(labels[4..], ["unknown", "silence"], "{labels:?}");
    let count = |l: &str| spotting.labels().iter().filter(|x| *x == l).count();
    assert_eq!(count("unknown"), 12, "as many as the average word");
    assert_eq!(count("silence"), 12);
    // Not a voice of the class: held-out folds and voice lists leave them out.
    assert_eq!(spotting.voice_names(), vec!["ann", "ben", "cho"]);
    assert_eq!(
        spotting.notes.len(),
        data.notes.len() + 2,
        "{:?}",
        spotting.notes
    );
    assert!(spotting.notes.iter().any(|n| n.contains("12 \"unknown\"")));
    let only_silence = data.with_others(false, true, 7).unwrap();
    assert!(!only_silence.label_names().contains(&"unknown".to_string()));
    // The trainer does it by default, and can be told not to.
    let fit = |t: KwsTrainer| t.epochs(1).progress(false).fit(&data, None).unwrap().labels;
    assert_eq!(fit(KwsTrainer::params()).len(), 6);
    assert_eq!(
        fit(KwsTrainer::params().unknown(false).silence(false)).len(),
        4
    );
    // The stand-in digits stay ten digits.
    let digits = KeywordData::course_default()
        .unwrap()
        .sample(40, 1)
        .unwrap();
    assert_eq!(digits.with_others(true, true, 7).unwrap().len(), 40);
    // A word with too few takes is refused before training, by name.
    let few = scratch("words-few");
    class_folder(&few, &["ann"], 2);
    let e = KeywordData::load(&few)
        .unwrap()
        .check_takes()
        .unwrap_err()
        .to_string();
    assert!(e.contains("'Yá'át'ééh' has 2 take(s)"), "{e}");
}

#[test]
fn pooling_a_class_makes_names_unique_drops_duplicates_and_adds_only_what_is_new() {
    let root = scratch("words-pool");
    let (a, b, class) = (
        root.join("ann-laptop"),
        root.join("ben-laptop"),
        root.join("class"),
    );
    // Both students kept the default speaker name "me".
    class_folder(&a, &["me"], 3);
    class_folder(&b, &["me"], 3);
    // Ben's folder differs a little (else every file would be a duplicate of Ann's).
    for (k, id) in ["yaateeh", "aoo", "dooda", "hagoonee"].iter().enumerate() {
        for take in 0..3 {
            let path = b.join(id).join(format!("me_nohash_{take}.wav"));
            write_wav(
                &path,
                &word(900.0 + 50.0 * k as f64 + take as f64, 16_000, 1.1, 0.4),
                16_000,
            );
        }
    }
    // Ann copied one of her takes into Ben's folder too.
    std::fs::copy(
        a.join("dooda/me_nohash_0.wav"),
        b.join("dooda/me_nohash_7.wav"),
    )
    .unwrap();
    let report = words::pool(&class, &[a.clone(), b.clone()]).unwrap();
    assert_eq!(report.copied.len(), 24);
    assert_eq!(report.duplicates.len(), 1);
    assert_eq!(report.renamed.len(), 1);
    assert_eq!(report.renamed[0].1, "me");
    assert_eq!(report.renamed[0].2, "me-2");
    let data = KeywordData::load(&class).unwrap();
    assert_eq!(data.voice_names(), vec!["me", "me-2"]);
    assert_eq!(data.label_names()[0], "Yá'át'ééh");
    // Again, with one new take of Ben's: only that one is copied, under his pooled name.
    write_wav(
        &b.join("aoo/me_nohash_3.wav"),
        &word(777.0, 16_000, 1.0, 0.4),
        16_000,
    );
    let again = words::pool(&class, &[a.clone(), b.clone()]).unwrap();
    assert_eq!(again.copied.len(), 1, "{}", again.summary());
    assert!(
        again.copied[0].1.ends_with("aoo/me-2_nohash_3.wav"),
        "{:?}",
        again.copied
    );
    assert!(again.renamed.is_empty());
    // The students' folders are untouched, and the pool never holds its own input.
    assert_eq!(tree(&a).len(), 13);
    assert!(words::pool(&a.join("inside"), std::slice::from_ref(&a)).is_err());
    assert!(!a.join("inside").exists());
    // The command line does the same and says so.
    let out = tinyml(&[
        "words",
        "pool",
        "--out",
        root.join("class2").to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--json",
    ]);
    let j = json(&out);
    assert_eq!(j["copied"].as_array().unwrap().len(), 25);
}

#[test]
fn forgetting_a_voice_deletes_exactly_their_recordings() {
    let dir = scratch("words-forget");
    class_folder(&dir, &["ann", "ben", "cho"], 2);
    std::fs::write(dir.join("aoo/ben_nohash_5.m4a"), b"whatever").unwrap();
    let before = tree(&dir);
    let out = tinyml(&["words", "forget", "--speaker", "ben", dir.to_str().unwrap()]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert_eq!(text.matches("deleted ").count(), 9 + 1, "{text}");
    assert!(text.contains("9 recording(s) of ben"), "{text}");
    let after = tree(&dir);
    assert_eq!(before.len() - after.len(), 9);
    assert!(after.iter().all(|f| !f.contains("ben_")), "{after:?}");
    // Nobody by that name: nothing deleted, the speakers listed.
    let out = tinyml(&["words", "forget", "--speaker", "zed", dir.to_str().unwrap()]);
    assert_fails_with(&out, &["no recordings of 'zed'", "ann, cho"]);
    for bad in ["../ann", "a/b", "", &"x".repeat(300)] {
        let out = tinyml(&["words", "forget", "--speaker", bad, dir.to_str().unwrap()]);
        assert_fails_with(&out, &["invalid speaker"]);
    }
    assert_eq!(tree(&dir), after);
}

#[test]
fn the_audit_counts_takes_and_names_each_bad_one() {
    let dir = scratch("words-audit");
    class_folder(&dir, &["ann", "ben"], 3);
    write_wav(
        &dir.join("aoo/ann_nohash_7.wav"),
        &vec![0.0; 16_000],
        16_000,
    );
    write_wav(
        &dir.join("aoo/ben_nohash_7.wav"),
        &word(500.0, 16_000, 0.2, 0.5),
        16_000,
    );
    let loud: Vec<f32> = word(500.0, 16_000, 1.0, 3.0)
        .iter()
        .map(|x| x.clamp(-1.0, 1.0))
        .collect();
    write_wav(&dir.join("dooda/ann_nohash_7.wav"), &loud, 16_000);
    std::fs::copy(
        dir.join("dooda/ann_nohash_0.wav"),
        dir.join("dooda/ann_nohash_8.wav"),
    )
    .unwrap();
    std::fs::write(dir.join("dooda/ben_nohash_9.mp3"), b"not audio").unwrap();
    let audit = WordsAudit::of_dir(&dir).unwrap();
    // In folder order (aoo, dooda, hagoonee, yaateeh), spelled.
    assert_eq!(audit.words, vec!["aoo'", "dooda", "hágoónee'", "Yá'át'ééh"]);
    assert_eq!(audit.speakers, vec!["ann", "ben"]);
    // aoo': 3 + 3 good, plus a silent and a short take (counted: they are readable takes).
    assert_eq!(audit.takes[0], vec![4, 4]);
    // dooda: the duplicate and the unreadable file are not counted.
    assert_eq!(audit.takes[1], vec![4, 3]);
    let finding = |file: &str| -> Vec<String> {
        audit
            .findings
            .iter()
            .filter(|f| f.file.ends_with(file))
            .map(|f| f.finding.clone())
            .collect()
    };
    assert_eq!(finding("aoo/ann_nohash_7.wav"), vec!["silent"]);
    assert!(finding("aoo/ben_nohash_7.wav").contains(&"too short".to_string()));
    assert_eq!(finding("dooda/ann_nohash_7.wav"), vec!["clipped"]);
    assert_eq!(
        finding("dooda/ann_nohash_8.wav"),
        vec!["duplicate of dooda/ann_nohash_0.wav"]
    );
    assert!(finding("dooda/ben_nohash_9.mp3")[0].starts_with("unreadable"));
    assert!(audit
        .warnings
        .iter()
        .any(|w| w.contains("only 2 speaker(s)")));
    let out = tinyml(&[
        "words",
        "audit",
        dir.to_str().unwrap(),
        "--json",
        "--figures",
        dir.join("fig").to_str().unwrap(),
    ]);
    let j = json(&out);
    assert_eq!(j["takes"][1], serde_json::json!([4, 3]));
    assert!(dir.join("fig/words-audit.png").is_file());
}

/// A request to the recorder: `(status, body)`.
fn http(method: &str, url: &str, body: Option<&[u8]>) -> (u16, String) {
    let request = ureq::request(method, url);
    let result = match body {
        Some(b) => request.set("Content-Type", "audio/wav").send_bytes(b),
        None => request.call(),
    };
    match result {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

fn wav_bytes(samples: &[f32], rate: u32) -> Vec<u8> {
    Audio::new(samples.to_vec(), rate).unwrap().wav_bytes()
}

#[test]
fn the_recorder_keeps_good_takes_and_refuses_everything_else() {
    let dir = scratch("words-recorder").join("my_words");
    let recorder = Recorder::start_with(&dir, &["Yá'át'ééh", "aoo'"], "shandiin", 3, 0).unwrap();
    let base = format!("http://127.0.0.1:{}", recorder.port());
    let token = recorder
        .local_url()
        .split("?t=")
        .nth(1)
        .unwrap()
        .to_string();
    let with_token = |path: &str| {
        format!(
            "{base}{path}{}t={token}",
            if path.contains('?') { "&" } else { "?" }
        )
    };
    let good = wav_bytes(&word(600.0, 48_000, 1.5, 0.5), 48_000);

    // Without the token (or with a wrong one), nothing is served and nothing is written.
    for url in [
        format!("{base}/"),
        format!("{base}/session"),
        format!("{base}/?t=wrong"),
        format!("{base}/take?word=yaateeh"),
        format!("{base}/take?word=yaateeh&t={}", "0".repeat(32)),
    ] {
        let (status, _) = http("GET", &url, None);
        assert_eq!(status, 403, "{url}");
        let (status, _) = http("POST", &url, Some(&good));
        assert_eq!(status, 403, "{url}");
    }
    assert_eq!(tree(&dir), vec![WORDS_FILE]);

    let (status, page) = http("GET", &with_token("/"), None);
    assert_eq!(status, 200);
    assert!(
        page.contains("<html") || page.contains("<!doctype"),
        "not the page"
    );
    let (status, session) = http("GET", &with_token("/session"), None);
    assert_eq!(status, 200);
    let session: serde_json::Value = serde_json::from_str(&session).unwrap();
    assert_eq!(session["words"][0]["spelling"], "Yá'át'ééh");
    assert_eq!(session["words"][0]["id"], "yaateeh");
    assert_eq!(session["speaker"], "shandiin");

    // A good take at the browser's rate is written at 16 kHz, 16-bit, numbered on.
    let (status, body) = http("POST", &with_token("/take?word=yaateeh"), Some(&good));
    assert_eq!(status, 200, "{body}");
    let (status, _) = http("POST", &with_token("/take?word=yaateeh"), Some(&good));
    assert_eq!(status, 200);
    let first = dir.join("yaateeh/shandiin_nohash_0.wav");
    let spec = hound::WavReader::open(&first).unwrap().spec();
    assert_eq!(
        (spec.sample_rate, spec.bits_per_sample, spec.channels),
        (TAKE_RATE_HZ, 16, 1)
    );
    assert!(dir.join("yaateeh/shandiin_nohash_1.wav").is_file());

    // Refused takes: silent, clipped, too short, not WAV; unknown words; too big.
    let silent = wav_bytes(&vec![0.0; 72_000], 48_000);
    let (status, body) = http("POST", &with_token("/take?word=aoo"), Some(&silent));
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("silent") && body.contains("microphone"),
        "{body}"
    );
    let clipped: Vec<f32> = word(600.0, 48_000, 1.5, 5.0)
        .iter()
        .map(|x| x.clamp(-1.0, 1.0))
        .collect();
    let (status, body) = http(
        "POST",
        &with_token("/take?word=aoo"),
        Some(&wav_bytes(&clipped, 48_000)),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("too loud"), "{body}");
    let short = wav_bytes(&word(600.0, 48_000, 0.2, 0.5), 48_000);
    assert_eq!(
        http("POST", &with_token("/take?word=aoo"), Some(&short)).0,
        422
    );
    assert_eq!(
        http("POST", &with_token("/take?word=aoo"), Some(b"not a wav")).0,
        400
    );
    for word_param in ["..", "../../etc", "aoo%2F..", "%00", "dooda"] {
        let url = with_token(&format!("/take?word={word_param}"));
        assert_eq!(http("POST", &url, Some(&good)).0, 400, "{word_param}");
    }
    // Too big: refused on its Content-Length, before the body is read.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", recorder.port())).unwrap();
    write!(
        stream,
        "POST /take?word=aoo&t={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        MAX_TAKE_BYTES + 1
    )
    .unwrap();
    stream.write_all(&good).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut status_line = [0u8; 12];
    stream.read_exact(&mut status_line).unwrap();
    assert_eq!(&status_line, b"HTTP/1.1 413");
    drop(stream);
    assert!(!dir.join("aoo").exists(), "{:?}", tree(&dir));

    // A client that claims an absurd length, or sends half a body and stalls, troubles only
    // itself: the next requests are answered at once.
    let mut absurd = std::net::TcpStream::connect(("127.0.0.1", recorder.port())).unwrap();
    write!(
        absurd,
        "POST /take?word=aoo&t={token} HTTP/1.1\r\nContent-Length: 9000000000000000000\r\n\r\n"
    )
    .unwrap();
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", recorder.port())).unwrap();
    write!(
        stalled,
        "POST /take?word=aoo&t={token} HTTP/1.1\r\nContent-Length: 2000\r\n\r\nhalf"
    )
    .unwrap();
    absurd
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut status_line = [0u8; 12];
    absurd.read_exact(&mut status_line).unwrap();
    assert_eq!(&status_line, b"HTTP/1.1 413");
    assert_eq!(http("GET", &with_token("/session"), None).0, 200);
    drop(stalled);
    // A long take at a low rate (4 MB would be an hour at 1 kHz): refused before resampling.
    let long = wav_bytes(&word(100.0, 2_000, 20.0, 0.5), 2_000);
    assert_eq!(
        http("POST", &with_token("/take?word=aoo"), Some(&long)).0,
        400
    );
    assert!(!dir.join("aoo").exists(), "{:?}", tree(&dir));

    // Deleting: only this speaker's own takes, by their listed names.
    let other = dir.join("yaateeh/ben_nohash_0.wav");
    std::fs::copy(&first, &other).unwrap();
    for file in ["ben_nohash_0.wav", "../words.txt", "shandiin_nohash_9.wav"] {
        let url = with_token(&format!("/take?word=yaateeh&file={file}"));
        assert_eq!(http("DELETE", &url, None).0, 404, "{file}");
    }
    assert!(other.is_file() && dir.join(WORDS_FILE).is_file());
    let url = with_token("/take?word=yaateeh&file=shandiin_nohash_0.wav");
    let (status, body) = http("DELETE", &url, None);
    assert_eq!(status, 200, "{body}");
    assert!(!first.exists());
    // The next take takes the first free number again, never one in use.
    assert_eq!(
        http("POST", &with_token("/take?word=yaateeh"), Some(&good)).0,
        200
    );
    assert!(first.is_file());
    assert_eq!(
        recorder.kept(),
        vec![("Yá'át'ééh".to_string(), 2), ("aoo'".to_string(), 0)]
    );
    assert!(!recorder.is_done());
    assert_eq!(
        tree(&dir),
        vec![
            WORDS_FILE,
            "yaateeh/ben_nohash_0.wav",
            "yaateeh/shandiin_nohash_0.wav",
            "yaateeh/shandiin_nohash_1.wav"
        ]
    );
}

#[test]
fn a_words_last_take_deleted_leaves_no_folder_and_spellings_never_change_silently() {
    let dir = scratch("words-recorder-last");
    let recorder = Recorder::start_with(&dir, &["aoo'"], "ann", 3, 0).unwrap();
    let url = recorder.local_url().replace("/?t=", "/take?word=aoo&t=");
    let good = wav_bytes(&word(600.0, 48_000, 1.5, 0.5), 48_000);
    assert_eq!(http("POST", &url, Some(&good)).0, 200);
    let delete = format!("{url}&file=ann_nohash_0.wav");
    assert_eq!(http("DELETE", &delete, None).0, 200);
    assert!(!dir.join("aoo").exists());
    let e = KeywordData::load(&dir).unwrap_err().to_string();
    assert!(e.contains("no recordings"), "{e}");
    // "Aoo" would share the folder of "aoo'": refused, naming the spelling the class uses.
    let e = Recorder::start(&dir, &["Aoo"], "ben", 3)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("'aoo''"), "{e}");
    let take = Audio::new(word(600.0, 16_000, 1.5, 0.5), 16_000).unwrap();
    assert!(words::save_take(&dir, "Aoo", "ben", &take).is_err());
    assert!(words::save_take(&dir, "aoo'", "ben", &take).is_ok());
}

#[test]
fn the_recorder_refuses_names_that_leave_its_folder() {
    let dir = scratch("words-recorder-names");
    for speaker in ["..", "a/b", "a\\b", "a\0b", "ann_1", &"x".repeat(300)] {
        let e = Recorder::start(&dir, &["dooda"], speaker, 3)
            .err()
            .expect(speaker);
        assert!(e.to_string().contains("speaker"), "{e}");
    }
    for word in ["..", "a/b", "'''", &"y".repeat(300)] {
        assert!(Recorder::start(&dir, &[word], "ann", 3).is_err(), "{word}");
    }
    assert!(Recorder::start(&dir, &["dooda", "Dooda"], "ann", 3).is_err());
    assert!(Recorder::start(&dir, &["dooda"], "ann", 0).is_err());
    // A folder that cannot be made or written: an error before any page is served.
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let e = Recorder::start(file.join("words"), &["dooda"], "ann", 3)
        .err()
        .unwrap();
    assert!(e.to_string().contains("a-file"), "{e}");
    assert_eq!(tree(&dir), vec!["a-file"]);
}

#[test]
fn the_recorder_link_goes_through_the_hub_proxy_under_jupyterhub() {
    let dir = scratch("words-recorder-hub");
    let recorder = Recorder::start(&dir, &["dooda"], "ann", 3).unwrap();
    // Only this test sets the variable, and it reads it back at once.
    std::env::set_var("JUPYTERHUB_SERVICE_PREFIX", "/user/ann/");
    let url = recorder.url();
    std::env::remove_var("JUPYTERHUB_SERVICE_PREFIX");
    let port = recorder.port();
    assert!(
        url.starts_with(&format!("/user/ann/proxy/{port}/?t=")),
        "{url}"
    );
    assert!(recorder.local_url().starts_with("http://127.0.0.1:"));
}

#[test]
fn takes_saved_at_the_same_moment_never_write_over_each_other() {
    let dir = scratch("takes-at-once");
    // A take in another format holds its number.
    std::fs::write(dir.join("ann_nohash_0.m4a"), b"not wav").unwrap();
    let written: Vec<std::path::PathBuf> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let dir = &dir;
                s.spawn(move || words::write_new_take(dir, "ann", "wav", &[i; 16]).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected: Vec<String> = (1..=8).map(|n| format!("ann_nohash_{n}.wav")).collect();
    assert_eq!(names, expected);
    // Every thread's bytes are in its own file.
    let mut firsts: Vec<u8> = written
        .iter()
        .map(|p| std::fs::read(p).unwrap()[0])
        .collect();
    firsts.sort();
    assert_eq!(firsts, (0..8).collect::<Vec<u8>>());
    assert_eq!(
        std::fs::read(dir.join("ann_nohash_0.m4a")).unwrap(),
        b"not wav"
    );
}
