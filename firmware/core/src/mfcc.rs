//! Log-mel and MFCC features of audio: the keyword spotter's front end, on the laptop and on the
//! board.
//!
//! For each frame of `window_ms` milliseconds, every `stride_ms` milliseconds:
//! 1. optional pre-emphasis of the whole signal, `y[t] = x[t] - a·x[t-1]` with `x[-1] = 0`;
//! 2. a periodic Hann window of `window_ms`, centred in an FFT frame of `fft_len` samples (the
//!    next power of two unless set), the frame starting at `frame · stride` (no padding at the
//!    ends, librosa's `center=False`);
//! 3. the power spectrum `|X[k]|²` from [`crate::fft`];
//! 4. `num_mel_bins` triangular filters between `fmin_hz` and `fmax_hz`, on the HTK mel scale
//!    (`2595 log10(1 + f/700)`) or Slaney's (linear below 1 kHz, logarithmic above, librosa's
//!    default), optionally area-normalised (Slaney's `norm`);
//! 5. `10 log10(max(energy, 1e-10))` ([`decibels`]): log-mel in decibels (librosa's `power_to_db` with
//!    `ref=1.0, amin=1e-10, top_db=None`);
//! 6. with `num_mfcc > 0`, the orthonormal DCT-II of the log-mel energies, keeping the first
//!    `num_mfcc` coefficients.
//!
//! This is `librosa.feature.mfcc` (0.10/0.11) on a matched configuration; [`FeatureConfig`]
//! documents the exact call, and the host tests compare against a librosa golden file.
//!
//! [`Mfcc::new`] plans everything once (window, FFT, filterbank, DCT table); [`Mfcc::process`]
//! then allocates nothing. Tables are computed in `f64` with [`libm`] and stored as `f32`; the
//! per-frame work is `f32` arithmetic in a fixed order (the logarithm too), so the laptop and the
//! Cortex-M4 compute the same bits.

use crate::fft::{FftError, FftScratch, RealFft, MAX_FFT_LEN};

/// Most mel filters (80; 40 with the board's `small-tables` feature):
/// [`crate::limits::Limits::BUILD`].
pub const MAX_MEL_BINS: usize = crate::limits::Limits::BUILD.mel_bins;

/// Most cepstral coefficients (40; 20 with the board's `small-tables` feature).
pub const MAX_MFCC: usize = crate::limits::Limits::BUILD.mfcc;

const MAX_BINS: usize = MAX_FFT_LEN / 2 + 1;

/// The peak every keyword clip is normalised to ([`normalize_peak`]), on the laptop and on
/// the board.
pub const NORMALIZED_PEAK: f32 = 0.9;

/// Smallest power (before the log), as librosa's `amin`.
pub const POWER_FLOOR: f32 = 1e-10;

/// Which mel scale places the filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[repr(u8)]
pub enum MelScale {
    /// `mel = 2595 log10(1 + f / 700)` (HTK, TensorFlow; librosa `htk=True`).
    Htk = 0,
    /// Linear below 1 kHz, logarithmic above (Slaney's Auditory Toolbox; librosa's default).
    Slaney = 1,
}

/// Everything that decides the features. It travels inside the model file, so the board can
/// never pair a model with features it was not trained on.
///
/// [`FeatureConfig::KEYWORDS`] is the course's keyword configuration. With `fft_len = 0`
/// meaning the next power of two of the window, the matching librosa call is:
///
/// ```text
/// librosa.feature.mfcc(S=librosa.power_to_db(librosa.feature.melspectrogram(
///     y=y, sr=sample_rate_hz, n_fft=fft_len, hop_length=stride, win_length=window,
///     window="hann", center=False, power=2.0, n_mels=num_mel_bins, fmin=fmin_hz,
///     fmax=fmax_hz, htk=(mel_scale == Htk), norm=("slaney" if slaney_norm else None)),
///     top_db=None), n_mfcc=num_mfcc, dct_type=2, norm="ortho")
/// ```
///
/// with `window` and `stride` in samples, and `y` pre-emphasised first when `preemphasis > 0`
/// (`y = np.append(y[0], y[1:] - a * y[:-1])`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FeatureConfig {
    /// Sample rate of the audio, in hertz.
    pub sample_rate_hz: u32,
    /// Length of one analysis window, in milliseconds.
    pub window_ms: u16,
    /// Step between windows, in milliseconds.
    pub stride_ms: u16,
    /// FFT length in samples: a power of two at least the window, or 0 for the next power of two.
    pub fft_len: u16,
    /// Number of mel filters.
    pub num_mel_bins: u16,
    /// Number of cepstral coefficients; 0 gives log-mel energies instead of MFCCs.
    pub num_mfcc: u16,
    /// Lowest filter edge, in hertz.
    pub fmin_hz: f32,
    /// Highest filter edge, in hertz (at most half the sample rate).
    pub fmax_hz: f32,
    /// Which mel scale places the filters.
    pub mel_scale: MelScale,
    /// Scale each filter to unit area (Slaney normalisation, librosa's `norm="slaney"`).
    pub slaney_norm: bool,
    /// Pre-emphasis coefficient `a` in `y[t] = x[t] - a·x[t-1]`; 0 turns it off.
    pub preemphasis: f32,
    /// Length of one keyword clip, in milliseconds: what a keyword model hears at a time
    /// ([`MIN_CLIP_MS`] to [`MAX_CLIP_MS`]; its input is [`FeatureConfig::clip_frames`] frames).
    /// Longer words (*hágoónee'*) need more than the usual second.
    #[cfg_attr(feature = "serde", serde(default = "one_second"))]
    pub clip_ms: u16,
}

/// Shortest keyword clip, in milliseconds.
pub const MIN_CLIP_MS: u16 = 1_000;
/// Longest keyword clip, in milliseconds (the board's keyword loop holds this much audio).
pub const MAX_CLIP_MS: u16 = 1_500;

/// The clip length of configurations saved before it was a setting.
#[cfg(feature = "serde")]
fn one_second() -> u16 {
    MIN_CLIP_MS
}

