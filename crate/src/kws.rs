//! Keyword spotting (Day 2): datasets of spoken words, and small CNNs that recognise them from
//! MFCC "images".
//!
//! A dataset is a folder with one folder per word, the layout of Google's Speech Commands:
//!
//! ```text
//! my_words/
//!   aoo/            alice_1.wav  alice_2.wav  bob_1.wav …
//!   dooda/          alice_1.wav  …
//!   _background_noise_/   kitchen.wav  fan.wav   (optional: noise for augmentation and "silence")
//! ```
//!
//! The speaker is the part of the file name before the first `_` (`alice_1.wav` → `alice`;
//! Speech Commands names like `0a7c2a8d_nohash_0.wav` work the same way), so that splits can keep
//! every speaker on one side: a model is tested on voices it has never heard. A flat folder of
//! `{label}_{speaker}_{take}.wav` files (the original Free Spoken Digit Dataset) also loads.
//!
//! Every clip goes through [`Audio::keyword_clip`]: resampled to 16 kHz, the loudest second (or
//! the features' longer clip, up to 1.5 s), peak-normalised. Features are the board's MFCC
//! ([`FeatureConfig::KEYWORDS`], or the data's own configuration), standardised per
//! coefficient with the training set's mean and spread (stored in the model file).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tinyml_core::mfcc::{normalize_peak, FeatureConfig};

use crate::audio::{plan, Audio, AudioFeatures, NORMALIZED_PEAK};
use crate::audit::{DataAudit, GroupAccuracy};
use crate::error::{Error, Result};
use crate::fewshot::KwsEmbedding;
use crate::front_end::{InputKind, KeywordFrontEnd};
use crate::metrics::{percent, Evaluation};
use crate::nn::file::ModelHeader;
use crate::nn::{argmax, softmax, History, Layer, Network, Padding, Shape, TrainParams};
use crate::plot::{Figure, Table};
use crate::quantize::{
    quantize, Calibration, QuantizationReport, QuantizeOptions, QuantizedModel, Session,
    CALIBRATION_EXAMPLES,
};
use crate::rng::Rng;
pub use crate::words::speaker_of;
use crate::words::{list_words, sorted_entries, Skipped, MIN_TAKES};
use tinyml_core::model::Kernels;

/// The keywords that stand in for the class's own words before anyone has recorded.
pub const STAND_IN_KEYWORDS: [&str; 3] = ["1", "2", "3"];
/// The seed of the stand-in's choice of "unknown" and "silence" clips.
const STAND_IN_SEED: u64 = 7;

/// The class of words that are not keywords.
pub const UNKNOWN: &str = "unknown";
/// The class of no word at all (background noise).
pub const SILENCE: &str = "silence";
/// The folder of background noise recordings in a dataset.
pub const BACKGROUND_DIR: &str = "_background_noise_";
/// The speaker of generated [`SILENCE`] clips (not a voice: left out of speaker folds).
pub const NOISE_SPEAKER: &str = "(noise)";

/// Spoken clips with their labels and speakers, ready for features.
#[derive(Debug, Clone)]
pub struct KeywordData {
    clips: Vec<Audio>,
    labels: Vec<String>,
    speakers: Vec<String>,
    files: Vec<String>,
    background: Vec<Audio>,
    config: FeatureConfig,
    /// The kit's spoken digits (the stand-in): training adds no "unknown" or "silence" to them.
    stand_in: bool,
    skipped: Vec<Skipped>,
    /// Where the data came from.
    pub source: String,
    /// What is known about the recordings that the data cannot show (for the audit).
    pub notes: Vec<String>,
}

impl KeywordData {
    /// The kit's spoken digits: `data/fsdd` of the repository (or `$TINYML_DATA/fsdd`), 2,500
    /// clips of "zero" to "nine" by 5 speakers.
    pub fn course_default() -> Result<KeywordData> {
        KeywordData::course_default_with(FeatureConfig::KEYWORDS)
    }

    /// [`KeywordData::course_default`] for features of `config` (for example longer clips).
    pub fn course_default_with(config: FeatureConfig) -> Result<KeywordData> {
        let dir = default_dir();
        if !dir.is_dir() {
            return Err(Error::Audio {
                path: dir,
                message: "the spoken digits are not there: run the kit from a clone of \
                          tinyml-kit, or set TINYML_DATA to the folder that holds fsdd/"
                    .into(),
            });
        }
        let mut data = KeywordData::load_with(&dir, config)?;
        data.stand_in = true;
        data.source = "Free Spoken Digit Dataset (5 speakers)".into();
        data.notes.push(
            "every speaker of the default data is an adult man: accuracy on women's and \
             children's voices is unknown until you test on them (record your class!)"
                .into(),
        );
        Ok(data)
    }

    /// The Day 2 data: the class's own words in `dir` when it holds recordings (with "unknown"
    /// and "silence" added, [`KeywordData::with_others`]), or else the stand-in: the spoken
    /// digits "1", "2" and "3" as keywords, the other digits as "unknown", and "silence". Says
    /// which it is in [`KeywordData::notes`] and on the notebook's output.
    pub fn class_words(dir: impl AsRef<Path>) -> Result<KeywordData> {
        let dir = dir.as_ref();
        let recorded = dir.is_dir() && list_words(dir)?.words.iter().any(|w| !w.files.is_empty());
        let data = if recorded {
            let own = KeywordData::load(dir)?;
            for s in own.skipped() {
                println!("skipped {}: {}", s.file, s.reason);
            }
            own.check_takes()?;
            let mut data = own.with_others(true, true, STAND_IN_SEED)?;
            data.notes.insert(
                0,
                format!(
                    "your class's words from {} ({} speakers)",
                    dir.display(),
                    own.voice_names().len()
                ),
            );
            data
        } else {
            let digits = KeywordData::course_default()?;
            let words = digits.with_keywords(&STAND_IN_KEYWORDS, STAND_IN_SEED)?;
            let mut data =
                words.with_silence(words.len() / (STAND_IN_KEYWORDS.len() + 1), STAND_IN_SEED);
            data.notes.insert(
                0,
                format!(
                    "no recordings in {} yet: the spoken digits {} stand in for your words",
                    dir.display(),
                    STAND_IN_KEYWORDS.join(", ")
                ),
            );
            data
        };
        println!("{}", data.notes[0]);
        Ok(data)
    }

    /// Reads a dataset folder (see the module documentation) with the keyword features.
    pub fn load(dir: impl AsRef<Path>) -> Result<KeywordData> {
        KeywordData::load_with(dir, FeatureConfig::KEYWORDS)
    }

    /// Reads a dataset folder for features of `config` (clips are resampled to its rate). Files
    /// that are not recordings, or that cannot be decoded, are left out and listed in
    /// [`KeywordData::skipped`]; a word whose every file is left out is an error.
    pub fn load_with(dir: impl AsRef<Path>, config: FeatureConfig) -> Result<KeywordData> {
        let dir = dir.as_ref();
        check_clip_config(&config)?;
        let listing = list_words(dir)?;
        let mut skipped = listing.skipped.clone();
        // (file, label, speaker)
        let mut files: Vec<(PathBuf, String, String)> = Vec::new();
        for word in &listing.words {
            if word.files.is_empty() {
                return Err(Error::Audio {
                    path: dir.join(&word.id),
                    message: format!(
                        "the folder of '{}' has no recordings: record some (or remove the folder)",
                        word.spelling
                    ),
                });
            }
            for file in &word.files {
                files.push((file.clone(), word.spelling.clone(), speaker_of(file)));
            }
        }
        if listing.words.is_empty() {
            // A flat folder of {label}_{speaker}_{take}.wav (the original FSDD layout).
            skipped.clear();
            for wav in sorted_entries(dir)?.iter().filter(|p| is_wav(p)) {
                let stem = wav.file_stem().unwrap_or_default().to_string_lossy();
                let parts: Vec<&str> = stem.splitn(3, '_').collect();
                if parts.len() < 3 {
                    return Err(Error::Audio {
                        path: wav.clone(),
                        message: "a flat dataset needs names like {label}_{speaker}_{take}.wav; \
                                  or put each word's clips in a folder named after the word"
                            .into(),
                    });
                }
                files.push((wav.clone(), parts[0].to_string(), parts[1].to_string()));
            }
        }
        if files.is_empty() {
            return Err(Error::Audio {
                path: dir.to_path_buf(),
                message: "no recordings found: expected DIR/<word>/<speaker>_<n>.wav".into(),
            });
        }
        let relative = |p: &Path| p.strip_prefix(dir).unwrap_or(p).display().to_string();
        let decoded: Vec<Result<Audio>> = files
            .par_iter()
            .map(|(path, _, _)| Audio::load(path)?.keyword_clip(&config))
            .collect();
        let mut data = KeywordData {
            clips: Vec::new(),
            labels: Vec::new(),
            speakers: Vec::new(),
            files: Vec::new(),
            background: Vec::new(),
            config,
            stand_in: false,
            skipped: Vec::new(),
            source: dir.display().to_string(),
            notes: Vec::new(),
        };
        for ((path, label, speaker), clip) in files.into_iter().zip(decoded) {
            match clip {
                Ok(clip) => {
                    data.clips.push(clip);
                    data.labels.push(label);
                    data.speakers.push(speaker);
                    data.files.push(relative(&path));
                }
                Err(e) => skipped.push(Skipped {
                    file: relative(&path),
                    reason: match e {
                        Error::Audio { message, .. } => message,
                        other => other.to_string(),
                    },
                }),
            }
        }
        for word in &listing.words {
            if !data.labels.contains(&word.spelling) {
                let why = skipped
                    .iter()
                    .find(|s| s.file.starts_with(&word.id))
                    .map(|s| format!(" ({}: {})", s.file, s.reason))
                    .unwrap_or_default();
                return Err(Error::Audio {
                    path: dir.join(&word.id),
                    message: format!(
                        "none of the recordings of '{}' can be read{why}",
                        word.spelling
                    ),
                });
            }
        }
        let background: Vec<Audio> = listing
            .background
            .par_iter()
            .map(|path| Audio::load(path)?.resample(config.sample_rate_hz))
            .collect::<Result<Vec<Audio>>>()?;
        data.background = background
            .into_iter()
            .filter(|a| a.samples().len() >= config.clip_samples())
            .collect();
        data.skipped = skipped;
        Ok(data)
    }

