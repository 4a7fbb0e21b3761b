//! The keyword loop the board runs on its microphone: every quarter of a second, the last clip
//! of 16 kHz samples (a second, or up to [`MAX_CLIP_MS`] for a model trained on longer clips)
//! goes through the model's front end (peak normalisation, MFCC, standardisation, quantization)
//! and the interpreter, and a [`Recognizer`] turns the noisy per-window scores into detections.
//!
//! The recognizer follows TensorFlow Lite Micro's `micro_speech` example (`RecognizeCommands`):
//! scores can be averaged over the last few windows, the best class counts only above a
//! threshold, "silence" and "unknown" never count, and the same word is not reported again until
//! a suppression time has passed. [`RecognizerConfig::KEYWORDS`] says which settings the kit
//! uses, and how they were measured.
//!
//! The firmware feeds [`Listener`] from the PDM microphone; the laptop's simulator feeds it from a
//! WAV file. A window of a 16-bit recording gives the same input bytes as the laptop's
//! `QuantizedModel::predict_keyword` on that clip (see [`Mfcc::process_pcm16_le`]).
//!
//! The clip's samples live at the end of the interpreter's arena, after the bytes the model
//! needs ([`keyword_arena_bytes`]): a keyword model uses little of the board's 128 KB, and the
//! board keeps no second buffer of its own for the longest clip.

use crate::limits::Limits;
use crate::mfcc::{pcm16_le_gain, FeatureConfig, Mfcc, MfccError, MAX_CLIP_MS, NORMALIZED_PEAK};
use crate::model::{FrontEnd, Kernels, Model, ModelError, Tensor};
use crate::protocol::Response;

/// The microphone's sample rate (the PDM microphone of the Nano 33 BLE Sense, and the rate the
/// keyword features use).
pub const MIC_SAMPLE_RATE_HZ: u32 = 16_000;
/// Samples in the longest clip a keyword model may take ([`MAX_CLIP_MS`] of microphone audio).
pub const MAX_CLIP_SAMPLES: usize = MIC_SAMPLE_RATE_HZ as usize * MAX_CLIP_MS as usize / 1000;
/// A second of microphone samples: the shortest clip.
const ONE_SECOND: usize = MIC_SAMPLE_RATE_HZ as usize;
/// Samples between two windows (250 ms: four inferences a second).
pub const HOP_SAMPLES: usize = MIC_SAMPLE_RATE_HZ as usize / 4;
/// Most model input values (frames × coefficients) the listener holds (2,048; 1,024 with the
/// board's `small-tables` feature: 49 frames of up to 20 coefficients, or 74 of 13 for a
/// 1.5 s clip).
pub const MAX_FEATURES: usize = crate::limits::Limits::BUILD.keyword_inputs;
/// Most classes the recognizer follows.
pub const MAX_CLASSES: usize = 32;
/// Most windows averaged.
pub const MAX_AVERAGE: usize = 8;
/// Labels that are never reported as heard.
pub const BACKGROUND_LABELS: [&str; 2] = ["silence", "unknown"];

/// Why the microphone loop cannot run a model. Codes are those of the protocol's Nak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenError {
    /// The model does not take a clip of 16 kHz audio through MFCC features (a digits model,
    /// another sample rate, or too many classes or features for the listener).
    NotAKeywordModel,
    /// The model's front end or interpreter failed.
    Model(ModelError),
    /// The features could not be computed.
    Features(MfccError),
    /// The model does not take windows of the board's accelerometer (no motion front end,
    /// another sample rate, a window longer than [`crate::motion::MAX_WINDOW`], or too many
    /// classes).
    NotAnActivityModel,
    /// The accelerometer window's features could not be computed.
    Motion(crate::imu::FeatureError),
}

