//! The board: `ports`, `flash`, `deploy`, `predict`, `monitor`, `simulate`, `record`.

use std::path::{Path, PathBuf};

use clap::Args;
use tinyml_kit::activity::ActivityData;
use tinyml_kit::audio::Audio;
use tinyml_kit::device::{class_label, Board, ImuRecording, ListenWindow, Simulator};
use tinyml_kit::error::{DeviceError, Error, Result};
use tinyml_kit::quantize::QuantizedModel;
use tinyml_kit::recorder::{Recorder, DEFAULT_COUNTDOWN};

use crate::print_json;

pub(crate) fn list_ports(json: bool) -> Result<()> {
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

pub(crate) fn simulate(model: Option<&Path>, mic: Option<&Path>, imu: Option<&Path>) -> Result<()> {
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

pub(crate) fn deploy(file: &Path, port: Option<&str>, json: bool) -> Result<()> {
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

pub(crate) fn predict(
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

pub(crate) fn monitor(
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
pub(crate) struct RecordArgs {
    /// Record in a web page with this computer's microphone (a laptop or a Chromebook), instead
    /// of the board: prints a link to open; every word of --words, --takes times.
    #[arg(long, conflicts_with_all = ["sensor", "label", "port", "simulate"])]
    pub(crate) browser: bool,
    /// With --browser: the words in their real spelling, separated by commas
    /// ("Yá'át'ééh,aoo',dooda,hágoónee'").
    #[arg(long, value_delimiter = ',', requires = "browser")]
    pub(crate) words: Vec<String>,
    /// `mic` or `imu` (the board's sensor).
    #[arg(long, required_unless_present = "browser")]
    pub(crate) sensor: Option<String>,
    /// The word (in its real spelling) or activity being recorded from the board.
    #[arg(long, required_unless_present = "browser")]
    pub(crate) label: Option<String>,
    /// How many recordings (of each word, with --browser).
    #[arg(long, visible_alias = "takes", default_value_t = 10)]
    pub(crate) count: usize,
    /// Seconds per recording (default: 1.5 for the microphone, 10 for the IMU).
    #[arg(long)]
    pub(crate) seconds: Option<f64>,
    /// Who is recording (the speaker id that keeps a person's clips in one split).
    #[arg(long, default_value = "me")]
    pub(crate) speaker: String,
    /// The dataset folder.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// The serial port (default: the first Nano 33 BLE found).
    #[arg(long)]
    pub(crate) port: Option<String>,
    /// Record from a simulated board instead (with --mic, what its microphone plays).
    #[arg(long, conflicts_with = "port")]
    pub(crate) simulate: bool,
    /// With --simulate: a WAV file its microphone plays at the start of each recording.
    #[arg(long, value_name = "FILE.wav", requires = "simulate")]
    pub(crate) mic: Option<PathBuf>,
    /// Seconds of countdown before each recording (default: 1 from the board, 3 in the
    /// browser).
    #[arg(long)]
    pub(crate) countdown: Option<f64>,
}

/// `dir/prefix{n}.ext` for the first `n` not taken, and `n`.
fn free_path(dir: &Path, prefix: &str, ext: &str) -> (u32, PathBuf) {
    (0..)
        .map(|n| (n, dir.join(format!("{prefix}{n}.{ext}"))))
        .find(|(_, p)| !p.exists())
        .expect("a free name")
}

pub(crate) fn record(a: &RecordArgs) -> Result<()> {
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

pub(crate) fn flash(
    firmware: Option<&Path>,
    port: Option<&str>,
    bootloader_port: Option<&str>,
    bossac: Option<&Path>,
) -> Result<()> {
    let path = firmware.map_or_else(built_firmware, Path::to_path_buf);
    if firmware.is_none() && !path.exists() {
        return Err(Error::Device(DeviceError::Flash(format!(
            "no firmware built yet ({}): build it with `cd firmware/nano33ble && cargo build \
             --release`, or pass --firmware FILE",
            path.display()
        ))));
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