    /// True for the kit's spoken digits standing in for the class's words
    /// ([`KeywordData::course_default`], [`KeywordData::class_words`] before anyone recorded).
    pub fn is_stand_in(&self) -> bool {
        self.stand_in
    }

    /// Files of the dataset folder that are not used, and why (not recordings, or recordings
    /// that cannot be decoded).
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Number of clips.
    pub fn len(&self) -> usize {
        self.clips.len()
    }

    /// True when there are no clips.
    pub fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }

    /// The clips (1 s, at the features' rate, normalised).
    pub fn clips(&self) -> &[Audio] {
        &self.clips
    }

    /// The label of each clip.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The speaker of each clip.
    pub fn speakers(&self) -> &[String] {
        &self.speakers
    }

    /// Each clip's file, relative to the dataset folder (generated clips say what made them).
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The feature configuration.
    pub fn config(&self) -> FeatureConfig {
        self.config
    }

    /// The same clips with other features, for example mel filters up to 8 kHz
    /// ([`UPPER_HZ_FRICATIVES`]) for words whose s, sh, ł or ts' carry energy above speech's
    /// usual 4 kHz. The clips keep their sample rate, which `config` must have (load them again
    /// with [`KeywordData::load_with`] for another).
    ///
    /// ```
    /// use tinyml_kit::kws::{KeywordData, UPPER_HZ_FRICATIVES};
    /// use tinyml_kit::prelude::FeatureConfig;
    /// let data = KeywordData::course_default().unwrap();
    /// let wide = FeatureConfig { fmax_hz: UPPER_HZ_FRICATIVES, ..data.config() };
    /// assert_eq!(data.with_features(wide).unwrap().config().fmax_hz, 8000.0);
    /// ```
    pub fn with_features(mut self, config: FeatureConfig) -> Result<KeywordData> {
        if config.sample_rate_hz != self.config.sample_rate_hz {
            return Err(Error::param(
                "features",
                format!(
                    "the clips are at {} Hz, the features ask for {} Hz: load the folder again \
                     with KeywordData::load_with",
                    self.config.sample_rate_hz, config.sample_rate_hz
                ),
            ));
        }
        if config.clip_ms != self.config.clip_ms {
            return Err(Error::param(
                "features",
                format!(
                    "the clips are {} ms long, the features ask for {} ms: load the folder again \
                     with KeywordData::load_with",
                    self.config.clip_ms, config.clip_ms
                ),
            ));
        }
        check_clip_config(&config)?;
        self.config = config;
        Ok(self)
    }

    /// The distinct labels, sorted (digits in order, then words).
    pub fn label_names(&self) -> Vec<String> {
        sorted_labels(&self.labels)
    }

    /// The keywords: [`KeywordData::label_names`] without [`UNKNOWN`] and [`SILENCE`].
    pub fn keywords(&self) -> Vec<String> {
        self.label_names()
            .into_iter()
            .filter(|l| l != UNKNOWN && l != SILENCE)
            .collect()
    }

    /// The distinct speakers who recorded words: [`KeywordData::speaker_names`] without the
    /// generated silence's [`NOISE_SPEAKER`].
    pub fn voice_names(&self) -> Vec<String> {
        self.speaker_names()
            .into_iter()
            .filter(|s| s != NOISE_SPEAKER && s != OTHER_WORDS_SPEAKER)
            .collect()
    }

    /// The distinct speakers, sorted.
    pub fn speaker_names(&self) -> Vec<String> {
        self.speakers
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Clip `i` (an error past the end).
    pub fn clip(&self, i: usize) -> Result<Audio> {
        self.clips.get(i).cloned().ok_or_else(|| {
            Error::param(
                "clip",
                format!("{i}, but the data has {} clips", self.len()),
            )
        })
    }

    /// The first clip of `label`, for listening and pictures.
    pub fn example(&self, label: &str) -> Result<Audio> {
        let i = self.labels.iter().position(|l| l == label).ok_or_else(|| {
            Error::param(
                "label",
                format!(
                    "'{label}' is not in the data (labels: {})",
                    self.label_names().join(", ")
                ),
            )
        })?;
        self.clip(i)
    }

    pub(crate) fn subset(&self, keep: impl Fn(usize) -> bool) -> KeywordData {
        let idx: Vec<usize> = (0..self.len()).filter(|&i| keep(i)).collect();
        KeywordData {
            clips: idx.iter().map(|&i| self.clips[i].clone()).collect(),
            labels: idx.iter().map(|&i| self.labels[i].clone()).collect(),
            speakers: idx.iter().map(|&i| self.speakers[i].clone()).collect(),
            files: idx.iter().map(|&i| self.files[i].clone()).collect(),
            background: self.background.clone(),
            config: self.config,
            stand_in: self.stand_in,
            skipped: self.skipped.clone(),
            source: self.source.clone(),
            notes: self.notes.clone(),
        }
    }

    /// Keeps `keywords` as classes and relabels every other word [`UNKNOWN`], keeping at most
    /// as many unknown clips as the average keyword has (so "unknown" does not swamp the rest).
    /// [`SILENCE`] clips stay as they are.
    pub fn with_keywords(&self, keywords: &[&str], seed: u64) -> Result<KeywordData> {
        let names = self.label_names();
        if keywords.is_empty() {
            return Err(Error::param("keywords", "name at least one keyword"));
        }
        for k in keywords {
            if !names.iter().any(|n| n == k) {
                return Err(Error::param(
                    "keywords",
                    format!("'{k}' is not in the data (labels: {})", names.join(", ")),
                ));
            }
        }
        let is_keyword = |l: &str| keywords.contains(&l) || l == SILENCE;
        let keyword_clips = self
            .labels
            .iter()
            .filter(|l| keywords.contains(&l.as_str()))
            .count();
        let budget = keyword_clips / keywords.len();
        let mut others: Vec<usize> = (0..self.len())
            .filter(|&i| !is_keyword(&self.labels[i]))
            .collect();
        Rng::new(seed).shuffle(&mut others);
        others.truncate(budget);
        let others: BTreeSet<usize> = others.into_iter().collect();
        let mut data = self.subset(|i| is_keyword(&self.labels[i]) || others.contains(&i));
        for label in &mut data.labels {
            if !keywords.contains(&label.as_str()) && label != SILENCE {
                *label = UNKNOWN.to_string();
            }
        }
        Ok(data)
    }

    /// Adds `count` clips of [`SILENCE`]: random clips of the background recordings, or
    /// generated room noise when the data has none, normalised like every clip; their speaker
    /// is [`NOISE_SPEAKER`].
    pub fn with_silence(&self, count: usize, seed: u64) -> KeywordData {
        let mut data = self.clone();
        let mut rng = Rng::new(seed);
        for k in 0..count {
            let mut samples = self.noise_clip(&mut rng);
            normalize_peak(&mut samples, NORMALIZED_PEAK);
            data.clips.push(
                Audio::new(samples, self.config.sample_rate_hz).expect("finite generated noise"),
            );
            data.labels.push(SILENCE.to_string());
            data.speakers.push(NOISE_SPEAKER.to_string());
            data.files.push(format!("(silence {k})"));
        }
        data
    }

    /// True when every word of the data is a spoken digit of the kit's data (its folder, loaded
    /// by path): no other words are left to be "unknown".
    fn is_the_digits(&self) -> bool {
        self.keywords()
            .iter()
            .all(|w| w.len() == 1 && w.chars().all(|c| c.is_ascii_digit()))
    }

    /// Checks that every word has at least [`MIN_TAKES`] takes, naming the first that has not.
    pub fn check_takes(&self) -> Result<()> {
        for label in self.label_names() {
            let n = self.labels.iter().filter(|l| **l == label).count();
            if n < MIN_TAKES {
                return Err(Error::param(
                    "data",
                    format!(
                        "'{label}' has {n} take(s): a model needs at least {MIN_TAKES} takes of \
                         a word to learn it; record more (or remove its folder)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The data a keyword spotter learns from: when these are the class's own words (not the
    /// kit's spoken digits), adds an [`UNKNOWN`] class of other words (spoken digits from the
    /// kit's data, by its five speakers) and a [`SILENCE`] class of noise, each as many clips
    /// as the average word has, unless the data has such a class already or `unknown` /
    /// `silence` is false. Says what it added in [`KeywordData::notes`].
    pub fn with_others(&self, unknown: bool, silence: bool, seed: u64) -> Result<KeywordData> {
        let mut data = self.clone();
        if self.stand_in || self.is_empty() {
            return Ok(data);
        }
        let words: Vec<String> = self
            .label_names()
            .into_iter()
            .filter(|l| l != UNKNOWN && l != SILENCE)
            .collect();
        let per_word = self
            .labels
            .iter()
            .filter(|l| words.contains(l))
            .count()
            .div_ceil(words.len().max(1));
        let has = |label: &str| self.labels.iter().any(|l| l == label);
        if unknown && !has(UNKNOWN) && per_word > 0 && !self.is_the_digits() {
            let others = other_words(self.config, &words, per_word, seed)?;
            data.notes.push(format!(
                "added {} \"{UNKNOWN}\" clips (other words: the kit's spoken digits) so the model \
                 can say \"none of my words\"",
                others.len()
            ));
            data = data.merged(&others)?;
        }
        if silence && !has(SILENCE) && per_word > 0 {
            let from = if self.background.is_empty() {
                "generated room noise"
            } else {
                "the _background_noise_ recordings"
            };
            data = data.with_silence(per_word, seed);
            data.notes.push(format!(
                "added {per_word} \"{SILENCE}\" clips ({from}) so the model can say \"nobody is \
                 talking\""
            ));
        }
        Ok(data)
    }

    /// One clip of noise: a random clip of a background recording (they are all at least that
    /// long), or generated room noise when the data has none.
    fn noise_clip(&self, rng: &mut Rng) -> Vec<f32> {
        let n = self.config.clip_samples();
        if self.background.is_empty() {
            return room_noise(n, rng);
        }
        let noise = self.background[rng.index(self.background.len())].samples();
        let start = rng.index(noise.len() - n + 1);
        noise[start..start + n].to_vec()
    }

    /// These clips and `other`'s together (for example the course data and clips recorded from
    /// the board with `Board::record_audio` or `tinyml record`). Both must use the same
    /// features; the background noise of both is kept.
    pub fn merged(&self, other: &KeywordData) -> Result<KeywordData> {
        if self.config != other.config {
            return Err(Error::param(
                "other",
                "the two datasets use different feature settings: load both with the same \
                 FeatureConfig",
            ));
        }
        let mut data = self.clone();
        data.clips.extend(other.clips.iter().cloned());
        data.labels.extend(other.labels.iter().cloned());
        data.speakers.extend(other.speakers.iter().cloned());
        data.files.extend(other.files.iter().cloned());
        data.background.extend(other.background.iter().cloned());
        data.source = format!("{} + {}", self.source, other.source);
        data.notes.extend(other.notes.iter().cloned());
        Ok(data)
    }

    /// `(train, test)`: the clips of `test_speakers` are the test set, everyone else trains.
    pub fn split_by_speaker(&self, test_speakers: &[&str]) -> Result<(KeywordData, KeywordData)> {
        let names = self.speaker_names();
        for s in test_speakers {
            if !names.iter().any(|n| n == s) {
                return Err(Error::param(
                    "test_speakers",
                    format!("'{s}' is not a speaker of the data ({})", names.join(", ")),
                ));
            }
        }
        let is_test = |i: usize| test_speakers.contains(&self.speakers[i].as_str());
        let (train, test) = (self.subset(|i| !is_test(i)), self.subset(is_test));
        if train.is_empty() || test.is_empty() {
            return Err(Error::param(
                "test_speakers",
                "leaves nothing to train on or nothing to test: hold out fewer speakers",
            ));
        }
        Ok((train, test))
    }

    /// Only the clips spoken by `voices` (no generated silence, no added other words).
    pub fn only_voices(&self, voices: &[&str]) -> Result<KeywordData> {
        let data = self.with_voices(voices)?;
        Ok(data.subset(|i| voices.contains(&data.speakers[i].as_str())))
    }

    /// Only the clips of `voices` (and any generated silence, which is nobody's voice).
    pub fn with_voices(&self, voices: &[&str]) -> Result<KeywordData> {
        let names = self.voice_names();
        if let Some(v) = voices.iter().find(|v| !names.iter().any(|n| n == *v)) {
            return Err(Error::param(
                "speakers",
                format!("'{v}' is not a speaker of the data ({})", names.join(", ")),
            ));
        }
        let speakers = &self.speakers;
        Ok(self.subset(|i| speakers[i] == NOISE_SPEAKER || voices.contains(&speakers[i].as_str())))
    }

    /// Only the clips of `words` (each must be in the data), with the background noise.
    pub fn only_words(&self, words: &[&str]) -> Result<KeywordData> {
        let names = self.label_names();
        if let Some(w) = words.iter().find(|w| !names.iter().any(|n| n == *w)) {
            return Err(Error::param(
                "words",
                format!("'{w}' is not a word of the data ({})", names.join(", ")),
            ));
        }
        Ok(self.subset(|i| words.contains(&self.labels[i].as_str())))
    }

    /// `n` takes of each word by `voice`, drawn with `seed`; for the words that are nobody's
    /// voice (added "unknown" other words, generated "silence"), `n` of their clips. What one
    /// student records for a few-shot model.
    pub fn takes_of(&self, voice: &str, n: usize, seed: u64) -> Result<KeywordData> {
        if n == 0 {
            return Err(Error::param(
                "takes",
                "0 (a model needs at least one take of a word)",
            ));
        }
        let voices = self.voice_names();
        if !voices.iter().any(|v| v == voice) {
            return Err(Error::param(
                "voice",
                format!(
                    "'{voice}' is not a voice of the data ({})",
                    voices.join(", ")
                ),
            ));
        }
        let mut rng = Rng::new(seed);
        let mut keep = BTreeSet::new();
        for label in self.label_names() {
            let of = |who: &dyn Fn(&str) -> bool| -> Vec<usize> {
                (0..self.len())
                    .filter(|&i| self.labels[i] == label && who(&self.speakers[i]))
                    .collect()
            };
            let mut clips = of(&|s| s == voice);
            if clips.is_empty() {
                clips = of(&|s| !voices.iter().any(|v| v == s));
            }
            if clips.is_empty() {
                continue;
            }
            if clips.len() < n {
                return Err(Error::param(
                    "takes",
                    format!(
                        "{n}, but {voice} has {} take(s) of '{label}': ask for fewer, or record \
                         more",
                        clips.len()
                    ),
                ));
            }
            rng.shuffle(&mut clips);
            keep.extend(clips.into_iter().take(n));
        }
        Ok(self.subset(|i| keep.contains(&i)))
    }

    /// At most `n` clips drawn at random with `seed` (all of them when there are no more), for
    /// example to calibrate int8 quantization.
    pub fn sample(&self, n: usize, seed: u64) -> Result<KeywordData> {
        let fraction = (n as f64 / self.len().max(1) as f64).min(1.0);
        if fraction < 1.0 {
            Ok(self.split_clips(fraction, seed)?.1)
        } else {
            Ok(self.clone())
        }
    }

    /// `(train, validation)`: a random `fraction` of all clips for validation (speakers appear
    /// on both sides: use this to watch training, [`KeywordData::split_by_speaker`] to test).
    pub fn split_clips(&self, fraction: f64, seed: u64) -> Result<(KeywordData, KeywordData)> {
        if self.len() < 2 {
            return Err(Error::param(
                "data",
                format!("{} clip(s) cannot be split: record more", self.len()),
            ));
        }
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(Error::param(
                "fraction",
                format!("{fraction} (use 0 < f < 1)"),
            ));
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        Rng::new(seed).shuffle(&mut order);
        let held = ((self.len() as f64 * fraction).round() as usize).clamp(1, self.len() - 1);
        let validation: BTreeSet<usize> = order[..held].iter().copied().collect();
        Ok((
            self.subset(|i| !validation.contains(&i)),
            self.subset(|i| validation.contains(&i)),
        ))
    }

    /// The data plus altered copies of every clip (see [`Augmentation`]). Each copy is
    /// normalised again, as the board normalises what it hears.
    pub fn augmented(&self, augmentation: &Augmentation, seed: u64) -> Result<KeywordData> {
        augmentation.validate()?;
        let a = augmentation;
        let rate = self.config.sample_rate_hz;
        let n = self.config.clip_samples();
        let max_shift = (rate as usize * a.shift_ms as usize / 1000).min(n / 2);
        let jobs: Vec<(usize, usize)> = (0..a.copies)
            .flat_map(|copy| (0..self.len()).map(move |i| (copy, i)))
            .collect();
        let made = jobs
            .par_iter()
            .map(|&(copy, i)| {
                let mut rng = Rng::new(
                    seed ^ (copy as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64) << 20,
                );
                let mut clip = self.clips[i].clone();
                let mut what = format!("copy {}", copy + 1);
                if a.speed > 0.0 {
                    // Played faster or slower: higher or lower voice, shorter or longer word.
                    let factor = 1.0 + a.speed * (2.0 * rng.uniform() as f32 - 1.0);
                    let as_if = ((rate as f32 * factor).round() as u32).max(1_000);
                    clip = Audio::new(clip.samples().to_vec(), as_if)?
                        .resample(rate)?
                        .clip(self.config.clip_ms as f64 / 1000.0)?;
                    what += &format!(", speed {factor:.2}");
                }
                let source = clip.samples();
                let shift = if max_shift == 0 {
                    0
                } else {
                    rng.index(2 * max_shift + 1) as isize - max_shift as isize
                };
                let mut samples: Vec<f32> = (0..n as isize)
                    .map(|t| {
                        let from = t - shift;
                        if (0..n as isize).contains(&from) {
                            source[from as usize]
                        } else {
                            0.0
                        }
                    })
                    .collect();
                if let Some(snr) = a.noise_snr_db {
                    let noise = self.noise_clip(&mut rng);
                    let power = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
                    let (ps, pn) = (power(&samples), power(&noise).max(1e-12));
                    let gain = (ps / pn / 10f32.powf(snr / 10.0)).sqrt();
                    for (s, z) in samples.iter_mut().zip(&noise) {
                        *s += gain * z;
                    }
                    what += &format!(", noise {snr} dB");
                }
                normalize_peak(&mut samples, NORMALIZED_PEAK);
                let file = format!("{} ({what}, shift {shift})", self.files[i]);
                Ok((Audio::new(samples, rate)?, i, file))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut data = self.clone();
        for (clip, i, file) in made {
            data.clips.push(clip);
            data.labels.push(self.labels[i].clone());
            data.speakers.push(self.speakers[i].clone());
            data.files.push(file);
        }
        Ok(data)
    }

    /// The features of every clip, one after another (`frames × coefficients` each), computed
    /// by the board's MFCC on all cores.
    pub fn features(&self) -> Result<Vec<f32>> {
        let mfcc = plan(&self.config)?;
        let per = self.feature_len();
        let mut out = vec![0f32; per * self.len()];
        out.par_chunks_mut(per.max(1))
            .zip(self.clips.par_iter())
            .try_for_each(|(row, clip)| {
                mfcc.process(clip.samples(), row)
                    .map_err(|e| Error::param("audio", crate::audio::mfcc_message(e)))
            })?;
        Ok(out)
    }

    /// The features of clip `i`, as a picture-able value.
    pub fn features_of(&self, i: usize) -> Result<AudioFeatures> {
        self.clip(i)?.features(&self.config)
    }

    /// Numbers per clip: frames × coefficients of one clip.
    pub fn feature_len(&self) -> usize {
        self.config.clip_frames() * self.config.coefficients()
    }

    /// Counts per word and per speaker, with warnings (and what the data cannot show).
    pub fn audit(&self) -> DataAudit {
        let mut audit = DataAudit::new(&self.labels, &self.speakers, "speaker");
        audit.warnings.extend(self.notes.iter().cloned());
        audit
    }

    /// Clips per label and speaker, as a table.
    pub fn table(&self) -> Table {
        let speakers = self.speaker_names();
        let mut header = vec!["label".to_string()];
        header.extend(speakers.iter().cloned());
        header.push("total".into());
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut t = Table::new(&header);
        for label in self.label_names() {
            let mut row = vec![label.clone()];
            let mut total = 0;
            for s in &speakers {
                let n = (0..self.len())
                    .filter(|&i| self.labels[i] == label && &self.speakers[i] == s)
                    .count();
                total += n;
                row.push(n.to_string());
            }
            row.push(total.to_string());
            t.push(row);
        }
        t
    }

    /// Shows the size, the labels and the speakers in Jupyter.
    pub fn evcxr_display(&self) {
        println!(
            "{} clips of {} labels by {} speakers ({}), {} background recordings",
            self.len(),
            self.label_names().len(),
            self.speaker_names().len(),
            self.source,
            self.background.len()
        );
        self.table().evcxr_display();
    }
}

/// How [`KeywordData::augmented`] alters clips; every default is in [`Augmentation::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct Augmentation {
    copies: usize,
    shift_ms: u32,
    noise_snr_db: Option<f32>,
    speed: f32,
}

impl Default for Augmentation {
    fn default() -> Self {
        Augmentation::new()
    }
}

impl Augmentation {
    /// Defaults: 2 copies, shifted by up to 100 ms, speed changed by up to ±15% (a higher or
    /// lower, faster or slower voice: the best stand-in for speakers we do not have), mixed
    /// with noise at 20 dB signal-to-noise.
    pub fn new() -> Augmentation {
        Augmentation {
            copies: 2,
            shift_ms: 100,
            noise_snr_db: Some(20.0),
            speed: 0.15,
        }
    }

    /// Altered copies of each clip (0 to 20).
    pub fn copies(mut self, copies: usize) -> Self {
        self.copies = copies;
        self
    }

    /// Largest time shift, in milliseconds (0 to 500).
    pub fn shift_ms(mut self, shift_ms: u32) -> Self {
        self.shift_ms = shift_ms;
        self
    }

    /// Background noise at this signal-to-noise ratio in dB (`None`: no noise). The dataset's
    /// `_background_noise_` recordings, or generated room noise when it has none.
    pub fn noise_snr_db(mut self, snr_db: Option<f32>) -> Self {
        self.noise_snr_db = snr_db;
        self
    }

    /// Largest change of speed, as a fraction (0.15: 85% to 115%; 0 turns it off).
    pub fn speed(mut self, speed: f32) -> Self {
        self.speed = speed;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.copies > 20 {
            return Err(Error::param(
                "copies",
                format!("{} (use 0 to 20)", self.copies),
            ));
        }
        if self.shift_ms > 500 {
            return Err(Error::param(
                "shift_ms",
                format!("{} (use 0 to 500)", self.shift_ms),
            ));
        }
        if let Some(snr) = self.noise_snr_db {
            if !(snr.is_finite() && snr >= -10.0) {
                return Err(Error::param(
                    "noise_snr_db",
                    format!("{snr} (use -10 dB or more)"),
                ));
            }
        }
        if !(self.speed.is_finite() && (0.0..0.5).contains(&self.speed)) {
            return Err(Error::param(
                "speed",
                format!("{} (use 0 to 0.5)", self.speed),
            ));
        }
        Ok(())
    }
}

/// The repository's `data/fsdd`, or `$TINYML_DATA/fsdd`.
pub fn default_dir() -> PathBuf {
    match std::env::var_os("TINYML_DATA") {
        Some(dir) => PathBuf::from(dir).join("fsdd"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/fsdd"),
    }
}

/// The speaker of the [`UNKNOWN`] clips that [`KeywordData::with_others`] adds (other people's
/// words, not a voice of the class: left out of speaker folds).
pub const OTHER_WORDS_SPEAKER: &str = "(other words)";

/// `count` clips of the kit's spoken digits as [`UNKNOWN`], none of them a digit in `avoid`.
fn other_words(
    config: FeatureConfig,
    avoid: &[String],
    count: usize,
    seed: u64,
) -> Result<KeywordData> {
    let dir = default_dir();
    let missing = |message: &str| Error::Audio {
        path: dir.clone(),
        message: format!(
            "{message}: the \"unknown\" class is made of them; set TINYML_DATA to the folder \
             that holds fsdd/, or train without it (`--no-unknown`, `.unknown(false)`)"
        ),
    };
    let listing = list_words(&dir).map_err(|_| missing("the kit's spoken digits are not there"))?;
    let mut files: Vec<PathBuf> = listing
        .words
        .iter()
        .filter(|w| !avoid.contains(&w.spelling))
        .flat_map(|w| w.files.iter().cloned())
        .collect();
    if files.is_empty() {
        return Err(missing("no spoken digits to use"));
    }
    Rng::new(seed ^ 0x6f74_6865_7273).shuffle(&mut files);
    files.truncate(count);
    let clips = files
        .par_iter()
        .map(|path| Audio::load(path)?.keyword_clip(&config))
        .collect::<Result<Vec<Audio>>>()?;
    let n = clips.len();
    Ok(KeywordData {
        clips,
        labels: vec![UNKNOWN.to_string(); n],
        speakers: vec![OTHER_WORDS_SPEAKER.to_string(); n],
        files: files
            .iter()
            .map(|p| {
                format!(
                    "(unknown: fsdd/{})",
                    p.strip_prefix(&dir).unwrap_or(p).display()
                )
            })
            .collect(),
        background: Vec::new(),
        config,
        stand_in: false,
        skipped: Vec::new(),
        source: "the kit's spoken digits".into(),
        notes: Vec::new(),
    })
}

fn is_wav(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
}

/// Labels sorted with numbers in numeric order, then words, then `unknown` and `silence` last.
fn sorted_labels(labels: &[String]) -> Vec<String> {
    let mut names: Vec<String> = labels
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    names.sort_by_key(|l| {
        let special = match l.as_str() {
            UNKNOWN => 1,
            SILENCE => 2,
            _ => 0,
        };
        (special, l.parse::<u64>().map_or(u64::MAX, |n| n), l.clone())
    });
    names
}

/// Quiet room noise: white noise shaped towards low frequencies, with a hum.
fn room_noise(n: usize, rng: &mut Rng) -> Vec<f32> {
    let hum_hz = 50.0 + 10.0 * rng.index(2) as f32;
    let mut brown = 0f32;
    (0..n)
        .map(|t| {
            let white = rng.uniform() as f32 * 2.0 - 1.0;
            brown = 0.98 * brown + 0.02 * white;
            let hum = 0.05 * (2.0 * std::f32::consts::PI * hum_hz * t as f32 / 16_000.0).sin();
            0.3 * white + 2.0 * brown + hum
        })
        .collect()
}

/// The keyword networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KwsArchitecture {
    /// TensorFlow micro_speech's `tiny_conv`: one strided convolution (8 filters) and a dense
    /// layer. Tiny and fast; the board's smallest option.
    TinyConv,
    /// A small CNN: two convolutions (16 and 32 filters, 3×3) with max pooling, then dense.
    Cnn,
    /// Depthwise-separable CNN (DS-CNN, "Hello Edge"): a convolution, then depthwise 3×3 +
    /// pointwise 1×1 blocks, average pooling, dense. Few weights for its accuracy.
    DsCnn,
    /// The keyword embedding's network ([`crate::fewshot`]): the CNN's two convolutions, then a
    /// dense layer of [`BOTTLENECK_SIZE`] values, then the classes. Trained on a bank of many
    /// words, its convolutions learn what tells words apart; a few-shot model keeps them and
    /// learns one dense layer on what they give.
    Embedding,
}

/// Values of the narrow dense layer that [`KwsArchitecture::Embedding`] is trained through.
pub const BOTTLENECK_SIZE: usize = 64;

impl KwsArchitecture {
    /// Parses `tiny_conv`, `cnn` or `ds_cnn`.
    pub fn parse(s: &str) -> Result<KwsArchitecture> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "tiny_conv" | "tinyconv" => Ok(KwsArchitecture::TinyConv),
            "cnn" => Ok(KwsArchitecture::Cnn),
            "ds_cnn" | "dscnn" => Ok(KwsArchitecture::DsCnn),
            "embedding" => Ok(KwsArchitecture::Embedding),
            _ => Err(Error::param(
                "model",
                format!("'{s}' (use tiny_conv, cnn, ds_cnn or embedding)"),
            )),
        }
    }

    /// The name in model files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            KwsArchitecture::TinyConv => "tiny_conv",
            KwsArchitecture::Cnn => "cnn",
            KwsArchitecture::DsCnn => "ds_cnn",
            KwsArchitecture::Embedding => "embedding",
        }
    }

    /// Input shape and layers for `frames × coefficients` features and `classes` outputs.
    pub fn layers(self, frames: usize, coefficients: usize, classes: usize) -> (Shape, Vec<Layer>) {
        let input = Shape::Image {
            height: frames,
            width: coefficients,
            channels: 1,
        };
        let conv = |filters, kernel, stride, padding| Layer::Conv2d {
            filters,
            kernel,
            stride,
            padding,
        };
        // The keyword CNN's convolutions: the embedding keeps them and learns a bottleneck.
        let cnn_convolutions = || {
            vec![
                conv(16, 3, 1, Padding::Same),
                Layer::Relu,
                Layer::MaxPool { size: 2 },
                conv(32, 3, 1, Padding::Same),
                Layer::Relu,
                Layer::MaxPool { size: 2 },
                Layer::Flatten,
                Layer::Dropout { rate: 0.3 },
            ]
        };
        let layers = match self {
            KwsArchitecture::TinyConv => vec![
                conv(8, 5, 2, Padding::Same),
                Layer::Relu,
                Layer::Dropout { rate: 0.2 },
                Layer::Flatten,
                Layer::Dense { units: classes },
            ],
            KwsArchitecture::Cnn => {
                let mut layers = cnn_convolutions();
                layers.push(Layer::Dense { units: classes });
                layers
            }
            KwsArchitecture::DsCnn => vec![
                conv(32, 3, 1, Padding::Same),
                Layer::Relu,
                Layer::DepthwiseConv2d {
                    kernel: 3,
                    stride: 1,
                    padding: Padding::Same,
                },
                Layer::Relu,
                conv(32, 1, 1, Padding::Valid),
                Layer::Relu,
                Layer::MaxPool { size: 2 },
                Layer::DepthwiseConv2d {
                    kernel: 3,
                    stride: 1,
                    padding: Padding::Same,
                },
                Layer::Relu,
                conv(32, 1, 1, Padding::Valid),
                Layer::Relu,
                Layer::AvgPool { size: 2 },
                Layer::Flatten,
                Layer::Dropout { rate: 0.3 },
                Layer::Dense { units: classes },
            ],
            KwsArchitecture::Embedding => {
                let mut layers = cnn_convolutions();
                layers.extend([
                    Layer::Dense {
                        units: BOTTLENECK_SIZE,
                    },
                    Layer::Relu,
                    Layer::Dropout { rate: 0.2 },
                    Layer::Dense { units: classes },
                ]);
                layers
            }
        };
        (input, layers)
    }
}

/// Checks that `config` can describe a keyword clip (valid, and at least one frame).
fn check_clip_config(config: &FeatureConfig) -> Result<()> {
    plan(config)?;
    if config.clip_frames() == 0 {
        return Err(Error::param(
            "features",
            format!("the FFT is longer than a clip of {} ms", config.clip_ms),
        ));
    }
    Ok(())
}

/// Training settings for a keyword model; every default is in [`KwsTrainer::params`].
#[derive(Debug, Clone)]
pub struct KwsTrainer {
    architecture: KwsArchitecture,
    embedding: Option<Box<KwsEmbedding>>,
    clip_mean_normalization: bool,
    add_unknown: bool,
    add_silence: bool,
    train: TrainParams,
}

impl KwsTrainer {
    /// Defaults: the [`KwsArchitecture::Cnn`], clip mean normalisation on, "unknown" and
    /// "silence" added to the class's own words ([`KeywordData::with_others`]), [`KWS_EPOCHS`]
    /// epochs, batch 32, Adam 1e-3, seed 7, progress lines on, no early stopping.
    pub fn params() -> KwsTrainer {
        KwsTrainer {
            architecture: KwsArchitecture::Cnn,
            embedding: None,
            clip_mean_normalization: true,
            add_unknown: true,
            add_silence: true,
            train: TrainParams::new()
                .epochs(KWS_EPOCHS)
                .batch_size(32)
                .learning_rate(1e-3)
                .seed(7),
        }
    }

    /// The network.
    pub fn architecture(mut self, architecture: KwsArchitecture) -> Self {
        self.architecture = architecture;
        self
    }

    /// Few-shot: keep `embedding` ([`crate::fewshot`]) as it is and learn only a last layer for
    /// the words, which is enough for a handful of takes. Sets the few-shot defaults:
    /// [`FEW_SHOT_EPOCHS`] epochs, batch [`FEW_SHOT_BATCH`], Adam [`FEW_SHOT_LEARNING_RATE`]
    /// (change them after this call); the network and clip mean normalisation are the
    /// embedding's.
    pub fn few_shot(mut self, embedding: &KwsEmbedding) -> Self {
        self.embedding = Some(Box::new(embedding.clone()));
        self.train = self
            .train
            .epochs(FEW_SHOT_EPOCHS)
            .batch_size(FEW_SHOT_BATCH)
            .learning_rate(FEW_SHOT_LEARNING_RATE);
        self
    }

    /// Subtract each clip's mean from every coefficient before the network (on by default: it
    /// makes the model less sensitive to the microphone and the speaker).
    pub fn clip_mean_normalization(mut self, on: bool) -> Self {
        self.clip_mean_normalization = on;
        self
    }

    crate::nn::train_settings!();

    /// Checks the settings (epochs, batch size, learning rate) without training, before any
    /// feature is computed; [`KwsTrainer::fit`] starts with it.
    pub fn check(&self) -> Result<()> {
        self.train.check()
    }

    /// Add an "unknown" class of other words (the kit's spoken digits) when the class's own
    /// words have none (on by default; see [`KeywordData::with_others`]).
    pub fn unknown(mut self, on: bool) -> Self {
        self.add_unknown = on;
        self
    }

    /// Add a "silence" class (background noise) when the class's own words have none (on by
    /// default).
    pub fn silence(mut self, on: bool) -> Self {
        self.add_silence = on;
        self
    }

    /// Trains a model on `train`, watching accuracy on `validation` after each epoch. The
    /// class's own words get "unknown" and "silence" first, unless told not to; the kit's
    /// spoken digits (the stand-in) are trained on as they are.
    pub fn fit(&self, train: &KeywordData, validation: Option<&KeywordData>) -> Result<KwsModel> {
        self.train.check_for(validation.is_some())?;
        let with_others =
            train.with_others(self.add_unknown, self.add_silence, self.train.seed_value())?;
        if self.train.shows_progress() {
            for note in &with_others.notes[train.notes.len()..] {
                eprintln!("{note}");
            }
        }
        let train = &with_others;
        let labels = train.label_names();
        if labels.len() < 2 {
            return Err(Error::param(
                "data",
                format!(
                    "only one class ({}): a keyword spotter needs at least two; add another \
                     word, or use `with_silence` / other words as \"unknown\"",
                    labels.first().map_or("none", String::as_str)
                ),
            ));
        }
        if let Some(embedding) = &self.embedding {
            return self.fit_head(embedding, train, labels, validation);
        }
        let config = train.config();
        let frames = config.clip_frames();
        let coefficients = config.coefficients();
        let mut front_end = KeywordFrontEnd {
            features: config,
            clip_mean_normalization: self.clip_mean_normalization,
            mean: vec![0.0; coefficients],
            std: vec![1.0; coefficients],
        };
        let per_clip = frames * coefficients;
        let mut x = train.features()?;
        front_end.subtract_clip_means(&mut x, per_clip);
        (front_end.mean, front_end.std) = standardisation(&x, coefficients);
        front_end.standardise(&mut x);
        let (input, layers) = self.architecture.layers(frames, coefficients, labels.len());
        let mut network = Network::new(input, layers, self.train.seed_value())?;
        let targets = |data: &KeywordData| class_indices(data, &labels);
        let y = targets(train)?;
        let history = match validation {
            Some(v) => {
                if v.config() != config {
                    return Err(Error::param(
                        "validation",
                        "has other features than the training data",
                    ));
                }
                let vx = front_end.prepare(v.features()?, per_clip);
                let vy = targets(v)?;
                self.train.fit(&mut network, &x, &y, Some((&vx, &vy)))?
            }
            None => self.train.fit(&mut network, &x, &y, None)?,
        };
        Ok(KwsModel {
            architecture: self.architecture,
            network,
            labels,
            front_end,
            history: Some(history),
        })
    }
}

impl KwsTrainer {
    /// Few-shot training: the clips through the frozen `embedding`, a new last layer learned on
    /// what comes out, the two joined into one network.
    fn fit_head(
        &self,
        embedding: &KwsEmbedding,
        train: &KeywordData,
        labels: Vec<String>,
        validation: Option<&KeywordData>,
    ) -> Result<KwsModel> {
        let front_end = embedding.front_end().clone();
        for data in std::iter::once(train).chain(validation) {
            if data.config() != front_end.features {
                return Err(Error::param(
                    "data",
                    "has other features than the embedding was trained on: load it with the \
                     embedding's FeatureConfig",
                ));
            }
        }
        let targets = |data: &KeywordData| class_indices(data, &labels);
        let x = embedding.embed(train)?;
        let y = targets(train)?;
        let mut head = embedding.new_head(labels.len(), self.train.seed_value())?;
        let history = match validation {
            Some(v) => {
                let vx = embedding.embed(v)?;
                let vy = targets(v)?;
                self.train.fit(&mut head, &x, &y, Some((&vx, &vy)))?
            }
            None => self.train.fit(&mut head, &x, &y, None)?,
        };
        Ok(KwsModel {
            architecture: KwsArchitecture::Embedding,
            network: embedding.with_head(&head)?,
            labels,
            front_end,
            history: Some(history),
        })
    }
}

/// Epochs of a few-shot head ([`KwsTrainer::few_shot`]): it is one small layer on few clips.
pub const FEW_SHOT_EPOCHS: usize = 60;

/// Epochs of a keyword network trained from scratch ([`KwsTrainer::params`], `tinyml kws
/// train`, the CNN from scratch of [`crate::fewshot::compare_few_shot`] and of the few-shot
/// bench): what README's accuracy and time figures were measured with. The lessons that must
/// fit in class time name their own: the Day 2 notebook 8, `tinyml course`'s
/// [`crate::course::KEYWORD_EPOCHS`] 12, the Day 3 recipe [`LISTENING_EPOCHS`] 6.
pub const KWS_EPOCHS: usize = 20;
/// Clips per step of a few-shot head.
pub const FEW_SHOT_BATCH: usize = 16;
/// The highest mel filter's frequency for words with s, sh, ł or ts' (Hz): everything a
/// 16 kHz recording holds. [`FeatureConfig::KEYWORDS`] stops at 4 kHz, where most of speech is.
pub const UPPER_HZ_FRICATIVES: f32 = 8_000.0;

/// Adam's step size for a few-shot head.
pub const FEW_SHOT_LEARNING_RATE: f64 = 3e-3;

/// Each clip's class: the index of its label in `labels` (the training labels).
fn class_indices(data: &KeywordData, labels: &[String]) -> Result<Vec<usize>> {
    data.labels()
        .iter()
        .map(|l| {
            labels.iter().position(|n| n == l).ok_or_else(|| {
                Error::param(
                    "validation",
                    format!("label '{l}' is not among the training labels"),
                )
            })
        })
        .collect()
}

/// Each coefficient's mean and standard deviation over `x` (rows of `coefficients` values),
/// the standard deviation at least 1e-3: what a keyword model's front end standardises with.
pub fn standardisation(x: &[f32], coefficients: usize) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0f64; coefficients];
    let mut sq = vec![0f64; coefficients];
    let rows = x.len() / coefficients.max(1);
    for row in x.chunks_exact(coefficients) {
        for (c, &v) in row.iter().enumerate() {
            sum[c] += v as f64;
            sq[c] += v as f64 * v as f64;
        }
    }
    let n = rows.max(1) as f64;
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std = sq
        .iter()
        .zip(&sum)
        .map(|(q, s)| ((q / n - (s / n) * (s / n)).max(0.0).sqrt().max(1e-3)) as f32)
        .collect();
    (mean, std)
}

/// A trained keyword spotter: network, labels and the features it expects.
#[derive(Debug, Clone)]
pub struct KwsModel {
    /// Which network.
    pub architecture: KwsArchitecture,
    /// The network and its weights.
    pub network: Network,
    /// Class names, one per output.
    pub labels: Vec<String>,
    /// Features and their standardisation.
    pub front_end: KeywordFrontEnd,
    /// How training went (absent for a loaded model).
    pub history: Option<History>,
}

/// One clip's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeywordPrediction {
    /// The most likely label.
    pub label: String,
    /// Probability of each label (softmax of the outputs), in the model's label order.
    pub probabilities: Vec<(String, f32)>,
}

