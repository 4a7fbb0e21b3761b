//! The board from the laptop: find it, deploy a model over USB serial, ask for predictions; and
//! the simulator, which runs the board's protocol handler, model store and interpreter
//! (`tinyml-core`) behind a pseudo-terminal, so every command works without a board.
//!
//! ```no_run
//! use tinyml_kit::device::{Board, Simulator};
//! # fn main() -> tinyml_kit::error::Result<()> {
//! # let model: tinyml_kit::quantize::QuantizedModel = unimplemented!();
//! let sim = Simulator::start()?;              // or Board::open_auto()? with a real board
//! let mut board = Board::open(sim.port())?;
//! board.deploy(&model)?;
//! let outputs = board.predict(&model.quantize_input(&[0.0; 637])?)?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::{SerialPort, SerialPortType};
use tinyml_core::handler::{Board as BoardInfo, Handler, State};
use tinyml_core::imu::mg_to_g;
use tinyml_core::limits::Limits;
use tinyml_core::listen::{
    keyword_arena_bytes, next_window, probability, ListenError, Listener, Recognizer,
    RecognizerConfig, SensorLoop, BACKGROUND_LABELS, MAX_CLASSES,
};
use tinyml_core::mfcc::pcm16_to_f32;
use tinyml_core::model::{Budget, ModelError, Tensor};
use tinyml_core::motion::MotionListener;
use tinyml_core::protocol::{
    decode_frame, encode_request, encode_response, kind, samples_le, sensor, FrameReader, Info,
    ProtocolError, Request, Response, Status, MAX_BODY, MAX_CHUNK, MAX_FRAME, MAX_PACKET,
};
use tinyml_core::store::{RamFlash, Store};

use crate::activity::ActivityData;
use crate::audio::Audio;
use crate::error::{Error, Result};
use crate::kws::KeywordData;
use crate::plot::{Figure, Table};
use crate::quantize::QuantizedModel;

/// Arduino's USB vendor id.
pub const ARDUINO_VID: u16 = 0x2341;
/// USB product ids of the Nano 33 BLE (Sense): the running sketch, and the bootloader.
pub const NANO_33_BLE_PIDS: [u16; 2] = [0x805A, 0x005A];
/// How long to wait for an answer.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts per request when frames are damaged on the way.
const ATTEMPTS: usize = 3;
/// Requests a deploy sends again, in all, after a reply that was lost or damaged or a board
/// that asked to resume elsewhere.
const DEPLOY_RETRIES: usize = 20;
/// The microphone's rate (the board's PDM microphone, the keyword features).
pub const MIC_RATE_HZ: u32 = tinyml_core::listen::MIC_SAMPLE_RATE_HZ;
/// The accelerometer's rate when streaming.
pub const IMU_RATE_HZ: u32 = sensor::IMU_RATE_HZ;

/// A serial port the computer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// The name to open (`/dev/ttyACM0`, `COM3`, …).
    pub name: String,
    /// What the system says about it.
    pub description: String,
    /// True for an Arduino Nano 33 BLE (Sense), by its USB ids.
    pub is_nano: bool,
    /// True when it is in its bootloader (after a double tap on reset).
    pub bootloader: bool,
}

/// The serial ports, Nanos first.
pub fn ports() -> Result<Vec<PortInfo>> {
    let found = serialport::available_ports()
        .map_err(|e| Error::Device(format!("cannot list serial ports: {e}")))?;
    let mut ports: Vec<PortInfo> = found
        .into_iter()
        .map(|p| match p.port_type {
            SerialPortType::UsbPort(usb) => {
                let is_nano = usb.vid == ARDUINO_VID && NANO_33_BLE_PIDS.contains(&usb.pid);
                PortInfo {
                    name: p.port_name,
                    description: format!(
                        "USB {:04x}:{:04x} {}",
                        usb.vid,
                        usb.pid,
                        usb.product.unwrap_or_default()
                    ),
                    is_nano,
                    bootloader: is_nano && usb.pid == NANO_33_BLE_PIDS[1],
                }
            }
            other => PortInfo {
                name: p.port_name,
                description: format!("{other:?}"),
                is_nano: false,
                bootloader: false,
            },
        })
        .collect();
    ports.sort_by_key(|p| !p.is_nano);
    Ok(ports)
}

/// A message a board sent, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reply {
    kind: u8,
    seq: u16,
    body: Vec<u8>,
}

/// The Status a reply carries.
fn status_of(reply: &Reply) -> Result<Status> {
    match Response::parse(reply.kind, &reply.body) {
        Ok(Response::Status(s)) => Ok(s),
        _ => Err(Error::Device("an unexpected answer to Status".into())),
    }
}

/// A board (or the simulator) on a serial port.
pub struct Board {
    port: Box<dyn Link>,
    name: String,
    reader: FrameReader,
    /// Bytes read but not yet given to `reader` (a read can hold several frames).
    inbox: Vec<u8>,
    inbox_at: usize,
    seq: u16,
    info: Info,
    /// How long to wait for a reply ([`TIMEOUT`]; tests shorten it).
    timeout: Duration,
    /// A Nak of Run the board sent unasked (its loop failed) while a reply was awaited.
    loop_failure: Option<String>,
    /// The labels of the model the board runs, when known (after `deploy` or `use_model`).
    labels: Option<Vec<String>>,
    /// Its output tensor (what turns raw outputs into probabilities).
    output: Tensor,
    /// Its recognizer's settings and window length, as the board derives them from the model
    /// (the course's one-second keyword model's until a model is known).
    recognizer: RecognizerConfig,
    window_ms: u32,
    /// The simulator this board is, when [`Board::connect`] found no board and started one
    /// (last: the port closes before the simulator stops).
    simulator: Option<Simulator>,
}

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Board")
            .field("port", &self.name)
            .field("info", &self.info)
            .finish()
    }
}

/// What a deploy did.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployReport {
    /// Bytes sent.
    pub bytes: usize,
    /// CRC-32 the board confirmed.
    pub crc: u32,
    /// Chunks sent again (after a damaged frame or a lost answer).
    pub retries: usize,
    /// Seconds it took.
    pub seconds: f64,
}

/// What a Nak means for the person at the laptop, and what to do.
fn nak_message(of: u8, code: u8, detail: u32) -> String {
    use ProtocolError as P;
    let what = match (ModelError::from_code(code), ProtocolError::from_code(code)) {
        (Some(e), _) => format!(
            "the board's model loader refused the model: {}",
            e.message()
        ),
        (_, Some(P::BadFrame)) => "a frame arrived damaged".into(),
        (_, Some(P::BadCrc)) => "a frame arrived with a wrong checksum (a noisy cable?)".into(),
        (_, Some(P::UnsupportedVersion)) => {
            "the board speaks another protocol version: update the firmware (`tinyml flash`)".into()
        }
        (_, Some(P::UnknownMessage)) => {
            "the board does not know this request: update the firmware (`tinyml flash`)".into()
        }
        (_, Some(P::BadLength)) => "a message of the wrong length".into(),
        (_, Some(P::NoUpload)) => "no upload in progress".into(),
        (_, Some(P::WrongOffset)) => format!("the board expected the bytes at offset {detail}"),
        (_, Some(P::ModelTooLarge)) => {
            format!("the model does not fit the board's model slot ({detail} bytes)")
        }
        (_, Some(P::UploadIncomplete)) => "the upload was not complete".into(),
        (_, Some(P::CrcMismatch)) => {
            "the model arrived damaged (its CRC does not match): deploy again".into()
        }
        (_, Some(P::FlashError)) => {
            "the board could not write its flash: reset it and deploy again".into()
        }
        (_, Some(P::NoModel)) => "the board has no model yet: deploy one first".into(),
        (_, Some(P::WrongInputSize)) => format!("the model takes {detail} input values"),
        (_, Some(P::BadSensor)) if of == kind::RUN && detail == sensor::MIC as u32 => {
            "the model on the board does not take the microphone: deploy a keyword model \
             (MFCC of a 16 kHz clip); an activity model runs on the accelerometer instead \
             (`board.watch`, `tinyml monitor --sensor imu`)"
                .into()
        }
        (_, Some(P::BadSensor)) if of == kind::RUN && detail == sensor::IMU as u32 => {
            "the board cannot run its model on the accelerometer: that needs an activity model \
             (`ActivityNetwork`: windows of at most 128 samples at 50 Hz; a keyword model \
             listens instead, `board.listen`) and an IMU that started (if the model is one, \
             press reset and try again)"
                .into()
        }
        (_, Some(P::BadSensor)) if detail == sensor::IMU as u32 => {
            "the board's IMU did not start (or the board has none): press reset and try again"
                .into()
        }
        (_, Some(P::BadSensor)) => "no such sensor on this board".into(),
        (_, Some(P::Busy)) => "the board is busy (running or streaming): stop it first".into(),
        (_, Some(P::ArenaTooSmall)) => {
            format!(
                "the model needs {detail} bytes of arena (with the clip it listens to, for the \
                 microphone), more than the board has"
            )
        }
        (None, None) => format!("error {code}"),
    };
    format!("{what} (request 0x{of:02x}, error {code})")
}

