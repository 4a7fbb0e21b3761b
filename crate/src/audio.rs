//! Sound: WAV files in and out, resampling, 1-second clips, waveforms, spectrograms and the
//! MFCC features of the keyword spotter.
//!
//! The features themselves come from [`tinyml_core::mfcc`], the code the board runs, so what a
//! model learns from here is exactly what the board will compute from its microphone.
//!
//! Resampling is a band-limited (windowed-sinc) interpolator: a sinc low-pass at 94% of the lower
//! of the two Nyquist frequencies, Kaiser window (β = 9) over 24 zero crossings each side, read
//! from a table with 512 entries per zero crossing and linear interpolation between them. The
//! tests measure it (and fail below 100 dB): a 1 kHz tone from 44.1 kHz to 16 kHz matches the
//! exact tone to 106 dB below the signal (124 dB from 8 kHz to 16 kHz), and a 10 kHz tone,
//! above the 8 kHz Nyquist frequency of 16 kHz audio, is attenuated by 104 dB instead of folding
//! back as a false 6 kHz tone.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustfft::{num_complex::Complex, FftPlanner};
use tinyml_core::mfcc::{normalize_peak, FeatureConfig, Mfcc, MfccError, MAX_CLIP_MS, MIN_CLIP_MS};

use crate::error::{Error, Result};
use crate::plot::{ColorGrid, Figure};

/// Longest audio file the kit reads, in seconds: split longer recordings into clips.
pub const MAX_FILE_SECONDS: f64 = 3600.0;

/// The file names [`Audio::load`] reads besides WAV (lower case, without the dot).
pub const AUDIO_EXTENSIONS: [&str; 10] = [
    "wav", "wave", "m4a", "mp4", "aac", "mp3", "ogg", "oga", "flac", "opus",
];

/// True when `path`'s extension is one of `extensions` (any case).
pub(crate) fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Peak level of a clip after [`Audio::normalized`] (headroom below full scale); the board
/// normalises each clip of its microphone to the same peak.
pub use tinyml_core::mfcc::NORMALIZED_PEAK;

/// Mono audio: samples in `[-1, 1]` at `sample_rate_hz`. The samples are shared, never
/// changed: a copy of a clip (as every dataset's split, subset and merge makes) costs no memory
/// of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    samples: Arc<[f32]>,
    sample_rate_hz: u32,
}

impl Audio {
    /// Audio from samples in `[-1, 1]` at `sample_rate_hz` (1 Hz to 384 kHz).
    pub fn new(samples: Vec<f32>, sample_rate_hz: u32) -> Result<Audio> {
        if !(1..=384_000).contains(&sample_rate_hz) {
            return Err(Error::param(
                "sample_rate_hz",
                format!("{sample_rate_hz} Hz (use 1 Hz to 384 kHz)"),
            ));
        }
        if let Some(i) = samples.iter().position(|x| !x.is_finite()) {
            return Err(Error::param(
                "samples",
                format!(
                    "sample {i} is {} (audio must be finite numbers)",
                    samples[i]
                ),
            ));
        }
        Ok(Audio {
            samples: samples.into(),
            sample_rate_hz,
        })
    }

    /// One of the kit's spoken digits (Free Spoken Digit Dataset, in [`crate::kws::default_dir`]):
    /// `speaker` saying `digit`, take `take` (0–49). `Audio::spoken_digit("jackson", 7, 0)` reads
    /// `fsdd/7/jackson_0.wav`, wherever the kit is installed.
    pub fn spoken_digit(speaker: &str, digit: u8, take: u32) -> Result<Audio> {
        Audio::load(crate::kws::default_dir().join(format!("{digit}/{speaker}_{take}.wav")))
    }

