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

/// The Festival voices of the bank, each a recorded person (diphone or HTS voices built from
/// one speaker's recordings), with the Debian package that holds it: women,
/// men and a boy, in English, Catalan, Czech, Italian and Finnish (not Debian's Russian voice:
/// 240 MB for one more man). They read the bank's
/// made-up words by their own language's rules, as espeak-ng's languages do.
pub const BANK_FESTIVAL_VOICES: [(&str, &str); 12] = [
    ("kal_diphone", "festvox-kallpc16k"),
    ("ked_diphone", "festvox-kdlpc16k"),
    ("cmu_us_slt_arctic_hts", "festvox-us-slt-hts"),
    ("upc_ca_ona_hts", "festvox-ca-ona-hts"),
    ("czech_dita", "festvox-czech-dita"),
    ("czech_krb", "festvox-czech-krb"),
    ("czech_machac", "festvox-czech-machac"),
    ("czech_ph", "festvox-czech-ph"),
    ("lp_diphone", "festvox-italp16k"),
    ("pc_diphone", "festvox-itapc16k"),
    ("suo_fi_lj_diphone", "festvox-suopuhe-lj"),
    ("hy_fi_mv_diphone", "festvox-suopuhe-mv"),
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
    /// How many of each word's takes are by Festival's recorded voices
    /// ([`BANK_FESTIVAL_VOICES`]); the others are by espeak-ng.
    pub festival_takes: usize,
    /// Seed of the words and the voices.
    pub seed: u64,
}

impl Default for BankParams {
    fn default() -> Self {
        BankParams::new()
    }
}

impl BankParams {
    /// Defaults: 1,000 words, 30 takes each (30,000 clips), a third of them by Festival's
    /// voices ([`BankParams::festival_takes_of`]), seed 1.
    pub fn new() -> BankParams {
        let takes = 30;
        BankParams {
            words: 1_000,
            takes,
            festival_takes: BankParams::festival_takes_of(takes),
            seed: 1,
        }
    }

