//! The laptop and the simulated board over a pseudo-terminal: deploy, predict byte for byte as
//! the laptop's interpreter, and every fault the issue names: the connection cut at every chunk
//! boundary and at random bytes, flipped bytes, duplicated and reordered chunks, a bad CRC, an
//! unknown op, an oversized model, a power cut during the flash write. After each, the model
//! that was active still answers exactly as before.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{assert_fails_with, json, scratch, tinyml};
use tinyml_core::crc32::crc32;
use tinyml_core::mfcc::FeatureConfig;
use tinyml_core::model::file_crc;
use tinyml_core::protocol::{kind, Request, MAX_CHUNK};
use tinyml_kit::device::{Board, Simulator};
use tinyml_kit::kws::{FrontEnd, KwsArchitecture};
use tinyml_kit::nn::Network;
use tinyml_kit::quantize::{quantize, Calibration, InputKind, QuantizeOptions, QuantizedModel};
use tinyml_kit::rng::Rng;

/// A keyword CNN (the lesson's architecture, weights as initialised by `seed`), quantized.
fn keyword_model(seed: u64) -> QuantizedModel {
    let config = FeatureConfig::KEYWORDS;
    let (input, layers) = KwsArchitecture::Cnn.layers(49, 13, 4);
    let net = Network::new(input, layers, seed).expect("valid");
    let mut rng = Rng::new(seed);
    let calibration: Vec<f32> = (0..20 * 637).map(|_| rng.normal(0.0, 1.0) as f32).collect();
    let front_end = FrontEnd {
        features: config,
        clip_mean_normalization: true,
        mean: vec![0.0; 13],
        std: vec![1.0; 13],
    };
    quantize(
        &net,
        &["aoo", "dooda", "yaateeh", "unknown"].map(String::from),
        &InputKind::Keywords(front_end),
        &calibration,
        &QuantizeOptions {
            calibration: Calibration::MinMax,
            kind: "kws-cnn".into(),
        },
    )
    .expect("quantizes")
}

fn inputs(n: usize, seed: u64) -> Vec<Vec<i8>> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            (0..637)
                .map(|_| (rng.index(256) as i32 - 128) as i8)
                .collect()
        })
        .collect()
}

/// The active model answers as `model` does on the laptop.
fn answers_like(board: &mut Board, model: &QuantizedModel, n: usize) {
    for x in inputs(n, 99) {
        assert_eq!(
            board.predict(&x).expect("predicts"),
            model.simulate(&x).unwrap()
        );
    }
}

#[test]
fn deploy_then_fifty_predictions_equal_the_laptop_byte_for_byte() {
    let sim = Simulator::start().expect("simulator");
    let mut board = Board::open(sim.port()).expect("opens");
    assert!(board.is_simulator());
    assert_eq!(board.info().active_len, 0);
    let model = keyword_model(1);
    let report = board.deploy_with(&model, false).expect("deploys");
    assert_eq!(report.bytes, model.size_bytes());
    assert_eq!(report.crc, file_crc(model.bytes()));
    assert_eq!(board.info().active_crc, report.crc);
    answers_like(&mut board, &model, 50);
    // A second connection (a new notebook session) sees the same board and model.
    drop(board);
    let mut again = Board::open(sim.port()).expect("reopens");
    assert_eq!(again.info().active_crc, report.crc);
    answers_like(&mut again, &model, 3);
}

/// A board with `old` active, and the new model to upload.
fn with_active_model() -> (Simulator, QuantizedModel, QuantizedModel) {
    let sim = Simulator::start().expect("simulator");
    let old = keyword_model(1);
    Board::open(sim.port())
        .expect("opens")
        .deploy_with(&old, false)
        .expect("deploys");
    (sim, old, keyword_model(2))
}

#[test]
fn a_cut_at_every_chunk_boundary_keeps_the_old_model() {
    let (sim, old, new) = with_active_model();
    let bytes = new.bytes();
    let chunks = bytes.len().div_ceil(MAX_CHUNK);
    for cut in 0..=chunks {
        {
            let mut b = Board::open(sim.port()).expect("opens");
            let begin = Request::BeginModel {
                len: bytes.len() as u32,
                crc: file_crc(bytes),
            };
            assert_eq!(b.ask_raw(&begin).unwrap().1, 0);
            for (i, c) in bytes.chunks(MAX_CHUNK).take(cut).enumerate() {
                let chunk = Request::Chunk {
                    offset: (i * MAX_CHUNK) as u32,
                    bytes: c,
                };
                assert_eq!(b.ask_raw(&chunk).unwrap().1, 0);
            }
            // The connection goes here (the port is closed).
        }
        let mut b = Board::open(sim.port()).expect("reopens");
        assert_eq!(
            b.info().active_crc,
            file_crc(old.bytes()),
            "cut after {cut} chunks"
        );
        answers_like(&mut b, &old, 2);
    }
    // And a full upload afterwards succeeds.
    let mut b = Board::open(sim.port()).expect("opens");
    b.deploy_with(&new, false).expect("deploys");
    answers_like(&mut b, &new, 5);
}

