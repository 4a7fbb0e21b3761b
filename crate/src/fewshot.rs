//! Few-shot keywords: a keyword *embedding* trained once, offline, on a bank of many words, and a
//! small head fitted on a student's few takes of their own words (after Mazumder, Banbury, Meyer,
//! Warden and Janapa Reddi, "Few-Shot Keyword Spotting in Any Language", Interspeech 2021).
//!
//! The bank ([`bank_plan`], [`make_bank`]) is made here, without the internet: made-up words
//! spoken by Debian's `espeak-ng` in [`BANK_LANGUAGES`], each take in another of its voice
//! variants, pitches and speeds, written in the Speech Commands layout. Synthetic voices alone
//! teach little about how people differ, so the embedding ([`train_embedding`]) also learns the
//! real voices the repository holds: the spoken digits "0" to "4". The words "5" to "9" never
//! enter it (nor those numbers in any bank language: [`EXCLUDED_WORDS`]), since the few-shot
//! curves test on them.
//!
//! A few-shot model ([`crate::kws::KwsTrainer::few_shot`]) keeps the embedding's convolutions as
//! they are and learns one dense layer on their flattened output for the student's words (a head
//! on the convolutions measured better than one on the narrow dense layer the embedding is trained
//! through: README, "Few-shot keywords"). It is one model file that `quantize`, `deploy`, the
//! simulator and the board run like any other keyword model.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audio::Audio;
use crate::error::{Error, Result};
use crate::front_end::KeywordFrontEnd;
use crate::kws::{Augmentation, KeywordData, KwsArchitecture, KwsModel, KwsTrainer};
use crate::lab::find_on_path;
use crate::metrics::percent;
use crate::nn::{Layer, Network};
use crate::plot::Table;
use crate::rng::Rng;

/// The espeak-ng languages of the bank: each reads the made-up words by its own rules, so the
/// same letters become other sounds.
pub const BANK_LANGUAGES: [&str; 24] = [
    "af", "ca", "cs", "cy", "da", "de", "en-us", "es", "et", "eu", "fi", "fr-fr", "hr", "hu", "id",
    "it", "lt", "nl", "pl", "pt", "ro", "sv", "sw", "tr",
];

/// The espeak-ng voice variants of the bank's takes (the human-sounding ones: no robots,
/// whispers or novelty voices).
pub const BANK_VARIANTS: [&str; 36] = [
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "adam", "anika",
    "andrea", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward", "grandma",
    "grandpa", "iven", "john", "linda", "max", "michel", "norbert", "pablo", "paul", "steph",
    "victor",
];

/// The numbers five to nine in English and in every language of [`BANK_LANGUAGES`], without
/// accents: no bank word is one of them, begins or ends with one of three letters or more, so
/// that the embedding never hears the words the few-shot curves are measured on.
pub const EXCLUDED_WORDS: [&str; 120] = [
    "vyf",
    "ses",
    "sewe",
    "agt",
    "nege", // af
    "cinc",
    "sis",
    "set",
    "vuit",
    "nou", // ca
    "pet",
    "sest",
    "sedm",
    "osm",
    "devet", // cs
    "pump",
    "chwech",
    "saith",
    "wyth",
    "naw", // cy
    "fem",
    "seks",
    "syv",
    "otte",
    "ni", // da
    "funf",
    "sechs",
    "sieben",
    "acht",
    "neun", // de
    "five",
    "six",
    "seven",
    "eight",
    "nine", // en
    "cinco",
    "seis",
    "siete",
    "ocho",
    "nueve", // es
    "viis",
    "kuus",
    "seitse",
    "kaheksa",
    "uheksa", // et
    "bost",
    "sei",
    "zazpi",
    "zortzi",
    "bederatzi", // eu
    "viisi",
    "kuusi",
    "seitseman",
    "kahdeksan",
    "yhdeksan", // fi
    "cinq",
    "six",
    "sept",
    "huit",
    "neuf", // fr
    "pet",
    "sest",
    "sedam",
    "osam",
    "devet", // hr
    "ot",
    "hat",
    "het",
    "nyolc",
    "kilenc", // hu
    "lima",
    "enam",
    "tujuh",
    "delapan",
    "sembilan", // id
    "cinque",
    "sei",
    "sette",
    "otto",
    "nove", // it
    "penki",
    "sesi",
    "septyni",
    "astuoni",
    "devyni", // lt
    "vijf",
    "zes",
    "zeven",
    "acht",
    "negen", // nl
    "piec",
    "szesc",
    "siedem",
    "osiem",
    "dziewiec", // pl
    "cinco",
    "seis",
    "sete",
    "oito",
    "nove", // pt
    "cinci",
    "sase",
    "sapte",
    "opt",
    "noua", // ro
    "fem",
    "sex",
    "sju",
    "atta",
    "nio", // sv
    "tano",
    "sita",
    "saba",
    "nane",
    "tisa", // sw
    "bes",
    "alti",
    "yedi",
    "sekiz",
    "dokuz", // tr
];

