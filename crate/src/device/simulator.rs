//! The simulator: the board's protocol handler, model store and interpreter (`tinyml-core`)
//! with RAM flash and the board's limits, behind a pseudo-terminal (a local socket on Windows),
//! with a stand-in microphone and accelerometer.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[cfg(unix)]
use serialport::SerialPort;
use tinyml_core::handler::{Board as BoardInfo, Handler, State};
use tinyml_core::listen::{next_window, Listener, RecognizerConfig, SensorLoop, MAX_CLASSES};
use tinyml_core::model::Budget;
use tinyml_core::motion::MotionListener;
use tinyml_core::protocol::{
    encode_response, samples_le, sensor, FrameReader, Response, MAX_BODY, MAX_FRAME,
};
use tinyml_core::store::{RamFlash, Store};

use crate::audio::Audio;
use crate::error::{DeviceError, Error, Result};

use super::{
    no_data_yet, ImuRecording, IMU_RATE_HZ, MAX_TOKEN_BYTES, MIC_RATE_HZ, SIMULATOR_SOCKET_SCHEME,
};

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
            Error::Device(DeviceError::Server(format!(
                "cannot create a pseudo-terminal for the simulator: {e}"
            )))
        })?;
        let port_name = device_end.name().ok_or_else(|| {
            Error::Device(DeviceError::Server(
                "the pseudo-terminal has no name".into(),
            ))
        })?;
        drop(device_end);
        let state = Arc::new(Mutex::new(SimState::new()));
        let stop = Arc::new(AtomicBool::new(false));
        host_end
            .set_timeout(Duration::from_millis(20))
            .map_err(|e| Error::Device(DeviceError::Server(format!("pseudo-terminal: {e}"))))?;
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
    /// (`tcp://127.0.0.1:PORT/TOKEN`), which [`Board::open`](super::Board::open) and `--port` take as they take a
    /// serial port. One client at a time, as a serial port; a client whose first line is not
    /// the token is dropped and reaches nothing.
    pub fn start_tcp() -> Result<Simulator> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|e| {
            Error::Device(DeviceError::Server(format!(
                "cannot open a local socket for the simulator: {e}"
            )))
        })?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::Device(DeviceError::Server(format!("simulator socket: {e}"))))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::Device(DeviceError::Server(format!("simulator socket: {e}"))))?;
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
/// message (a Prediction, or the Nak that stops the run). False when a window failed and stopped
/// the run.
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
        let model = || handler.model();
        // None: the values ran out (or there is no model, which Run does not allow).
        let Some(window) = next_window(sensor, model, &mut rest, arena, &time_ms, &mut scores)
        else {
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