    /// Reads an audio file, any sample rate, any number of channels (averaged to mono): WAV (8,
    /// 16, 24 or 32-bit integer PCM or 32-bit float), or what phones and other apps save
    /// ([`AUDIO_EXTENSIONS`]: m4a/AAC, mp3, Ogg Vorbis, FLAC). The file's first bytes decide, not
    /// its name.
    pub fn load(path: impl AsRef<Path>) -> Result<Audio> {
        let path = path.as_ref();
        let mut head = [0u8; 4];
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let n = std::io::Read::read(&mut (&file), &mut head).map_err(|e| Error::io(path, e))?;
        let is_wav = n == 4 && matches!(&head, b"RIFF" | b"RIFX" | b"RF64");
        let named_wav = has_extension(path, &["wav", "wave"]);
        if is_wav || (named_wav && n < 4) {
            Audio::load_wav(path)
        } else if named_wav {
            Err(Error::Audio {
                path: path.to_path_buf(),
                message: "not a WAV file (it does not start with RIFF): export it again as WAV, \
                          or give it the name of its real format"
                    .into(),
            })
        } else {
            crate::decode::decode_file(path)
        }
    }

    /// Reads a WAV file with hound (its header checked field by field for clear errors).
    fn load_wav(path: &Path) -> Result<Audio> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        Audio::read_wav(std::io::BufReader::new(file), path)
    }

    /// Reads WAV bytes (for example a take sent by the browser recorder); `name` names them in
    /// errors.
    pub fn from_wav_bytes(bytes: &[u8], name: &str) -> Result<Audio> {
        Audio::read_wav(std::io::Cursor::new(bytes), Path::new(name))
    }

    fn read_wav(input: impl std::io::Read, path: &Path) -> Result<Audio> {
        let bad = |message: String| Error::Audio {
            path: path.to_path_buf(),
            message,
        };
        let reader = hound::WavReader::new(input).map_err(|e| {
            bad(format!(
                "not a readable WAV file ({}): export it as WAV (PCM or float), for example \
                 with Audacity's File > Export > Export as WAV",
                wav_error(&e)
            ))
        })?;
        let spec = reader.spec();
        if spec.sample_rate == 0 {
            return Err(bad(
                "the header says 0 samples per second: the file is damaged; export it again".into(),
            ));
        }
        if spec.sample_rate > 384_000 {
            return Err(bad(format!(
                "the header says {} samples per second; the kit reads up to 384 kHz: the file is \
                 damaged, or resample it first",
                spec.sample_rate
            )));
        }
        if spec.channels == 0 {
            return Err(bad("the header says 0 channels: the file is damaged".into()));
        }
        let frames = reader.duration() as usize;
        let seconds = frames as f64 / spec.sample_rate as f64;
        if seconds > MAX_FILE_SECONDS {
            return Err(bad(format!(
                "{seconds:.0} s long; the kit reads files up to {MAX_FILE_SECONDS:.0} s: split the \
                 recording into shorter clips"
            )));
        }
        let channels = spec.channels as usize;
        let expected = frames * channels;
        let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Float, 32) => collect(reader.into_samples::<f32>(), |x| x),
            (hound::SampleFormat::Int, bits @ 1..=32) => {
                let scale = 1.0 / (1u64 << (bits - 1)) as f64;
                collect(reader.into_samples::<i32>(), |x| (x as f64 * scale) as f32)
            }
            (format, bits) => {
                return Err(bad(format!(
                    "{bits}-bit {format:?} samples are not supported: export as 16-bit PCM"
                )))
            }
        }
        .map_err(|(read, e)| {
            bad(format!(
                "the file ends after {} of {} frames ({}): it was probably cut off while \
                 saving; record or export it again",
                read / channels,
                frames,
                wav_error(&e)
            ))
        })?;
        debug_assert_eq!(interleaved.len(), expected);
        let samples = interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() / channels as f32)
            .collect();
        Audio::new(samples, spec.sample_rate).map_err(|e| bad(e.to_string()))
    }

    /// Writes 16-bit mono PCM (samples clipped to `[-1, 1]`).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.write(path.as_ref(), false)
    }

    /// Writes 32-bit float mono: every sample exactly as it is (for handing a clip to librosa).
    pub fn save_f32(&self, path: impl AsRef<Path>) -> Result<()> {
        self.write(path.as_ref(), true)
    }

    fn write(&self, path: &Path, float: bool) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: self.sample_rate_hz,
            bits_per_sample: if float { 32 } else { 16 },
            sample_format: if float {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        };
        let to_io = |e: hound::Error| match e {
            hound::Error::IoError(e) => Error::io(path, e),
            other => Error::Audio {
                path: path.to_path_buf(),
                message: other.to_string(),
            },
        };
        let mut writer = hound::WavWriter::create(path, spec).map_err(to_io)?;
        if float {
            for &x in self.samples.iter() {
                writer.write_sample(x).map_err(to_io)?;
            }
        } else {
            for v in self.to_pcm16() {
                writer.write_sample(v).map_err(to_io)?;
            }
        }
        writer.finalize().map_err(to_io)
    }

    /// The samples as 16-bit PCM: `round(x · 32768)`, saturated. The inverse of reading a 16-bit
    /// file (`v / 32768`), so 16-bit samples survive a save and a load unchanged.
    pub fn to_pcm16(&self) -> Vec<i16> {
        self.samples
            .iter()
            .map(|&x| (x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16)
            .collect()
    }

    /// The samples.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// Samples per second.
    pub fn sample_rate_hz(&self) -> u32 {
        self.sample_rate_hz
    }

    /// Length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate_hz as f64
    }

    /// The audio at `rate_hz` (band-limited; see the module documentation for its quality).
    pub fn resample(&self, rate_hz: u32) -> Result<Audio> {
        if !(1_000..=384_000).contains(&rate_hz) {
            return Err(Error::param(
                "sample_rate_hz",
                format!("{rate_hz} Hz (use 1 kHz to 384 kHz)"),
            ));
        }
        if rate_hz == self.sample_rate_hz {
            return Ok(self.clone());
        }
        let samples = resample(&self.samples, self.sample_rate_hz, rate_hz);
        Ok(Audio {
            samples: samples.into(),
            sample_rate_hz: rate_hz,
        })
    }

    /// Exactly `seconds` of audio: the loudest `seconds` of a longer recording (most energy), or
    /// a shorter one centred with silence on both sides.
    pub fn clip(&self, seconds: f64) -> Result<Audio> {
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_FILE_SECONDS) {
            return Err(Error::param(
                "seconds",
                format!("{seconds} (use a positive length up to {MAX_FILE_SECONDS} s)"),
            ));
        }
        let want = (seconds * self.sample_rate_hz as f64).round().max(1.0) as usize;
        let n = self.samples.len();
        let samples = if n <= want {
            let left = (want - n) / 2;
            let mut out = vec![0.0; want];
            out[left..left + n].copy_from_slice(&self.samples);
            out
        } else {
            let energy: Vec<f64> = std::iter::once(0.0)
                .chain(self.samples.iter().scan(0.0f64, |sum, &x| {
                    *sum += x as f64 * x as f64;
                    Some(*sum)
                }))
                .collect();
            let start = (0..=n - want)
                .max_by(|&a, &b| {
                    let ea = energy[a + want] - energy[a];
                    let eb = energy[b + want] - energy[b];
                    // Ties go to the earliest start.
                    ea.total_cmp(&eb).then(b.cmp(&a))
                })
                .unwrap_or(0);
            self.samples[start..start + want].to_vec()
        };
        Ok(Audio {
            samples: samples.into(),
            sample_rate_hz: self.sample_rate_hz,
        })
    }

    /// The audio scaled so its loudest sample is [`NORMALIZED_PEAK`] (silence stays silent).
    /// Uses the same function as the board.
    pub fn normalized(&self) -> Audio {
        let mut samples = self.samples.to_vec();
        normalize_peak(&mut samples, NORMALIZED_PEAK);
        Audio {
            samples: samples.into(),
            sample_rate_hz: self.sample_rate_hz,
        }
    }

    /// What the keyword spotter hears: resampled to the features' rate, the loudest clip
    /// (`config.clip_ms`, a second by default), normalised. The board does the same to each
    /// clip of its microphone.
    pub fn keyword_clip(&self, config: &FeatureConfig) -> Result<Audio> {
        let clip = self
            .resample(config.sample_rate_hz)?
            .clip(config.clip_ms as f64 / 1000.0)?;
        Ok(clip.normalized())
    }

    /// AudioFeatures of the audio (MFCC or log-mel) computed by the board's code. The audio must
    /// already be at `config.sample_rate_hz` (see [`Audio::resample`]).
    pub fn features(&self, config: &FeatureConfig) -> Result<AudioFeatures> {
        let mfcc = plan(config)?;
        AudioFeatures::compute(&mfcc, self)
    }

    /// A chart of the waveform (at most 4,000 points, each the extreme of its stretch).
    pub fn waveform_figure(&self, title: &str) -> Figure {
        let n = self.samples.len();
        let step = n.div_ceil(2_000).max(1);
        let rate = self.sample_rate_hz as f64;
        let mut points = Vec::with_capacity(2 * n / step + 2);
        for (i, chunk) in self.samples.chunks(step).enumerate() {
            let t = (i * step) as f64 / rate;
            let lo = chunk.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = chunk.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            points.push((t, lo as f64));
            if step > 1 {
                points.push((t + step as f64 / rate / 2.0, hi as f64));
            }
        }
        Figure::lines(title, "time (s)", "amplitude").line("waveform", points)
    }

    /// Power spectrogram in decibels (Hann window, `window_ms` frames every `stride_ms`), with
    /// rustfft: the lesson's picture of sound, not the board's features.
    pub fn spectrogram(&self, window_ms: u32, stride_ms: u32) -> Result<Spectrogram> {
        let rate = self.sample_rate_hz as usize;
        let window = rate * window_ms as usize / 1000;
        let stride = rate * stride_ms as usize / 1000;
        if window < 4 || stride == 0 {
            return Err(Error::param(
                "window_ms",
                format!("{window_ms} ms window every {stride_ms} ms is too short at {rate} Hz"),
            ));
        }
        if self.samples.len() < window {
            return Err(Error::param(
                "audio",
                format!(
                    "{:.3} s is shorter than one {window_ms} ms window",
                    self.duration_s()
                ),
            ));
        }
        let fft = FftPlanner::<f32>::new().plan_fft_forward(window);
        let hann: Vec<f32> = (0..window)
            .map(|t| {
                let phase = 2.0 * std::f64::consts::PI * t as f64 / window as f64;
                (0.5 - 0.5 * phase.cos()) as f32
            })
            .collect();
        let frames = 1 + (self.samples.len() - window) / stride;
        let mut buffer = vec![Complex::new(0.0f32, 0.0); window];
        let db = (0..frames)
            .map(|f| {
                let frame = &self.samples[f * stride..f * stride + window];
                for ((b, &x), &w) in buffer.iter_mut().zip(frame).zip(&hann) {
                    *b = Complex::new(x * w, 0.0);
                }
                fft.process(&mut buffer);
                buffer[..window / 2 + 1]
                    .iter()
                    .map(|c| 10.0 * c.norm_sqr().max(1e-10).log10())
                    .collect()
            })
            .collect();
        Ok(Spectrogram {
            db,
            sample_rate_hz: self.sample_rate_hz,
            window,
            stride,
        })
    }

    /// A WAV file of the audio (16-bit mono), in memory.
    pub fn wav_bytes(&self) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: self.sample_rate_hz,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        if let Ok(mut writer) = hound::WavWriter::new(&mut out, spec) {
            for v in self.to_pcm16() {
                let _ = writer.write_sample(v);
            }
            let _ = writer.finalize();
        }
        out.into_inner()
    }

    /// Shows the waveform and a player in Jupyter.
    pub fn evcxr_display(&self) {
        let wav = crate::plot::base64(&self.wav_bytes());
        let figure = self.waveform_figure(&format!(
            "{:.2} s at {} Hz",
            self.duration_s(),
            self.sample_rate_hz
        ));
        let png = figure
            .png()
            .map(|p| crate::plot::base64(&p))
            .unwrap_or_default();
        let html = format!(
            "<div><img src=\"data:image/png;base64,{png}\"/><br/>\
             <audio controls src=\"data:audio/wav;base64,{wav}\"></audio></div>"
        );
        println!("EVCXR_BEGIN_CONTENT text/html\n{html}\nEVCXR_END_CONTENT");
    }
}