impl FeatureConfig {
    /// The course's keyword features: 16 kHz, 30 ms windows every 20 ms (49 frames in 1 s, as
    /// TensorFlow's micro_speech), 512-point FFT, 40 Slaney mel filters from 20 Hz to 4 kHz
    /// (speech lives below 4 kHz, and 8 kHz recordings resampled to 16 kHz have nothing above
    /// it), 13 MFCCs, no pre-emphasis, clips of one second.
    pub const KEYWORDS: FeatureConfig = FeatureConfig {
        sample_rate_hz: 16_000,
        window_ms: 30,
        stride_ms: 20,
        fft_len: 0,
        num_mel_bins: 40,
        num_mfcc: 13,
        fmin_hz: 20.0,
        fmax_hz: 4_000.0,
        mel_scale: MelScale::Slaney,
        slaney_norm: true,
        preemphasis: 0.0,
        clip_ms: 1_000,
    };

    /// Entries per filter in the MFCC's DCT table: `num_mfcc`, or 16 for up to 16 MFCCs.
    fn dct_stride(&self) -> usize {
        let n = self.num_mfcc as usize;
        if n <= DCT_LANES {
            DCT_LANES
        } else {
            n
        }
    }

    /// Window length in samples.
    pub fn window_samples(&self) -> usize {
        // In u64: the product overflows a 32-bit usize (the board's) for long windows.
        (self.sample_rate_hz as u64 * self.window_ms as u64 / 1000) as usize
    }

    /// Stride in samples.
    pub fn stride_samples(&self) -> usize {
        (self.sample_rate_hz as u64 * self.stride_ms as u64 / 1000) as usize
    }

    /// FFT length in samples (the next power of two of the window when `fft_len` is 0).
    pub fn fft_samples(&self) -> usize {
        if self.fft_len == 0 {
            self.window_samples().next_power_of_two()
        } else {
            self.fft_len as usize
        }
    }

    /// Samples in one keyword clip.
    pub fn clip_samples(&self) -> usize {
        (self.sample_rate_hz as u64 * self.clip_ms as u64 / 1000) as usize
    }

    /// Frames of one keyword clip (what a keyword model's input holds).
    pub fn clip_frames(&self) -> usize {
        self.frames(self.clip_samples())
    }

    /// Numbers per frame: `num_mfcc`, or `num_mel_bins` for log-mel.
    pub fn coefficients(&self) -> usize {
        if self.num_mfcc == 0 {
            self.num_mel_bins as usize
        } else {
            self.num_mfcc as usize
        }
    }

    /// Frames in a signal of `samples` samples (0 when shorter than one FFT frame).
    pub fn frames(&self, samples: usize) -> usize {
        let (fft, stride) = (self.fft_samples(), self.stride_samples());
        if samples < fft || stride == 0 {
            0
        } else {
            1 + (samples - fft) / stride
        }
    }

    /// Checks every field, and that every mel filter covers an FFT bin; [`Mfcc::new`] calls
    /// this first.
    pub fn validate(&self) -> Result<(), MfccError> {
        self.validate_fields()?;
        if (0..self.num_mel_bins as usize).any(|m| self.mel_filter(m).bins().is_empty()) {
            return Err(MfccError::EmptyMelFilter);
        }
        Ok(())
    }

    /// [`FeatureConfig::validate`] without the mel filters (a few milliseconds of the board's
    /// double-precision arithmetic): for the board's light loader, which reads models that the
    /// full one accepted at commit.
    pub(crate) fn validate_fields(&self) -> Result<(), MfccError> {
        let rate = self.sample_rate_hz;
        if !(1_000..=192_000).contains(&rate) {
            return Err(MfccError::BadSampleRate);
        }
        let exact = |ms: u16| (rate as u64 * ms as u64).is_multiple_of(1000);
        if self.window_ms == 0 || !exact(self.window_ms) || self.window_samples() < 4 {
            return Err(MfccError::BadWindow);
        }
        if self.stride_ms == 0 || !exact(self.stride_ms) {
            return Err(MfccError::BadStride);
        }
        let fft = self.fft_samples();
        if !fft.is_power_of_two() || fft < self.window_samples() || fft > MAX_FFT_LEN {
            return Err(MfccError::BadFftLength);
        }
        if self.num_mel_bins < 2 || self.num_mel_bins as usize > MAX_MEL_BINS {
            return Err(MfccError::BadMelBins);
        }
        if self.num_mfcc as usize > MAX_MFCC || self.num_mfcc > self.num_mel_bins {
            return Err(MfccError::BadMfccCount);
        }
        let nyquist = rate as f32 / 2.0;
        let (lo, hi) = (self.fmin_hz, self.fmax_hz);
        if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && lo < hi && hi <= nyquist) {
            return Err(MfccError::BadFrequencyRange);
        }
        if !(self.preemphasis.is_finite() && (0.0..1.0).contains(&self.preemphasis)) {
            return Err(MfccError::BadPreemphasis);
        }
        if !(MIN_CLIP_MS..=MAX_CLIP_MS).contains(&self.clip_ms) || !exact(self.clip_ms) {
            return Err(MfccError::BadClipLength);
        }
        Ok(())
    }

    /// Mel filter `m` of a configuration whose frequencies and counts are valid: librosa's
    /// `filters.mel`, triangles between consecutive points equally spaced in mel.
    fn mel_filter(&self, m: usize) -> MelFilter {
        let mels = self.num_mel_bins as usize;
        let (lo, hi) = (
            hz_to_mel(self.fmin_hz as f64, self.mel_scale),
            hz_to_mel(self.fmax_hz as f64, self.mel_scale),
        );
        let edge = |i: usize| {
            mel_to_hz(
                lo + (hi - lo) * i as f64 / (mels + 1) as f64,
                self.mel_scale,
            )
        };
        let fft_len = self.fft_samples();
        MelFilter {
            left: edge(m),
            centre: edge(m + 1),
            right: edge(m + 2),
            rate: self.sample_rate_hz as f64,
            fft_len,
            bins: fft_len / 2 + 1,
        }
    }
}

/// One triangular mel filter over an FFT's bins.
struct MelFilter {
    left: f64,
    centre: f64,
    right: f64,
    rate: f64,
    fft_len: usize,
    bins: usize,
}

