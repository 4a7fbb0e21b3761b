//! The body of the `listener` fuzz target (see `fuzz_targets/listener.rs`), also run on the
//! kept corpus by `firmware/core/tests/fuzz_corpus.rs`.

use tinyml_core::listen::{
    keyword_arena_bytes, Listener, RecognizerConfig, MAX_CLASSES, MAX_FEATURES,
};
use tinyml_core::mfcc::{pcm16_gain, FeatureConfig, MelScale, Mfcc, NORMALIZED_PEAK};
use tinyml_core::model::file::ModelFile;
use tinyml_core::model::{FrontEnd, Model, Op, OpCode, Tensor};

/// Bytes of feature configuration at the front of an input; the rest is audio.
const CONFIG_LEN: usize = 28;

/// Most audio whose features are computed (the keyword loop repeats it to fill its second).
const MAX_SAMPLES: usize = 4_096;

/// Runs one input: a feature configuration, then audio.
pub fn run(data: &[u8]) {
    let Some((config, audio)) = config_from(data) else {
        return;
    };
    // About 30 KB of tables on the board: planned in place, never on the stack.
    let mut mfcc = Box::new(Mfcc::EMPTY);
    let planned = mfcc.plan(config);
    // The planner and the validator agree: a configuration is planned exactly when valid.
    assert_eq!(planned.is_ok(), config.validate().is_ok(), "{config:?}");
    if planned.is_err() {
        return;
    }
    let pcm: Vec<i16> = audio
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .take(MAX_SAMPLES)
        .collect();
    features(&mfcc, &pcm);
    listen(config, &pcm);
}

/// A feature configuration from the first [`CONFIG_LEN`] bytes, any values (the planner must
/// refuse what it cannot compute).
fn config_from(data: &[u8]) -> Option<(FeatureConfig, &[u8])> {
    let (c, audio) = data.split_at_checked(CONFIG_LEN)?;
    let u16_at = |i: usize| u16::from_le_bytes([c[i], c[i + 1]]);
    let f32_at = |i: usize| f32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
    let config = FeatureConfig {
        sample_rate_hz: u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
        window_ms: u16_at(4),
        stride_ms: u16_at(6),
        fft_len: u16_at(8),
        num_mel_bins: u16_at(10),
        num_mfcc: u16_at(12),
        fmin_hz: f32_at(14),
        fmax_hz: f32_at(18),
        mel_scale: if c[22] & 1 == 0 {
            MelScale::Htk
        } else {
            MelScale::Slaney
        },
        slaney_norm: c[22] & 2 != 0,
        preemphasis: f32_at(23),
        // 1,000 ms to 1,510 ms in 2 ms steps: the valid clips and a few too long.
        clip_ms: 1_000 + 2 * c[27] as u16,
    };
    Some((config, audio))
}

/// Features of `pcm` (and of it as floats): both kernel sets give the same bits.
fn features(mfcc: &Mfcc, pcm: &[i16]) {
    let frames = mfcc.frames(pcm.len());
    let mut out = vec![0f32; frames * mfcc.coefficients()];
    let mut portable = out.clone();
    let gain = pcm16_gain(pcm, NORMALIZED_PEAK);
    let pcm16 = mfcc.process_pcm16(pcm, gain, &mut out);
    let signal: Vec<f32> = pcm.iter().map(|&s| s as f32 / 32_768.0).collect();
    let fast = mfcc.process(&signal, &mut out);
    let slow = mfcc.process_portable(&signal, &mut portable);
    assert_eq!(fast, slow);
    if fast.is_ok() {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        assert!(bits(&out) == bits(&portable), "kernels differ");
    }
    if frames == 0 {
        assert!(pcm16.is_err() && fast.is_err());
    }
}

/// The keyword loop on `pcm` with a model whose front end is `config` (when a model can have
/// it): starts or says why not, then runs every window the audio fills.
fn listen(config: FeatureConfig, pcm: &[i16]) {
    let frames = config.clip_frames();
    let coefficients = config.coefficients();
    let inputs = frames * coefficients;
    if frames == 0 || inputs > MAX_FEATURES || frames > 255 || coefficients > 255 {
        return;
    }
    let Some(bytes) = keyword_model(config, frames, coefficients) else {
        return;
    };
    let model = Model::parse(&bytes).expect("the core's writer writes what its loader reads");
    let mut listener = Box::new(Listener::new());
    let recognizer = RecognizerConfig {
        average_windows: 3,
        threshold: 150,
        suppression_ms: 1_000,
    };
    if listener.start(&model, recognizer).is_err() {
        return;
    }
    if pcm.is_empty() {
        return;
    }
    // The model's arena, then the clip's samples (as the board's Run checks).
    let needed = keyword_arena_bytes(&model).expect("started, so a keyword model");
    let mut arena = vec![0i8; needed];
    let mut scores = [0i8; MAX_CLASSES];
    // The audio repeated until a window is due (one window: the board's hop is covered by
    // the kit's tests; the fuzzer's time goes to configurations).
    let mut rest_of_clip = listener.clip_samples();
    while rest_of_clip > 0 {
        let mut rest = &pcm[..pcm.len().min(rest_of_clip)];
        rest_of_clip -= rest.len();
        if listener.feed(&mut rest, &mut arena) {
            let window = listener.infer(&model, &mut arena, 0, &mut scores);
            assert!(window.is_ok(), "{window:?}");
        }
    }
}

/// A keyword model on `config`'s features: one max pool over all of them, one class.
fn keyword_model(config: FeatureConfig, frames: usize, coefficients: usize) -> Option<Vec<u8>> {
    let inputs = frames * coefficients;
    let tensors = [
        Tensor {
            h: frames,
            w: coefficients,
            c: 1,
            offset: 0,
            scale: 0.05,
            zero_point: 3,
        },
        Tensor {
            h: 1,
            w: 1,
            c: 1,
            offset: inputs,
            scale: 0.05,
            zero_point: 3,
        },
    ];
    let ops = [Op {
        code: OpCode::MaxPool,
        input: 0,
        output: 1,
        kh: frames,
        kw: coefficients,
        stride: 1,
        pad: [0; 4],
        act_min: -128,
        act_max: 127,
        params: &[],
    }];
    let mean: Vec<u8> = (0..coefficients)
        .flat_map(|_| 0.5f32.to_le_bytes())
        .collect();
    let std: Vec<u8> = (0..coefficients)
        .flat_map(|_| 2.0f32.to_le_bytes())
        .collect();
    let file = ModelFile {
        arena: inputs + 1,
        tensors: &tensors,
        ops: &ops,
        input: 0,
        output: 1,
        labels: &["word"],
        front_end: FrontEnd::Mfcc {
            config,
            clip_mean: true,
            frames,
            coefficients,
            mean: &mean,
            std: &std,
        },
    };
    let mut bytes = vec![0u8; file.file_len().ok()?];
    file.write(&mut bytes).ok()?;
    Some(bytes)
}
