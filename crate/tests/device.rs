//! The laptop and the simulated board over a pseudo-terminal: deploy, predict byte for byte as
//! the laptop's interpreter, and every fault the issue names: the connection cut at every chunk
//! boundary and at random bytes, flipped bytes, duplicated and reordered chunks, a bad CRC, an
//! unknown op, an oversized model, a power cut during the flash write. After each, the model
//! that was active still answers exactly as before.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{assert_fails_with, json, reseal, scratch, tinyml, too_big_mlp};
use tinyml_core::listen::{probability, Recognizer, RecognizerConfig};
use tinyml_core::mfcc::FeatureConfig;
use tinyml_core::model::file::{header, op};
use tinyml_core::model::file_crc;
use tinyml_core::protocol::{kind, Request, MAX_CHUNK};
use tinyml_kit::activity::{ActivityData, ActivityTrainer};
use tinyml_kit::audio::Audio;
use tinyml_kit::device::{watch, Board, ImuRecording, Simulator};
use tinyml_kit::error::{DeviceError, Error};
use tinyml_kit::front_end::InputKind;
use tinyml_kit::front_end::KeywordFrontEnd;
use tinyml_kit::kws::{KeywordData, KwsArchitecture};
use tinyml_kit::nn::{Layer, Network};
use tinyml_kit::quantize::{quantize, Calibration, QuantizeOptions, QuantizedModel};
use tinyml_kit::rng::Rng;

/// A keyword CNN (the lesson's architecture, weights as initialised by `seed`), quantized.
fn keyword_model(seed: u64) -> QuantizedModel {
    let (input, layers) = KwsArchitecture::Cnn.layers(49, 13, 4);
    let net = Network::new(input, layers, seed).expect("valid");
    quantized_keyword_model(net, "cnn", seed)
}

/// `net` (four keyword classes) quantized as a keyword model of `architecture`.
fn quantized_keyword_model(net: Network, architecture: &str, seed: u64) -> QuantizedModel {
    quantized_with_features(net, FeatureConfig::KEYWORDS, architecture, seed)
}

/// A keyword CNN on the features of `config`, quantized.
fn keyword_model_on(config: FeatureConfig, seed: u64) -> QuantizedModel {
    let frames = config.clip_frames();
    let (input, layers) = KwsArchitecture::Cnn.layers(frames, config.coefficients(), 4);
    let net = Network::new(input, layers, seed).expect("valid");
    quantized_with_features(net, config, "cnn", seed)
}

