//! How well the board's keyword loop hears words in a stream, for several recognizer settings,
//! on voices the model never heard.
//!
//! `cargo bench -p tinyml-kit --bench recognizer` trains a keyword model (keywords "1", "2",
//! "3", other digits as "unknown", the default CNN, 6 epochs, seed 7) once per held-out speaker
//! (george, then lucas) on the other speakers, and quantizes it, with two recipes: the clips as
//! they are, and with 3 augmented copies of each (shifted up to 100 ms, faster or slower, noise)
//! plus "silence" clips (an eighth as many). The held-out
//! speaker's clips become "sentences" of five words, each word followed by 0.6 s of a quiet room
//! (about −60 dB of noise), 16 kHz, 16-bit. The core's `Listener` (the board's code) runs over
//! each sentence: a window every 250 ms. Then the core's `Recognizer` turns the windows' outputs
//! into detections, for each setting in the table.
//!
//! A keyword counts as **heard** when the recognizer reports its label between the middle of the
//! word and 1.3 s later (the window must have moved past it); every other report is a **false
//! alarm** (a wrong word, a keyword reported twice, an "unknown" word taken for a keyword).
//! Nothing here is timed: the table counts.

use tinyml_core::listen::{probability, Listener, Recognizer, RecognizerConfig, MAX_CLASSES};
use tinyml_core::model::Model;
use tinyml_kit::kws::{Augmentation, KeywordData, KwsTrainer};

const KEYWORDS: [&str; 3] = ["1", "2", "3"];
const WORDS_PER_SENTENCE: usize = 5;
const PAUSE_SAMPLES: usize = 9_600;
const RATE: usize = 16_000;

/// One sentence: its windows (end time in ms, raw outputs) and its words (label, middle in ms).
struct Sentence {
    windows: Vec<(u32, Vec<i8>)>,
    words: Vec<(String, u32)>,
}

fn main() {
    let data = KeywordData::course_default()
        .expect("data/fsdd")
        .with_keywords(&KEYWORDS, 7)
        .expect("keywords");
    let settings: Vec<RecognizerConfig> = [1u8, 2, 3]
        .iter()
        .flat_map(|&average_windows| {
            [128u8, 153, 178, 204].map(|threshold| RecognizerConfig {
                average_windows,
                threshold,
                suppression_ms: 1_000,
            })
        })
        .collect();
    for (recipe, copies, silence) in [
        ("the clips as they are", 0, false),
        ("3 augmented copies of each clip, and silence", 3, true),
    ] {
        let mut sentences = Vec::new();
        let mut labels = Vec::new();
        let mut output = None;
        for speaker in ["george", "lucas"] {
            let (train, test) = data.split_by_speaker(&[speaker]).expect("split");
            let mut examples = train
                .augmented(&Augmentation::new().copies(copies), 7)
                .expect("augments");
            if silence {
                examples = examples.with_silence(train.len() / 8, 7);
            }
            let model = KwsTrainer::params()
                .epochs(6)
                .seed(7)
                .progress(false)
                .fit(&examples, None)
                .expect("trains");
            let int8 = model
                .quantize(&examples.sample(500, 1).expect("sample"))
                .expect("quantizes");
            labels = int8.labels();
            let m = int8.model();
            output = Some(m.output());
            sentences.extend(listen(&m, &test));
        }
        println!("\nTrained on {recipe}:");
        report(&sentences, &labels, &settings, &output.expect("a model"));
    }
}

/// The held-out clips in sentences, through the board's keyword loop.
fn listen(m: &Model, test: &KeywordData) -> Vec<Sentence> {
    let mut sentences = Vec::new();
    let mut arena =
        vec![0i8; tinyml_core::listen::keyword_arena_bytes(m).expect("a keyword model")];
    let mut listener = Box::new(Listener::new());
    let mut noise = 0x2545_f491u32;
    for group in (0..test.len())
        .collect::<Vec<_>>()
        .chunks(WORDS_PER_SENTENCE)
    {
        let mut pcm = Vec::new();
        let mut words = Vec::new();
        for &i in group {
            let clip = test.clips()[i].resample(RATE as u32).expect("resamples");
            let samples = clip.to_pcm16();
            let middle = (pcm.len() + samples.len() / 2) * 1000 / RATE;
            words.push((test.labels()[i].clone(), middle as u32));
            pcm.extend(samples);
            pcm.extend((0..PAUSE_SAMPLES).map(|_| {
                noise ^= noise << 13;
                noise ^= noise >> 17;
                noise ^= noise << 5;
                (noise % 61) as i16 - 30
            }));
        }
        listener
            .start(m, RecognizerConfig::KEYWORDS)
            .expect("a keyword model");
        let mut windows = Vec::new();
        let mut rest = &pcm[..];
        while listener.feed(&mut rest, &mut arena) {
            let time_ms = ((pcm.len() - rest.len()) * 1000 / RATE) as u32;
            let mut scores = [0i8; MAX_CLASSES];
            let w = listener
                .infer(m, &mut arena, time_ms, &mut scores)
                .expect("runs");
            windows.push((time_ms, scores[..w.outputs].to_vec()));
        }
        sentences.push(Sentence { windows, words });
    }
    sentences
}

fn report(
    sentences: &[Sentence],
    labels: &[String],
    settings: &[RecognizerConfig],
    output: &tinyml_core::model::Tensor,
) {
    let background = labels
        .iter()
        .enumerate()
        .filter(|(_, l)| !KEYWORDS.contains(&l.as_str()))
        // unknown and silence
        .fold(0u32, |m, (c, _)| m | 1 << c);
    let keywords: usize = sentences
        .iter()
        .map(|s| {
            s.words
                .iter()
                .filter(|(l, _)| KEYWORDS.contains(&l.as_str()))
                .count()
        })
        .sum();
    let seconds: f64 = sentences
        .iter()
        .map(|s| s.windows.last().map_or(0.0, |w| w.0 as f64 / 1000.0))
        .sum();
    println!(
        "{} sentences of held-out voices (george, lucas), {:.0} s of audio, {keywords} keywords, {} other words",
        sentences.len(),
        seconds,
        sentences.iter().map(|s| s.words.len()).sum::<usize>() - keywords
    );
    println!("| windows averaged | threshold | heard | missed | false alarms | false alarms per minute |");
    println!("|---|---|---|---|---|---|");
    for config in settings {
        let (mut heard, mut alarms) = (0usize, 0usize);
        for s in sentences {
            let mut r = Recognizer::new(*config, labels.len(), background);
            let detections: Vec<(usize, u32)> = s
                .windows
                .iter()
                .filter_map(|(t, out)| {
                    let p: Vec<u8> = out.iter().map(|&q| probability(output, q)).collect();
                    r.push(*t, &p).map(|h| (h.class as usize, *t))
                })
                .collect();
            let mut used = vec![false; detections.len()];
            for (label, middle) in &s.words {
                if !KEYWORDS.contains(&label.as_str()) {
                    continue;
                }
                let found = detections.iter().enumerate().position(|(i, &(c, t))| {
                    !used[i] && labels[c] == *label && (*middle..=middle + 1_300).contains(&t)
                });
                if let Some(i) = found {
                    used[i] = true;
                    heard += 1;
                }
            }
            alarms += used.iter().filter(|u| !**u).count();
        }
        println!(
            "| {} | {:.2} | {heard} of {keywords} ({:.0}%) | {} | {alarms} | {:.1} |",
            config.average_windows,
            config.threshold as f64 / 255.0,
            100.0 * heard as f64 / keywords as f64,
            keywords - heard,
            alarms as f64 * 60.0 / seconds
        );
    }
}
