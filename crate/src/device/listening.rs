//! The board's sensor loops from the laptop: the windows a keyword or activity loop gives,
//! computed with the board's code (`listen_to`, `watch`) or received from a board, and
//! accelerometer recordings.

use tinyml_core::imu::mg_to_g;
use tinyml_core::limits::Limits;
use tinyml_core::listen::{
    keyword_arena_bytes, next_window, probability, ListenError, Listener, Recognizer,
    RecognizerConfig, SensorLoop, MAX_CLASSES,
};
use tinyml_core::model::{Budget, Tensor};
use tinyml_core::motion::MotionListener;

use crate::activity::ActivityData;
use crate::audio::Audio;
use crate::error::{Error, Result};
use crate::plot::{Figure, Table};
use crate::quantize::QuantizedModel;

use super::{class_label, Sensor, IMU_RATE_HZ, MIC_RATE_HZ};

/// One window of the board's keyword or activity loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenWindow {
    /// When the window ended, in milliseconds since the board started.
    pub time_ms: u32,
    /// The class the recognizer reported in this window (a new word, or the activity), if any.
    pub heard: Option<usize>,
    /// Its averaged score, 0–255 for probability 0–1.
    pub score: u8,
    /// The model's raw int8 outputs for this window.
    pub outputs: Vec<i8>,
}

impl ListenWindow {
    /// A window of the core's loops, with the raw outputs it wrote into `scores`.
    fn of(window: &tinyml_core::listen::Window, scores: &[i8]) -> ListenWindow {
        ListenWindow {
            time_ms: window.time_ms,
            heard: window.heard.map(|h| h.class as usize),
            score: window.heard.map_or(0, |h| h.score),
            outputs: scores[..window.outputs].to_vec(),
        }
    }

    /// The heard word's averaged probability (0 when nothing was heard).
    pub fn probability(&self) -> f64 {
        self.score as f64 / 255.0
    }
}

/// The output quantization of every kit model (the int8 softmax's: probability
/// `(q + 128) / 256`), for a board whose model the laptop has not been told.
pub(super) fn softmax_output() -> Tensor {
    Tensor {
        h: 1,
        w: 1,
        c: 1,
        offset: 0,
        scale: 1.0 / 256.0,
        zero_point: -128,
    }
}

/// What the board heard while listening (or saw while watching its accelerometer).
#[derive(Debug, Clone, PartialEq)]
pub struct Listening {
    /// The sensor the model ran on.
    pub sensor: Sensor,
    /// The model's labels (empty when unknown: classes are then numbered).
    pub labels: Vec<String>,
    /// The model's output tensor (its quantization turns outputs into probabilities).
    pub output: Tensor,
    /// The recognizer's settings the loop ran with.
    pub recognizer: RecognizerConfig,
    /// Each window's length in milliseconds (a keyword model's clip, an activity model's
    /// window): a window's time is its end.
    pub window_ms: u32,
    /// Every window, in order.
    pub windows: Vec<ListenWindow>,
    /// True when it was the simulator.
    pub simulated: bool,
}

impl Listening {
    /// The words heard: (seconds since the board started, label, probability).
    pub fn heard(&self) -> Vec<(f64, String, f64)> {
        self.windows
            .iter()
            .filter_map(|w| {
                w.heard.map(|c| {
                    (
                        w.time_ms as f64 / 1000.0,
                        class_label(&self.labels, c),
                        w.probability(),
                    )
                })
            })
            .collect()
    }

