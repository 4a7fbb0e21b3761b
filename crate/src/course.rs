//! The whole course pipeline on one dataset: every lesson that exists, its results, its figures.
//!
//! `tinyml course --out DIR` runs [`Day1::run`] on the embedded data (or on the user's
//! recordings), prints [`Day1::summary`], and writes the figures and `summary.json`.
//! `tinyml slides` writes the same figures for the default data.

use std::path::{Path, PathBuf};

use crate::activity::{ActivityData, ActivityModel, ActivityTrainer, Features, Method, SpeedRules};
use crate::audio::{mel_filter_figure, Audio};
use crate::audit::{DataAudit, GroupAccuracy};
use crate::device::{listen_to, watch, Board, ImuRecording, Listening, Simulator};
use crate::digits::{Architecture, Digits, DigitsEvaluation, DigitsModel, DigitsTrainer, Shifts};
use crate::error::{Error, Result};
use crate::kws::{Augmentation, KeywordData, KwsEvaluation, KwsModel, KwsTrainer};
use crate::learn::{ThresholdLearner, TrainingRun};
use crate::metrics::{percent, Evaluation};
use crate::nn::History;
use crate::plot::{Figure, Table};
use crate::quantize::{QuantizationReport, QuantizedModel, CALIBRATION_EXAMPLES};
use crate::search::{
    deep_blue, depth_figure, depth_table, growth_figure, SearchCost, SearchResult,
};
use tinyml_core::mfcc::FeatureConfig;
use tinyml_core::model::{Budget, OpCode};

/// The seed of the held-out-people split.
pub const SPLIT_SEED: u64 = 7;

/// Results of the Day 1 lessons on one dataset.
#[derive(Debug, Clone)]
pub struct Day1 {
    /// The data everything ran on.
    pub data: ActivityData,
    /// The slides' speed rules on all windows (`Err`: why not, e.g. no speeds in the data).
    pub rules: std::result::Result<Evaluation, String>,
    /// People held out for testing the learned models.
    pub test_people: Vec<String>,
    /// Each learned model on the held-out people, in [`Method::ALL`] order.
    pub models: Vec<Evaluation>,
    /// The decision tree's rules, as code.
    pub tree_rules: String,
    /// The decision tree's accuracy per held-out person.
    pub per_person: GroupAccuracy,
    /// Gradient descent learning the WALKING/RUNNING speed threshold (`Err`: why not).
    pub training: std::result::Result<TrainingRun, String>,
    /// The slide's arithmetic: 35^10 positions at 10^9 per second.
    pub deep_blue: SearchCost,
    /// Minimax on tic-tac-toe at depth limits 1..=9 and without a limit.
    pub minimax: Vec<SearchResult>,
    /// Class and person counts of the data.
    pub audit: DataAudit,
}

impl Day1 {
    /// Runs every Day 1 lesson on `data`.
    pub fn run(data: &ActivityData) -> Result<Day1> {
        let people = data.person_names();
        if people.len() < 2 {
            return Err(Error::param("activity data", format!(
                "{} has {} person(s): testing on people the model has not seen needs at least 2 (record a friend too)",
                data.source,
                people.len()
            )));
        }
        let rules = SpeedRules::slides()
            .evaluate(data)
            .map_err(|e| e.to_string());
        let (train, test) = data.split_by_people((people.len() / 3).max(1), SPLIT_SEED)?;
        let test_people = test.person_names();
        let mut models = Vec::new();
        let mut tree = None;
        for method in Method::ALL {
            let model = ActivityModel::params(method).fit(&train)?;
            let (overall, per_person) = model.evaluate_per_person(&test)?;
            models.push(overall);
            if method == Method::DecisionTree {
                tree = Some((model, per_person));
            }
        }
        let (tree, per_person) = tree.expect("Method::ALL has the decision tree");
        let training = ThresholdLearner::params()
            .fit_activities(data, "WALKING", "RUNNING")
            .map_err(|e| e.to_string());
        let (_, minimax) = depth_table();
        Ok(Day1 {
            data: data.clone(),
            rules,
            test_people,
            models,
            tree_rules: tree.rules().unwrap_or_default(),
            per_person,
            training,
            deep_blue: deep_blue(35.0, 10, 1e9),
            minimax,
            audit: DataAudit::of_activity(data),
        })
    }

    /// The summary table that `tinyml course` prints.
    pub fn summary(&self) -> Table {
        let mut t = Table::new(&SUMMARY_HEADER);
        self.summary_rows(&mut t);
        t
    }

