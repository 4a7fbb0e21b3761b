//! The board's side of the protocol: requests in, responses out, over the model store and the
//! interpreter. The firmware and the laptop's simulator both run this (the firmware adds the
//! USB port, the flash driver, the sensors and the LED around it).

use crate::limits::Limits;
use crate::listen::{ListenError, Window, MAX_CLASSES};
use crate::model::{Kernels, Model, ModelError, OP_SET};
use crate::protocol::{
    decode_frame, encode_response, kind, sensor, Info, ProtocolError, Request, Response, Status,
    MAX_BODY, MAX_PACKET,
};
use crate::store::{Flash, Store};

/// Firmware version `[major, minor, patch]`.
pub const FIRMWARE_VERSION: [u8; 3] = [0, 2, 0];

/// What the board is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for requests.
    Idle,
    /// Running the model on a sensor.
    Running(u8),
    /// Streaming a sensor's samples.
    Streaming(u8),
}

/// What the board says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    /// 0 unknown or simulator, 1 or 2 (Nano 33 BLE Sense revisions).
    pub revision: u8,
    /// True for the laptop's simulator.
    pub simulated: bool,
    /// Bytes of RAM for the arena.
    pub arena_ram: usize,
    /// Whether the microphone works (Run and Stream on it). Without it both are refused with
    /// `BadSensor`, so that nobody waits for predictions that never come.
    pub microphone: bool,
    /// Whether the IMU's accelerometer works (Stream on it, and Run with an activity model).
    pub imu: bool,
}

/// The protocol handler.
#[derive(Debug)]
pub struct Handler<F: Flash> {
    store: Store<F>,
    board: Board,
    state: State,
}

impl<F: Flash> Handler<F> {
    /// A handler over `store` for `board`.
    pub fn new(store: Store<F>, board: Board) -> Self {
        Handler {
            store,
            board,
            state: State::Idle,
        }
    }

    /// The model store.
    pub fn store(&self) -> &Store<F> {
        &self.store
    }

    /// The model store, mutably (the simulator injects faults through it).
    pub fn store_mut(&mut self) -> &mut Store<F> {
        &mut self.store
    }

    /// Takes the store back (a simulated reset).
    pub fn into_store(self) -> Store<F> {
        self.store
    }

    /// What the board is doing.
    pub fn state(&self) -> State {
        self.state
    }

