//! `tinyml`: the course's command line. Every command runs the same code as the notebooks.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Args, Parser, Subcommand};
use tinyml_core::model::Budget;
use tinyml_kit::activity::{ActivityData, ActivityModel, ActivityNetwork, Method, SpeedRules};
use tinyml_kit::audio::{librosa_expression, Audio};
use tinyml_kit::audit::DataAudit;
use tinyml_kit::course::{write_figures, Course};
use tinyml_kit::device::{class_label, Board, ImuRecording, ListenWindow, Simulator};
use tinyml_kit::digits::{Architecture, Digits, DigitsModel};
use tinyml_kit::error::{Error, Result};
use tinyml_kit::fewshot::{
    bank_plan, embedding_data, embedding_trainer, make_bank, train_embedding, BankParams,
    KwsEmbedding,
};
use tinyml_kit::kws::{
    speaker_folds, voice_curve, Augmentation, KeywordData, KwsArchitecture, KwsModel, KwsTrainer,
    SpeakerFold, SpeakerFolds, TRAIN_FOLDS,
};
use tinyml_kit::lab::{self, Lab};
use tinyml_kit::learn::ThresholdLearner;
use tinyml_kit::metrics::percent;
use tinyml_kit::nn::TrainParams;
use tinyml_kit::prelude::FeatureConfig;
use tinyml_kit::quantize::{Calibration, QuantizedModel};
use tinyml_kit::recorder::{Recorder, DEFAULT_COUNTDOWN};
use tinyml_kit::search::{deep_blue, depth_table, TicTacToe};

