//! The class's own words (Day 2): names that are safe as folders, the words' real spellings,
//! whether a take is usable, and a class's data pooled, audited and, when someone asks, their
//! voice taken out again.
//!
//! A word's folder name is its id (`yaateeh`); its spelling (*Yá'át'ééh*) comes from
//! [`WORDS_FILE`] in the dataset folder (`id<TAB>spelling` per line), or else from the folder
//! name itself, normalised to NFC so that a name typed on macOS (which stores accents as
//! separate marks) is the same word as one typed on Windows. The spelling is the label a model
//! learns, so it is what figures, tables, the model file and the board print.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::audio::{has_extension, Audio, AUDIO_EXTENSIONS};
use crate::error::{Error, Result};
use crate::plot::{Figure, Table};

/// The file of a dataset folder that gives each word's spelling: `id<TAB>spelling` per line.
pub const WORDS_FILE: &str = "words.txt";
/// Longest word or speaker name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// A take shorter than this cannot hold a word.
pub const MIN_TAKE_SECONDS: f64 = 0.5;
/// A take whose loudest sample is below this (−50 dBFS) is silent: the microphone heard nothing.
pub const SILENT_PEAK: f32 = 0.003;
/// A take whose loudest sample is below this (−30 dBFS) is quiet: usable, but noise will weigh.
pub const QUIET_PEAK: f32 = 0.03;
/// A word must stand this far (dB) above the take's quiet part, or nobody spoke.
pub const WORD_ABOVE_BACKGROUND_DB: f32 = 6.0;
/// Samples at or above this magnitude are at full scale.
pub const CLIPPED_LEVEL: f32 = 0.999;
/// A word a model learns needs at least this many takes.
pub const MIN_TAKES: usize = 3;

/// The folder of background noise in a dataset (not a word).
const BACKGROUND_DIR: &str = crate::kws::BACKGROUND_DIR;

/// `name` normalised to NFC (composed accents), surrounding spaces removed.
pub fn nfc(name: &str) -> String {
    name.trim().nfc().collect()
}

/// Checks a word or speaker name that becomes part of a path, and returns it in NFC: 1 to
/// [`MAX_NAME_CHARS`] characters, no `/`, `\`, control characters, characters Windows refuses in
/// file names (`< > : " | ? *`), and no leading `.` (so never `.` or `..`).
pub fn check_name(what: &'static str, name: &str) -> Result<String> {
    let name = nfc(name);
    let shown: String = name.chars().take(20).collect();
    let problem = if name.is_empty() {
        Some("it is empty".to_string())
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some(format!(
            "'{shown}…' is {} characters; use at most {MAX_NAME_CHARS}",
            name.chars().count()
        ))
    } else if name.starts_with('.') {
        Some(format!("'{name}' starts with '.'"))
    } else {
        name.chars()
            .find(|c| {
                c.is_control() || matches!(c, '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*')
            })
            .map(|c| format!("'{}' holds {c:?}", name.escape_debug()))
    };
    match problem {
        Some(p) => Err(Error::param(
            what,
            format!("{p}: use letters, digits, spaces, apostrophes or -"),
        )),
        None => Ok(name),
    }
}

/// Checks a speaker's name ([`check_name`], and no `_` or space: the file name's part before the
/// first `_` is its speaker).
pub fn check_speaker(name: &str) -> Result<String> {
    let name = check_name("speaker", name)?;
    if name.contains(['_', ' ', ',']) {
        return Err(Error::param(
            "speaker",
            format!("'{name}' holds '_', a space or a comma: use letters, digits or -"),
        ));
    }
    Ok(name)
}

/// The folder id of a word's spelling: ASCII letters and digits, lower case, accents and
/// apostrophes dropped (`Yá'át'ééh` → `yaateeh`, `hágoónee'` → `hagoonee`, `łééchąą'í` →
/// `leechaai`), spaces as `-`.
pub fn word_id(spelling: &str) -> Result<String> {
    let spelling = check_name("word", spelling)?;
    let mut id = String::new();
    for c in spelling.nfd() {
        match c {
            'ł' | 'Ł' => id.push('l'),
            c if c.is_ascii_alphanumeric() => id.push(c.to_ascii_lowercase()),
            ' ' | '-' if !id.is_empty() && !id.ends_with('-') => id.push('-'),
            _ => {}
        }
    }
    let id = id.trim_end_matches('-').to_string();
    if id.is_empty() {
        return Err(Error::param(
            "word",
            format!("'{spelling}' has no letter or digit to name its folder by"),
        ));
    }
    Ok(id)
}

