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

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::{SerialPort, SerialPortType};
use tinyml_core::handler::{Board as BoardInfo, Handler};
use tinyml_core::model::{Budget, ModelError};
use tinyml_core::protocol::{
    decode_frame, encode_request, kind, FrameReader, Info, ProtocolError, Request, Response,
    Status, MAX_CHUNK, MAX_FRAME, MAX_PACKET,
};
use tinyml_core::store::{RamFlash, Store};

use crate::error::{Error, Result};
use crate::quantize::QuantizedModel;

/// Arduino's USB vendor id.
pub const ARDUINO_VID: u16 = 0x2341;
/// USB product ids of the Nano 33 BLE (Sense): the running sketch, and the bootloader.
pub const NANO_33_BLE_PIDS: [u16; 2] = [0x805A, 0x005A];
/// How long to wait for an answer.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts per request when frames are damaged on the way.
const ATTEMPTS: usize = 3;

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

/// A board (or the simulator) on a serial port.
pub struct Board {
    port: Box<dyn SerialPort>,
    name: String,
    reader: FrameReader,
    seq: u16,
    info: Info,
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
        (_, Some(P::BadSensor)) => {
            "no such sensor on this board (the simulator and firmware 0.1 have none yet)".into()
        }
        (_, Some(P::Busy)) => "the board is busy (running or streaming): stop it first".into(),
        (_, Some(P::ArenaTooSmall)) => {
            format!("the model needs {detail} bytes of arena, more than the board has")
        }
        (None, None) => format!("error {code}"),
    };
    format!("{what} (request 0x{of:02x}, error {code})")
}