impl MelFilter {
    /// The (unnormalised) weight of FFT bin `k`: 0 outside the triangle.
    fn weight(&self, k: usize) -> f64 {
        let f = k as f64 * self.rate / self.fft_len as f64;
        let rising = (f - self.left) / (self.centre - self.left);
        let falling = (self.right - f) / (self.right - self.centre);
        rising.min(falling).max(0.0)
    }

    /// The FFT bins of positive weight (contiguous: a triangle is one hump). Empty when the
    /// triangle falls between two bins. Looks only near the triangle, so that the board's
    /// loader can check every filter of a model cheaply.
    fn bins(&self) -> core::ops::Range<usize> {
        // Bins below the left edge weigh nothing; start one early against rounding.
        let below = (self.left * self.fft_len as f64 / self.rate) as usize;
        let mut k = below.saturating_sub(1).min(self.bins);
        while k < self.bins && self.weight(k) <= 0.0 {
            if k as f64 * self.rate / self.fft_len as f64 >= self.right {
                return k..k;
            }
            k += 1;
        }
        let start = k;
        while k < self.bins && self.weight(k) > 0.0 {
            k += 1;
        }
        start..k
    }
}

/// Why features could not be planned or computed. Codes are stable: they travel over the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MfccError {
    /// The sample rate is outside 1 kHz to 192 kHz.
    BadSampleRate = 1,
    /// The window is zero, under 4 samples, or not a whole number of samples.
    BadWindow = 2,
    /// The stride is zero or not a whole number of samples.
    BadStride = 3,
    /// The FFT length is not a power of two between the window length and the maximum.
    BadFftLength = 4,
    /// The number of mel filters is not between 2 and [`MAX_MEL_BINS`].
    BadMelBins = 5,
    /// More MFCCs than [`MAX_MFCC`] or than mel filters.
    BadMfccCount = 6,
    /// `fmin_hz` and `fmax_hz` are not `0 <= fmin < fmax <= sample_rate / 2`.
    BadFrequencyRange = 7,
    /// The pre-emphasis coefficient is not in `[0, 1)`.
    BadPreemphasis = 8,
    /// A mel filter covers no FFT bin: use fewer filters, a longer FFT or a wider range.
    EmptyMelFilter = 9,
    /// The signal is shorter than one FFT frame.
    SignalTooShort = 10,
    /// `out` does not have `frames × coefficients` values.
    OutputSizeMismatch = 11,
    /// A sample is NaN or infinite, or so large that a frame's energy overflows.
    NonFiniteSample = 12,
    /// The clip is not between [`MIN_CLIP_MS`] and [`MAX_CLIP_MS`], or not a whole number of
    /// samples.
    BadClipLength = 13,
}

impl MfccError {
    /// The stable wire code of this error.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

impl From<FftError> for MfccError {
    fn from(_: FftError) -> Self {
        MfccError::BadFftLength
    }
}

/// Hertz to mel on `scale`.
pub fn hz_to_mel(hz: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * libm::log10(1.0 + hz / 700.0),
        MelScale::Slaney => {
            let (linear_step, log_start_hz) = (200.0 / 3.0, 1000.0);
            if hz < log_start_hz {
                hz / linear_step
            } else {
                log_start_hz / linear_step + libm::log(hz / log_start_hz) / slaney_log_step()
            }
        }
    }
}

/// Mel to hertz on `scale` (the inverse of [`hz_to_mel`]).
pub fn mel_to_hz(mel: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (libm::pow(10.0, mel / 2595.0) - 1.0),
        MelScale::Slaney => {
            let (linear_step, log_start_hz) = (200.0 / 3.0, 1000.0);
            let log_start_mel = log_start_hz / linear_step;
            if mel < log_start_mel {
                mel * linear_step
            } else {
                log_start_hz * libm::exp(slaney_log_step() * (mel - log_start_mel))
            }
        }
    }
}

fn slaney_log_step() -> f64 {
    libm::log(6.4) / 27.0
}

/// A planned feature extractor: build once with [`Mfcc::new`], then [`Mfcc::process`] any
/// number of signals without allocating. About 30 KB, so the board keeps one in a `static`.
#[derive(Clone)]
pub struct Mfcc {
    config: FeatureConfig,
    fft: RealFft,
    /// Hann window of `window_samples`, centred in `fft_samples` (zeros around it).
    window: [f32; MAX_FFT_LEN],
    /// Filter `m` covers FFT bins `filter_start[m] ..` with `filter_len[m]` weights, stored from
    /// `filter_offset[m]` in `filter_weights` (each bin is in at most two filters).
    filter_start: [u16; MAX_MEL_BINS],
    filter_len: [u16; MAX_MEL_BINS],
    filter_offset: [u16; MAX_MEL_BINS],
    filter_weights: [f32; 2 * MAX_BINS],
    /// FFT bins the filters read (`0 .. used_bins`): the power of the others is never computed.
    used_bins: usize,
    /// `dct[m * dct_stride() + c]`: orthonormal DCT-II, stored filter by filter so that each
    /// log-mel energy updates every coefficient at once (zeros past `num_mfcc`).
    dct: [f32; MAX_MFCC * MAX_MEL_BINS],
}

/// Up to this many MFCCs, the DCT's rows are padded to it, and the coefficients of a frame add
/// up in registers (a fixed-size array) instead of through memory.
const DCT_LANES: usize = 16;

impl Mfcc {
    /// Plans the features of `config`.
    pub fn new(config: FeatureConfig) -> Result<Mfcc, MfccError> {
        let mut mfcc = Mfcc::EMPTY;
        mfcc.plan(config)?;
        Ok(mfcc)
    }