/// The spoken digits the embedding learns real voices from ("5" to "9" are left out).
pub const REAL_WORDS: [&str; 5] = ["0", "1", "2", "3", "4"];

/// The file the kit ships: `data/kws_embedding.tkf` (or `$TINYML_DATA/kws_embedding.tkf`).
pub const EMBEDDING_FILE: &str = "kws_embedding.tkf";

/// How a bank is made; every default is in [`BankParams::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankParams {
    /// Made-up words.
    pub words: usize,
    /// Takes of each word, each by another voice.
    pub takes: usize,
    /// Seed of the words and the voices.
    pub seed: u64,
}

impl Default for BankParams {
    fn default() -> Self {
        BankParams::new()
    }
}

impl BankParams {
    /// Defaults: 1,000 words, 20 takes each (20,000 clips), seed 1.
    pub fn new() -> BankParams {
        BankParams {
            words: 1_000,
            takes: 20,
            seed: 1,
        }
    }
}

/// One made-up word of the bank and the language that reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankWord {
    /// The letters espeak-ng reads (also the word's folder).
    pub text: String,
    /// The espeak-ng language.
    pub language: String,
}

/// One take: which word, said by which voice, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankTake {
    /// Index into [`BankPlan::words`].
    pub word: usize,
    /// espeak-ng voice variant.
    pub variant: String,
    /// espeak-ng pitch (0 to 99).
    pub pitch: u32,
    /// espeak-ng speed, words per minute.
    pub speed: u32,
    /// The file, relative to the bank folder (`<word>/<speaker>_nohash_<n>.wav`).
    pub file: String,
}

/// Every word and take of a bank, decided by its seed alone (`bank.json` in the bank folder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankPlan {
    /// How it was asked for.
    pub params: BankParams,
    /// The words.
    pub words: Vec<BankWord>,
    /// The takes, word by word.
    pub takes: Vec<BankTake>,
    /// Words no bank word may be (see [`EXCLUDED_WORDS`]).
    pub excluded: Vec<String>,
}