/// Collects samples, or returns how many were read before the first error.
fn collect<S, E>(
    samples: impl Iterator<Item = std::result::Result<S, E>>,
    convert: impl Fn(S) -> f32,
) -> std::result::Result<Vec<f32>, (usize, E)> {
    // The header's count is only a hint (a damaged header may claim gigabytes): reserve at most
    // 16 M samples up front and let the vector grow with what is really there.
    let mut out = Vec::with_capacity(samples.size_hint().0.min(1 << 24));
    for sample in samples {
        match sample {
            Ok(s) => out.push(convert(s)),
            Err(e) => return Err((out.len(), e)),
        }
    }
    Ok(out)
}

fn wav_error(e: &hound::Error) -> String {
    match e {
        hound::Error::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "it ends too early".to_string()
        }
        other => other.to_string(),
    }
}

/// The librosa expression over `y` (the samples, float32) and `sr` that computes the features
/// of `config` (librosa 0.10 or 0.11; `tools/golden/mfcc_librosa.py` writes the same
/// expression, and the tests compare against its output).
pub fn librosa_expression(config: &FeatureConfig) -> String {
    let window = config.window_samples();
    let py_float = |v: f32| {
        let s = format!("{v}");
        if s.contains('.') || s.contains('e') {
            s
        } else {
            format!("{s}.0")
        }
    };
    let pre = if config.preemphasis > 0.0 {
        format!(
            "y = np.append(y[0], y[1:] - {} * y[:-1]); ",
            py_float(config.preemphasis)
        )
    } else {
        String::new()
    };
    let mel =
        format!(
        "librosa.feature.melspectrogram(y=y, sr=sr, n_fft={}, hop_length={}, win_length={window}, \
         window='hann', center=False, power=2.0, n_mels={}, fmin={}, fmax={}, htk={}, norm={})",
        config.fft_samples(),
        config.stride_samples(),
        config.num_mel_bins,
        py_float(config.fmin_hz),
        py_float(config.fmax_hz),
        if config.mel_scale == tinyml_core::mfcc::MelScale::Htk {
            "True"
        } else {
            "False"
        },
        if config.slaney_norm { "'slaney'" } else { "None" },
    );
    let db = format!("librosa.power_to_db({mel}, ref=1.0, amin=1e-10, top_db=None)");
    if config.num_mfcc == 0 {
        pre + &db
    } else {
        format!(
            "{pre}librosa.feature.mfcc(S={db}, n_mfcc={}, dct_type=2, norm='ortho')",
            config.num_mfcc
        )
    }
}

