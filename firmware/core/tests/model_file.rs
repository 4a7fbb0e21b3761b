//! The `.tkm` writer and reader agree: a committed model read and written again gives the
//! same bytes, each front-end kind decodes to what was encoded, and what the format cannot
//! hold is refused by the writer with the error the loader would give.

use tinyml_core::mfcc::FeatureConfig;
use tinyml_core::model::file::{
    encode_layer_params, front_end, header, layer_params_len, ChannelParams, ModelFile,
};
use tinyml_core::model::{FrontEnd, Model, ModelError, Op, Tensor};

const EVERY_OP: &[u8] = include_bytes!("../../../crate/tests/data/every-op.tkm");
const CONV_POOL: &[u8] = include_bytes!("../../../crate/tests/data/conv-pool.tkm");

fn u16_at(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

/// `bytes` read by the loader and written again by the writer.
fn rewrite(bytes: &[u8]) -> Vec<u8> {
    let m = Model::parse(bytes).expect("a valid model");
    let tensors: Vec<Tensor> = (0..m.tensor_count()).map(|i| m.tensor(i)).collect();
    let ops: Vec<Op> = (0..m.op_count()).map(|i| m.op(i).expect("op")).collect();
    let labels: Vec<&str> = (0..m.label_count()).map(|i| m.label(i)).collect();
    let file = ModelFile {
        arena: m.arena_bytes(),
        tensors: &tensors,
        ops: &ops,
        input: u16_at(bytes, header::INPUT),
        output: u16_at(bytes, header::OUTPUT),
        labels: &labels,
        front_end: m.front_end().expect("front end"),
    };
    let mut out = vec![0xAA; file.file_len().expect("fits") + 3];
    let n = file.write(&mut out).expect("writes");
    assert_eq!(n, m.file_len());
    out.truncate(n);
    out
}

#[test]
fn committed_models_read_and_written_again_are_the_same_bytes() {
    for (name, bytes) in [("every-op", EVERY_OP), ("conv-pool", CONV_POOL)] {
        assert!(rewrite(bytes) == bytes, "{name}");
    }
}

fn mean_std(n: usize) -> (Vec<u8>, Vec<u8>) {
    let le = |f: fn(usize) -> f32| (0..n).flat_map(|i| f(i).to_le_bytes()).collect::<Vec<u8>>();
    (le(|i| i as f32 - 3.5), le(|i| 0.25 + i as f32))
}

#[test]
fn every_front_end_kind_decodes_to_what_was_encoded() {
    let config = FeatureConfig::KEYWORDS;
    let long = FeatureConfig {
        clip_ms: 1_500,
        ..config
    };
    assert_eq!(long.clip_frames(), 74);
    let coefficients = config.coefficients();
    let (m13, s13) = mean_std(coefficients);
    let (m12, s12) = mean_std(tinyml_core::imu::FEATURE_COUNT);
    let kinds = [
        FrontEnd::None,
        FrontEnd::Image,
        FrontEnd::Mfcc {
            config,
            clip_mean: true,
            frames: config.clip_frames(),
            coefficients,
            mean: &m13,
            std: &s13,
        },
        FrontEnd::Mfcc {
            config: long,
            clip_mean: false,
            frames: long.clip_frames(),
            coefficients,
            mean: &m13,
            std: &s13,
        },
        FrontEnd::Motion {
            sample_rate_hz: 50,
            window: 100,
            hop: 50,
            mean: &m12,
            std: &s12,
        },
    ];
    for fe in kinds {
        let mut out = vec![0; fe.encoded_len()];
        assert_eq!(fe.encode(&mut out), Ok(out.len()));
        assert_eq!(FrontEnd::decode(&out), Ok(fe), "{fe:?}");
        // Only a keyword clip longer than a second uses the front end's third and fourth bytes
        // (so one-second models keep their bytes).
        if !out.is_empty() {
            let clip = u16_at(&out, front_end::CLIP_MS);
            let long = matches!(fe, FrontEnd::Mfcc { config, .. } if config.clip_ms != 1_000);
            assert_eq!(clip != 0, long, "{fe:?}");
        }
    }
    // Statistics of the wrong length, and a buffer too short, are refused.
    let short = FrontEnd::Mfcc {
        config,
        clip_mean: false,
        frames: 49,
        coefficients,
        mean: &m13[4..],
        std: &s13,
    };
    let mut out = vec![0; short.encoded_len()];
    assert_eq!(short.encode(&mut out), Err(ModelError::BadFrontEnd));
    let mut out = vec![0; 3];
    assert_eq!(
        FrontEnd::Image.encode(&mut out),
        Err(ModelError::BadFrontEnd)
    );
}

#[test]
fn the_writer_refuses_what_the_format_cannot_hold() {
    let m = Model::parse(CONV_POOL).expect("valid");
    let tensors: Vec<Tensor> = (0..m.tensor_count()).map(|i| m.tensor(i)).collect();
    let ops: Vec<Op> = (0..m.op_count()).map(|i| m.op(i).expect("op")).collect();
    let labels: Vec<&str> = (0..m.label_count()).map(|i| m.label(i)).collect();
    let file = ModelFile {
        arena: m.arena_bytes(),
        tensors: &tensors,
        ops: &ops,
        input: 0,
        output: m.tensor_count() - 1,
        labels: &labels,
        front_end: m.front_end().expect("front end"),
    };
    let write = |f: ModelFile| {
        let mut out = vec![0; f.file_len()?];
        f.write(&mut out)
    };
    let mut wide = tensors.clone();
    wide[0].w = 70_000;
    assert_eq!(
        write(ModelFile {
            tensors: &wide,
            ..file
        }),
        Err(ModelError::BadTensor)
    );
    let mut big_kernel = ops.clone();
    big_kernel[0].kh = 256;
    assert_eq!(
        write(ModelFile {
            ops: &big_kernel,
            ..file
        }),
        Err(ModelError::BadShape)
    );
    let long = "x".repeat(256);
    let mut bad_labels = labels.clone();
    bad_labels[0] = "";
    assert_eq!(
        write(ModelFile {
            labels: &bad_labels,
            ..file
        }),
        Err(ModelError::BadLabels)
    );
    bad_labels[0] = &long;
    assert_eq!(
        write(ModelFile {
            labels: &bad_labels,
            ..file
        }),
        Err(ModelError::BadLabels)
    );
    let mut out = vec![0; file.file_len().expect("fits") - 1];
    assert_eq!(file.write(&mut out), Err(ModelError::Truncated));
}

#[test]
fn layer_constants_are_laid_out_part_by_part() {
    let channels = [
        ChannelParams {
            bias: 1,
            folded_bias: 2,
            multiplier: 3,
            shift: -4,
            weight_scale: 0.5,
        },
        ChannelParams {
            bias: 10,
            folded_bias: 20,
            multiplier: 30,
            shift: -40,
            weight_scale: 0.25,
        },
    ];
    let weights = [-1i8, 2, -3, 4];
    let mut out = vec![0; layer_params_len(2, 4)];
    assert_eq!(encode_layer_params(&channels, &weights, &mut out), Ok(44));
    let op = Op {
        code: tinyml_core::model::OpCode::FullyConnected,
        input: 0,
        output: 1,
        kh: 0,
        kw: 0,
        stride: 0,
        pad: [0; 4],
        act_min: -128,
        act_max: 127,
        params: &out,
    };
    let p = op.layer_params(2);
    assert_eq!((p.bias.get(0), p.bias.get(1)), (1, 10));
    assert_eq!((p.folded_bias.get(0), p.folded_bias.get(1)), (2, 20));
    assert_eq!((p.multiplier.get(0), p.multiplier.get(1)), (3, 30));
    assert_eq!((p.shift.get(0), p.shift.get(1)), (-4, -40));
    assert_eq!(
        p.weight_scale,
        [0.5f32, 0.25].map(f32::to_le_bytes).concat()
    );
    assert_eq!(p.weights, weights.map(|w| w as u8));
}

/// Issue 20's finding 2: op0 relu X→T; op1 conv X→Y with Y over T's bytes; op2 max pool Y→Z;
/// op3 relu T→W. The board's op1 writes over T, so op3 reads the convolution's values; the
/// laptop's fused convolution and pooling (nothing else reads Y) would skip writing Y and give
/// other bytes. The loader refuses the graph: a tensor read after another op wrote over it.
#[test]
fn a_tensor_read_after_its_bytes_were_written_over_is_refused() {
    let m = Model::parse(CONV_POOL).expect("valid");
    let (x, conv, pool) = (m.tensor(0), m.op(0).expect("conv"), m.op(1).expect("pool"));
    let (y, z) = (m.tensor(1), m.tensor(2));
    let relu = |input, output| Op {
        code: tinyml_core::model::OpCode::Relu,
        input,
        output,
        kh: 0,
        kw: 0,
        stride: 0,
        pad: [0; 4],
        act_min: x.zero_point as i8,
        act_max: 127,
        params: &[],
    };
    let at = |t: Tensor, offset: usize| Tensor { offset, ..t };
    let (t_at, z_at, w_at) = (400, 1600, 1900);
    let tensors = [at(x, 0), at(x, t_at), at(y, t_at), at(z, z_at), at(x, w_at)];
    let over_t = [
        relu(0, 1),
        Op {
            input: 0,
            output: 2,
            ..conv
        },
        Op {
            input: 2,
            output: 3,
            ..pool
        },
        relu(1, 4),
    ];
    let names: Vec<String> = (0..x.len()).map(|i| i.to_string()).collect();
    let labels: Vec<&str> = names.iter().map(String::as_str).collect();
    let file = |tensors: &[Tensor], arena: usize| {
        let f = ModelFile {
            arena,
            tensors,
            ops: &over_t,
            input: 0,
            output: 4,
            labels: &labels,
            front_end: FrontEnd::None,
        };
        let mut out = vec![0; f.file_len().expect("fits")];
        f.write(&mut out).expect("writes");
        out
    };
    let bytes = file(&tensors, 2400);
    assert_eq!(Model::parse(&bytes).err(), Some(ModelError::BadArena));
    // The board's open of a stored model (fully checked at commit) skips this check.
    assert!(Model::parse_stored(&bytes).is_ok());
    // With Y elsewhere the same graph is valid, and the two kernel sets agree.
    let mut apart = tensors;
    apart[2].offset = 2400;
    let out = file(&apart, 2400 + y.len() + 32);
    let model = Model::parse(&out).expect("valid without the overlap");
    let input: Vec<i8> = (0..x.len()).map(|i| (i * 37 % 256) as u8 as i8).collect();
    let mut arena = vec![0i8; model.arena_bytes()];
    let (mut a, mut b) = (vec![0i8; x.len()], vec![0i8; x.len()]);
    model
        .invoke(
            &mut arena,
            &input,
            &mut a,
            tinyml_core::model::Kernels::Optimized,
        )
        .expect("runs");
    model
        .invoke(
            &mut arena,
            &input,
            &mut b,
            tinyml_core::model::Kernels::Reference,
        )
        .expect("runs");
    assert_eq!(a, b);
}