impl ListenError {
    /// The Nak code: `BadSensor` for a model that does not take the sensor, `BadFrontEnd` for
    /// features that cannot be planned, else the model's.
    pub fn code(self) -> u8 {
        match self {
            ListenError::NotAKeywordModel
            | ListenError::NotAnActivityModel
            | ListenError::Motion(_) => crate::protocol::ProtocolError::BadSensor.code(),
            ListenError::Features(_) => ModelError::BadFrontEnd.code(),
            ListenError::Model(e) => e.code(),
        }
    }
}

/// The recognizer's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecognizerConfig {
    /// Windows averaged (1 to [`MAX_AVERAGE`]).
    pub average_windows: u8,
    /// Least averaged score to report a class, 0–255 for probability 0–1.
    pub threshold: u8,
    /// The same class is not reported again within this many milliseconds.
    pub suppression_ms: u32,
}

impl RecognizerConfig {
    /// The course's settings: each window on its own, probability 0.8, 1 s of suppression.
    ///
    /// Measured by `cargo bench -p tinyml-kit --bench recognizer` (held-out voices, a model
    /// trained with augmented copies and silence): 64% of keywords heard, 2.8 false alarms a
    /// minute. Averaging windows loses words: a short word fills only one or two windows 250 ms
    /// apart, so 2 windows at 0.5 heard 50% (3.2 false alarms a minute) and 3 windows at 0.6,
    /// 11%.
    pub const KEYWORDS: RecognizerConfig = RecognizerConfig {
        average_windows: 1,
        threshold: 204,
        suppression_ms: 1_000,
    };

    /// The activity loop's settings ([`crate::motion`]): the average of the last two windows
    /// (a second apart with the course's 2 s windows and 1 s hop), reported at probability 0.5
    /// and above, every window (an activity lasts: the LED keeps its colour while it does).
    pub const ACTIVITIES: RecognizerConfig = RecognizerConfig {
        average_windows: 2,
        threshold: 128,
        suppression_ms: 0,
    };

    /// These settings for a model of `clip_ms` clips: a word stays in view for as many more
    /// windows as the clip is longer than a second, so the suppression (when there is one)
    /// grows by as much; otherwise a short word in a 1.5 s clip is reported twice.
    pub fn for_clip_ms(self, clip_ms: u16) -> RecognizerConfig {
        let longer = (clip_ms as u32).saturating_sub(1_000);
        RecognizerConfig {
            suppression_ms: if self.suppression_ms == 0 {
                0
            } else {
                self.suppression_ms.saturating_add(longer)
            },
            ..self
        }
    }
}

/// A class heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heard {
    /// The class (the model's output index).
    pub class: u8,
    /// Its averaged score, 0–255 for probability 0–1.
    pub score: u8,
}

/// Averaging, threshold and suppression over per-window scores.
#[derive(Debug, Clone)]
pub struct Recognizer {
    config: RecognizerConfig,
    classes: usize,
    /// Bit `c`: class `c` is never reported.
    background: u32,
    history: [[u8; MAX_CLASSES]; MAX_AVERAGE],
    /// Windows in `history` (up to `average_windows`), and where the next one goes.
    count: usize,
    next: usize,
    /// The last class reported and when (`reported` false: none yet). Three plain fields, not
    /// an `Option`, so that an idle recognizer is all zeros (the board's `.bss`).
    reported: bool,
    last_class: u8,
    last_ms: u32,
}

impl Recognizer {
    /// A recognizer of `classes` classes (at most [`MAX_CLASSES`]); bit `c` of `background` set:
    /// class `c` is never reported.
    pub const fn new(config: RecognizerConfig, classes: usize, background: u32) -> Recognizer {
        Recognizer {
            config,
            classes,
            background,
            history: [[0; MAX_CLASSES]; MAX_AVERAGE],
            count: 0,
            next: 0,
            reported: false,
            last_class: 0,
            last_ms: 0,
        }
    }

    /// A recognizer of `model`'s classes, where those labelled "silence" or "unknown" are never
    /// reported.
    pub fn for_model(model: &Model, config: RecognizerConfig) -> Recognizer {
        Recognizer::for_labels(config, model.output().len(), |c| model.label(c))
    }