/// The spellings of a dataset's words, from its [`WORDS_FILE`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spellings {
    by_id: BTreeMap<String, String>,
}

impl Spellings {
    /// Reads `dir/words.txt` (no file: no spellings). Blank lines and lines starting with `#` are
    /// skipped; every other line is `id<TAB>spelling`.
    pub fn load(dir: &Path) -> Result<Spellings> {
        let path = dir.join(WORDS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Spellings::default()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut by_id = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_start_matches('\u{feff}');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let data_error = |message: String| Error::Data {
                path: path.clone(),
                line: n + 1,
                column: None,
                message,
            };
            let (id, spelling) = line.split_once('\t').ok_or_else(|| {
                data_error("expected a word's folder name, a TAB, then its spelling".into())
            })?;
            let id = check_name("word", id).map_err(|e| data_error(e.to_string()))?;
            let spelling = check_name("word", spelling).map_err(|e| data_error(e.to_string()))?;
            by_id.insert(id, spelling);
        }
        Ok(Spellings { by_id })
    }

    /// Writes `dir/words.txt` (replacing it whole, through a temporary file).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut text = String::from("# folder\tspelling (written by tinyml-kit)\n");
        for (id, spelling) in &self.by_id {
            text += &format!("{id}\t{spelling}\n");
        }
        let path = dir.join(WORDS_FILE);
        let temporary = dir.join(format!(".{WORDS_FILE}.new"));
        std::fs::write(&temporary, text).map_err(|e| Error::io(&temporary, e))?;
        std::fs::rename(&temporary, &path).map_err(|e| Error::io(&path, e))
    }

    /// Adds (or replaces) a word's spelling.
    pub fn insert(&mut self, id: &str, spelling: &str) {
        self.by_id.insert(id.to_string(), spelling.to_string());
    }

    /// The spelling of the word in folder `id`: from the file, else the folder name in NFC.
    pub fn spelling(&self, id: &str) -> String {
        let id = nfc(id);
        self.by_id.get(&id).cloned().unwrap_or(id)
    }

    /// The spelling `words.txt` gives for folder `id`, if it has one.
    pub fn by_id(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(String::as_str)
    }

    /// The `(id, spelling)` pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_id.iter().map(|(i, s)| (i.as_str(), s.as_str()))
    }
}

/// What can be wrong with one take.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum TakeProblem {
    /// Shorter than [`MIN_TAKE_SECONDS`].
    TooShort {
        /// Its length.
        seconds: f64,
    },
    /// The microphone heard nothing (peak below [`SILENT_PEAK`]), or only even background
    /// (nothing [`WORD_ABOVE_BACKGROUND_DB`] above the quiet part).
    Silent,
    /// At full scale in many samples: the loudest parts are cut flat.
    Clipped {
        /// Samples at full scale.
        samples: usize,
    },
    /// Peak below [`QUIET_PEAK`]: usable, but noise weighs more than it should.
    Quiet,
}

impl TakeProblem {
    /// True when a recorder refuses the take (all but [`TakeProblem::Quiet`]).
    pub fn refuses(self) -> bool {
        !matches!(self, TakeProblem::Quiet)
    }

    /// A short name ("too short", "silent", "clipped", "quiet").
    pub fn name(self) -> &'static str {
        match self {
            TakeProblem::TooShort { .. } => "too short",
            TakeProblem::Silent => "silent",
            TakeProblem::Clipped { .. } => "clipped",
            TakeProblem::Quiet => "quiet",
        }
    }

    /// What happened and what to do, for a student.
    pub fn advice(self) -> String {
        match self {
            TakeProblem::TooShort { seconds } => format!(
                "That take is too short ({seconds:.2} s): record again and wait for the end."
            ),
            TakeProblem::Silent => {
                "That take is silent: check the microphone is on and not muted, \
                                    move closer and say the word clearly."
                    .into()
            }
            TakeProblem::Clipped { .. } => "That take is too loud (clipped): move back from the \
                                            microphone a little, or speak more softly."
                .into(),
            TakeProblem::Quiet => "That take is quiet: move closer to the microphone.".into(),
        }
    }
}

