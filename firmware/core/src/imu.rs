//! Features of one accelerometer window, for activity detection.
//!
//! One window is `n` samples of the three axes in g (standard gravity), taken at
//! `sample_rate_hz`. The features describe posture (mean of each axis: where gravity points),
//! how much the board moves (spread, energy), and the rhythm of the movement (dominant
//! frequency, crossings and peaks per second: a step, a pedal stroke or a swing).
//!
//! The laptop computes these features to train a model; the board computes them on its own IMU
//! with this same function, so both see the same numbers bit for bit.

use crate::spectrum::{power_spectrum, MAX_DFT_LEN};

/// How many features [`window_features`] writes.
pub const FEATURE_COUNT: usize = 12;

/// The longest window accepted, in samples (10 s at 50 Hz fits).
pub const MAX_WINDOW_LEN: usize = MAX_DFT_LEN;

/// The shortest window accepted, in samples.
pub const MIN_WINDOW_LEN: usize = 8;

/// Names of the features, in the order [`window_features`] writes them, with their units.
pub const FEATURE_NAMES: [&str; FEATURE_COUNT] = [
    "mean_x_g",
    "mean_y_g",
    "mean_z_g",
    "std_x_g",
    "std_y_g",
    "std_z_g",
    "magnitude_std_g",
    "magnitude_range_g",
    "energy_g2",
    "dominant_hz",
    "crossings_per_s",
    "peaks_per_s",
];

/// An accelerometer value in g from the milligravities (`mg`) the board's IMU gives and the
/// serial protocol carries. The laptop's recordings and the board's activity loop both convert
/// with this, so they hand [`window_features`] the same numbers.
pub fn mg_to_g(mg: i16) -> f32 {
    mg as f32 / 1000.0
}

/// Why features could not be computed. Codes are stable: they travel over the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FeatureError {
    /// Fewer than [`MIN_WINDOW_LEN`] samples.
    TooShort = 1,
    /// More than [`MAX_WINDOW_LEN`] samples.
    TooLong = 2,
    /// The three axes have different lengths.
    AxisLengthMismatch = 3,
    /// The sample rate is not a positive, finite number of hertz.
    BadSampleRate = 4,
    /// A sample is NaN or infinite.
    NonFiniteSample = 5,
}

impl FeatureError {
    /// The stable wire code of this error.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// Computes the [`FEATURE_COUNT`] features of one window (see [`FEATURE_NAMES`]).
///
/// `ax`, `ay`, `az` are the three axes in g, all of the same length, sampled at
/// `sample_rate_hz`. Nothing is allocated; about 6 KiB of stack is used for the spectrum.
pub fn window_features(
    ax: &[f32],
    ay: &[f32],
    az: &[f32],
    sample_rate_hz: f32,
) -> Result<[f32; FEATURE_COUNT], FeatureError> {
    let n = ax.len();
    if ay.len() != n || az.len() != n {
        return Err(FeatureError::AxisLengthMismatch);
    }
    if n < MIN_WINDOW_LEN {
        return Err(FeatureError::TooShort);
    }
    if n > MAX_WINDOW_LEN {
        return Err(FeatureError::TooLong);
    }
    if !(sample_rate_hz.is_finite() && sample_rate_hz > 0.0) {
        return Err(FeatureError::BadSampleRate);
    }
    let finite = |s: &[f32]| s.iter().all(|v| v.is_finite());
    if !(finite(ax) && finite(ay) && finite(az)) {
        return Err(FeatureError::NonFiniteSample);
    }

    let (mean_x, std_x) = mean_std(ax);
    let (mean_y, std_y) = mean_std(ay);
    let (mean_z, std_z) = mean_std(az);

    // The magnitude |a| does not depend on how the board is worn.
    let mut magnitude = [0f32; MAX_WINDOW_LEN];
    for i in 0..n {
        magnitude[i] = libm::sqrtf(ax[i] * ax[i] + ay[i] * ay[i] + az[i] * az[i]);
    }
    let magnitude = &mut magnitude[..n];
    let (mag_mean, mag_std) = mean_std(magnitude);
    let (mut mag_min, mut mag_max) = (magnitude[0], magnitude[0]);
    for &m in magnitude.iter() {
        mag_min = mag_min.min(m);
        mag_max = mag_max.max(m);
    }

    let seconds = n as f32 / sample_rate_hz;
    let mut crossings = 0u32;
    let mut peaks = 0u32;
    let peak_floor = mag_mean + 0.5 * mag_std;
    for i in 1..n {
        if (magnitude[i - 1] < mag_mean) != (magnitude[i] < mag_mean) {
            crossings += 1;
        }
        if i + 1 < n
            && magnitude[i] > peak_floor
            && magnitude[i] > magnitude[i - 1]
            && magnitude[i] >= magnitude[i + 1]
        {
            peaks += 1;
        }
    }

    // Dominant frequency of the movement: the strongest bin of the magnitude's spectrum, after
    // removing its mean (bin 0 would otherwise always win: gravity).
    for m in magnitude.iter_mut() {
        *m -= mag_mean;
    }
    let mut power = [0f32; MAX_WINDOW_LEN / 2 + 1];
    let bins = match power_spectrum(magnitude, &mut power) {
        Ok(bins) => bins,
        // Unreachable: the length was checked above, and `power` holds n/2+1 bins.
        Err(_) => return Err(FeatureError::TooLong),
    };
    let mut best = 1;
    for k in 2..bins {
        if power[k] > power[best] {
            best = k;
        }
    }
    let dominant_hz = best as f32 * sample_rate_hz / n as f32;

    Ok([
        mean_x,
        mean_y,
        mean_z,
        std_x,
        std_y,
        std_z,
        mag_std,
        mag_max - mag_min,
        std_x * std_x + std_y * std_y + std_z * std_z,
        dominant_hz,
        crossings as f32 / seconds,
        peaks as f32 / seconds,
    ])
}

/// Mean and population standard deviation, summed in order (the same bits everywhere).
fn mean_std(values: &[f32]) -> (f32, f32) {
    let n = values.len() as f32;
    let mean = values.iter().sum::<f32>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, libm::sqrtf(var))
}
