//! What the board can compute, as one set of numbers: the longest FFT, the most mel filters and
//! cepstral coefficients, the most keyword-loop inputs. The board's build (feature
//! `small-tables`) sizes its tables by [`Limits::BOARD`]; the laptop's build has room for
//! [`Limits::LAPTOP`] (for features it only studies) but runs the board's keyword loop, its
//! protocol handler and `check_fits` with [`Limits::BOARD`], so the simulator and the laptop
//! refuse exactly what the board would refuse, before an upload rather than after it.

use crate::mfcc::FeatureConfig;
use crate::model::{FrontEnd, Model};

/// Table sizes of a build of the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest FFT, in real samples.
    pub fft_len: usize,
    /// Most mel filters.
    pub mel_bins: usize,
    /// Most cepstral coefficients.
    pub mfcc: usize,
    /// Most model input values (frames × coefficients) the keyword loop holds.
    pub keyword_inputs: usize,
}

/// A limit a model's features go past: what they need and the most there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitError {
    /// An FFT longer than the board computes.
    FftLength {
        /// Samples the features' FFT needs.
        needed: usize,
        /// The longest FFT.
        most: usize,
    },
    /// More mel filters than the board has room for.
    MelBins {
        /// Filters the features use.
        needed: usize,
        /// The most filters.
        most: usize,
    },
    /// More cepstral coefficients than the board has room for.
    Mfcc {
        /// Coefficients the features use.
        needed: usize,
        /// The most coefficients.
        most: usize,
    },
    /// More input values than the board's keyword loop holds.
    KeywordInputs {
        /// Values the model takes (frames × coefficients).
        needed: usize,
        /// The most values.
        most: usize,
    },
}

impl Limits {
    /// The Arduino Nano 33 BLE Sense's (the `small-tables` build): FFTs up to 512 points (32 ms
    /// at 16 kHz), 40 mel filters, 20 MFCCs, 1,024 keyword inputs (49 frames of 20).
    pub const BOARD: Limits = Limits {
        fft_len: 512,
        mel_bins: 40,
        mfcc: 20,
        keyword_inputs: 1_024,
    };

    /// The laptop's build: FFTs up to 1,024 points, 80 mel filters, 40 MFCCs, 2,048 inputs.
    pub const LAPTOP: Limits = Limits {
        fft_len: 1_024,
        mel_bins: 80,
        mfcc: 40,
        keyword_inputs: 2_048,
    };

    /// This build's table sizes.
    #[cfg(feature = "small-tables")]
    pub const BUILD: Limits = Limits::BOARD;
    /// This build's table sizes.
    #[cfg(not(feature = "small-tables"))]
    pub const BUILD: Limits = Limits::LAPTOP;

    /// Whether features of `config` fit, for a model of `inputs` values.
    pub fn check_features(&self, config: &FeatureConfig, inputs: usize) -> Result<(), LimitError> {
        let fft = config.fft_samples();
        if fft > self.fft_len {
            return Err(LimitError::FftLength {
                needed: fft,
                most: self.fft_len,
            });
        }
        if config.num_mel_bins as usize > self.mel_bins {
            return Err(LimitError::MelBins {
                needed: config.num_mel_bins as usize,
                most: self.mel_bins,
            });
        }
        if config.num_mfcc as usize > self.mfcc {
            return Err(LimitError::Mfcc {
                needed: config.num_mfcc as usize,
                most: self.mfcc,
            });
        }
        if inputs > self.keyword_inputs {
            return Err(LimitError::KeywordInputs {
                needed: inputs,
                most: self.keyword_inputs,
            });
        }
        Ok(())
    }

    /// Whether a build with these limits can compute `model`'s front end (models without
    /// microphone features always can).
    pub fn check(&self, model: &Model) -> Result<(), LimitError> {
        match model.front_end() {
            Ok(FrontEnd::Mfcc { config, .. }) => self.check_features(&config, model.input().len()),
            _ => Ok(()),
        }
    }
}

// The board's limits are within the laptop's: whatever the board runs, the laptop runs too.
const _: () = assert!(
    Limits::BOARD.fft_len <= Limits::LAPTOP.fft_len
        && Limits::BOARD.mel_bins <= Limits::LAPTOP.mel_bins
        && Limits::BOARD.mfcc <= Limits::LAPTOP.mfcc
        && Limits::BOARD.keyword_inputs <= Limits::LAPTOP.keyword_inputs
);