/// Every problem of a take (empty when it is good).
pub fn take_problems(audio: &Audio) -> Vec<TakeProblem> {
    let x = audio.samples();
    let seconds = audio.duration_s();
    let mut problems = Vec::new();
    if seconds < MIN_TAKE_SECONDS {
        problems.push(TakeProblem::TooShort { seconds });
    }
    let peak = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let clipped = x.iter().filter(|v| v.abs() >= CLIPPED_LEVEL).count();
    if peak < SILENT_PEAK || !a_word_stands_out(x, audio.sample_rate_hz()) {
        problems.push(TakeProblem::Silent);
    } else if peak < QUIET_PEAK {
        problems.push(TakeProblem::Quiet);
    }
    if clipped >= (x.len() / 1000).max(8) {
        problems.push(TakeProblem::Clipped { samples: clipped });
    }
    problems
}

/// True when the loudest 30 ms of `x` are [`WORD_ABOVE_BACKGROUND_DB`] above its quietest
/// fifth (a voice comes and goes; a hum or fan does not).
fn a_word_stands_out(x: &[f32], rate_hz: u32) -> bool {
    let frame = (rate_hz as usize * 3 / 100).max(1);
    let mut energy: Vec<f32> = x
        .chunks(frame)
        .filter(|c| c.len() == frame)
        .map(|c| c.iter().map(|v| v * v).sum::<f32>() / frame as f32)
        .collect();
    if energy.len() < 3 {
        return true;
    }
    energy.sort_by(f32::total_cmp);
    let quiet = energy[energy.len() / 5];
    let loud = energy[energy.len() - 1];
    10.0 * (loud / quiet.max(1e-12)).log10() >= WORD_ABOVE_BACKGROUND_DB
}

/// One word's folder in a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordFolder {
    /// The folder name, in NFC.
    pub id: String,
    /// The spelling ([`Spellings::spelling`]).
    pub spelling: String,
    /// Its audio files, sorted.
    pub files: Vec<PathBuf>,
}

/// A file a dataset folder holds but that is not used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The file, relative to the dataset folder.
    pub file: String,
    /// Why it is not used, and what to do.
    pub reason: String,
}

/// What a dataset folder holds: its words' folders, background noise, and what it skips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The words, by folder name.
    pub words: Vec<WordFolder>,
    /// Background noise recordings.
    pub background: Vec<PathBuf>,
    /// Files that are not used.
    pub skipped: Vec<Skipped>,
}

/// Lists a dataset folder: `DIR/<word>/<speaker>_<anything>.<audio>` (see [`crate::kws`]).
pub fn list_words(dir: &Path) -> Result<Listing> {
    let spellings = Spellings::load(dir)?;
    let relative = |p: &Path| p.strip_prefix(dir).unwrap_or(p).display().to_string();
    let mut listing = Listing {
        words: Vec::new(),
        background: Vec::new(),
        skipped: Vec::new(),
    };
    for entry in sorted_entries(dir)? {
        let name = file_name(&entry);
        if entry.is_dir() {
            if name.starts_with('.') {
                continue;
            }
            let mut files = Vec::new();
            for file in sorted_entries(&entry)? {
                let skip = if file.is_dir() {
                    Some("a folder inside a word's folder: move its recordings up one level")
                } else if file_name(&file).starts_with('.') {
                    Some("a hidden file (made by the system, not a recording)")
                } else if !has_extension(&file, &AUDIO_EXTENSIONS) {
                    Some("not an audio file by its name (the kit reads wav, m4a, mp3, ogg, flac)")
                } else {
                    None
                };
                match skip {
                    Some(reason) => listing.skipped.push(Skipped {
                        file: relative(&file),
                        reason: reason.into(),
                    }),
                    None => files.push(file),
                }
            }
            if name == BACKGROUND_DIR {
                listing.background = files;
            } else {
                listing.words.push(WordFolder {
                    spelling: spellings.spelling(&name),
                    id: nfc(&name),
                    files,
                });
            }
        } else if name != WORDS_FILE && !name.starts_with('.') {
            listing.skipped.push(Skipped {
                file: relative(&entry),
                reason: "not inside a word's folder: put each recording in the folder of its word"
                    .into(),
            });
        }
    }
    Ok(listing)
}

/// The speaker of a clip: its file name up to the first `_` (the whole name when it has none).
pub fn speaker_of(path: &Path) -> String {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    nfc(stem.split('_').next().unwrap_or(&stem))
}

