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
use std::time::{Duration, Instant};

use serialport::{SerialPort, SerialPortType};
use tinyml_core::limits::Limits;
use tinyml_core::listen::RecognizerConfig;
use tinyml_core::mfcc::pcm16_to_f32;
use tinyml_core::model::{Budget, ModelError, Tensor};
use tinyml_core::protocol::{
    decode_frame, encode_request, kind, sensor, FrameReader, Info, ProtocolError, Request,
    Response, Status, MAX_CHUNK, MAX_FRAME, MAX_PACKET,
};

use crate::audio::Audio;
use crate::error::{DeviceError, Error, Result};
use crate::kws::KeywordData;
use crate::quantize::QuantizedModel;

mod listening;
mod simulator;

pub use listening::*;
use listening::{recognizer_of, softmax_output};
pub use simulator::*;

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
    let found = serialport::available_ports().map_err(|e| {
        Error::Device(DeviceError::CannotOpen(format!(
            "cannot list serial ports: {e}"
        )))
    })?;
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
        _ => Err(Error::Device(DeviceError::Protocol(
            "an unexpected answer to Status".into(),
        ))),
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
pub(crate) fn refusal_message(of: u8, code: u8, detail: u32) -> String {
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
        Error::Device(DeviceError::CannotOpen(format!(
            "{name}: not a simulator's address (tcp://127.0.0.1:PORT/TOKEN, as the simulator prints it)"
        )))
    };
    let rest = name.strip_prefix(SIMULATOR_SOCKET_SCHEME).ok_or_else(bad)?;
    let (address, token) = rest.split_once('/').ok_or_else(bad)?;
    let address: std::net::SocketAddr = address.parse().map_err(|_| bad())?;
    if !address.ip().is_loopback() || token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(bad());
    }
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2))
        .map_err(|e| {
            Error::Device(DeviceError::CannotOpen(format!(
                "cannot reach the simulator at {address}: {e}. Is it still running?"
            )))
        })?;
    let setup = |e: std::io::Error| Error::Device(DeviceError::Link(format!("{address}: {e}")));
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
            .map_err(|e| Error::Device(DeviceError::CannotOpen(open_error(name, &e))))?;
        Board::from_port(port, name)
    }

    /// The first Arduino Nano 33 BLE found, or a clear error.
    pub fn open_auto() -> Result<Board> {
        let ports = ports()?;
        match ports.iter().find(|p| p.is_nano && !p.bootloader) {
            Some(p) => Board::open(&p.name),
            None if ports.iter().any(|p| p.bootloader) => {
                Err(Error::Device(DeviceError::NotFound(
                    "the Nano is in its bootloader (its LED pulses): flash the firmware with \
                 `tinyml flash`, or press reset once"
                        .into(),
                )))
            }
            None => Err(Error::Device(DeviceError::NotFound(format!(
                "no Arduino Nano 33 BLE found ({} serial port(s): {}). Plug it in with a data \
                 USB cable, or use the simulator: `tinyml simulate` (in a notebook: \
                 `Simulator::start()?`)",
                ports.len(),
                ports
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))),
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
            .map_err(|e| {
                Error::Device(DeviceError::Link(format!(
                    "{}: writing failed: {e} (unplugged?)",
                    self.name
                )))
            })
    }

    /// Sends a request frame and waits for the reply with its sequence number (`None`: no
    /// reply in time, lost or damaged on the way back).
    fn send(&mut self, request: &Request) -> Result<Option<Reply>> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut frame = [0u8; MAX_FRAME];
        let n = encode_request(request, self.seq, &mut frame).map_err(|e| {
            Error::Device(DeviceError::Protocol(format!(
                "cannot encode the request: {e:?}"
            )))
        })?;
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
                    return Err(Error::Device(DeviceError::Link(format!(
                        "{}: reading failed: {e} (unplugged?)",
                        self.name
                    ))));
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
                        self.loop_failure = Some(refusal_message(of, code, detail));
                    }
                    // A damaged request comes back as a Nak of type 0 with sequence 0.
                    _ => return Ok(Some(reply)),
                }
            }
        }
        Ok(None)
    }

    fn no_answer(&self) -> Error {
        Error::Device(DeviceError::NoAnswer {
            port: self.name.clone(),
            seconds: self.timeout.as_secs_f64(),
        })
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
            _ => Err(Error::Device(DeviceError::Protocol(format!(
                "{}: the device did not answer Hello as the kit's firmware does (is it running \
                 another sketch? `tinyml flash` installs the kit's firmware)",
                self.name
            )))),
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
                Err(Error::Device(DeviceError::Refused { of, code, detail }))
            }
            _ => Err(Error::Device(DeviceError::Protocol(
                "an unexpected answer".into(),
            ))),
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
                    return Err(Error::Device(DeviceError::Refused { of, code, detail }))
                }
                _ => {
                    return Err(Error::Device(DeviceError::Protocol(
                        "an unexpected answer to a chunk".into(),
                    )))
                }
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
                return Err(Error::Device(DeviceError::Deploy(format!(
                    "{}: the board dropped the upload (it refused the model, or it was reset) \
                     and kept model {:08x}: deploy again",
                    self.name, status.active_crc
                ))));
            }
        };
        if confirmed != crc {
            return Err(Error::Device(DeviceError::Deploy(format!(
                "the board confirmed CRC {confirmed:08x}, the model's is {crc:08x}: deploy again"
            ))));
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
            return Err(Error::Device(DeviceError::Deploy(format!(
                "{}: {DEPLOY_RETRIES} requests lost or damaged during one deploy: check the \
                 cable (or try another USB port) and deploy again",
                self.name
            ))));
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
                Err(Error::Device(DeviceError::Refused { of, code, detail }))
            }
            _ => Err(Error::Device(DeviceError::Protocol(
                "an unexpected answer to Predict".into(),
            ))),
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
            return Err(Error::Device(DeviceError::Deploy(format!(
                "the board on {} runs another model (CRC {:08x}, {} bytes) than {name} (CRC \
                 {crc:08x}): deploy it first (`tinyml deploy`)",
                self.name, self.info.active_crc, self.info.active_len
            ))));
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
                        break Err(Error::Device(DeviceError::Stopped(format!(
                            "the board stopped {}: {}",
                            which.doing(),
                            refusal_message(of, code, detail)
                        ))));
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
            return Err(Error::Device(DeviceError::Stopped(format!(
                "the board stopped {}: {failure}",
                which.doing()
            ))));
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
                    break Err(Error::Device(DeviceError::Stopped(format!(
                        "{}: the board sent {} of {count} samples, then stopped",
                        self.name,
                        samples.len()
                    ))))
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
            .map_err(|e| Error::Device(DeviceError::Protocol(format!("{e:?}"))))?;
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