/// What to do when serial port `name` does not open.
fn open_error(name: &str, e: &serialport::Error) -> String {
    use serialport::ErrorKind;
    match e.kind() {
        ErrorKind::Io(std::io::ErrorKind::PermissionDenied) if cfg!(target_os = "linux") => {
            format!(
                "cannot open {name}: permission denied. On Linux a serial port belongs to the \
                 `dialout` group: add yourself with `sudo usermod -aG dialout $USER`, then log \
                 out and in again (Arch and Fedora may call the group `uucp`). If it still says \
                 this right after plugging the board in, ModemManager may be probing the port: \
                 wait a few seconds, or `sudo systemctl stop ModemManager`"
            )
        }
        ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => format!(
            "cannot open {name}: permission denied. Another program (the Arduino IDE's serial \
             monitor, another notebook) may have it open: close it and try again"
        ),
        ErrorKind::NoDevice | ErrorKind::Io(std::io::ErrorKind::NotFound) => format!(
            "cannot open {name}: no such port. Is the board plugged in? `tinyml ports` lists the \
             ports"
        ),
        _ => format!(
            "cannot open {name}: {e}. Is the board plugged in (`tinyml ports` lists the ports), \
             or is another program (a serial monitor) using it?"
        ),
    }
}

/// What the laptop talks to a board over: a serial port, or the simulator's local socket.
trait Link: Read + Write + Send {}

impl<T: Read + Write + Send> Link for T {}

/// How the name of a simulator reached over a local socket starts:
/// `tcp://127.0.0.1:PORT/TOKEN` ([`Simulator::start_tcp`]).
pub const SIMULATOR_SOCKET_SCHEME: &str = "tcp://";

/// Connects to a simulator's local socket named `tcp://127.0.0.1:PORT/TOKEN` and gives its token.
fn connect_simulator(name: &str) -> Result<std::net::TcpStream> {
    let bad = || {
        Error::Device(format!(
            "{name}: not a simulator's address (tcp://127.0.0.1:PORT/TOKEN, as the simulator prints it)"
        ))
    };
    let rest = name.strip_prefix(SIMULATOR_SOCKET_SCHEME).ok_or_else(bad)?;
    let (address, token) = rest.split_once('/').ok_or_else(bad)?;
    let address: std::net::SocketAddr = address.parse().map_err(|_| bad())?;
    if !address.ip().is_loopback() || token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(bad());
    }
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2))
        .map_err(|e| {
            Error::Device(format!(
                "cannot reach the simulator at {address}: {e}. Is it still running?"
            ))
        })?;
    let setup = |e: std::io::Error| Error::Device(format!("{address}: {e}"));
    stream.set_nodelay(true).map_err(setup)?;
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(setup)?;
    stream
        .write_all(format!("{token}\n").as_bytes())
        .map_err(setup)?;
    Ok(stream)
}

/// Whether a read with a timeout ended without data rather than failed: a serial port's
/// timeout, a socket's (`WouldBlock` on Unix, `TimedOut` on Windows), or a signal.
fn no_data_yet(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::Interrupted
    )
}

/// Longest token a simulator's socket accepts, in bytes.
const MAX_TOKEN_BYTES: usize = 64;

impl Board {
    /// Opens the board on serial port `name` (or the simulator's address) and says hello.
    pub fn open(name: &str) -> Result<Board> {
        if name.starts_with(SIMULATOR_SOCKET_SCHEME) {
            let stream = connect_simulator(name)?;
            return Board::from_link(Box::new(stream), name);
        }
        let port = serialport::new(name, 115_200)
            .timeout(Duration::from_millis(50))
            .open()
            .map_err(|e| Error::Device(open_error(name, &e)))?;
        Board::from_port(port, name)
    }