    /// How many of `takes` takes of a word are by Festival's voices unless asked otherwise: a
    /// third (espeak-ng has more voices, Festival's are recorded people).
    pub fn festival_takes_of(takes: usize) -> usize {
        takes / 3
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

/// Who says a take, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "engine", rename_all = "snake_case")]
pub enum BankVoice {
    /// espeak-ng, in the word's language.
    Espeak {
        /// Voice variant ([`BANK_VARIANTS`]).
        variant: String,
        /// Pitch (0 to 99).
        pitch: u32,
        /// Speed, words per minute.
        speed: u32,
    },
    /// A Festival voice ([`BANK_FESTIVAL_VOICES`]).
    Festival {
        /// The voice.
        voice: String,
        /// Its durations stretched to this percentage (above 100: slower).
        stretch: u32,
        /// Then played at this percentage of its speed, pitch and formants with it (as a tape
        /// played faster or slower: a smaller or larger voice).
        tape: u32,
    },
}

impl BankVoice {
    /// The speaker's name in the take's file name (no `_`: the kit splits a speaker off at the
    /// first `_`).
    pub fn speaker(&self, word: &BankWord) -> String {
        match self {
            BankVoice::Espeak {
                variant,
                pitch,
                speed,
            } => format!("{}-{variant}-p{pitch}-s{speed}", word.language),
            BankVoice::Festival {
                voice,
                stretch,
                tape,
            } => format!("{}-d{stretch}-t{tape}", voice.replace('_', "-")),
        }
    }
}

/// One take: which word, said by which voice, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankTake {
    /// Index into [`BankPlan::words`].
    pub word: usize,
    /// Who says it.
    pub voice: BankVoice,
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
/// of [`BANK_LANGUAGES`]) and `params.takes` takes of each: `params.festival_takes` by
/// [`BANK_FESTIVAL_VOICES`] (durations stretched 80% to 125%, then played at 92% to 108% of
/// their speed), the others by espeak-ng with voices drawn from [`BANK_VARIANTS`] at random pitches
/// (20 to 80) and speeds (120 to 190 words per minute). Each word's takes have as many
/// different voices as the lists allow.
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
    if params.festival_takes > params.takes {
        return Err(Error::param(
            "festival_takes",
            format!(
                "{} (use 0 to the takes of each word, {})",
                params.festival_takes, params.takes
            ),
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
        let mut festival: Vec<&str> = BANK_FESTIVAL_VOICES.iter().map(|v| v.0).collect();
        if params.festival_takes > 0 {
            rng.shuffle(&mut festival);
        }
        for n in 0..params.takes {
            let voice = if n < params.festival_takes {
                BankVoice::Festival {
                    voice: festival[n % festival.len()].to_string(),
                    stretch: 80 + rng.index(46) as u32,
                    tape: 92 + rng.index(17) as u32,
                }
            } else {
                BankVoice::Espeak {
                    variant: variants[n % variants.len()].to_string(),
                    pitch: 20 + rng.index(61) as u32,
                    speed: 120 + rng.index(71) as u32,
                }
            };
            let speaker = voice.speaker(word);
            takes.push(BankTake {
                word: w,
                voice,
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
    /// The espeak-ng that spoke them (`espeak-ng --version`), when it wrote takes now.
    pub espeak_ng: Option<String>,
    /// The Festival that spoke them (`festival --version`), when it wrote takes now.
    pub festival: Option<String>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// A program the bank needs, found on `PATH`, and its version: the first line of `--version`,
/// without the program's own path in front (Festival: "/usr/bin/festival: Festival Speech
/// Synthesis System: 2.5.0:…") or its data folder behind (espeak-ng: "eSpeak NG text-to-speech:
/// 1.51  Data at: /usr/lib/…").
fn bank_tool(name: &str, package: &str, out: &Path) -> Result<(PathBuf, String)> {
    let path = find_on_path(name).ok_or_else(|| Error::Audio {
        path: out.to_path_buf(),
        message: format!(
            "{name} is not installed, and it speaks the keyword bank: install it \
             (Debian/Ubuntu: sudo apt-get install {package}; macOS: brew install {package})"
        ),
    })?;
    let version = Command::new(&path)
        .arg("--version")
        .output()
        .map_err(|e| Error::io(&path, e))?;
    let version = String::from_utf8_lossy(&version.stdout);
    let version = version.lines().next().unwrap_or_default();
    let version = path
        .to_str()
        .and_then(|p| version.strip_prefix(p))
        .and_then(|v| v.strip_prefix(':'))
        .unwrap_or(version);
    let version = version.split("  Data at").next().unwrap_or_default();
    Ok((path, version.trim().to_string()))
}

/// Speaks every take of `plan` into `out` as 16 kHz 16-bit WAV, the loudest second of each (on
/// all cores: espeak-ng once a take, Festival once a voice), and writes the plan as
/// `bank.json`. Takes already there are kept, so a bank interrupted half way is finished by
/// running it again; a folder holding another plan's bank is refused. Only the programs that
/// say a missing take are needed (a finished bank needs neither), and nothing is written before
/// they are found.
pub fn make_bank(plan: &BankPlan, out: &Path, progress: bool) -> Result<BankReport> {
    let started = std::time::Instant::now();
    if let Some(voice) = plan.takes.iter().find_map(|t| match &t.voice {
        BankVoice::Festival { voice, .. } if !BANK_FESTIVAL_VOICES.iter().any(|v| v.0 == voice) => {
            Some(voice)
        }
        _ => None,
    }) {
        let known: Vec<&str> = BANK_FESTIVAL_VOICES.iter().map(|v| v.0).collect();
        return Err(Error::param(
            "plan",
            format!(
                "'{voice}' is not one of the bank's Festival voices ({})",
                known.join(", ")
            ),
        ));
    }
    // The folder is this plan's bank, or empty (or not there yet) for a new one. Nothing is
    // written before the programs that say the missing takes are found.
    if out.exists() && !out.is_dir() {
        return Err(Error::param(
            "out",
            format!("{} is a file: give a folder for the bank", out.display()),
        ));
    }
    let manifest = out.join("bank.json");
    let json = serde_json::to_string_pretty(plan).expect("a plan serialises");
    let new_bank = match std::fs::read_to_string(&manifest) {
        Ok(existing) if existing != json => {
            return Err(Error::param(
                "out",
                format!(
                    "{} holds a bank of other words or voices: choose an empty folder",
                    out.display()
                ),
            ))
        }
        Ok(_) => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let holds_files = match std::fs::read_dir(out) {
                Ok(mut entries) => entries.next().is_some(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => return Err(Error::io(out, e)),
            };
            if holds_files {
                return Err(Error::param(
                    "out",
                    format!(
                        "{} is not empty and holds no bank: choose an empty folder",
                        out.display()
                    ),
                ));
            }
            true
        }
        Err(e) => return Err(Error::io(&manifest, e)),
    };
    let missing: Vec<&BankTake> = plan
        .takes
        .iter()
        .filter(|t| !out.join(&t.file).is_file())
        .collect();
    // Festival loads a voice in a second and then says a word in milliseconds: one run a voice.
    let mut by_festival_voice: std::collections::BTreeMap<&str, Vec<FestivalTake>> =
        Default::default();
    let mut by_espeak = Vec::new();
    for take in &missing {
        match &take.voice {
            BankVoice::Festival {
                voice,
                stretch,
                tape,
            } => by_festival_voice
                .entry(voice)
                .or_default()
                .push(FestivalTake {
                    take,
                    stretch: *stretch,
                    tape: *tape,
                }),
            BankVoice::Espeak {
                variant,
                pitch,
                speed,
            } => by_espeak.push(BankJob::Espeak(EspeakTake {
                take,
                variant,
                pitch: *pitch,
                speed: *speed,
            })),
        }
    }
    // Only the programs that have takes to say are needed: a finished bank is read anywhere.
    let espeak = match by_espeak.is_empty() {
        false => Some(bank_tool("espeak-ng", "espeak-ng", out)?),
        true => None,
    };
    let festival = match by_festival_voice.is_empty() {
        false => Some(bank_tool("festival", "festival", out)?),
        true => None,
    };
    if new_bank {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        std::fs::write(&manifest, &json).map_err(|e| Error::io(&manifest, e))?;
    }
    let done = AtomicUsize::new(plan.takes.len() - missing.len());
    let written = || {
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if progress && (n.is_multiple_of(1_000) || n == plan.takes.len()) {
            eprintln!("bank: {n}/{} takes", plan.takes.len());
        }
    };
    let jobs: Vec<BankJob> = by_festival_voice
        .into_iter()
        .map(|(voice, takes)| BankJob::Festival { voice, takes })
        .chain(by_espeak)
        .collect();
    jobs.par_iter().try_for_each(|job| -> Result<()> {
        match job {
            BankJob::Espeak(take) => {
                let (espeak, _) = espeak.as_ref().expect("found above");
                speak_espeak(espeak, plan, take, out)?;
                written();
            }
            BankJob::Festival { voice, takes } => {
                let (festival, _) = festival.as_ref().expect("found above");
                speak_festival(festival, plan, voice, takes, out, &written)?;
            }
        }
        Ok(())
    })?;
    Ok(BankReport {
        written: missing.len(),
        kept: plan.takes.len() - missing.len(),
        espeak_ng: espeak.map(|e| e.1),
        festival: festival.map(|f| f.1),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A take by espeak-ng, with its voice's settings ([`BankVoice::Espeak`]).
struct EspeakTake<'a> {
    take: &'a BankTake,
    variant: &'a str,
    pitch: u32,
    speed: u32,
}

/// A take by a Festival voice, with how its voice is changed ([`BankVoice::Festival`]).
struct FestivalTake<'a> {
    take: &'a BankTake,
    stretch: u32,
    tape: u32,
}

/// What one worker of [`make_bank`] says: one take by espeak-ng, or every take of one Festival
/// voice.
enum BankJob<'a> {
    Espeak(EspeakTake<'a>),
    Festival {
        voice: &'a str,
        takes: Vec<FestivalTake<'a>>,
    },
}

/// A job's temporary files (and the folders it made), removed when the job ends, however it
/// ends: a failed or interrupted bank leaves nothing that the next run would take for a take.
#[derive(Default)]
struct Scratch {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Scratch {
    /// Makes `path`'s folder, remembering it when it is new (removed at the end if it is still
    /// empty).
    fn folder_of(&mut self, path: &Path) -> Result<()> {
        let dir = path
            .parent()
            .expect("a take's file is in its word's folder");
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            self.dirs.push(dir.to_path_buf());
        }
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        // Only an empty folder goes: one that holds a take stays.
        for dir in &self.dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Writes what a voice said (`what`, in errors) to `path` as the bank keeps it
/// ([`Audio::keyword_clip`]), whole under a temporary name first (kept in `scratch`): an
/// interrupted run leaves no half file that the next run would keep.
fn save_take(
    spoken: &Audio,
    path: &Path,
    scratch: &mut Scratch,
    what: impl Fn() -> String,
) -> Result<()> {
    if spoken.samples().iter().all(|s| s.abs() < 1e-3) {
        return Err(Error::Audio {
            path: path.to_path_buf(),
            message: format!("{} said nothing", what()),
        });
    }
    let clip = spoken.keyword_clip(&tinyml_core::mfcc::FeatureConfig::KEYWORDS)?;
    let partial = path.with_extension("wav.part");
    scratch.files.push(partial.clone());
    clip.save(&partial)?;
    std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))
}

/// One take by espeak-ng.
fn speak_espeak(espeak: &Path, plan: &BankPlan, take: &EspeakTake, out: &Path) -> Result<()> {
    let &EspeakTake {
        take,
        variant,
        pitch,
        speed,
    } = take;
    let word = &plan.words[take.word];
    let path = out.join(&take.file);
    let mut scratch = Scratch::default();
    scratch.folder_of(&path)?;
    // espeak-ng's --stdout WAV has no length: it writes a file.
    let spoken_path = path.with_extension("espeak.part");
    scratch.files.push(spoken_path.clone());
    let what = || {
        format!(
            "espeak-ng, saying '{}' as {}+{variant},",
            word.text, word.language
        )
    };
    let spoken = Command::new(espeak)
        .args(["-v", &format!("{}+{variant}", word.language)])
        .args(["-p", &pitch.to_string(), "-s", &speed.to_string()])
        .arg("-w")
        .arg(&spoken_path)
        .arg(&word.text)
        .output()
        .map_err(|e| Error::io(espeak, e))?;
    if !spoken.status.success() {
        return Err(Error::Audio {
            path,
            message: format!(
                "{} failed: {}",
                what(),
                String::from_utf8_lossy(&spoken.stderr).trim()
            ),
        });
    }
    let audio = Audio::load(&spoken_path)?;
    save_take(&audio, &path, &mut scratch, what)
}

/// `text` as a Scheme string (Festival's scripts are Scheme).
fn scheme_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The Festival script that has `voice` say each `(word, stretch, file)`: durations stretched
/// to `stretch` percent (the HTS voices take it as a speaking rate, the others as
/// `Duration_Stretch`). The Czech voices' random intonation is turned off, so that a take is
/// the same whichever takes are said before it (a bank finished after an interruption is the
/// same bank).
fn festival_script(voice: &str, takes: &[(&str, u32, String)]) -> String {
    let hts = voice.ends_with("_hts");
    let mut script = format!("(voice_{voice})\n");
    if hts {
        script += "(set! tinyml-hts-params hts_engine_params)\n";
    }
    if voice.starts_with("czech_") {
        script += "(set! czech-randomize nil)\n";
    }
    for (word, stretch, file) in takes {
        let stretch = f64::from(*stretch) / 100.0;
        if hts {
            script += &format!(
                "(set! hts_engine_params (cons (list \"-r\" {:.4}) tinyml-hts-params))\n",
                1.0 / stretch
            );
        } else {
            script += &format!("(Parameter.set 'Duration_Stretch {stretch:.2})\n");
        }
        script += &format!(
            "(utt.save.wave (utt.synth (Utterance Text {})) {} 'riff)\n",
            scheme_string(word),
            scheme_string(file)
        );
    }
    script
}

/// What to do when Festival did not say what it was asked (`stderr`: what it printed).
fn festival_failure(voice: &str, stderr: &str) -> String {
    if stderr.contains(&format!("voice_{voice}")) {
        let package = BANK_FESTIVAL_VOICES
            .iter()
            .find(|v| v.0 == voice)
            .map_or("its voice", |v| v.1);
        return format!(
            "Festival has no voice {voice}: install it (Debian/Ubuntu: sudo apt-get install \
             {package}; tools/setup installs every voice of the bank)"
        );
    }
    let last: Vec<&str> = stderr.trim().lines().rev().take(5).collect();
    let last: Vec<&str> = last.into_iter().rev().collect();
    format!(
        "Festival failed with the voice {voice}: {}",
        last.join(" / ")
    )
}

/// Every take of `takes` by Festival's `voice` in one run of Festival; `written` after each
/// take.
fn speak_festival(
    festival: &Path,
    plan: &BankPlan,
    voice: &str,
    takes: &[FestivalTake],
    out: &Path,
    written: &(dyn Fn() + Sync),
) -> Result<()> {
    let mut scratch = Scratch::default();
    let mut lines = Vec::with_capacity(takes.len());
    for &FestivalTake { take, stretch, .. } in takes {
        let path = out.join(&take.file);
        scratch.folder_of(&path)?;
        let spoken = path.with_extension("festival.part");
        // A part left by an interrupted run is not this run's.
        match std::fs::remove_file(&spoken) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(&spoken, e))
            }
            _ => {}
        }
        scratch.files.push(spoken.clone());
        let file = spoken.to_str().ok_or_else(|| {
            Error::param(
                "out",
                format!("{}: Festival needs a folder name in Unicode", out.display()),
            )
        })?;
        lines.push((
            plan.words[take.word].text.as_str(),
            stretch,
            file.to_string(),
        ));
    }
    let script_path = out.join(format!("festival-{voice}.scm.part"));
    scratch.files.push(script_path.clone());
    std::fs::write(&script_path, festival_script(voice, &lines))
        .map_err(|e| Error::io(&script_path, e))?;
    let run = Command::new(festival)
        .arg("-b")
        .arg(&script_path)
        .output()
        .map_err(|e| Error::io(festival, e))?;
    let stderr = String::from_utf8_lossy(&run.stderr);
    if !run.status.success() || stderr.contains("SIOD ERROR") {
        return Err(Error::Audio {
            path: out.to_path_buf(),
            message: festival_failure(voice, &stderr),
        });
    }
    for &FestivalTake { take, tape, .. } in takes {
        let word = &plan.words[take.word].text;
        let path = out.join(&take.file);
        let spoken_path = path.with_extension("festival.part");
        if !spoken_path.is_file() {
            return Err(Error::Audio {
                path,
                message: festival_failure(voice, &stderr),
            });
        }
        let spoken = Audio::load(&spoken_path)?;
        // Played faster or slower: the same samples at another rate.
        let rate = spoken.sample_rate_hz() * tape / 100;
        let played = Audio::new(spoken.samples().to_vec(), rate)?;
        save_take(&played, &path, &mut scratch, || {
            format!("Festival, saying '{word}' as {voice},")
        })?;
        std::fs::remove_file(&spoken_path).map_err(|e| Error::io(&spoken_path, e))?;
        written();
    }
    Ok(())
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
/// each generated clip of the bank that an embedding learns from besides the clip itself. One
/// copy measured best at five takes (none or two did worse; see README, "Few-shot keywords").
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
            festival_takes: 2,
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
        let mut festival = 0;
        for take in &plan.takes {
            let word = &plan.words[take.word].text;
            assert!(take.file.starts_with(&format!("{word}/")), "{}", take.file);
            // The whole voice is the speaker: the kit splits a speaker off at the first '_'.
            let speaker = crate::words::speaker_of(Path::new(&take.file));
            assert_eq!(speaker, take.voice.speaker(&plan.words[take.word]));
            match &take.voice {
                BankVoice::Espeak { variant, .. } => {
                    assert!(speaker.contains(&format!("-{variant}-p")), "{speaker}");
                    assert!(BANK_VARIANTS.contains(&variant.as_str()));
                }
                BankVoice::Festival { voice, .. } => {
                    festival += 1;
                    assert!(speaker.starts_with(&voice.replace('_', "-")), "{speaker}");
                    assert!(BANK_FESTIVAL_VOICES.iter().any(|v| v.0 == voice));
                }
            }
        }
        assert_eq!(festival, plan.words.len() * 10);
        // Each word's Festival takes are by different voices.
        for takes in plan.takes.chunks(30) {
            let voices: std::collections::BTreeSet<_> = takes
                .iter()
                .filter_map(|t| match &t.voice {
                    BankVoice::Festival { voice, .. } => Some(voice),
                    BankVoice::Espeak { .. } => None,
                })
                .collect();
            assert_eq!(voices.len(), 10);
        }
        // Without Festival's takes, the espeak-ng takes are those of a bank that never had any.
        let espeak_only = bank_plan(&BankParams {
            festival_takes: 0,
            ..BankParams::new()
        })
        .unwrap();
        assert!(espeak_only
            .takes
            .iter()
            .all(|t| matches!(t.voice, BankVoice::Espeak { .. })));
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
            festival_takes: 1,
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
    fn festival_scripts_stretch_every_voice_and_keep_czech_takes_alike() {
        let takes = [
            ("brakimon", 80, "/bank/a\"b\\c.festival.part".to_string()),
            ("do\"le", 125, "x.part".to_string()),
        ];
        let diphone = festival_script("kal_diphone", &takes);
        assert!(diphone.starts_with("(voice_kal_diphone)\n"), "{diphone}");
        assert!(diphone.contains("(Parameter.set 'Duration_Stretch 0.80)"));
        assert!(diphone.contains("(Parameter.set 'Duration_Stretch 1.25)"));
        // Quotes and backslashes stay inside their strings.
        assert!(diphone
            .contains(r#"(Utterance Text "brakimon")) "/bank/a\"b\\c.festival.part" 'riff)"#));
        assert!(diphone.contains(r#"(Utterance Text "do\"le"))"#));
        // HTS voices take a speaking rate: 80% of the durations is 1.25 times as fast.
        let hts = festival_script("cmu_us_slt_arctic_hts", &takes);
        assert!(
            hts.contains(r#"(cons (list "-r" 1.2500) tinyml-hts-params)"#),
            "{hts}"
        );
        assert!(
            hts.contains(r#"(cons (list "-r" 0.8000) tinyml-hts-params)"#),
            "{hts}"
        );
        assert!(!hts.contains("Duration_Stretch"));
        assert!(festival_script("czech_dita", &takes).contains("(set! czech-randomize nil)"));
        assert!(!diphone.contains("czech"));
    }

    #[test]
    fn a_missing_festival_voice_names_its_package() {
        let e = festival_failure(
            "czech_krb",
            "SIOD ERROR: unbound variable : voice_czech_krb\n",
        );
        assert!(e.contains("sudo apt-get install festvox-czech-krb"), "{e}");
        let e = festival_failure("kal_diphone", "a\nb\nc\nd\ne\nf\ng: disk full\n");
        assert_eq!(
            e,
            "Festival failed with the voice kal_diphone: c / d / e / f / g: disk full"
        );
    }

    #[test]
    fn a_plan_with_a_voice_the_bank_does_not_know_is_refused_before_anything_is_written() {
        let mut plan = bank_plan(&BankParams {
            words: 2,
            takes: 2,
            festival_takes: 2,
            seed: 1,
        })
        .unwrap();
        if let BankVoice::Festival { voice, .. } = &mut plan.takes[1].voice {
            *voice = "../../elsewhere".into();
        }
        let out = std::env::temp_dir().join(format!("tinyml-bank-voice-{}", std::process::id()));
        let e = make_bank(&plan, &out, false).unwrap_err().to_string();
        assert!(
            e.contains("'../../elsewhere' is not one of the bank's Festival voices"),
            "{e}"
        );
        assert!(!out.exists());
    }

    #[test]
    fn bad_bank_sizes_are_refused() {
        for (words, takes, festival_takes) in [
            (0, 5, 0),
            (1, 5, 0),
            (10, 1, 0),
            (10, 0, 0),
            (30_000, 5, 0),
            (10, 5, 6),
        ] {
            let e = bank_plan(&BankParams {
                words,
                takes,
                festival_takes,
                seed: 1,
            })
            .unwrap_err();
            assert!(matches!(e, Error::InvalidParam { .. }), "{e}");
            if festival_takes > 0 {
                assert!(e.to_string().contains("festival_takes"), "{e}");
            }
        }
    }
}