/// The plan of a bank: `params.words` made-up words (two or three syllables, each read by one
/// of [`BANK_LANGUAGES`]) and `params.takes` takes of each, by voices drawn from
/// [`BANK_VARIANTS`] at random pitches (20 to 80) and speeds (120 to 190 words per minute).
pub fn bank_plan(params: &BankParams) -> Result<BankPlan> {
    if !(2..=20_000).contains(&params.words) {
        return Err(Error::param(
            "words",
            format!("{} (use 2 to 20000)", params.words),
        ));
    }
    if !(2..=200).contains(&params.takes) {
        return Err(Error::param(
            "takes",
            format!("{} (use 2 to 200)", params.takes),
        ));
    }
    const ONSETS: [&str; 22] = [
        "b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "sh",
        "tr", "pl", "kr", "br", "st",
    ];
    const VOWELS: [&str; 5] = ["a", "e", "i", "o", "u"];
    const CODAS: [&str; 9] = ["", "", "", "n", "m", "r", "l", "s", "k"];
    let mut rng = Rng::new(params.seed);
    let mut words: Vec<BankWord> = Vec::with_capacity(params.words);
    let mut seen = std::collections::BTreeSet::new();
    let mut tries = 0usize;
    while words.len() < params.words {
        tries += 1;
        if tries > 1_000 * params.words {
            return Err(Error::param(
                "words",
                "too many for the syllables the bank has",
            ));
        }
        let syllables = 2 + rng.index(2);
        let mut text = String::new();
        for s in 0..syllables {
            text += ONSETS[rng.index(ONSETS.len())];
            text += VOWELS[rng.index(VOWELS.len())];
            if s + 1 == syllables || rng.index(3) == 0 {
                text += CODAS[rng.index(CODAS.len())];
            }
        }
        let language = BANK_LANGUAGES[rng.index(BANK_LANGUAGES.len())];
        if is_excluded(&text) || !seen.insert(text.clone()) {
            continue;
        }
        words.push(BankWord {
            text,
            language: language.to_string(),
        });
    }
    let mut takes = Vec::with_capacity(params.words * params.takes);
    for (w, word) in words.iter().enumerate() {
        let mut variants: Vec<&str> = BANK_VARIANTS.to_vec();
        rng.shuffle(&mut variants);
        for n in 0..params.takes {
            let variant = variants[n % variants.len()];
            let pitch = 20 + rng.index(61) as u32;
            let speed = 120 + rng.index(71) as u32;
            let speaker = format!("{}-{variant}-p{pitch}-s{speed}", word.language);
            takes.push(BankTake {
                word: w,
                variant: variant.to_string(),
                pitch,
                speed,
                file: format!("{}/{speaker}_nohash_{n}.wav", word.text),
            });
        }
    }
    let mut excluded: Vec<String> = EXCLUDED_WORDS.iter().map(|w| w.to_string()).collect();
    excluded.sort();
    excluded.dedup();
    Ok(BankPlan {
        params: params.clone(),
        words,
        takes,
        excluded,
    })
}

/// True when `word` is one of [`EXCLUDED_WORDS`], or begins or ends with one of three letters
/// or more.
pub fn is_excluded(word: &str) -> bool {
    let word = word.to_lowercase();
    EXCLUDED_WORDS
        .iter()
        .any(|x| word == *x || (x.len() >= 3 && (word.starts_with(x) || word.ends_with(x))))
}

/// What [`make_bank`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BankReport {
    /// Takes written now.
    pub written: usize,
    /// Takes that were there already (a bank is made again only where it is missing).
    pub kept: usize,
    /// The espeak-ng that spoke them (`espeak-ng --version`).
    pub espeak_ng: String,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Speaks every take of `plan` with espeak-ng (on all cores) into `out` as 16 kHz 16-bit WAV,
