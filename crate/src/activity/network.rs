//! The activity model the board runs (Day 3): a small neural network on the same twelve
//! features as the Day 1 models ([`tinyml_core::imu::window_features`]), trained with the kit's
//! engine and quantized to int8 with the window, hop and feature statistics inside the `.tkm`
//! file, so that the board computes exactly the input the network was trained on.

use tinyml_core::imu::{window_features, FEATURE_COUNT};
use tinyml_core::model::{FrontEnd, Kernels};
use tinyml_core::motion::MAX_WINDOW;
use tinyml_core::protocol::sensor::IMU_RATE_HZ;

use crate::activity::data::ActivityData;
use crate::activity::models::Features;
use crate::error::{Error, Result};
use crate::front_end::{InputKind, MotionFrontEnd};
use crate::metrics::Evaluation;
use crate::nn::{argmax, Layer, Network, Shape};
use crate::nn::{History, TrainParams};
use crate::quantize::{
    quantize, Calibration, QuantizationReport, QuantizeOptions, QuantizedModel, Session,
};

/// A small network on the activity features: 12 standardised features → 16 ReLU units → one
/// output per activity.
///
/// ```
/// use tinyml_kit::activity::{ActivityData, ActivityTrainer};
/// let (train, test) = ActivityData::course_default().split_by_people(4, 1).unwrap();
/// let net = ActivityTrainer::params().progress(false).fit(&train).unwrap();
/// assert!(net.evaluate(&test).unwrap().accuracy() > 0.8);
/// let int8 = net.quantize(&train).unwrap();
/// assert_eq!(int8.labels(), net.labels());
/// ```
#[derive(Debug, Clone)]
pub struct ActivityNetwork {
    network: Network,
    labels: Vec<String>,
    front_end: MotionFrontEnd,
    history: History,
}

/// Units of the hidden layer.
const HIDDEN: usize = 16;

/// Training settings for an [`ActivityNetwork`] (`params()`, then settings, then
/// [`ActivityTrainer::fit`], like [`crate::digits::DigitsTrainer`] and
/// [`crate::kws::KwsTrainer`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityTrainer {
    train: TrainParams,
}

impl ActivityTrainer {
    /// The course's settings: 60 epochs of 16 windows, Adam at 0.01, seed 1, a progress line per
    /// epoch.
    pub fn params() -> ActivityTrainer {
        ActivityTrainer {
            train: TrainParams::new()
                .epochs(60)
                .batch_size(16)
                .learning_rate(0.01)
                .seed(1),
        }
    }

    crate::nn::train_settings!();

    /// Checks the settings without training. Early stopping is refused: the network learns
    /// from every window, with no validation set to watch.
    pub fn check(&self) -> Result<()> {
        if self.train.patience().is_some() {
            return Err(Error::param(
                "early_stopping",
                "the activity network trains on every window, with no validation set to watch: \
                 train without early stopping",
            ));
        }
        self.train.check()
    }

    /// Learns the activities of `train` (its windows' length and sample rate become the
    /// board's: 50 Hz, and at most 128 samples).
    pub fn fit(&self, train: &ActivityData) -> Result<ActivityNetwork> {
        self.check()?;
        let params = &self.train;
        if train.sample_rate_hz != IMU_RATE_HZ as f32 || train.window_len > MAX_WINDOW {
            return Err(Error::param(
                "train",
                format!(
                    "{} has windows of {} samples at {} Hz; the board's activity loop takes \
                     {IMU_RATE_HZ} Hz and at most {MAX_WINDOW} samples ({:.2} s): load the data \
                     with a shorter window (`ActivityData::load_with_window`)",
                    train.source,
                    train.window_len,
                    train.sample_rate_hz,
                    MAX_WINDOW as f64 / IMU_RATE_HZ as f64
                ),
            ));
        }
        let labels = train.label_names();
        if labels.len() < 2 {
            return Err(Error::param(
                "train",
                format!(
                    "{} has fewer than two labels: there is nothing to tell apart",
                    train.source
                ),
            ));
        }
        let features = Features::of(train)?;
        let (mean, std) = statistics(&features.rows);
        let front_end = MotionFrontEnd {
            sample_rate_hz: train.sample_rate_hz.round() as u32,
            window: train.window_len,
            hop: (train.window_len / 2).max(1),
            mean,
            std,
        };
        let inputs = standardized(&features.rows, &front_end);
        let targets: Vec<usize> = features
            .labels
            .iter()
            .map(|l| labels.iter().position(|c| c == l).unwrap_or(0))
            .collect();
        let mut network = Network::new(
            Shape::Flat(FEATURE_COUNT),
            vec![
                Layer::Dense { units: HIDDEN },
                Layer::Relu,
                Layer::Dense {
                    units: labels.len(),
                },
            ],
            params.seed_value(),
        )?;
        let history = params.fit(&mut network, &inputs, &targets, None)?;
        Ok(ActivityNetwork {
            network,
            labels,
            front_end,
            history,
        })
    }
}

impl ActivityNetwork {
    /// The activities, in output order.
    pub fn labels(&self) -> Vec<String> {
        self.labels.clone()
    }

    /// Loss and accuracy of each epoch.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The window, hop and feature statistics the board will use.
    pub fn front_end(&self) -> &MotionFrontEnd {
        &self.front_end
    }

    /// The network's layers and parameter counts.
    pub fn summary(&self) -> crate::plot::Table {
        self.network.summary()
    }

    /// The activity of every window of `data`.
    pub fn predict(&self, data: &ActivityData) -> Result<Vec<String>> {
        self.check_data(data)?;
        let features = Features::of(data)?;
        let inputs = standardized(&features.rows, &self.front_end);
        inputs
            .chunks_exact(FEATURE_COUNT)
            .map(|x| Ok(self.labels[argmax(&self.network.logits(x)?)].clone()))
            .collect()
    }