    /// The same windows heard again by a recognizer of `threshold` (a probability, 0 to 1) with
    /// the loop's other settings ([`Listening::recognizer`]): what the board would have reported
    /// with that threshold. Lower it and more words are reported, right and wrong. Classes
    /// labelled "silence" or "unknown" are never reported (all are reported when the labels are
    /// not known).
    pub fn with_threshold(&self, threshold: f64) -> Result<Listening> {
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(Error::param(
                "threshold",
                format!("{threshold} (a probability above 0 and at most 1, such as 0.5)"),
            ));
        }
        let config = RecognizerConfig {
            threshold: (threshold * 255.0).round() as u8,
            ..self.recognizer
        };
        let classes = self.windows.first().map_or(0, |w| w.outputs.len());
        let label = |c: usize| self.labels.get(c).map_or("", String::as_str);
        let mut recognizer = Recognizer::for_labels(config, classes, label);
        let mut again = self.clone();
        for window in &mut again.windows {
            let probabilities: Vec<u8> = window
                .outputs
                .iter()
                .map(|&q| probability(&self.output, q))
                .collect();
            let heard = recognizer.push(window.time_ms, &probabilities);
            window.heard = heard.map(|h| h.class as usize);
            window.score = heard.map_or(0, |h| h.score);
        }
        Ok(again)
    }

    /// The words heard, as a table.
    pub fn table(&self) -> Table {
        let mut t = Table::new(&["time (s)", "heard", "probability"]);
        for (time, label, p) in self.heard() {
            t.push(vec![
                format!("{time:.2}"),
                label,
                format!("{:.0}%", 100.0 * p),
            ]);
        }
        t
    }

    /// Each class's probability in every window, over time.
    pub fn figure(&self) -> Figure {
        let title = match (self.sensor, self.simulated) {
            (Sensor::Microphone, true) => "What the simulated board hears",
            (Sensor::Microphone, false) => "What the board hears",
            (Sensor::Accelerometer, true) => "What the simulated board feels",
            (Sensor::Accelerometer, false) => "What the board feels",
        };
        let mut fig = Figure::lines(title, "time (s)", "probability");
        let classes = self.windows.first().map_or(0, |w| w.outputs.len());
        for c in 0..classes {
            let points = self
                .windows
                .iter()
                .map(|w| {
                    let q = w.outputs.get(c).copied().unwrap_or(i8::MIN);
                    let p = probability(&self.output, q) as f64 / 255.0;
                    (w.time_ms as f64 / 1000.0, p)
                })
                .collect();
            fig = fig.line(&class_label(&self.labels, c), points);
        }
        fig
    }

    /// Shows the words heard (or activities seen) and the probabilities over time in Jupyter.
    pub fn evcxr_display(&self) {
        let what = match self.sensor {
            Sensor::Microphone => "word(s) heard",
            Sensor::Accelerometer => "window(s) with an activity",
        };
        println!(
            "{} windows, {} {what}",
            self.windows.len(),
            self.heard().len()
        );
        self.table().evcxr_display();
        self.figure().evcxr_display();
    }
}

/// What the board's keyword loop hears in `audio`, computed on the laptop with the board's code
/// (the core's `Listener` and the recognizer's settings, a window every 250 ms): the windows and
/// words a board or the simulator gives for this sound, with times from its start.
pub fn listen_to(model: &QuantizedModel, audio: &Audio) -> Result<Listening> {
    model.check_limits(Budget::NANO_33_BLE.board, &Limits::BOARD)?;
    let m = model.model();
    let mut listener = Box::new(Listener::new());
    let refused = |e: tinyml_core::listen::ListenError| {
        Error::WrongModel(format!(
            "the board cannot listen with this model ({e:?}): it takes a keyword model (MFCC of \
             a 16 kHz clip)"
        ))
    };
    listener
        .start(&m, RecognizerConfig::KEYWORDS)
        .map_err(refused)?;
    let pcm = audio.resample(MIC_RATE_HZ)?.to_pcm16();
    // The model's arena, then the clip's samples, as on the board.
    let mut arena = vec![0i8; keyword_arena_bytes(&m).map_err(refused)?];
    let windows = run_loop(&mut *listener, &m, &pcm, &mut arena, MIC_RATE_HZ).map_err(refused)?;
    Ok(on_the_laptop(Sensor::Microphone, model, windows))
}