/// The mel filterbank of `config`: one triangle per filter over frequency.
pub fn mel_filter_figure(config: &FeatureConfig) -> Result<Figure> {
    let mfcc = plan(config)?;
    let bins = config.fft_samples() / 2 + 1;
    let bin_hz = config.sample_rate_hz as f64 / config.fft_samples() as f64;
    let top = ((config.fmax_hz as f64 / bin_hz).ceil() as usize + 1).min(bins);
    let mut figure = Figure::lines(
        &format!(
            "{} mel filters, {}-{} Hz: narrow at low pitch, wide at high",
            config.num_mel_bins, config.fmin_hz, config.fmax_hz
        ),
        "frequency (Hz)",
        "weight",
    );
    for m in 0..config.num_mel_bins as usize {
        let points = (0..top)
            .map(|k| (k as f64 * bin_hz, mfcc.filter_weight(m, k) as f64))
            .collect();
        // Unnamed lines: 40 legend entries would hide the picture.
        figure = figure.line("", points);
    }
    Ok(figure)
}

/// Plans the board's feature extractor, with the kit's error messages.
pub(crate) fn plan(config: &FeatureConfig) -> Result<Mfcc> {
    Mfcc::new(*config).map_err(|e| Error::param("features", mfcc_message(e)))
}

