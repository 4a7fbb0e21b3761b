//! What the board does to raw sensor data before the network, as the laptop keeps it: owned
//! and serialisable beside a trained float model, and turned into the core's
//! [`tinyml_core::model::FrontEnd`] (which the model file encodes and the board decodes) in one
//! place, [`InputKind::to_core`].

use serde::{Deserialize, Serialize};
use tinyml_core::mfcc::{standardize, subtract_clip_mean, FeatureConfig};
use tinyml_core::model::FrontEnd;

use crate::error::{Error, Result};

/// What a keyword model needs besides its network: features and their standardisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeywordFrontEnd {
    /// The features the model was trained on.
    pub features: FeatureConfig,
    /// Subtract each clip's own mean from every coefficient first
    /// ([`tinyml_core::mfcc::subtract_clip_mean`]).
    #[serde(default)]
    pub clip_mean_normalization: bool,
    /// Mean of each coefficient over the training set.
    pub mean: Vec<f32>,
    /// Standard deviation of each coefficient over the training set.
    pub std: Vec<f32>,
}

impl KeywordFrontEnd {
    /// Raw features (clips of `per_clip` values one after another) to network input: each
    /// clip's mean when asked for, then the training set's standardisation.
    pub(crate) fn prepare(&self, mut x: Vec<f32>, per_clip: usize) -> Vec<f32> {
        self.subtract_clip_means(&mut x, per_clip);
        self.standardise(&mut x);
        x
    }

    pub(crate) fn subtract_clip_means(&self, x: &mut [f32], per_clip: usize) {
        if self.clip_mean_normalization {
            for clip in x.chunks_exact_mut(per_clip.max(1)) {
                subtract_clip_mean(clip, self.mean.len());
            }
        }
    }

    pub(crate) fn standardise(&self, x: &mut [f32]) {
        standardize(x, self.mean.len(), |c| (self.mean[c], self.std[c]));
    }
}

/// What the board does to accelerometer windows before the network (stored in the model file).
#[derive(Debug, Clone, PartialEq)]
pub struct MotionFrontEnd {
    /// Accelerometer samples per second (the board's: 50).
    pub sample_rate_hz: u32,
    /// Samples in one window (the training windows' length).
    pub window: usize,
    /// Samples between two windows on the board (half a window).
    pub hop: usize,
    /// Each feature's mean over the training windows.
    pub mean: Vec<f32>,
    /// Each feature's standard deviation over the training windows (> 0).
    pub std: Vec<f32>,
}

/// What the board does to raw data before the network (stored in the model file).
#[derive(Debug, Clone, PartialEq)]
pub enum InputKind {
    /// The caller gives the network's input values directly.
    Raw,
    /// 0–255 pixels scaled by 1/255 (the digits).
    Image,
    /// MFCC features of a clip of audio, standardised (the keyword spotter).
    Keywords(KeywordFrontEnd),
    /// The features of an accelerometer window, standardised (the activity network).
    Motion(MotionFrontEnd),
}

impl InputKind {
    /// The front end called `name` with nothing learned from data: `image` (pixels / 255),
    /// `mfcc` (the course's keyword features, [`FeatureConfig::KEYWORDS`], not standardised:
    /// mean 0, standard deviation 1) or `none` (int8 values given directly). For a model
    /// trained elsewhere on those features (`tinyml import --front-end`).
    pub fn named(name: &str) -> Result<InputKind> {
        match name {
            "image" => Ok(InputKind::Image),
            "none" => Ok(InputKind::Raw),
            "mfcc" => {
                let features = FeatureConfig::KEYWORDS;
                let n = features.coefficients();
                Ok(InputKind::Keywords(KeywordFrontEnd {
                    features,
                    clip_mean_normalization: false,
                    mean: vec![0.0; n],
                    std: vec![1.0; n],
                }))
            }
            "motion" => Err(Error::param(
                "front end",
                "motion needs the window and the statistics the network was trained with; \
                 a model exported by the kit keeps them (give no --front-end)",
            )),
            other => Err(Error::param(
                "front end",
                format!("'{other}' (use image, mfcc or none)"),
            )),
        }
    }

    /// The statistics as the model file stores them: every mean, then every standard
    /// deviation, `f32` little-endian (empty for raw and image inputs).
    pub fn statistics(&self) -> Vec<u8> {
        let (mean, std) = match self {
            InputKind::Raw | InputKind::Image => return Vec::new(),
            InputKind::Keywords(fe) => (&fe.mean, &fe.std),
            InputKind::Motion(fe) => (&fe.mean, &fe.std),
        };
        mean.iter()
            .chain(std)
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    /// The core's front end, its statistics borrowed from `statistics` (what
    /// [`InputKind::statistics`] gave); errors when a value does not fit the model file.
    pub fn to_core<'a>(&self, statistics: &'a [u8]) -> Result<FrontEnd<'a>> {
        let (mean, std) = statistics.split_at(statistics.len() / 2);
        Ok(match self {
            InputKind::Raw => FrontEnd::None,
            InputKind::Image => FrontEnd::Image,
            InputKind::Keywords(fe) => {
                let c = fe.features;
                FrontEnd::Mfcc {
                    config: c,
                    clip_mean: fe.clip_mean_normalization,
                    frames: c.clip_frames(),
                    coefficients: fe.mean.len(),
                    mean,
                    std,
                }
            }
            InputKind::Motion(fe) => {
                let field = |v: usize| {
                    u16::try_from(v).map_err(|_| {
                        Error::DoesNotFit(format!(
                            "motion front end value {v} does not fit the model file (at most {})",
                            u16::MAX
                        ))
                    })
                };
                FrontEnd::Motion {
                    sample_rate_hz: field(fe.sample_rate_hz as usize)?,
                    window: field(fe.window)?,
                    hop: field(fe.hop)?,
                    mean,
                    std,
                }
            }
        })
    }
}
