//! The browser recorder in a real browser: Debian's Chromium, headless, driven through WebDriver
//! (chromedriver), with a WAV file as its microphone. A student's clicks record takes of a
//! generated voice saying a word; the takes land in the dataset folder at 16 kHz and sound like
//! the word played; a silent microphone is refused with the page's message and writes nothing.
//!
//! Needs `chromium` and `chromedriver` (tools/setup installs them): skipped without them, a
//! failure under `CI`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{espeak, scratch, tool};
use serde_json::{json, Value};
use tinyml_kit::prelude::*;

/// chromedriver on a free port of 127.0.0.1, stopped when dropped.
struct Driver {
    child: Child,
    base: String,
}

impl Driver {
    fn start(chromedriver: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Ok(r) = ureq::get(&format!("{}/status", driver.base)).call() {
                let v: Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
                if v["value"]["ready"] == true {
                    return driver;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("chromedriver did not start");
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let request = ureq::request(method, &url).timeout(Duration::from_secs(60));
        let result = match body {
            Some(b) => request
                .set("Content-Type", "application/json")
                .send_string(&b.to_string()),
            None => request.call(),
        };
        let text = match result {
            Ok(r) => r.into_string().unwrap(),
            Err(ureq::Error::Status(code, r)) => {
                panic!(
                    "{method} {path}: {code} {}",
                    r.into_string().unwrap_or_default()
                )
            }
            Err(e) => panic!("{method} {path}: {e}"),
        };
        serde_json::from_str::<Value>(&text).unwrap()["value"].clone()
    }

    /// A headless Chromium whose microphone plays `wav` in a loop.
    fn browser(&self, wav: &Path, profile: &Path) -> Browser<'_> {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("chromium");
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--use-fake-ui-for-media-stream".into(),
            "--use-fake-device-for-media-stream".into(),
            format!("--use-file-for-fake-audio-capture={}", wav.display()),
            format!("--user-data-dir={}", profile.display()),
        ];
        let session = self.call(
            "POST",
            "/session",
            Some(json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": args},
            }}})),
        );
        Browser {
            driver: self,
            id: session["sessionId"].as_str().unwrap().to_string(),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Browser<'a> {
    driver: &'a Driver,
    id: String,
}