impl Board {
    /// Opens the board on serial port `name` and says hello.
    pub fn open(name: &str) -> Result<Board> {
        let port = serialport::new(name, 115_200)
            .timeout(Duration::from_millis(50))
            .open()
            .map_err(|e| {
                Error::Device(format!(
                    "cannot open {name}: {e}. Is the board plugged in (`tinyml ports` lists the \
                     ports), or is another program (a serial monitor) using it?"
                ))
            })?;
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

    /// A board on an open port (for example one end of a pseudo-terminal).
    pub fn from_port(port: Box<dyn SerialPort>, name: &str) -> Result<Board> {
        let mut board = Board {
            port,
            name: name.to_string(),
            reader: FrameReader::new(),
            seq: 0,
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

    /// Sends a request frame and waits for the reply with its sequence number.
    fn send(&mut self, request: &Request) -> Result<Reply> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut frame = [0u8; MAX_FRAME];
        let n = encode_request(request, self.seq, &mut frame)
            .map_err(|e| Error::Device(format!("cannot encode the request: {e:?}")))?;
        self.write(&frame[..n])?;
        self.receive(self.seq)
    }

    /// Reads frames until the reply to `seq` (skipping predictions and samples).
    fn receive(&mut self, seq: u16) -> Result<Reply> {
        let deadline = Instant::now() + TIMEOUT;
        let mut byte = [0u8; 256];
        while Instant::now() < deadline {
            let n = match self.port.read(&mut byte) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => 0,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                Err(e) => {
                    return Err(Error::Device(format!(
                        "{}: reading failed: {e} (unplugged?)",
                        self.name
                    )))
                }
            };
            for &b in &byte[..n] {
                let Some(Ok(frame)) = self.reader.push(b) else {
                    continue;
                };
                let mut buf = [0u8; MAX_PACKET];
                let Ok(p) = decode_frame(frame, &mut buf) else {
                    continue;
                };
                // A damaged request comes back as a Nak with sequence 0.
                if p.seq == seq || (p.seq == 0 && p.kind == kind::NAK) {
                    return Ok(Reply {
                        kind: p.kind,
                        seq: p.seq,
                        body: p.body.to_vec(),
                    });
                }
            }
        }
        Err(Error::Device(format!(
            "{}: no answer within {} s. Is the kit's firmware on the board (`tinyml flash`)?",
            self.name,
            TIMEOUT.as_secs()
        )))
    }

    /// Sends `request`, again when the frame was damaged on the way, and parses the answer.
    fn ask(&mut self, request: &Request) -> Result<Reply> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let reply = self.send(request)?;
            if reply.seq == 0 {
                last = Some(reply);
                continue;
            }
            return Ok(reply);
        }
        Ok(last.expect("at least one attempt"))
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
        match Response::parse(reply.kind, &reply.body) {
            Ok(Response::Status(s)) => Ok(s),
            _ => Err(Error::Device("an unexpected answer to Status".into())),
        }
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
        self.expect_ack(&Request::BeginModel {
            len: bytes.len() as u32,
            crc,
        })?;
        let mut offset = 0usize;
        let mut retries = 0usize;
        let mut last_shown = 0usize;
        while offset < bytes.len() {
            let end = (offset + MAX_CHUNK).min(bytes.len());
            let request = Request::Chunk {
                offset: offset as u32,
                bytes: &bytes[offset..end],
            };
            let reply = self.ask(&request)?;
            match Response::parse(reply.kind, &reply.body) {
                Ok(Response::Ack { value, .. }) if value as usize == end => offset = end,
                // The board expects another offset (a lost Ack): continue from there.
                Ok(Response::Nak { code, detail, .. })
                    if code == ProtocolError::WrongOffset.code()
                        && (detail as usize) <= bytes.len()
                        && retries < 20 =>
                {
                    offset = detail as usize;
                    retries += 1;
                }
                // A damaged frame on the way: send the chunk again.
                Ok(Response::Nak { code, .. })
                    if matches!(
                        ProtocolError::from_code(code),
                        Some(ProtocolError::BadFrame | ProtocolError::BadCrc)
                    ) && retries < 20 =>
                {
                    retries += 1
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
        let confirmed = self.expect_ack(&Request::Commit)?;
        if confirmed != crc {
            return Err(Error::Device(format!(
                "the board confirmed CRC {confirmed:08x}, the model's is {crc:08x}: deploy again"
            )));
        }
        self.info = self.hello()?;
        Ok(DeployReport {
            bytes: bytes.len(),
            crc,
            retries,
            seconds: started.elapsed().as_secs_f64(),
        })
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
        let reply = self.receive(self.seq)?;
        Ok(match Response::parse(reply.kind, &reply.body) {
            Ok(Response::Nak { code, .. }) => (reply.kind, code),
            _ => (reply.kind, 0),
        })
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

impl DeployReport {
    /// Shows the report in Jupyter.
    pub fn evcxr_display(&self) {
        println!(
            "sent {} bytes in {:.2} s; the board confirmed CRC {:08x}{}",
            self.bytes,
            self.seconds,
            self.crc,
            if self.retries > 0 {
                format!(" ({} chunk(s) sent again)", self.retries)
            } else {
                String::new()
            }
        );
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
}

/// The board's firmware logic (protocol handler, model store, interpreter from `tinyml-core`)
/// behind a pseudo-terminal: open [`Simulator::port`] as you would a board.
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
    // The simulated microphone and IMU do not exist yet: Run and Stream are refused.
    sensors: false,
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
        let slot = Budget::NANO_33_BLE.model_flash;
        let flash = SimFlash::new(vec![0; Store::<SimFlash>::region_size(slot, PAGE)], PAGE);
        let state = Arc::new(Mutex::new(SimState {
            handler: Some(Handler::new(Store::open(flash, slot), SIMULATED)),
            arena: vec![0; SIMULATED.arena_ram],
        }));
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

    /// The simulator needs a pseudo-terminal: Linux or macOS.
    #[cfg(not(unix))]
    pub fn start() -> Result<Simulator> {
        Err(Error::Device(
            "the simulator needs a pseudo-terminal (Linux, macOS, or WSL on Windows)".into(),
        ))
    }

    /// The port to open, e.g. `/dev/pts/3`.
    pub fn port(&self) -> &str {
        &self.port_name
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

/// The simulator's loop: bytes in, frames handled, responses out.
#[cfg(unix)]
fn serve(mut port: serialport::TTYPort, state: Arc<Mutex<SimState>>, stop: Arc<AtomicBool>) {
    let mut reader = FrameReader::new();
    let mut buf = [0u8; 512];
    let mut out = [0u8; MAX_FRAME];
    while !stop.load(Ordering::Relaxed) {
        let n = match port.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(_) => {
                // No client on the other end right now.
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        for &b in &buf[..n] {
            let len = match reader.push(b) {
                None => continue,
                Some(frame) => {
                    let mut s = state.lock().expect("simulator state");
                    let SimState { handler, arena } = &mut *s;
                    let Some(handler) = handler.as_mut() else {
                        continue;
                    };
                    match frame {
                        Ok(frame) => handler.handle_frame(frame, arena, &mut out),
                        Err(e) => tinyml_core::protocol::encode_response(
                            &Response::Nak {
                                of: 0,
                                code: e.code(),
                                detail: 0,
                            },
                            0,
                            &mut out,
                        )
                        .unwrap_or(0),
                    }
                }
            };
            if port.write_all(&out[..len]).is_err() {
                break;
            }
        }
    }
}