impl KeywordPrediction {
    /// The probabilities as a bar chart.
    pub fn figure(&self) -> Figure {
        let p = self
            .probabilities
            .iter()
            .find(|(l, _)| *l == self.label)
            .map_or(0.0, |x| x.1);
        Figure::bars(
            &format!("I heard \"{}\" ({:.0}% sure)", self.label, 100.0 * p),
            "word",
            "probability",
            self.probabilities
                .iter()
                .map(|(l, p)| (l.clone(), *p as f64))
                .collect(),
        )
    }

    /// Shows the chart in Jupyter.
    pub fn evcxr_display(&self) {
        self.figure().evcxr_display();
    }
}

impl KwsModel {
    /// The feature configuration the model expects.
    pub fn config(&self) -> Result<FeatureConfig> {
        let config = self.front_end.features;
        check_clip_config(&config)?;
        Ok(config)
    }

    /// The network's float inputs for `data`, one clip after another: the MFCC of each prepared
    /// clip, its clip mean subtracted (when the model does that), then standardised with the
    /// training set's statistics (the core's functions, as the board does).
    pub fn inputs(&self, data: &KeywordData) -> Result<Vec<f32>> {
        if data.config() != self.config()? {
            return Err(Error::param(
                "data",
                "was loaded with other features than the model's: load it with the model's \
                 configuration",
            ));
        }
        Ok(self
            .front_end
            .prepare(data.features()?, self.network.input().len()))
    }