impl Browser<'_> {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.driver
            .call(method, &format!("/session/{}{path}", self.id), body)
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// A real click (a user gesture, as the microphone and audio need).
    fn click(&self, css: &str) {
        let element = self.call(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        let id = element
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string();
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    fn state(&self) -> String {
        self.script("return document.getElementById('status').dataset.state")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn status_text(&self) -> String {
        self.script("return document.getElementById('status').textContent")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until the page's state is one of `states`, and returns it.
    fn wait_for(&self, states: &[&str]) -> String {
        let until = Instant::now() + Duration::from_secs(45);
        loop {
            let state = self.state();
            if states.contains(&state.as_str()) {
                return state;
            }
            assert!(
                Instant::now() < until,
                "the page stayed '{state}' ({}), waiting for {states:?}",
                self.status_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Records one take and keeps it: the page's state after the server answered.
    fn record_and_keep(&self) -> String {
        self.wait_for(&["ready", "saved", "refused"]);
        self.click("#record");
        self.wait_for(&["review", "error"]);
        self.click("#keep");
        self.wait_for(&["saved", "done", "refused", "error"])
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.driver.base, self.id)).call();
    }
}

/// The best correlation of the loudest half second of `take` with any stretch of `word` played
/// in a loop (the fake microphone repeats its file).
fn best_match(take: &[f32], word: &[f32]) -> f64 {
    let n = 8_000.min(take.len());
    let energy = |a: usize| take[a..a + n].iter().map(|x| x * x).sum::<f32>();
    let start = (0..=take.len() - n)
        .step_by(160)
        .max_by(|&a, &b| energy(a).total_cmp(&energy(b)))
        .unwrap();
    let piece = &take[start..start + n];
    let looped: Vec<f32> = word.iter().chain(word).chain(word).copied().collect();
    let norm = |x: &[f32]| x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    let piece_norm = norm(piece);
    (0..word.len())
        .map(|o| {
            let other = &looped[o..o + n];
            let dot: f64 = piece
                .iter()
                .zip(other)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            dot / (piece_norm * norm(other)).max(1e-12)
        })
        .fold(f64::MIN, f64::max)
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn a_student_records_words_in_chromium_and_a_silent_microphone_is_refused() {
    let (Some(chromedriver), Some(_)) = (tool("chromedriver"), tool("chromium")) else {
        return;
    };
    let dir = scratch("browser-recorder");
    // The word the microphone hears: a generated voice saying the real spelling (espeak-ng
    // when it is there, else the kit tests' generated tone-word), with quiet around it.
    let spoken = dir.join("spoken.wav");
    match tool("espeak-ng") {
        Some(e) => espeak(&e, &spoken, "en+f3", 60, 140, "Yá'át'ééh"),
        None => {
            let rate = 16_000;
            let samples: Vec<f32> = (0..rate)
                .map(|t| {
                    let x = t as f32 / rate as f32;
                    let envelope = if (0.3..0.7).contains(&x) {
                        (std::f32::consts::PI * (x - 0.3) / 0.4).sin()
                    } else {
                        0.0
                    };
                    0.5 * envelope
                        * (2.0 * std::f32::consts::PI * (300.0 + 400.0 * x) * t as f32
                            / rate as f32)
                            .sin()
                })
                .collect();
            Audio::new(samples, rate).unwrap().save(&spoken).unwrap();
        }
    }
    // Padded to a second or more of quiet around the word, as a microphone would hear it.
    let word = Audio::load(&spoken).unwrap().resample(16_000).unwrap();
    let mut padded = vec![0.0f32; 4_000];
    padded.extend_from_slice(word.samples());
    padded.extend(vec![0.0f32; 4_000]);
    let microphone = dir.join("microphone.wav");
    Audio::new(padded.clone(), 16_000)
        .unwrap()
        .save(&microphone)
        .unwrap();
    let silent = dir.join("silent.wav");
    Audio::new(vec![0.0; 16_000], 16_000)
        .unwrap()
        .save(&silent)
        .unwrap();

    let out = dir.join("my_words");
    let recorder = Recorder::start_with(&out, &["Yá'át'ééh", "aoo'"], "shandiin", 2, 0).unwrap();
    let driver = Driver::start(&chromedriver);
    {
        let browser = driver.browser(&microphone, &dir.join("profile-1"));
        browser.open(&recorder.local_url());
        browser.wait_for(&["ready"]);
        let shown = browser.script("return document.getElementById('word').textContent");
        assert_eq!(shown.as_str().unwrap().trim(), "Yá'át'ééh");
        assert_eq!(
            browser.record_and_keep(),
            "saved",
            "{}",
            browser.status_text()
        );
        assert_eq!(
            browser.record_and_keep(),
            "saved",
            "{}",
            browser.status_text()
        );
        // Two takes: the page moves on to the next word.
        let next = browser.script("return document.getElementById('word').dataset.id");
        assert_eq!(next, "aoo");
    }
    let takes = files_in(&out.join("yaateeh"));
    assert_eq!(
        takes,
        vec![
            out.join("yaateeh/shandiin_nohash_0.wav"),
            out.join("yaateeh/shandiin_nohash_1.wav")
        ]
    );
    for take in &takes {
        let spec = hound::WavReader::open(take).unwrap().spec();
        assert_eq!(
            (spec.sample_rate, spec.bits_per_sample, spec.channels),
            (16_000, 16, 1)
        );
        let audio = Audio::load(take).unwrap();
        assert!(
            (audio.duration_s() - 1.5).abs() < 0.01,
            "{} s",
            audio.duration_s()
        );
        let r = best_match(audio.samples(), &padded);
        eprintln!(
            "{}: correlation {r:.3} with the word played",
            take.display()
        );
        assert!(
            r > 0.8,
            "{}: correlation {r:.3} with the word played",
            take.display()
        );
    }
    // A silent microphone: the take is refused on the page, with what to do, and not written.
    {
        let browser = driver.browser(&silent, &dir.join("profile-2"));
        browser.open(&recorder.local_url());
        browser.wait_for(&["ready"]);
        assert_eq!(browser.record_and_keep(), "refused");
        let text = browser.status_text();
        assert!(
            text.contains("silent") && text.contains("microphone"),
            "{text}"
        );
        // The page without its token shows nothing of the session.
        let no_token = recorder.local_url().split('?').next().unwrap().to_string();
        browser.open(&no_token);
        let body = browser.script("return document.body.textContent");
        assert!(body.as_str().unwrap().contains("token"), "{body}");
    }
    assert!(files_in(&out.join("aoo")).is_empty());
    assert_eq!(files_in(&out.join("yaateeh")).len(), 2);
}