    /// Nothing planned (all zeros, so a `static` of it costs no flash); [`Mfcc::plan`] it.
    pub const EMPTY: Mfcc = Mfcc {
        config: FeatureConfig {
            sample_rate_hz: 0,
            window_ms: 0,
            stride_ms: 0,
            fft_len: 0,
            num_mel_bins: 0,
            num_mfcc: 0,
            fmin_hz: 0.0,
            fmax_hz: 0.0,
            mel_scale: MelScale::Htk,
            slaney_norm: false,
            preemphasis: 0.0,
            clip_ms: 0,
        },
        fft: RealFft::EMPTY,
        window: [0.0; MAX_FFT_LEN],
        filter_start: [0; MAX_MEL_BINS],
        filter_len: [0; MAX_MEL_BINS],
        filter_offset: [0; MAX_MEL_BINS],
        filter_weights: [0.0; 2 * MAX_BINS],
        used_bins: 0,
        dct: [0.0; MAX_MFCC * MAX_MEL_BINS],
    };

    /// [`Mfcc::new`] in place: the board plans its 30 KB of tables without a copy on its stack.
    /// On error the planner is left [`Mfcc::EMPTY`].
    pub fn plan(&mut self, config: FeatureConfig) -> Result<(), MfccError> {
        *self = Mfcc::EMPTY;
        let planned = self.plan_tables(config);
        if planned.is_err() {
            *self = Mfcc::EMPTY;
        }
        planned
    }

    fn plan_tables(&mut self, config: FeatureConfig) -> Result<(), MfccError> {
        config.validate()?;
        let fft_len = config.fft_samples();
        self.fft.plan(fft_len)?;
        self.config = config;
        self.used_bins = 1;
        let mfcc = self;
        // Periodic Hann (scipy's `get_window("hann", n, fftbins=True)`), centred as librosa's
        // `pad_center`.
        let window = config.window_samples();
        let left = (fft_len - window) / 2;
        for t in 0..window {
            let phase = 2.0 * core::f64::consts::PI * t as f64 / window as f64;
            mfcc.window[left + t] = (0.5 - 0.5 * libm::cos(phase)) as f32;
        }
        mfcc.plan_filters()?;
        let mels = config.num_mel_bins as usize;
        for c in 0..config.num_mfcc as usize {
            let scale = if c == 0 {
                libm::sqrt(1.0 / mels as f64)
            } else {
                libm::sqrt(2.0 / mels as f64)
            };
            for m in 0..mels {
                let angle =
                    core::f64::consts::PI * c as f64 * (2 * m + 1) as f64 / (2 * mels) as f64;
                mfcc.dct[m * config.dct_stride() + c] = (scale * libm::cos(angle)) as f32;
            }
        }
        Ok(())
    }

    /// The mel filters' weights ([`FeatureConfig::mel_filter`]), packed: filter `m` covers bins
    /// `filter_start[m]..+filter_len[m]`, its weights from `filter_offset[m]`.
    fn plan_filters(&mut self) -> Result<(), MfccError> {
        let config = self.config;
        let mels = config.num_mel_bins as usize;
        let bins = config.fft_samples() / 2 + 1;
        let mut used = 0usize;
        for m in 0..mels {
            let filter = config.mel_filter(m);
            let norm = if config.slaney_norm {
                2.0 / (filter.right - filter.left)
            } else {
                1.0
            };
            let span = filter.bins();
            // The pool holds at most two weights per bin (neighbouring triangles overlap once).
            if span.is_empty() || used + span.len() > self.filter_weights.len() {
                return Err(MfccError::EmptyMelFilter);
            }
            for (i, k) in span.clone().enumerate() {
                self.filter_weights[used + i] = (filter.weight(k) as f32 as f64 * norm) as f32;
            }
            self.filter_start[m] = span.start as u16;
            self.filter_len[m] = span.len() as u16;
            self.filter_offset[m] = used as u16;
            used += span.len();
        }
        self.used_bins = (0..mels)
            .map(|m| self.filter_start[m] as usize + self.filter_len[m] as usize)
            .max()
            .unwrap_or(1)
            .clamp(1, bins);
        Ok(())
    }

    /// The configuration this extractor was planned for.
    pub fn config(&self) -> FeatureConfig {
        self.config
    }

    /// Numbers per frame.
    pub fn coefficients(&self) -> usize {
        self.config.coefficients()
    }

    /// Frames in a signal of `samples` samples.
    pub fn frames(&self, samples: usize) -> usize {
        self.config.frames(samples)
    }

    /// The filterbank weight of FFT bin `k` in mel filter `m` (0 outside the filter): for
    /// plots of the filterbank.
    pub fn filter_weight(&self, m: usize, k: usize) -> f32 {
        if m >= self.config.num_mel_bins as usize {
            return 0.0;
        }
        let start = self.filter_start[m] as usize;
        let len = self.filter_len[m] as usize;
        if k < start || k >= start + len {
            return 0.0;
        }
        self.filter_weights[self.filter_offset[m] as usize + k - start]
    }

    /// Writes the features of `signal` (samples in `[-1, 1]` at the configured rate) into
    /// `out`, frame after frame: `out[frame * coefficients() + c]`. `out` must have exactly
    /// `frames(signal.len()) * coefficients()` values. A NaN or infinite sample inside a frame
    /// is an error (samples after the last whole frame are not read).
    pub fn process(&self, signal: &[f32], out: &mut [f32]) -> Result<(), MfccError> {
        self.features(signal, out)
    }

    /// [`Mfcc::process`] in the portable build of the code (the board's). On a laptop with
    /// AVX2, `process` runs the same source compiled for AVX2, which gives the same bits (no
    /// fused multiply-adds, sums in the same order); the tests check it with this.
    pub fn process_portable(&self, signal: &[f32], out: &mut [f32]) -> Result<(), MfccError> {
        self.features_portable(signal, out)
    }

    /// [`Mfcc::process`] of 16-bit PCM scaled by `gain`: the features of the samples
    /// `pcm16_to_f32(pcm)[i] * gain`, bit for bit, without the `f32` copy of the signal (64 KB
    /// for a second at 16 kHz, a quarter of the board's RAM). With `gain` from [`pcm16_gain`],
    /// these are the features of the peak-normalised clip ([`normalize_peak`]), as the laptop
    /// computes them from a 16-bit WAV file.
    pub fn process_pcm16(&self, pcm: &[i16], gain: f32, out: &mut [f32]) -> Result<(), MfccError> {
        self.features(Pcm16 { pcm, gain }, out)
    }