#[test]
fn a_cut_in_the_middle_of_a_frame_keeps_the_old_model() {
    let (sim, old, new) = with_active_model();
    let bytes = new.bytes();
    let mut rng = Rng::new(5);
    for _ in 0..10 {
        {
            let mut b = Board::open(sim.port()).expect("opens");
            b.ask_raw(&Request::BeginModel {
                len: bytes.len() as u32,
                crc: file_crc(bytes),
            })
            .unwrap();
            // Half a chunk frame, cut at a random byte.
            let mut frame = [0u8; tinyml_core::protocol::MAX_FRAME];
            let n = tinyml_core::protocol::encode_request(
                &Request::Chunk {
                    offset: 0,
                    bytes: &bytes[..MAX_CHUNK],
                },
                77,
                &mut frame,
            )
            .unwrap();
            b.send_raw(&frame[..1 + rng.index(n - 2)]).unwrap();
        }
        let mut b = Board::open(sim.port()).expect("reopens after a cut mid-frame");
        answers_like(&mut b, &old, 2);
    }
}

#[test]
fn flipped_bytes_duplicates_and_reordering_get_naks_and_the_old_model_stays() {
    let (sim, old, new) = with_active_model();
    let mut b = Board::open(sim.port()).expect("opens");
    let bytes = new.bytes();
    // A flipped byte in a frame: refused with BadCrc, nothing happens.
    let begin = Request::BeginModel {
        len: bytes.len() as u32,
        crc: file_crc(bytes),
    };
    let (k, code) = b.ask_damaged(&begin, |f| f[3] ^= 0x04).unwrap();
    assert_eq!((k, code), (kind::NAK, 65));
    assert_eq!(b.status().unwrap().upload_len, 0);
    assert_eq!(b.ask_raw(&begin).unwrap().1, 0);
    let chunk = |i: usize| Request::Chunk {
        offset: (i * MAX_CHUNK) as u32,
        bytes: &bytes[i * MAX_CHUNK..((i + 1) * MAX_CHUNK).min(bytes.len())],
    };
    assert_eq!(b.ask_raw(&chunk(0)).unwrap().1, 0);
    // Duplicated: WrongOffset, with where to resume.
    assert_eq!(
        b.ask_raw(&chunk(0)).unwrap(),
        (kind::NAK, 70, MAX_CHUNK as u32)
    );
    // Reordered: chunk 2 before chunk 1.
    assert_eq!(
        b.ask_raw(&chunk(2)).unwrap(),
        (kind::NAK, 70, MAX_CHUNK as u32)
    );
    // Commit before the end.
    assert_eq!(b.ask_raw(&Request::Commit).unwrap().1, 72);
    answers_like(&mut b, &old, 3);
}