    /// Day 1's rows of the summary.
    fn summary_rows(&self, t: &mut Table) {
        match &self.rules {
            Ok(e) => {
                let golf = e
                    .confusion
                    .per_class_accuracy()
                    .into_iter()
                    .find(|(l, _)| l == "GOLFING");
                let golf = golf
                    .map(|(_, a)| format!(" (GOLFING {})", percent(a)))
                    .unwrap_or_default();
                t.push(vec![
                    "speed rules (4, 12 mph), all windows".into(),
                    format!("accuracy {}{golf}", percent(e.accuracy())),
                ]);
            }
            Err(why) => t.push(vec![
                "speed rules (4, 12 mph)".into(),
                format!("skipped: {why}"),
            ]),
        }
        let held_out = format!("{} held-out people", self.test_people.len());
        for e in &self.models {
            t.push(vec![
                format!("{}, {held_out}", e.model),
                format!(
                    "accuracy {} ({} windows)",
                    percent(e.accuracy()),
                    e.confusion.total()
                ),
            ]);
        }
        match &self.training {
            Ok(run) => {
                let (first, last) = (run.steps[0], run.final_step());
                let boundary = last
                    .boundary_mph
                    .map(|b| format!("{b:.2} mph"))
                    .unwrap_or_else(|| "-".into());
                t.push(vec![
                    "training loop: WALKING/RUNNING threshold".into(),
                    format!(
                        "{boundary} after {} steps; loss {:.3} -> {:.3}, mistakes {} -> {}",
                        last.step, first.loss, last.loss, first.mistakes, last.mistakes
                    ),
                ]);
            }
            Err(why) => t.push(vec!["training loop".into(), format!("skipped: {why}")]),
        }
        t.push(vec![
            "Deep Blue: 35^10 at 1e9 guesses/s".into(),
            format!(
                "{:.3e} positions = {}",
                self.deep_blue.positions,
                self.deep_blue.human_time()
            ),
        ]);
        if let (Some(full), Some(d2)) = (self.minimax.last(), self.minimax.get(1)) {
            t.push(vec![
                "minimax, tic-tac-toe".into(),
                format!(
                    "{} positions to the end; {} at depth 2 + scoring rule",
                    full.nodes, d2.nodes
                ),
            ]);
        }
        let worst = self
            .per_person
            .worst()
            .map(|(p, a)| format!("; lowest person {p} {}", percent(a)))
            .unwrap_or_default();
        t.push(vec![
            "audit".into(),
            format!(
                "{} classes, {} people, {} warning(s){worst}",
                self.audit.class_counts.len(),
                self.audit.group_counts.len(),
                self.audit.warnings.len()
            ),
        ]);
    }

    /// Everything as JSON (the keys are documented in README).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "data": { "source": self.data.source, "windows": self.data.len(), "people": self.data.person_names().len(), "sample_rate_hz": self.data.sample_rate_hz },
            "rules": match &self.rules { Ok(e) => e.json(), Err(why) => serde_json::json!({ "skipped": why }) },
            "test_people": self.test_people,
            "models": self.models.iter().map(|e| e.json()).collect::<Vec<_>>(),
            "tree_rules": self.tree_rules,
            "per_person": self.per_person.json(),
            "training": match &self.training { Ok(r) => r.json(), Err(why) => serde_json::json!({ "skipped": why }) },
            "deep_blue": self.deep_blue.json(),
            "minimax": self.minimax,
            "audit": self.audit.json(),
        })
    }

    /// Every figure of the Day 1 lessons, with a file stem for each.
    pub fn figures(&self) -> Result<Vec<(String, Figure)>> {
        let mut figs: Vec<(String, Figure)> = Vec::new();
        let mut add = |stem: &str, fig: Figure| {
            figs.push((format!("day1-{:02}-{stem}", figs.len() + 1), fig))
        };
        if self.rules.is_ok() {
            add(
                "speed-histogram",
                SpeedRules::slides().histogram(&self.data)?,
            );
        }
        if let Ok(e) = &self.rules {
            add(
                "rules-confusion",
                e.confusion
                    .figure(&format!("Speed rules: accuracy {}", percent(e.accuracy()))),
            );
        }
        for fig in self.data.example_figures() {
            let stem = format!(
                "accelerometer-{}",
                fig.title()
                    .split(' ')
                    .next()
                    .unwrap_or("window")
                    .to_lowercase()
            );
            add(&stem, fig);
        }
        if let Some(i) = self
            .data
            .windows
            .iter()
            .position(|w| w.label == "WALKING")
            .or((!self.data.is_empty()).then_some(0))
        {
            add("spectrum", crate::activity::spectrum_figure(&self.data, i)?);
        }
        add(
            "feature-scatter",
            Features::of(&self.data)?.scatter("dominant_hz", "magnitude_std_g")?,
        );
        for e in &self.models {
            let stem = format!("{}-confusion", e.model.replace(' ', "-"));
            add(
                &stem,
                e.confusion.figure(&format!(
                    "{} on held-out people: {}",
                    e.model,
                    percent(e.accuracy())
                )),
            );
        }
        add(
            "per-person-accuracy",
            self.per_person
                .figure("Decision tree: accuracy for each held-out person"),
        );
        if let Ok(run) = &self.training {
            add("training-loss", run.loss_figure());
            add("training-boundary", run.boundary_figure());
        }
        add("search-growth", growth_figure(35.0, 12, 1e9));
        add("minimax-positions", depth_figure(&self.minimax));
        add("audit-classes", self.audit.class_figure());
        Ok(figs)
    }
}