    fn answer(&self, logits: &[f32]) -> KeywordPrediction {
        let probabilities: Vec<(String, f32)> =
            self.labels.iter().cloned().zip(softmax(logits)).collect();
        KeywordPrediction {
            label: self.labels[argmax(logits)].clone(),
            probabilities,
        }
    }

    /// The answer for a recording of any length and rate (its loudest clip is used).
    pub fn predict(&self, audio: &Audio) -> Result<KeywordPrediction> {
        let config = self.config()?;
        let clip = audio.keyword_clip(&config)?;
        let features = clip.features(&config)?;
        let x = self
            .front_end
            .prepare(features.values, self.network.input().len());
        Ok(self.answer(&self.network.logits(&x)?))
    }

    /// Every clip's answer.
    pub fn predict_all(&self, data: &KeywordData) -> Result<Vec<KeywordPrediction>> {
        let logits = self.network.logits(&self.inputs(data)?)?;
        Ok(logits
            .chunks(self.labels.len())
            .map(|l| self.answer(l))
            .collect())
    }

    /// Accuracy overall, per word and per speaker. Words the model does not know count as
    /// [`UNKNOWN`] when it has that class.
    pub fn evaluate(&self, data: &KeywordData) -> Result<KwsEvaluation> {
        let predicted: Vec<String> = self
            .predict_all(data)?
            .into_iter()
            .map(|p| p.label)
            .collect();
        Ok(keyword_evaluation(
            &format!("keyword {}", self.architecture.name()),
            &self.labels,
            data,
            predicted,
        ))
    }