/// The TinyML course kit: lessons, figures and models from the command line.
#[derive(Parser)]
#[command(name = "tinyml", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every lesson pipeline on the embedded data (or yours) and print a summary.
    Course {
        /// Folder for figures, summary.json and index.html.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        data: DataArg,
        /// MNIST IDX folder or CSV for the digits lesson (default: the embedded 5,000 digits).
        #[arg(long, value_name = "DIR|FILE")]
        digits: Option<PathBuf>,
        /// Folder of spoken words for the keyword lesson (`DIR/<word>/<speaker>_<n>.wav`;
        /// default: the spoken digits in the repository's data/fsdd).
        #[arg(long, value_name = "DIR")]
        words: Option<PathBuf>,
        /// Print the summary as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write every figure of the kit (PNG + SVG) and an index.html contact sheet.
    Slides {
        /// Folder to write into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Day 1: activity detection, rules vs learning.
    #[command(subcommand)]
    Activity(ActivityCmd),
    /// Day 1: the training loop, learning the WALKING/RUNNING speed threshold.
    Learn {
        #[command(flatten)]
        data: DataArg,
        /// The two activities to separate.
        #[arg(long, default_value = "WALKING,RUNNING")]
        classes: String,
        /// Gradient descent steps.
        #[arg(long, default_value_t = 60)]
        steps: usize,
        /// How far each step moves the model.
        #[arg(long, default_value_t = 0.5)]
        learning_rate: f64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Day 1: why search explodes.
    #[command(subcommand)]
    Search(SearchCmd),
    /// Day 1: handwritten digits with an MLP or a CNN.
    #[command(subcommand)]
    Digits(DigitsCmd),
    /// Day 2: the MFCC features of a WAV file (the board's code), and the librosa call that
    /// computes the same.
    Mfcc {
        /// A WAV file: 16 kHz as it is, or any rate with --clip.
        file: PathBuf,
        /// Prepare it as the keyword spotter does first: resample to 16 kHz, keep the loudest
        /// second, normalise.
        #[arg(long)]
        clip: bool,
        /// Write the prepared clip here, as 32-bit float WAV (librosa then reads exactly the
        /// same samples).
        #[arg(long, value_name = "WAV", requires = "clip")]
        save_clip: Option<PathBuf>,
        /// Log-mel energies (40 mel filters, dB) instead of 13 MFCCs.
        #[arg(long)]
        log_mel: bool,
        /// Print JSON: config, frames, coefficients, features (frames × coefficients), librosa.
        #[arg(long)]
        json: bool,
    },
    /// Day 2: keyword spotting on spoken words.
    #[command(subcommand)]
    Kws(KwsCmd),
    /// Day 2→3: post-training int8 quantization of a float model (.tkf) into the board's
    /// format (.tkm).
    Quantize {
        /// The float model file (from `tinyml digits train` or `tinyml kws train`).
        #[arg(long)]
        model: PathBuf,
        /// Representative data for the activation ranges: the training data, a digits
        /// folder/CSV or a words folder (default: the embedded data of the model's lesson).
        #[arg(long, value_name = "DIR|FILE")]
        calibration: Option<PathBuf>,
        /// Calibration examples to use (a random sample of the calibration data).
        #[arg(long, default_value_t = 500)]
        samples: usize,
        /// Take activation ranges between the P-th and (100 − P)-th percentiles instead of
        /// min/max (keyword models default to 0.01; digits to min/max).
        #[arg(long, value_name = "P")]
        percentile: Option<f32>,
        /// Write the model even if it does not fit the Arduino Nano 33 BLE Sense.
        #[arg(long)]
        allow_too_big: bool,
        /// The int8 model file to write (.tkm).
        #[arg(long)]
        out: PathBuf,
        /// Print JSON (what `tinyml inspect --json` prints, plus `out`).
        #[arg(long)]
        json: bool,
    },
    /// Day 3: what is inside an int8 model: ops, shapes, sizes, arena, labels, features.
    Inspect {
        /// The int8 model file (.tkm).
        file: PathBuf,
        /// Print JSON: format, version, bytes, arena_bytes, labels, input, output, tensors,
        /// ops, front_end, fits.
        #[arg(long)]
        json: bool,
    },
    /// Day 3: an int8 model as source code, to compile into your own firmware.
    Export {
        /// The int8 model file (.tkm).
        file: PathBuf,
        /// c (a `const uint8_t` array) or rust (a `pub const [u8; N]`).
        #[arg(long)]
        format: String,
        /// Name of the array (default: `model` for C, `MODEL` for Rust).
        #[arg(long)]
        name: Option<String>,
        /// File to write (default: print it).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Day 3: the serial ports, and which one is an Arduino Nano 33 BLE.
    Ports {
        /// Print JSON: a list of `name`, `description`, `is_nano`, `bootloader`.
        #[arg(long)]
        json: bool,
    },
    /// Day 3: a simulated Nano 33 BLE Sense (the firmware's protocol, model store and
    /// interpreter) on a pseudo-terminal (a local socket on Windows), until Ctrl-C. Prints the
    /// port to use with --port.
    Simulate {
        /// An int8 model to start with (as if deployed).
        #[arg(long)]
        model: Option<PathBuf>,
        /// A WAV file the simulated microphone plays at the start of every Run or Stream (a
        /// quiet room after it).
        #[arg(long, value_name = "FILE.wav")]
        mic: Option<PathBuf>,
        /// An activity CSV (Day 1 layout) whose first session the simulated accelerometer
        /// plays at the start of every Run or Stream (a walk after it).
        #[arg(long, value_name = "FILE.csv")]
        imu: Option<PathBuf>,
    },
    /// Day 3: listen with the board: it runs its keyword model on its microphone and prints
    /// the words it hears (a second of audio every 250 ms), or its activity model on its
    /// accelerometer and prints the activity of each window.
    Monitor {
        /// The serial port (default: the first Nano 33 BLE found).
        #[arg(long, conflicts_with = "simulate")]
        port: Option<String>,
        /// The int8 model the board runs, for the names of its classes.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Listen with a simulated board running this int8 model instead.
        #[arg(long, value_name = "FILE.tkm")]
        simulate: Option<PathBuf>,
        /// With --simulate: what its microphone plays.
        #[arg(long, value_name = "FILE.wav", requires = "simulate")]
        mic: Option<PathBuf>,
        /// With --simulate: an activity CSV whose first session its accelerometer plays.
        #[arg(long, value_name = "FILE.csv", requires = "simulate")]
        imu: Option<PathBuf>,
        /// `mic` or `imu` (default: `imu` when --model or --simulate is an activity model, else
        /// `mic`).
        #[arg(long)]
        sensor: Option<String>,
        /// How long to listen.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Print one JSON object per window: `time_s`, `heard` (label or null), `score`,
        /// `outputs` (raw int8).
        #[arg(long)]
        json: bool,
    },
    /// Day 3: record training data from the board's sensors, in the dataset layouts of Days 1
    /// and 2: `--sensor mic` writes OUT/LABEL/SPEAKER_nohash_N.wav (16 kHz, 16-bit), `--sensor
    /// imu` writes OUT/SPEAKER_LABEL_N.csv (person,session,label,t_ms,ax,ay,az). Existing files
    /// are never overwritten: numbering continues after them.
    Record(RecordArgs),
    /// Day 2: a class's own words: pool the students' folders into one, audit it, take a voice
    /// out again.
    #[command(subcommand)]
    Words(WordsCmd),
    /// Day 3: install the kit's firmware on the board, once (then models travel with `deploy`):
    /// the 1200-baud touch restarts the board into Arduino's bootloader, and Arduino's bossac
    /// erases, writes, verifies and restarts it. The image must start after the bootloader
    /// (0x10000) and end before the model store; flashing erases the deployed model.
    Flash {
        /// The firmware: the ELF that `cargo build --release` writes in firmware/nano33ble (the
        /// default), or a .bin made from it.
        #[arg(long)]
        firmware: Option<PathBuf>,
        /// The board's serial port (default: the first Nano 33 BLE found).
        #[arg(long, conflicts_with = "bootloader_port")]
        port: Option<String>,
        /// The board is already in its bootloader (after a double tap on reset) on this port.
        #[arg(long)]
        bootloader_port: Option<String>,
        /// Arduino's bossac (default: on the PATH, or where the Arduino IDE installs it).
        #[arg(long)]
        bossac: Option<PathBuf>,
    },
    /// Day 3: send an int8 model to the board; it runs it without reflashing. Checks first that
    /// it fits what the board reports; the board keeps its previous model until all of the new
    /// one has arrived and checks out.
    Deploy {
        /// The int8 model file (.tkm).
        file: PathBuf,
        /// The serial port (default: the first Nano 33 BLE found; `tinyml ports` lists them).
        #[arg(long)]
        port: Option<String>,
        /// Print JSON: `port`, `bytes`, `crc`, `retries`, `seconds`, `simulated`.
        #[arg(long)]
        json: bool,
    },
    /// Day 3: what the board (or the laptop's copy of its interpreter) answers for a recording:
    /// label, probabilities and the raw int8 outputs.
    Predict {
        /// Ask the board on this port (it must run --model).
        #[arg(long, requires = "model", conflicts_with = "simulate")]
        port: Option<String>,
        /// The int8 model the board runs (with --port).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Run this int8 model on the laptop, with the board's interpreter.
        #[arg(long, value_name = "FILE.tkm")]
        simulate: Option<PathBuf>,
        /// A WAV file (any rate; its loudest second is used).
        #[arg(long)]
        wav: PathBuf,
        /// Print JSON: `label`, `probabilities`, `outputs` (raw int8), `source`.
        #[arg(long)]
        json: bool,
    },
    /// Datasets: download the full ones (the kit runs offline without them).
    #[command(subcommand)]
    Data(DataCmd),
    /// Open the notebooks in JupyterLab, with the kit's Rust kernel built and warm.
    Lab {
        /// Install what is missing first, in your own folders (a Python venv with JupyterLab,
        /// the evcxr kernel: about 15 minutes once). The same on Linux, macOS and Windows.
        #[arg(long)]
        install: bool,
        /// Install the kernel and build the kit for the notebooks, then exit without starting
        /// JupyterLab (for a server image, or before class).
        #[arg(long)]
        prepare: bool,
        /// With --install: install the venv and evcxr_jupyter only, then exit (what the tests
        /// need; tools/setup runs this).
        #[arg(long, requires = "install")]
        tools_only: bool,
        /// Copy the notebooks into DIR (a student's own folder, on a school server or a shared
        /// laptop), their setup line pointing at this kit, then exit. Notebooks already there
        /// are kept as they are.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["install", "prepare"])]
        copy_to: Option<PathBuf>,
    },
    /// The kit's Jupyter kernel (its kernel spec runs this): evcxr in a kept build folder.
    #[command(hide = true)]
    Kernel {
        /// The connection file Jupyter gives.
        connection_file: PathBuf,
    },
    /// Each cell's time in an executed notebook (`jupyter execute`'s timestamps), one line per
    /// cell: `CELL SECONDS` (for the measuring scripts: tools/server-image).
    #[command(hide = true)]
    CellTimes {
        /// The executed notebook.
        notebook: PathBuf,
        /// Only the first timed cell's seconds (the setup cell).
        #[arg(long)]
        first: bool,
    },
}

#[derive(Args)]
struct DataArg {
    /// A CSV recording or a folder of them, instead of the embedded data.
    #[arg(long, value_name = "FILE|DIR")]
    data: Option<PathBuf>,
}

impl DataArg {
    fn load(&self) -> Result<ActivityData> {
        match &self.data {
            Some(path) => ActivityData::load(path),
            None => Ok(ActivityData::course_default()),
        }
    }
}

#[derive(Subcommand)]
enum ActivityCmd {
    /// Write the generated activity data as CSV (the layout the board records).
    Generate {
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
        /// Number of people.
        #[arg(long, default_value_t = 12)]
        people: usize,
        /// Seconds each person does each activity.
        #[arg(long, default_value_t = 24)]
        seconds: u32,
        /// Seed: the same seed gives the same file.
        #[arg(long, default_value_t = tinyml_kit::activity::DEFAULT_SEED)]
        seed: u64,
    },
    /// Score the slides' speed rules (below A mph WALKING, below B mph RUNNING, else BIKING).
    Rules {
        /// The two limits A,B in mph.
        #[arg(long, default_value = "4,12")]
        thresholds: String,
        #[command(flatten)]
        data: DataArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Learn the rules from accelerometer features; test on people held out of training.
    Learn {
        /// tree, logistic, knn or all.
        #[arg(long, default_value = "all")]
        model: String,
        /// How many people to hold out for testing.
        #[arg(long, default_value_t = 4)]
        test_people: usize,
        /// Seed of the choice of held-out people.
        #[arg(long, default_value_t = tinyml_kit::course::SPLIT_SEED)]
        seed: u64,
        #[command(flatten)]
        data: DataArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Day 3: train the activity network the board runs (12 features → 16 → one output per
    /// activity), test it on held-out people in float and int8, and write the int8 `.tkm`
    /// (deploy it, then `tinyml monitor --sensor imu`).
    Train {
        /// The int8 model file to write.
        #[arg(long, value_name = "FILE.tkm")]
        out: PathBuf,
        /// How many people to hold out for testing.
        #[arg(long, default_value_t = 4)]
        test_people: usize,
        /// Seed of the choice of held-out people.
        #[arg(long, default_value_t = tinyml_kit::course::SPLIT_SEED)]
        seed: u64,
        #[command(flatten)]
        data: DataArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Count examples per class and person; warn about imbalance.
    Audit {
        #[command(flatten)]
        data: DataArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DataCmd {
    /// Download a dataset with size and SHA-256 checks; resumes an interrupted download.
    Fetch {
        /// The dataset: mnist (60,000 + 10,000 digits, 11 MB).
        name: String,
        /// Where to keep it (default: ~/.cache/tinyml-kit/NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A mirror's base URL, tried before the public ones (repeatable).
        #[arg(long)]
        mirror: Vec<String>,
    },
}

#[derive(Subcommand)]
enum DigitsCmd {
    /// Train a digits model and save it (float model file).
    Train {
        /// MNIST IDX folder or CSV file (default: the embedded 5,000 digits).
        #[arg(long, value_name = "DIR|FILE")]
        data: Option<PathBuf>,
        /// mlp or cnn.
        #[arg(long, default_value = "cnn")]
        model: String,
        /// Most passes over the training images (training stops earlier when validation
        /// accuracy has not improved for 6 epochs, keeping the best epoch).
        #[arg(long, default_value_t = 30)]
        epochs: usize,
        /// Seed of the weights, the validation split and the shuffling.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Images held out of training to report validation accuracy.
        #[arg(long, default_value_t = 500)]
        validation: usize,
        /// Shifted copies (up to 2 pixels) of each training image added to the training set.
        #[arg(long, default_value_t = 6)]
        augment: usize,
        /// Model file to write.
        #[arg(long)]
        out: PathBuf,
        /// Print JSON (the training history and validation accuracy) instead of progress.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a saved model (float .tkf, or int8 .tkm through the board's interpreter):
    /// accuracy and confusion matrix.
    Eval {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// MNIST IDX folder (its t10k test set when present) or CSV file (default: the embedded 5,000).
        #[arg(long, value_name = "DIR|FILE")]
        data: Option<PathBuf>,
        /// Print JSON: accuracy, n, confusion.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct KwsDataArg {
    /// A folder with one folder of WAV files per word (`DIR/<word>/<speaker>_<n>.wav`);
    /// default: the spoken digits in the repository's data/fsdd (5 speakers; or $TINYML_DATA/fsdd).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

impl KwsDataArg {
    fn load(&self) -> Result<KeywordData> {
        let data = match &self.data {
            Some(dir) => KeywordData::load(dir)?,
            None => KeywordData::course_default()?,
        };
        for s in data.skipped() {
            eprintln!("skipped {}: {}", s.file, s.reason);
        }
        Ok(data)
    }

    /// The words with the features of a model (an int8 model carries its own).
    fn load_with(&self, config: FeatureConfig) -> Result<KeywordData> {
        match &self.data {
            Some(dir) => KeywordData::load_with(dir, config),
            None => KeywordData::load_with(tinyml_kit::kws::default_dir(), config),
        }
    }
}

#[derive(Args)]
struct KwsTrainArgs {
    /// tiny_conv, cnn or ds_cnn.
    #[arg(long, default_value = "cnn")]
    model: String,
    /// Passes over the training clips (default: 20; with --few-shot, 60 over the last layer).
    #[arg(long)]
    epochs: Option<usize>,
    /// Seed of the weights, the augmentation and the shuffling.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Altered copies of each training clip (shifted, faster or slower, with noise).
    #[arg(long, default_value_t = 3)]
    augment: usize,
    /// Few-shot: learn only the last layer, on the kit's keyword embedding (data/kws_embedding.tkf;
    /// five takes of a word are enough). --model is then the embedding's network.
    #[arg(long)]
    few_shot: bool,
    /// The keyword embedding for --few-shot (default: the kit's).
    #[arg(long, value_name = "FILE", requires = "few_shot")]
    embedding: Option<PathBuf>,
    /// The highest mel filter's frequency, in Hz: 4000 by default (where most of speech is); up
    /// to 8000 for words whose s, sh, ł or ts' matter (16 kHz recordings hold up to 8 kHz).
    /// Carried in the model file; the board computes the same features. (A few-shot head
    /// takes the embedding's features.)
    #[arg(long, value_name = "HZ", conflicts_with = "few_shot")]
    upper_hz: Option<f32>,
}

/// Epochs of `tinyml kws train` from scratch.
const KWS_EPOCHS: usize = 20;

impl KwsTrainArgs {
    /// The epochs training runs.
    fn epochs(&self) -> usize {
        self.epochs.unwrap_or(if self.few_shot {
            tinyml_kit::kws::FEW_SHOT_EPOCHS
        } else {
            KWS_EPOCHS
        })
    }

    fn trainer(&self, progress: bool) -> Result<KwsTrainer> {
        let mut trainer = KwsTrainer::params()
            .architecture(KwsArchitecture::parse(&self.model)?)
            .seed(self.seed)
            .progress(progress);
        if self.few_shot {
            let embedding = match &self.embedding {
                Some(path) => KwsEmbedding::load(path)?,
                None => KwsEmbedding::bundled()?,
            };
            trainer = trainer.few_shot(&embedding);
        }
        Ok(trainer.epochs(self.epochs()))
    }

    /// The features to train on: the kit's keyword features, up to `--upper-hz`.
    fn features(&self) -> FeatureConfig {
        let keywords = FeatureConfig::KEYWORDS;
        FeatureConfig {
            fmax_hz: self.upper_hz.unwrap_or(keywords.fmax_hz),
            ..keywords
        }
    }

    /// `data`'s words with the features to train on.
    fn words(&self, data: &KwsDataArg) -> Result<KeywordData> {
        data.load()?.with_features(self.features())
    }

    fn augmentation(&self) -> Augmentation {
        Augmentation::new().copies(self.augment)
    }

    fn augment(&self, data: &KeywordData) -> Result<KeywordData> {
        data.augmented(&self.augmentation(), self.seed)
    }
}

#[derive(Subcommand)]
enum WordsCmd {
    /// Copy the students' dataset folders into one class folder: speaker names made unique,
    /// exact duplicate recordings left out, spellings merged (run it again to add new takes).
    Pool {
        /// The class folder (made if needed).
        #[arg(long)]
        out: PathBuf,
        /// The students' folders (each `DIR/<word>/<speaker>_nohash_<n>.wav`).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Print JSON: `copied`, `duplicates`, `renamed`, `skipped`.
        #[arg(long)]
        json: bool,
    },
    /// Takes per word and speaker; takes that are too short, quiet, silent, clipped, duplicated
    /// or unreadable; warnings about balance.
    Audit {
        /// The dataset folder.
        dir: PathBuf,
        /// Also write the figure (PNG and SVG) into this folder.
        #[arg(long)]
        figures: Option<PathBuf>,
        /// Print JSON: `words`, `speakers`, `takes`, `findings`, `skipped`, `warnings`.
        #[arg(long)]
        json: bool,
    },
    /// Delete every recording of one speaker (when they ask), and list what was deleted.
    Forget {
        /// Whose recordings.
        #[arg(long)]
        speaker: String,
        /// The dataset folder.
        dir: PathBuf,
    },
}

fn words_cmd(cmd: WordsCmd) -> Result<()> {
    match cmd {
        WordsCmd::Pool { out, dirs, json } => {
            let report = tinyml_kit::words::pool(&out, &dirs)?;
            if json {
                print_json(&serde_json::to_value(&report).map_err(|e| {
                    Error::Model(format!(
                        "the report cannot be written as JSON ({e}): rename files whose names \
                         are not text"
                    ))
                })?);
            } else {
                println!("{}", report.summary());
            }
        }
        WordsCmd::Audit { dir, figures, json } => {
            let audit = tinyml_kit::words::WordsAudit::of_dir(&dir)?;
            if let Some(folder) = &figures {
                std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
            }
            if json {
                print_json(&audit.json()?);
            } else {
                print!("{}", audit.report());
            }
            if let Some(folder) = figures {
                if audit.words.is_empty() || audit.speakers.is_empty() {
                    eprintln!("no recordings: no figure written");
                } else {
                    audit.figure().save(&folder, "words-audit")?;
                }
            }
        }
        WordsCmd::Forget { speaker, dir } => {
            let deleted = tinyml_kit::words::forget(&dir, &speaker)?;
            for file in &deleted {
                println!("deleted {}", file.display());
            }
            println!(
                "{} recording(s) of {speaker} deleted from {}; models trained before still \
                 hold what they learned from them: train again",
                deleted.len(),
                dir.display()
            );
        }
    }
    Ok(())
}

#[derive(Subcommand)]
enum KwsCmd {
    /// Make a keyword bank: made-up words spoken by espeak-ng in 24 languages and many voices
    /// (the words an embedding learns from; needs espeak-ng). Run again to finish a bank.
    Bank {
        /// The bank folder (new, or a bank made with the same settings).
        #[arg(long)]
        out: PathBuf,
        /// Made-up words.
        #[arg(long, default_value_t = BankParams::new().words)]
        words: usize,
        /// Takes of each word.
        #[arg(long, default_value_t = BankParams::new().takes)]
        takes: usize,
        /// Seed of the words and voices.
        #[arg(long, default_value_t = BankParams::new().seed)]
        seed: u64,
        /// Print JSON: written, kept, espeak_ng, seconds.
        #[arg(long)]
        json: bool,
    },
    /// Train a keyword embedding on a bank and the real voices of the spoken digits "0" to "4"
    /// (the start of --few-shot models).
    Embedding {
        /// The bank folder (`tinyml kws bank`).
        #[arg(long)]
        bank: PathBuf,
        /// Speakers of the spoken digits left out (to measure on voices it never heard).
        #[arg(long, value_delimiter = ',')]
        hold_out: Vec<String>,
        /// Passes over the bank (default: the embedding trainer's).
        #[arg(long)]
        epochs: Option<usize>,
        /// The embedding file to write.
        #[arg(long)]
        out: PathBuf,
        /// Print JSON: words, clips, held out, history, seconds.
        #[arg(long)]
        json: bool,
    },
    /// Train a keyword model and save it (float model file with its feature configuration).
    Train {
        #[command(flatten)]
        data: KwsDataArg,
        /// The words to recognise; every other word becomes "unknown" (default: every word).
        #[arg(long, value_delimiter = ',')]
        keywords: Vec<String>,
        /// Do not add an "unknown" class of other words (the kit's spoken digits) to a folder
        /// of your own words that has none.
        #[arg(long)]
        no_unknown: bool,
        /// Do not add a "silence" class (background noise, or generated room noise) to a folder
        /// of your own words that has none.
        #[arg(long)]
        no_silence: bool,
        /// Speakers held out of training, to report accuracy on voices the model never heard.
        /// Without it, data of three voices or more is tested by folds: each voice (or, past
        /// five, each of five groups of voices) held out in turn, one more model each.
        #[arg(long, value_delimiter = ',')]
        test_speakers: Vec<String>,
        /// Skip the folds (train the one model only).
        #[arg(long, conflicts_with = "test_speakers")]
        no_folds: bool,
        #[command(flatten)]
        train: KwsTrainArgs,
        /// Model file to write.
        #[arg(long)]
        out: PathBuf,
        /// Print JSON (history, test accuracy when speakers are held out, the folds).
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a saved model (float .tkf, or int8 .tkm through the board's interpreter):
    /// accuracy overall, per word and per speaker.
    Eval {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: KwsDataArg,
        /// Print JSON: accuracy, n, labels, confusion, per_class, per_speaker.
        #[arg(long)]
        json: bool,
    },
    /// What a saved model (float .tkf or int8 .tkm) hears in one recording.
    Predict {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// A WAV file (any rate; its loudest second is used).
        wav: PathBuf,
        /// Print JSON: label and probabilities.
        #[arg(long)]
        json: bool,
    },
    /// Leave one speaker out: train on the others, test on them, for every speaker.
    Folds {
        #[command(flatten)]
        data: KwsDataArg,
        #[command(flatten)]
        train: KwsTrainArgs,
        /// Print JSON: accuracy per held-out speaker and the mean.
        #[arg(long)]
        json: bool,
    },
    /// Accuracy on a voice never heard against the number of voices trained on (each speaker
    /// held out in turn; 75 models for five speakers, about 20 minutes).
    Voices {
        #[command(flatten)]
        data: KwsDataArg,
        #[command(flatten)]
        train: KwsTrainArgs,
        /// Only these speakers (2 to 6; default: every speaker of the data).
        #[arg(long, value_delimiter = ',')]
        speakers: Vec<String>,
        /// Also write the figure (PNG and SVG) into this folder.
        #[arg(long)]
        figures: Option<PathBuf>,
        /// Print JSON: `points` (per number of voices) and `runs` (every model).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum SearchCmd {
    /// The slide's arithmetic: moves^turns positions at a given speed.
    DeepBlue {
        /// Moves per turn.
        #[arg(long, default_value_t = 35.0)]
        moves: f64,
        /// Turns looked ahead.
        #[arg(long, default_value_t = 10)]
        turns: u32,
        /// Positions checked per second.
        #[arg(long, default_value_t = 1e9)]
        rate: f64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Minimax on tic-tac-toe, counting the positions searched.
    Minimax {
        /// The board, 9 cells of X, O and . row by row (default: empty).
        #[arg(long, default_value = ".........")]
        board: String,
        /// Depth limit (positions that deep are scored by the rule); default: search to the end;
        /// `all` prints a table of every limit from the empty board.
        #[arg(long)]
        depth: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Course {
            out,
            data,
            digits,
            words,
            json,
        } => {
            let digits = match digits {
                Some(path) => Digits::load(path, false)?,
                None => Digits::course_default(),
            };
            let words = KwsDataArg { data: words }.load()?;
            course(&out, &data.load()?, &digits, &words, json)
        }
        Cmd::Slides { out } => {
            let written = tinyml_kit::slides::write_slides(&out)?;
            println!(
                "wrote {} files to {} (open {})",
                written.len(),
                out.display(),
                out.join("index.html").display()
            );
            Ok(())
        }
        Cmd::Activity(cmd) => activity(cmd),
        Cmd::Learn {
            data,
            classes,
            steps,
            learning_rate,
            json,
        } => {
            let data = data.load()?;
            let names: Vec<&str> = classes.split(',').map(str::trim).collect();
            let [first, second] = names[..] else {
                return Err(Error::param(
                    "classes",
                    format!("'{classes}': give two activities, e.g. WALKING,RUNNING"),
                ));
            };
            let run = ThresholdLearner::params()
                .steps(steps)
                .learning_rate(learning_rate)
                .fit_activities(&data, first, second)?;
            if json {
                print_json(&run.json());
            } else {
                print!("{}", run.table((steps / 10).max(1)));
            }
            Ok(())
        }
        Cmd::Search(SearchCmd::DeepBlue {
            moves,
            turns,
            rate,
            json,
        }) => {
            let cost = deep_blue(moves, turns, rate);
            cost.validate()?;
            if json {
                print_json(&cost.json());
            } else {
                println!("{cost}");
            }
            Ok(())
        }
        Cmd::Search(SearchCmd::Minimax { board, depth, json }) => {
            minimax(&board, depth.as_deref(), json)
        }
        Cmd::Lab {
            install,
            prepare,
            tools_only,
            copy_to,
        } => match copy_to {
            Some(dir) => {
                println!("{}", Lab::new(repo_root())?.copy_notebooks(&dir)?);
                Ok(())
            }
            None => lab(install, prepare, tools_only),
        },
        Cmd::CellTimes { notebook, first } => {
            let times = lab::notebook_cell_seconds(&notebook)?;
            if first {
                println!("{:.1}", times[0].1);
            } else {
                for (cell, seconds) in times {
                    println!("{cell} {seconds:.2}");
                }
            }
            Ok(())
        }
        Cmd::Kernel { connection_file } => {
            let status = tinyml_kit::lab::run_kernel(&connection_file)?;
            std::process::exit(status.code().unwrap_or(1));
        }
        Cmd::Digits(cmd) => digits(cmd),
        Cmd::Mfcc {
            file,
            clip,
            save_clip,
            log_mel,
            json,
        } => mfcc(&file, clip, save_clip.as_deref(), log_mel, json),
        Cmd::Kws(cmd) => kws(cmd),
        Cmd::Quantize {
            model,
            calibration,
            samples,
            percentile,
            allow_too_big,
            out,
            json,
        } => quantize_cmd(
            &model,
            calibration.as_deref(),
            samples,
            percentile,
            allow_too_big,
            &out,
            json,
        ),
        Cmd::Inspect { file, json } => inspect(&file, json),
        Cmd::Ports { json } => list_ports(json),
        Cmd::Simulate { model, mic, imu } => {
            simulate(model.as_deref(), mic.as_deref(), imu.as_deref())
        }
        Cmd::Monitor {
            port,
            model,
            simulate,
            mic,
            imu,
            sensor,
            seconds,
            json,
        } => monitor(
            port.as_deref(),
            model.as_deref(),
            (simulate.as_deref(), mic.as_deref(), imu.as_deref()),
            sensor.as_deref(),
            seconds,
            json,
        ),
        Cmd::Record(args) => record(&args),
        Cmd::Words(cmd) => words_cmd(cmd),
        Cmd::Flash {
            firmware,
            port,
            bootloader_port,
            bossac,
        } => flash(
            firmware.as_deref(),
            port.as_deref(),
            bootloader_port.as_deref(),
            bossac.as_deref(),
        ),
        Cmd::Deploy { file, port, json } => deploy(&file, port.as_deref(), json),
        Cmd::Predict {
            port,
            model,
            simulate,
            wav,
            json,
        } => predict(
            port.as_deref(),
            model.as_deref(),
            simulate.as_deref(),
            &wav,
            json,
        ),
        Cmd::Export {
            file,
            format,
            name,
            out,
        } => export(&file, &format, name, out.as_deref()),
        Cmd::Data(DataCmd::Fetch { name, dir, mirror }) => fetch(&name, dir, mirror),
    }
}

fn course(
    out: &Path,
    data: &ActivityData,
    digits: &Digits,
    words: &KeywordData,
    json: bool,
) -> Result<()> {
    if !json {
        println!(
            "running every lesson (about 40 seconds: the digits lesson trains two networks, \
             the keyword lesson one)..."
        );
    }
    let course = Course::run(data, digits, words)?;
    let summary = course.json();
    let written = write_figures(&course.figures()?, out, "tinyml-kit course run")?;
    let path = out.join("summary.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&summary).unwrap_or_default(),
    )
    .map_err(|e| Error::io(&path, e))?;
    if json {
        print_json(&summary);
    } else {
        println!(
            "Day 1 on {} ({} windows, {} people) and {} ({} digits); Day 2 on {} ({} clips, {} \
             speakers)\n",
            data.source,
            data.len(),
            data.person_names().len(),
            digits.source,
            digits.len(),
            words.source,
            words.len(),
            words.speaker_names().len()
        );
        print!("{}", course.summary());
        println!(
            "\nwrote {} figures and summary.json to {} (open {})",
            (written.len() - 1) / 2,
            out.display(),
            out.join("index.html").display()
        );
    }
    Ok(())
}

fn activity(cmd: ActivityCmd) -> Result<()> {
    match cmd {
        ActivityCmd::Generate {
            out,
            people,
            seconds,
            seed,
        } => {
            if seconds > 3600 {
                return Err(Error::param(
                    "seconds",
                    format!("{seconds} (use up to 3600 per person and activity)"),
                ));
            }
            let data = ActivityData::generator()
                .people(people)
                .seconds_per_activity(seconds)
                .seed(seed)
                .generate()?;
            data.save_csv(&out)?;
            println!(
                "wrote {} windows ({} people) to {}",
                data.len(),
                people,
                out.display()
            );
        }
        ActivityCmd::Rules {
            thresholds,
            data,
            json,
        } => {
            let limits: Vec<f64> = thresholds
                .split(',')
                .map(|s| s.trim().parse::<f64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    Error::param(
                        "thresholds",
                        format!("'{thresholds}': give two speeds in mph, e.g. 4,12"),
                    )
                })?;
            let [walking, running] = limits[..] else {
                return Err(Error::param(
                    "thresholds",
                    format!("'{thresholds}': give exactly two speeds in mph, e.g. 4,12"),
                ));
            };
            let rules = SpeedRules::thresholds(walking, running)?;
            let eval = rules.evaluate(&data.load()?)?;
            if json {
                print_json(&eval.json());
            } else {
                println!("{}", rules.code());
                print!("{eval}");
            }
        }
        ActivityCmd::Learn {
            model,
            test_people,
            seed,
            data,
            json,
        } => {
            let data = data.load()?;
            let methods = if model == "all" {
                Method::ALL.to_vec()
            } else {
                vec![Method::parse(&model)?]
            };
            let (train, test) = data.split_by_people(test_people, seed)?;
            let mut results = Vec::new();
            for method in methods {
                let m = ActivityModel::params(method).fit(&train)?;
                let (eval, per_person) = m.evaluate_per_person(&test)?;
                if !json {
                    println!(
                        "{}: accuracy {} on held-out people {}",
                        method.name(),
                        percent(eval.accuracy()),
                        test.person_names().join(", ")
                    );
                    print!("{}", eval.confusion.table());
                    if let Some(rules) = m.rules() {
                        println!("learned rules:\n{rules}");
                    }
                    println!();
                }
                let mut j = eval.json();
                j["per_person"] = per_person.json();
                if let Some(rules) = m.rules() {
                    j["rules"] = rules.into();
                }
                results.push(j);
            }
            if json {
                print_json(
                    &serde_json::json!({ "test_people": test.person_names(), "models": results }),
                );
            }
        }
        ActivityCmd::Train {
            out,
            test_people,
            seed,
            data,
            json,
        } => {
            let (train, test) = data.load()?.split_by_people(test_people, seed)?;
            let params = ActivityNetwork::params().progress(!json);
            let net = ActivityNetwork::train(&train, &params)?;
            let int8 = net.quantize(&train)?;
            let report = net.quantization_report(&int8, &test)?;
            int8.save(&out)?;
            if json {
                let mut j = report.json();
                j["test_people"] = test.person_names().into();
                j["out"] = out.display().to_string().into();
                print_json(&j);
            } else {
                println!("held-out people: {}", test.person_names().join(", "));
                print!("{}", report.table());
                println!("wrote {}", out.display());
            }
        }
        ActivityCmd::Audit { data, json } => {
            let audit = DataAudit::of_activity(&data.load()?);
            if json {
                print_json(&audit.json());
            } else {
                print!("{}", audit.class_table());
                for w in &audit.warnings {
                    println!("warning: {w}");
                }
                if audit.warnings.is_empty() {
                    println!("no warnings: classes and people are balanced");
                }
            }
        }
    }
    Ok(())
}

fn fetch(name: &str, dir: Option<PathBuf>, mut mirrors: Vec<String>) -> Result<()> {
    use tinyml_kit::fetch::{fetch, mnist_files, Fetched, MNIST_MIRRORS};
    if name != "mnist" {
        return Err(Error::param(
            "name",
            format!("'{name}': the dataset that can be fetched is mnist"),
        ));
    }
    let dir = dir.unwrap_or_else(|| {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        home.join(".cache/tinyml-kit").join(name)
    });
    mirrors.extend(MNIST_MIRRORS.iter().map(|m| m.to_string()));
    let mut last_tenth = (String::new(), 0);
    let mut progress = |file: &str, got: u64, total: u64| {
        let tenth = (10 * got / total.max(1)) as usize;
        if (file.to_string(), tenth) != last_tenth {
            eprint!("\r{file}: {:>3}%", 10 * tenth);
            if tenth == 10 {
                eprintln!();
            }
            last_tenth = (file.to_string(), tenth);
        }
    };
    for f in fetch(&mirrors, &mnist_files(), &dir, &mut progress)? {
        match f {
            Fetched::Cached(p) => println!("cached      {}", p.display()),
            Fetched::Downloaded {
                path,
                resumed_from: 0,
            } => println!("downloaded  {}", path.display()),
            Fetched::Downloaded { path, resumed_from } => {
                println!("resumed     {} (from byte {resumed_from})", path.display())
            }
        }
    }
    println!("verified; use it with --data {}", dir.display());
    Ok(())
}

fn digits(cmd: DigitsCmd) -> Result<()> {
    let load = |data: &Option<PathBuf>, test: bool| match data {
        Some(path) => Digits::load(path, test),
        None => Ok(Digits::course_default()),
    };
    match cmd {
        DigitsCmd::Train {
            data,
            model,
            epochs,
            seed,
            validation,
            augment,
            out,
            json,
        } => {
            let architecture = Architecture::parse(&model)?;
            if !(1..=10_000).contains(&epochs) {
                return Err(Error::param("epochs", format!("{epochs} (use 1 to 10000)")));
            }
            if augment > 20 {
                return Err(Error::param(
                    "augment",
                    format!("{augment} shifted copies of every image (use 0 to 20)"),
                ));
            }
            let all = load(&data, false)?;
            let (train, val) = all.split(validation, seed).map_err(|_| {
                Error::param(
                    "validation",
                    format!(
                        "{validation}: hold out 1 to {} of the {} images",
                        all.len().saturating_sub(1),
                        all.len()
                    ),
                )
            })?;
            let mut m = DigitsModel::new(architecture, seed);
            let params = TrainParams::new()
                .epochs(epochs)
                .seed(seed)
                .early_stopping(6)
                .progress(!json);
            let history = m.fit(&train.augmented(augment, 2, seed), &val, &params)?;
            m.save(&out)?;
            let acc = m.evaluate(&val)?.accuracy();
            if json {
                print_json(
                    &serde_json::json!({ "model": model, "train": train.len(), "validation": val.len(), "validation_accuracy": acc, "history": history, "out": out }),
                );
            } else {
                println!(
                    "kept epoch {}: validation accuracy {} on {} images; saved {} ({} parameters)",
                    history.kept_epoch,
                    percent(acc),
                    val.len(),
                    out.display(),
                    m.parameter_count()
                );
            }
        }
        DigitsCmd::Eval { model, data, json } => {
            if data.is_none() && !json {
                println!("note: scoring the embedded 5,000 digits, which `tinyml digits train` trains on by default; pass --data with the MNIST test set (`tinyml data fetch mnist`) for an honest score");
            }
            let eval = if is_int8(&model)? {
                QuantizedModel::load(&model)?.evaluate_digits(&load(&data, true)?)?
            } else {
                DigitsModel::load(&model)?.evaluate(&load(&data, true)?)?
            };
            if json {
                print_json(&eval.json());
            } else {
                println!(
                    "accuracy {} on {} images of {}",
                    percent(eval.accuracy()),
                    eval.confusion.total(),
                    eval.data
                );
                print!("{}", eval.confusion.table());
            }
        }
    }
    Ok(())
}

fn mfcc(
    file: &Path,
    clip: bool,
    save_clip: Option<&Path>,
    log_mel: bool,
    json: bool,
) -> Result<()> {
    let mut config = FeatureConfig::KEYWORDS;
    if log_mel {
        config.num_mfcc = 0;
    }
    let audio = Audio::load(file)?;
    let audio = if clip {
        audio.keyword_clip(&config)?
    } else if audio.sample_rate_hz() != config.sample_rate_hz {
        return Err(Error::Audio {
            path: file.to_path_buf(),
            message: format!(
                "{} Hz audio; the keyword features are {} Hz: pass --clip to resample it (and --save-clip FILE to keep the prepared clip for librosa)",
                audio.sample_rate_hz(),
                config.sample_rate_hz
            ),
        });
    } else {
        audio
    };
    if let Some(path) = save_clip {
        audio.save_f32(path)?;
    }
    let features = audio.features(&config)?;
    let expression = librosa_expression(&config);
    if json {
        let rows: Vec<&[f32]> = features.values.chunks(features.coefficients).collect();
        print_json(&serde_json::json!({
            "file": file,
            "prepared": clip,
            "config": config,
            "frames": features.frames,
            "coefficients": features.coefficients,
            "features": rows,
            "librosa": expression,
        }));
    } else {
        println!(
            "{}: {} frames × {} {} ({:.2} s at {} Hz)",
            file.display(),
            features.frames,
            features.coefficients,
            if log_mel {
                "log-mel energies (dB)"
            } else {
                "MFCCs"
            },
            audio.duration_s(),
            audio.sample_rate_hz()
        );
        for (f, row) in features.values.chunks(features.coefficients).enumerate() {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:8.2}")).collect();
            println!("{f:3} {}", cells.join(""));
        }
        println!("librosa (y, sr = librosa.load(FILE, sr=None)):\n  {expression}");
    }
    Ok(())
}

fn kws(cmd: KwsCmd) -> Result<()> {
    match cmd {
        KwsCmd::Bank {
            out,
            words,
            takes,
            seed,
            json,
        } => {
            let plan = bank_plan(&BankParams { words, takes, seed })?;
            let report = make_bank(&plan, &out, !json)?;
            if json {
                print_json(&serde_json::to_value(&report).expect("a report serialises"));
            } else {
                println!(
                    "bank {}: {} words × {} takes ({} written, {} already there) by {} in {:.0} s",
                    out.display(),
                    words,
                    takes,
                    report.written,
                    report.kept,
                    report.espeak_ng,
                    report.seconds
                );
            }
        }
        KwsCmd::Embedding {
            bank,
            hold_out,
            epochs,
            out,
            json,
        } => {
            let started = std::time::Instant::now();
            let held: Vec<&str> = hold_out.iter().map(String::as_str).collect();
            let data = embedding_data(&bank, &held)?;
            let mut trainer = embedding_trainer().progress(!json);
            if let Some(epochs) = epochs {
                trainer = trainer.epochs(epochs);
            }
            let embedding = train_embedding(&data, &trainer)?;
            embedding.save(&out)?;
            let seconds = started.elapsed().as_secs_f64();
            if json {
                print_json(&serde_json::json!({
                    "words": embedding.words(),
                    "clips": data.len(),
                    "held_out": held,
                    "parameters": embedding.model.parameter_count(),
                    "history": embedding.model.history,
                    "seconds": seconds,
                    "out": out,
                }));
            } else {
                println!(
                    "saved {}: an embedding of {} words ({} clips, {} parameters) in {:.0} s",
                    out.display(),
                    embedding.words(),
                    data.len(),
                    embedding.model.parameter_count(),
                    seconds
                );
            }
        }
        KwsCmd::Train {
            data,
            keywords,
            no_unknown,
            no_silence,
            test_speakers,
            no_folds,
            train,
            out,
            json,
        } => {
            let trainer = train
                .trainer(false)?
                .unknown(!no_unknown)
                .silence(!no_silence);
            let mut all = train.words(&data)?;
            if !keywords.is_empty() {
                let words: Vec<&str> = keywords.iter().map(String::as_str).collect();
                all = all.with_keywords(&words, train.seed)?;
            }
            all.check_takes()?;
            let held: Vec<&str> = test_speakers.iter().map(String::as_str).collect();
            let (fit_on, test) = if held.is_empty() {
                (all, None)
            } else {
                let (a, b) = all.split_by_speaker(&held)?;
                (a, Some(b))
            };
            // Voices the model never heard, when none are named: folds, before the model
            // (each says its result as it ends).
            let folds = if held.is_empty() && !no_folds && fit_on.voice_names().len() >= 3 {
                if !json {
                    eprintln!(
                        "testing on voices never heard: {} folds, then the model on every voice \
                         (--no-folds skips them)",
                        fit_on.voice_names().len().min(TRAIN_FOLDS)
                    );
                }
                Some(speaker_folds(
                    &fit_on,
                    &trainer.clone().progress(!json),
                    &train.augmentation(),
                    train.seed,
                    TRAIN_FOLDS,
                )?)
            } else {
                None
            };
            let augmented = train.augment(&fit_on)?;
            let spotting = augmented.with_others(!no_unknown, !no_silence, train.seed)?;
            if !json {
                for note in &spotting.notes[augmented.notes.len()..] {
                    eprintln!("{note}");
                }
            }
            let model = trainer.progress(!json).fit(&spotting, None)?;
            model.save(&out)?;
            let test_eval = test.as_ref().map(|t| model.evaluate(t)).transpose()?;
            if json {
                print_json(&serde_json::json!({
                    "model": train.model,
                    "labels": model.labels,
                    "train_clips": fit_on.len(),
                    "augmented_copies": train.augment,
                    "added": &spotting.notes[augmented.notes.len()..],
                    "parameters": model.parameter_count(),
                    "history": model.history,
                    "test": test_eval.as_ref().map(|e| e.json()),
                    "folds": folds.as_ref().map(SpeakerFolds::json),
                    "out": out,
                }));
            } else {
                println!(
                    "saved {} ({} parameters, labels {})",
                    out.display(),
                    model.parameter_count(),
                    model.labels.join(", ")
                );
                if let Some(e) = test_eval {
                    println!(
                        "accuracy {} on {} clips of speakers never heard in training ({})",
                        percent(e.accuracy()),
                        e.overall.confusion.total(),
                        held.join(", ")
                    );
                }
                if let Some(folds) = folds {
                    println!(
                        "accuracy on voices never heard, {} folds: {} (int8 {})",
                        folds.folds.len(),
                        percent(folds.mean()),
                        percent(folds.int8_mean())
                    );
                    print!("{}", folds.table());
                }
            }
        }
        KwsCmd::Eval { model, data, json } => {
            let eval = if is_int8(&model)? {
                let q = QuantizedModel::load(&model)?;
                q.evaluate_keywords(&data.load_with(q.keyword_config()?)?)?
            } else {
                KwsModel::load(&model)?.evaluate(&data.load()?)?
            };
            if json {
                print_json(&eval.json());
            } else {
                println!(
                    "accuracy {} on {} clips of {}",
                    percent(eval.accuracy()),
                    eval.overall.confusion.total(),
                    eval.overall.data
                );
                print!("{}", eval.overall.confusion.table());
                print!("{}", eval.per_speaker.table());
                for w in &eval.per_speaker.warnings {
                    println!("warning: {w}");
                }
            }
        }
        KwsCmd::Predict { model, wav, json } => {
            let audio = Audio::load(&wav)?;
            let p = if is_int8(&model)? {
                QuantizedModel::load(&model)?.predict_keyword(&audio)?
            } else {
                KwsModel::load(&model)?.predict(&audio)?
            };
            if json {
                print_json(&serde_json::to_value(&p).unwrap_or_default());
            } else {
                println!("{}: \"{}\"", wav.display(), p.label);
                for (label, prob) in &p.probabilities {
                    println!("  {label:>10} {:5.1}%", 100.0 * prob);
                }
            }
        }
        KwsCmd::Voices {
            data,
            train,
            speakers,
            figures,
            json,
        } => {
            let mut all = train.words(&data)?;
            if !speakers.is_empty() {
                let keep: Vec<&str> = speakers.iter().map(String::as_str).collect();
                all = all.with_voices(&keep)?;
            }
            // Fail now, not after the training, when the figures cannot be written.
            if let Some(dir) = &figures {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            let curve = voice_curve(
                &all,
                &train.trainer(false)?,
                &train.augmentation(),
                train.seed,
            )?;
            if json {
                print_json(&curve.json());
            } else {
                print!("{}", curve.table());
            }
            if let Some(dir) = figures {
                let (png, _) = curve.figure().save(&dir, "kws-voices")?;
                eprintln!("wrote {}", png.display());
            }
        }
        KwsCmd::Folds { data, train, json } => {
            // Every voice its own fold.
            let all = train.words(&data)?;
            let folds = speaker_folds(
                &all,
                &train.trainer(false)?.progress(!json),
                &train.augmentation(),
                train.seed,
                usize::MAX,
            )?;
            if json {
                let per = |value: fn(&SpeakerFold) -> serde_json::Value| {
                    folds
                        .folds
                        .iter()
                        .map(|f| (f.test_speakers.join(","), value(f)))
                        .collect::<serde_json::Map<_, _>>()
                };
                print_json(&serde_json::json!({
                    "per_speaker": per(|f| f.float_accuracy.into()),
                    "mean": folds.mean(),
                    "int8_per_speaker": per(|f| f.int8_accuracy.into()),
                    "int8_mean": folds.int8_mean(),
                    "disagreements": per(|f| f.disagreements.into()),
                    "model": train.model,
                    "epochs": train.epochs(),
                    "augment": train.augment,
                }));
            } else {
                print!("{}", folds.table());
            }
        }
    }
    Ok(())
}

fn minimax(board: &str, depth: Option<&str>, json: bool) -> Result<()> {
    if depth == Some("all") {
        let (table, results) = depth_table();
        if json {
            print_json(&serde_json::to_value(&results).unwrap_or_default());
        } else {
            print!("{table}");
        }
        return Ok(());
    }
    let limit = depth
        .map(|d| {
            d.parse::<u32>().map_err(|_| {
                Error::param(
                    "depth",
                    format!("'{d}': give a whole number of turns, or all"),
                )
            })
        })
        .transpose()?;
    let board = TicTacToe::parse(board)?;
    let r = board.best_move(limit);
    if json {
        print_json(&serde_json::to_value(r).unwrap_or_default());
    } else {
        print!("{board}");
        let best = r
            .best_move
            .map(|m| format!("cell {m}"))
            .unwrap_or_else(|| "none (game over)".into());
        println!(
            "{} to move: best {best}, score {}, {} positions searched",
            board.to_move(),
            r.score,
            r.nodes
        );
    }
    Ok(())
}

/// The repository root (this binary is built from it: the kit is used from a clone).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn lab(install: bool, prepare: bool, tools_only: bool) -> Result<()> {
    let lab = Lab::new(repo_root())?;
    let mut tools = lab.check();
    let ready = |t: &lab::Tools| t.jupyter_lab && t.nbclient && t.evcxr.is_some();
    if install && (tools_only || !ready(&tools)) {
        tools = lab.install_tools()?;
    }
    if !ready(&tools) {
        let missing = tools.missing().join(", ");
        return Err(Error::Lab(if install {
            format!("still missing after installing: {missing}")
        } else {
            format!(
                "{missing} missing (venv {}).\n  Install once with `tinyml lab --install` (a Python venv with JupyterLab, and evcxr_jupyter {} with cargo install: about 15 minutes, 1 GB)",
                lab.venv.display(),
                lab::EVCXR_VERSION,
            )
        }));
    }
    if tools_only {
        println!(
            "ok: the notebooks' tools are installed (venv {})",
            lab.venv.display()
        );
        return Ok(());
    }
    if let Some(warning) = tools.version_warning() {
        eprintln!("warning: {warning}");
    }
    let launcher = std::env::current_exe().map_err(|e| Error::io("tinyml", e))?;
    let env = lab.kernel_env();
    let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let spec = lab.install_kernel(&lab.kernel_specs_dir(), &launcher, &env)?;
    println!(
        "kernel: \"{}\" ({})",
        lab::KERNEL_DISPLAY_NAME,
        spec.display()
    );
    println!(
        "the kit for the notebooks: compiled once per version of the kit (2 to 4 minutes the first time, progress below)"
    );
    let report = lab.warm(None)?;
    if report.built {
        println!(
            "built in {:.0} s into {}",
            report.seconds,
            report.template.display()
        );
    } else {
        println!("already built ({})", report.template.display());
    }
    if prepare {
        return Ok(());
    }
    let notebooks = lab.repo.join("notebooks");
    let mut command = Command::new(&lab.jupyter);
    command
        .arg("lab")
        .arg(format!("--notebook-dir={}", notebooks.display()));
    if lab::running_as_root() {
        println!("running as root (as in a container): JupyterLab is started with --allow-root");
        command.arg("--allow-root");
    }
    println!(
        "starting JupyterLab in {} (Ctrl-C to stop)",
        notebooks.display()
    );
    let status = command.status().map_err(|e| Error::io(&lab.jupyter, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Lab(format!(
            "jupyter lab exited with {status}; its messages are above"
        )))
    }
}

/// Whether `path` is an int8 model (`TKM8`) rather than a float one.
fn is_int8(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
    Ok(n == 4 && &magic == b"TKM8")
}

fn quantize_cmd(
    model: &Path,
    calibration: Option<&Path>,
    samples: usize,
    percentile: Option<f32>,
    allow_too_big: bool,
    out: &Path,
    json: bool,
) -> Result<()> {
    if samples == 0 {
        return Err(Error::param(
            "samples",
            "use at least 1 calibration example",
        ));
    }
    if let Some(p) = percentile {
        if !(0.0..50.0).contains(&p) {
            return Err(Error::param(
                "percentile",
                format!("{p} (use 0 to 50, e.g. 0.01)"),
            ));
        }
    }
    let bytes = std::fs::read(model).map_err(|e| Error::io(model, e))?;
    if bytes.starts_with(b"TKM8") {
        return Err(Error::param(
            "model",
            format!("{} is already an int8 model", model.display()),
        ));
    }
    let what = model.display().to_string();
    let (network, header) = tinyml_kit::nn::Network::from_file_bytes(&bytes, &what)?;
    let q = if header.kind.starts_with("digits-") {
        let m = DigitsModel::from_parts(network, header, &what)?;
        let data = match calibration {
            Some(path) => Digits::load(path, false)?,
            None => Digits::course_default(),
        };
        let data = data.sample(samples.min(data.len()), 1);
        match percentile {
            None => m.quantize(&data)?,
            Some(p) => m.quantize_with(&data, Calibration::Percentile(p))?,
        }
    } else if header.kind.starts_with("kws-") {
        let m = KwsModel::from_parts(network, header, &what)?;
        let config = m.config()?;
        let data = match calibration {
            Some(dir) => KeywordData::load_with(dir, config)?,
            None => KeywordData::load_with(tinyml_kit::kws::default_dir(), config)?,
        };
        let data = data.sample(samples, 1)?;
        m.quantize_with(&data, Calibration::Percentile(percentile.unwrap_or(0.01)))?
    } else {
        return Err(Error::Model(format!(
            "{}: a '{}' model; tinyml quantize takes digits and keyword models",
            model.display(),
            header.kind
        )));
    };
    if let Err(e) = q.check_fits(&Budget::NANO_33_BLE) {
        if !allow_too_big {
            return Err(Error::Model(format!(
                "{e} (nothing written; --allow-too-big writes it anyway, for the laptop only)"
            )));
        }
        eprintln!("warning: {e}");
    }
    q.save(out)?;
    if json {
        let mut j = q.json();
        j["out"] = serde_json::json!(out);
        print_json(&j);
    } else {
        print!("{}", q.table());
        println!(
            "saved {} ({} bytes, arena {} bytes, labels {})",
            out.display(),
            q.size_bytes(),
            q.arena_bytes(),
            q.labels().join(", ")
        );
    }
    Ok(())
}

fn inspect(file: &Path, json: bool) -> Result<()> {
    let q = QuantizedModel::load(file)?;
    let j = q.json();
    if json {
        print_json(&j);
        return Ok(());
    }
    println!(
        "{}: TKM8 version {}, {} bytes, arena {} bytes",
        file.display(),
        j["version"],
        q.size_bytes(),
        q.arena_bytes()
    );
    println!("labels: {}", q.labels().join(", "));
    let input = &j["input"];
    println!(
        "input: {} int8 (scale {}, zero point {}); features: {}",
        input["shape"], input["scale"], input["zero_point"], j["front_end"]
    );
    print!("{}", q.table());
    match q.check_fits(&Budget::NANO_33_BLE) {
        Ok(()) => println!(
            "fits the {} ({} bytes of flash and {} bytes of RAM kept for a model)",
            Budget::NANO_33_BLE.board,
            Budget::NANO_33_BLE.model_flash,
            Budget::NANO_33_BLE.arena_ram
        ),
        Err(e) => println!("does not fit: {e}"),
    }
    Ok(())
}

fn export(file: &Path, format: &str, name: Option<String>, out: Option<&Path>) -> Result<()> {
    let q = QuantizedModel::load(file)?;
    let text = match format {
        "c" => q.to_c(name.as_deref().unwrap_or("model")),
        "rust" => q.to_rust(name.as_deref().unwrap_or("MODEL")),
        other => return Err(Error::param("format", format!("'{other}' (use c or rust)"))),
    };
    let valid = |n: &str| {
        n.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if let Some(n) = &name {
        if !valid(n) {
            return Err(Error::param(
                "name",
                format!("'{n}' is not a C/Rust identifier"),
            ));
        }
    }
    match out {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
            println!(
                "wrote {} ({} bytes of model)",
                path.display(),
                q.size_bytes()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn list_ports(json: bool) -> Result<()> {
    let ports = tinyml_kit::device::ports()?;
    if json {
        let list: Vec<serde_json::Value> = ports
            .iter()
            .map(|p| serde_json::json!({"name": p.name, "description": p.description, "is_nano": p.is_nano, "bootloader": p.bootloader}))
            .collect();
        print_json(&serde_json::Value::Array(list));
        return Ok(());
    }
    if ports.is_empty() {
        println!(
            "no serial ports; plug the board in with a data USB cable (or try `tinyml simulate`)"
        );
    }
    for p in ports {
        let tag = match (p.is_nano, p.bootloader) {
            (true, true) => "  <- Arduino Nano 33 BLE, in its bootloader",
            (true, false) => "  <- Arduino Nano 33 BLE",
            _ => "",
        };
        println!("{:<16} {}{tag}", p.name, p.description);
    }
    Ok(())
}

fn open_board(port: Option<&str>) -> Result<Board> {
    match port {
        Some(p) => Board::open(p),
        None => Board::open_auto(),
    }
}

fn simulate(model: Option<&Path>, mic: Option<&Path>, imu: Option<&Path>) -> Result<()> {
    // The laptop's connection closes; the simulator keeps the model.
    let (sim, _) = simulated_board(model, mic, imu)?;
    println!("{}", sim.port());
    eprintln!(
        "simulated Nano 33 BLE Sense (not a board) on {}{}; use it with --port {}. Ctrl-C stops it.",
        sim.port(),
        model.map_or(String::new(), |m| format!(", running {}", m.display())),
        sim.port()
    );
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

fn deploy(file: &Path, port: Option<&str>, json: bool) -> Result<()> {
    let q = QuantizedModel::load(file)?;
    let mut board = open_board(port)?;
    let r = board.deploy_with(&q, !json)?;
    if json {
        print_json(&serde_json::json!({
            "port": board.port_name(), "bytes": r.bytes, "crc": format!("{:08x}", r.crc),
            "retries": r.retries, "seconds": r.seconds, "simulated": board.is_simulator(),
        }));
    } else {
        println!(
            "{} is running {}: {r}",
            if board.is_simulator() {
                "the simulated board"
            } else {
                "the board"
            },
            file.display()
        );
    }
    Ok(())
}

fn predict(
    port: Option<&str>,
    model: Option<&Path>,
    simulate: Option<&Path>,
    wav: &Path,
    json: bool,
) -> Result<()> {
    let (q, source) = match (port, model, simulate) {
        (_, _, Some(file)) => (QuantizedModel::load(file)?, "laptop (the board's interpreter)".to_string()),
        (Some(p), Some(file), None) => (QuantizedModel::load(file)?, p.to_string()),
        _ => {
            return Err(Error::param(
                "predict",
                "give --simulate FILE.tkm, or --port P with --model FILE.tkm (the model the board runs)",
            ))
        }
    };
    let config = q.keyword_config()?;
    let audio = Audio::load(wav)?;
    let features = audio.keyword_clip(&config)?.features(&config)?;
    let input = q.keyword_input(&features)?;
    let outputs = match port {
        Some(p) if simulate.is_none() => {
            let mut board = Board::open(p)?;
            board.use_model(
                &q,
                &model.map_or(String::new(), |m| m.display().to_string()),
            )?;
            board.predict(&input)?
        }
        _ => q.simulate(&input)?,
    };
    let answer = q.keyword_answer(&outputs);
    if json {
        print_json(&serde_json::json!({
            "label": answer.label,
            "probabilities": answer.probabilities,
            "outputs": outputs,
            "source": source,
        }));
    } else {
        println!("{}: \"{}\" ({source})", wav.display(), answer.label);
        for ((label, p), o) in answer.probabilities.iter().zip(&outputs) {
            println!("  {label:>10} {:5.1}%  (int8 {o})", 100.0 * p);
        }
    }
    Ok(())
}

/// A simulator with `model` deployed, `mic` and `imu` playing, and a board on it.
fn simulated_board(
    model: Option<&Path>,
    mic: Option<&Path>,
    imu: Option<&Path>,
) -> Result<(Simulator, Board)> {
    let sim = Simulator::start()?;
    if let Some(wav) = mic {
        sim.play_file(wav)?;
    }
    if let Some(csv) = imu {
        let data = ActivityData::load(csv)?;
        let first = data.windows.first().map(|w| w.label.clone());
        let label = first.ok_or_else(|| {
            Error::param("imu", format!("{}: no whole window to play", csv.display()))
        })?;
        sim.play_imu(&ImuRecording::from_activity(&data, &label)?)?;
    }
    let mut board = Board::open(sim.port())?;
    if let Some(path) = model {
        board.deploy_with(&QuantizedModel::load(path)?, false)?;
    }
    Ok((sim, board))
}

fn monitor(
    port: Option<&str>,
    model: Option<&Path>,
    (simulate, mic, imu): (Option<&Path>, Option<&Path>, Option<&Path>),
    sensor: Option<&str>,
    seconds: f64,
    json: bool,
) -> Result<()> {
    let (_sim, mut board) = match simulate {
        Some(file) => {
            let (sim, board) = simulated_board(Some(file), mic, imu)?;
            (Some(sim), board)
        }
        None => (None, open_board(port)?),
    };
    let mut kind = None;
    if let Some(path) = model {
        let q = QuantizedModel::load(path)?;
        board.use_model(&q, &path.display().to_string())?;
        kind = Some(q.kind);
    } else if let Some(path) = simulate {
        kind = Some(QuantizedModel::load(path)?.kind);
    }
    let imu = match sensor {
        Some("imu") => true,
        Some("mic") => false,
        Some(other) => {
            return Err(Error::param("sensor", format!("'{other}': use mic or imu")));
        }
        None => kind.as_deref() == Some("activity"),
    };
    if !json {
        eprintln!(
            "{} for {seconds} s with the {} on {} (the first answer comes after {})",
            if imu {
                "watching the accelerometer"
            } else {
                "listening"
            },
            if board.is_simulator() {
                "simulated board"
            } else {
                "board"
            },
            board.port_name(),
            if imu { "one window" } else { "1 s" }
        );
    }
    let mut show = |w: &ListenWindow, labels: &[String]| {
        let label = |c: usize| class_label(labels, c);
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "time_s": w.time_ms as f64 / 1000.0,
                    "heard": w.heard.map(label),
                    "score": w.score as f64 / 255.0,
                    "outputs": w.outputs,
                })
            );
        } else if let Some(c) = w.heard {
            println!(
                "{:7.2} s  {}  ({:.0}%)",
                w.time_ms as f64 / 1000.0,
                label(c),
                100.0 * w.score as f64 / 255.0
            );
        }
    };
    let listening = if imu {
        board.watch_with(seconds, &mut show)?
    } else {
        board.listen_with(seconds, &mut show)?
    };
    if !json {
        eprintln!(
            "{} windows, {} {}",
            listening.windows.len(),
            listening.heard().len(),
            if imu {
                "with an activity"
            } else {
                "word(s) heard"
            }
        );
    }
    Ok(())
}

#[derive(Args)]
struct RecordArgs {
    /// Record in a web page with this computer's microphone (a laptop or a Chromebook), instead
    /// of the board: prints a link to open; every word of --words, --takes times.
    #[arg(long, conflicts_with_all = ["sensor", "label", "port", "simulate"])]
    browser: bool,
    /// With --browser: the words in their real spelling, separated by commas
    /// ("Yá'át'ééh,aoo',dooda,hágoónee'").
    #[arg(long, value_delimiter = ',', requires = "browser")]
    words: Vec<String>,
    /// `mic` or `imu` (the board's sensor).
    #[arg(long, required_unless_present = "browser")]
    sensor: Option<String>,
    /// The word (in its real spelling) or activity being recorded from the board.
    #[arg(long, required_unless_present = "browser")]
    label: Option<String>,
    /// How many recordings (of each word, with --browser).
    #[arg(long, visible_alias = "takes", default_value_t = 10)]
    count: usize,
    /// Seconds per recording (default: 1.5 for the microphone, 10 for the IMU).
    #[arg(long)]
    seconds: Option<f64>,
    /// Who is recording (the speaker id that keeps a person's clips in one split).
    #[arg(long, default_value = "me")]
    speaker: String,
    /// The dataset folder.
    #[arg(long)]
    out: PathBuf,
    /// The serial port (default: the first Nano 33 BLE found).
    #[arg(long)]
    port: Option<String>,
    /// Record from a simulated board instead (with --mic, what its microphone plays).
    #[arg(long, conflicts_with = "port")]
    simulate: bool,
    /// With --simulate: a WAV file its microphone plays at the start of each recording.
    #[arg(long, value_name = "FILE.wav", requires = "simulate")]
    mic: Option<PathBuf>,
    /// Seconds of countdown before each recording (default: 1 from the board, 3 in the
    /// browser).
    #[arg(long)]
    countdown: Option<f64>,
}

/// `dir/prefix{n}.ext` for the first `n` not taken, and `n`.
fn free_path(dir: &Path, prefix: &str, ext: &str) -> (u32, PathBuf) {
    (0..)
        .map(|n| (n, dir.join(format!("{prefix}{n}.{ext}"))))
        .find(|(_, p)| !p.exists())
        .expect("a free name")
}

fn record(a: &RecordArgs) -> Result<()> {
    if a.browser {
        return record_in_browser(a);
    }
    let (Some(sensor), Some(label)) = (&a.sensor, &a.label) else {
        return Err(Error::param(
            "sensor",
            "name --sensor and --label (or use --browser)",
        ));
    };
    let speaker = tinyml_kit::words::check_speaker(&a.speaker)?;
    let label = tinyml_kit::words::check_name("label", label)?;
    let imu = match sensor.as_str() {
        "mic" => false,
        "imu" => true,
        other => {
            return Err(Error::param(
                "sensor",
                format!("{other:?} (use mic or imu)"),
            ))
        }
    };
    if imu && label.contains(['_', ',']) {
        return Err(Error::param(
            "label",
            format!("{label:?} (an activity's name has no _ or comma)"),
        ));
    }
    if a.count == 0 || a.count > 1000 {
        return Err(Error::param(
            "count",
            format!("{} (use 1 to 1000)", a.count),
        ));
    }
    let countdown = a.countdown.unwrap_or(1.0);
    if !(countdown.is_finite() && (0.0..=10.0).contains(&countdown)) {
        return Err(Error::param(
            "countdown",
            format!("{countdown} (use 0 to 10 s)"),
        ));
    }
    let seconds = a.seconds.unwrap_or(if imu { 10.0 } else { 1.5 });
    let (_sim, mut board) = if a.simulate {
        let (sim, board) = simulated_board(None, a.mic.as_deref(), None)?;
        (Some(sim), board)
    } else {
        (None, open_board(a.port.as_deref())?)
    };
    if !imu {
        tinyml_kit::words::word_id(&label)?;
    }
    let dir = a.out.clone();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut refused = 0;
    let mut i = 0;
    while i < a.count {
        let what = if imu { "do" } else { "say" };
        eprint!("{}/{}: {what} \"{label}\" ", i + 1, a.count);
        let steps = (countdown * 2.0).round() as u32;
        for k in (1..=steps).rev() {
            eprint!("{}.. ", k.div_ceil(2));
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        eprint!("now ({seconds} s) ");
        let path = if imu {
            let r = board.record_imu(seconds)?;
            let (session, path) = free_path(&dir, &format!("{speaker}_{label}_"), "csv");
            r.save_csv(&path, &speaker, session, &label)?;
            path
        } else {
            // The word's folder is its plain id; its spelling goes to words.txt. A silent,
            // clipped or too-short take is said and recorded again (three in a row: stop).
            let audio = board.record_audio(seconds)?;
            if let Err(e) = tinyml_kit::words::check_take(&audio) {
                refused += 1;
                if refused == MAX_REFUSED_TAKES {
                    eprintln!("-> refused {MAX_REFUSED_TAKES} times in a row");
                    return Err(e);
                }
                eprintln!("-> {e} Once more:");
                continue;
            }
            tinyml_kit::words::save_take(&dir, &label, &speaker, &audio)?
        };
        refused = 0;
        i += 1;
        eprintln!("-> {}", path.display());
    }
    Ok(())
}

/// Refused takes in a row after which `tinyml record` stops (the microphone is off, say).
const MAX_REFUSED_TAKES: usize = 3;

/// `tinyml record --browser`: serves the recorder until Ctrl-C (or every word has its takes).
fn record_in_browser(a: &RecordArgs) -> Result<()> {
    let words: Vec<&str> = a.words.iter().map(String::as_str).collect();
    let countdown = a.countdown.unwrap_or(DEFAULT_COUNTDOWN as f64);
    if !(countdown.is_finite() && (0.0..=10.0).contains(&countdown) && countdown.fract() == 0.0) {
        return Err(Error::param(
            "countdown",
            format!("{countdown} (use a whole number of seconds, 0 to 10)"),
        ));
    }
    let recorder = Recorder::start_with(&a.out, &words, &a.speaker, a.count, countdown as u32)?;
    println!("{}", recorder.url());
    eprintln!(
        "open the link above in a browser on this computer and allow the microphone; the takes go \
         to {} (press Ctrl-C when you are done)",
        recorder.dir().display()
    );
    recorder.wait();
    Ok(())
}

/// The firmware that `cargo build --release` writes in firmware/nano33ble.
fn built_firmware() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware/nano33ble/target/thumbv7em-none-eabihf/release/tinyml-nano33ble")
}

fn flash(
    firmware: Option<&Path>,
    port: Option<&str>,
    bootloader_port: Option<&str>,
    bossac: Option<&Path>,
) -> Result<()> {
    let path = firmware.map_or_else(built_firmware, Path::to_path_buf);
    if firmware.is_none() && !path.exists() {
        return Err(Error::Device(format!(
            "no firmware built yet ({}): build it with `cd firmware/nano33ble && cargo build \
             --release`, or pass --firmware FILE",
            path.display()
        )));
    }
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let image = tinyml_kit::flash::firmware_image(&bytes, &path.display().to_string())?;
    let bossac = tinyml_kit::flash::find_bossac(bossac)?;
    let port = match bootloader_port {
        Some(p) => p.to_string(),
        None => tinyml_kit::flash::enter_bootloader(port)?,
    };
    println!(
        "writing {} bytes of firmware with {} through the bootloader on {port}; this erases the \
         deployed model: `tinyml deploy` it again afterwards",
        image.len(),
        bossac.display()
    );
    let scratch = std::env::temp_dir().join(format!("tinyml-flash-{}", std::process::id()));
    let written = tinyml_kit::flash::write_firmware(&image, &bossac, &port, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    written?;
    println!(
        "the board runs the kit's firmware: `tinyml ports` shows it, `tinyml deploy` sends a model"
    );
    Ok(())
}