/// the loudest second of each, and writes the plan as `bank.json`. Takes already there are
/// kept, so a bank interrupted half way is finished by running it again; a folder holding
/// another plan's bank is refused.
pub fn make_bank(plan: &BankPlan, out: &Path, progress: bool) -> Result<BankReport> {
    let started = std::time::Instant::now();
    let espeak = find_on_path("espeak-ng").ok_or_else(|| Error::Audio {
        path: out.to_path_buf(),
        message: "espeak-ng is not installed, and it speaks the keyword bank: install it \
                  (Debian/Ubuntu: sudo apt-get install espeak-ng; macOS: brew install espeak-ng)"
            .into(),
    })?;
    let version = Command::new(&espeak)
        .arg("--version")
        .output()
        .map_err(|e| Error::io(&espeak, e))?;
    // "eSpeak NG text-to-speech: 1.51  Data at: /usr/lib/…": the version, not the folder.
    let version = String::from_utf8_lossy(&version.stdout);
    let version = version
        .split("  Data at")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let manifest = out.join("bank.json");
    let json = serde_json::to_string_pretty(plan).expect("a plan serialises");
    match std::fs::read_to_string(&manifest) {
        Ok(existing) if existing != json => {
            return Err(Error::param(
                "out",
                format!(
                    "{} holds a bank of other words or voices: choose an empty folder",
                    out.display()
                ),
            ))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::fs::read_dir(out)
                .map_err(|e| Error::io(out, e))?
                .next()
                .is_some()
            {
                return Err(Error::param(
                    "out",
                    format!(
                        "{} is not empty and holds no bank: choose an empty folder",
                        out.display()
                    ),
                ));
            }
            std::fs::write(&manifest, &json).map_err(|e| Error::io(&manifest, e))?;
        }
        Err(e) => return Err(Error::io(&manifest, e)),
    }
    let done = AtomicUsize::new(0);
    let kept = AtomicUsize::new(0);
    let config = tinyml_core::mfcc::FeatureConfig::KEYWORDS;
    plan.takes.par_iter().try_for_each(|take| -> Result<()> {
        let path = out.join(&take.file);
        if path.is_file() {
            kept.fetch_add(1, Ordering::Relaxed);
        } else {
            let word = &plan.words[take.word];
            // Written whole under temporary names, then renamed: an interrupted run leaves no
            // half file that the next run would keep. (espeak-ng's --stdout WAV has no length.)
            let spoken_path = path.with_extension("espeak.part");
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            let spoken = Command::new(&espeak)
                .args(["-v", &format!("{}+{}", word.language, take.variant)])
                .args(["-p", &take.pitch.to_string(), "-s", &take.speed.to_string()])
                .arg("-w")
                .arg(&spoken_path)
                .arg(&word.text)
                .output()
                .map_err(|e| Error::io(&espeak, e))?;
            if !spoken.status.success() {
                return Err(Error::Audio {
                    path,
                    message: format!(
                        "espeak-ng could not say '{}' as {}+{}: {}",
                        word.text,
                        word.language,
                        take.variant,
                        String::from_utf8_lossy(&spoken.stderr).trim()
                    ),
                });
            }
            let clip = Audio::load(&spoken_path)?.keyword_clip(&config)?;
            std::fs::remove_file(&spoken_path).map_err(|e| Error::io(&spoken_path, e))?;
            let partial = path.with_extension("wav.part");
            clip.save(&partial)?;
            std::fs::rename(&partial, &path).map_err(|e| Error::io(&path, e))?;
        }
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if progress && (n.is_multiple_of(1_000) || n == plan.takes.len()) {
            eprintln!("bank: {n}/{} takes", plan.takes.len());
        }
        Ok(())
    })?;
    let kept = kept.into_inner();
    Ok(BankReport {
        written: plan.takes.len() - kept,
        kept,
        espeak_ng: version,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A bank of words (made by [`make_bank`]) with the real voices of the kit's spoken digits
/// [`REAL_WORDS`] (by every speaker but `hold_out`), as one dataset to train an embedding on.
pub fn embedding_data(bank: &Path, hold_out: &[&str]) -> Result<KeywordData> {
    if !bank.join("bank.json").is_file() {
        return Err(Error::Audio {
            path: bank.to_path_buf(),
            message: format!(
                "not a keyword bank (no bank.json): make one with `tinyml kws bank --out {}`",
                bank.display()
            ),
        });
    }
    let words = KeywordData::load(bank)?;
    let digits = KeywordData::course_default()?;
    let names = digits.voice_names();
    if let Some(h) = hold_out.iter().find(|h| !names.iter().any(|v| v == *h)) {
        return Err(Error::param(
            "hold_out",
            format!(
                "'{h}' is not a speaker of the spoken digits ({})",
                names.join(", ")
            ),
        ));
    }
    let voices: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|v| !hold_out.contains(v))
        .collect();
    let real = digits.with_voices(&voices)?.only_words(&REAL_WORDS)?;
    words.merged(&real)
}

/// How an embedding is trained; every default is here: the [`KwsArchitecture::Embedding`]
/// network, 30 epochs, batch 64, Adam 1e-3, no "unknown" or "silence" (the bank's words are
/// the classes).
pub fn embedding_trainer() -> KwsTrainer {
    KwsTrainer::params()
        .architecture(KwsArchitecture::Embedding)
        .unknown(false)
        .silence(false)
        .epochs(30)
        .batch_size(64)
        .learning_rate(1e-3)
}

/// Altered copies (shifted, faster or slower, with noise: [`Augmentation::new`]'s settings) of
/// each generated clip of the bank that an embedding learns from besides the clip itself.
pub const BANK_COPIES: usize = 1;

/// Altered copies of each real voice's clip: the few real voices weigh as much as they can
/// without being learnt by heart, since they teach what the generated ones cannot.
pub const REAL_VOICE_COPIES: usize = 9;

/// Trains a keyword embedding on `data` ([`embedding_data`]) with `trainer`
/// ([`embedding_trainer`]): a classifier over the bank's words whose last layer the few-shot
/// models replace. The bank's clips get [`BANK_COPIES`] altered copies, the real voices
/// [`REAL_VOICE_COPIES`].
pub fn train_embedding(data: &KeywordData, trainer: &KwsTrainer) -> Result<KwsEmbedding> {
    let real = data.only_words(&REAL_WORDS)?;
    let bank = data.subset(|i| !REAL_WORDS.contains(&data.labels()[i].as_str()));
    let augmented = bank
        .augmented(&Augmentation::new().copies(BANK_COPIES), 1)?
        .merged(&real.augmented(&Augmentation::new().copies(REAL_VOICE_COPIES), 2)?)?;
    let model = trainer.fit(&augmented, None)?;
    KwsEmbedding::from_model(model, "the trained embedding")
}

/// A keyword embedding: the convolutions of a network trained to tell a bank's many words
/// apart, which turn a clip's features into values that say what it sounds like; the start of
/// every few-shot model.
#[derive(Debug, Clone)]
pub struct KwsEmbedding {
    /// The classifier over the bank's words it was trained as (saved whole).
    pub model: KwsModel,
    /// Its layers up to the flattened output of the convolutions (the part a few-shot model
    /// keeps).
    pub(crate) extractor: Network,
}

impl KwsEmbedding {
    /// The embedding the kit ships (`data/kws_embedding.tkf`, or `$TINYML_DATA/…`).
    pub fn bundled() -> Result<KwsEmbedding> {
        let path = bundled_path();
        if !path.is_file() {
            return Err(Error::io(
                &path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the keyword embedding is not here: run the kit from a clone of tinyml-kit, \
                     set TINYML_DATA to the folder that holds it, or make one \
                     (tools/kws-embedding)",
                ),
            ));
        }
        KwsEmbedding::load(path)
    }

    /// Reads an embedding file written by [`KwsEmbedding::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<KwsEmbedding> {
        let path = path.as_ref();
        let model = KwsModel::load(path)?;
        KwsEmbedding::from_model(model, &path.display().to_string())
    }

    /// The embedding of a trained [`KwsArchitecture::Embedding`] model; `what` names it in
    /// errors.
    pub fn from_model(model: KwsModel, what: &str) -> Result<KwsEmbedding> {
        let expected = {
            let config = model.front_end.features;
            let frames = config.clip_frames();
            KwsArchitecture::Embedding
                .layers(frames, config.coefficients(), model.labels.len())
                .1
        };
        if model.architecture != KwsArchitecture::Embedding || model.network.layers() != expected {
            return Err(Error::WrongModel(format!(
                "{what}: not a keyword embedding of this kit's version (a '{}' network with \
                 other layers): use the embedding that came with the kit, or make it again \
                 (tools/kws-embedding)",
                model.architecture.name()
            )));
        }
        let flatten = expected
            .iter()
            .position(|l| *l == Layer::Flatten)
            .expect("the embedding's network flattens");
        let (extractor, _) = model.network.split_at(flatten + 1)?;
        Ok(KwsEmbedding { model, extractor })
    }

    /// Writes the embedding (a keyword model file).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.model.save(path)
    }

    /// The features it was trained on and their standardisation (every few-shot model on it
    /// uses the same).
    pub fn front_end(&self) -> &KeywordFrontEnd {
        &self.model.front_end
    }

    /// Words it was trained to tell apart.
    pub fn words(&self) -> usize {
        self.model.labels.len()
    }

    /// Values per clip ([`KwsEmbedding::embed`]).
    pub fn size(&self) -> usize {
        self.extractor.outputs()
    }

    /// The embedding of every clip of `data`, [`KwsEmbedding::size`] values each.
    pub fn embed(&self, data: &KeywordData) -> Result<Vec<f32>> {
        let x = self.model.inputs(data)?;
        self.extractor.logits(&x)
    }

    /// The few-shot network for a head of `classes` outputs, with `head`'s weights.
    pub(crate) fn with_head(&self, head: &Network) -> Result<Network> {
        self.extractor.then(head)
    }

    /// A fresh head: one dense layer from the embedding to `classes` outputs.
    pub(crate) fn new_head(&self, classes: usize, seed: u64) -> Result<Network> {
        Network::new(
            crate::nn::Shape::Flat(self.size()),
            vec![Layer::Dense { units: classes }],
            seed,
        )
    }

    /// Shows what it is in Jupyter.
    pub fn evcxr_display(&self) {
        println!(
            "a keyword embedding: {} values per clip, learned by telling {} words apart; {} \
             parameters ({} kept by every few-shot model)",
            self.size(),
            self.words(),
            self.model.parameter_count(),
            self.extractor.parameter_count()
        );
    }
}