    /// Loss and accuracy epoch by epoch, as it trained.
    pub fn training_figure(&self, title: &str) -> Figure {
        History::figure_of(self.history.as_ref(), title)
    }

    /// Number of learned values.
    pub fn parameter_count(&self) -> usize {
        self.network.parameter_count()
    }

    /// The model file bytes (the float format of [`crate::nn::file`], with the front end).
    pub fn to_bytes(&self) -> Vec<u8> {
        let front_end = serde_json::to_value(&self.front_end).expect("serialises");
        self.network.to_file_bytes_with(
            &format!("kws-{}", self.architecture.name()),
            &self.labels,
            Some(front_end),
        )
    }

    /// Writes the model file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::write(path, self.to_bytes()).map_err(|e| Error::io(path, e))
    }

    /// Reads a model file written by [`KwsModel::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<KwsModel> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let what = path.display().to_string();
        let (network, header) = Network::from_file_bytes(&bytes, &what)?;
        KwsModel::from_parts(network, header, &what)
    }

    /// The model of a parsed model file (`what` names the file in errors).
    pub fn from_parts(network: Network, header: ModelHeader, what: &str) -> Result<KwsModel> {
        let bad = |m: String| Error::WrongModel(format!("{what}: {m}"));
        let architecture = header
            .kind
            .strip_prefix("kws-")
            .ok_or_else(|| bad(format!("a '{}' model, not a keyword model", header.kind)))
            .and_then(|a| KwsArchitecture::parse(a).map_err(|e| bad(e.to_string())))?;
        let front_end: KeywordFrontEnd = header
            .front_end
            .ok_or_else(|| bad("no feature configuration in the file".into()))
            .and_then(|v| serde_json::from_value(v).map_err(|e| bad(format!("front end: {e}"))))?;
        let config = front_end.features;
        check_clip_config(&config).map_err(|e| bad(e.to_string()))?;
        if front_end.mean.iter().any(|m| !m.is_finite()) {
            return Err(bad("its standardisation has a non-finite mean".into()));
        }
        let coefficients = config.coefficients();
        let expected = config.clip_frames() * coefficients;
        if front_end.mean.len() != coefficients
            || front_end.std.len() != coefficients
            || network.input().len() != expected
            || front_end.std.iter().any(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err(bad(
                "its feature configuration, standardisation and input shape disagree".into(),
            ));
        }
        Ok(KwsModel {
            architecture,
            network,
            labels: header.labels,
            front_end,
            history: None,
        })
    }
}