/// The entries of a folder, sorted by name.
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect::<Result<_>>()?;
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Writes `bytes` as a new take of `speaker` in the word folder `dir`:
/// `<speaker>_nohash_<n>.<ext>` with the first `n` no file has, whatever the extension. The
/// file is created only if it does not exist (`create_new`), so two recorders saving the same
/// speaker's takes at once never write over each other: the second takes the next number.
pub fn write_new_take(dir: &Path, speaker: &str, ext: &str, bytes: &[u8]) -> Result<PathBuf> {
    use std::io::Write;
    let taken: BTreeSet<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            p.file_stem().map(|s| s.to_string_lossy().into_owned())
        })
        .collect();
    let free = (0..)
        .map(|n| format!("{speaker}_nohash_{n}"))
        .filter(|stem| !taken.contains(stem));
    for stem in free {
        let path = dir.join(format!("{stem}.{ext}"));
        let mut file = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => file,
            // Taken since the folder was read: the next number.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&path, e)),
        };
        if let Err(e) = file.write_all(bytes) {
            // No half take left in the dataset.
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(Error::io(&path, e));
        }
        return Ok(path);
    }
    unreachable!("the numbers never run out")
}

/// Saves a take of the word spelled `spelling` by `speaker` into the dataset folder `dir`, as
/// 16-bit WAV at `DIR/<word id>/<speaker>_nohash_<n>.wav` with the first free `n` (never over
/// another file), and records the spelling in `DIR/words.txt`. Returns the file written.
pub fn save_take(dir: &Path, spelling: &str, speaker: &str, take: &Audio) -> Result<PathBuf> {
    let speaker = check_speaker(speaker)?;
    let spelling = check_name("word", spelling)?;
    let id = word_id(&spelling)?;
    let folder = dir.join(&id);
    std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
    let mut spellings = Spellings::load(dir)?;
    match spellings.by_id.get(&id) {
        Some(known) if *known == spelling => {}
        Some(known) => return Err(spelling_clash(dir, &spelling, known, &id)),
        None => {
            spellings.insert(&id, &spelling);
            spellings.save(dir)?;
        }
    }
    write_new_take(&folder, &speaker, "wav", &take.wav_bytes())
}

/// Refuses a take that is too short, silent or clipped ([`take_problems`]), with what to do; a
/// quiet take passes. The browser recorder, the board's takes and `tinyml record` check alike.
pub fn check_take(take: &Audio) -> Result<()> {
    match take_problems(take).into_iter().find(|p| p.refuses()) {
        Some(problem) => Err(Error::param(
            "take",
            format!("{} Nothing was saved.", problem.advice()),
        )),
        None => Ok(()),
    }
}

/// The error for a spelling whose folder id already belongs to another spelling.
pub(crate) fn spelling_clash(dir: &Path, spelling: &str, known: &str, id: &str) -> Error {
    Error::param(
        "word",
        format!(
            "'{spelling}' would go into the folder '{id}' of '{known}' in {} ({WORDS_FILE}): use \
             the spelling '{known}', or change that line of {WORDS_FILE} if it is wrong",
            dir.display()
        ),
    )
}

/// What [`pool`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PoolReport {
    /// The class folder.
    pub out: PathBuf,
    /// `(from, to)` for every file copied.
    pub copied: Vec<(PathBuf, PathBuf)>,
    /// `(file, same as)` for every exact duplicate left out.
    pub duplicates: Vec<(PathBuf, PathBuf)>,
    /// `(folder, speaker, pooled as)` for each speaker renamed because another folder has a
    /// speaker of that name.
    pub renamed: Vec<(PathBuf, String, String)>,
    /// Files of the students' folders that are not recordings.
    pub skipped: Vec<Skipped>,
}

impl PoolReport {
    /// One line per kind of outcome.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "pooled into {}: {} file(s) copied, {} exact duplicate(s) left out, {} skipped",
            self.out.display(),
            self.copied.len(),
            self.duplicates.len(),
            self.skipped.len()
        );
        for (dir, from, to) in &self.renamed {
            s += &format!(
                "\nspeaker '{from}' of {} is '{to}' in the class folder (the name was taken)",
                dir.display()
            );
        }
        for skip in &self.skipped {
            s += &format!("\nskipped {}: {}", skip.file, skip.reason);
        }
        s
    }

    /// Shows the summary in Jupyter.
    pub fn evcxr_display(&self) {
        println!("{}", self.summary());
    }
}