/// The neural-networks lesson: an MLP and a CNN trained on the embedded digits.
#[derive(Debug, Clone)]
pub struct DigitsLesson {
    /// Training images (before augmentation) and validation images.
    pub train: Digits,
    /// Held-out images the accuracy is measured on.
    pub validation: Digits,
    /// The trained MLP.
    pub mlp: TrainedDigits,
    /// The trained CNN.
    pub cnn: TrainedDigits,
    /// MLP validation accuracy by training-set size.
    pub by_size: Vec<(usize, f64)>,
}

/// A trained digits model, its training history and its evaluation on the validation images.
#[derive(Debug, Clone)]
pub struct TrainedDigits {
    /// The model.
    pub model: DigitsModel,
    /// Its epochs.
    pub history: History,
    /// How it does on the lesson's validation images.
    pub eval: DigitsEvaluation,
}

impl TrainedDigits {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "parameters": self.model.parameter_count(),
            "validation_accuracy": self.eval.accuracy(),
            "kept_epoch": self.history.kept_epoch,
            "epochs": self.history.epochs.len(),
        })
    }
}

/// The published state of the art on MNIST the slides quote (an ensemble of CNNs, 2020).
pub const MNIST_STATE_OF_THE_ART: f64 = 0.9991;

impl DigitsLesson {
    /// Trains both models with `seed` (under half a minute on 2 cores).
    pub fn run(digits: &Digits, seed: u64) -> Result<DigitsLesson> {
        let (train, validation) = digits.split(digits.len() / 10, seed)?;
        let augmented = train.augmented(&Shifts::new().copies(2), seed)?;
        let trainer = DigitsTrainer::params()
            .epochs(20)
            .early_stopping(5)
            .seed(seed)
            .progress(false);
        let fit = |arch| -> Result<TrainedDigits> {
            let model = trainer
                .clone()
                .architecture(arch)
                .fit(&augmented, Some(&validation))?;
            let history = model
                .history
                .clone()
                .expect("a trained model has a history");
            let eval = model.evaluate(&validation)?;
            Ok(TrainedDigits {
                model,
                history,
                eval,
            })
        };
        let (mlp, cnn) = (fit(Architecture::Mlp)?, fit(Architecture::Cnn)?);
        let mut by_size = Vec::new();
        for n in [100, 300, 1000, 3000, train.len()] {
            let n = n.min(train.len());
            let m = DigitsTrainer::params()
                .epochs(10)
                .seed(seed)
                .progress(false)
                .fit(&train.sample(n, seed), Some(&validation))?;
            by_size.push((n, m.evaluate(&validation)?.accuracy()));
        }
        Ok(DigitsLesson {
            train,
            validation,
            mlp,
            cnn,
            by_size,
        })
    }

    /// Summary rows.
    pub fn summary(&self, t: &mut Table) {
        for (name, trained) in [("MLP", &self.mlp), ("CNN", &self.cnn)] {
            t.push(vec![
                format!(
                    "digits {name} ({} parameters)",
                    trained.model.parameter_count()
                ),
                format!(
                    "validation {} on {} held-out digits (epoch {})",
                    percent(trained.eval.accuracy()),
                    self.validation.len(),
                    trained.history.kept_epoch
                ),
            ]);
        }
        t.push(vec![
            "MNIST state of the art (slides)".into(),
            percent(MNIST_STATE_OF_THE_ART),
        ]);
    }

    /// JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "train": self.train.len(),
            "validation": self.validation.len(),
            "mlp": self.mlp.json(),
            "cnn": self.cnn.json(),
            "accuracy_by_train_size": self.by_size,
        })
    }

    /// The lesson's figures.
    pub fn figures(&self) -> Result<Vec<(String, Figure)>> {
        let eval = &self.cnn.eval;
        let seven = self
            .validation
            .labels
            .iter()
            .position(|&l| l == 7)
            .unwrap_or(0);
        let curve = self
            .by_size
            .iter()
            .map(|&(n, a)| (n as f64, 100.0 * a))
            .collect();
        Ok(vec![
            ("samples".into(), self.train.grid_figure(30)),
            ("flatten".into(), self.train.flatten_figure(0)?),
            (
                "mlp-training".into(),
                self.mlp.history.figure("MLP 784-128-10: training"),
            ),
            (
                "cnn-training".into(),
                self.cnn.history.figure("CNN: training"),
            ),
            (
                "cnn-confusion".into(),
                eval.confusion.figure(&format!(
                    "CNN on held-out digits: {}",
                    percent(eval.accuracy())
                )),
            ),
            ("prediction".into(), eval.predictions[seven].figure()),
            ("confidently-wrong".into(), eval.confidently_wrong(10)),
            (
                "accuracy-vs-size".into(),
                Figure::lines(
                    "More data, better accuracy (MLP)",
                    "training images",
                    "validation accuracy (%)",
                )
                .line("MLP", curve)
                .y_marker(100.0 * MNIST_STATE_OF_THE_ART, "state of the art 99.91%"),
            ),
        ])
    }
}