/// `net` (four keyword classes, on the features of `config`) quantized.
fn quantized_with_features(
    net: Network,
    config: FeatureConfig,
    architecture: &str,
    seed: u64,
) -> QuantizedModel {
    let mut rng = Rng::new(seed);
    let n = net.input().len();
    let calibration: Vec<f32> = (0..20 * n).map(|_| rng.normal(0.0, 1.0) as f32).collect();
    let coefficients = config.coefficients();
    let front_end = KeywordFrontEnd {
        features: config,
        clip_mean_normalization: true,
        mean: vec![0.0; coefficients],
        std: vec![1.0; coefficients],
    };
    quantize(
        &net,
        &["aoo", "dooda", "yaateeh", "unknown"].map(String::from),
        &InputKind::Keywords(front_end),
        &calibration,
        &QuantizeOptions {
            calibration: Calibration::MinMax,
            kind: format!("kws-{architecture}"),
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

#[test]
fn answers_of_the_wrong_length_do_not_panic() {
    // A board running another model may answer with more or fewer outputs than the labels.
    let model = keyword_model(3);
    let labels = model.labels();
    let longer = model.keyword_answer(&[0, 0, 0, 0, 0, 100, 0]);
    assert!(labels.contains(&longer.label), "{longer:?}");
    assert_eq!(model.keyword_answer(&[]).label, "");
    assert_eq!(model.keyword_answer(&[-5, 9]).label, labels[1]);
}

/// Sends `bytes` as an upload announced with `crc` (each chunk must be taken), then Commit;
/// gives the Commit's reply (kind, code, value).
fn upload(b: &mut Board, bytes: &[u8], crc: u32) -> (u8, u8, u32) {
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
}

/// The active model answers as `model` does on the laptop.
fn answers_like(board: &mut Board, model: &QuantizedModel, n: usize) {
    let len = model.model().input().len();
    let mut rng = Rng::new(99);
    for _ in 0..n {
        let x: Vec<i8> = (0..len)
            .map(|_| (rng.index(256) as i32 - 128) as i8)
            .collect();
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

/// The simulator on a local socket (as on Windows): the same board, and a client without the
/// token reaches nothing.
#[test]
fn the_simulator_on_a_local_socket_needs_its_token() {
    use std::io::{Read, Write};
    let sim = Simulator::start_tcp().expect("simulator");
    let name = sim.port().to_string();
    let (address, token) = name
        .strip_prefix("tcp://127.0.0.1:")
        .and_then(|rest| rest.split_once('/'))
        .expect("tcp://127.0.0.1:PORT/TOKEN");
    assert_eq!(token.len(), 32, "128 random bits");
    let address = format!("127.0.0.1:{address}");
    for first_line in [
        "\n".to_string(),
        "0123\n".into(),
        format!("{token}x\n"),
        "A".repeat(200),
    ] {
        let mut stranger = std::net::TcpStream::connect(&address).expect("connects");
        stranger.write_all(first_line.as_bytes()).unwrap();
        // A hello frame after the line: it must get no answer, only the connection closed.
        stranger.write_all(&[0, 1, 2, 3, 0]).ok();
        stranger
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut reply = [0u8; 64];
        let n = stranger.read(&mut reply).unwrap_or(0);
        assert_eq!(n, 0, "a client with the wrong token got {n} bytes");
    }
    let forged = name.replace(token, &"0".repeat(32));
    assert!(
        Board::open(&forged).is_err(),
        "a wrong token reaches no board"
    );
    let missing = Board::open("/dev/nonexistent-port")
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(missing, Error::Device(DeviceError::CannotOpen(_))),
        "{missing:?}"
    );

    let mut board = Board::open(&name).expect("opens with the token");
    assert!(board.is_simulator());
    let model = keyword_model(3);
    board.deploy_with(&model, false).expect("deploys");
    answers_like(&mut board, &model, 10);
    drop(board);
    let again = Board::open(&name).expect("reopens");
    assert_eq!(again.info().active_crc, file_crc(model.bytes()));
}

/// With no board plugged in, `Board::connect` starts a simulator and keeps it; the sensors are
/// fed through the board.
#[test]
fn connect_without_a_board_uses_a_simulator_it_keeps() {
    let mut board = Board::connect().expect("a board or the simulator");
    assert!(
        board.is_simulator(),
        "no board is attached to these machines"
    );
    let played = audio_of(&word_like(1.0, 11));
    board.simulate_sound(&played).unwrap();
    let heard = board.record_audio(0.5).unwrap();
    assert_eq!(heard.to_pcm16(), played.to_pcm16()[..8_000]);
    let data = ActivityData::course_default();
    board
        .simulate_movement(&ImuRecording::from_activity(&data, "RUNNING").unwrap())
        .unwrap();
    assert_eq!(board.record_imu(1.0).unwrap().ax.len(), 50);
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
        // Opening the port stopped the board, which abandoned the upload: nothing is left
        // open, and streaming (or a Run) is not refused as busy.
        assert_eq!(b.status().unwrap().upload_len, 0, "cut after {cut} chunks");
        let stream = Request::Stream {
            sensor: tinyml_core::protocol::sensor::IMU,
        };
        assert_eq!(b.ask_raw(&stream).unwrap().1, 0, "cut after {cut} chunks");
        assert_eq!(b.ask_raw(&Request::Stop).unwrap().1, 0);
    }
    // And a full upload afterwards succeeds.
    let mut b = Board::open(sim.port()).expect("opens");
    b.deploy_with(&new, false).expect("deploys");
    answers_like(&mut b, &new, 5);
}

#[test]
fn lost_and_damaged_replies_are_sent_again() {
    let (sim, old, new) = with_active_model();
    let chunks = new.bytes().len().div_ceil(MAX_CHUNK) as u32;
    let mut b = Board::open(sim.port()).expect("opens");
    // Replies in a deploy: BeginModel's Ack, one per chunk, Commit's Ack. Lost: the first, one
    // in the middle, the last (the model is active, only its Ack went missing); damaged: a
    // chunk's. Each deploy goes through, the model it sent answers, no upload stays open.
    let spoiled = [
        (0, 1, 0),
        (1 + chunks / 2, 1, 0),
        (1 + chunks, 1, 0),
        (3, 0, 1),
    ];
    for (i, (good, lost, damaged)) in spoiled.into_iter().enumerate() {
        let model = if i % 2 == 0 { &new } else { &old };
        sim.spoil_replies(good, lost, damaged);
        let report = b
            .deploy_with(model, false)
            .unwrap_or_else(|e| panic!("spoiled after {good} replies: {e}"));
        assert!(report.retries >= 1, "{good}: {report:?}");
        assert_eq!(b.info().active_crc, file_crc(model.bytes()));
        assert_eq!(b.status().unwrap().upload_len, 0);
        answers_like(&mut b, model, 2);
    }
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
    // The wrong CRC announced.
    assert_eq!(upload(&mut b, bytes, file_crc(bytes) ^ 1).1, 73);
    // A model with an unknown op (its own CRC right): the loader's UnknownOp.
    let mut unknown = bytes.to_vec();
    let at = header::OPS_AT;
    let ops = u32::from_le_bytes(unknown[at..at + 4].try_into().unwrap()) as usize;
    unknown[ops + op::CODE] = 99;
    reseal(&mut unknown);
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
    let big = too_big_mlp();
    let err = b.deploy_with(&big, false).unwrap_err();
    assert!(matches!(err, Error::DoesNotFit(_)), "{err:?}");
    let err = err.to_string();
    assert!(
        err.contains("262144 bytes") && err.contains(&big.size_bytes().to_string()),
        "{err}"
    );
    answers_like(&mut b, &old, 3);
    // Features beyond the board's tables (the simulator has the laptop's bigger ones): the
    // laptop says which and does not send; sent anyway, the simulator refuses them at Commit
    // as the board does, keeping the old model.
    let log_mel = FeatureConfig {
        num_mfcc: 0,
        ..FeatureConfig::KEYWORDS
    };
    let long_window = FeatureConfig {
        window_ms: 64,
        stride_ms: 32,
        ..FeatureConfig::KEYWORDS
    };
    let many_mels = FeatureConfig {
        num_mel_bins: 64,
        num_mfcc: 13,
        stride_ms: 40,
        ..FeatureConfig::KEYWORDS
    };
    let many_mfccs = FeatureConfig {
        num_mfcc: 30,
        stride_ms: 40,
        ..FeatureConfig::KEYWORDS
    };
    for (config, says) in [
        (log_mel, "it takes 1960 input values"),
        (long_window, "a 1024-point FFT"),
        (many_mels, "64 mel filters"),
        (many_mfccs, "30 MFCCs"),
    ] {
        let model = keyword_model_on(config, 5);
        let err = b.deploy_with(&model, false).unwrap_err();
        assert!(matches!(err, Error::DoesNotFit(_)), "{err:?}");
        let err = err.to_string();
        assert!(err.contains(says) && err.contains("cannot run on"), "{err}");
        let bytes = model.bytes();
        assert_eq!(upload(&mut b, bytes, file_crc(bytes)).1, 47, "{says}");
        answers_like(&mut b, &old, 3);
        let silence = Audio::new(vec![0.0; 16_000], 16_000).expect("audio");
        let err = tinyml_kit::device::listen_to(&model, &silence).unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
    }
}

#[test]
fn features_that_cannot_be_computed_are_refused_before_and_at_commit() {
    // Forty mel filters between 20 and 200 Hz: most fall between two FFT bins.
    let narrow = FeatureConfig {
        fmin_hz: 20.0,
        fmax_hz: 200.0,
        ..FeatureConfig::KEYWORDS
    };
    // The laptop refuses to make such a model, and says what to change…
    let frames = narrow.frames(16_000);
    let (input, layers) = KwsArchitecture::Cnn.layers(frames, narrow.coefficients(), 4);
    let net = Network::new(input, layers, 4).expect("valid");
    let front_end = KeywordFrontEnd {
        features: narrow,
        clip_mean_normalization: true,
        mean: vec![0.0; 13],
        std: vec![1.0; 13],
    };
    let labels = ["aoo", "dooda", "yaateeh", "unknown"].map(String::from);
    let calibration = vec![0.5; net.input().len()];
    let err = quantize(
        &net,
        &labels,
        &InputKind::Keywords(front_end),
        &calibration,
        &QuantizeOptions {
            calibration: Calibration::MinMax,
            kind: "kws-cnn".into(),
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("mel filter covers no FFT bin"), "{err}");
    // …and a model file that says so anyway (a valid one with its upper frequency changed) is
    // refused by the board's loader at commit, which keeps the model it had.
    let (sim, old, _) = with_active_model();
    let mut b = Board::open(sim.port()).expect("opens");
    let mut bytes = keyword_model(5).bytes().to_vec();
    let at = header::FRONT_END_AT;
    let front_end = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let fmax = front_end + tinyml_core::model::file::front_end::mfcc::FMAX;
    bytes[fmax..fmax + 4].copy_from_slice(&200f32.to_le_bytes());
    let fmin = front_end + tinyml_core::model::file::front_end::mfcc::FMIN;
    assert_eq!(bytes[fmin..fmin + 4], 20f32.to_le_bytes());
    reseal(&mut bytes);
    // BadFrontEnd.
    assert_eq!(upload(&mut b, &bytes, file_crc(&bytes)).1, 47);
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

    // `predict` of `model` on the board, and on the laptop.
    let both = |model: &str| {
        let on = |args: &[&str]| {
            let mut all = vec!["predict", "--wav", wav, "--json"];
            all.extend_from_slice(args);
            json(&tinyml(&all))
        };
        (
            on(&["--port", &port, "--model", model]),
            on(&["--simulate", model]),
        )
    };
    let (on_board, on_laptop) = both(a);
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
    let (on_board, on_laptop) = both(b);
    assert_eq!(on_board["outputs"], on_laptop["outputs"]);
    // No such port; a port that is not a board.
    assert_fails_with(
        &tinyml(&["deploy", a, "--port", "/dev/nonexistent-port"]),
        &["cannot open"],
    );
    assert!(json(&tinyml(&["ports", "--json"])).is_array());
}

/// `seconds` of a chirp with noise, as 16-bit samples.
fn chirp(seconds: f64, seed: u64) -> Vec<i16> {
    let mut rng = Rng::new(seed);
    (0..(seconds * 16_000.0) as usize)
        .map(|i| {
            let t = i as f64 / 16_000.0;
            let tone = 9_000.0 * (2.0 * std::f64::consts::PI * (200.0 + 400.0 * t) * t).sin();
            (tone + rng.normal(0.0, 500.0)).round() as i16
        })
        .collect()
}

/// A chirp that starts and stops like a spoken word: the tone sounds from 0.15 s to 0.45 s of
/// every half second, over the noise (takes of a constant tone are refused as silent: nothing
/// stands out of the background).
fn word_like(seconds: f64, seed: u64) -> Vec<i16> {
    let mut rng = Rng::new(seed);
    chirp(seconds, seed)
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let t = (i as f64 / 16_000.0) % 0.5;
            if (0.15..0.45).contains(&t) {
                v
            } else {
                rng.normal(0.0, 500.0).round() as i16
            }
        })
        .collect()
}

fn audio_of(pcm: &[i16]) -> Audio {
    Audio::new(pcm.iter().map(|&v| v as f32 / 32_768.0).collect(), 16_000).unwrap()
}

#[test]
fn listening_runs_the_boards_keyword_loop_on_what_its_microphone_hears() {
    listens_like_the_laptop(&keyword_model(3));
}

/// A few-shot model (the embedding's network with a head of four words) runs on the board like
/// any keyword model.
#[test]
fn a_few_shot_model_listens_on_the_board_like_the_laptop() {
    // The embedding's convolutions up to their flattened output, then a dense layer of 4 words.
    let (input, mut layers) = KwsArchitecture::Embedding.layers(49, 13, 4);
    let flat = 1 + layers.iter().position(|l| *l == Layer::Flatten).unwrap();
    layers.truncate(flat);
    layers.push(Layer::Dense { units: 4 });
    let model = quantized_keyword_model(Network::new(input, layers, 4).unwrap(), "embedding", 4);
    let size = model.size_bytes();
    assert!(size < 100 * 1024, "{size} bytes");
    listens_like_the_laptop(&model);
}

/// A model of 1.5 s clips (for words longer than a second): the board keeps the longer clip at
/// the end of its arena, and its windows are still the laptop's.
#[test]
fn a_model_of_longer_clips_listens_on_the_board_like_the_laptop() {
    let long = FeatureConfig {
        clip_ms: 1_500,
        ..FeatureConfig::KEYWORDS
    };
    let model = keyword_model_on(long, 6);
    assert_eq!(model.model().input().len(), 74 * 13);
    listens_like_the_laptop(&model);
    // A clip the board cannot hold is refused at commit (the file says 2 s), and the model it
    // had stays.
    let (sim, old, _) = with_active_model();
    let mut b = Board::open(sim.port()).expect("opens");
    let mut bytes = model.bytes().to_vec();
    let at = header::FRONT_END_AT;
    let front_end = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let clip = front_end + tinyml_core::model::file::front_end::CLIP_MS;
    assert_eq!(bytes[clip..clip + 2], 1_500u16.to_le_bytes());
    bytes[clip..clip + 2].copy_from_slice(&2_000u16.to_le_bytes());
    reseal(&mut bytes);
    // BadFrontEnd.
    assert_eq!(upload(&mut b, &bytes, file_crc(&bytes)).1, 47);
    answers_like(&mut b, &old, 3);
}

fn listens_like_the_laptop(model: &QuantizedModel) {
    let sim = Simulator::start().expect("simulator");
    let pcm = chirp(3.2, 5);
    sim.play(&audio_of(&pcm)).unwrap();
    let mut board = Board::open(sim.port()).expect("opens");
    let e = board.listen(1.0).unwrap_err();
    assert!(
        matches!(e, Error::Device(DeviceError::Refused { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("no model yet"), "{e}");
    board.deploy_with(model, false).unwrap();
    let heard = board.listen_with(2.1, &mut |_, _| {}).expect("listens");
    assert_eq!(heard.labels, model.labels());
    let n = heard.windows.len();
    assert!((3..=6).contains(&n), "{n} windows in 2.1 s");
    let config = model.keyword_config().expect("a keyword model");
    let clip = config.clip_samples();
    let recognizer_config = RecognizerConfig::KEYWORDS.for_clip_ms(config.clip_ms);
    let mut recognizer = Recognizer::new(recognizer_config, 4, 0b1000);
    for (k, w) in heard.windows.iter().enumerate() {
        // Window k is the clip of sound from k · 250 ms: the board's outputs are the laptop's.
        let window = audio_of(&pcm[k * 4_000..k * 4_000 + clip]);
        let features = window
            .keyword_clip(&config)
            .unwrap()
            .features(&config)
            .unwrap();
        let expected = model
            .simulate(&model.keyword_input(&features).unwrap())
            .unwrap();
        assert_eq!(w.outputs, expected, "window {k}");
        if k > 0 {
            assert_eq!(w.time_ms - heard.windows[k - 1].time_ms, 250);
        }
        // And what it heard is the recognizer's answer on those outputs.
        let p: Vec<u8> = w
            .outputs
            .iter()
            .map(|&q| probability(&model.model().output(), q))
            .collect();
        let h = recognizer.push(w.time_ms, &p);
        assert_eq!(w.heard, h.map(|h| h.class as usize), "window {k}");
        assert_eq!(w.score, h.map_or(0, |h| h.score));
    }
    // Listening stopped: the board takes requests again.
    answers_like(&mut board, model, 3);
    let t = heard.table();
    assert_eq!(t.rows.len(), heard.heard().len());
}

#[test]
fn recordings_from_the_board_are_its_samples_exactly() {
    let dir = scratch("record_api");
    let sim = Simulator::start().expect("simulator");
    let pcm = chirp(1.0, 6);
    sim.play(&audio_of(&pcm)).unwrap();
    let mut board = Board::open(sim.port()).expect("opens");
    let audio = board.record_audio(0.5).expect("records");
    assert_eq!(audio.sample_rate_hz(), 16_000);
    assert_eq!(audio.to_pcm16(), pcm[..8_000]);
    // Saved and read back: the same samples.
    let wav = dir.join("x.wav");
    audio.save(&wav).unwrap();
    assert_eq!(Audio::load(&wav).unwrap().to_pcm16(), pcm[..8_000]);

    let imu = board.record_imu(2.0).expect("records the IMU");
    assert_eq!(
        (imu.ax.len(), imu.az.len(), imu.sample_rate_hz),
        (100, 100, 50)
    );
    let mean_z = imu.az.iter().sum::<f32>() / 100.0;
    assert!((0.9..1.1).contains(&mean_z), "gravity on z: {mean_z}");
    let csv = dir.join("imu.csv");
    imu.save_csv(&csv, "ana", 1, "walking").unwrap();
    let data = ActivityData::load_with_window(&csv, 1.0).expect("Day 1 reads it");
    assert_eq!(data.len(), 2);
    assert_eq!(data.labels(), ["walking", "walking"]);
    assert!(imu.save_csv(&csv, "a,b", 1, "walking").is_err());
}

#[test]
fn cli_monitor_and_record_with_the_simulator() {
    let dir = scratch("cli_listen");
    let (model, wav) = (dir.join("kws.tkm"), dir.join("chirp.wav"));
    keyword_model(4).save(&model).unwrap();
    audio_of(&word_like(2.0, 7)).save(&wav).unwrap();
    let (model_s, wav_s) = (model.to_str().unwrap(), wav.to_str().unwrap());
    let out = tinyml(&[
        "monitor",
        "--simulate",
        model_s,
        "--mic",
        wav_s,
        "--seconds",
        "1.7",
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let lines: Vec<serde_json::Value> = common::stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!((2..=4).contains(&lines.len()), "{lines:?}");
    for l in &lines {
        assert_eq!(l["outputs"].as_array().unwrap().len(), 4);
        assert!(l["heard"].is_null() || l["heard"].is_string());
    }

    let data = dir.join("data");
    let data_s = data.to_str().unwrap();
    let record = |extra: &[&str]| {
        let mut args = vec![
            "record",
            "--simulate",
            "--mic",
            wav_s,
            "--label",
            "aoo",
            "--count",
            "2",
            "--countdown",
            "0",
            "--out",
            data_s,
        ];
        args.extend_from_slice(extra);
        tinyml(&args)
    };
    for _ in 0..2 {
        let o = record(&["--sensor", "mic", "--seconds", "0.5"]);
        assert!(o.status.success(), "{}", common::stderr(&o));
    }
    // Four clips, none overwritten; each is the start of what the microphone played.
    let played = Audio::load(&wav).unwrap().to_pcm16();
    for n in 0..4 {
        let clip = Audio::load(data.join(format!("aoo/me_nohash_{n}.wav"))).unwrap();
        assert_eq!(clip.to_pcm16(), played[..8_000], "clip {n}");
    }
    // The recordings are a keyword dataset (the Day 2 layout), ready to join the course data.
    let mine = KeywordData::load(&data).expect("loads the recordings");
    assert_eq!(
        (mine.len(), mine.speaker_names()),
        (4, vec!["me".to_string()])
    );
    assert_eq!(mine.merged(&mine).unwrap().len(), 8);
    let o = record(&["--sensor", "imu", "--seconds", "2", "--speaker", "ana"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(data.join("ana_aoo_1.csv").exists());
    assert_eq!(ActivityData::load(&data).unwrap().len(), 2);
    assert_fails_with(&record(&["--sensor", "camera"]), &["use mic or imu"]);
    // A microphone that hears nothing: each take is refused and recorded again, three times,
    // then the command stops; nothing is saved.
    let quiet = dir.join("quiet.wav");
    audio_of(&vec![0i16; 32_000]).save(&quiet).unwrap();
    let o = tinyml(&[
        "record",
        "--simulate",
        "--mic",
        quiet.to_str().unwrap(),
        "--label",
        "dooda",
        "--count",
        "1",
        "--countdown",
        "0",
        "--out",
        data_s,
        "--sensor",
        "mic",
    ]);
    let err = common::stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("refused 3 times in a row\nerror: "), "{err}");
    for piece in ["silent", "microphone", "Nothing was saved"] {
        assert!(err.contains(piece), "{piece:?} in {err}");
    }
    assert_eq!(err.matches("Once more").count(), 2, "{err}");
    assert!(
        !data.join("dooda").exists()
            || std::fs::read_dir(data.join("dooda"))
                .unwrap()
                .next()
                .is_none()
    );
    assert_fails_with(
        &record(&["--sensor", "mic", "--speaker", "a/b"]),
        &["speaker"],
    );
    assert_fails_with(
        &tinyml(&[
            "monitor",
            "--port",
            "/dev/nonexistent-port",
            "--seconds",
            "1",
        ]),
        &["cannot open"],
    );
}

#[test]
fn watching_runs_the_boards_activity_loop_on_what_its_accelerometer_feels() {
    let (train, test) = ActivityData::course_default()
        .split_by_people(4, 1)
        .unwrap();
    let net = ActivityTrainer::params()
        .progress(false)
        .fit(&train)
        .unwrap();
    let model = net.quantize(&train).unwrap();
    let running = ImuRecording::from_activity(&test, "RUNNING").unwrap();
    assert!(running.seconds() >= 6.0, "{} s", running.seconds());
    let sim = Simulator::start().expect("simulator");
    sim.play_imu(&running).unwrap();
    let mut board = Board::open(sim.port()).expect("opens");
    // Each loop refuses the other's model, clearly.
    board.deploy_with(&keyword_model(5), false).unwrap();
    let e = board.watch(1.0).unwrap_err();
    assert!(
        matches!(e, Error::Device(DeviceError::Refused { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("activity model"), "{e}");
    board.deploy_with(&model, false).unwrap();
    let e = board.listen(1.0).unwrap_err().to_string();
    assert!(e.contains("keyword model"), "{e}");

    let seen = board.watch_with(4.3, &mut |_, _| {}).expect("watches");
    assert_eq!(seen.labels, model.labels());
    // 2 s windows every second: at 2, 3 and 4 s.
    let n = seen.windows.len();
    assert!((2..=4).contains(&n), "{n} windows in 4.3 s");
    // The same samples through the laptop's copy of the loop: the same bytes, window by window.
    let laptop = watch(&model, &running).unwrap();
    // The first window ends after 2 s of samples, then one every second.
    let times: Vec<u32> = laptop.windows.iter().map(|w| w.time_ms).collect();
    let expected: Vec<u32> = (0..times.len() as u32).map(|k| 2_000 + 1_000 * k).collect();
    assert_eq!(times, expected);
    assert_eq!(times.len() as f64, running.seconds() - 1.0);
    for (k, w) in seen.windows.iter().enumerate() {
        assert_eq!(w.outputs, laptop.windows[k].outputs, "window {k}");
        assert_eq!(w.heard, laptop.windows[k].heard, "window {k}");
        if k > 0 {
            assert_eq!(w.time_ms - seen.windows[k - 1].time_ms, 1_000);
        }
    }
    // The held-out person's run is seen as running.
    let labels: Vec<String> = laptop.heard().into_iter().map(|h| h.1).collect();
    let right = labels.iter().filter(|l| *l == "RUNNING").count();
    assert!(2 * right > laptop.windows.len(), "{labels:?}");
    // And the laptop's int8 evaluation of the same model agrees with its float one.
    let report = net.quantization_report(&model, &test).unwrap();
    assert!(report.int8_accuracy > 0.8, "{report:?}");
    answers_like_activity(&mut board, &model);

    // Windows longer than the board's loop takes, and data that does not match the model: clear
    // errors, before anything reaches a board.
    let long = ActivityData::generator()
        .people(2)
        .seconds_per_activity(6)
        .window_seconds(3)
        .generate()
        .unwrap();
    let e = ActivityTrainer::params()
        .progress(false)
        .fit(&long)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at most 128 samples"), "{e}");
    let e = model.predict_activities(&long).unwrap_err().to_string();
    assert!(e.contains("this model takes 100"), "{e}");
}

/// Predict on the board with activity inputs equals the laptop's interpreter.
fn answers_like_activity(board: &mut Board, model: &QuantizedModel) {
    let mut rng = Rng::new(8);
    for _ in 0..10 {
        let x: Vec<i8> = (0..12)
            .map(|_| (rng.index(256) as i32 - 128) as i8)
            .collect();
        assert_eq!(board.predict(&x).unwrap(), model.simulate(&x).unwrap());
    }
}

#[test]
fn cli_trains_an_activity_model_and_monitors_the_simulated_accelerometer() {
    let dir = scratch("cli_watch");
    let (model, csv) = (dir.join("activity.tkm"), dir.join("run.csv"));
    let (model_s, csv_s) = (model.to_str().unwrap(), csv.to_str().unwrap());
    let trained = json(&tinyml(&["activity", "train", "--out", model_s, "--json"]));
    assert!(
        trained["int8_accuracy"].as_f64().unwrap() > 0.8,
        "{trained}"
    );
    let inspect = json(&tinyml(&["inspect", model_s, "--json"]));
    assert_eq!(inspect["front_end"]["kind"], "motion");
    assert_eq!(
        (
            inspect["front_end"]["window"].as_u64(),
            inspect["front_end"]["hop"].as_u64()
        ),
        (Some(100), Some(50))
    );
    // One person running: the simulated accelerometer plays it, the board says what it is.
    let data = ActivityData::course_default();
    let running: Vec<_> = data
        .windows
        .iter()
        .filter(|w| w.person == "P01" && w.label == "RUNNING")
        .cloned()
        .collect();
    ActivityData {
        windows: running,
        ..data
    }
    .save_csv(&csv)
    .unwrap();
    let out = tinyml(&[
        "monitor",
        "--simulate",
        model_s,
        "--imu",
        csv_s,
        "--seconds",
        "4.4",
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let lines: Vec<serde_json::Value> = common::stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!((2..=4).contains(&lines.len()), "{lines:?}");
    let running = lines.iter().filter(|l| l["heard"] == "RUNNING").count();
    assert!(2 * running > lines.len(), "{lines:?}");
    // A keyword sensor for an activity model: a clear refusal.
    let out = tinyml(&[
        "monitor",
        "--simulate",
        model_s,
        "--sensor",
        "mic",
        "--seconds",
        "1",
    ]);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("keyword model"),
        "{}",
        common::stderr(&out)
    );
}

/// A port the user may not open (a pseudo-terminal with its mode taken away; as root, the
/// command runs as `nobody`, since root opens anything): the message names the fix.
#[cfg(target_os = "linux")]
#[test]
fn a_port_without_permission_names_the_dialout_group() {
    use std::os::unix::fs::PermissionsExt;
    let (_host, device) = serialport::TTYPort::pair().expect("a pseudo-terminal");
    let name = serialport::SerialPort::name(&device).expect("the pty's name");
    std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let exe = env!("CARGO_BIN_EXE_tinyml");
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    let out = if root {
        let Some(setpriv) = common::tool("setpriv") else {
            return;
        };
        Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", exe])
            .args(["monitor", "--port", &name])
            .output()
            .expect("setpriv runs")
    } else {
        Command::new(exe)
            .args(["monitor", "--port", &name])
            .output()
            .expect("tinyml runs")
    };
    assert_fails_with(
        &out,
        &["permission denied", "dialout", "log out", "ModemManager"],
    );
}

/// Issue 20's soak: a seeded random sequence of operations against the simulator (deploys,
/// deploys cut at a random chunk, lost and damaged replies, damaged requests, Stop, Run,
/// Stream, Predict, a power cut at a random flash operation, reconnects), checking after every
/// step that the board answers, that its active model is the last one committed, and that no
/// upload or run is left open. `TINYML_SOAK_OPS` sets the length (300 here; the long run in
/// README is 10,000) and `TINYML_SOAK_SEED` the sequence.
#[test]
fn soak_a_random_sequence_of_operations_keeps_the_invariants() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (steps, seed) = (
        env("TINYML_SOAK_OPS", 300) as usize,
        env("TINYML_SOAK_SEED", 1),
    );
    let models = [keyword_model(1), keyword_model(2), keyword_model(3)];
    let by_crc = |crc: u32| models.iter().find(|m| file_crc(m.bytes()) == crc);
    let sim = Simulator::start().expect("simulator");
    let open = || {
        let mut b = Board::open(sim.port()).expect("opens");
        // Short, so that lost replies cost little; long enough for a busy machine.
        b.set_timeout(std::time::Duration::from_millis(500));
        b
    };
    let mut b = open();
    let mut rng = Rng::new(seed);
    let mut active = 0u32;
    let (mut faults, mut checks) = (0usize, 0usize);
    let mut done = [0usize; 10];
    for step in 0..steps {
        let what = rng.index(done.len());
        done[what] += 1;
        let model = &models[rng.index(models.len())];
        let crc = file_crc(model.bytes());
        let bytes = model.bytes();
        match what {
            0 => {
                b.deploy_with(model, false).expect("deploys");
                active = crc;
            }
            // A deploy cut off after a random number of chunks, then a new connection.
            1 => {
                let begin = Request::BeginModel {
                    len: bytes.len() as u32,
                    crc,
                };
                assert_eq!(b.ask_raw(&begin).unwrap().1, 0);
                let cut = rng.index(bytes.len().div_ceil(MAX_CHUNK));
                for (i, c) in bytes.chunks(MAX_CHUNK).take(cut).enumerate() {
                    let chunk = Request::Chunk {
                        offset: (i * MAX_CHUNK) as u32,
                        bytes: c,
                    };
                    assert_eq!(b.ask_raw(&chunk).unwrap().1, 0);
                }
                faults += 1;
                drop(b);
                b = open();
            }
            // Replies lost or damaged on the way back during a deploy.
            2 => {
                let (lost, damaged) = (rng.index(3) as u32, rng.index(2) as u32);
                sim.spoil_replies(rng.index(45) as u32, lost, damaged);
                b.deploy_with(model, false)
                    .expect("deploys despite the cable");
                sim.spoil_replies(0, 0, 0);
                faults += (lost + damaged) as usize;
                active = crc;
            }
            3 => assert_eq!(b.ask_raw(&Request::Stop).unwrap().1, 0),
            4 => {
                let run = Request::Run {
                    sensor: tinyml_core::protocol::sensor::MIC,
                };
                let expected = if active == 0 { 75 } else { 0 };
                assert_eq!(b.ask_raw(&run).unwrap().1, expected, "step {step}");
                assert_eq!(b.ask_raw(&Request::Stop).unwrap().1, 0);
            }
            5 => {
                let stream = Request::Stream {
                    sensor: tinyml_core::protocol::sensor::IMU,
                };
                assert_eq!(b.ask_raw(&stream).unwrap().1, 0);
                assert_eq!(b.ask_raw(&Request::Stop).unwrap().1, 0);
            }
            6 if active != 0 => {
                let x = &inputs(1, rng.next_u64())[0];
                let expected = by_crc(active).expect("a known model").simulate(x).unwrap();
                assert_eq!(b.predict(x).expect("predicts"), expected, "step {step}");
            }
            // The power goes at a random flash operation of a deploy, then comes back.
            7 => {
                sim.power_cut_after(rng.index(80) as u32);
                let deployed = b.deploy_with(model, false).is_ok();
                sim.reset();
                faults += 1;
                drop(b);
                b = open();
                let now = b.info().active_crc;
                assert!(
                    now == crc || (!deployed && now == active),
                    "step {step}: active {now:08x}, deployed {deployed}"
                );
                active = now;
            }
            8 => {
                drop(b);
                b = open();
            }
            // A request damaged on the way to the board.
            9 => {
                let at = rng.index(6);
                let (kind, code) = b
                    .ask_damaged(&Request::Status, |f| f[at.min(f.len() - 1)] ^= 0x21)
                    .expect("answers");
                assert_eq!(kind, tinyml_core::protocol::kind::NAK, "step {step}");
                assert!(code == 64 || code == 65, "step {step}: {code}");
                faults += 1;
            }
            _ => {}
        }
        let status = b.status().unwrap_or_else(|e| panic!("step {step}: {e}"));
        assert_eq!(
            status.active_crc, active,
            "step {step}: the last committed model"
        );
        assert_eq!(status.upload_len, 0, "step {step}: an upload left open");
        assert_eq!(status.state, 0, "step {step}: a run or stream left on");
        checks += 4;
    }
    println!(
        "soak: {steps} operations (seed {seed}; by kind {done:?}), {faults} faults injected, \
         {checks} invariant checks, 0 failures"
    );
}