    /// A recognizer of `classes` classes (at most [`MAX_CLASSES`]) named by `label`, where those
    /// labelled "silence" or "unknown" are never reported.
    pub fn for_labels<'l>(
        config: RecognizerConfig,
        classes: usize,
        label: impl Fn(usize) -> &'l str,
    ) -> Recognizer {
        let classes = classes.min(MAX_CLASSES);
        let mut background = 0u32;
        for c in 0..classes {
            if BACKGROUND_LABELS.contains(&label(c)) {
                background |= 1 << c;
            }
        }
        Recognizer::new(config, classes, background)
    }

    fn windows(&self) -> usize {
        (self.config.average_windows as usize).clamp(1, MAX_AVERAGE)
    }

    /// Adds one window's probabilities (0–255, one per class) at `time_ms`; gives the class heard,
    /// if one is new.
    pub fn push(&mut self, time_ms: u32, probabilities: &[u8]) -> Option<Heard> {
        let n = self.classes.min(MAX_CLASSES).min(probabilities.len());
        let windows = self.windows();
        self.history[self.next] = [0; MAX_CLASSES];
        self.history[self.next][..n].copy_from_slice(&probabilities[..n]);
        self.next = (self.next + 1) % windows;
        self.count = (self.count + 1).min(windows);
        if self.count < windows || n == 0 {
            return None;
        }
        let mut best = (0usize, 0u32);
        for c in 0..n {
            let sum: u32 = self.history[..windows].iter().map(|h| h[c] as u32).sum();
            // Ties go to the lower class.
            if sum > best.1 {
                best = (c, sum);
            }
        }
        let (class, score) = (best.0 as u8, (best.1 / windows as u32) as u8);
        if self.background >> class & 1 == 1 || score < self.config.threshold {
            return None;
        }
        if self.reported
            && self.last_class == class
            && time_ms.wrapping_sub(self.last_ms) < self.config.suppression_ms
        {
            return None;
        }
        (self.reported, self.last_class, self.last_ms) = (true, class, time_ms);
        Some(Heard { class, score })
    }
}

/// The probability 0–255 of an int8 output value (its real value in the output tensor's
/// quantization, clamped to 0–1).
pub fn probability(output: &Tensor, q: i8) -> u8 {
    libm::roundf(output.dequantize(q).clamp(0.0, 1.0) * 255.0) as u8
}

/// Checks that `model` takes a clip of microphone audio, with features within the board's
/// [`Limits`] (in every build: the laptop's listening and simulator refuse what the board
/// would); gives its feature configuration.
pub fn keyword_front_end(model: &Model) -> Result<FeatureConfig, ListenError> {
    match model.front_end().map_err(ListenError::Model)? {
        FrontEnd::Mfcc { config, frames, .. }
            if config.validate().is_ok()
                && config.sample_rate_hz == MIC_SAMPLE_RATE_HZ
                && config.clip_frames() == frames
                && Limits::BOARD.check(model).is_ok()
                && model.output().len() <= MAX_CLASSES =>
        {
            Ok(config)
        }
        _ => Err(ListenError::NotAKeywordModel),
    }
}

/// Arena bytes the keyword loop needs for `model`: the model's own, then its clip's samples
/// (two bytes each) at the end. Run on the microphone checks this, as Predict checks the
/// model's own.
pub fn keyword_arena_bytes(model: &Model) -> Result<usize, ListenError> {
    let config = keyword_front_end(model)?;
    Ok(model.arena_bytes() + 2 * config.clip_samples())
}

/// What one window gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When it ended, in milliseconds since the board started.
    pub time_ms: u32,
    /// Output values written.
    pub outputs: usize,
    /// A class heard in this window.
    pub heard: Option<Heard>,
}