/// The keyword-spotting lesson (Day 2): spoken words to MFCC to a CNN, tested on a speaker it
/// never heard.
#[derive(Debug, Clone)]
pub struct KeywordLesson {
    /// Where the clips came from.
    pub source: String,
    /// Clips, labels and speakers in the data.
    pub clips: usize,
    /// The speaker held out for testing (the first in alphabetical order).
    pub test_speaker: String,
    /// Counts per word and speaker, with warnings.
    pub audit: DataAudit,
    /// The clips it trained on (before augmentation), and the held-out speaker's.
    pub train: KeywordData,
    /// See `train`.
    pub test: KeywordData,
    /// The trained model.
    pub model: KwsModel,
    /// How it does on the held-out speaker.
    pub eval: KwsEvaluation,
    /// One clip of the data, for the pictures of sound.
    pub example: Audio,
    /// Its label.
    pub example_label: String,
}

/// Training settings of the keyword lesson in `tinyml course` (kept small: under half a minute).
pub const KEYWORD_EPOCHS: usize = 12;

impl KeywordLesson {
    /// Trains the lesson's CNN on every speaker but the first, tests on the first.
    pub fn run(data: &KeywordData, seed: u64) -> Result<KeywordLesson> {
        let speakers = data.speaker_names();
        let test_speaker = speakers.first().cloned().unwrap_or_default();
        let (train, test) = data.split_by_speaker(&[test_speaker.as_str()])?;
        let model = KwsTrainer::params()
            .epochs(KEYWORD_EPOCHS)
            .seed(seed)
            .progress(false)
            .fit(
                &train.augmented(&Augmentation::new().copies(1), seed)?,
                None,
            )?;
        let eval = model.evaluate(&test)?;
        let example_label = data
            .label_names()
            .into_iter()
            .find(|l| l == "7")
            .or_else(|| data.labels().first().cloned())
            .unwrap_or_default();
        Ok(KeywordLesson {
            source: data.source.clone(),
            clips: data.len(),
            test_speaker,
            audit: data.audit(),
            train,
            test,
            model,
            eval,
            example: data.example(&example_label)?,
            example_label,
        })
    }

    /// Summary rows.
    pub fn summary(&self, t: &mut Table) {
        t.push(vec![
            format!(
                "keywords CNN ({} parameters, {} words)",
                self.model.parameter_count(),
                self.model.labels.len()
            ),
            format!(
                "{} on {} clips of {}, a speaker it never heard",
                percent(self.eval.accuracy()),
                self.eval.overall.confusion.total(),
                self.test_speaker
            ),
        ]);
    }

    /// JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "data": self.source,
            "clips": self.clips,
            "test_speaker": self.test_speaker,
            "labels": self.model.labels,
            "parameters": self.model.parameter_count(),
            "test": self.eval.json(),
            "audit_warnings": self.audit.warnings,
        })
    }

    /// The lesson's figures.
    pub fn figures(&self) -> Result<Vec<(String, Figure)>> {
        let config = self.model.config()?;
        let word = format!("\"{}\"", self.example_label);
        let mfcc = self.example.features(&config)?;
        let log_mel = self.example.features(&FeatureConfig {
            num_mfcc: 0,
            ..config
        })?;
        let history = self
            .model
            .history
            .as_ref()
            .map(|h| h.figure("Keyword CNN: training"));
        let mut figs = vec![
            (
                "waveform".into(),
                self.example
                    .waveform_figure(&format!("{word}: the waveform")),
            ),
            (
                "spectrogram".into(),
                self.example
                    .spectrogram(32, 10)?
                    .figure(&format!("{word}: the spectrogram"), 4_000.0),
            ),
            ("mel-filters".into(), mel_filter_figure(&config)?),
            (
                "log-mel".into(),
                log_mel.figure(&format!("{word}: log-mel energies (dB)")),
            ),
            (
                "mfcc".into(),
                mfcc.figure(&format!(
                    "{word}: 13 MFCCs (each scaled), what the CNN sees"
                )),
            ),
            ("audit".into(), self.audit.class_figure()),
        ];
        if let Some(h) = history {
            figs.push(("training".into(), h));
        }
        figs.push((
            "confusion".into(),
            self.eval.overall.confusion.figure(&format!(
                "Held-out speaker {}: {}",
                self.test_speaker,
                percent(self.eval.accuracy())
            )),
        ));
        Ok(figs)
    }
}

/// MicroFlow's published figures for TensorFlow's micro_speech model on the nRF52840 (the whole
/// program: runtime, model and buffers), in KB: flash, RAM.
pub const MICROFLOW_MICRO_SPEECH_KB: (f64, f64) = (61.8, 19.6);
/// TensorFlow Lite Micro's figures for the same model and board, as MicroFlow reports them.
pub const TFLM_MICRO_SPEECH_KB: (f64, f64) = (157.5, 63.7);