/// What a feature error means and what to change.
pub(crate) fn mfcc_message(e: MfccError) -> String {
    match e {
        MfccError::BadSampleRate => "the sample rate must be 1 kHz to 192 kHz".into(),
        MfccError::BadWindow => "the window must be at least 4 samples and a whole number of samples".into(),
        MfccError::BadStride => "the stride must be a whole, non-zero number of samples".into(),
        MfccError::BadFftLength => "the FFT length must be a power of two, at least the window and at most 1024".into(),
        MfccError::BadMelBins => "use 2 to 80 mel filters".into(),
        MfccError::BadMfccCount => "use at most 40 MFCCs, and no more than mel filters".into(),
        MfccError::BadFrequencyRange => "fmin and fmax must satisfy 0 <= fmin < fmax <= sample rate / 2".into(),
        MfccError::BadPreemphasis => "pre-emphasis must be in [0, 1)".into(),
        MfccError::EmptyMelFilter => "a mel filter covers no FFT bin: use fewer filters, a longer FFT or a wider frequency range".into(),
        MfccError::BadClipLength => format!("a keyword clip is {MIN_CLIP_MS} to {MAX_CLIP_MS} ms (a whole number of samples)"),
        MfccError::SignalTooShort => "the audio is shorter than one FFT frame".into(),
        MfccError::OutputSizeMismatch => "internal: wrong output size".into(),
        MfccError::NonFiniteSample => "the audio has NaN or infinite samples, or samples so large that the energy overflows (audio should be within [-1, 1])".into(),
    }
}