/// What the board's activity loop sees in `recording`, computed on the laptop with the board's
/// code (the core's `MotionListener`, the model's window and hop, the recognizer's
/// [`RecognizerConfig::ACTIVITIES`]): the windows a board or the simulator gives for these
/// movements, with times from their start.
pub fn watch(model: &QuantizedModel, recording: &ImuRecording) -> Result<Listening> {
    let m = model.model();
    let mut motion = Box::new(MotionListener::new());
    motion
        .start(&m, RecognizerConfig::ACTIVITIES)
        .map_err(activity_refused)?;
    if recording.sample_rate_hz != IMU_RATE_HZ {
        return Err(Error::param(
            "recording",
            format!(
                "{} Hz: the board's accelerometer runs at {IMU_RATE_HZ} Hz; record it again \
                 from the board",
                recording.sample_rate_hz
            ),
        ));
    }
    let mg = recording.to_mg();
    let mut arena = vec![0i8; m.arena_bytes()];
    let windows =
        run_loop(&mut *motion, &m, &mg, &mut arena, IMU_RATE_HZ).map_err(activity_refused)?;
    Ok(on_the_laptop(Sensor::Accelerometer, model, windows))
}

/// The windows `model`'s loop on `sensor` gave on the laptop, with what reads them.
fn on_the_laptop(sensor: Sensor, model: &QuantizedModel, windows: Vec<ListenWindow>) -> Listening {
    let m = model.model();
    let (recognizer, window_ms) = recognizer_of(&m);
    Listening {
        sensor,
        labels: model.labels(),
        output: m.output(),
        recognizer,
        window_ms,
        windows,
        simulated: true,
    }
}

/// Every window of the board's `sensor` loop (started on `model`) over `values`, sampled at
/// `rate_hz`, with times from their start; the first window that fails stops it.
fn run_loop<L: SensorLoop>(
    sensor: &mut L,
    model: &tinyml_core::model::Model,
    values: &[i16],
    arena: &mut [i8],
    rate_hz: u32,
) -> std::result::Result<Vec<ListenWindow>, ListenError> {
    let mut windows = Vec::new();
    let mut rest = values;
    loop {
        let mut scores = [0i8; MAX_CLASSES];
        let time_ms = |left: usize| {
            let samples = ((values.len() - left) / L::VALUES_PER_SAMPLE) as u64;
            (samples * 1000 / rate_hz as u64) as u32
        };
        match next_window(
            sensor,
            || Some(*model),
            &mut rest,
            arena,
            time_ms,
            &mut scores,
        ) {
            Some(window) => windows.push(ListenWindow::of(&window?, &scores)),
            None => return Ok(windows),
        }
    }
}

/// The recognizer's settings and the window length (ms) the board's loop uses for `model`: a
/// keyword model's clip ([`RecognizerConfig::KEYWORDS`], suppression grown with the clip), an
/// activity model's window ([`RecognizerConfig::ACTIVITIES`]); the one-second keyword loop's for
/// a model of neither kind.
pub(super) fn recognizer_of(model: &tinyml_core::model::Model) -> (RecognizerConfig, u32) {
    if let Ok(features) = tinyml_core::listen::keyword_front_end(model) {
        let config = RecognizerConfig::KEYWORDS.for_clip_ms(features.clip_ms);
        return (config, features.clip_ms as u32);
    }
    if let Ok((window, _)) = tinyml_core::motion::activity_front_end(model) {
        let ms = (window as u64 * 1000 / IMU_RATE_HZ as u64) as u32;
        return (RecognizerConfig::ACTIVITIES, ms);
    }
    (RecognizerConfig::KEYWORDS, 1_000)
}

fn activity_refused(e: ListenError) -> Error {
    Error::WrongModel(format!(
        "the board cannot watch its accelerometer with this model ({e:?}): it takes an activity \
         model (ActivityNetwork::quantize, windows of at most {} samples at {IMU_RATE_HZ} Hz)",
        tinyml_core::motion::MAX_WINDOW
    ))
}