/// Takes per word on the Day 2 notebook's few-shot road.
pub const FEW_TAKES: usize = 5;

/// Altered copies of each take for a few-shot comparison (as `tinyml kws train` makes).
pub const FEW_TAKE_COPIES: usize = 3;

/// The words the measured embedding never heard: the spoken digits "5" to "9".
pub const NEW_WORDS: [&str; 5] = ["5", "6", "7", "8", "9"];

/// The words of the Day 2 notebook's few-shot road: the class's own `words`
/// ([`KeywordData::class_words`]) once somebody has recorded, or else the spoken digits
/// [`NEW_WORDS`], which the kit's embedding never heard (it did hear the stand-in "1" to "3").
pub fn few_shot_words(words: &KeywordData) -> Result<KeywordData> {
    if !words.is_stand_in() {
        return Ok(words.clone());
    }
    println!(
        "nobody has recorded yet: the spoken digits {} stand in (the embedding never heard them)",
        NEW_WORDS.join(", ")
    );
    KeywordData::course_default()?.only_words(&NEW_WORDS)
}

/// A few-shot model against a model trained from scratch, on the same few takes by one voice,
/// both tested on every other voice ([`compare_few_shot`]).
#[derive(Debug, Clone)]
pub struct FewShotComparison {
    /// Whose takes.
    pub voice: String,
    /// Takes of each word.
    pub takes: usize,
    /// Clips trained on (the takes and their altered copies).
    pub train_clips: usize,
    /// The few-shot model (the embedding and a new last layer).
    pub few_shot: KwsModel,
    /// The model trained from scratch ([`KwsTrainer::params`]'s defaults).
    pub scratch: KwsModel,
    /// The few-shot model on the other voices.
    pub few_shot_eval: crate::kws::KwsEvaluation,
    /// The model from scratch on the other voices.
    pub scratch_eval: crate::kws::KwsEvaluation,
    /// Seconds to train each: few-shot, from scratch.
    pub seconds: (f64, f64),
}