/// int8 quantization (Day 2 → Day 3): the lesson's digits CNN and keyword CNN as the board will
/// run them, side by side with their float selves.
#[derive(Debug, Clone)]
pub struct QuantizationLesson {
    /// The digits CNN in int8.
    pub digits: QuantizedModel,
    /// Float vs int8 on the held-out digits.
    pub digits_report: QuantizationReport,
    /// The keyword CNN in int8.
    pub keywords: QuantizedModel,
    /// Float vs int8 on the held-out speaker.
    pub keywords_report: QuantizationReport,
    /// The digits MLP in int8 (its size is the lesson's point: dense layers are big).
    pub mlp_report: QuantizationReport,
}

impl QuantizationLesson {
    /// Quantizes the trained models of the digits and keyword lessons, calibrating on
    /// [`CALIBRATION_EXAMPLES`] of their training examples.
    pub fn run(digits: &DigitsLesson, keywords: &KeywordLesson) -> Result<QuantizationLesson> {
        let calibration = digits.train.sample(CALIBRATION_EXAMPLES, 1);
        let q = digits.cnn.model.quantize(&calibration)?;
        let digits_report = digits
            .cnn
            .model
            .quantization_report(&q, &digits.validation)?;
        let mlp = digits.mlp.model.quantize(&calibration)?;
        let mlp_report = digits
            .mlp
            .model
            .quantization_report(&mlp, &digits.validation)?;
        let calibration = keywords.train.sample(CALIBRATION_EXAMPLES, 1)?;
        let k = keywords.model.quantize(&calibration)?;
        let keywords_report = keywords.model.quantization_report(&k, &keywords.test)?;
        Ok(QuantizationLesson {
            digits: q,
            digits_report,
            keywords: k,
            keywords_report,
            mlp_report,
        })
    }

    /// Summary rows.
    pub fn summary(&self, t: &mut Table) {
        for (name, r, on) in [
            ("digits CNN", &self.digits_report, "held-out digits"),
            (
                "keywords CNN",
                &self.keywords_report,
                "clips of the held-out speaker",
            ),
        ] {
            t.push(vec![
                format!(
                    "int8 {name} ({} bytes, arena {} bytes)",
                    r.int8_bytes, r.arena_bytes
                ),
                format!(
                    "{} (float {}) on {} {on}",
                    percent(r.int8_accuracy),
                    percent(r.float_accuracy),
                    r.examples
                ),
            ]);
        }
    }

    /// JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "digits_cnn": self.digits_report.json(),
            "digits_mlp": self.mlp_report.json(),
            "keywords_cnn": self.keywords_report.json(),
            "budget": {
                "board": Budget::NANO_33_BLE.board,
                "model_flash": Budget::NANO_33_BLE.model_flash,
                "arena_ram": Budget::NANO_33_BLE.arena_ram,
            },
        })
    }

    /// The lesson's figures.
    pub fn figures(&self) -> Result<Vec<(String, Figure)>> {
        let kb = |b: usize| b as f64 / 1024.0;
        let reports = [&self.mlp_report, &self.digits_report, &self.keywords_report];
        let mut sizes = Vec::new();
        for r in reports {
            sizes.push((format!("{} float", r.model), kb(r.float_bytes)));
            sizes.push((format!("{} int8", r.model), kb(r.int8_bytes)));
        }
        let mut accuracy = Vec::new();
        for r in [&self.digits_report, &self.keywords_report] {
            accuracy.push((format!("{} float", r.model), 100.0 * r.float_accuracy));
            accuracy.push((format!("{} int8", r.model), 100.0 * r.int8_accuracy));
        }
        let m = self.keywords.model();
        let second_conv = (0..m.op_count())
            .filter(|&i| m.op(i).is_ok_and(|o| o.code == OpCode::Conv2d))
            .nth(1)
            .map_or(1, |i| i + 1);
        let k = &self.keywords_report;
        let budget = vec![
            ("kit flash".to_string(), kb(k.int8_bytes)),
            ("kit RAM".to_string(), kb(k.arena_bytes)),
            ("MicroFlow flash".to_string(), MICROFLOW_MICRO_SPEECH_KB.0),
            ("MicroFlow RAM".to_string(), MICROFLOW_MICRO_SPEECH_KB.1),
            ("TFLM flash".to_string(), TFLM_MICRO_SPEECH_KB.0),
            ("TFLM RAM".to_string(), TFLM_MICRO_SPEECH_KB.1),
        ];
        Ok(vec![
            (
                "sizes".into(),
                Figure::bars("4 bytes per weight → 1: model sizes", "model", "KB", sizes),
            ),
            (
                "accuracy".into(),
                Figure::bars(
                    "Accuracy before and after int8 quantization",
                    "model",
                    "accuracy (%)",
                    accuracy,
                ),
            ),
            (
                "weights".into(),
                self.keywords.weights_figure(
                    second_conv,
                    "Keyword CNN, second convolution: its int8 weights",
                )?,
            ),
            (
                "board-budget".into(),
                Figure::bars(
                    "Keyword spotting on the nRF52840: flash and RAM",
                    "kit: KWS CNN model + arena; MicroFlow, TFLM: the whole micro_speech program",
                    "KB",
                    budget,
                ),
            ),
        ])
    }
}