    /// [`Mfcc::process_pcm16`] of 16-bit samples stored as little-endian byte pairs (the
    /// keyword loop's clip in the arena): the same samples give the same bits.
    pub fn process_pcm16_le(
        &self,
        bytes: &[i8],
        gain: f32,
        out: &mut [f32],
    ) -> Result<(), MfccError> {
        self.features(Pcm16Le { bytes, gain }, out)
    }

    /// The features, in the fastest build of the code this processor runs.
    fn features<S: Signal>(&self, signal: S, out: &mut [f32]) -> Result<(), MfccError> {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::has_avx2() {
            // SAFETY: the processor has AVX2 (checked just above).
            #[allow(unsafe_code)]
            return unsafe { self.features_avx2(signal, out) };
        }
        self.features_portable(signal, out)
    }

    /// [`Mfcc::features_portable`] compiled for AVX2: wider vectors for the FFT's butterflies,
    /// the window and the logarithms.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(unsafe_code)]
    unsafe fn features_avx2<S: Signal>(&self, signal: S, out: &mut [f32]) -> Result<(), MfccError> {
        self.features_portable(signal, out)
    }

    #[inline(always)]
    fn features_portable<S: Signal>(&self, signal: S, out: &mut [f32]) -> Result<(), MfccError> {
        let config = &self.config;
        let frames = config.frames(signal.len());
        if frames == 0 {
            return Err(MfccError::SignalTooShort);
        }
        let per = config.coefficients();
        if out.len() != frames * per {
            return Err(MfccError::OutputSizeMismatch);
        }
        let fft_len = config.fft_samples();
        let stride = config.stride_samples();
        let mels = config.num_mel_bins as usize;
        let bins = self.used_bins;
        let a = config.preemphasis;
        let mut frame = [0f32; MAX_FFT_LEN];
        let mut power = [0f32; MAX_BINS];
        let mut log_mel = [0f32; MAX_MEL_BINS];
        let mut scratch = FftScratch::new();
        // A NaN or infinite sample in a frame makes its energies non-finite; checking the 40
        // energies of each frame is cheaper than checking 16,000 samples.
        let mut finite = true;
        for (f, row) in out.chunks_exact_mut(per).enumerate() {
            let begin = f * stride;
            let window = &self.window[..fft_len];
            if a == 0.0 {
                let samples = signal.frame(begin, &mut frame[..fft_len]);
                self.fft
                    .windowed_power(samples, window, &mut power[..bins], &mut scratch)?;
            } else {
                let frame = &mut frame[..fft_len];
                for (t, (y, &w)) in frame.iter_mut().zip(window).enumerate() {
                    let i = begin + t;
                    let previous = if i == 0 { 0.0 } else { signal.at(i - 1) };
                    *y = (signal.at(i) - a * previous) * w;
                }
                self.fft.power(frame, &mut power[..bins], &mut scratch)?;
            }
            for (m, energy) in log_mel[..mels].iter_mut().enumerate() {
                let start = self.filter_start[m] as usize;
                let len = self.filter_len[m] as usize;
                let offset = self.filter_offset[m] as usize;
                let weights = &self.filter_weights[offset..offset + len];
                *energy = weights
                    .iter()
                    .zip(&power[start..start + len])
                    .map(|(w, p)| w * p)
                    .sum();
            }
            // In loops of their own, the check and the logarithm run on several filters at
            // once (the compiler vectorises them; each lane computes exactly the scalar bits).
            finite &= log_mel[..mels]
                .iter()
                .fold(true, |ok, energy| ok & energy.is_finite());
            for energy in &mut log_mel[..mels] {
                *energy = decibels(energy.max(POWER_FLOOR));
            }
            if config.num_mfcc == 0 {
                row.copy_from_slice(&log_mel[..mels]);
            } else {
                // Coefficient c is Σ_m dct[m][c]·log_mel[m], summed over m in order.
                let bases = self
                    .dct
                    .chunks_exact(config.dct_stride())
                    .zip(&log_mel[..mels]);
                if config.dct_stride() == DCT_LANES {
                    let mut sums = [0f32; DCT_LANES];
                    for (basis, &x) in bases {
                        for (value, b) in sums.iter_mut().zip(basis) {
                            *value += b * x;
                        }
                    }
                    row.copy_from_slice(&sums[..per]);
                } else {
                    row.fill(0.0);
                    for (basis, &x) in bases {
                        for (value, b) in row.iter_mut().zip(basis) {
                            *value += b * x;
                        }
                    }
                }
            }
        }
        if !finite {
            return Err(MfccError::NonFiniteSample);
        }
        Ok(())
    }
}

/// `10 log10(x)` for a positive, finite, normal `x`: the exponent from the bits, and
/// `ln m = 2 atanh((m - 1) / (m + 1))` (four terms) for the mantissa `m` in `[√½, √2)`. Within
/// 1e-5 dB of the exact value (the `f32` rounding of a result near ±100 dB), and about 5 times faster than `libm::log10f`, which was a third of
/// the MFCC's time. Plain `f32` arithmetic: the same bits on the laptop and the board.
#[inline]
pub fn decibels(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    if m > core::f32::consts::SQRT_2 {
        m *= 0.5;
        exponent += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let ln_m = 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0))));
    // 10 / ln 10 and 10 log10(2)
    4.342_944_8 * ln_m + 3.010_3 * exponent as f32
}

/// Scales `samples` in place so that the largest magnitude is `peak` (a silent signal stays
/// silent). The keyword pipeline normalises every 1 s clip this way, on the laptop and on the
/// board, so the features do not depend on how loud the microphone is.
pub fn normalize_peak(samples: &mut [f32], peak: f32) {
    let largest = samples
        .iter()
        .filter(|x| x.is_finite())
        .fold(0f32, |m, &x| m.max(x.abs()));
    if largest > 0.0 {
        let gain = peak / largest;
        for x in samples.iter_mut() {
            *x *= gain;
        }
    }
}