/// Accuracy overall, per word and per speaker of `predicted` labels for `data`'s clips, for a
/// model with `labels` (float or int8). Words the model does not know count as [`UNKNOWN`]
/// when it has that class.
fn keyword_evaluation(
    name: &str,
    labels: &[String],
    data: &KeywordData,
    predicted: Vec<String>,
) -> KwsEvaluation {
    let knows_unknown = labels.iter().any(|l| l == UNKNOWN);
    let truth: Vec<String> = data
        .labels()
        .iter()
        .map(|l| {
            if !labels.contains(l) && knows_unknown {
                UNKNOWN.to_string()
            } else {
                l.clone()
            }
        })
        .collect();
    let order: Vec<&str> = labels.iter().map(String::as_str).collect();
    KwsEvaluation {
        overall: Evaluation::new(name, &data.source, &truth, &predicted, &order),
        per_speaker: GroupAccuracy::new(&truth, &predicted, data.speakers(), "speaker"),
    }
}

/// How a keyword model did: overall and per word ([`Evaluation`]), per speaker
/// ([`GroupAccuracy`]).
#[derive(Debug, Clone)]
pub struct KwsEvaluation {
    /// Accuracy, confusion matrix, per-class accuracy.
    pub overall: Evaluation,
    /// Accuracy for each speaker, with warnings for anyone left behind.
    pub per_speaker: GroupAccuracy,
}

impl KwsEvaluation {
    /// Fraction right.
    pub fn accuracy(&self) -> f64 {
        self.overall.accuracy()
    }

    /// `tinyml kws eval --json`: the keys of [`Evaluation::json`] plus `per_speaker`
    /// (`{speaker: accuracy}`).
    pub fn json(&self) -> serde_json::Value {
        let mut v = self.overall.json();
        let per_speaker: serde_json::Map<String, serde_json::Value> = self
            .per_speaker
            .groups
            .iter()
            .map(|(g, n, c)| (g.clone(), serde_json::json!(*c as f64 / (*n).max(1) as f64)))
            .collect();
        v["per_speaker"] = serde_json::Value::Object(per_speaker);
        v
    }

    /// Shows accuracy, the confusion matrix and the per-speaker table in Jupyter.
    pub fn evcxr_display(&self) {
        self.overall.evcxr_display();
        self.per_speaker.evcxr_display();
    }
}

/// Most folds [`speaker_folds`] trains when `kws train` tests on voices by itself: with more
/// voices than this, they are dealt into this many groups (a class of 20 trains 3 extra models,
/// not 20, and `kws train` stays within a few minutes).
pub const TRAIN_FOLDS: usize = 3;

/// One fold of [`speaker_folds`]: a model trained without `test_speakers`, tested on them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeakerFold {
    /// The voices held out.
    pub test_speakers: Vec<String>,
    /// Their clips.
    pub test_clips: usize,
    /// Fraction recognised by the float model (0 to 1).
    pub float_accuracy: f64,
    /// Fraction recognised by its int8 model, which the board runs (0 to 1).
    pub int8_accuracy: f64,
    /// Clips on which the float and int8 models answer differently.
    pub disagreements: usize,
}

/// Accuracy on voices a model never heard, each group of voices held out in turn (see
/// [`speaker_folds`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeakerFolds {
    /// One per group of held-out voices.
    pub folds: Vec<SpeakerFold>,
}

impl SpeakerFolds {
    /// Mean float accuracy over the folds (each fold counts once, whatever its clips).
    pub fn mean(&self) -> f64 {
        mean_of(self.folds.iter().map(|f| f.float_accuracy))
    }

    /// Mean int8 accuracy over the folds.
    pub fn int8_mean(&self) -> f64 {
        mean_of(self.folds.iter().map(|f| f.int8_accuracy))
    }

    /// Per fold: the voices held out, float and int8 accuracy, and where they differ; then the
    /// means.
    pub fn table(&self) -> Table {
        let mut t = Table::new(&["test speakers", "float", "int8", "float ≠ int8"]);
        for f in &self.folds {
            t.push(vec![
                f.test_speakers.join(", "),
                percent(f.float_accuracy),
                percent(f.int8_accuracy),
                format!("{} of {}", f.disagreements, f.test_clips),
            ]);
        }
        let differ: usize = self.folds.iter().map(|f| f.disagreements).sum();
        let clips: usize = self.folds.iter().map(|f| f.test_clips).sum();
        t.push(vec![
            "mean".into(),
            percent(self.mean()),
            percent(self.int8_mean()),
            format!("{differ} of {clips}"),
        ]);
        t
    }

    /// `folds` (each with its fields), `mean` and `int8_mean`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "folds": self.folds,
            "mean": self.mean(),
            "int8_mean": self.int8_mean(),
        })
    }

    /// Shows the table in Jupyter.
    pub fn evcxr_display(&self) {
        self.table().evcxr_display();
    }
}

fn mean_of(values: impl ExactSizeIterator<Item = f64>) -> f64 {
    let n = values.len().max(1) as f64;
    values.sum::<f64>() / n
}