/// Accelerometer samples from the board, in g.
#[derive(Debug, Clone, PartialEq)]
pub struct ImuRecording {
    /// Samples per second.
    pub sample_rate_hz: u32,
    /// The three axes, in g.
    pub ax: Vec<f32>,
    /// See `ax`.
    pub ay: Vec<f32>,
    /// See `ax`.
    pub az: Vec<f32>,
}

impl ImuRecording {
    /// A recording from x, y, z triples in milligravities (what the board streams).
    pub fn from_mg(triples: &[i16]) -> ImuRecording {
        let axis = |k: usize| triples.chunks_exact(3).map(|t| mg_to_g(t[k])).collect();
        ImuRecording {
            sample_rate_hz: IMU_RATE_HZ,
            ax: axis(0),
            ay: axis(1),
            az: axis(2),
        }
    }

    /// The samples as the board's IMU gives them: x, y, z triples in milligravities (rounded,
    /// and clamped to ±32.767 g).
    pub fn to_mg(&self) -> Vec<i16> {
        let mg = |g: f32| (g as f64 * 1000.0).round().clamp(-32_767.0, 32_767.0) as i16;
        let n = self.ax.len().min(self.ay.len()).min(self.az.len());
        (0..n)
            .flat_map(|i| [mg(self.ax[i]), mg(self.ay[i]), mg(self.az[i])])
            .collect()
    }

    /// The first session of `data` recorded with `label`, as one recording (its windows back to
    /// back): what the board's accelerometer would give during that activity.
    pub fn from_activity(data: &ActivityData, label: &str) -> Result<ImuRecording> {
        let first = data
            .windows
            .iter()
            .find(|w| w.label == label)
            .ok_or_else(|| {
                Error::param(
                    "label",
                    format!(
                        "no window of {} is labelled {label:?} (labels: {})",
                        data.source,
                        data.label_names().join(", ")
                    ),
                )
            })?;
        if data.sample_rate_hz != IMU_RATE_HZ as f32 {
            return Err(Error::param(
                "data",
                format!(
                    "{} is sampled at {} Hz; the board's accelerometer runs at {IMU_RATE_HZ} Hz",
                    data.source, data.sample_rate_hz
                ),
            ));
        }
        let session = data
            .windows
            .iter()
            .filter(|w| w.person == first.person && w.session == first.session);
        let mut recording = ImuRecording {
            sample_rate_hz: IMU_RATE_HZ,
            ax: Vec::new(),
            ay: Vec::new(),
            az: Vec::new(),
        };
        for w in session {
            recording.ax.extend_from_slice(&w.ax);
            recording.ay.extend_from_slice(&w.ay);
            recording.az.extend_from_slice(&w.az);
        }
        Ok(recording)
    }

    /// Seconds of samples.
    pub fn seconds(&self) -> f64 {
        self.ax.len() as f64 / self.sample_rate_hz as f64
    }

    /// Writes the recording as one session of the Day 1 activity CSV layout
    /// (`person,session,label,t_ms,ax,ay,az`), which `ActivityData::load` reads.
    pub fn save_csv(
        &self,
        path: impl AsRef<std::path::Path>,
        person: &str,
        session: u32,
        label: &str,
    ) -> Result<()> {
        use std::fmt::Write as _;
        let path = path.as_ref();
        for (what, v) in [("person", person), ("label", label)] {
            if v.is_empty() || v.contains([',', '\n', '\r', '"']) {
                return Err(Error::param(
                    what,
                    format!("{v:?} (use a name without commas)"),
                ));
            }
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut out = String::from("person,session,label,t_ms,ax,ay,az\n");
        for i in 0..self.ax.len() {
            let t = (i as f64 * 1000.0 / self.sample_rate_hz as f64).round();
            let _ = writeln!(
                out,
                "{person},{session},{label},{t},{:.4},{:.4},{:.4}",
                self.ax[i], self.ay[i], self.az[i]
            );
        }
        std::fs::write(path, out).map_err(|e| Error::io(path, e))
    }
}