    /// The first Arduino Nano 33 BLE found, or a clear error.
    pub fn open_auto() -> Result<Board> {
        let ports = ports()?;
        match ports.iter().find(|p| p.is_nano && !p.bootloader) {
            Some(p) => Board::open(&p.name),
            None if ports.iter().any(|p| p.bootloader) => Err(Error::Device(
                "the Nano is in its bootloader (its LED pulses): flash the firmware with \
                 `tinyml flash`, or press reset once"
                    .into(),
            )),
            None => Err(Error::Device(format!(
                "no Arduino Nano 33 BLE found ({} serial port(s): {}). Plug it in with a data \
                 USB cable, or use the simulator: `tinyml simulate` (in a notebook: \
                 `Simulator::start()?`)",
                ports.len(),
                ports
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The board plugged in if there is one ([`Board::open_auto`]), else a simulator started
    /// for it; says which. The simulator lives as long as the returned board; its sensors are
    /// fed with [`Board::simulate_sound`] and [`Board::simulate_movement`].
    pub fn connect() -> Result<Board> {
        match Board::open_auto() {
            Ok(board) => {
                println!("using the board: {}", board.summary());
                Ok(board)
            }
            Err(why) => {
                println!("{why}\n→ using the simulator");
                let simulator = Simulator::start()?;
                let mut board = Board::open(simulator.port())?;
                board.simulator = Some(simulator);
                Ok(board)
            }
        }
    }

    /// What the simulated microphone hears (see [`Simulator::play`]), when this board is the
    /// simulator [`Board::connect`] started; a real board hears the room, so nothing happens.
    pub fn simulate_sound(&self, audio: &Audio) -> Result<()> {
        match &self.simulator {
            Some(sim) => sim.play(audio),
            None => Ok(()),
        }
    }

    /// What the simulated accelerometer feels (see [`Simulator::play_imu`]), when this board is
    /// the simulator [`Board::connect`] started; a real board feels its own movement.
    pub fn simulate_movement(&self, recording: &ImuRecording) -> Result<()> {
        match &self.simulator {
            Some(sim) => sim.play_imu(recording),
            None => Ok(()),
        }
    }

    /// A board on an open port (for example one end of a pseudo-terminal).
    pub fn from_port(port: Box<dyn SerialPort>, name: &str) -> Result<Board> {
        Board::from_link(Box::new(port), name)
    }

    fn from_link(port: Box<dyn Link>, name: &str) -> Result<Board> {
        let mut board = Board {
            port,
            name: name.to_string(),
            reader: FrameReader::new(),
            inbox: Vec::new(),
            inbox_at: 0,
            seq: 0,
            timeout: TIMEOUT,
            loop_failure: None,
            labels: None,
            output: softmax_output(),
            recognizer: RecognizerConfig::KEYWORDS,
            window_ms: 1_000,
            simulator: None,
            info: Info {
                protocol: 0,
                firmware: [0; 3],
                board_revision: 0,
                simulated: 0,
                model_flash: 0,
                arena_ram: 0,
                op_set: 0,
                active_len: 0,
                active_crc: 0,
            },
        };
        // A zero ends whatever a previous connection left half-sent.
        board.write(&[0])?;
        board.info = board.hello()?;
        // A previous session may have left it running or streaming (a notebook interrupted
        // while listening): stop that, so that deploys are not refused as busy.
        board.expect_ack(&Request::Stop)?;
        Ok(board)
    }

    /// The port's name.
    pub fn port_name(&self) -> &str {
        &self.name
    }

    /// What the board said in its last Hello.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// One line about the board: port, firmware, budgets, active model.
    pub fn summary(&self) -> String {
        let i = &self.info;
        format!(
            "{} on {}: firmware {}.{}.{}, protocol {}, {} KB of flash per model, {} KB of RAM for \
             the arena; {}",
            if self.is_simulator() {
                "simulated Nano 33 BLE Sense (not a board)".to_string()
            } else {
                format!("Nano 33 BLE Sense rev{}", i.board_revision)
            },
            self.name,
            i.firmware[0],
            i.firmware[1],
            i.firmware[2],
            i.protocol,
            i.model_flash / 1024,
            i.arena_ram / 1024,
            if i.active_len == 0 {
                "no model yet".to_string()
            } else {
                format!(
                    "running a model of {} bytes (CRC {:08x})",
                    i.active_len, i.active_crc
                )
            }
        )
    }

    /// Shows [`Board::summary`] in Jupyter.
    pub fn evcxr_display(&self) {
        println!("{}", self.summary());
    }

    /// True when this is the laptop's simulator.
    pub fn is_simulator(&self) -> bool {
        self.info.simulated != 0
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.port
            .write_all(bytes)
            .and_then(|_| self.port.flush())
            .map_err(|e| Error::Device(format!("{}: writing failed: {e} (unplugged?)", self.name)))
    }

    /// Sends a request frame and waits for the reply with its sequence number (`None`: no
    /// reply in time, lost or damaged on the way back).
    fn send(&mut self, request: &Request) -> Result<Option<Reply>> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut frame = [0u8; MAX_FRAME];
        let n = encode_request(request, self.seq, &mut frame)
            .map_err(|e| Error::Device(format!("cannot encode the request: {e:?}")))?;
        self.write(&frame[..n])?;
        self.receive(self.seq)
    }

    /// The next message from the board before `until`, if any.
    fn next_message(&mut self, until: Instant) -> Result<Option<Reply>> {
        loop {
            while self.inbox_at < self.inbox.len() {
                let b = self.inbox[self.inbox_at];
                self.inbox_at += 1;
                let Some(Ok(frame)) = self.reader.push(b) else {
                    continue;
                };
                let mut buf = [0u8; MAX_PACKET];
                if let Ok(p) = decode_frame(frame, &mut buf) {
                    return Ok(Some(Reply {
                        kind: p.kind,
                        seq: p.seq,
                        body: p.body.to_vec(),
                    }));
                }
            }
            if Instant::now() >= until {
                return Ok(None);
            }
            self.inbox.resize(4096, 0);
            self.inbox_at = 0;
            let n = match self.port.read(&mut self.inbox) {
                Ok(n) => n,
                Err(e) if no_data_yet(&e) => 0,
                Err(e) => {
                    self.inbox.clear();
                    return Err(Error::Device(format!(
                        "{}: reading failed: {e} (unplugged?)",
                        self.name
                    )));
                }
            };
            self.inbox.truncate(n);
        }
    }

    /// Reads messages until the reply to `seq` (skipping predictions and samples), or `None`
    /// when none came within [`TIMEOUT`].
    fn receive(&mut self, seq: u16) -> Result<Option<Reply>> {
        let deadline = Instant::now() + self.timeout;
        while let Some(reply) = self.next_message(deadline)? {
            if reply.seq == seq {
                return Ok(Some(reply));
            }
            if reply.seq == 0 && reply.kind == kind::NAK {
                match Response::parse(reply.kind, &reply.body) {
                    // A sensor loop that failed, said unasked: kept for `run` to report.
                    Ok(Response::Nak { of, code, detail }) if of != 0 => {
                        self.loop_failure = Some(nak_message(of, code, detail));
                    }
                    // A damaged request comes back as a Nak of type 0 with sequence 0.
                    _ => return Ok(Some(reply)),
                }
            }
        }
        Ok(None)
    }

    fn no_answer(&self) -> Error {
        Error::Device(format!(
            "{}: no answer within {:.1} s. Is the kit's firmware on the board (`tinyml flash`)?",
            self.name,
            self.timeout.as_secs_f64()
        ))
    }

    /// Sends `request`, again when the frame was damaged on the way; `None` when no answer
    /// came in time.
    fn try_ask(&mut self, request: &Request) -> Result<Option<Reply>> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let Some(reply) = self.send(request)? else {
                return Ok(None);
            };
            if reply.seq == 0 {
                last = Some(reply);
                continue;
            }
            return Ok(Some(reply));
        }
        Ok(last)
    }

    /// [`Board::try_ask`], with no answer an error.
    fn ask(&mut self, request: &Request) -> Result<Reply> {
        self.try_ask(request)?.ok_or_else(|| self.no_answer())
    }

    fn hello(&mut self) -> Result<Info> {
        let reply = self.ask(&Request::Hello)?;
        match Response::parse(reply.kind, &reply.body) {
            Ok(Response::Info(info)) => Ok(info),
            _ => Err(Error::Device(format!(
                "{}: the device did not answer Hello as the kit's firmware does (is it running \
                 another sketch? `tinyml flash` installs the kit's firmware)",
                self.name
            ))),
        }
    }

    fn expect_ack(&mut self, request: &Request) -> Result<u32> {
        let reply = self.ask(request)?;
        self.acked(&reply)
    }

    /// The value of an Ack, or the error a Nak says.
    fn acked(&self, reply: &Reply) -> Result<u32> {
        match Response::parse(reply.kind, &reply.body) {
            Ok(Response::Ack { value, .. }) => Ok(value),
            Ok(Response::Nak { of, code, detail }) => {
                Err(Error::Device(nak_message(of, code, detail)))
            }
            _ => Err(Error::Device("an unexpected answer".into())),
        }
    }

    /// What the board is doing.
    pub fn status(&mut self) -> Result<Status> {
        let reply = self.ask(&Request::Status)?;
        status_of(&reply)
    }

    /// Checks that `model` fits what the board reports, with the numbers when not.
    pub fn check_fits(&self, model: &QuantizedModel) -> Result<()> {
        let budget = Budget {
            board: if self.is_simulator() {
                "simulated board"
            } else {
                "board"
            },
            model_flash: self.info.model_flash as usize,
            arena_ram: self.info.arena_ram as usize,
            // The kit's firmware (the simulator runs the board's limits too).
            limits: Limits::BOARD,
        };
        model.check_fits(&budget)
    }

    /// Sends `model` to the board (checking first that it fits), showing progress on stderr
    /// when `progress`; the board makes it active only once it has all of it and it checks
    /// out. Resumes after damaged frames; verifies the board's CRC.
    pub fn deploy_with(&mut self, model: &QuantizedModel, progress: bool) -> Result<DeployReport> {
        self.check_fits(model)?;
        let started = Instant::now();
        let bytes = model.bytes();
        let crc = tinyml_core::model::file_crc(bytes);
        let retries = match self.upload(bytes, crc, progress) {
            Ok(retries) => retries,
            Err(e) => {
                // Never leave the board in an upload: Stop abandons it (the model that was
                // active stays). The board may be gone, so its answer does not matter.
                let _ = self.try_ask(&Request::Stop);
                return Err(e);
            }
        };
        // What a Hello would now say (not asked: one request less that a bad cable can lose).
        self.info.active_len = bytes.len() as u32;
        self.info.active_crc = crc;
        self.remember(model);
        Ok(DeployReport {
            bytes: bytes.len(),
            crc,
            retries,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Sends `bytes` (a model whose CRC is `crc`) and commits them; gives how many requests
    /// were sent again. A reply lost or damaged on the way back is a request sent again (a
    /// chunk's offset makes that harmless; a lost Commit's Ack is read from the board's
    /// Status), up to [`DEPLOY_RETRIES`] in all.
    fn upload(&mut self, bytes: &[u8], crc: u32, progress: bool) -> Result<usize> {
        let mut retries = 0usize;
        let begin = Request::BeginModel {
            len: bytes.len() as u32,
            crc,
        };
        let reply = self.ask_until_answered(&begin, &mut retries)?;
        self.acked(&reply)?;
        let mut offset = 0usize;
        let mut last_shown = 0usize;
        while offset < bytes.len() {
            let end = (offset + MAX_CHUNK).min(bytes.len());
            let request = Request::Chunk {
                offset: offset as u32,
                bytes: &bytes[offset..end],
            };
            let Some(reply) = self.try_ask(&request)? else {
                // The Ack was lost: send the chunk again (if it arrived, the board says where
                // to resume).
                self.one_more(&mut retries)?;
                continue;
            };
            match Response::parse(reply.kind, &reply.body) {
                Ok(Response::Ack { value, .. }) if value as usize == end => offset = end,
                // The board expects another offset (a lost Ack): continue from there.
                Ok(Response::Nak { code, detail, .. })
                    if code == ProtocolError::WrongOffset.code()
                        && (detail as usize) <= bytes.len() =>
                {
                    self.one_more(&mut retries)?;
                    offset = detail as usize;
                }
                // A damaged frame on the way: send the chunk again.
                Ok(Response::Nak { code, .. })
                    if matches!(
                        ProtocolError::from_code(code),
                        Some(ProtocolError::BadFrame | ProtocolError::BadCrc)
                    ) =>
                {
                    self.one_more(&mut retries)?
                }
                Ok(Response::Nak { of, code, detail }) => {
                    return Err(Error::Device(nak_message(of, code, detail)))
                }
                _ => return Err(Error::Device("an unexpected answer to a chunk".into())),
            }
            if progress && (offset - last_shown >= 4096 || offset == bytes.len()) {
                eprint!(
                    "\rsending {} bytes to {}: {:3.0}%",
                    bytes.len(),
                    self.name,
                    100.0 * offset as f64 / bytes.len() as f64
                );
                last_shown = offset;
            }
        }
        if progress {
            eprintln!();
        }
        let confirmed = loop {
            if let Some(reply) = self.try_ask(&Request::Commit)?.filter(|r| r.seq != 0) {
                break self.acked(&reply)?;
            }
            self.one_more(&mut retries)?;
            // The Commit or its Ack was lost: the board's status says which.
            let status = status_of(&self.ask_until_answered(&Request::Status, &mut retries)?)?;
            if status.upload_len == 0 {
                if status.active_crc == crc {
                    break crc;
                }
                // 4. Its answer to Commit (a refusal) was lost, or the board was reset.
                return Err(Error::Device(format!(
                    "{}: the board dropped the upload (it refused the model, or it was reset) \
                     and kept model {:08x}: deploy again",
                    self.name, status.active_crc
                )));
            }
        };
        if confirmed != crc {
            return Err(Error::Device(format!(
                "the board confirmed CRC {confirmed:08x}, the model's is {crc:08x}: deploy again"
            )));
        }
        Ok(retries)
    }

    /// Sends `request` until it is answered: no reply, or a request damaged on every attempt
    /// (a Nak of sequence 0), is one more retry of the deploy's.
    fn ask_until_answered(&mut self, request: &Request, retries: &mut usize) -> Result<Reply> {
        loop {
            match self.try_ask(request)? {
                Some(reply) if reply.seq != 0 => return Ok(reply),
                _ => self.one_more(retries)?,
            }
        }
    }

    /// Counts one more request sent again; an error past [`DEPLOY_RETRIES`].
    fn one_more(&self, retries: &mut usize) -> Result<()> {
        *retries += 1;
        if *retries > DEPLOY_RETRIES {
            return Err(Error::Device(format!(
                "{}: {DEPLOY_RETRIES} requests lost or damaged during one deploy: check the \
                 cable (or try another USB port) and deploy again",
                self.name
            )));
        }
        Ok(())
    }

    /// [`Board::deploy_with`] with progress.
    pub fn deploy(&mut self, model: &QuantizedModel) -> Result<DeployReport> {
        self.deploy_with(model, true)
    }

    /// The board's raw int8 outputs for `input` (the model's input tensor values): the same
    /// bytes as [`QuantizedModel::simulate`] on the laptop.
    pub fn predict(&mut self, input: &[i8]) -> Result<Vec<i8>> {
        let bytes: Vec<u8> = input.iter().map(|&v| v as u8).collect();
        let reply = self.ask(&Request::Predict { input: &bytes })?;
        match Response::parse(reply.kind, &reply.body) {
            Ok(Response::Output { output }) => Ok(output.iter().map(|&v| v as i8).collect()),
            Ok(Response::Nak { of, code, detail }) => {
                Err(Error::Device(nak_message(of, code, detail)))
            }
            _ => Err(Error::Device("an unexpected answer to Predict".into())),
        }
    }

    /// Asks the board and the laptop's copy of its interpreter ([`QuantizedModel::simulate`])
    /// the same questions: the features of the first `clips` clips of `data`, quantized as
    /// `model` (the model on the board) takes them. Counts the clips whose outputs are the same
    /// bytes.
    pub fn compare_with_laptop(
        &mut self,
        model: &QuantizedModel,
        data: &KeywordData,
        clips: usize,
    ) -> Result<SameOutputs> {
        let per = model.model().input().len();
        let features = data.features()?;
        let (mut same, mut asked) = (0, 0);
        for clip in features.chunks(per).take(clips) {
            let input = model.quantize_input(clip)?;
            same += usize::from(self.predict(&input)? == model.simulate(&input)?);
            asked += 1;
        }
        Ok(SameOutputs {
            same,
            asked,
            simulated: self.is_simulator(),
        })
    }

    /// Tells the laptop which model the board runs (for its labels in [`Board::listen`]; a
    /// deploy from this laptop does it already), after checking that it is the one: `name` says
    /// which file in the error.
    pub fn use_model(&mut self, model: &QuantizedModel, name: &str) -> Result<()> {
        let crc = tinyml_core::model::file_crc(model.bytes());
        if self.info.active_crc != crc {
            return Err(Error::Device(format!(
                "the board on {} runs another model (CRC {:08x}, {} bytes) than {name} (CRC \
                 {crc:08x}): deploy it first (`tinyml deploy`)",
                self.name, self.info.active_crc, self.info.active_len
            )));
        }
        self.remember(model);
        Ok(())
    }

    fn remember(&mut self, model: &QuantizedModel) {
        self.labels = Some(model.labels());
        self.output = model.model().output();
        (self.recognizer, self.window_ms) = recognizer_of(&model.model());
    }

    /// Listens for `seconds`: the board runs its model on its microphone (a clip of audio
    /// every 250 ms) and says which keywords it heard. Prints each word as it is heard.
    pub fn listen(&mut self, seconds: f64) -> Result<Listening> {
        self.listen_with(seconds, &mut |window, labels| {
            print_reported(window, labels, Sensor::Microphone)
        })
    }

    /// [`Board::listen`], calling `on_window` with every window as it arrives (and the labels).
    pub fn listen_with(
        &mut self,
        seconds: f64,
        on_window: &mut dyn FnMut(&ListenWindow, &[String]),
    ) -> Result<Listening> {
        self.run(Sensor::Microphone, seconds, on_window)
    }

    /// Watches for `seconds`: the board runs its activity model on its accelerometer (a window
    /// as long as the model's, every hop the model says: 2 s windows every second for the
    /// course's) and says which activity it sees. Prints the activity of each window.
    pub fn watch(&mut self, seconds: f64) -> Result<Listening> {
        self.watch_with(seconds, &mut |window, labels| {
            print_reported(window, labels, Sensor::Accelerometer)
        })
    }

    /// [`Board::watch`], calling `on_window` with every window as it arrives (and the labels).
    pub fn watch_with(
        &mut self,
        seconds: f64,
        on_window: &mut dyn FnMut(&ListenWindow, &[String]),
    ) -> Result<Listening> {
        self.run(Sensor::Accelerometer, seconds, on_window)
    }

    /// Runs the model on `which` for `seconds`, then stops it.
    fn run(
        &mut self,
        which: Sensor,
        seconds: f64,
        on_window: &mut dyn FnMut(&ListenWindow, &[String]),
    ) -> Result<Listening> {
        let seconds = check_seconds(seconds)?;
        self.loop_failure = None;
        self.expect_ack(&Request::Run {
            sensor: which.code(),
        })?;
        let labels = self.labels.clone().unwrap_or_default();
        let mut windows = Vec::new();
        let until = Instant::now() + Duration::from_secs_f64(seconds);
        let outcome = loop {
            match self.next_message(until) {
                Ok(Some(reply)) if reply.seq == 0 && reply.kind == kind::PREDICTION => {
                    if let Ok(Response::Prediction {
                        time_ms,
                        class,
                        score,
                        scores,
                    }) = Response::parse(reply.kind, &reply.body)
                    {
                        let window = ListenWindow {
                            time_ms,
                            heard: (class != 255).then_some(class as usize),
                            score,
                            outputs: scores.iter().map(|&v| v as i8).collect(),
                        };
                        on_window(&window, &labels);
                        windows.push(window);
                    }
                }
                // The board's loop failed and stopped the run: it says why.
                Ok(Some(reply)) if reply.seq == 0 && reply.kind == kind::NAK => {
                    if let Ok(Response::Nak { of, code, detail }) =
                        Response::parse(reply.kind, &reply.body)
                    {
                        break Err(Error::Device(format!(
                            "the board stopped {}: {}",
                            which.doing(),
                            nak_message(of, code, detail)
                        )));
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        let stopped = self.expect_ack(&Request::Stop);
        outcome?;
        if let Some(failure) = self.loop_failure.take() {
            return Err(Error::Device(format!(
                "the board stopped {}: {failure}",
                which.doing()
            )));
        }
        stopped?;
        Ok(Listening {
            sensor: which,
            labels,
            output: self.output,
            recognizer: self.recognizer,
            window_ms: self.window_ms,
            windows,
            simulated: self.is_simulator(),
        })
    }

    /// Records one take of the word spelled `spelling` by `speaker` from the microphone
    /// ([`crate::recorder::TAKE_SECONDS`]) into the dataset folder `dir`, in the layout of the
    /// browser recorder ([`crate::words::save_take`]), and returns the file. A silent, clipped
    /// or too-short take is refused as the browser recorder refuses it
    /// ([`crate::words::check_take`]), with what to do, and nothing is saved.
    pub fn record_take(
        &mut self,
        dir: impl AsRef<Path>,
        spelling: &str,
        speaker: &str,
    ) -> Result<PathBuf> {
        let dir = dir.as_ref();
        // Names first: a bad one should not cost a recording.
        crate::words::check_speaker(speaker)?;
        crate::words::word_id(spelling)?;
        let take = self.record_audio(crate::recorder::TAKE_SECONDS)?;
        crate::words::check_take(&take)?;
        crate::words::save_take(dir, spelling, speaker, &take)
    }

    /// Streams `seconds` of the microphone (16 kHz, 16-bit) and gives it as audio.
    pub fn record_audio(&mut self, seconds: f64) -> Result<Audio> {
        let want = (check_seconds(seconds)? * MIC_RATE_HZ as f64).round() as usize;
        let pcm = self.stream(sensor::MIC, want)?;
        let mut samples = vec![0f32; pcm.len()];
        pcm16_to_f32(&pcm, &mut samples);
        Audio::new(samples, MIC_RATE_HZ)
    }

    /// Streams `seconds` of the accelerometer (x, y, z at [`IMU_RATE_HZ`]).
    pub fn record_imu(&mut self, seconds: f64) -> Result<ImuRecording> {
        let want = (check_seconds(seconds)? * IMU_RATE_HZ as f64).round() as usize;
        let raw = self.stream(sensor::IMU, 3 * want)?;
        Ok(ImuRecording::from_mg(&raw))
    }

    /// `count` samples of a sensor, streamed.
    fn stream(&mut self, which: u8, count: usize) -> Result<Vec<i16>> {
        self.expect_ack(&Request::Stream { sensor: which })?;
        let rate = if which == sensor::MIC {
            MIC_RATE_HZ as f64
        } else {
            3.0 * IMU_RATE_HZ as f64
        };
        let until = Instant::now() + Duration::from_secs_f64(count as f64 / rate) + TIMEOUT;
        let mut samples: Vec<i16> = Vec::with_capacity(count);
        let outcome = loop {
            if samples.len() >= count {
                break Ok(());
            }
            match self.next_message(until) {
                Ok(Some(reply)) if reply.seq == 0 && reply.kind == kind::SAMPLES => {
                    if let Ok(Response::Samples { sensor: s, data }) =
                        Response::parse(reply.kind, &reply.body)
                    {
                        if s == which {
                            samples.extend(
                                data.chunks_exact(2)
                                    .map(|b| i16::from_le_bytes([b[0], b[1]])),
                            );
                        }
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    break Err(Error::Device(format!(
                        "{}: the board sent {} of {count} samples, then stopped",
                        self.name,
                        samples.len()
                    )))
                }
                Err(e) => break Err(e),
            }
        };
        self.expect_ack(&Request::Stop)?;
        outcome?;
        samples.truncate(count);
        Ok(samples)
    }

    /// Sends raw bytes (for tests that damage frames on purpose).
    #[doc(hidden)]
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.write(bytes)
    }

    /// Sends a request as raw bytes with `damage` applied to its frame and gives the parsed
    /// answer's (type, error code) (for tests).
    #[doc(hidden)]
    pub fn ask_damaged(
        &mut self,
        request: &Request,
        damage: impl Fn(&mut [u8]),
    ) -> Result<(u8, u8)> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut frame = [0u8; MAX_FRAME];
        let n = encode_request(request, self.seq, &mut frame)
            .map_err(|e| Error::Device(format!("{e:?}")))?;
        damage(&mut frame[..n - 1]);
        self.write(&frame[..n])?;
        let reply = self.receive(self.seq)?.ok_or_else(|| self.no_answer())?;
        Ok(match Response::parse(reply.kind, &reply.body) {
            Ok(Response::Nak { code, .. }) => (reply.kind, code),
            _ => (reply.kind, 0),
        })
    }

    /// Waits `timeout` for each reply instead of [`TIMEOUT`] (tests of lost replies against the
    /// simulator, which answers within milliseconds).
    #[doc(hidden)]
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends a request and gives the answer as (type, error code or 0) (for tests).
    #[doc(hidden)]
    pub fn ask_raw(&mut self, request: &Request) -> Result<(u8, u8, u32)> {
        let reply = self.ask(request)?;
        Ok(match Response::parse(reply.kind, &reply.body) {
            Ok(Response::Nak { code, detail, .. }) => (reply.kind, code, detail),
            Ok(Response::Ack { value, .. }) => (reply.kind, 0, value),
            _ => (reply.kind, 0, 0),
        })
    }
}

impl std::fmt::Display for DeployReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent {} bytes in {:.2} s; the board confirmed CRC {:08x}",
            self.bytes, self.seconds, self.crc
        )?;
        if self.retries > 0 {
            write!(f, " ({} chunk(s) sent again)", self.retries)?;
        }
        Ok(())
    }
}

impl DeployReport {
    /// Shows the report in Jupyter.
    pub fn evcxr_display(&self) {
        println!("{self}");
    }
}

fn check_seconds(seconds: f64) -> Result<f64> {
    if seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0 {
        Ok(seconds)
    } else {
        Err(Error::param(
            "seconds",
            format!("{seconds} (use a positive number of seconds, at most an hour)"),
        ))
    }
}

/// Prints the class a window reported, if any: time, the word heard or the activity, probability.
fn print_reported(window: &ListenWindow, labels: &[String], sensor: Sensor) {
    if let Some(class) = window.heard {
        let label = class_label(labels, class);
        let label = match sensor {
            Sensor::Microphone => format!("heard \"{label}\""),
            Sensor::Accelerometer => label,
        };
        println!(
            "{:6.2} s  {label} ({:.0}%)",
            window.time_ms as f64 / 1000.0,
            100.0 * window.probability()
        );
    }
}

/// The name of class `class` (`class N` when the labels are unknown).
pub fn class_label(labels: &[String], class: usize) -> String {
    labels
        .get(class)
        .cloned()
        .unwrap_or_else(|| format!("class {class}"))
}

/// A sensor the board runs its model on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensor {
    /// The PDM microphone (keyword models).
    Microphone,
    /// The IMU's accelerometer (activity models).
    Accelerometer,
}

impl Sensor {
    /// Its number in the serial protocol.
    pub fn code(self) -> u8 {
        match self {
            Sensor::Microphone => sensor::MIC,
            Sensor::Accelerometer => sensor::IMU,
        }
    }

    /// What the board does with it, in words.
    fn doing(self) -> &'static str {
        match self {
            Sensor::Microphone => "listening",
            Sensor::Accelerometer => "watching",
        }
    }
}

/// How many clips gave the same output bytes on the board and on the laptop
/// ([`Board::compare_with_laptop`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SameOutputs {
    /// Clips whose outputs were the same bytes.
    pub same: usize,
    /// Clips asked.
    pub asked: usize,
    /// True when the board was the simulator.
    pub simulated: bool,
}

impl SameOutputs {
    /// True when every clip gave the same bytes.
    pub fn all_same(&self) -> bool {
        self.same == self.asked
    }

    /// Shows the sentence in Jupyter.
    pub fn evcxr_display(&self) {
        println!("{self}");
    }
}

impl fmt::Display for SameOutputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let board = if self.simulated {
            "simulated board"
        } else {
            "board"
        };
        write!(
            f,
            "{} of {} clips: the {board}'s outputs equal the laptop's, byte for byte",
            self.same, self.asked
        )
    }
}