/// AudioFeatures of one clip: `frames × coefficients` numbers (MFCCs or log-mel energies in dB).
#[derive(Debug, Clone, PartialEq)]
pub struct AudioFeatures {
    /// The configuration that made them.
    pub config: FeatureConfig,
    /// Number of frames (rows).
    pub frames: usize,
    /// Numbers per frame (columns).
    pub coefficients: usize,
    /// `values[frame * coefficients + c]`.
    pub values: Vec<f32>,
}

impl AudioFeatures {
    pub(crate) fn compute(mfcc: &Mfcc, audio: &Audio) -> Result<AudioFeatures> {
        let config = mfcc.config();
        if audio.sample_rate_hz() != config.sample_rate_hz {
            return Err(Error::param(
                "audio",
                format!(
                    "{} Hz audio for {} Hz features: resample it first (`audio.resample({})`)",
                    audio.sample_rate_hz(),
                    config.sample_rate_hz,
                    config.sample_rate_hz
                ),
            ));
        }
        let frames = mfcc.frames(audio.samples().len());
        let coefficients = mfcc.coefficients();
        let mut values = vec![0.0; frames * coefficients];
        mfcc.process(audio.samples(), &mut values)
            .map_err(|e| Error::param("audio", mfcc_message(e)))?;
        Ok(AudioFeatures {
            config,
            frames,
            coefficients,
            values,
        })
    }

    /// The features as a picture: time across, coefficients up.
    pub fn figure(&self, title: &str) -> Figure {
        let stride_s = self.config.stride_ms as f64 / 1000.0;
        let window_s = self.config.window_ms as f64 / 1000.0;
        let values: Vec<Vec<f32>> = self
            .values
            .chunks_exact(self.coefficients.max(1))
            .map(|row| row.to_vec())
            .collect();
        let (label, scale, values) = if self.config.num_mfcc == 0 {
            ("mel filter", "dB", clamp_db(values))
        } else {
            // Coefficient 0 (loudness) is hundreds of times larger than the rest: scale each
            // coefficient on its own so that all of them show.
            ("MFCC coefficient", "z-score", scale_per_coefficient(values))
        };
        Figure::color_map(
            title,
            "time (s)",
            label,
            ColorGrid {
                values,
                x_range: (0.0, (self.frames.max(1) - 1) as f64 * stride_s + window_s),
                y_range: (0.0, self.coefficients as f64),
                scale_label: scale.into(),
            },
        )
    }

    /// Shows the features as a picture in Jupyter.
    pub fn evcxr_display(&self) {
        let kind = if self.config.num_mfcc == 0 {
            "log-mel"
        } else {
            "MFCC"
        };
        self.figure(&format!(
            "{kind}: {} frames × {}",
            self.frames, self.coefficients
        ))
        .evcxr_display();
    }
}

/// Each column of `frames × coefficients` values shifted and scaled to mean 0 and spread 1.
fn scale_per_coefficient(mut values: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    let n = values.len().max(1) as f32;
    let coefficients = values.first().map_or(0, Vec::len);
    for c in 0..coefficients {
        let mean = values.iter().map(|row| row[c]).sum::<f32>() / n;
        let var = values
            .iter()
            .map(|row| (row[c] - mean).powi(2))
            .sum::<f32>()
            / n;
        let std = var.sqrt().max(1e-6);
        for row in values.iter_mut() {
            row[c] = (row[c] - mean) / std;
        }
    }
    values
}

