//! Day 1, "rules vs learning": activity detection from speed and from an accelerometer.
//!
//! - [`data`]: labelled windows of accelerometer samples, generated (seeded) or recorded, as CSV.
//! - [`rules`]: the slides' hand-written speed rules, as a value students edit and score.
//! - [`models`]: features of each window, and models that learn the rules from examples.
//! - [`network`]: the activity model the board runs (Day 3), a small int8 network.

pub mod data;
pub mod models;
pub mod network;
pub mod rules;

pub use data::{ActivityData, GeneratorParams, Window, ACTIVITIES, DEFAULT_SEED};
pub use models::{spectrum_figure, ActivityModel, Features, Method, ModelParams};
pub use network::{ActivityNetwork, ActivityTrainer};
pub use rules::{SpeedRule, SpeedRules};