/// One window of the board's keyword or activity loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenWindow {
    /// When the window ended, in milliseconds since the board started.
    pub time_ms: u32,
    /// The class the recognizer reported in this window (a new word, or the activity), if any.
    pub heard: Option<usize>,
    /// Its averaged score, 0–255 for probability 0–1.
    pub score: u8,
    /// The model's raw int8 outputs for this window.
    pub outputs: Vec<i8>,
}

impl ListenWindow {
    /// A window of the core's loops, with the raw outputs it wrote into `scores`.
    fn of(window: &tinyml_core::listen::Window, scores: &[i8]) -> ListenWindow {
        ListenWindow {
            time_ms: window.time_ms,
            heard: window.heard.map(|h| h.class as usize),
            score: window.heard.map_or(0, |h| h.score),
            outputs: scores[..window.outputs].to_vec(),
        }
    }

    /// The heard word's averaged probability (0 when nothing was heard).
    pub fn probability(&self) -> f64 {
        self.score as f64 / 255.0
    }
}

/// The output quantization of every kit model (the int8 softmax's: probability
/// `(q + 128) / 256`), for a board whose model the laptop has not been told.
fn softmax_output() -> Tensor {
    Tensor {
        h: 1,
        w: 1,
        c: 1,
        offset: 0,
        scale: 1.0 / 256.0,
        zero_point: -128,
    }
}