/// A file's bytes, for finding exact duplicates.
fn content_key(path: &Path) -> Result<(u64, Vec<u8>)> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Ok((h.finish(), bytes))
}

/// Pools students' dataset folders into one class folder `out` (made if needed; it may already
/// hold an earlier pool). Every recording is copied as it is; an exact copy of a file already in
/// the pool is left out; a speaker whose name another folder already uses gets `-2`, `-3`, …
/// unless most of their recordings are already pooled under one name (pooling the same folders
/// again adds only what is new, under the same names). The words' spellings are merged into `out/words.txt`. Nothing is written
/// outside `out`, and no input file is changed.
pub fn pool(out: &Path, dirs: &[PathBuf]) -> Result<PoolReport> {
    if dirs.is_empty() {
        return Err(Error::param(
            "folders",
            "name at least one student's folder",
        ));
    }
    for dir in dirs {
        if !dir.is_dir() {
            return Err(Error::Audio {
                path: dir.clone(),
                message: "not a folder: name each student's dataset folder".into(),
            });
        }
    }
    let out_real = resolved(out)?;
    for dir in dirs {
        let real = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        if real == out_real || out_real.starts_with(&real) || real.starts_with(&out_real) {
            return Err(Error::param(
                "out",
                format!(
                    "{} and {} hold one another: pool into a folder of its own",
                    out.display(),
                    dir.display()
                ),
            ));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut spellings = Spellings::load(out)?;
    let mut report = PoolReport {
        out: out.to_path_buf(),
        ..PoolReport::default()
    };
    // What the pool holds already: content → (file, speaker), and the speakers' names.
    let mut contents: HashMap<u64, Vec<(Vec<u8>, PathBuf, String)>> = HashMap::new();
    let mut speakers: BTreeSet<String> = BTreeSet::new();
    let existing = list_words(out)?;
    for word in &existing.words {
        for file in &word.files {
            let (hash, bytes) = content_key(file)?;
            let speaker = speaker_of(file);
            speakers.insert(speaker.clone());
            contents
                .entry(hash)
                .or_default()
                .push((bytes, file.clone(), speaker));
        }
    }
    for dir in dirs {
        let listing = list_words(dir)?;
        let theirs = Spellings::load(dir)?;
        report
            .skipped
            .extend(listing.skipped.iter().map(|s| Skipped {
                file: dir.join(&s.file).display().to_string(),
                reason: s.reason.clone(),
            }));
        // Each file's content, and the speaker it is already pooled as (if it is).
        let mut files = Vec::new();
        // speaker → (their files here, pooled speaker → how many of them it already holds)
        let mut seen: BTreeMap<String, (usize, BTreeMap<String, usize>)> = BTreeMap::new();
        for word in &listing.words {
            check_name("word", &word.id)?;
            for file in &word.files {
                let (hash, bytes) = content_key(file)?;
                let speaker = speaker_of(file);
                let same = contents
                    .get(&hash)
                    .and_then(|c| c.iter().find(|(b, _, _)| *b == bytes));
                let entry = seen.entry(speaker.clone()).or_default();
                entry.0 += 1;
                if let Some((_, pooled, as_speaker)) = same {
                    *entry.1.entry(as_speaker.clone()).or_default() += 1;
                    report.duplicates.push((file.clone(), pooled.clone()));
                } else {
                    files.push((word, file, hash, bytes, speaker));
                }
            }
        }
        // Pooled before: most of this speaker's files are already there under one name (a
        // file or two copied from a classmate does not make them that classmate).
        let known_as: BTreeMap<String, String> = seen
            .into_iter()
            .filter_map(|(speaker, (total, pooled))| {
                let (name, n) = pooled.into_iter().max_by_key(|(_, n)| *n)?;
                (2 * n > total).then_some((speaker, name))
            })
            .collect();
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        for (word, file, hash, bytes, speaker) in files {
            let name = match names.get(&speaker).or(known_as.get(&speaker)) {
                Some(n) => n.clone(),
                None => {
                    // A phone's "New Recording 3.m4a": the speaker's name gets dashes.
                    let plain = speaker.replace([' ', ','], "-");
                    let name = check_speaker(&plain).map_err(|e| Error::Audio {
                        path: file.clone(),
                        message: e.to_string(),
                    })?;
                    let name = if speakers.contains(&name) {
                        let free = (2..)
                            .map(|k| format!("{name}-{k}"))
                            .find(|n| !speakers.contains(n))
                            .expect("a free name");
                        report
                            .renamed
                            .push((dir.clone(), name.clone(), free.clone()));
                        free
                    } else {
                        name
                    };
                    speakers.insert(name.clone());
                    names.insert(speaker.clone(), name.clone());
                    name
                }
            };
            // Within one run, a later duplicate of a file copied from this very folder.
            if let Some((_, pooled, _)) = contents
                .get(&hash)
                .and_then(|c| c.iter().find(|(b, _, _)| *b == bytes))
            {
                report.duplicates.push((file.clone(), pooled.clone()));
                continue;
            }
            let folder = out.join(&word.id);
            std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
            let ext = file
                .extension()
                .map(|e| e.to_string_lossy().to_lowercase())
                .unwrap_or_else(|| "wav".into());
            let to = write_new_take(&folder, &name, &ext, &bytes)?;
            contents
                .entry(hash)
                .or_default()
                .push((bytes, to.clone(), name.clone()));
            report.copied.push((file.clone(), to));
            if theirs.by_id.contains_key(&word.id) {
                spellings.insert(&word.id, &word.spelling);
            }
        }
    }
    if spellings.pairs().next().is_some() {
        spellings.save(out)?;
    }
    Ok(report)
}

/// `path` made absolute with links resolved, for a path that may not exist yet: its deepest
/// existing folder resolved, the rest joined on.
fn resolved(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut real = existing
        .canonicalize()
        .map_err(|e| Error::io(existing, e))?;
    real.extend(rest.iter().rev());
    Ok(real)
}

/// Deletes every recording of `speaker` in the dataset folder `dir` (any word, any format) and
/// returns the files deleted. Nothing else is touched; a name with no recordings is an error
/// that lists the speakers there are.
pub fn forget(dir: &Path, speaker: &str) -> Result<Vec<PathBuf>> {
    let speaker = check_speaker(speaker)?;
    let listing = list_words(dir)?;
    let theirs: Vec<PathBuf> = listing
        .words
        .iter()
        .flat_map(|w| w.files.iter())
        .filter(|f| speaker_of(f) == speaker)
        .cloned()
        .collect();
    if theirs.is_empty() {
        let all: BTreeSet<String> = listing
            .words
            .iter()
            .flat_map(|w| w.files.iter().map(|f| speaker_of(f)))
            .collect();
        return Err(Error::param(
            "speaker",
            format!(
                "no recordings of '{speaker}' in {} (speakers: {})",
                dir.display(),
                all.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    for file in &theirs {
        std::fs::remove_file(file).map_err(|e| Error::io(file, e))?;
        // A word nobody else recorded: its folder goes too (only when empty).
        if let Some(folder) = file.parent() {
            let _ = std::fs::remove_dir(folder);
        }
    }
    Ok(theirs)
}

/// One file's findings in a [`WordsAudit`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileFinding {
    /// The file, relative to the dataset folder.
    pub file: String,
    /// What is wrong (a [`TakeProblem`]'s name, "duplicate of …", or "unreadable: …").
    pub finding: String,
}

/// A file, its take's problems (or why it cannot be read), and its content key.
type CheckedFile = (PathBuf, Result<Vec<TakeProblem>>, Result<(u64, Vec<u8>)>);

/// A class's recordings counted per word and speaker, with every take checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WordsAudit {
    /// The dataset folder.
    pub dir: PathBuf,
    /// The words' spellings, in folder order.
    pub words: Vec<String>,
    /// The speakers, sorted.
    pub speakers: Vec<String>,
    /// `takes[w][s]`: readable takes of word `w` by speaker `s`.
    pub takes: Vec<Vec<usize>>,
    /// Takes with a problem, duplicates and unreadable files.
    pub findings: Vec<FileFinding>,
    /// Files that are not used.
    pub skipped: Vec<Skipped>,
    /// Plain-language warnings about the whole set.
    pub warnings: Vec<String>,
}

impl WordsAudit {
    /// Audits the dataset folder `dir`.
    pub fn of_dir(dir: &Path) -> Result<WordsAudit> {
        let listing = list_words(dir)?;
        let relative = |p: &Path| p.strip_prefix(dir).unwrap_or(p).display().to_string();
        let speakers: Vec<String> = listing
            .words
            .iter()
            .flat_map(|w| w.files.iter().map(|f| speaker_of(f)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut takes = vec![vec![0usize; speakers.len()]; listing.words.len()];
        let mut findings = Vec::new();
        let mut seen: HashMap<(u64, Vec<u8>), String> = HashMap::new();
        for (w, word) in listing.words.iter().enumerate() {
            let checked: Vec<CheckedFile> = word
                .files
                .par_iter()
                .map(|f| {
                    let problems = Audio::load(f).map(|a| take_problems(&a));
                    (f.clone(), problems, content_key(f))
                })
                .collect();
            for (file, problems, key) in checked {
                let name = relative(&file);
                match problems {
                    Err(e) => {
                        findings.push(FileFinding {
                            file: name,
                            finding: format!("unreadable: {}", error_message(&e)),
                        });
                        continue;
                    }
                    Ok(problems) => {
                        for p in problems {
                            findings.push(FileFinding {
                                file: name.clone(),
                                finding: p.name().into(),
                            });
                        }
                    }
                }
                if let Ok(key) = key {
                    if let Some(first) = seen.get(&key) {
                        findings.push(FileFinding {
                            file: name,
                            finding: format!("duplicate of {first}"),
                        });
                        continue;
                    }
                    seen.insert(key, name);
                }
                let s = speakers
                    .iter()
                    .position(|s| *s == speaker_of(&file))
                    .expect("listed speaker");
                takes[w][s] += 1;
            }
        }
        let words: Vec<String> = listing.words.iter().map(|w| w.spelling.clone()).collect();
        let warnings = audit_warnings(&words, &speakers, &takes);
        Ok(WordsAudit {
            dir: dir.to_path_buf(),
            words,
            speakers,
            takes,
            findings,
            skipped: listing.skipped,
            warnings,
        })
    }

    /// Takes per word (rows) and speaker (columns), with each word's total.
    pub fn table(&self) -> Table {
        let mut header: Vec<&str> = vec!["word"];
        header.extend(self.speakers.iter().map(String::as_str));
        header.push("total");
        let mut t = Table::new(&header);
        for (word, row) in self.words.iter().zip(&self.takes) {
            let mut cells = vec![word.clone()];
            cells.extend(row.iter().map(|n| n.to_string()));
            cells.push(row.iter().sum::<usize>().to_string());
            t.push(cells);
        }
        t
    }

    /// The findings, one file per row.
    pub fn findings_table(&self) -> Table {
        let mut t = Table::new(&["file", "finding"]);
        for f in &self.findings {
            t.push(vec![f.file.clone(), f.finding.clone()]);
        }
        for s in &self.skipped {
            t.push(vec![s.file.clone(), format!("skipped: {}", s.reason)]);
        }
        t
    }

    /// Takes per word and speaker as a heat map.
    pub fn figure(&self) -> Figure {
        Figure::heatmap(
            &format!("Takes per word and speaker ({})", self.dir.display()),
            "speaker",
            "word",
            self.words.clone(),
            self.speakers.clone(),
            self.takes
                .iter()
                .map(|r| r.iter().map(|&n| n as f64).collect())
                .collect(),
        )
    }

    /// As JSON (what `tinyml words audit --json` prints).
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self).map_err(|e| Error::Audio {
            path: self.dir.clone(),
            message: format!(
                "the audit cannot be written as JSON ({e}): rename files whose names are not \
                     text"
            ),
        })
    }

    /// The table, findings and warnings as text.
    pub fn report(&self) -> String {
        let mut s = format!("{}", self.table());
        if !self.findings.is_empty() || !self.skipped.is_empty() {
            s += &format!("\n{}", self.findings_table());
        }
        for w in &self.warnings {
            s += &format!("warning: {w}\n");
        }
        if self.warnings.is_empty() {
            s += "no warnings\n";
        }
        s
    }

    /// Shows the table, the figure, the findings and the warnings in Jupyter.
    pub fn evcxr_display(&self) {
        self.table().evcxr_display();
        if !self.words.is_empty() && !self.speakers.is_empty() {
            self.figure().evcxr_display();
        }
        if !self.findings.is_empty() || !self.skipped.is_empty() {
            self.findings_table().evcxr_display();
        }
        for w in &self.warnings {
            println!("warning: {w}");
        }
    }
}

fn error_message(e: &Error) -> String {
    match e {
        Error::Audio { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn audit_warnings(words: &[String], speakers: &[String], takes: &[Vec<usize>]) -> Vec<String> {
    let mut warnings = Vec::new();
    if words.is_empty() {
        warnings.push("no words yet: record some (one folder per word)".to_string());
        return warnings;
    }
    let totals: Vec<usize> = takes.iter().map(|r| r.iter().sum()).collect();
    let most = totals.iter().copied().max().unwrap_or(0);
    for (word, &n) in words.iter().zip(&totals) {
        if n < MIN_TAKES {
            warnings.push(format!(
                "'{word}' has {n} take(s): a model needs at least {MIN_TAKES} to learn a word; \
                 record more"
            ));
        } else if most as f64 > 1.5 * n as f64 {
            warnings.push(format!(
                "'{word}' has {n} takes, another word {most}: record more '{word}' so the model \
                 does not learn to guess it less often"
            ));
        }
    }
    for (s, speaker) in speakers.iter().enumerate() {
        let missing: Vec<&str> = words
            .iter()
            .zip(takes)
            .filter(|(_, r)| r[s] == 0)
            .map(|(w, _)| w.as_str())
            .collect();
        if !missing.is_empty() {
            warnings.push(format!(
                "{speaker} has no takes of {}: a model may learn who speaks, not what is said",
                missing.join(", ")
            ));
        }
    }
    if speakers.len() < 3 {
        warnings.push(format!(
            "only {} speaker(s): record more people, so the model learns the words and not the \
             voices",
            speakers.len()
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_ids_drop_accents_and_apostrophes() {
        assert_eq!(word_id("Yá'át'ééh").unwrap(), "yaateeh");
        assert_eq!(word_id("hágoónee'").unwrap(), "hagoonee");
        assert_eq!(word_id("aoo'").unwrap(), "aoo");
        assert_eq!(word_id("łééchąą'í").unwrap(), "leechaai");
        assert_eq!(word_id("good morning").unwrap(), "good-morning");
        assert!(word_id("'''").is_err());
    }

    #[test]
    fn names_that_would_leave_the_folder_are_refused() {
        for bad in [
            "",
            "..",
            ".hidden",
            "a/b",
            "a\\b",
            "a\0b",
            "a:b",
            &"x".repeat(300),
        ] {
            assert!(check_name("word", bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_speaker("ann_1").is_err());
        // macOS's decomposed spelling is the same word as the composed one.
        let decomposed = "Ya\u{301}'a\u{301}t'e\u{301}e\u{301}h";
        assert_eq!(check_name("word", decomposed).unwrap(), "Yá'át'ééh");
    }

    #[test]
    fn takes_are_judged_by_level_length_and_clipping() {
        let rate = 16_000;
        let word = |gain: f32, seconds: f64| {
            let n = (seconds * rate as f64) as usize;
            let samples = (0..n)
                .map(|t| {
                    let inside = (n / 3..2 * n / 3).contains(&t);
                    let s = (t as f32 * 0.06).sin();
                    if inside {
                        gain * s
                    } else {
                        0.001 * gain * s
                    }
                })
                .collect();
            Audio::new(samples, rate).unwrap()
        };
        assert!(take_problems(&word(0.5, 1.5)).is_empty());
        assert_eq!(take_problems(&word(0.01, 1.5)), vec![TakeProblem::Quiet]);
        assert_eq!(take_problems(&word(0.001, 1.5)), vec![TakeProblem::Silent]);
        let short = take_problems(&word(0.5, 0.3));
        assert!(
            matches!(short[0], TakeProblem::TooShort { .. }),
            "{short:?}"
        );
        let loud = word(4.0, 1.5);
        let clipped: Vec<f32> = loud.samples().iter().map(|x| x.clamp(-1.0, 1.0)).collect();
        let problems = take_problems(&Audio::new(clipped, rate).unwrap());
        assert!(
            matches!(problems.as_slice(), [TakeProblem::Clipped { samples }] if *samples > 1000),
            "{problems:?}"
        );
        // A steady hum with no word is silent, however loud.
        let hum: Vec<f32> = (0..24_000).map(|t| 0.3 * (t as f32 * 0.02).sin()).collect();
        assert!(take_problems(&Audio::new(hum, rate).unwrap()).contains(&TakeProblem::Silent));
    }
}