/// Decibels below the loudest value minus 80 dB shown as that floor (as librosa's `top_db`),
/// so that digital silence does not squeeze the colours of the sound.
fn clamp_db(mut values: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    let top = values
        .iter()
        .flatten()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    for v in values.iter_mut().flatten() {
        *v = v.max(top - 80.0);
    }
    values
}

/// A power spectrogram in decibels, from [`Audio::spectrogram`].
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrogram {
    /// `db[frame][bin]`, bin `k` at `k · sample_rate / window` hertz.
    pub db: Vec<Vec<f32>>,
    /// Rate of the audio.
    pub sample_rate_hz: u32,
    /// Window in samples.
    pub window: usize,
    /// Stride in samples.
    pub stride: usize,
}

impl Spectrogram {
    /// The spectrogram up to `max_hz`: time across, frequency up, loudness as colour.
    pub fn figure(&self, title: &str, max_hz: f64) -> Figure {
        let rate = self.sample_rate_hz as f64;
        let bin_hz = rate / self.window as f64;
        let top = ((max_hz.min(rate / 2.0) / bin_hz).floor() as usize + 1).max(1);
        let values = clamp_db(
            self.db
                .iter()
                .map(|frame| frame[..top.min(frame.len())].to_vec())
                .collect(),
        );
        let seconds = ((self.db.len().max(1) - 1) * self.stride + self.window) as f64 / rate;
        Figure::color_map(
            title,
            "time (s)",
            "frequency (Hz)",
            ColorGrid {
                values,
                x_range: (0.0, seconds),
                y_range: (0.0, top as f64 * bin_hz),
                scale_label: "dB".into(),
            },
        )
    }

    /// Shows the spectrogram (up to 8 kHz) in Jupyter.
    pub fn evcxr_display(&self) {
        self.figure("spectrogram", 8_000.0).evcxr_display();
    }
}

const ZERO_CROSSINGS: usize = 24;
const TABLE_PER_CROSSING: usize = 512;
const KAISER_BETA: f64 = 9.0;
const ROLLOFF: f64 = 0.94;

/// The Kaiser-windowed sinc, sampled at `TABLE_PER_CROSSING` points per zero crossing.
fn sinc_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let n = ZERO_CROSSINGS * TABLE_PER_CROSSING;
        let i0_beta = bessel_i0(KAISER_BETA);
        (0..=n + 1)
            .map(|i| {
                let x = i as f64 / TABLE_PER_CROSSING as f64;
                let sinc = if i == 0 {
                    1.0
                } else {
                    (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                };
                let r = (x / ZERO_CROSSINGS as f64).min(1.0);
                let kaiser = bessel_i0(KAISER_BETA * (1.0 - r * r).sqrt()) / i0_beta;
                (sinc * kaiser) as f32
            })
            .collect()
    })
}

/// The modified Bessel function of the first kind, order 0 (for the Kaiser window).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)) * (x / (2.0 * k));
        sum += term;
        k += 1.0;
    }
    sum
}