/// Augmented copies of each clip in [`train_for_listening`].
pub const LISTENING_COPIES: usize = 3;
/// Epochs of [`train_for_listening`].
pub const LISTENING_EPOCHS: usize = 6;
/// Examples that calibrate [`train_for_listening`]'s int8 model.
pub const LISTENING_CALIBRATION: usize = 500;

/// The Day 3 recipe for a model that listens: [`LISTENING_COPIES`] augmented copies of every
/// clip (shifted up to 100 ms, faster or slower, noise) and "silence" clips (an eighth as many
/// as the clips), [`LISTENING_EPOCHS`] epochs, quantized to int8 on
/// [`LISTENING_CALIBRATION`] of the examples. On a board a word can sit anywhere in the
/// window, and most windows hold no word at all: `cargo bench --bench recognizer` measures
/// this recipe against the clips as they are.
pub fn train_for_listening(data: &KeywordData, seed: u64) -> Result<QuantizedModel> {
    let examples = data
        .augmented(&Augmentation::new().copies(LISTENING_COPIES), seed)?
        .with_silence(data.len() / 8, seed);
    let model = KwsTrainer::params()
        .epochs(LISTENING_EPOCHS)
        .seed(seed)
        .progress(false)
        .fit(&examples, None)?;
    model.quantize(&examples.sample(LISTENING_CALIBRATION, 1)?)
}

/// Holds each group of voices out in turn: trains on the others (augmented with
/// `augmentation`, "unknown" and "silence" added as `trainer` says), and scores the float model
/// and its int8 model (calibrated on [`CALIBRATION_EXAMPLES`] training clips, as the course
/// does) on the held-out voices. With `most_folds` or fewer voices each is its own fold ("leave
/// one speaker out"); with more, the voices (sorted) are dealt into `most_folds` groups in
/// turn. Needs at least two voices.
pub fn speaker_folds(
    data: &KeywordData,
    trainer: &KwsTrainer,
    augmentation: &Augmentation,
    seed: u64,
    most_folds: usize,
) -> Result<SpeakerFolds> {
    augmentation.validate()?;
    let voices = at_least_two_voices(data, "testing on voices the model never heard")?;
    let groups = most_folds.clamp(2, voices.len());
    let mut held: Vec<Vec<&str>> = vec![Vec::new(); groups];
    for (i, voice) in voices.iter().enumerate() {
        held[i % groups].push(voice.as_str());
    }
    let mut folds = Vec::with_capacity(groups);
    for (n, test_speakers) in held.iter().enumerate() {
        // Fewer words than the whole data is fine: `fit` adds "unknown" and "silence" and
        // says when a fold is left with one class.
        let (train, test) = data.split_by_speaker(test_speakers)?;
        let model = trainer.fit(&train.augmented(augmentation, seed)?, None)?;
        let int8 = model.quantize(&train.sample(CALIBRATION_EXAMPLES, 1)?)?;
        let report = model.quantization_report(&int8, &test)?;
        if trainer.train.shows_progress() {
            eprintln!(
                "fold {} of {groups}: without {} → {} (int8 {})",
                n + 1,
                test_speakers.join(", "),
                percent(report.float_accuracy),
                percent(report.int8_accuracy)
            );
        }
        folds.push(SpeakerFold {
            test_speakers: test_speakers.iter().map(|s| s.to_string()).collect(),
            test_clips: test.len(),
            float_accuracy: report.float_accuracy,
            int8_accuracy: report.int8_accuracy,
            disagreements: report.disagreements,
        });
    }
    Ok(SpeakerFolds { folds })
}

/// Most sets of training voices per held-out voice and count in [`voice_curve`] (five speakers
/// have at most 6 sets of a given size).
pub const MAX_VOICE_SETS: usize = 6;

/// Most models [`voice_curve`] agrees to train (six speakers need 138; seven would need 217).
pub const MAX_VOICE_MODELS: usize = 150;

/// One model of a [`VoiceCurve`]: trained on `train_speakers`, tested on `test_speaker`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoiceRun {
    /// The voice the model never heard.
    pub test_speaker: String,
    /// The voices it was trained on.
    pub train_speakers: Vec<String>,
    /// Clips trained on, before augmentation (generated silence included).
    pub train_clips: usize,
    /// Clips of `test_speaker`.
    pub test_clips: usize,
    /// Fraction of `test_speaker`'s clips recognised (0 to 1).
    pub accuracy: f64,
}

/// How accuracy on a voice never heard grows with the number of voices trained on (see
/// [`voice_curve`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoiceCurve {
    /// Every model trained, in the order trained.
    pub runs: Vec<VoiceRun>,
}

/// One point of a [`VoiceCurve`]: the models trained on `voices` voices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VoicePoint {
    /// Voices trained on.
    pub voices: usize,
    /// Models trained with that many voices.
    pub models: usize,
    /// Their mean accuracy on the voice each one never heard (0 to 1).
    pub mean: f64,
    /// The worst of them (0 to 1).
    pub min: f64,
    /// The best of them (0 to 1).
    pub max: f64,
}

impl VoiceCurve {
    /// Mean, worst and best accuracy for each number of training voices, fewest first.
    pub fn points(&self) -> Vec<VoicePoint> {
        let most = self.runs.iter().map(|r| r.train_speakers.len()).max();
        (1..=most.unwrap_or(0))
            .filter_map(|voices| {
                let acc: Vec<f64> = self
                    .runs
                    .iter()
                    .filter(|r| r.train_speakers.len() == voices)
                    .map(|r| r.accuracy)
                    .collect();
                (!acc.is_empty()).then(|| VoicePoint {
                    voices,
                    models: acc.len(),
                    mean: acc.iter().sum::<f64>() / acc.len() as f64,
                    min: acc.iter().copied().fold(f64::INFINITY, f64::min),
                    max: acc.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                })
            })
            .collect()
    }

    /// One row per number of training voices.
    pub fn table(&self) -> Table {
        let mut t = Table::new(&["voices trained on", "models", "mean", "worst", "best"]);
        for p in self.points() {
            t.push(vec![
                p.voices.to_string(),
                p.models.to_string(),
                percent(p.mean),
                percent(p.min),
                percent(p.max),
            ]);
        }
        t
    }

    /// Every model as a dot, and the mean as a line.
    pub fn figure(&self) -> Figure {
        let dots = self
            .runs
            .iter()
            .map(|r| (r.train_speakers.len() as f64, 100.0 * r.accuracy))
            .collect();
        let mean = self
            .points()
            .iter()
            .map(|p| (p.voices as f64, 100.0 * p.mean))
            .collect();
        Figure::lines(
            "Accuracy on a voice the model never heard",
            "voices trained on",
            "accuracy (%)",
        )
        .dots("one model", dots)
        .line("mean", mean)
        .legend_lower_right()
    }

    /// `tinyml kws voices --json`: `points` (as [`VoiceCurve::points`]) and `runs`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "points": self.points(), "runs": self.runs })
    }

    /// Shows the figure and the table in Jupyter.
    pub fn evcxr_display(&self) {
        self.figure().evcxr_display();
        self.table().evcxr_display();
    }
}

/// Trains on 1, 2, … voices and tests on one never heard, to show what more speakers are
/// worth. Each speaker in turn is held out; for each number of voices, models are trained on
/// every set of that many other speakers (at most [`MAX_VOICE_SETS`] sets, evenly spaced among
/// all of them), each with `augmentation` (and `seed`) and `trainer`. Prints a line per model on
/// stderr as it goes: five speakers make 75 models, about 20 minutes on 2 cores with the
/// course's settings (`KwsTrainer::params().epochs(20)`, `Augmentation::new().copies(3)`, seed
/// 7). Every training set is checked before the first model: the data needs 2 to 6 speakers, and
/// every speaker at least two words (or generated silence beside one word).
pub fn voice_curve(
    data: &KeywordData,
    trainer: &KwsTrainer,
    augmentation: &Augmentation,
    seed: u64,
) -> Result<VoiceCurve> {
    augmentation.validate()?;
    let voices = at_least_two_voices(data, "a curve over voices")?;
    let models = voice_model_count(voices.len());
    if models > MAX_VOICE_MODELS {
        return Err(Error::param(
            "data",
            format!(
                "has {} voices, which would mean {models} models (more than {MAX_VOICE_MODELS}, \
                 days of training): keep 6 speakers or fewer (`tinyml kws voices --speakers \
                 a,b,…`, or `split_by_speaker`)",
                voices.len()
            ),
        ));
    }
    let plan = voice_plan(&voices);
    // Every training set's words, from the labels alone (the clips are copied one model at a
    // time, below).
    for (_, train_speakers) in &plan {
        let words: BTreeSet<&str> = (0..data.len())
            .filter(|&i| {
                let s = &data.speakers[i];
                s == NOISE_SPEAKER || train_speakers.contains(s)
            })
            .map(|i| data.labels[i].as_str())
            .collect();
        if words.len() < 2 {
            return Err(Error::param(
                "data",
                format!(
                    "training on {} alone gives one word ('{}'): each speaker needs at least \
                     two words for a curve over voices",
                    train_speakers.join(", "),
                    words.first().copied().unwrap_or("none")
                ),
            ));
        }
    }
    let mut runs = Vec::with_capacity(plan.len());
    for (n, (test_speaker, train_speakers)) in plan.into_iter().enumerate() {
        let train_on: Vec<&str> = train_speakers.iter().map(String::as_str).collect();
        let train = data.with_voices(&train_on)?;
        let test = data.subset(|i| data.speakers[i] == test_speaker);
        let model = trainer.fit(&train.augmented(augmentation, seed)?, None)?;
        let accuracy = model.evaluate(&test)?.accuracy();
        eprintln!(
            "model {} of {models}: {test_speaker} after {} → {}",
            n + 1,
            train_speakers.join(", "),
            percent(accuracy)
        );
        runs.push(VoiceRun {
            test_speaker,
            train_speakers,
            train_clips: train.len(),
            test_clips: test.len(),
            accuracy,
        });
    }
    Ok(VoiceCurve { runs })
}

/// The data's voices, or why `what` needs recordings of at least two.
fn at_least_two_voices(data: &KeywordData, what: &str) -> Result<Vec<String>> {
    let voices = data.voice_names();
    if voices.len() < 2 {
        return Err(Error::param(
            "data",
            format!(
                "has {} voice(s): {what} needs recordings of at least two speakers",
                voices.len()
            ),
        ));
    }
    Ok(voices)
}