/// What the board heard while listening (or saw while watching its accelerometer).
#[derive(Debug, Clone, PartialEq)]
pub struct Listening {
    /// The sensor the model ran on.
    pub sensor: Sensor,
    /// The model's labels (empty when unknown: classes are then numbered).
    pub labels: Vec<String>,
    /// The model's output tensor (its quantization turns outputs into probabilities).
    pub output: Tensor,
    /// The recognizer's settings the loop ran with.
    pub recognizer: RecognizerConfig,
    /// Each window's length in milliseconds (a keyword model's clip, an activity model's
    /// window): a window's time is its end.
    pub window_ms: u32,
    /// Every window, in order.
    pub windows: Vec<ListenWindow>,
    /// True when it was the simulator.
    pub simulated: bool,
}

impl Listening {
    /// The words heard: (seconds since the board started, label, probability).
    pub fn heard(&self) -> Vec<(f64, String, f64)> {
        self.windows
            .iter()
            .filter_map(|w| {
                w.heard.map(|c| {
                    (
                        w.time_ms as f64 / 1000.0,
                        class_label(&self.labels, c),
                        w.probability(),
                    )
                })
            })
            .collect()
    }

    /// The same windows heard again by a recognizer of `threshold` (a probability, 0 to 1) with
    /// the loop's other settings ([`Listening::recognizer`]): what the board would have reported
    /// with that threshold. Lower it and more words are reported, right and wrong. Classes
    /// labelled "silence" or "unknown" are never reported (all are reported when the labels are
    /// not known).
    pub fn with_threshold(&self, threshold: f64) -> Result<Listening> {
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(Error::param(
                "threshold",
                format!("{threshold} (a probability above 0 and at most 1, such as 0.5)"),
            ));
        }
        let config = RecognizerConfig {
            threshold: (threshold * 255.0).round() as u8,
            ..self.recognizer
        };
        let classes = self
            .windows
            .first()
            .map_or(0, |w| w.outputs.len())
            .min(MAX_CLASSES);
        let background = (0..classes)
            .filter(|&c| BACKGROUND_LABELS.contains(&class_label(&self.labels, c).as_str()))
            .fold(0u32, |bits, c| bits | 1 << c);
        let mut recognizer = Recognizer::new(config, classes, background);
        let mut again = self.clone();
        for window in &mut again.windows {
            let probabilities: Vec<u8> = window
                .outputs
                .iter()
                .map(|&q| probability(&self.output, q))
                .collect();
            let heard = recognizer.push(window.time_ms, &probabilities);
            window.heard = heard.map(|h| h.class as usize);
            window.score = heard.map_or(0, |h| h.score);
        }
        Ok(again)
    }

    /// The words heard, as a table.
    pub fn table(&self) -> Table {
        let mut t = Table::new(&["time (s)", "heard", "probability"]);
        for (time, label, p) in self.heard() {
            t.push(vec![
                format!("{time:.2}"),
                label,
                format!("{:.0}%", 100.0 * p),
            ]);
        }
        t
    }

    /// Each class's probability in every window, over time.
    pub fn figure(&self) -> Figure {
        let title = match (self.sensor, self.simulated) {
            (Sensor::Microphone, true) => "What the simulated board hears",
            (Sensor::Microphone, false) => "What the board hears",
            (Sensor::Accelerometer, true) => "What the simulated board feels",
            (Sensor::Accelerometer, false) => "What the board feels",
        };
        let mut fig = Figure::lines(title, "time (s)", "probability");
        let classes = self.windows.first().map_or(0, |w| w.outputs.len());
        for c in 0..classes {
            let points = self
                .windows
                .iter()
                .map(|w| {
                    let q = w.outputs.get(c).copied().unwrap_or(i8::MIN);
                    let p = probability(&self.output, q) as f64 / 255.0;
                    (w.time_ms as f64 / 1000.0, p)
                })
                .collect();
            fig = fig.line(&class_label(&self.labels, c), points);
        }
        fig
    }

    /// Shows the words heard (or activities seen) and the probabilities over time in Jupyter.
    pub fn evcxr_display(&self) {
        let what = match self.sensor {
            Sensor::Microphone => "word(s) heard",
            Sensor::Accelerometer => "window(s) with an activity",
        };
        println!(
            "{} windows, {} {what}",
            self.windows.len(),
            self.heard().len()
        );
        self.table().evcxr_display();
        self.figure().evcxr_display();
    }
}