impl Window {
    /// The Prediction message of this window, with its raw outputs `scores` (as
    /// [`Listener::infer`] wrote them) copied into `bytes`.
    pub fn prediction<'b>(&self, scores: &[i8], bytes: &'b mut [u8; MAX_CLASSES]) -> Response<'b> {
        let n = self.outputs.min(scores.len());
        for (b, &s) in bytes.iter_mut().zip(&scores[..n]) {
            *b = s as u8;
        }
        Response::Prediction {
            time_ms: self.time_ms,
            class: self.heard.map_or(255, |h| h.class),
            score: self.heard.map_or(0, |h| h.score),
            scores: &bytes[..n],
        }
    }
}

/// The microphone loop's state: where it is in the clip, the feature planner, the model's
/// input, the recognizer. The clip's samples are in the arena ([`keyword_arena_bytes`]), so the
/// board's `static` of it is about 17 KB with the `small-tables` feature, whatever the clip.
///
/// Give [`Listener::push`], [`Listener::feed`] and [`Listener::infer`] the same arena every
/// time: the samples stay in it between calls.
#[derive(Clone)]
pub struct Listener {
    /// Samples per window beyond a second (the model's clip; 0, a second, before
    /// [`Listener::start`], so that an idle listener is all zeros).
    extra: usize,
    /// Samples of the current window received.
    filled: usize,
    /// Some samples of this window could not be kept (an arena shorter than the clip).
    dropped: bool,
    /// Planned for the model by `start`.
    mfcc: Mfcc,
    ready: bool,
    features: [f32; MAX_FEATURES],
    input: [i8; MAX_FEATURES],
    recognizer: Recognizer,
}

impl Default for Listener {
    fn default() -> Self {
        Listener::new()
    }
}

impl Listener {
    /// An idle listener ([`Listener::start`] it with a model). All zeros: a `static` of it
    /// takes RAM but no flash.
    pub const fn new() -> Listener {
        const IDLE: RecognizerConfig = RecognizerConfig {
            average_windows: 0,
            threshold: 0,
            suppression_ms: 0,
        };
        Listener {
            extra: 0,
            filled: 0,
            dropped: false,
            mfcc: Mfcc::EMPTY,
            ready: false,
            features: [0.0; MAX_FEATURES],
            input: [0; MAX_FEATURES],
            recognizer: Recognizer::new(IDLE, 0, 0),
        }
    }

    /// Gets ready to listen with `model`: plans its features, takes its clip length (and
    /// stretches `config`'s suppression to it, [`RecognizerConfig::for_clip_ms`]), forgets
    /// earlier samples and scores. Classes labelled "silence" or "unknown" are never reported.
    pub fn start(&mut self, model: &Model, config: RecognizerConfig) -> Result<(), ListenError> {
        let features = keyword_front_end(model)?;
        self.ready = false;
        self.mfcc.plan(features).map_err(ListenError::Features)?;
        self.ready = true;
        self.extra = features.clip_samples() - ONE_SECOND;
        self.recognizer = Recognizer::for_model(model, config.for_clip_ms(features.clip_ms));
        self.filled = 0;
        self.dropped = false;
        Ok(())
    }

    /// Samples in one window (the model's clip).
    pub fn clip_samples(&self) -> usize {
        ONE_SECOND + self.extra
    }