    /// The active model (the store checked all of it when it became active).
    pub fn model(&self) -> Option<Model<'_>> {
        self.store
            .active_bytes()
            .and_then(|b| Model::parse_stored(b).ok())
    }

    /// Handles one frame as [`crate::protocol::FrameReader::push`] gives it (the bytes before
    /// a zero, or why there are none: a frame too long is answered like a damaged one) and
    /// writes the response frame (with its trailing zero) into `out` (at least
    /// [`crate::protocol::MAX_FRAME`] bytes); gives its length. `arena` is the interpreter's
    /// arena (the board's RAM budget).
    pub fn handle_frame(
        &mut self,
        frame: Result<&[u8], ProtocolError>,
        arena: &mut [i8],
        out: &mut [u8],
    ) -> usize {
        let mut packet = [0u8; MAX_PACKET];
        let mut body_out = [0u8; MAX_BODY];
        let (response, seq) = match frame.and_then(|f| decode_frame(f, &mut packet)) {
            Err(e) => (
                Response::Nak {
                    of: 0,
                    code: e.code(),
                    detail: 0,
                },
                0,
            ),
            Ok(p) => {
                let response = match Request::parse(p.kind, p.body) {
                    Ok(request) => self.handle(&request, arena, &mut body_out),
                    Err(e) => Response::Nak {
                        of: p.kind,
                        code: e.code(),
                        detail: 0,
                    },
                };
                (response, p.seq)
            }
        };
        encode_response(&response, seq, out).unwrap_or(0)
    }

    /// Answers one request; `body` holds the bytes an Output response borrows.
    pub fn handle<'b>(
        &mut self,
        request: &Request,
        arena: &mut [i8],
        body: &'b mut [u8],
    ) -> Response<'b> {
        let of = request.kind();
        let nak = |code: u8, detail: u32| Response::Nak { of, code, detail };
        let ack = |value: u32| Response::Ack { of, value };
        let busy = !matches!(self.state, State::Idle);
        match *request {
            Request::Hello => Response::Info(self.info()),
            Request::Status => Response::Status(self.status()),
            Request::BeginModel { len, crc } => {
                if busy {
                    return nak(ProtocolError::Busy.code(), 0);
                }
                match self.store.begin(len, crc) {
                    Ok(()) => ack(0),
                    Err(e) => nak(e.code(), self.store.slot_size() as u32),
                }
            }
            Request::Chunk { offset, bytes } => match self.store.chunk(offset, bytes) {
                Ok(received) => ack(received),
                Err(crate::store::StoreError::WrongOffset { expected }) => {
                    nak(ProtocolError::WrongOffset.code(), expected)
                }
                Err(e) => nak(e.code(), self.store.upload().map_or(0, |u| u.received)),
            },
            // Features beyond the board's tables are refused here, in every build (the
            // simulator too), and the active model stays. The host checks the budgets and
            // limits before sending; a model needing more arena than the board has is still
            // refused at the first Predict or Run (ArenaTooSmall).
            Request::Commit => match self
                .store
                .commit_if(|m| Limits::BOARD.check(m).map_err(|_| ModelError::BadFrontEnd))
            {
                Ok(record) => ack(record.crc),
                Err(e) => nak(e.code(), 0),
            },
            Request::Predict { input } => {
                let Some(model) = self.model() else {
                    return nak(ProtocolError::NoModel.code(), 0);
                };
                if let Some(needed) = self.arena_shortfall(model.arena_bytes(), arena) {
                    return nak(ProtocolError::ArenaTooSmall.code(), needed);
                }
                let n_in = model.input().len();
                if input.len() != n_in {
                    return nak(ProtocolError::WrongInputSize.code(), n_in as u32);
                }
                let n_out = model.output().len();
                let mut x = [0i8; MAX_BODY];
                for (d, &s) in x.iter_mut().zip(input) {
                    *d = s as i8;
                }
                let mut y = [0i8; MAX_BODY];
                if n_out > y.len() {
                    return nak(ProtocolError::WrongInputSize.code(), n_out as u32);
                }
                // The model's own bytes only: a Run's clip lives after them.
                let arena = &mut arena[..model.arena_bytes()];
                match model.invoke(arena, &x[..n_in], &mut y[..n_out], Kernels::Optimized) {
                    Ok(()) => {
                        for (d, &s) in body.iter_mut().zip(&y[..n_out]) {
                            *d = s as u8;
                        }
                        Response::Output {
                            output: &body[..n_out],
                        }
                    }
                    Err(e) => nak(e.code(), 0),
                }
            }
            Request::Run { sensor: s } | Request::Stream { sensor: s } => {
                let present = match s {
                    sensor::MIC => self.board.microphone,
                    sensor::IMU => self.board.imu,
                    _ => false,
                };
                if !present {
                    return nak(ProtocolError::BadSensor.code(), s as u32);
                }
                if self.store.upload().is_some() {
                    return nak(ProtocolError::Busy.code(), 0);
                }
                if of == kind::RUN {
                    let Some(model) = self.model() else {
                        return nak(ProtocolError::NoModel.code(), 0);
                    };
                    if let Some(needed) = self.arena_shortfall(model.arena_bytes(), arena) {
                        return nak(ProtocolError::ArenaTooSmall.code(), needed);
                    }
                    // The microphone loop needs a keyword model (MFCC of a 16 kHz clip), and
                    // room for the clip after the model's arena; the accelerometer loop an
                    // activity model (features of a 50 Hz window).
                    let needed = if s == sensor::MIC {
                        crate::listen::keyword_arena_bytes(&model)
                    } else {
                        crate::motion::activity_front_end(&model).map(|_| model.arena_bytes())
                    };
                    let needed = match needed {
                        Ok(needed) => needed,
                        Err(e) => return nak(e.code(), s as u32),
                    };
                    if let Some(needed) = self.arena_shortfall(needed, arena) {
                        return nak(ProtocolError::ArenaTooSmall.code(), needed);
                    }
                    self.state = State::Running(s);
                } else {
                    self.state = State::Streaming(s);
                }
                ack(0)
            }
            // Stop ends a run or a stream, and abandons an upload left open (a deploy cut off
            // by Ctrl-C or a cable), which would otherwise refuse Run and Stream as Busy until
            // a reset. The laptop sends it on every connection.
            Request::Stop => {
                self.store.abandon();
                self.state = State::Idle;
                ack(0)
            }
        }
    }

    /// A sensor loop could not start or run a window (features that cannot be planned, an
    /// inference that failed): the run stops, and this Nak of Run (`detail`: the sensor) is the
    /// message to send unasked, so that the laptop shows why instead of waiting.
    pub fn loop_failed(&mut self, code: u8) -> Response<'static> {
        let sensor = match self.state {
            State::Running(s) => s,
            _ => 0,
        };
        self.state = State::Idle;
        Response::Nak {
            of: kind::RUN,
            code,
            detail: sensor as u32,
        }
    }

    /// What a sensor loop's window sends: its Prediction (raw outputs `scores`, copied into
    /// `bytes`), or, when it failed, the Nak that stops the run ([`Handler::loop_failed`]). The
    /// board and the simulator both send this.
    pub fn window_message<'b>(
        &mut self,
        window: Result<Window, ListenError>,
        scores: &[i8],
        bytes: &'b mut [u8; MAX_CLASSES],
    ) -> Response<'b> {
        match window {
            Ok(window) => window.prediction(scores, bytes),
            Err(e) => self.loop_failed(e.code()),
        }
    }

    /// `needed` arena bytes, when `arena` (or the board's budget) is smaller.
    fn arena_shortfall(&self, needed: usize, arena: &[i8]) -> Option<u32> {
        (needed > arena.len().min(self.board.arena_ram)).then_some(needed as u32)
    }

    /// The Info response.
    pub fn info(&self) -> Info {
        let active = self.store.active();
        Info {
            protocol: crate::protocol::VERSION,
            firmware: FIRMWARE_VERSION,
            board_revision: self.board.revision,
            simulated: self.board.simulated as u8,
            model_flash: self.store.slot_size() as u32,
            arena_ram: self.board.arena_ram as u32,
            op_set: OP_SET.iter().fold(0u32, |m, op| m | 1 << (*op as u8)),
            active_len: active.map_or(0, |r| r.len),
            active_crc: active.map_or(0, |r| r.crc),
        }
    }

    /// The Status response.
    pub fn status(&self) -> Status {
        let active = self.store.active();
        let upload = self.store.upload();
        Status {
            state: match self.state {
                State::Idle if upload.is_some() => 1,
                State::Idle => 0,
                State::Running(_) => 2,
                State::Streaming(_) => 3,
            },
            active_len: active.map_or(0, |r| r.len),
            active_crc: active.map_or(0, |r| r.crc),
            upload_len: upload.map_or(0, |u| u.len),
            upload_received: upload.map_or(0, |u| u.received),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{encode_request, Packet, MAX_CHUNK, MAX_FRAME};
    use crate::store::RamFlash;

    const PAGE: usize = 1024;
    const SLOT: usize = 8 * 1024;
    const REGION: usize = 2 * SLOT + 2 * PAGE;
    type Sim = RamFlash<[u8; REGION]>;
    const MODEL: &[u8] = include_bytes!("../../../crate/tests/data/every-op.tkm");
    const BOARD: Board = Board {
        revision: 0,
        simulated: true,
        arena_ram: 4096,
        microphone: true,
        imu: true,
    };

    struct Session {
        handler: Handler<Sim>,
        arena: [i8; 4096],
        seq: u16,
    }

    impl Session {
        fn new() -> Session {
            Session {
                handler: Handler::new(Store::open(Sim::new([0; REGION], PAGE), SLOT), BOARD),
                arena: [0; 4096],
                seq: 0,
            }
        }

        /// Sends `request` as a frame (with `damage` applied to the frame) and decodes the
        /// reply into `buf`.
        fn ask<'b>(
            &mut self,
            request: &Request,
            damage: impl Fn(&mut [u8]),
            buf: &'b mut [u8; MAX_PACKET],
        ) -> (Packet<'b>, u16) {
            self.seq = self.seq.wrapping_add(1);
            let mut frame = [0u8; MAX_FRAME];
            let n = encode_request(request, self.seq, &mut frame).unwrap();
            damage(&mut frame[..n - 1]);
            let mut out = [0u8; MAX_FRAME];
            let m = self
                .handler
                .handle_frame(Ok(&frame[..n - 1]), &mut self.arena, &mut out);
            assert_eq!(out[m - 1], 0);
            (decode_frame(&out[..m - 1], buf).unwrap(), self.seq)
        }

        fn reply<'b>(&mut self, request: &Request, buf: &'b mut [u8; MAX_PACKET]) -> Response<'b> {
            let (p, seq) = self.ask(request, |_| {}, buf);
            assert_eq!(
                p.seq, seq,
                "the reply carries the request's sequence number"
            );
            Response::parse(p.kind, p.body).unwrap()
        }

        fn deploy(&mut self, model: &[u8]) -> Response<'static> {
            let mut buf = [0u8; MAX_PACKET];
            let begin = Request::BeginModel {
                len: model.len() as u32,
                crc: crate::model::file_crc(model),
            };
            assert!(matches!(self.reply(&begin, &mut buf), Response::Ack { .. }));
            for (i, c) in model.chunks(MAX_CHUNK).enumerate() {
                let r = self.reply(
                    &Request::Chunk {
                        offset: (i * MAX_CHUNK) as u32,
                        bytes: c,
                    },
                    &mut buf,
                );
                assert_eq!(
                    r,
                    Response::Ack {
                        of: kind::CHUNK,
                        value: (i * MAX_CHUNK + c.len()) as u32
                    }
                );
            }
            match self.reply(&Request::Commit, &mut buf) {
                Response::Ack { of, value } => Response::Ack { of, value },
                Response::Nak { of, code, detail } => Response::Nak { of, code, detail },
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn hello_deploy_predict() {
        let mut s = Session::new();
        let mut buf = [0u8; MAX_PACKET];
        let Response::Info(info) = s.reply(&Request::Hello, &mut buf) else {
            panic!("no info")
        };
        assert_eq!(
            (info.active_len, info.model_flash, info.simulated),
            (0, SLOT as u32, 1)
        );
        assert_eq!(info.op_set, 0b1_1111_1110);
        let input = [5u8; 160];
        assert_eq!(
            s.reply(&Request::Predict { input: &input }, &mut buf),
            Response::Nak {
                of: kind::PREDICT,
                code: ProtocolError::NoModel.code(),
                detail: 0
            }
        );
        let crc = crate::model::file_crc(MODEL);
        assert_eq!(
            s.deploy(MODEL),
            Response::Ack {
                of: kind::COMMIT,
                value: crc
            }
        );
        // The board's answer is the interpreter's, byte for byte.
        let model = Model::parse(MODEL).unwrap();
        let mut arena = [0i8; 4096];
        let x = [5i8; 160];
        let mut y = [0i8; 4];
        model
            .invoke(&mut arena, &x, &mut y, Kernels::Reference)
            .unwrap();
        let Response::Output { output } = s.reply(&Request::Predict { input: &input }, &mut buf)
        else {
            panic!("no output")
        };
        assert_eq!(output, y.map(|v| v as u8));
        assert_eq!(
            s.reply(&Request::Predict { input: &input[1..] }, &mut buf),
            Response::Nak {
                of: kind::PREDICT,
                code: ProtocolError::WrongInputSize.code(),
                detail: 160
            }
        );
        let Response::Status(st) = s.reply(&Request::Status, &mut buf) else {
            panic!()
        };
        assert_eq!((st.state, st.active_crc), (0, crc));
    }

    #[test]
    fn damaged_and_unknown_requests_are_naks() {
        let mut s = Session::new();
        let mut buf = [0u8; MAX_PACKET];
        let (p, _) = s.ask(&Request::Hello, |f| f[2] ^= 0x40, &mut buf);
        assert_eq!(p.seq, 0);
        assert_eq!(
            Response::parse(p.kind, p.body).unwrap(),
            Response::Nak {
                of: 0,
                code: ProtocolError::BadCrc.code(),
                detail: 0
            }
        );
        let mut buf = [0u8; MAX_PACKET];
        assert!(matches!(
            s.reply(&Request::Run { sensor: 9 }, &mut buf),
            Response::Nak { code: 77, .. }
        ));
        assert!(matches!(
            s.reply(
                &Request::Run {
                    sensor: sensor::MIC
                },
                &mut buf
            ),
            Response::Nak { code: 75, .. }
        ));
        assert!(matches!(
            s.reply(
                &Request::Chunk {
                    offset: 0,
                    bytes: &[1]
                },
                &mut buf
            ),
            Response::Nak { code: 69, .. }
        ));
        assert!(matches!(
            s.reply(&Request::Commit, &mut buf),
            Response::Nak { code: 69, .. }
        ));
    }

    #[test]
    fn sensors_need_a_model_that_takes_them() {
        let mut s = Session::new();
        let mut buf = [0u8; MAX_PACKET];
        s.deploy(MODEL);
        let run = |sensor| Request::Run { sensor };
        let bad_sensor = |sensor| Response::Nak {
            of: kind::RUN,
            code: ProtocolError::BadSensor.code(),
            detail: sensor as u32,
        };
        // This model takes 160 values: neither a second of audio nor an accelerometer window.
        assert_eq!(
            s.reply(&run(sensor::MIC), &mut buf),
            bad_sensor(sensor::MIC)
        );
        assert_eq!(
            s.reply(&run(sensor::IMU), &mut buf),
            bad_sensor(sensor::IMU)
        );
        assert_eq!(s.handler.state(), State::Idle);
        // Streaming works without a model, and Stop ends it.
        let stream = Request::Stream {
            sensor: sensor::IMU,
        };
        assert!(matches!(s.reply(&stream, &mut buf), Response::Ack { .. }));
        assert_eq!(s.handler.state(), State::Streaming(sensor::IMU));
        assert!(matches!(
            s.reply(&Request::BeginModel { len: 10, crc: 0 }, &mut buf),
            Response::Nak { code: 78, .. }
        ));
        assert!(matches!(
            s.reply(&Request::Stop, &mut buf),
            Response::Ack { .. }
        ));
        assert_eq!(s.handler.state(), State::Idle);
        // A board without sensors refuses both.
        s.handler.board.microphone = false;
        s.handler.board.imu = false;
        let stream = |sensor| Request::Stream { sensor };
        for sensor in [sensor::MIC, sensor::IMU] {
            assert!(matches!(
                s.reply(&stream(sensor), &mut buf),
                Response::Nak { code: 77, .. }
            ));
        }
    }

    #[test]
    fn stop_abandons_an_upload_left_open() {
        let mut s = Session::new();
        let mut buf = [0u8; MAX_PACKET];
        s.deploy(MODEL);
        // An upload cut off after its first chunk (Ctrl-C during a deploy).
        let begin = Request::BeginModel {
            len: MODEL.len() as u32,
            crc: crate::model::file_crc(MODEL),
        };
        assert!(matches!(s.reply(&begin, &mut buf), Response::Ack { .. }));
        let chunk = Request::Chunk {
            offset: 0,
            bytes: &MODEL[..MAX_CHUNK],
        };
        assert!(matches!(s.reply(&chunk, &mut buf), Response::Ack { .. }));
        let stream = Request::Stream {
            sensor: sensor::IMU,
        };
        assert!(matches!(
            s.reply(&stream, &mut buf),
            Response::Nak { code: 78, .. }
        ));
        assert_eq!(s.handler.status().state, 1);
        // Stop drops it: streaming works again, and the model that was active still answers.
        assert!(matches!(
            s.reply(&Request::Stop, &mut buf),
            Response::Ack { .. }
        ));
        assert_eq!(s.handler.status().state, 0);
        assert_eq!(s.handler.status().upload_len, 0);
        assert!(matches!(s.reply(&stream, &mut buf), Response::Ack { .. }));
        assert!(matches!(
            s.reply(&Request::Stop, &mut buf),
            Response::Ack { .. }
        ));
        let predict = Request::Predict { input: &[0; 160] };
        assert!(matches!(
            s.reply(&predict, &mut buf),
            Response::Output { .. }
        ));
        // A chunk of the abandoned upload is refused; a new upload goes through.
        assert!(matches!(s.reply(&chunk, &mut buf), Response::Nak { .. }));
        assert!(matches!(s.deploy(MODEL), Response::Ack { .. }));
    }

    #[test]
    fn run_checks_the_arena_as_predict_does() {
        let mut s = Session::new();
        let mut buf = [0u8; MAX_PACKET];
        s.deploy(MODEL);
        let needed = Model::parse(MODEL).unwrap().arena_bytes();
        s.handler.board.arena_ram = needed - 1;
        let too_small = |of| Response::Nak {
            of,
            code: ProtocolError::ArenaTooSmall.code(),
            detail: needed as u32,
        };
        let run = Request::Run {
            sensor: sensor::MIC,
        };
        assert_eq!(s.reply(&run, &mut buf), too_small(kind::RUN));
        let predict = Request::Predict { input: &[0; 160] };
        assert_eq!(s.reply(&predict, &mut buf), too_small(kind::PREDICT));
        assert_eq!(s.handler.state(), State::Idle);
    }

    #[test]
    fn a_window_that_fails_stops_the_run_with_a_nak_of_run() {
        let mut s = Session::new();
        let mut bytes = [0u8; MAX_CLASSES];
        s.handler.state = State::Running(sensor::MIC);
        let window = Window {
            time_ms: 250,
            outputs: 2,
            heard: None,
        };
        assert!(matches!(
            s.handler.window_message(Ok(window), &[1, -1], &mut bytes),
            Response::Prediction { .. }
        ));
        assert_eq!(s.handler.state(), State::Running(sensor::MIC));
        let failed = Err(ListenError::Model(ModelError::ArenaTooSmall));
        assert_eq!(
            s.handler.window_message(failed, &[], &mut bytes),
            Response::Nak {
                of: kind::RUN,
                code: ModelError::ArenaTooSmall.code(),
                detail: sensor::MIC as u32,
            }
        );
        assert_eq!(s.handler.state(), State::Idle);
    }

    #[test]
    fn out_of_order_chunks_say_where_to_resume() {
        let mut s = Session::new();
        let mut buf = [0u8; MAX_PACKET];
        let begin = Request::BeginModel {
            len: MODEL.len() as u32,
            crc: crate::model::file_crc(MODEL),
        };
        s.reply(&begin, &mut buf);
        s.reply(
            &Request::Chunk {
                offset: 0,
                bytes: &MODEL[..512],
            },
            &mut buf,
        );
        let mut buf = [0u8; MAX_PACKET];
        // Again (a retry after a lost Ack), and one skipped ahead.
        for offset in [0usize, 1024] {
            assert_eq!(
                s.reply(
                    &Request::Chunk {
                        offset: offset as u32,
                        bytes: &MODEL[offset..offset + 512]
                    },
                    &mut buf
                ),
                Response::Nak {
                    of: kind::CHUNK,
                    code: ProtocolError::WrongOffset.code(),
                    detail: 512
                }
            );
        }
        // While receiving, Run is refused.
        assert!(matches!(
            s.reply(
                &Request::Run {
                    sensor: sensor::MIC
                },
                &mut buf
            ),
            Response::Nak { code: 78, .. }
        ));
    }
}