/// Words in the Day 3 stream (the held-out speaker's first clips).
pub const STREAM_WORDS: usize = 8;
/// Test clips asked of the board and of the laptop's interpreter, as in the Day 3 notebook.
pub const COMPARED_CLIPS: usize = 20;
/// Quiet after each word of the stream, in samples at 16 kHz (0.6 s).
const STREAM_PAUSE: usize = 9_600;
/// A word counts as heard when the recognizer reports it this long after its middle, at most.
pub const HEARD_WITHIN_MS: u32 = 1_300;

/// Day 3 on the simulated board: the int8 keyword model deployed (the board's outputs equal the
/// laptop's), and the board's keyword loop listening to a stream of the held-out speaker's words.
#[derive(Debug, Clone)]
pub struct BoardLesson {
    /// Bytes deployed.
    pub bytes: usize,
    /// Test clips whose outputs on the simulated board equal the laptop's, and how many were
    /// asked.
    pub same_outputs: (usize, usize),
    /// The stream's words: label and middle, in seconds.
    pub words: Vec<(String, f64)>,
    /// What the board's keyword loop heard in the stream.
    pub listening: Listening,
    /// Words of the stream heard as themselves within [`HEARD_WITHIN_MS`].
    pub heard: usize,
    /// Other reports: a wrong word, or a word reported twice.
    pub false_alarms: usize,
    /// The held-out speaker.
    pub speaker: String,
    /// The activity network (Day 1 data, Day 1's held-out people) in float and int8.
    pub activity: QuantizationReport,
    /// What the board's activity loop saw: one held-out person's session of each activity,
    /// back to back.
    pub watching: Listening,
    /// The activities played: label, start and end in milliseconds.
    pub activities: Vec<(String, u32, u32)>,
    /// Windows within one activity, and those the board reported as that activity.
    pub windows_judged: usize,
    /// See `windows_judged`.
    pub windows_right: usize,
}

impl BoardLesson {
    /// Deploys the int8 keyword model to a simulated board, compares 20 test clips, and listens
    /// to a stream of [`STREAM_WORDS`] of the held-out speaker's words; then trains the activity
    /// network on `activity` (Day 1's split) and runs the board's activity loop on a held-out
    /// person's movements.
    pub fn run(
        int8: &QuantizedModel,
        keywords: &KeywordLesson,
        activity: &ActivityData,
    ) -> Result<BoardLesson> {
        let test = &keywords.test;
        let same_outputs = {
            let sim = Simulator::start()?;
            let mut board = Board::open(sim.port())?;
            board.deploy_with(int8, false)?;
            let compared = board.compare_with_laptop(int8, test, COMPARED_CLIPS)?;
            (compared.same, compared.asked)
        };
        let mut samples = Vec::new();
        let mut words = Vec::new();
        for i in 0..STREAM_WORDS.min(test.len()) {
            let clip = test.clips()[i].resample(16_000)?;
            let middle = (samples.len() + clip.samples().len() / 2) as f64 / 16_000.0;
            words.push((test.labels()[i].clone(), middle));
            samples.extend_from_slice(clip.samples());
            samples.extend(std::iter::repeat_n(0.0, STREAM_PAUSE));
        }
        let listening = listen_to(int8, &Audio::new(samples, 16_000)?)?;
        let mut reported: Vec<(f64, String)> = listening
            .heard()
            .into_iter()
            .map(|(t, label, _)| (t, label))
            .collect();
        let mut heard = 0;
        for (label, middle) in &words {
            let within = |&(t, ref l): &(f64, String)| {
                l == label && t >= *middle && t <= middle + HEARD_WITHIN_MS as f64 / 1000.0
            };
            if let Some(i) = reported.iter().position(within) {
                reported.remove(i);
                heard += 1;
            }
        }
        let people = activity.person_names().len();
        let (train, test) = activity.split_by_people((people / 3).max(1), SPLIT_SEED)?;
        let net = ActivityTrainer::params().progress(false).fit(&train)?;
        let activity_int8 = net.quantize(&train)?;
        let report = net.quantization_report(&activity_int8, &test)?;
        // One held-out session of each activity, back to back.
        let mut played = ImuRecording::from_mg(&[]);
        let mut activities = Vec::new();
        for label in test.label_names() {
            let session = ImuRecording::from_activity(&test, &label)?;
            let ms = |n: usize| (n as u64 * 1000 / played.sample_rate_hz as u64) as u32;
            let start = played.ax.len();
            activities.push((label, ms(start), ms(start + session.ax.len())));
            played.ax.extend(session.ax);
            played.ay.extend(session.ay);
            played.az.extend(session.az);
        }
        let watching = watch(&activity_int8, &played)?;
        let window_ms = (net.front_end().window as u64 * 1000
            / net.front_end().sample_rate_hz.max(1) as u64) as u32;
        let (mut windows_judged, mut windows_right) = (0, 0);
        for w in &watching.windows {
            let start = w.time_ms.saturating_sub(window_ms);
            let within = activities
                .iter()
                .find(|(_, from, to)| start >= *from && w.time_ms <= *to);
            if let Some((label, _, _)) = within {
                windows_judged += 1;
                let seen = w
                    .heard
                    .map(|c| crate::device::class_label(&watching.labels, c));
                windows_right += usize::from(seen.as_deref() == Some(label.as_str()));
            }
        }
        Ok(BoardLesson {
            bytes: int8.size_bytes(),
            same_outputs,
            words,
            listening,
            heard,
            false_alarms: reported.len(),
            speaker: keywords.test_speaker.clone(),
            activity: report,
            watching,
            activities,
            windows_judged,
            windows_right,
        })
    }