    /// The clip's place at the end of `arena`, if the arena holds it.
    fn clip_bytes<'a>(&self, arena: &'a mut [i8]) -> Option<&'a mut [i8]> {
        let len = arena.len();
        arena.get_mut(len.checked_sub(2 * self.clip_samples())?..)
    }

    /// Takes samples until a window is due (keeping them at the end of `arena`); gives how
    /// many it took (call again with the rest after [`Listener::infer`]).
    pub fn push(&mut self, samples: &[i16], arena: &mut [i8]) -> usize {
        let n = samples.len().min(self.clip_samples() - self.filled);
        let at = 2 * self.filled;
        match self.clip_bytes(arena) {
            Some(clip) => {
                for (pair, &x) in clip[at..at + 2 * n].chunks_exact_mut(2).zip(&samples[..n]) {
                    let [lo, hi] = x.to_le_bytes();
                    pair[0] = lo as i8;
                    pair[1] = hi as i8;
                }
            }
            // Nowhere to keep them: the window is still counted, and fails.
            None => self.dropped |= n > 0,
        }
        self.filled += n;
        n
    }

    /// Takes samples from the front of `rest` (which moves past them) until a window is due;
    /// true when one is: call [`Listener::infer`], then `feed` again with the rest.
    pub fn feed(&mut self, rest: &mut &[i16], arena: &mut [i8]) -> bool {
        let taken = self.push(rest, arena);
        *rest = &rest[taken..];
        self.due()
    }

    /// True when a clip of samples is waiting for [`Listener::infer`].
    pub fn due(&self) -> bool {
        self.filled == self.clip_samples()
    }

    /// Moves on by [`HOP_SAMPLES`]: the next window is due after that many more samples.
    fn advance(&mut self, arena: &mut [i8]) {
        let hop = HOP_SAMPLES.min(self.clip_samples());
        if let Some(clip) = self.clip_bytes(arena) {
            clip.copy_within(2 * hop.., 0);
        }
        self.filled = self.clip_samples() - hop;
        self.dropped = false;
    }

    /// Runs the model on the last clip (features, quantization, interpreter in the front of
    /// `arena`), writes its raw int8 outputs into `scores`, and moves on by [`HOP_SAMPLES`],
    /// whatever the result (a window that fails is not tried again; the caller reports the
    /// error).
    pub fn infer(
        &mut self,
        model: &Model,
        arena: &mut [i8],
        time_ms: u32,
        scores: &mut [i8],
    ) -> Result<Window, ListenError> {
        if !self.due() {
            return Err(ListenError::Model(ModelError::WrongIoSize));
        }
        let window = self.infer_window(model, arena, time_ms, scores);
        self.advance(arena);
        window
    }

    fn infer_window(
        &mut self,
        model: &Model,
        arena: &mut [i8],
        time_ms: u32,
        scores: &mut [i8],
    ) -> Result<Window, ListenError> {
        if !self.ready {
            return Err(ListenError::NotAKeywordModel);
        }
        let clip_len = 2 * self.clip_samples();
        let model_len = arena.len().checked_sub(clip_len);
        let (work, clip) = match model_len {
            Some(n) if n >= model.arena_bytes() && !self.dropped => arena.split_at_mut(n),
            _ => return Err(ListenError::Model(ModelError::ArenaTooSmall)),
        };
        let (n_in, output) = (model.input().len(), model.output());
        if n_in > MAX_FEATURES || scores.len() < output.len() {
            return Err(ListenError::Model(ModelError::WrongIoSize));
        }
        let gain = pcm16_le_gain(clip, NORMALIZED_PEAK);
        let features = &mut self.features[..n_in];
        self.mfcc
            .process_pcm16_le(clip, gain, features)
            .map_err(ListenError::Features)?;
        model
            .quantize_input(features, &mut self.input[..n_in])
            .map_err(ListenError::Model)?;
        recognize(
            model,
            work,
            &self.input[..n_in],
            time_ms,
            scores,
            &mut self.recognizer,
        )
    }
}

/// A sensor's loop, as the board runs it: values go in, and when a window is due the model runs
/// on it and a recognizer says what it heard. [`Listener`] is the microphone's,
/// [`crate::motion::MotionListener`] the accelerometer's; [`next_window`] drives either, on the
/// board, in the simulator and on the laptop.
pub trait SensorLoop {
    /// Values per sample: 1 for the microphone, 3 (x, y, z) for the accelerometer.
    const VALUES_PER_SAMPLE: usize;

    /// Gets ready to run `model`, with the recognizer's `config`.
    fn start(&mut self, model: &Model, config: RecognizerConfig) -> Result<(), ListenError>;

    /// Takes values from the front of `rest` (which moves past them) until a window is due;
    /// true when one is.
    fn feed(&mut self, rest: &mut &[i16], arena: &mut [i8]) -> bool;

