//! The core's kernels against plain references: rustfft for the spectrum, f64 loops for the
//! window statistics.

use rustfft::{num_complex::Complex, FftPlanner};
use tinyml_core::imu::{window_features, FeatureError, FEATURE_NAMES};
use tinyml_core::spectrum::{power_spectrum, SpectrumError, MAX_DFT_LEN};

/// A fixed-seed generator so the random cases are the same on every run.
struct Lcg(u64);
impl Lcg {
    fn next_f32(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn rustfft_power(signal: &[f32]) -> Vec<f32> {
    let mut buf: Vec<Complex<f32>> = signal.iter().map(|&x| Complex::new(x, 0.0)).collect();
    FftPlanner::new()
        .plan_fft_forward(buf.len())
        .process(&mut buf);
    buf[..signal.len() / 2 + 1]
        .iter()
        .map(|c| c.norm_sqr())
        .collect()
}

#[test]
fn power_spectrum_matches_rustfft_on_random_lengths() {
    let mut rng = Lcg(7);
    for n in [2, 3, 8, 31, 64, 100, 101, 250, MAX_DFT_LEN] {
        let signal: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
        let mut ours = vec![0f32; n / 2 + 1];
        assert_eq!(power_spectrum(&signal, &mut ours), Ok(n / 2 + 1));
        let reference = rustfft_power(&signal);
        let scale = reference.iter().cloned().fold(1.0f32, f32::max);
        for (k, (a, b)) in ours.iter().zip(&reference).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * scale,
                "n={n} bin {k}: {a} vs rustfft {b}"
            );
        }
    }
}

#[test]
fn power_spectrum_rejects_bad_sizes() {
    let mut out = [0f32; 4];
    assert_eq!(
        power_spectrum(&[1.0], &mut out),
        Err(SpectrumError::TooShort)
    );
    assert_eq!(
        power_spectrum(&[0.0; 10], &mut out),
        Err(SpectrumError::OutputTooSmall)
    );
    let long = vec![0f32; MAX_DFT_LEN + 1];
    let mut big = vec![0f32; MAX_DFT_LEN];
    assert_eq!(power_spectrum(&long, &mut big), Err(SpectrumError::TooLong));
}

#[test]
fn features_match_f64_reference() {
    let mut rng = Lcg(11);
    let n = 100;
    let rate = 50.0;
    // A 2 Hz bounce on z over gravity, with noise.
    let ax: Vec<f32> = (0..n).map(|_| 0.05 * rng.next_f32()).collect();
    let ay: Vec<f32> = (0..n).map(|_| 0.05 * rng.next_f32()).collect();
    let az: Vec<f32> = (0..n)
        .map(|i| 1.0 + 0.4 * (2.0 * std::f32::consts::PI * 2.0 * i as f32 / rate).sin())
        .collect();
    let f = window_features(&ax, &ay, &az, rate).unwrap();
    let get = |name: &str| f[FEATURE_NAMES.iter().position(|n| *n == name).unwrap()];

    let mean64 = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    let std64 = |v: &[f32]| {
        let m = mean64(v);
        (v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    assert!((get("mean_z_g") as f64 - mean64(&az)).abs() < 1e-5);
    assert!((get("std_x_g") as f64 - std64(&ax)).abs() < 1e-5);
    assert!((get("std_z_g") as f64 - std64(&az)).abs() < 1e-5);
    let energy = std64(&ax).powi(2) + std64(&ay).powi(2) + std64(&az).powi(2);
    assert!((get("energy_g2") as f64 - energy).abs() < 1e-4);
    assert_eq!(get("dominant_hz"), 2.0, "a 2 Hz bounce");
    // Two crossings and one peak per cycle.
    assert!(
        (get("crossings_per_s") - 4.0).abs() <= 0.5,
        "{}",
        get("crossings_per_s")
    );
    assert!(
        (get("peaks_per_s") - 2.0).abs() <= 0.5,
        "{}",
        get("peaks_per_s")
    );
}

#[test]
fn features_reject_bad_windows() {
    let ok = [0f32; 16];
    assert_eq!(
        window_features(&ok, &ok[..15], &ok, 50.0),
        Err(FeatureError::AxisLengthMismatch)
    );
    assert_eq!(
        window_features(&ok[..4], &ok[..4], &ok[..4], 50.0),
        Err(FeatureError::TooShort)
    );
    assert_eq!(
        window_features(&ok, &ok, &ok, 0.0),
        Err(FeatureError::BadSampleRate)
    );
    assert_eq!(
        window_features(&ok, &ok, &ok, f32::NAN),
        Err(FeatureError::BadSampleRate)
    );
    let mut bad = ok;
    bad[3] = f32::INFINITY;
    assert_eq!(
        window_features(&ok, &bad, &ok, 50.0),
        Err(FeatureError::NonFiniteSample)
    );
    let long = vec![0f32; 600];
    assert_eq!(
        window_features(&long, &long, &long, 50.0),
        Err(FeatureError::TooLong)
    );
    // A still board: no movement, no rhythm, and no NaN.
    let still = window_features(&ok, &ok, &[1.0; 16], 50.0).unwrap();
    assert!(still.iter().all(|v| v.is_finite()));
}
