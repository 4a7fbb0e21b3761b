//! `tinyml`: the course's command line. Every command runs the same code as the notebooks.

mod activity;
mod board;
mod course;
mod digits;
mod kws;
mod lab;
mod model;
mod search;
mod words;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tinyml_kit::activity::ActivityData;
use tinyml_kit::digits::{Digits, MnistSet};
use tinyml_kit::error::{Error, Result};
use tinyml_kit::lab::Lab;
use tinyml_kit::lesson_plan::LessonPlan;

use crate::activity::{activity, learn, ActivityCmd};
use crate::board::{deploy, flash, list_ports, monitor, predict, record, simulate, RecordArgs};
use crate::course::{course, fetch, DataCmd};
use crate::digits::{digits, DigitsCmd};
use crate::kws::{kws, mfcc, KwsCmd, KwsDataArg};
use crate::lab::lab;
use crate::model::{export, import, inspect, quantize_cmd};
use crate::search::{search, SearchCmd};
use crate::words::{words_cmd, WordsCmd};

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
    /// Day 3: an int8 model as a TensorFlow Lite file, or as source code for your own firmware.
    Export {
        /// The int8 model file (.tkm).
        file: PathBuf,
        /// tflite (a TensorFlow Lite file for Netron, LiteRT, TFLite Micro; needs --out),
        /// c (a header for TFLite Micro: the .tflite bytes, labels and feature settings) or
        /// rust (the .tkm as a `pub const [u8; N]`, for tinyml-core in a no_std crate).
        #[arg(long)]
        format: String,
        /// Name of the array (default: `model` for C, `MODEL` for Rust).
        #[arg(long)]
        name: Option<String>,
        /// File to write (default: print it).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Day 3: a TensorFlow Lite int8 model (.tflite, from the kit or converted elsewhere) as
    /// the kit's model (.tkm), for the board, the simulator, eval and predict.
    Import {
        /// The TensorFlow Lite file (.tflite).
        file: PathBuf,
        /// What the network reads, when the file does not say (a model converted elsewhere):
        /// image (pixels / 255), mfcc (the course's keyword features, not standardised) or
        /// none (int8 values).
        #[arg(long)]
        front_end: Option<String>,
        /// The class names in output order, comma-separated (default: the file's).
        #[arg(long)]
        labels: Option<String>,
        /// The int8 model file to write (.tkm).
        #[arg(long)]
        out: PathBuf,
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
    /// the words it hears (a clip of audio every 250 ms), or its activity model on its
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
        /// A WAV file (any rate; its loudest clip, as long as the model's, is used).
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
    /// How long each lesson takes a class, core path and optional sections: reading time plus
    /// the cells' run times in executed notebooks (those the notebook tests write to
    /// target/notebooks/*.out.ipynb), plus the exercises.
    LessonPlan {
        /// Executed (or plain) notebooks.
        #[arg(required = true)]
        notebooks: Vec<PathBuf>,
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
                Some(path) => Digits::load(path, MnistSet::Train)?,
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
        } => learn(&data, &classes, steps, learning_rate, json),
        Cmd::Search(cmd) => search(cmd),
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
            let times = tinyml_kit::lab::notebook_cell_seconds(&notebook)?;
            if first {
                println!("{:.1}", times[0].1);
            } else {
                for (cell, seconds) in times {
                    println!("{cell} {seconds:.2}");
                }
            }
            Ok(())
        }
        Cmd::LessonPlan { notebooks } => {
            let mut plans = Vec::new();
            for path in &notebooks {
                let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                let notebook: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    Error::param(
                        "notebook",
                        format!("{}: not a notebook ({e})", path.display()),
                    )
                })?;
                let name = path
                    .file_name()
                    .map(|n| {
                        n.to_string_lossy()
                            .replace(".out.ipynb", "")
                            .replace(".ipynb", "")
                    })
                    .unwrap_or_default();
                plans.push(tinyml_kit::lesson_plan::lesson_plan(&name, &notebook));
            }
            for plan in &plans {
                println!("{plan}");
            }
            print!("{}", LessonPlan::table(&plans));
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
        Cmd::Import {
            file,
            front_end,
            labels,
            out,
        } => import(&file, front_end.as_deref(), labels.as_deref(), &out),
        Cmd::Data(DataCmd::Fetch { name, dir, mirror }) => fetch(&name, dir, mirror),
    }
}

/// The repository root (this binary is built from it: the kit is used from a clone).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}