    /// Runs `model` on the due window, writes its raw outputs into `scores`, and moves on to the
    /// next window (also when it fails).
    fn infer(
        &mut self,
        model: &Model,
        arena: &mut [i8],
        time_ms: u32,
        scores: &mut [i8],
    ) -> Result<Window, ListenError>;
}

/// Drives `sensor` one window on: takes values from `rest` until a window is due, then runs the
/// model `model` gives (asked only then: on the board it is parsed from flash) on it, at the time
/// `time_ms` gives for the values still left in `rest` (the board asks its clock; the laptop
/// counts the samples taken). `None` when `rest` ran out before a window was due (call again with
/// the next values), or when there is no model (the window is dropped).
pub fn next_window<'m, L: SensorLoop>(
    sensor: &mut L,
    model: impl FnOnce() -> Option<Model<'m>>,
    rest: &mut &[i16],
    arena: &mut [i8],
    time_ms: impl FnOnce(usize) -> u32,
    scores: &mut [i8],
) -> Option<Result<Window, ListenError>> {
    if !sensor.feed(rest, arena) {
        return None;
    }
    let model = model()?;
    Some(sensor.infer(&model, arena, time_ms(rest.len()), scores))
}

impl SensorLoop for Listener {
    const VALUES_PER_SAMPLE: usize = 1;

    fn start(&mut self, model: &Model, config: RecognizerConfig) -> Result<(), ListenError> {
        Listener::start(self, model, config)
    }

    fn feed(&mut self, rest: &mut &[i16], arena: &mut [i8]) -> bool {
        Listener::feed(self, rest, arena)
    }

    fn infer(
        &mut self,
        model: &Model,
        arena: &mut [i8],
        time_ms: u32,
        scores: &mut [i8],
    ) -> Result<Window, ListenError> {
        Listener::infer(self, model, arena, time_ms, scores)
    }
}