    /// Predicts every window of `data` and scores the predictions.
    pub fn evaluate(&self, data: &ActivityData) -> Result<Evaluation> {
        let predicted = self.predict(data)?;
        Ok(evaluation(
            "activity network",
            data,
            &self.labels,
            &predicted,
        ))
    }

    /// The int8 model for the board, calibrated on `calibration` (the training windows).
    pub fn quantize(&self, calibration: &ActivityData) -> Result<QuantizedModel> {
        self.check_data(calibration)?;
        let rows = Features::of(calibration)?.rows;
        quantize(
            &self.network,
            &self.labels,
            &InputKind::Motion(self.front_end.clone()),
            &standardized(&rows, &self.front_end),
            &QuantizeOptions {
                calibration: Calibration::MinMax,
                kind: "activity-mlp".into(),
            },
        )
    }

    /// Float and int8 accuracy and sizes on `test`, side by side.
    pub fn quantization_report(
        &self,
        int8: &QuantizedModel,
        test: &ActivityData,
    ) -> Result<QuantizationReport> {
        let float = self.predict(test)?;
        let quantized = int8.predict_activities(test)?;
        let f = evaluation("activity network", test, &self.labels, &float);
        let q = evaluation("activity network", test, &self.labels, &quantized);
        Ok(QuantizationReport {
            model: "activity-mlp".into(),
            examples: test.len(),
            float_accuracy: f.accuracy(),
            int8_accuracy: q.accuracy(),
            float_bytes: 4 * self.network.parameter_count(),
            int8_bytes: int8.size_bytes(),
            arena_bytes: int8.arena_bytes(),
            disagreements: float.iter().zip(&quantized).filter(|(a, b)| a != b).count(),
        })
    }

    fn check_data(&self, data: &ActivityData) -> Result<()> {
        check_windows(
            data,
            self.front_end.window,
            self.front_end.sample_rate_hz as f32,
        )
    }
}

impl QuantizedModel {
    /// The activity of every window of `data`, by the int8 model through the board's
    /// interpreter (features, standardisation and quantization from the model file).
    pub fn predict_activities(&self, data: &ActivityData) -> Result<Vec<String>> {
        let model = self.model();
        let labels = self.labels();
        let Ok(FrontEnd::Motion {
            sample_rate_hz,
            window,
            ..
        }) = model.front_end()
        else {
            return Err(Error::WrongModel(format!(
                "{}: not an activity model (its front end does not take accelerometer windows)",
                self.kind
            )));
        };
        check_windows(data, window as usize, f32::from(sample_rate_hz))?;
        let mut session = Session::new(&model);
        let mut out = Vec::with_capacity(data.len());
        for w in &data.windows {
            let mut features = window_features(&w.ax, &w.ay, &w.az, data.sample_rate_hz)
                .map_err(|e| Error::Features(format!("activity features: {e:?}")))?;
            let mut input = [0i8; FEATURE_COUNT];
            model
                .quantize_input(&mut features, &mut input)
                .map_err(|e| {
                    Error::WrongModel(format!(
                        "{}: this model does not take activity windows ({e})",
                        self.kind
                    ))
                })?;
            let scores = session.run_ref(&model, &input, Kernels::Optimized)?;
            let best = (0..scores.len()).max_by_key(|&i| (scores[i], usize::MAX - i));
            out.push(labels[best.unwrap_or(0)].clone());
        }
        Ok(out)
    }

    /// Predicts every window of `data` with the int8 model and scores the predictions.
    pub fn evaluate_activities(&self, data: &ActivityData) -> Result<Evaluation> {
        let predicted = self.predict_activities(data)?;
        Ok(evaluation(
            "int8 activity network",
            data,
            &self.labels(),
            &predicted,
        ))
    }
}

/// `data`'s windows are `window` samples at `rate_hz`, or an error that says what the model takes.
fn check_windows(data: &ActivityData, window: usize, rate_hz: f32) -> Result<()> {
    if data.window_len != window || data.sample_rate_hz != rate_hz {
        return Err(Error::param(
            "data",
            format!(
                "{} has windows of {} samples at {} Hz; this model takes {window} at {rate_hz} Hz \
                 (load it with the same window length)",
                data.source, data.window_len, data.sample_rate_hz
            ),
        ));
    }
    Ok(())
}

fn evaluation(
    model: &str,
    data: &ActivityData,
    labels: &[String],
    predicted: &[String],
) -> Evaluation {
    let order: Vec<&str> = labels.iter().map(String::as_str).collect();
    Evaluation::new(model, &data.source, &data.labels(), predicted, &order)
}

/// Each feature's mean and population standard deviation (1 where a feature never varies).
fn statistics(rows: &[Vec<f64>]) -> (Vec<f32>, Vec<f32>) {
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0f32; FEATURE_COUNT];
    let mut std = vec![1f32; FEATURE_COUNT];
    for f in 0..FEATURE_COUNT {
        let m = rows.iter().map(|r| r[f]).sum::<f64>() / n;
        let v = rows.iter().map(|r| (r[f] - m) * (r[f] - m)).sum::<f64>() / n;
        mean[f] = m as f32;
        if v.sqrt() > 1e-6 {
            std[f] = v.sqrt() as f32;
        }
    }
    (mean, std)
}

/// The rows standardised as the board does it (`(x − mean) / std` in `f32`, the core's
/// `standardize`), one after another.
fn standardized(rows: &[Vec<f64>], front_end: &MotionFrontEnd) -> Vec<f32> {
    let mut out: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    tinyml_core::mfcc::standardize(&mut out, FEATURE_COUNT, |c| {
        (front_end.mean[c], front_end.std[c])
    });
    out
}