impl FewShotComparison {
    /// One row per way of training.
    pub fn table(&self) -> Table {
        let mut t = Table::new(&["model", "trained on", "seconds", "accuracy on other voices"]);
        let on = format!(
            "{} takes × {} words of {} ({} clips with copies)",
            self.takes,
            self.few_shot.labels.len(),
            self.voice,
            self.train_clips
        );
        for (name, eval, seconds) in [
            (
                "few-shot (embedding + last layer)",
                &self.few_shot_eval,
                self.seconds.0,
            ),
            ("CNN from scratch", &self.scratch_eval, self.seconds.1),
        ] {
            t.push(vec![
                name.into(),
                on.clone(),
                format!("{seconds:.1}"),
                percent(eval.accuracy()),
            ]);
        }
        t
    }

    /// Shows the table in Jupyter.
    pub fn evcxr_display(&self) {
        self.table().evcxr_display();
    }
}

/// Trains a few-shot model on `embedding` and a model from scratch on the same `takes` takes
/// of each word by `voice` (with [`FEW_TAKE_COPIES`] altered copies each), and tests both on
/// the clips of every other voice of `data`.
pub fn compare_few_shot(
    data: &KeywordData,
    voice: &str,
    takes: usize,
    embedding: &KwsEmbedding,
) -> Result<FewShotComparison> {
    const SEED: u64 = 7;
    let few = data.takes_of(voice, takes, SEED)?;
    let others: Vec<String> = data
        .voice_names()
        .into_iter()
        .filter(|v| v != voice)
        .collect();
    if others.is_empty() {
        return Err(Error::param(
            "voice",
            format!("{voice} is the only voice: a comparison needs another voice to test on"),
        ));
    }
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    let test = data.only_voices(&others)?;
    let train = few.augmented(&Augmentation::new().copies(FEW_TAKE_COPIES), SEED)?;
    let started = std::time::Instant::now();
    let few_shot = KwsTrainer::params()
        .few_shot(embedding)
        .progress(false)
        .fit(&train, None)?;
    let few_seconds = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let scratch = KwsTrainer::params().progress(false).fit(&train, None)?;
    let scratch_seconds = started.elapsed().as_secs_f64();
    Ok(FewShotComparison {
        voice: voice.to_string(),
        takes,
        train_clips: train.len(),
        few_shot_eval: few_shot.evaluate(&test)?,
        scratch_eval: scratch.evaluate(&test)?,
        few_shot,
        scratch,
        seconds: (few_seconds, scratch_seconds),
    })
}