/// The end of both sensor loops: runs `model` on its int8 `input` in `arena`, writes the raw
/// outputs into `scores`, and gives the window with what `recognizer` makes of their
/// probabilities.
pub(crate) fn recognize(
    model: &Model,
    arena: &mut [i8],
    input: &[i8],
    time_ms: u32,
    scores: &mut [i8],
    recognizer: &mut Recognizer,
) -> Result<Window, ListenError> {
    let output = model.output();
    let scores = &mut scores[..output.len()];
    model
        .invoke(arena, input, scores, Kernels::Optimized)
        .map_err(ListenError::Model)?;
    let mut probabilities = [0u8; MAX_CLASSES];
    for (p, &q) in probabilities.iter_mut().zip(scores.iter()) {
        *p = probability(&output, q);
    }
    Ok(Window {
        time_ms,
        outputs: output.len(),
        heard: recognizer.push(time_ms, &probabilities[..output.len()]),
    })
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec;
    use std::vec::Vec;

    const CONFIG: RecognizerConfig = RecognizerConfig {
        average_windows: 3,
        threshold: 150,
        suppression_ms: 1_000,
    };

    #[test]
    fn the_recognizer_averages_thresholds_and_suppresses() {
        // Classes: 0 silence (background), 1 yes, 2 no.
        let mut r = Recognizer::new(CONFIG, 3, 0b001);
        // Not enough windows yet.
        assert_eq!(r.push(0, &[0, 255, 0]), None);
        assert_eq!(r.push(250, &[0, 255, 0]), None);
        // Three windows of "yes": heard, with the average.
        assert_eq!(
            r.push(500, &[0, 255, 0]),
            Some(Heard {
                class: 1,
                score: 255
            })
        );
        // Still "yes" within the suppression time: not again.
        assert_eq!(r.push(750, &[0, 255, 0]), None);
        // A single loud window of "no" is averaged away: (255 + 255 + 0) / 3 for "yes" wins.
        assert_eq!(r.push(1_000, &[0, 0, 255]), None);
        // "no" in two of three windows: 170 ≥ 150, a different class, reported at once.
        assert_eq!(
            r.push(1_250, &[0, 0, 255]),
            Some(Heard {
                class: 2,
                score: 170
            })
        );
        // Silence never counts.
        for t in [1_500, 1_750, 2_000] {
            assert_eq!(r.push(t, &[255, 0, 0]), None);
        }
        // Below the threshold: nothing.
        for t in [2_250, 2_500, 2_750] {
            assert_eq!(r.push(t, &[100, 140, 15]), None);
        }
        // "no" again after its suppression time, once two of three windows say so.
        assert_eq!(r.push(3_000, &[0, 0, 255]), None);
        assert_eq!(r.push(3_250, &[0, 0, 255]).map(|h| h.class), Some(2));
        // ... and not again 750 ms later, still within the suppression time.
        assert_eq!(r.push(4_000, &[0, 0, 255]), None);
    }

    #[test]
    fn ties_go_to_the_lower_class_and_odd_inputs_are_safe() {
        let one = RecognizerConfig {
            average_windows: 1,
            ..CONFIG
        };
        let mut r = Recognizer::new(one, 2, 0);
        assert_eq!(r.push(0, &[200, 200]).map(|h| h.class), Some(0));
        // Fewer probabilities than classes, none at all, or far more: no panic.
        assert_eq!(r.push(5_000, &[]), None);
        let _ = r.push(10_000, &[255; 64]);
        // average_windows 0 and 200 are clamped.
        for average_windows in [0, 200] {
            let mut r = Recognizer::new(
                RecognizerConfig {
                    average_windows,
                    ..CONFIG
                },
                2,
                0,
            );
            for t in 0..20 {
                let _ = r.push(t * 250, &[0, 255]);
            }
        }
    }

    #[test]
    fn windows_come_every_hop_after_the_first_second() {
        let mut l = Listener::new();
        let mut arena = vec![0i8; 2 * MIC_SAMPLE_RATE_HZ as usize];
        let chunk = [7i16; 1_000];
        let mut taken = 0;
        let mut due_at = [0usize; 3];
        let mut found = 0;
        while found < 3 {
            taken += l.push(&chunk, &mut arena);
            if l.due() {
                due_at[found] = taken;
                found += 1;
                // What infer does after a window, without a model.
                l.advance(&mut arena);
            }
        }
        assert_eq!(due_at, [16_000, 20_000, 24_000]);
        assert!(!l.due());
        assert_eq!(l.push(&[0; 10], &mut arena), 10);
    }

    #[test]
    fn the_clip_is_kept_at_the_end_of_the_arena_and_moves_by_a_hop() {
        let mut l = Listener::new();
        l.extra = 8 + HOP_SAMPLES;
        let clip = l.clip_samples();
        let mut arena = vec![-1i8; 5 + 2 * clip];
        let samples: Vec<i16> = (0..clip).map(|i| (i as i16).wrapping_mul(257)).collect();
        let mut rest = &samples[..];
        assert!(l.feed(&mut rest, &mut arena));
        assert!(rest.is_empty());
        // The model's part of the arena is untouched; the clip is little-endian pairs.
        assert_eq!(arena[..5], [-1; 5]);
        let pair =
            |a: &[i8], i: usize| i16::from_le_bytes([a[5 + 2 * i] as u8, a[6 + 2 * i] as u8]);
        let last = clip - 1;
        assert_eq!(
            (pair(&arena, 0), pair(&arena, last)),
            (samples[0], samples[last])
        );
        l.advance(&mut arena);
        assert_eq!(l.filled, clip - HOP_SAMPLES);
        assert_eq!(pair(&arena, 0), samples[HOP_SAMPLES]);
    }

    #[test]
    fn an_arena_without_room_for_the_clip_fails_the_window_without_a_panic() {
        const EVERY_OP: &[u8] = include_bytes!("../../../crate/tests/data/every-op.tkm");
        let model = Model::parse(EVERY_OP).unwrap();
        let mut l = Listener::new();
        l.ready = true;
        let mut small = [0i8; 64];
        let mut rest: &[i16] = &[3; 20_000];
        assert!(l.feed(&mut rest, &mut small));
        let mut scores = [0i8; MAX_CLASSES];
        assert_eq!(
            l.infer(&model, &mut small, 0, &mut scores),
            Err(ListenError::Model(ModelError::ArenaTooSmall))
        );
        assert!(!l.due());
    }

    #[test]
    fn longer_clips_suppress_a_word_for_longer() {
        let k = RecognizerConfig::KEYWORDS;
        assert_eq!(k.for_clip_ms(1_000), k);
        assert_eq!(k.for_clip_ms(1_500).suppression_ms, 1_500);
        assert_eq!(
            RecognizerConfig::ACTIVITIES
                .for_clip_ms(1_500)
                .suppression_ms,
            0
        );
        // A word that fills every window from 0 to 1 s of a 1.5 s clip's view: heard once.
        let mut r = Recognizer::new(k.for_clip_ms(1_500), 2, 0);
        let heard: usize = (0..=4).filter_map(|w| r.push(w * 250, &[250, 5])).count();
        assert_eq!(heard, 1);
    }

    #[test]
    fn next_window_drives_a_loop_across_chunks_as_over_one_slice() {
        const EVERY_OP: &[u8] = include_bytes!("../../../crate/tests/data/every-op.tkm");
        let model = Model::parse(EVERY_OP).unwrap();
        let samples = [3i16; 25_000];
        // (samples taken when each window was due, its result) for chunks of `chunk` samples.
        let drive = |chunk: usize| {
            let mut l = Listener::new();
            let mut arena = vec![0i8; 64 + 2 * MIC_SAMPLE_RATE_HZ as usize];
            let mut windows = Vec::new();
            let mut taken = 0;
            for part in samples.chunks(chunk) {
                let mut rest = part;
                loop {
                    let mut scores = [0i8; MAX_CLASSES];
                    let mut at = 0;
                    let clock = |left: usize| {
                        at = taken + part.len() - left;
                        at as u32
                    };
                    let ask = || Some(model);
                    match next_window(&mut l, ask, &mut rest, &mut arena, clock, &mut scores) {
                        Some(window) => windows.push((at, window)),
                        None => break,
                    }
                }
                taken += part.len();
            }
            windows
        };
        let whole = drive(samples.len());
        let due: Vec<usize> = whole.iter().map(|w| w.0).collect();
        assert_eq!(due, [16_000, 20_000, 24_000]);
        // Not started with a keyword model: every window fails, and the loop moves on.
        assert!(whole
            .iter()
            .all(|w| w.1 == Err(ListenError::NotAKeywordModel)));
        assert_eq!(drive(333), whole);
        assert_eq!(drive(4_000), whole);
    }

    #[test]
    fn a_window_that_fails_is_not_tried_again() {
        const EVERY_OP: &[u8] = include_bytes!("../../../crate/tests/data/every-op.tkm");
        let model = Model::parse(EVERY_OP).unwrap();
        let mut l = Listener::new();
        let mut arena = vec![0i8; 64 + 2 * MIC_SAMPLE_RATE_HZ as usize];
        let mut rest: &[i16] = &[3; MIC_SAMPLE_RATE_HZ as usize];
        assert!(l.feed(&mut rest, &mut arena));
        // Not started with a keyword model: the window fails, and the loop moves on by a hop
        // (before, it stayed due and the same second failed again and again).
        let mut scores = [0i8; MAX_CLASSES];
        assert_eq!(
            l.infer(&model, &mut arena, 0, &mut scores),
            Err(ListenError::NotAKeywordModel)
        );
        assert!(!l.due());
        let mut hop: &[i16] = &[3; HOP_SAMPLES];
        assert!(l.feed(&mut hop, &mut arena));
    }
}