#[test]
fn bad_crc_unknown_op_and_oversized_models_are_refused() {
    let (sim, old, new) = with_active_model();
    let mut b = Board::open(sim.port()).expect("opens");
    let bytes = new.bytes();
    let upload = |b: &mut Board, bytes: &[u8], crc: u32| -> (u8, u8, u32) {
        b.ask_raw(&Request::BeginModel {
            len: bytes.len() as u32,
            crc,
        })
        .unwrap();
        for (i, c) in bytes.chunks(MAX_CHUNK).enumerate() {
            let r = b
                .ask_raw(&Request::Chunk {
                    offset: (i * MAX_CHUNK) as u32,
                    bytes: c,
                })
                .unwrap();
            assert_eq!(r.1, 0);
        }
        b.ask_raw(&Request::Commit).unwrap()
    };
    // The wrong CRC announced.
    assert_eq!(upload(&mut b, bytes, file_crc(bytes) ^ 1).1, 73);
    // A model with an unknown op (its own CRC right): the loader's UnknownOp.
    let mut unknown = bytes.to_vec();
    let ops = u32::from_le_bytes(unknown[28..32].try_into().unwrap()) as usize;
    unknown[ops] = 99;
    let n = unknown.len();
    let crc = crc32(&unknown[..n - 4]);
    unknown[n - 4..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(upload(&mut b, &unknown, file_crc(&unknown)).1, 40);
    // Larger than a slot: refused at BeginModel, with the slot size.
    let r = b
        .ask_raw(&Request::BeginModel {
            len: 300 * 1024,
            crc: 0,
        })
        .unwrap();
    assert_eq!(r, (kind::NAK, 71, 256 * 1024));
    answers_like(&mut b, &old, 3);
    // The laptop checks the board's budgets before sending anything, and says by how much.
    let net = Network::new(
        tinyml_kit::nn::Shape::Flat(784),
        vec![
            tinyml_kit::nn::Layer::Dense { units: 512 },
            tinyml_kit::nn::Layer::Relu,
            tinyml_kit::nn::Layer::Dense { units: 10 },
        ],
        1,
    )
    .unwrap();
    let big = quantize(
        &net,
        &(0..10).map(|d| d.to_string()).collect::<Vec<_>>(),
        &InputKind::Raw,
        &vec![0.5; 784],
        &QuantizeOptions {
            calibration: Calibration::MinMax,
            kind: "big-mlp".into(),
        },
    )
    .unwrap();
    let err = b.deploy_with(&big, false).unwrap_err().to_string();
    assert!(
        err.contains("262144 bytes") && err.contains(&big.size_bytes().to_string()),
        "{err}"
    );
    answers_like(&mut b, &old, 3);
}

#[test]
fn a_power_cut_during_the_flash_write_keeps_the_old_model() {
    let (sim, old, new) = with_active_model();
    // Cut at several points: the first erase, inside the data, the commit record.
    let words = new.size_bytes() / 4;
    for cut in [0, 1, 2, words / 2, words, words + 1, words + 2] {
        {
            let mut b = Board::open(sim.port()).expect("opens");
            sim.power_cut_after(cut as u32);
            let result = b.deploy_with(&new, false);
            assert!(result.is_err(), "cut {cut}: the power went, yet {result:?}");
        }
        sim.reset();
        let mut b = Board::open(sim.port()).expect("the board comes back");
        let active = b.info().active_crc;
        let model = if active == file_crc(old.bytes()) {
            &old
        } else {
            assert_eq!(active, file_crc(new.bytes()), "cut {cut}: neither model");
            &new
        };
        answers_like(&mut b, model, 2);
        // Back to the old model for the next round.
        b.deploy_with(&old, false).expect("deploys");
    }
}

/// Ends the simulator process when the test ends, passing or failing.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn cli_simulate_deploy_and_predict_from_another_process() {
    let dir = scratch("cli_device");
    let (a, b) = (dir.join("a.tkm"), dir.join("b.tkm"));
    keyword_model(1).save(&a).unwrap();
    keyword_model(2).save(&b).unwrap();
    let wav = dir.join("tone.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for i in 0..16_000 {
        let t = i as f64 / 16_000.0;
        w.write_sample((8_000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
    let (a, b, wav) = (
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        wav.to_str().unwrap(),
    );

    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_tinyml"))
            .args(["simulate", "--model", a])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().to_string();
    assert!(port.starts_with("/dev/"), "{line}");

    let on_board = json(&tinyml(&[
        "predict", "--port", &port, "--model", a, "--wav", wav, "--json",
    ]));
    let on_laptop = json(&tinyml(&[
        "predict",
        "--simulate",
        a,
        "--wav",
        wav,
        "--json",
    ]));
    assert_eq!(on_board["outputs"], on_laptop["outputs"]);
    assert_eq!(on_board["label"], on_laptop["label"]);
    assert_eq!(on_board["outputs"].as_array().unwrap().len(), 4);
    // The board runs a; asking it about b is an error that says what to do.
    assert_fails_with(
        &tinyml(&["predict", "--port", &port, "--model", b, "--wav", wav]),
        &["runs another model", "tinyml deploy"],
    );
    let d = json(&tinyml(&["deploy", b, "--port", &port, "--json"]));
    assert_eq!(d["simulated"], true);
    assert_eq!(
        d["crc"],
        format!("{:08x}", file_crc(&std::fs::read(b).unwrap()))
    );
    let on_board = json(&tinyml(&[
        "predict", "--port", &port, "--model", b, "--wav", wav, "--json",
    ]));
    let on_laptop = json(&tinyml(&[
        "predict",
        "--simulate",
        b,
        "--wav",
        wav,
        "--json",
    ]));
    assert_eq!(on_board["outputs"], on_laptop["outputs"]);
    // No such port; a port that is not a board.
    assert_fails_with(
        &tinyml(&["deploy", a, "--port", "/dev/nonexistent-port"]),
        &["cannot open"],
    );
    assert!(json(&tinyml(&["ports", "--json"])).is_array());
}
