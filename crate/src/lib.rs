//! # tinyml-kit
//!
//! The support crate of a three-day TinyML course: every lesson's computation, figure and table,
//! behind concrete types that a notebook cell can use without generics, and the `tinyml`
//! command line that runs the same code.
//!
//! A notebook starts with
//!
//! ```
//! use tinyml_kit::prelude::*;
//! ```
//!
//! Day 1 ("rules vs learning"):
//! - [`ideas`]: AI ⊃ ML ⊃ deep learning, one neuron and a layer, BLERP with its arithmetic,
//!   the workflow the three days follow;
//! - [`activity`]: speed rules from the slides, accelerometer features, learned models;
//! - [`learn`]: the training loop made visible (guess, count mistakes, improve);
//! - [`search`]: why search explodes (Deep Blue's 35 moves per turn) and minimax;
//! - [`audit`]: responsible data (balance, per-person accuracy);
//! - [`digits`]: handwritten digits, an MLP and a CNN trained by [`nn`], the kit's engine.
//!
//! Day 2 ("keyword spotting"):
//! - [`audio`]: WAV files, resampling, 1 s clips, spectrograms, and the board's MFCC
//!   (`tinyml_core::mfcc`);
//! - [`kws`]: datasets of spoken words by speaker, augmentation, keyword CNNs;
//! - [`fewshot`]: a keyword embedding learned offline from a bank of generated words and real
//!   voices, and few-shot models of a student's five takes on it;
//! - [`recorder`]: the class records its own words in the browser;
//! - [`words`]: the words' spellings, a take's quality, a class's folders pooled, audited and a
//!   voice taken out again;
//! - [`quantize`]: int8 post-training quantization into the board's model file, run by the
//!   board's interpreter (`tinyml_core::model`).
//!
//! Day 3 ("from the cloud to the edge"):
//! - [`device`]: the board over USB serial (deploy without reflashing, predict), and the
//!   simulator that runs the firmware's protocol, model store and interpreter.
//!
//! Every day: [`exercise`] (the notebooks' exercises, checks that say "right", "not yet" or "no
//! answer yet"); Day 3 also [`stream`] (words with known times, and false alarms counted).
//!
//! The classroom: [`lab`] (JupyterLab and a Rust kernel that starts warm).
//!
//! Shared: [`plot`] (figures that display themselves), [`metrics`], [`slides`] (every figure of
//! the kit), [`course`] (the whole pipeline on the embedded data).
#![warn(missing_docs)]

pub mod activity;
pub mod audio;
pub mod audit;
pub mod course;
mod decode;
pub mod device;
pub mod digits;
pub mod error;
pub mod exercise;
#[cfg(feature = "cli")]
pub mod fetch;
pub mod fewshot;
pub mod flash;
pub mod front_end;
pub mod ideas;
pub mod kws;
pub mod lab;
pub mod learn;
pub mod lesson_plan;
pub mod metrics;
pub mod nn;
pub mod plot;
pub mod quantize;
pub mod recorder;
pub mod rng;
pub mod search;
pub mod slides;
pub mod stream;
pub mod tflite;
pub mod words;

/// What a lesson notebook `use`s: concrete types and functions only.
pub mod prelude {
    pub use crate::activity::{
        spectrum_figure, ActivityData, ActivityModel, ActivityNetwork, ActivityTrainer, Features,
        Method, SpeedRules, ACTIVITIES,
    };
    pub use crate::audio::{
        librosa_expression, mel_filter_figure, Audio, AudioFeatures, Spectrogram,
    };
    pub use crate::audit::{DataAudit, GroupAccuracy};
    pub use crate::device::{listen_to, watch, Board, ImuRecording, SameOutputs, Simulator};
    pub use crate::digits::{
        knn_accuracy, Architecture, Digits, DigitsModel, DigitsTrainer, MnistSet, Prediction,
        Shifts,
    };
    pub use crate::error::{Error, Result};
    pub use crate::exercise::{
        check_chunks, check_false_alarms, check_felt_most, check_fmax, check_learning_rate,
        check_mlp, check_neuron_output, check_parameter_count, check_rules, check_search_turns,
        check_speaker_split, check_tiny_conv, Feedback,
    };
    pub use crate::fewshot::{
        compare_few_shot, few_shot_words, FewShotComparison, KwsEmbedding, FEW_TAKES,
    };
    pub use crate::ideas::{ai_family_figure, workflow_figure, Blerp, Neuron, NeuronLayer};
    pub use crate::kws::{
        speaker_folds, train_for_listening, voice_curve, Augmentation, KeywordData,
        KeywordPrediction, KwsArchitecture, KwsEvaluation, KwsModel, KwsTrainer, SpeakerFolds,
        VoiceCurve, UPPER_HZ_FRICATIVES,
    };
    pub use crate::lab::KitStatus;
    pub use crate::learn::{count_mistakes, log_loss, sigmoid, ThresholdLearner, TrainingRun};
    pub use crate::metrics::{percent, ConfusionMatrix, Evaluation};
    pub use crate::nn::{History, Layer, Network, Optimizer, Padding, Shape, TrainParams};
    pub use crate::plot::{Figure, Table};
    pub use crate::quantize::{Calibration, QuantizationReport, QuantizedModel};
    pub use crate::recorder::Recorder;
    pub use crate::search::{
        deep_blue, depth_figure, depth_table, growth_figure, SearchCost, TicTacToe,
    };
    pub use crate::stream::{StreamScore, WordStream};
    pub use crate::words::{forget, pool, word_id, PoolReport, WordsAudit};
    pub use tinyml_core::mfcc::{FeatureConfig, MelScale};
    pub use tinyml_core::model::Budget;
}