/// Models [`voice_curve`] trains for `voices` speakers.
fn voice_model_count(voices: usize) -> usize {
    let others = voices.saturating_sub(1);
    let sets: usize = (1..=others)
        .map(|size| binomial(others, size).min(MAX_VOICE_SETS))
        .sum();
    voices.saturating_mul(sets)
}

/// `n` choose `k`, saturating.
fn binomial(n: usize, k: usize) -> usize {
    if k > n {
        return 0;
    }
    (0..k.min(n - k)).fold(1usize, |c, i| c.saturating_mul(n - i) / (i + 1))
}

/// `(test speaker, training speakers)` of every model of [`voice_curve`].
fn voice_plan(voices: &[String]) -> Vec<(String, Vec<String>)> {
    let mut plan = Vec::new();
    for (held_out, test) in voices.iter().enumerate() {
        let others: Vec<&String> = voices.iter().filter(|v| *v != test).collect();
        for size in 1..=others.len() {
            let sets = subsets_of_size(others.len(), size);
            let take = sets.len().min(MAX_VOICE_SETS);
            // `take` sets evenly spaced among all of them (every set when there are few),
            // starting further along for each held-out speaker so that all sets get their turn.
            let at = |j: usize| (j * sets.len() / take + held_out) % sets.len();
            for set in (0..take).map(|j| &sets[at(j)]) {
                let train = set.iter().map(|&i| others[i].clone()).collect();
                plan.push((test.clone(), train));
            }
        }
    }
    plan
}

/// Every set of `size` of the indices `0..n`, in lexicographic order.
fn subsets_of_size(n: usize, size: usize) -> Vec<Vec<usize>> {
    let mut sets = Vec::new();
    let mut set: Vec<usize> = (0..size).collect();
    if size == 0 || size > n {
        return sets;
    }
    loop {
        sets.push(set.clone());
        // The rightmost index that can still move right.
        let Some(i) = (0..size).rev().find(|&i| set[i] < n - size + i) else {
            return sets;
        };
        set[i] += 1;
        for j in i + 1..size {
            set[j] = set[j - 1] + 1;
        }
    }
}

impl KwsModel {
    /// The int8 model for the board, calibrated on `calibration` (training clips; the
    /// features' range is taken between the 0.01th and 99.99th percentiles, which ignores a few
    /// outlying frames and keeps resolution for the rest).
    pub fn quantize(&self, calibration: &KeywordData) -> Result<QuantizedModel> {
        self.quantize_with(calibration, Calibration::Percentile(0.01))
    }

    /// [`KwsModel::quantize`] with a chosen [`Calibration`].
    pub fn quantize_with(
        &self,
        calibration: &KeywordData,
        method: Calibration,
    ) -> Result<QuantizedModel> {
        quantize(
            &self.network,
            &self.labels,
            &InputKind::Keywords(self.front_end.clone()),
            &self.inputs(calibration)?,
            &QuantizeOptions {
                calibration: method,
                kind: format!("kws-{}", self.architecture.name()),
            },
        )
    }

    /// Float and int8 accuracy and sizes on `test`, side by side.
    pub fn quantization_report(
        &self,
        int8: &QuantizedModel,
        test: &KeywordData,
    ) -> Result<QuantizationReport> {
        let float: Vec<String> = self
            .predict_all(test)?
            .into_iter()
            .map(|p| p.label)
            .collect();
        let quantized = int8.predict_keywords(test)?;
        let name = format!("kws-{}", self.architecture.name());
        let f = keyword_evaluation(&name, &self.labels, test, float.clone());
        let q = keyword_evaluation(&name, &self.labels, test, quantized.clone());
        Ok(QuantizationReport {
            model: name,
            examples: test.len(),
            float_accuracy: f.accuracy(),
            int8_accuracy: q.accuracy(),
            float_bytes: 4 * self.parameter_count(),
            int8_bytes: int8.size_bytes(),
            arena_bytes: int8.arena_bytes(),
            disagreements: float.iter().zip(&quantized).filter(|(a, b)| a != b).count(),
        })
    }
}

impl QuantizedModel {
    /// The feature configuration of a keyword model, or why this is not one.
    pub fn keyword_config(&self) -> Result<FeatureConfig> {
        match self.model().front_end() {
            Ok(tinyml_core::model::FrontEnd::Mfcc { config, .. }) => Ok(config),
            _ => Err(Error::WrongModel(format!(
                "this int8 model ({}) is not a keyword model (it has no MFCC front end)",
                self.kind
            ))),
        }
    }

    /// The int8 input of one clip's features, exactly as the board makes it.
    pub fn keyword_input(&self, features: &AudioFeatures) -> Result<Vec<i8>> {
        self.quantize_input(&features.values)
    }

    /// The int8 answer for a recording of any length and rate (its loudest clip), through the
    /// board's front end and interpreter.
    pub fn predict_keyword(&self, audio: &Audio) -> Result<KeywordPrediction> {
        let config = self.keyword_config()?;
        let features = audio.keyword_clip(&config)?.features(&config)?;
        let out = self.simulate(&self.keyword_input(&features)?)?;
        Ok(self.keyword_answer(&out))
    }

    /// The answer that raw int8 outputs (from `simulate` or a board's Predict) stand for: the
    /// first largest output's label, and the outputs as probabilities.
    /// Outputs past the labels (a device that answered with another model) are left out.
    pub fn keyword_answer(&self, out: &[i8]) -> KeywordPrediction {
        let labels = self.labels();
        let out = &out[..out.len().min(labels.len())];
        let best = tinyml_core::int8::argmax(out);
        KeywordPrediction {
            label: match out.is_empty() {
                true => String::new(),
                false => labels[best].clone(),
            },
            probabilities: labels.into_iter().zip(self.probabilities(out)).collect(),
        }
    }

    /// Every clip's int8 label.
    pub fn predict_keywords(&self, data: &KeywordData) -> Result<Vec<String>> {
        let config = self.keyword_config()?;
        if data.config() != config {
            return Err(Error::param(
                "data",
                "was loaded with other features than the model's: load it with the model's \
                 configuration",
            ));
        }
        let model = self.model();
        let per = model.input().len();
        let features = data.features()?;
        let mut session = Session::new(&model);
        let mut x = vec![0i8; per];
        let names = self.labels();
        let mut labels = Vec::with_capacity(data.len());
        for clip in features.chunks_exact(per) {
            let mut f = clip.to_vec();
            model
                .quantize_input(&mut f, &mut x)
                .map_err(|e| Error::WrongModel(format!("{}: {e}", self.kind)))?;
            let out = session.run_ref(&model, &x, Kernels::Optimized)?;
            labels.push(names[tinyml_core::int8::argmax(out)].clone());
        }
        Ok(labels)
    }

    /// Accuracy overall, per word and per speaker of the int8 model on `data`.
    pub fn evaluate_keywords(&self, data: &KeywordData) -> Result<KwsEvaluation> {
        let predicted = self.predict_keywords(data)?;
        Ok(keyword_evaluation(
            &format!("int8 {}", self.kind),
            &self.labels(),
            data,
            predicted,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_are_every_choice_once_in_order() {
        assert_eq!(
            subsets_of_size(4, 2),
            [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
        );
        assert_eq!(subsets_of_size(3, 3), [[0, 1, 2]]);
        assert!(subsets_of_size(3, 0).is_empty() && subsets_of_size(2, 3).is_empty());
        // C(9, 4) sets, none repeated.
        let sets = subsets_of_size(9, 4);
        assert_eq!(sets.len(), 126);
        assert_eq!(sets.iter().collect::<BTreeSet<_>>().len(), 126);
    }

    #[test]
    fn the_voice_plan_holds_each_speaker_out_with_spread_sets() {
        let names = |n: usize| (0..n).map(|i| format!("s{i}")).collect::<Vec<String>>();
        // Five speakers: every set of the other four, 15 per held-out speaker.
        let plan = voice_plan(&names(5));
        assert_eq!(plan.len(), 75);
        for (test, train) in &plan {
            assert!(!train.contains(test) && !train.is_empty());
        }
        // Nine: at most MAX_VOICE_SETS sets of each size, spread over all the sets.
        let plan = voice_plan(&names(9));
        let of_s0: Vec<&Vec<String>> = plan
            .iter()
            .filter(|(t, _)| t == "s0")
            .map(|(_, train)| train)
            .collect();
        for size in 1..=8 {
            let sets: Vec<_> = of_s0.iter().filter(|t| t.len() == size).collect();
            let all = subsets_of_size(8, size).len();
            assert_eq!(sets.len(), all.min(MAX_VOICE_SETS), "size {size}");
            assert_eq!(sets.iter().collect::<BTreeSet<_>>().len(), sets.len());
        }
        // Of the 70 sets of four, the last one taken is past the middle.
        let fours: Vec<_> = of_s0.iter().filter(|t| t.len() == 4).collect();
        assert_eq!(fours[0].as_slice(), ["s1", "s2", "s3", "s4"]);
        assert!(fours.last().unwrap()[0].as_str() >= "s3");
        assert_eq!(plan.len(), 9 * of_s0.len());
        // Later held-out speakers start further along: s0's six single voices leave out s4 and
        // s8, but over all nine held-out speakers every voice is trained on alone.
        let singles = |t: &str| -> Vec<String> {
            plan.iter()
                .filter(|(test, train)| test == t && train.len() == 1)
                .map(|(_, train)| train[0].clone())
                .collect()
        };
        assert_eq!(singles("s0"), ["s1", "s2", "s3", "s5", "s6", "s7"]);
        let everyone: BTreeSet<String> = (0..9).flat_map(|i| singles(&format!("s{i}"))).collect();
        assert_eq!(everyone.len(), 9);
        // The count the curve checks before training matches the plan.
        for n in 2..=9 {
            assert_eq!(
                voice_model_count(n),
                voice_plan(&names(n)).len(),
                "{n} voices"
            );
        }
        assert_eq!(
            (
                voice_model_count(5),
                voice_model_count(6),
                voice_model_count(7)
            ),
            (75, 138, 217)
        );
        assert!(voice_model_count(2_000) > MAX_VOICE_MODELS);
        assert_eq!(
            (binomial(8, 4), binomial(3, 5), binomial(60, 30)),
            (70, 0, 118_264_581_564_861_424)
        );
    }
}