/// Band-limited resampling of `x` from `from_hz` to `to_hz`.
fn resample(x: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    let table = sinc_table();
    let ratio = to_hz as f64 / from_hz as f64;
    // Cutoff relative to the input's Nyquist frequency.
    let cutoff = ratio.min(1.0) * ROLLOFF;
    let reach = ZERO_CROSSINGS as f64 / cutoff;
    let out_len = (x.len() as f64 * ratio).round() as usize;
    let per = TABLE_PER_CROSSING as f64 * cutoff;
    (0..out_len)
        .map(|n| {
            let t = n as f64 / ratio;
            let first = (t - reach).ceil().max(0.0) as usize;
            let last = ((t + reach).floor() as usize).min(x.len().saturating_sub(1));
            let mut sum = 0.0f64;
            for (k, &xk) in x.iter().enumerate().take(last + 1).skip(first) {
                let pos = (t - k as f64).abs() * per;
                let i = pos as usize;
                if i + 1 >= table.len() {
                    continue;
                }
                let f = pos - i as f64;
                let h = table[i] as f64 + (table[i + 1] as f64 - table[i] as f64) * f;
                sum += xk as f64 * h;
            }
            (sum * cutoff) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, rate: u32, seconds: f64) -> Vec<f32> {
        let n = (seconds * rate as f64) as usize;
        (0..n)
            .map(|t| {
                (0.5 * (2.0 * std::f64::consts::PI * hz * t as f64 / rate as f64).sin()) as f32
            })
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn resampling_keeps_a_tone_and_removes_what_cannot_fit() {
        let audio = Audio::new(tone(1_000.0, 44_100, 1.0), 44_100).unwrap();
        let out = audio.resample(16_000).unwrap();
        assert_eq!(out.samples().len(), 16_000);
        let exact = tone(1_000.0, 16_000, 1.0);
        // Away from the edges (where the filter runs out of input).
        let error: Vec<f32> = (1_000..15_000)
            .map(|i| out.samples()[i] - exact[i])
            .collect();
        let snr_db = 20.0 * (rms(&exact[1_000..15_000]) / rms(&error)).log10();
        assert!(
            snr_db > 100.0,
            "1 kHz tone error {snr_db:.1} dB below the signal"
        );

        let high = Audio::new(tone(10_000.0, 44_100, 1.0), 44_100).unwrap();
        let folded = high.resample(16_000).unwrap();
        let attenuation_db =
            20.0 * (0.5 / 2f64.sqrt() / rms(&folded.samples()[1_000..15_000])).log10();
        assert!(
            attenuation_db > 100.0,
            "10 kHz alias only {attenuation_db:.1} dB down"
        );

        let up = Audio::new(tone(1_000.0, 8_000, 1.0), 8_000)
            .unwrap()
            .resample(16_000)
            .unwrap();
        let error: Vec<f32> = (1_000..15_000)
            .map(|i| up.samples()[i] - exact[i])
            .collect();
        let snr_db = 20.0 * (rms(&exact[1_000..15_000]) / rms(&error)).log10();
        assert!(snr_db > 100.0, "8 kHz -> 16 kHz: {snr_db:.1} dB");
    }

    #[test]
    fn clip_finds_the_loudest_second_and_pads_short_audio() {
        let mut samples = vec![0.0f32; 48_000];
        for s in &mut samples[20_000..24_000] {
            *s = 0.5;
        }
        let audio = Audio::new(samples, 16_000).unwrap();
        let clip = audio.clip(1.0).unwrap();
        assert_eq!(clip.samples().len(), 16_000);
        assert_eq!(clip.samples().iter().filter(|&&x| x == 0.5).count(), 4_000);

        let short = Audio::new(vec![1.0; 100], 16_000)
            .unwrap()
            .clip(1.0)
            .unwrap();
        assert_eq!(short.samples().len(), 16_000);
        assert_eq!(&short.samples()[7_950..8_050], &[1.0; 100][..]);
        assert_eq!(short.samples()[7_949], 0.0);
        assert!(Audio::new(vec![0.0; 10], 16_000)
            .unwrap()
            .clip(0.0)
            .is_err());
    }

    #[test]
    fn spectrogram_puts_a_tone_in_its_bin() {
        let audio = Audio::new(tone(2_000.0, 16_000, 0.5), 16_000).unwrap();
        let spec = audio.spectrogram(32, 16).unwrap();
        assert_eq!(spec.db.len(), 1 + (8_000 - 512) / 256);
        let frame = &spec.db[3];
        let peak = (0..frame.len())
            .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
            .unwrap();
        assert_eq!(peak, 64); // 2000 Hz / (16000 / 512)
        assert!(audio.spectrogram(1, 0).is_err());
    }

    #[test]
    fn features_need_the_configured_rate() {
        let audio = Audio::new(tone(500.0, 8_000, 1.0), 8_000).unwrap();
        let err = audio
            .features(&FeatureConfig::KEYWORDS)
            .unwrap_err()
            .to_string();
        assert!(err.contains("resample"), "{err}");
        let clip = audio.keyword_clip(&FeatureConfig::KEYWORDS).unwrap();
        let features = clip.features(&FeatureConfig::KEYWORDS).unwrap();
        assert_eq!((features.frames, features.coefficients), (49, 13));
        let peak = clip.samples().iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!((peak - NORMALIZED_PEAK).abs() < 1e-6);
        assert!(features.figure("mfcc").png().is_ok());
    }
}