    /// Summary rows.
    pub fn summary(&self, t: &mut Table) {
        t.push(vec![
            "board (simulated): int8 keywords CNN deployed".into(),
            format!(
                "{} bytes; {} of {} test clips: outputs equal the laptop's",
                self.bytes, self.same_outputs.0, self.same_outputs.1
            ),
        ]);
        t.push(vec![
            format!("board (simulated): listening to {}", self.speaker),
            format!(
                "heard {} of {} words in {:.1} s ({} windows), {} false alarm(s)",
                self.heard,
                self.words.len(),
                self.listening
                    .windows
                    .last()
                    .map_or(0.0, |w| w.time_ms as f64 / 1000.0),
                self.listening.windows.len(),
                self.false_alarms
            ),
        ]);
        t.push(vec![
            "board activity network (int8, held-out people)".into(),
            format!(
                "{} (float {}), {} bytes, arena {} bytes",
                percent(self.activity.int8_accuracy),
                percent(self.activity.float_accuracy),
                self.activity.int8_bytes,
                self.activity.arena_bytes
            ),
        ]);
        t.push(vec![
            "board (simulated): watching the accelerometer".into(),
            format!(
                "right in {} of {} windows of {} activities",
                self.windows_right,
                self.windows_judged,
                self.activities.len()
            ),
        ]);
    }

    /// JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "bytes": self.bytes,
            "same_outputs": {"same": self.same_outputs.0, "asked": self.same_outputs.1},
            "stream_words": self.words.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>(),
            "heard": self.listening.heard().iter().map(|(t, l, p)| serde_json::json!({"time_s": t, "label": l, "probability": p})).collect::<Vec<_>>(),
            "words_heard_right": self.heard,
            "false_alarms": self.false_alarms,
            "windows": self.listening.windows.len(),
            "activity": self.activity.json(),
            "activities_played": self.activities.iter().map(|(l, from, to)| serde_json::json!({"label": l, "from_ms": from, "to_ms": to})).collect::<Vec<_>>(),
            "activity_windows_judged": self.windows_judged,
            "activity_windows_right": self.windows_right,
        })
    }

    /// The lesson's figures.
    pub fn figures(&self) -> Result<Vec<(String, Figure)>> {
        Ok(vec![
            ("listening".into(), self.listening.figure()),
            ("watching".into(), self.watching.figure()),
        ])
    }
}

/// Every lesson of the kit so far, run on one activity dataset, one digits dataset and one
/// keyword dataset.
#[derive(Debug, Clone)]
pub struct Course {
    /// Rules vs learning, search, the training loop, the audit.
    pub day1: Day1,
    /// Neural networks on handwritten digits.
    pub digits: DigitsLesson,
    /// Keyword spotting on spoken words.
    pub keywords: KeywordLesson,
    /// int8 quantization of the digits and keyword CNNs.
    pub quantization: QuantizationLesson,
    /// The keyword model on the (simulated) board.
    pub board: BoardLesson,
}

/// The columns of `tinyml course`'s summary.
const SUMMARY_HEADER: [&str; 2] = ["lesson", "result"];

/// One lesson of the course pipeline: its rows of `tinyml course`'s summary, its part of the
/// JSON and its figures. [`Course::lessons`] lists the lessons once, in course order; each one's
/// `run` takes what it needs (the data, or an earlier lesson's models).
pub trait Lesson {
    /// Its key in the course's JSON; `None` for Day 1, whose keys are the top level.
    fn json_key(&self) -> Option<&'static str>;
    /// The start of its figures' file stems (`day2-kws`); `None` for Day 1, whose figures name
    /// themselves.
    fn figure_prefix(&self) -> Option<&'static str>;
    /// Adds its rows to the summary table.
    fn summary_rows(&self, t: &mut Table);
    /// Its results as JSON (the keys are documented in README).
    fn json(&self) -> serde_json::Value;
    /// Its figures, with file stems.
    fn figures(&self) -> Result<Vec<(String, Figure)>>;
}