/// Subtracts from each coefficient its mean over the clip's frames (cepstral mean
/// normalisation): what stays the same through a whole recording (the microphone, the room, part
/// of the speaker's voice) cancels out, and the changes that make the word remain. `values` is
/// `frames × coefficients`, as [`Mfcc::process`] writes it; a trailing partial frame is left as
/// it is.
pub fn subtract_clip_mean(values: &mut [f32], coefficients: usize) {
    if coefficients == 0 || coefficients > MAX_MEL_BINS {
        return;
    }
    let frames = values.len() / coefficients;
    if frames == 0 {
        return;
    }
    let mut mean = [0f32; MAX_MEL_BINS];
    for row in values.chunks_exact(coefficients) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    for m in &mut mean[..coefficients] {
        *m /= frames as f32;
    }
    for row in values.chunks_exact_mut(coefficients) {
        for (v, m) in row.iter_mut().zip(&mean) {
            *v -= m;
        }
    }
}

/// Standardises features in place: `(x − mean[c]) / std[c]` for each coefficient `c` of every
/// frame, with `stats(c)` giving `(mean[c], std[c])`. `values` is `frames × coefficients`; a
/// trailing partial frame is left as it is. Training on the laptop and the model's input on the
/// board both go through this.
pub fn standardize(values: &mut [f32], coefficients: usize, stats: impl Fn(usize) -> (f32, f32)) {
    if coefficients == 0 {
        return;
    }
    for row in values.chunks_exact_mut(coefficients) {
        for (c, v) in row.iter_mut().enumerate() {
            let (mean, std) = stats(c);
            *v = (*v - mean) / std;
        }
    }
}

/// Converts 16-bit PCM (as the board's microphone gives it) to samples in `[-1, 1)`:
/// `x / 32768`, as WAV readers and librosa do.
pub fn pcm16_to_f32(pcm: &[i16], out: &mut [f32]) {
    for (y, &x) in out.iter_mut().zip(pcm) {
        *y = pcm16_sample(x);
    }
}

fn pcm16_sample(x: i16) -> f32 {
    x as f32 / 32_768.0
}

/// The gain [`normalize_peak`] applies to `pcm16_to_f32(pcm)` (1 for silence), computed
/// without the conversion: pass it to [`Mfcc::process_pcm16`].
pub fn pcm16_gain(pcm: &[i16], peak: f32) -> f32 {
    gain_of(pcm.iter().copied(), peak)
}

/// [`pcm16_gain`] of 16-bit samples stored as little-endian byte pairs (as the keyword loop
/// keeps them in the arena): pass it to [`Mfcc::process_pcm16_le`].
pub fn pcm16_le_gain(bytes: &[i8], peak: f32) -> f32 {
    gain_of(bytes.chunks_exact(2).map(le_sample), peak)
}

fn gain_of(samples: impl Iterator<Item = i16>, peak: f32) -> f32 {
    let largest = samples.fold(0f32, |m, x| m.max(pcm16_sample(x).abs()));
    if largest > 0.0 {
        peak / largest
    } else {
        1.0
    }
}

fn le_sample(pair: &[i8]) -> i16 {
    i16::from_le_bytes([pair[0] as u8, pair[1] as u8])
}

/// Where [`Mfcc::process`] reads samples: a float signal, or scaled 16-bit PCM.
trait Signal: Copy {
    fn len(&self) -> usize;
    fn at(&self, i: usize) -> f32;
    /// Samples `begin .. begin + buf.len()`, borrowed or written into `buf`.
    fn frame<'s>(&'s self, begin: usize, buf: &'s mut [f32]) -> &'s [f32];
}

impl Signal for &[f32] {
    fn len(&self) -> usize {
        <[f32]>::len(self)
    }
    fn at(&self, i: usize) -> f32 {
        self[i]
    }
    fn frame<'s>(&'s self, begin: usize, buf: &'s mut [f32]) -> &'s [f32] {
        &self[begin..begin + buf.len()]
    }
}

#[derive(Clone, Copy)]
struct Pcm16<'a> {
    pcm: &'a [i16],
    gain: f32,
}

impl Signal for Pcm16<'_> {
    fn len(&self) -> usize {
        self.pcm.len()
    }
    fn at(&self, i: usize) -> f32 {
        pcm16_sample(self.pcm[i]) * self.gain
    }
    fn frame<'s>(&'s self, begin: usize, buf: &'s mut [f32]) -> &'s [f32] {
        for (y, &x) in buf.iter_mut().zip(&self.pcm[begin..]) {
            *y = pcm16_sample(x) * self.gain;
        }
        buf
    }
}

/// 16-bit samples as little-endian byte pairs, scaled by `gain`.
#[derive(Clone, Copy)]
struct Pcm16Le<'a> {
    bytes: &'a [i8],
    gain: f32,
}