/// What the board's keyword loop hears in `audio`, computed on the laptop with the board's code
/// (the core's `Listener` and the recognizer's settings, a window every 250 ms): the windows and
/// words a board or the simulator gives for this sound, with times from its start.
pub fn listen_to(model: &QuantizedModel, audio: &Audio) -> Result<Listening> {
    model.check_limits(Budget::NANO_33_BLE.board, &Limits::BOARD)?;
    let m = model.model();
    let mut listener = Box::new(Listener::new());
    let refused = |e: tinyml_core::listen::ListenError| {
        Error::Model(format!(
            "the board cannot listen with this model ({e:?}): it takes a keyword model (MFCC of \
             a 16 kHz clip)"
        ))
    };
    listener
        .start(&m, RecognizerConfig::KEYWORDS)
        .map_err(refused)?;
    let pcm = audio.resample(MIC_RATE_HZ)?.to_pcm16();
    // The model's arena, then the clip's samples, as on the board.
    let mut arena = vec![0i8; keyword_arena_bytes(&m).map_err(refused)?];
    let windows = run_loop(&mut *listener, &m, &pcm, &mut arena, MIC_RATE_HZ).map_err(refused)?;
    let (recognizer, window_ms) = recognizer_of(&m);
    Ok(Listening {
        sensor: Sensor::Microphone,
        labels: model.labels(),
        output: m.output(),
        recognizer,
        window_ms,
        windows,
        simulated: true,
    })
}

/// What the board's activity loop sees in `recording`, computed on the laptop with the board's
/// code (the core's `MotionListener`, the model's window and hop, the recognizer's
/// [`RecognizerConfig::ACTIVITIES`]): the windows a board or the simulator gives for these
/// movements, with times from their start.
pub fn watch(model: &QuantizedModel, recording: &ImuRecording) -> Result<Listening> {
    let m = model.model();
    let mut motion = Box::new(MotionListener::new());
    motion
        .start(&m, RecognizerConfig::ACTIVITIES)
        .map_err(activity_refused)?;
    if recording.sample_rate_hz != IMU_RATE_HZ {
        return Err(Error::param(
            "recording",
            format!(
                "{} Hz: the board's accelerometer runs at {IMU_RATE_HZ} Hz; record it again \
                 from the board",
                recording.sample_rate_hz
            ),
        ));
    }
    let mg = recording.to_mg();
    let mut arena = vec![0i8; m.arena_bytes()];
    let windows =
        run_loop(&mut *motion, &m, &mg, &mut arena, IMU_RATE_HZ).map_err(activity_refused)?;
    let (recognizer, window_ms) = recognizer_of(&m);
    Ok(Listening {
        sensor: Sensor::Accelerometer,
        labels: model.labels(),
        output: m.output(),
        recognizer,
        window_ms,
        windows,
        simulated: true,
    })
}

/// Every window of the board's `sensor` loop (started on `model`) over `values`, sampled at
/// `rate_hz`, with times from their start; the first window that fails stops it.
fn run_loop<L: SensorLoop>(
    sensor: &mut L,
    model: &tinyml_core::model::Model,
    values: &[i16],
    arena: &mut [i8],
    rate_hz: u32,
) -> std::result::Result<Vec<ListenWindow>, ListenError> {
    let mut windows = Vec::new();
    let mut rest = values;
    loop {
        let mut scores = [0i8; MAX_CLASSES];
        let time_ms = |left: usize| {
            let samples = ((values.len() - left) / L::VALUES_PER_SAMPLE) as u64;
            (samples * 1000 / rate_hz as u64) as u32
        };
        match next_window(sensor, model, &mut rest, arena, time_ms, &mut scores) {
            Some(window) => windows.push(ListenWindow::of(&window?, &scores)),
            None => return Ok(windows),
        }
    }
}

/// The recognizer's settings and the window length (ms) the board's loop uses for `model`: a
/// keyword model's clip ([`RecognizerConfig::KEYWORDS`], suppression grown with the clip), an
/// activity model's window ([`RecognizerConfig::ACTIVITIES`]); the one-second keyword loop's for
/// a model of neither kind.
fn recognizer_of(model: &tinyml_core::model::Model) -> (RecognizerConfig, u32) {
    if let Ok(features) = tinyml_core::listen::keyword_front_end(model) {
        let config = RecognizerConfig::KEYWORDS.for_clip_ms(features.clip_ms);
        return (config, features.clip_ms as u32);
    }
    if let Ok((window, _)) = tinyml_core::motion::activity_front_end(model) {
        let ms = (window as u64 * 1000 / IMU_RATE_HZ as u64) as u32;
        return (RecognizerConfig::ACTIVITIES, ms);
    }
    (RecognizerConfig::KEYWORDS, 1_000)
}

fn activity_refused(e: ListenError) -> Error {
    Error::Model(format!(
        "the board cannot watch its accelerometer with this model ({e:?}): it takes an activity \
         model (ActivityNetwork::quantize, windows of at most {} samples at {IMU_RATE_HZ} Hz)",
        tinyml_core::motion::MAX_WINDOW
    ))
}

/// Accelerometer samples from the board, in g.
#[derive(Debug, Clone, PartialEq)]
pub struct ImuRecording {
    /// Samples per second.
    pub sample_rate_hz: u32,
    /// The three axes, in g.
    pub ax: Vec<f32>,
    /// See `ax`.
    pub ay: Vec<f32>,
    /// See `ax`.
    pub az: Vec<f32>,
}

impl ImuRecording {
    /// A recording from x, y, z triples in milligravities (what the board streams).
    pub fn from_mg(triples: &[i16]) -> ImuRecording {
        let axis = |k: usize| triples.chunks_exact(3).map(|t| mg_to_g(t[k])).collect();
        ImuRecording {
            sample_rate_hz: IMU_RATE_HZ,
            ax: axis(0),
            ay: axis(1),
            az: axis(2),
        }
    }

    /// The samples as the board's IMU gives them: x, y, z triples in milligravities (rounded,
    /// and clamped to ±32.767 g).
    pub fn to_mg(&self) -> Vec<i16> {
        let mg = |g: f32| (g as f64 * 1000.0).round().clamp(-32_767.0, 32_767.0) as i16;
        let n = self.ax.len().min(self.ay.len()).min(self.az.len());
        (0..n)
            .flat_map(|i| [mg(self.ax[i]), mg(self.ay[i]), mg(self.az[i])])
            .collect()
    }

    /// The first session of `data` recorded with `label`, as one recording (its windows back to
    /// back): what the board's accelerometer would give during that activity.
    pub fn from_activity(data: &ActivityData, label: &str) -> Result<ImuRecording> {
        let first = data
            .windows
            .iter()
            .find(|w| w.label == label)
            .ok_or_else(|| {
                Error::param(
                    "label",
                    format!(
                        "no window of {} is labelled {label:?} (labels: {})",
                        data.source,
                        data.label_names().join(", ")
                    ),
                )
            })?;
        if data.sample_rate_hz != IMU_RATE_HZ as f32 {
            return Err(Error::param(
                "data",
                format!(
                    "{} is sampled at {} Hz; the board's accelerometer runs at {IMU_RATE_HZ} Hz",
                    data.source, data.sample_rate_hz
                ),
            ));
        }
        let session = data
            .windows
            .iter()
            .filter(|w| w.person == first.person && w.session == first.session);
        let mut recording = ImuRecording {
            sample_rate_hz: IMU_RATE_HZ,
            ax: Vec::new(),
            ay: Vec::new(),
            az: Vec::new(),
        };
        for w in session {
            recording.ax.extend_from_slice(&w.ax);
            recording.ay.extend_from_slice(&w.ay);
            recording.az.extend_from_slice(&w.az);
        }
        Ok(recording)
    }