impl Lesson for Day1 {
    fn json_key(&self) -> Option<&'static str> {
        None
    }
    fn figure_prefix(&self) -> Option<&'static str> {
        None
    }
    fn summary_rows(&self, t: &mut Table) {
        Day1::summary_rows(self, t)
    }
    fn json(&self) -> serde_json::Value {
        Day1::json(self)
    }
    fn figures(&self) -> Result<Vec<(String, Figure)>> {
        Day1::figures(self)
    }
}

/// A lesson after Day 1's: its JSON key, its figures' prefix, and its inherent `summary`,
/// `json` and `figures`.
macro_rules! lesson {
    ($lesson:ty, $key:literal, $prefix:literal) => {
        impl Lesson for $lesson {
            fn json_key(&self) -> Option<&'static str> {
                Some($key)
            }
            fn figure_prefix(&self) -> Option<&'static str> {
                Some($prefix)
            }
            fn summary_rows(&self, t: &mut Table) {
                <$lesson>::summary(self, t)
            }
            fn json(&self) -> serde_json::Value {
                <$lesson>::json(self)
            }
            fn figures(&self) -> Result<Vec<(String, Figure)>> {
                <$lesson>::figures(self)
            }
        }
    };
}

lesson!(DigitsLesson, "digits", "day1-digits");
lesson!(KeywordLesson, "keywords", "day2-kws");
lesson!(QuantizationLesson, "int8", "day2-int8");
lesson!(BoardLesson, "board", "day3-board");

impl Course {
    /// Runs every lesson (about 40 seconds on 2 cores; the digits models train with
    /// seed 1, the keyword model with seed 7).
    pub fn run(activity: &ActivityData, digits: &Digits, keywords: &KeywordData) -> Result<Course> {
        let digits = DigitsLesson::run(digits, 1)?;
        let lesson = KeywordLesson::run(keywords, 7)?;
        let quantization = QuantizationLesson::run(&digits, &lesson)?;
        Ok(Course {
            day1: Day1::run(activity)?,
            board: BoardLesson::run(&quantization.keywords, &lesson, activity)?,
            quantization,
            digits,
            keywords: lesson,
        })
    }

    /// The lessons, in course order: the one list the summary, the JSON and the figures follow.
    pub fn lessons(&self) -> [&dyn Lesson; 5] {
        [
            &self.day1,
            &self.digits,
            &self.keywords,
            &self.quantization,
            &self.board,
        ]
    }

    /// The summary table `tinyml course` prints.
    pub fn summary(&self) -> Table {
        let mut t = Table::new(&SUMMARY_HEADER);
        for lesson in self.lessons() {
            lesson.summary_rows(&mut t);
        }
        t
    }

    /// Everything as JSON: the Day 1 keys, then each other lesson under its key.
    pub fn json(&self) -> serde_json::Value {
        let mut j = serde_json::Value::Object(serde_json::Map::new());
        for lesson in self.lessons() {
            match (lesson.json_key(), lesson.json()) {
                (Some(key), value) => j[key] = value,
                (None, serde_json::Value::Object(top)) => {
                    if let Some(object) = j.as_object_mut() {
                        object.extend(top);
                    }
                }
                (None, _) => {}
            }
        }
        j
    }

    /// Every figure, with file stems in course order.
    pub fn figures(&self) -> Result<Vec<(String, Figure)>> {
        let mut figs = Vec::new();
        for lesson in self.lessons() {
            let own = lesson.figures()?;
            match lesson.figure_prefix() {
                None => figs.extend(own),
                Some(prefix) => {
                    for (i, (stem, fig)) in own.into_iter().enumerate() {
                        figs.push((format!("{prefix}-{:02}-{stem}", i + 1), fig));
                    }
                }
            }
        }
        Ok(figs)
    }
}

/// Writes every figure as PNG and SVG into `dir`, and an `index.html` contact sheet; returns the
/// files written.
pub fn write_figures(
    figures: &[(String, Figure)],
    dir: &Path,
    title: &str,
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>body{{font-family:sans-serif;margin:2em}} figure{{display:inline-block;margin:1em;width:420px;vertical-align:top}} img{{width:100%;border:1px solid #ddd}} figcaption{{font-size:90%}}</style></head>\n<body><h1>{title}</h1>\n"
    );
    for (stem, fig) in figures {
        let (png, svg) = fig.save(dir, stem)?;
        html += &format!(
            "<figure><a href=\"{stem}.svg\"><img src=\"{stem}.png\" alt=\"{t}\"></a><figcaption>{t}<br><code>{stem}</code> (<a href=\"{stem}.png\">png</a>, <a href=\"{stem}.svg\">svg</a>)</figcaption></figure>\n",
            t = fig.title().replace('<', "&lt;"),
        );
        written.extend([png, svg]);
    }
    html += "</body></html>\n";
    let index = dir.join("index.html");
    std::fs::write(&index, html).map_err(|e| Error::io(&index, e))?;
    written.push(index);
    Ok(written)
}