impl Signal for Pcm16Le<'_> {
    fn len(&self) -> usize {
        self.bytes.len() / 2
    }
    fn at(&self, i: usize) -> f32 {
        pcm16_sample(le_sample(&self.bytes[2 * i..])) * self.gain
    }
    fn frame<'s>(&'s self, begin: usize, buf: &'s mut [f32]) -> &'s [f32] {
        let pairs = self.bytes[2 * begin..].chunks_exact(2);
        for (y, pair) in buf.iter_mut().zip(pairs) {
            *y = pcm16_sample(le_sample(pair)) * self.gain;
        }
        buf
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;

    #[test]
    fn pcm16_features_are_the_normalised_float_features_bit_for_bit() {
        let mut seed = 0x2545_f491u32;
        let mut pcm = vec![0i16; 16_000];
        for (t, x) in pcm.iter_mut().enumerate() {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let tone = libm::sinf(t as f32 * 0.07) * 9_000.0;
            *x = (tone + (seed % 2_001) as f32 - 1_000.0) as i16;
        }
        pcm[1234] = i16::MIN;
        for preemphasis in [0.0, 0.97] {
            let config = FeatureConfig {
                preemphasis,
                ..FeatureConfig::KEYWORDS
            };
            let mfcc = Mfcc::new(config).unwrap();
            let mut float = vec![0f32; pcm.len()];
            pcm16_to_f32(&pcm, &mut float);
            normalize_peak(&mut float, NORMALIZED_PEAK);
            let (mut a, mut b) = (vec![0f32; 49 * 13], vec![0f32; 49 * 13]);
            mfcc.process(&float, &mut a).unwrap();
            let gain = pcm16_gain(&pcm, NORMALIZED_PEAK);
            assert_eq!(gain, NORMALIZED_PEAK);
            mfcc.process_pcm16(&pcm, gain, &mut b).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<std::vec::Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "preemphasis {preemphasis}");
        }
        // Silence stays silent: gain 1.
        assert_eq!(pcm16_gain(&[0; 100], NORMALIZED_PEAK), 1.0);
        assert_eq!(pcm16_gain(&[16_384, -3], 0.5), 1.0);
    }

    #[test]
    fn keyword_config_gives_49_frames_of_13() {
        let config = FeatureConfig::KEYWORDS;
        assert_eq!(config.window_samples(), 480);
        assert_eq!(config.stride_samples(), 320);
        assert_eq!(config.fft_samples(), 512);
        assert_eq!(config.frames(16_000), 49);
        assert_eq!(config.frames(511), 0);
        let mfcc = Mfcc::new(config).unwrap();
        // The laptop's tables, or the board's (`small-tables`).
        let kib = if cfg!(feature = "small-tables") {
            11
        } else {
            30
        };
        assert_eq!(core::mem::size_of::<Mfcc>() / 1024, kib);
        let signal: std::vec::Vec<f32> = (0..16_000)
            .map(|t| libm::sinf(t as f32 * 0.2) * 0.5)
            .collect();
        let mut out = vec![0f32; 49 * 13];
        mfcc.process(&signal, &mut out).unwrap();
        assert!(out.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn mel_scales_round_trip() {
        for scale in [MelScale::Htk, MelScale::Slaney] {
            for hz in [0.0, 20.0, 440.0, 999.0, 1000.0, 1001.0, 4000.0, 8000.0] {
                let back = mel_to_hz(hz_to_mel(hz, scale), scale);
                assert!((back - hz).abs() < 1e-6, "{scale:?} {hz} -> {back}");
            }
        }
        assert!((hz_to_mel(1000.0, MelScale::Slaney) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(700.0, MelScale::Htk) - 2595.0 * libm::log10(2.0)).abs() < 1e-9);
    }

    /// On the laptop's tables (a 1,024-point FFT).
    #[cfg(not(feature = "small-tables"))]
    #[test]
    fn slaney_filters_have_unit_area_in_hertz() {
        // Slaney normalisation scales each triangle to height 2 / width_hz: area 1 in hertz.
        let config = FeatureConfig {
            fft_len: 1024,
            ..FeatureConfig::KEYWORDS
        };
        let mfcc = Mfcc::new(config).unwrap();
        let bin_hz = 16_000.0 / 1024.0;
        for m in 5..40 {
            let area: f32 = (0..513).map(|k| mfcc.filter_weight(m, k) * bin_hz).sum();
            assert!((area - 1.0).abs() < 0.1, "filter {m}: area {area}");
        }
    }

    #[test]
    fn a_tone_lights_the_filter_around_its_frequency() {
        let config = FeatureConfig {
            num_mfcc: 0,
            ..FeatureConfig::KEYWORDS
        };
        let mfcc = Mfcc::new(config).unwrap();
        let tone: std::vec::Vec<f32> = (0..1024)
            .map(|t| libm::sinf(2.0 * core::f32::consts::PI * 1000.0 * t as f32 / 16_000.0))
            .collect();
        let frames = mfcc.frames(tone.len());
        let mut out = vec![0f32; frames * 40];
        mfcc.process(&tone, &mut out).unwrap();
        let row = &out[..40];
        let loudest = (0..40).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        let centre = |m: usize| {
            let (lo, hi) = (
                hz_to_mel(20.0, MelScale::Slaney),
                hz_to_mel(4000.0, MelScale::Slaney),
            );
            mel_to_hz(lo + (hi - lo) * (m + 1) as f64 / 41.0, MelScale::Slaney)
        };
        assert!(
            (centre(loudest) - 1000.0).abs() < 120.0,
            "loudest filter {loudest} is centred at {} Hz",
            centre(loudest)
        );
    }

    #[test]
    fn silence_floors_at_minus_100_db() {
        let config = FeatureConfig {
            num_mfcc: 0,
            ..FeatureConfig::KEYWORDS
        };
        let mfcc = Mfcc::new(config).unwrap();
        let mut out = vec![0f32; 40];
        mfcc.process(&[0.0; 512], &mut out).unwrap();
        assert!(out.iter().all(|&x| x == -100.0));
    }

    #[test]
    fn every_build_gives_the_same_bits() {
        // `process` (AVX2 on a laptop that has it) and the board's portable build, on noisy
        // chirps, for MFCCs in registers (13), through memory (20), log-mel and pre-emphasis.
        let configs = [
            FeatureConfig::KEYWORDS,
            FeatureConfig {
                num_mfcc: 20,
                ..FeatureConfig::KEYWORDS
            },
            FeatureConfig {
                num_mfcc: 0,
                ..FeatureConfig::KEYWORDS
            },
            FeatureConfig {
                preemphasis: 0.97,
                ..FeatureConfig::KEYWORDS
            },
        ];
        let mut seed = 0x2545_f491u32;
        let signal: vec::Vec<f32> = (0..16_000)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let t = i as f32 / 16_000.0;
                0.5 * libm::sinf(core::f32::consts::TAU * (200.0 + 1500.0 * t) * t)
                    + (seed >> 8) as f32 * 1e-8
            })
            .collect();
        for config in configs {
            let mfcc = Mfcc::new(config).unwrap();
            let n = mfcc.frames(signal.len()) * mfcc.coefficients();
            let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
            mfcc.process(&signal, &mut a).unwrap();
            mfcc.process_portable(&signal, &mut b).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<vec::Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "{config:?}");
        }
    }

    /// On the laptop's tables (40 MFCCs).
    #[cfg(not(feature = "small-tables"))]
    #[test]
    fn dct_is_orthonormal() {
        let config = FeatureConfig {
            num_mfcc: 40,
            ..FeatureConfig::KEYWORDS
        };
        let mfcc = Mfcc::new(config).unwrap();
        for a in 0..40 {
            for b in 0..40 {
                let dot: f32 = (0..40)
                    .map(|m| mfcc.dct[m * 40 + a] * mfcc.dct[m * 40 + b])
                    .sum();
                let expected = if a == b { 1.0 } else { 0.0 };
                assert!((dot - expected).abs() < 1e-5, "({a},{b}): {dot}");
            }
        }
    }

    #[test]
    fn preemphasis_boosts_high_frequencies() {
        let plain = Mfcc::new(FeatureConfig {
            num_mfcc: 0,
            ..FeatureConfig::KEYWORDS
        })
        .unwrap();
        let emphasised = Mfcc::new(FeatureConfig {
            num_mfcc: 0,
            preemphasis: 0.97,
            ..FeatureConfig::KEYWORDS
        })
        .unwrap();
        let noise: std::vec::Vec<f32> = (0..512u32)
            .map(|t| ((t.wrapping_mul(2_654_435_761) >> 8) as f32 / 16_777_216.0) - 0.5)
            .collect();
        let (mut a, mut b) = (vec![0f32; 40], vec![0f32; 40]);
        plain.process(&noise, &mut a).unwrap();
        emphasised.process(&noise, &mut b).unwrap();
        assert!(b[0] < a[0] - 10.0, "low band: {} vs {}", b[0], a[0]);
        assert!(b[39] > a[39], "high band: {} vs {}", b[39], a[39]);
    }

    #[test]
    fn bad_configs_and_inputs_are_errors() {
        let base = FeatureConfig::KEYWORDS;
        let cases = [
            (
                FeatureConfig {
                    sample_rate_hz: 0,
                    ..base
                },
                MfccError::BadSampleRate,
            ),
            (
                FeatureConfig {
                    window_ms: 0,
                    ..base
                },
                MfccError::BadWindow,
            ),
            (
                FeatureConfig {
                    sample_rate_hz: 11_025,
                    window_ms: 30,
                    ..base
                },
                MfccError::BadWindow,
            ),
            (
                FeatureConfig {
                    stride_ms: 0,
                    ..base
                },
                MfccError::BadStride,
            ),
            (
                FeatureConfig {
                    fft_len: 256,
                    ..base
                },
                MfccError::BadFftLength,
            ),
            (
                FeatureConfig {
                    fft_len: 600,
                    ..base
                },
                MfccError::BadFftLength,
            ),
            (
                FeatureConfig {
                    window_ms: 100,
                    ..base
                },
                MfccError::BadFftLength,
            ),
            (
                FeatureConfig {
                    num_mel_bins: 1,
                    ..base
                },
                MfccError::BadMelBins,
            ),
            (
                FeatureConfig {
                    num_mel_bins: 81,
                    ..base
                },
                MfccError::BadMelBins,
            ),
            (
                FeatureConfig {
                    num_mfcc: 41,
                    ..base
                },
                MfccError::BadMfccCount,
            ),
            (
                FeatureConfig {
                    fmax_hz: 9_000.0,
                    ..base
                },
                MfccError::BadFrequencyRange,
            ),
            (
                FeatureConfig {
                    fmin_hz: f32::NAN,
                    ..base
                },
                MfccError::BadFrequencyRange,
            ),
            (
                FeatureConfig {
                    preemphasis: 1.0,
                    ..base
                },
                MfccError::BadPreemphasis,
            ),
            (
                FeatureConfig {
                    num_mel_bins: 40,
                    fmin_hz: 0.0,
                    fmax_hz: 200.0,
                    ..base
                },
                MfccError::EmptyMelFilter,
            ),
            (
                FeatureConfig {
                    clip_ms: 999,
                    ..base
                },
                MfccError::BadClipLength,
            ),
            (
                FeatureConfig {
                    clip_ms: 1_501,
                    ..base
                },
                MfccError::BadClipLength,
            ),
        ];
        for (config, error) in cases {
            assert_eq!(config.validate(), Err(error), "{config:?}");
            assert_eq!(Mfcc::new(config).err(), Some(error), "{config:?}");
        }
        let mfcc = Mfcc::new(base).unwrap();
        let mut out = vec![0f32; 13];
        assert_eq!(
            mfcc.process(&[0.0; 100], &mut out),
            Err(MfccError::SignalTooShort)
        );
        assert_eq!(
            mfcc.process(&[0.0; 512], &mut out[..12]),
            Err(MfccError::OutputSizeMismatch)
        );
        let mut bad = [0f32; 512];
        bad[100] = f32::NAN;
        assert_eq!(
            mfcc.process(&bad, &mut out),
            Err(MfccError::NonFiniteSample)
        );
    }

    #[test]
    fn decibels_are_within_1e_5_db() {
        let mut worst = 0f64;
        let mut x = POWER_FLOOR as f64;
        while x < 1e12 {
            let exact = 10.0 * (x as f32 as f64).log10();
            let error = (decibels(x as f32) as f64 - exact).abs();
            worst = worst.max(error);
            x *= 1.000_37;
        }
        assert!(worst < 1e-5, "worst error {worst} dB");
        assert_eq!(decibels(1.0), 0.0);
        assert_eq!(decibels(POWER_FLOOR).round(), -100.0);
    }

    #[test]
    fn clip_mean_is_removed_per_coefficient() {
        let mut v = [1.0, 10.0, 3.0, 20.0, 5.0, 30.0, 99.0];
        subtract_clip_mean(&mut v, 2);
        assert_eq!(v, [-2.0, -10.0, 0.0, 0.0, 2.0, 10.0, 99.0]);
        let mut empty: [f32; 1] = [4.0];
        subtract_clip_mean(&mut empty, 2);
        assert_eq!(empty, [4.0]);
    }

    #[test]
    fn normalize_peak_scales_and_leaves_silence() {
        let mut x = [0.1, -0.5, 0.25];
        normalize_peak(&mut x, 1.0);
        assert_eq!(x, [0.2, -1.0, 0.5]);
        let mut silent = [0.0; 4];
        normalize_peak(&mut silent, 1.0);
        assert_eq!(silent, [0.0; 4]);
        let mut out = [0f32; 3];
        pcm16_to_f32(&[-32768, 0, 16384], &mut out);
        assert_eq!(out, [-1.0, 0.0, 0.5]);
    }
}