    /// Seconds of samples.
    pub fn seconds(&self) -> f64 {
        self.ax.len() as f64 / self.sample_rate_hz as f64
    }

    /// Writes the recording as one session of the Day 1 activity CSV layout
    /// (`person,session,label,t_ms,ax,ay,az`), which `ActivityData::load` reads.
    pub fn save_csv(
        &self,
        path: impl AsRef<std::path::Path>,
        person: &str,
        session: u32,
        label: &str,
    ) -> Result<()> {
        use std::fmt::Write as _;
        let path = path.as_ref();
        for (what, v) in [("person", person), ("label", label)] {
            if v.is_empty() || v.contains([',', '\n', '\r', '"']) {
                return Err(Error::param(
                    what,
                    format!("{v:?} (use a name without commas)"),
                ));
            }
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut out = String::from("person,session,label,t_ms,ax,ay,az\n");
        for i in 0..self.ax.len() {
            let t = (i as f64 * 1000.0 / self.sample_rate_hz as f64).round();
            let _ = writeln!(
                out,
                "{person},{session},{label},{t},{:.4},{:.4},{:.4}",
                self.ax[i], self.ay[i], self.az[i]
            );
        }
        std::fs::write(path, out).map_err(|e| Error::io(path, e))
    }
}

/// The simulator's flash: the core's [`RamFlash`] (NOR rules, power cuts on demand) over a
/// `Vec`, with the nRF52840's 4 KB pages.
pub type SimFlash = RamFlash<Vec<u8>>;

/// Page size of the nRF52840's flash.
pub const PAGE: usize = 4096;

/// What the simulator thread shares with the test or the CLI.
struct SimState {
    handler: Option<Handler<SimFlash>>,
    arena: Vec<i8>,
    /// What the simulated microphone hears at the start of every Run or Stream (16-bit, 16 kHz);
    /// after it, a quiet room.
    sound: Vec<i16>,
    /// What the simulated accelerometer gives at the start of every Run or Stream (x, y, z
    /// triples in mg); after it, a walk.
    movement: Vec<i16>,
    sensors: SimSensors,
    /// Replies to let through before losing or damaging any (tests).
    good_replies: u32,
    /// Replies still to lose on the way back (tests).
    lose_replies: u32,
    /// Replies still to damage on the way back (tests).
    damage_replies: u32,
}

impl SimState {
    /// A board just powered on, with an empty model store.
    fn new() -> Self {
        let slot = Budget::NANO_33_BLE.model_flash;
        let flash = SimFlash::new(vec![0; Store::<SimFlash>::region_size(slot, PAGE)], PAGE);
        SimState {
            handler: Some(Handler::new(Store::open(flash, slot), SIMULATED)),
            arena: vec![0; SIMULATED.arena_ram],
            sound: Vec::new(),
            movement: Vec::new(),
            sensors: SimSensors::new(),
            good_replies: 0,
            lose_replies: 0,
            damage_replies: 0,
        }
    }
}

/// The simulated sensors' clocks, from the moment Run or Stream started.
struct SimSensors {
    /// Since the simulator started (the board's clock).
    boot: Instant,
    /// What the handler was doing at the last tick.
    state: State,
    started: Instant,
    /// `started` on the board's clock, in milliseconds.
    started_ms: u64,
    /// Samples (or IMU triples) made since `started`.
    made: u64,
    listener: Box<Listener>,
    motion: Box<MotionListener>,
    noise: u32,
}

impl SimSensors {
    fn new() -> SimSensors {
        SimSensors {
            boot: Instant::now(),
            state: State::Idle,
            started: Instant::now(),
            started_ms: 0,
            made: 0,
            listener: Box::new(Listener::new()),
            motion: Box::new(MotionListener::new()),
            noise: 0x9e37_79b9,
        }
    }

    /// A quiet room: a few units of noise.
    fn room(&mut self) -> i16 {
        self.noise ^= self.noise << 13;
        self.noise ^= self.noise >> 17;
        self.noise ^= self.noise << 5;
        (self.noise % 61) as i16 - 30
    }
}

/// The board's firmware logic (protocol handler, model store, interpreter from `tinyml-core`)
/// behind a pseudo-terminal (Linux, macOS) or a local socket (Windows, or
/// [`Simulator::start_tcp`]): open [`Simulator::port`] as you would a board.
pub struct Simulator {
    port_name: String,
    state: Arc<Mutex<SimState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("port", &self.port_name)
            .finish()
    }
}

/// The simulated board's budgets: the Nano 33 BLE Sense's.
pub const SIMULATED: BoardInfo = BoardInfo {
    revision: 0,
    simulated: true,
    arena_ram: Budget::NANO_33_BLE.arena_ram,
    // A microphone that plays a file (`Simulator::play`), and an accelerometer that walks.
    microphone: true,
    imu: true,
};

impl Simulator {
    /// Starts a simulated Nano 33 BLE Sense with an empty model store.
    #[cfg(unix)]
    pub fn start() -> Result<Simulator> {
        // The simulator serves the master end; clients open the slave end by its name (it stays
        // there as long as the master is open; holding it open here would lock clients out).
        let (mut host_end, device_end) = serialport::TTYPort::pair().map_err(|e| {
            Error::Device(format!(
                "cannot create a pseudo-terminal for the simulator: {e}"
            ))
        })?;
        let port_name = device_end
            .name()
            .ok_or_else(|| Error::Device("the pseudo-terminal has no name".into()))?;
        drop(device_end);
        let state = Arc::new(Mutex::new(SimState::new()));
        let stop = Arc::new(AtomicBool::new(false));
        host_end
            .set_timeout(Duration::from_millis(20))
            .map_err(|e| Error::Device(format!("pseudo-terminal: {e}")))?;
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || serve(host_end, state, stop))
        };
        Ok(Simulator {
            port_name,
            state,
            stop,
            thread: Some(thread),
        })
    }

    /// Starts a simulated Nano 33 BLE Sense with an empty model store, on a local socket
    /// (Windows has no pseudo-terminals).
    #[cfg(not(unix))]
    pub fn start() -> Result<Simulator> {
        Simulator::start_tcp()
    }

    /// Starts a simulated board reached over a local socket instead of a pseudo-terminal: on
    /// `127.0.0.1` at a random port, behind a random token, both in [`Simulator::port`]
    /// (`tcp://127.0.0.1:PORT/TOKEN`), which [`Board::open`] and `--port` take as they take a
    /// serial port. One client at a time, as a serial port; a client whose first line is not
    /// the token is dropped and reaches nothing.
    pub fn start_tcp() -> Result<Simulator> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|e| {
            Error::Device(format!("cannot open a local socket for the simulator: {e}"))
        })?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::Device(format!("simulator socket: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::Device(format!("simulator socket: {e}")))?;
        let token = crate::recorder::random_token()?;
        let port_name = format!("{SIMULATOR_SOCKET_SCHEME}{address}/{token}");
        let state = Arc::new(Mutex::new(SimState::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || serve_socket(listener, &token, &state, &stop))
        };
        Ok(Simulator {
            port_name,
            state,
            stop,
            thread: Some(thread),
        })
    }

    /// The port to open: a pseudo-terminal such as `/dev/pts/3`, or
    /// `tcp://127.0.0.1:PORT/TOKEN` for [`Simulator::start_tcp`].
    pub fn port(&self) -> &str {
        &self.port_name
    }

    /// What the simulated microphone hears: `audio` (at 16 kHz, as 16-bit samples), from the
    /// start of every Run or Stream; a quiet room after it.
    pub fn play(&self, audio: &Audio) -> Result<()> {
        let pcm = audio.resample(MIC_RATE_HZ)?.to_pcm16();
        self.state.lock().expect("simulator state").sound = pcm;
        Ok(())
    }

    /// Plays the WAV file `path` (see [`Simulator::play`]).
    pub fn play_file(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        self.play(&Audio::load(path)?)
    }

    /// What the simulated accelerometer feels: `recording` (at 50 Hz, in mg as the IMU gives
    /// it), from the start of every Run or Stream; a walk after it.
    pub fn play_imu(&self, recording: &ImuRecording) -> Result<()> {
        if recording.sample_rate_hz != IMU_RATE_HZ {
            return Err(Error::param(
                "recording",
                format!(
                    "{} Hz: the board's accelerometer runs at {IMU_RATE_HZ} Hz",
                    recording.sample_rate_hz
                ),
            ));
        }
        self.state.lock().expect("simulator state").movement = recording.to_mg();
        Ok(())
    }

    /// After `good` more replies, loses the next `lost` and then damages the next `damaged`
    /// (a flipped byte) on their way back to the laptop, as a bad cable does (tests).
    pub fn spoil_replies(&self, good: u32, lost: u32, damaged: u32) {
        let mut s = self.state.lock().expect("simulator state");
        s.good_replies = good;
        s.lose_replies = lost;
        s.damage_replies = damaged;
    }

    /// Cuts the power after `operations` more flash erases or writes (tests).
    pub fn power_cut_after(&self, operations: u32) {
        let mut s = self.state.lock().expect("simulator state");
        if let Some(h) = s.handler.as_mut() {
            h.store_mut().flash_mut().fail_after = Some(operations);
        }
    }

    /// Resets the simulated board: the power comes back, the store is opened again from flash
    /// as at start-up (an upload in progress is lost; the committed model stays).
    pub fn reset(&self) {
        let mut s = self.state.lock().expect("simulator state");
        if let Some(h) = s.handler.take() {
            let mut flash = h.into_store().into_flash();
            flash.dead = false;
            flash.fail_after = None;
            let slot = Budget::NANO_33_BLE.model_flash;
            s.handler = Some(Handler::new(Store::open(flash, slot), SIMULATED));
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The simulator's loop on its pseudo-terminal: bytes in, frames handled, responses out; and
/// the sensors, in real time.
#[cfg(unix)]
fn serve(mut port: serialport::TTYPort, state: Arc<Mutex<SimState>>, stop: Arc<AtomicBool>) {
    let mut reader = FrameReader::new();
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        // Nobody reading (the host went away): a message is dropped, as the board's USB write
        // timeout drops it.
        sense_into(&state, &mut port);
        let n = match port.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(_) => {
                // No client on the other end right now.
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        if answer(&buf[..n], &mut reader, &state, &mut port).is_err() {
            continue;
        }
    }
}

/// The simulator's loop on its local socket: one client at a time, admitted by its token.
fn serve_socket(
    listener: std::net::TcpListener,
    token: &str,
    state: &Mutex<SimState>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Some(stream) = admit(stream, token) {
                    serve_client(stream, state, stop);
                }
            }
            Err(_) => {
                // No client: the board runs on, its messages going nowhere.
                sense_into(state, &mut std::io::sink());
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The client, once its first line (read within a second) is the token.
fn admit(mut stream: std::net::TcpStream, token: &str) -> Option<std::net::TcpStream> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() <= MAX_TOKEN_BYTES {
        match stream.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) => line.push(byte[0]),
            _ => return None,
        }
    }
    if line != token.as_bytes() {
        return None;
    }
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .ok()?;
    stream.set_nodelay(true).ok()?;
    Some(stream)
}

/// Serves one admitted client until it goes away.
fn serve_client(mut stream: std::net::TcpStream, state: &Mutex<SimState>, stop: &AtomicBool) {
    let mut reader = FrameReader::new();
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        sense_into(state, &mut stream);
        let n = match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if no_data_yet(&e) => continue,
            Err(_) => return,
        };
        if answer(&buf[..n], &mut reader, state, &mut stream).is_err() {
            return;
        }
    }
}