/// Where [`KwsEmbedding::bundled`] looks.
pub fn bundled_path() -> PathBuf {
    crate::kws::default_dir()
        .parent()
        .map(|d| d.join(EMBEDDING_FILE))
        .unwrap_or_else(|| PathBuf::from(EMBEDDING_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinyml_core::mfcc::FeatureConfig;

    #[test]
    fn a_plan_is_decided_by_its_seed() {
        let params = BankParams {
            words: 50,
            takes: 4,
            seed: 3,
        };
        let a = bank_plan(&params).unwrap();
        assert_eq!(a, bank_plan(&params).unwrap());
        let other = bank_plan(&BankParams { seed: 4, ..params }).unwrap();
        assert_ne!(a.words, other.words);
        assert_eq!(a.words.len(), 50);
        assert_eq!(a.takes.len(), 200);
    }

    #[test]
    fn no_bank_word_is_a_number_from_five_to_nine() {
        let plan = bank_plan(&BankParams::new()).unwrap();
        for w in &plan.words {
            assert!(!is_excluded(&w.text), "{}", w.text);
            assert!(w.text.chars().all(|c| c.is_ascii_lowercase()), "{}", w.text);
            for digit in ["5", "6", "7", "8", "9"] {
                assert_ne!(w.text, digit);
            }
        }
        for take in &plan.takes {
            let word = &plan.words[take.word].text;
            assert!(take.file.starts_with(&format!("{word}/")), "{}", take.file);
            // The whole voice is the speaker: the kit splits a speaker off at the first '_'.
            let voice = format!(
                "{}-{}-p{}-s{}",
                plan.words[take.word].language, take.variant, take.pitch, take.speed
            );
            assert_eq!(crate::words::speaker_of(Path::new(&take.file)), voice);
        }
        assert!(is_excluded("five") && is_excluded("sechsa") && is_excluded("tochocho"));
        assert!(!is_excluded("tomaki"));
    }

    /// A small embedding: one epoch on 40 clips of each of "0" to "4".
    fn small_embedding() -> (KwsEmbedding, KeywordData) {
        let digits = KeywordData::course_default().unwrap();
        let (some, _) = digits.split_clips(0.84, 3).unwrap();
        let bank = some.only_words(&REAL_WORDS).unwrap();
        let model = KwsTrainer::params()
            .architecture(KwsArchitecture::Embedding)
            .epochs(1)
            .progress(false)
            .fit(&bank, None)
            .unwrap();
        let new_words = some.only_words(&["5", "6", "7"]).unwrap();
        (KwsEmbedding::from_model(model, "test").unwrap(), new_words)
    }

    #[test]
    fn a_few_shot_model_keeps_the_embedding_and_learns_a_last_layer() {
        let (embedding, words) = small_embedding();
        let model = KwsTrainer::params()
            .few_shot(&embedding)
            .epochs(2)
            .progress(false)
            .fit(&words, None)
            .unwrap();
        assert_eq!(model.architecture, KwsArchitecture::Embedding);
        assert_eq!(model.labels, ["5", "6", "7"]);
        assert_eq!(model.front_end, *embedding.front_end());
        // The embedding's layers up to the flattened convolutions, then one new dense layer.
        let layers = model.network.layers();
        let kept = embedding.model.network.layers();
        let flat = 1 + kept.iter().position(|l| *l == Layer::Flatten).unwrap();
        assert_eq!(layers[..flat], kept[..flat]);
        assert_eq!(layers[flat..], [Layer::Dense { units: 3 }]);
        assert_eq!(embedding.size(), 12 * 3 * 32);
        // The embedding's weights are the few-shot model's, untouched.
        let (ours, theirs) = (model.network.weights(), embedding.model.network.weights());
        assert_eq!(ours.len(), 6);
        assert_eq!(ours[..4], theirs[..4]);
        // Saved and loaded, it is a keyword model like any other, and runs in int8.
        let (network, header) = Network::from_file_bytes(&model.to_bytes(), "few-shot").unwrap();
        let loaded = KwsModel::from_parts(network, header, "few-shot").unwrap();
        assert_eq!(loaded.network.weights(), model.network.weights());
        let q = model.quantize(&words).unwrap();
        assert_eq!(q.labels(), model.labels);
        let clip = words.clip(0).unwrap();
        assert!(model
            .labels
            .contains(&q.predict_keyword(&clip).unwrap().label));
    }

    #[test]
    fn only_an_embedding_of_this_version_is_one() {
        let digits = KeywordData::course_default().unwrap();
        let (some, _) = digits.split_clips(0.9, 3).unwrap();
        let cnn = KwsTrainer::params()
            .epochs(1)
            .progress(false)
            .fit(&some, None)
            .unwrap();
        let e = KwsEmbedding::from_model(cnn, "old.tkf")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("old.tkf: not a keyword embedding of this kit's version"),
            "{e}"
        );
        let e = KwsEmbedding::load("no/such/embedding.tkf")
            .unwrap_err()
            .to_string();
        assert!(e.contains("embedding.tkf"), "{e}");
    }

    #[test]
    fn few_shot_data_must_have_the_embeddings_features() {
        let (embedding, _) = small_embedding();
        let other = FeatureConfig {
            num_mfcc: 10,
            ..FeatureConfig::KEYWORDS
        };
        let data = KeywordData::load_with(crate::kws::default_dir(), other).unwrap();
        let e = KwsTrainer::params()
            .few_shot(&embedding)
            .progress(false)
            .fit(&data, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("other features than the embedding"), "{e}");
    }

    #[test]
    fn the_embeddings_data_has_no_five_to_nine_and_no_held_out_voice() {
        let bank = std::env::temp_dir().join(format!("tinyml-bank-{}", std::process::id()));
        let plan = bank_plan(&BankParams {
            words: 3,
            takes: 2,
            seed: 5,
        })
        .unwrap();
        std::fs::create_dir_all(&bank).unwrap();
        std::fs::write(
            bank.join("bank.json"),
            serde_json::to_string(&plan).unwrap(),
        )
        .unwrap();
        for (k, take) in plan.takes.iter().enumerate() {
            let tone: Vec<f32> = (0..16_000)
                .map(|t| 0.3 * (t as f32 * 0.01 * (k + 1) as f32).sin())
                .collect();
            Audio::new(tone, 16_000)
                .unwrap()
                .save(bank.join(&take.file))
                .unwrap();
        }
        let data = embedding_data(&bank, &["george"]).unwrap();
        let mut labels = data.label_names();
        for word in &plan.words {
            assert!(labels.contains(&word.text), "{}", word.text);
        }
        labels.retain(|l| !plan.words.iter().any(|w| &w.text == l));
        assert_eq!(labels, REAL_WORDS);
        for n in NEW_WORDS {
            assert!(!data.labels().iter().any(|l| l == n));
        }
        assert!(!data.speakers().iter().any(|s| s == "george"));
        assert!(data.speakers().iter().any(|s| s == "jackson"));
        let e = embedding_data(&bank, &["nobody"]).unwrap_err().to_string();
        assert!(e.contains("'nobody' is not a speaker"), "{e}");
        std::fs::remove_dir_all(&bank).unwrap();
        let e = embedding_data(&bank, &[]).unwrap_err().to_string();
        assert!(e.contains("not a keyword bank"), "{e}");
    }

    #[test]
    fn bad_bank_sizes_are_refused() {
        for (words, takes) in [(0, 5), (1, 5), (10, 1), (10, 0), (30_000, 5)] {
            let e = bank_plan(&BankParams {
                words,
                takes,
                seed: 1,
            })
            .unwrap_err();
            assert!(matches!(e, Error::InvalidParam { .. }), "{e}");
        }
    }
}