/// Runs the sensors up to now, writing what they send to `link` (a failed write drops it).
fn sense_into(state: &Mutex<SimState>, link: &mut dyn Write) {
    let mut s = state.lock().expect("simulator state");
    sense(&mut s, &mut |frame| {
        let _ = link.write_all(frame);
    });
}

/// Feeds `bytes` from the host to the board's handler and writes its answers to `link`.
fn answer(
    bytes: &[u8],
    reader: &mut FrameReader,
    state: &Mutex<SimState>,
    link: &mut dyn Write,
) -> std::io::Result<()> {
    let mut out = [0u8; MAX_FRAME];
    for &b in bytes {
        let len = match reader.push(b) {
            None => continue,
            Some(frame) => {
                let mut s = state.lock().expect("simulator state");
                let SimState { handler, arena, .. } = &mut *s;
                let Some(handler) = handler.as_mut() else {
                    continue;
                };
                let len = handler.handle_frame(frame, arena, &mut out);
                if s.good_replies > 0 {
                    s.good_replies -= 1;
                } else if s.lose_replies > 0 {
                    s.lose_replies -= 1;
                    continue;
                } else if s.damage_replies > 0 && len > 2 {
                    s.damage_replies -= 1;
                    out[len / 2] ^= 0x5A;
                }
                len
            }
        };
        link.write_all(&out[..len])?;
    }
    Ok(())
}

/// Runs the simulated sensors up to now: microphone samples into the board's keyword loop
/// ([`Listener`], the firmware's code), accelerometer triples into its activity loop
/// ([`MotionListener`]), or either out as Samples.
fn sense(s: &mut SimState, send: &mut dyn FnMut(&[u8])) {
    let SimState {
        handler,
        arena,
        sound,
        movement,
        sensors,
        ..
    } = s;
    let Some(handler) = handler.as_mut() else {
        return;
    };
    let mut frame = [0u8; MAX_FRAME];
    let mut send_message = |message: &Response| {
        let len = encode_response(message, 0, &mut frame).unwrap_or(0);
        send(&frame[..len]);
    };
    let state = handler.state();
    if state != sensors.state {
        sensors.state = state;
        sensors.started = Instant::now();
        sensors.started_ms = sensors.boot.elapsed().as_millis() as u64;
        sensors.made = 0;
        if let State::Running(which) = state {
            let started = handler.model().map(|m| {
                if which == sensor::MIC {
                    sensors.listener.start(&m, RecognizerConfig::KEYWORDS)
                } else {
                    sensors.motion.start(&m, RecognizerConfig::ACTIVITIES)
                }
            });
            // The handler checked that there is a model of the right kind before it acknowledged
            // Run; its features may still fail to plan.
            // A loop that fails stops the run and says why, as the board does.
            if let Some(Err(e)) = started {
                send_message(&handler.loop_failed(e.code()));
                sensors.state = handler.state();
                return;
            }
        }
    }
    let (which, rate) = match state {
        State::Idle => return,
        State::Running(sensor::MIC) | State::Streaming(sensor::MIC) => (sensor::MIC, MIC_RATE_HZ),
        State::Running(_) | State::Streaming(_) => (sensor::IMU, IMU_RATE_HZ),
    };
    let due = (sensors.started.elapsed().as_secs_f64() * rate as f64) as u64;
    // Values per sample: x, y, z for the IMU.
    let per = if which == sensor::IMU { 3 } else { 1 };
    let mut values = [0i16; (MAX_BODY - 4) / 2];
    let mut data = [0u8; MAX_BODY - 4];
    while sensors.made < due {
        let start = sensors.made;
        let n = ((due - start) as usize).min(values.len() / per);
        for i in 0..n {
            let at = start + i as u64;
            if which == sensor::IMU {
                let played = movement.get(3 * at as usize..3 * at as usize + 3);
                for (k, v) in walk(at as f64 / rate as f64).iter().enumerate() {
                    values[3 * i + k] = match played {
                        Some(xyz) => xyz[k],
                        None => (v + sensors.room() as f64).round() as i16,
                    };
                }
            } else {
                values[i] = match sound.get(at as usize) {
                    Some(&v) => v,
                    None => sensors.room(),
                };
            }
        }
        sensors.made += n as u64;
        let rest = &values[..per * n];
        if let State::Streaming(_) = state {
            let data = samples_le(rest, &mut data);
            send_message(&Response::Samples {
                sensor: which,
                data,
            });
            continue;
        }
        // Each window ends at the last sample taken, on the board's clock.
        let started_ms = sensors.started_ms;
        let time_ms = |left: usize| {
            let heard_at = start + (n - left / per) as u64;
            (started_ms + heard_at * 1000 / rate as u64) as u32
        };
        let going = if which == sensor::MIC {
            sense_windows(
                &mut *sensors.listener,
                handler,
                arena,
                rest,
                time_ms,
                &mut send_message,
            )
        } else {
            sense_windows(
                &mut *sensors.motion,
                handler,
                arena,
                rest,
                time_ms,
                &mut send_message,
            )
        };
        if !going {
            sensors.state = handler.state();
            return;
        }
    }
}

/// Runs the windows of `sensor`'s loop over `rest`, as the board does: sends each window's
/// message (a Prediction, or the Nak that stops the run). False when the run stopped (no model,
/// or a window failed).
fn sense_windows<L: SensorLoop>(
    sensor: &mut L,
    handler: &mut Handler<SimFlash>,
    arena: &mut [i8],
    mut rest: &[i16],
    time_ms: impl Fn(usize) -> u32,
    send_message: &mut dyn FnMut(&Response),
) -> bool {
    let running = handler.state();
    loop {
        let mut scores = [0i8; MAX_CLASSES];
        let window = match handler.model() {
            Some(model) => next_window(sensor, &model, &mut rest, arena, &time_ms, &mut scores),
            None => return false,
        };
        let Some(window) = window else {
            return true;
        };
        let mut bytes = [0u8; MAX_CLASSES];
        send_message(&handler.window_message(window, &scores, &mut bytes));
        if handler.state() != running {
            return false;
        }
    }
}

/// The simulated walk: about two steps a second, gravity on z; x, y, z in mg at `t` seconds.
fn walk(t: f64) -> [f64; 3] {
    let phase = 2.0 * std::f64::consts::PI * 1.8 * t;
    [
        150.0 * (phase + 1.0).sin(),
        80.0 * (phase / 2.0).sin(),
        1000.0 + 250.0 * phase.sin(),
    ]
}
