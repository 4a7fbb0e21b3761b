//! The tinyml-kit firmware for the Arduino Nano 33 BLE Sense (nRF52840).
//!
//! What it does, with the same `tinyml-core` code as the laptop's simulator:
//! - appears as a USB serial port (CDC-ACM, Arduino's Nano 33 BLE ids, so `Board::open_auto` finds
//!   it) and speaks the serial protocol (`firmware/core/PROTOCOL.md`): COBS frames in, one
//!   response frame out per request, through the core's [`Handler`];
//! - keeps models in the flash model store (`src/flash.rs`, the region memory.x reserves), so a
//!   deployed model survives a reset and a broken upload never replaces the running one;
//! - runs Predict requests in a 128 KB static arena;
//! - Run on the microphone: the core's keyword loop ([`Listener`]: a clip of 16 kHz audio every
//!   250 ms, MFCC, the model, the recognizer), a Prediction message per window, and the RGB LED
//!   in the heard class's colour for a second;
//! - Run on the accelerometer (rev1's LSM9DS1 or rev2's BMI270, at 50 Hz): the core's activity loop
//!   ([`MotionListener`]: the model's window of x, y, z samples every hop, the Day 1 features,
//!   the model), a Prediction message per window, and the LED in the activity's colour;
//! - Stream: raw microphone samples, or the accelerometer at 50 Hz;
//! - shows what it is doing on the RGB LED: green while a model is active, blue while a model is
//!   being received, red after a panic; the orange LED is lit while a computer has the USB
//!   device configured.
#![no_std]
#![no_main]

mod flash;
mod sensors;

use embassy_executor::{InterruptExecutor, Spawner};
use embassy_futures::join::join;
use embassy_futures::select::{select3, Either3};
use embassy_nrf::config::{Config, HfclkSource};
use embassy_nrf::gpio::{Level, Output, OutputDrive};
use embassy_nrf::interrupt;
use embassy_nrf::interrupt::{InterruptExt, Priority};
use embassy_nrf::nvmc::{Nvmc, PAGE_SIZE};
use embassy_nrf::pdm::{self, Pdm};
use embassy_nrf::twim::{self, Twim};
use embassy_nrf::usb::vbus_detect::HardwareVbusDetect;
use embassy_nrf::usb::Driver;
use embassy_nrf::{bind_interrupts, peripherals, usb};
use embassy_time::{with_timeout, Duration, Instant, Ticker, Timer};
use embassy_usb::class::cdc_acm::{CdcAcmClass, State};
use embassy_usb::driver::EndpointError;
use embassy_usb::Builder;
use static_cell::ConstStaticCell;
use tinyml_core::handler::{Board, Handler, State as Doing};
use tinyml_core::listen::{
    next_window, ListenError, Listener, RecognizerConfig, SensorLoop, Window, MAX_CLASSES,
};
use tinyml_core::motion::MotionListener;
use tinyml_core::protocol::{
    encode_response, samples_le, sensor, FrameReader, Response, Status, MAX_FRAME,
};
use tinyml_core::store::Store;

use flash::NvmcFlash;
use sensors::{Imu, BLOCK, BLOCKS, LISTENING, START};

/// Bytes per model slot (the largest model).
const SLOT: usize = 256 * 1024;
/// Bytes of RAM for the interpreter's arena.
const ARENA: usize = 128 * 1024;
/// Bytes per USB packet (full speed bulk endpoints).
const PACKET: usize = 64;
/// How long a response packet may wait for the host to read it. Longer, and the host has closed
/// the port: the rest of the response is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Accelerometer values (x, y, z) per Samples message: 10 triples, 200 ms at 50 Hz.
const IMU_BATCH: usize = 30;
/// Between two accelerometer samples.
const IMU_PERIOD: Duration = Duration::from_hz(sensor::IMU_RATE_HZ as u64);
/// How long the LED shows a heard class.
const SHOW_HEARD: Duration = Duration::from_secs(1);

/// The arena, in .bss (taken once, without copying it through the stack).
static ARENA_RAM: ConstStaticCell<[i8; ARENA]> = ConstStaticCell::new([0; ARENA]);
/// The keyword loop's state (about 49 KB with the core's `small-tables`), in .bss.
static LISTENER: ConstStaticCell<Listener> = ConstStaticCell::new(Listener::new());
/// The activity loop's state (about 1 KB with `small-tables`), in .bss.
static MOTION: ConstStaticCell<MotionListener> = ConstStaticCell::new(MotionListener::new());
/// The microphone task runs here, above the protocol loop, so that inference never starves it.
static SENSOR_EXECUTOR: InterruptExecutor = InterruptExecutor::new();
/// The TWIM's buffer for writes from flash.
static TWIM_TX: ConstStaticCell<[u8; 16]> = ConstStaticCell::new([0; 16]);

bind_interrupts!(struct Irqs {
    USBD => usb::InterruptHandler<peripherals::USBD>;
    CLOCK_POWER => usb::vbus_detect::InterruptHandler;
    PDM => pdm::InterruptHandler<peripherals::PDM>;
    TWISPI0 => twim::InterruptHandler<peripherals::TWISPI0>;
});

#[interrupt]
unsafe fn EGU1_SWI1() {
    // SAFETY: the executor's interrupt, as InterruptExecutor::start requires.
    unsafe { SENSOR_EXECUTOR.on_interrupt() }
}

type Serial<'d> = CdcAcmClass<'d, Driver<'d, HardwareVbusDetect>>;

#[embassy_executor::main]
async fn main(_spawner: Spawner) {
    let mut config = Config::default();
    // USB needs the 32 MHz crystal (the internal oscillator is not accurate enough).
    config.hfclk_source = HfclkSource::ExternalXtal;
    let p = embassy_nrf::init(config);

    let mut rgb = Rgb {
        red: Output::new(p.P0_24, Level::High, OutputDrive::Standard),
        green: Output::new(p.P0_16, Level::High, OutputDrive::Standard),
        blue: Output::new(p.P0_06, Level::High, OutputDrive::Standard),
    };
    // The orange LED is active high.
    let mut orange = Output::new(p.P0_13, Level::Low, OutputDrive::Standard);

    // The sensors' power (VDD_ENV) and the internal I2C bus's pull-ups (R_PULLUP), both active
    // high; the IMU answers a few milliseconds later.
    let _sensor_power = Output::new(p.P0_22, Level::High, OutputDrive::HighDrive);
    let _i2c_pullup = Output::new(p.P1_00, Level::High, OutputDrive::Standard);
    Timer::after_millis(10).await;
    let mut twim = Twim::new(
        p.TWISPI0,
        Irqs,
        p.P0_14,
        p.P0_15,
        twim::Config::default(),
        TWIM_TX.take(),
    );
    let imu = sensors::detect(&mut twim).await;

    // The microphone (CLK P0.26, DIN P0.25, power P0.17 active high), sampled on the
    // high-priority executor.
    let pdm = Pdm::new(p.PDM, Irqs, p.P0_26, p.P0_25, sensors::pdm_config());
    let mic_power = Output::new(p.P0_17, Level::Low, OutputDrive::Standard);
    interrupt::EGU1_SWI1.set_priority(Priority::P6);
    let sensor_spawner = SENSOR_EXECUTOR.start(interrupt::EGU1_SWI1);
    sensor_spawner.spawn(sensors::microphone(pdm, mic_power).expect("one microphone task"));

    // The model store: finds the active model (if any) at start-up.
    let flash = NvmcFlash::new(
        Nvmc::new(p.NVMC),
        Store::<NvmcFlash>::region_size(SLOT, PAGE_SIZE),
    );
    let board = Board {
        revision: imu.revision(),
        simulated: false,
        arena_ram: ARENA,
        microphone: true,
        imu: imu.works(),
    };
    let mut handler = Handler::new(Store::open(flash, SLOT), board);
    let arena = ARENA_RAM.take();
    let mut loops = Loops {
        keywords: LISTENER.take(),
        motion: MOTION.take(),
    };
    rgb.show(handler.status());

    // USB: a CDC-ACM serial port, with the ids of Arduino's own Nano 33 BLE firmware.
    let driver = Driver::new(p.USBD, Irqs, HardwareVbusDetect::new(Irqs));
    let mut usb_config = embassy_usb::Config::new(0x2341, 0x805A);
    usb_config.manufacturer = Some("tinyml-kit");
    usb_config.product = Some("Nano 33 BLE Sense (tinyml-kit)");
    usb_config.max_power = 100;
    // The defaults describe a composite device with interface association descriptors, which
    // Windows needs to bind its serial driver to CDC-ACM.
    let mut config_descriptor = [0; 256];
    let mut bos_descriptor = [0; 64];
    let mut control_buf = [0; 64];
    let mut state = State::new();
    let mut builder = Builder::new(
        driver,
        usb_config,
        &mut config_descriptor,
        &mut bos_descriptor,
        &mut [], // no Microsoft OS descriptors
        &mut control_buf,
    );
    let mut serial = CdcAcmClass::new(&mut builder, &mut state, PACKET as u16);
    let mut usb = builder.build();

    let protocol = async {
        let mut out = [0u8; MAX_FRAME];
        loop {
            serial.wait_connection().await;
            orange.set_high();
            // A new connection starts with no half-received frame.
            let mut reader = FrameReader::new();
            // Err: the host went away (unplugged, or the device was reset by the host).
            let mut io = Io {
                serial: &mut serial,
                out: &mut out,
                torn: false,
                rgb: &mut rgb,
                heard_until: None,
            };
            let _ = serve(
                &mut io,
                &mut handler,
                &mut arena[..],
                &mut reader,
                &mut loops,
                (&mut twim, imu),
            )
            .await;
            // Nobody to send predictions or samples to.
            LISTENING.store(false, core::sync::atomic::Ordering::Relaxed);
            orange.set_low();
        }
    };
    join(usb.run(), protocol).await;
}

/// The serial port, the LED, and what the last response left behind.
struct Io<'a, 'd> {
    serial: &'a mut Serial<'d>,
    out: &'a mut [u8; MAX_FRAME],
    /// True after a response was cut short: the host may hold part of a frame.
    torn: bool,
    rgb: &'a mut Rgb,
    /// The LED shows a heard class until then.
    heard_until: Option<Instant>,
}

impl Io<'_, '_> {
    /// Sends the first `len` bytes of `out` as one frame (dropped if the host stops reading).
    async fn send_out(&mut self, len: usize) -> Result<(), EndpointError> {
        // A zero first ends whatever the host kept of a cut response (an empty frame).
        if self.torn && !send(self.serial, &[0]).await? {
            return Ok(());
        }
        self.torn = !send(self.serial, &self.out[..len]).await?;
        Ok(())
    }

    /// Encodes and sends an unsolicited message (sequence 0).
    async fn send_message(&mut self, message: &Response<'_>) -> Result<(), EndpointError> {
        let len = encode_response(message, 0, self.out).unwrap_or(0);
        self.send_out(len).await
    }

    /// The LED: a heard class's colour for a second, else the board's status.
    fn show(&mut self, status: Status) {
        match self.heard_until {
            Some(until) if Instant::now() < until => {}
            _ => {
                self.heard_until = None;
                self.rgb.show(status);
            }
        }
    }
}

/// The model loops on the sensors (one runs at a time).
struct Loops {
    /// The keyword loop on the microphone.
    keywords: &'static mut Listener,
    /// The activity loop on the accelerometer.
    motion: &'static mut MotionListener,
}

/// Answers requests, and runs the sensors the handler says to, until the USB connection ends.
async fn serve(
    io: &mut Io<'_, '_>,
    handler: &mut Handler<NvmcFlash>,
    arena: &mut [i8],
    reader: &mut FrameReader,
    loops: &mut Loops,
    (twim, imu): (&mut Twim<'static>, Imu),
) -> Result<(), EndpointError> {
    let mut packet = [0u8; PACKET];
    let mut doing = handler.state();
    let mut triples = [0i16; IMU_BATCH];
    let mut n_triples = 0usize;
    // The accelerometer's clock: a sample every 20 ms, however long the rest of the loop takes.
    let mut ticker = Ticker::every(IMU_PERIOD);
    let mut last_tick = Instant::now();
    loop {
        let imu_tick = async {
            match doing {
                Doing::Streaming(sensor::IMU) | Doing::Running(sensor::IMU) => ticker.next().await,
                _ => core::future::pending::<()>().await,
            }
        };
        match select3(
            io.serial.read_packet(&mut packet),
            BLOCKS.receive(),
            imu_tick,
        )
        .await
        {
            Either3::First(n) => {
                let n = n?;
                for &byte in &packet[..n] {
                    let Some(frame) = reader.push(byte) else {
                        continue;
                    };
                    let len = handler.handle_frame(frame, arena, io.out);
                    io.show(handler.status());
                    io.send_out(len).await?;
                    let now = handler.state();
                    if now != doing {
                        if let Err(code) = start_sensors(now, handler, loops) {
                            // Told, not swallowed: the run stops and the laptop shows why.
                            let nak = handler.loop_failed(code);
                            io.send_message(&nak).await?;
                            let _ = start_sensors(handler.state(), handler, loops);
                        }
                        doing = handler.state();
                        n_triples = 0;
                        ticker.reset();
                    }
                }
            }
            Either3::Second(block) => match doing {
                Doing::Running(sensor::MIC) => {
                    sense(io, handler, arena, loops.keywords, &block).await?;
                    io.show(handler.status());
                    if handler.state() != doing {
                        // The loop failed and stopped the run.
                        doing = handler.state();
                        let _ = start_sensors(doing, handler, loops);
                    }
                }
                Doing::Streaming(sensor::MIC) => {
                    for half in block.chunks(BLOCK / 2) {
                        let mut data = [0u8; BLOCK];
                        io.send_message(&Response::Samples {
                            sensor: sensor::MIC,
                            data: samples_le(half, &mut data),
                        })
                        .await?;
                    }
                }
                // Left over after a Stop.
                _ => {}
            },
            // Ticks that come back to back are the ticker catching up after the loop stalled
            // (the laptop not reading): skipped, so that no sample is read twice.
            Either3::Third(()) if last_tick.elapsed() < IMU_PERIOD / 2 => {
                ticker.reset();
            }
            Either3::Third(()) if doing == Doing::Running(sensor::IMU) => {
                last_tick = Instant::now();
                if let Some(xyz) = sensors::acceleration_mg(twim, imu).await {
                    sense(io, handler, arena, loops.motion, &xyz).await?;
                    io.show(handler.status());
                    if handler.state() != doing {
                        doing = handler.state();
                        let _ = start_sensors(doing, handler, loops);
                    }
                }
            }
            Either3::Third(()) => {
                last_tick = Instant::now();
                if let Some(xyz) = sensors::acceleration_mg(twim, imu).await {
                    triples[3 * n_triples..3 * n_triples + 3].copy_from_slice(&xyz);
                    n_triples += 1;
                }
                if n_triples == triples.len() / 3 {
                    let mut data = [0u8; 2 * IMU_BATCH];
                    io.send_message(&Response::Samples {
                        sensor: sensor::IMU,
                        data: samples_le(&triples, &mut data),
                    })
                    .await?;
                    n_triples = 0;
                }
            }
        }
    }
}

/// Starts the model loop, and starts or stops the microphone, for what the handler now does.
/// Gives the Nak code when the model's loop cannot start (features that cannot be planned).
fn start_sensors(now: Doing, handler: &Handler<NvmcFlash>, loops: &mut Loops) -> Result<(), u8> {
    use core::sync::atomic::Ordering;
    // The handler checked that there is a model, of the right kind, before it acknowledged Run.
    let started = match (now, handler.model()) {
        (Doing::Running(sensor::MIC), Some(m)) => loops
            .keywords
            .start(&m, RecognizerConfig::KEYWORDS)
            .map_err(|e| e.code()),
        (Doing::Running(_), Some(m)) => loops
            .motion
            .start(&m, RecognizerConfig::ACTIVITIES)
            .map_err(|e| e.code()),
        _ => Ok(()),
    };
    let mic = started.is_ok()
        && matches!(
            now,
            Doing::Running(sensor::MIC) | Doing::Streaming(sensor::MIC)
        );
    // Old blocks belong to what came before.
    while BLOCKS.try_receive().is_ok() {}
    LISTENING.store(mic, Ordering::Relaxed);
    if mic {
        START.signal(());
    }
    started
}

/// Feeds sensor values (a block of microphone samples, or one x, y, z triple) to `sensor`'s
/// loop; sends a Prediction per window. A window that fails stops the run with a Nak message
/// (`Handler::loop_failed`).
async fn sense<L: SensorLoop>(
    io: &mut Io<'_, '_>,
    handler: &mut Handler<NvmcFlash>,
    arena: &mut [i8],
    sensor: &mut L,
    values: &[i16],
) -> Result<(), EndpointError> {
    let mut rest = values;
    loop {
        let now_ms = |_left| Instant::now().as_millis() as u32;
        let mut scores = [0i8; MAX_CLASSES];
        let model = || handler.model();
        // None: the values ran out (or there is no model, which Run does not allow).
        let Some(window) = next_window(sensor, model, &mut rest, arena, now_ms, &mut scores) else {
            return Ok(());
        };
        if !report(io, handler, window, &scores).await? {
            return Ok(());
        }
    }
}

/// Sends a window's Prediction (showing a heard class on the LED), or the Nak that stopped the
/// run when it failed; gives whether the run goes on.
async fn report(
    io: &mut Io<'_, '_>,
    handler: &mut Handler<NvmcFlash>,
    window: Result<Window, ListenError>,
    scores: &[i8],
) -> Result<bool, EndpointError> {
    let mut bytes = [0u8; MAX_CLASSES];
    let message = handler.window_message(window, scores, &mut bytes);
    if let Response::Prediction { class, .. } = message {
        if class != 255 {
            io.rgb.class(class);
            io.heard_until = Some(Instant::now() + SHOW_HEARD);
        }
    }
    io.send_message(&message).await?;
    Ok(matches!(message, Response::Prediction { .. }))
}

/// Sends `bytes` in USB packets, and a zero-length packet after a full last one (the host's
/// serial driver reads in blocks of several packets, and only a short packet ends a block early).
/// Gives false if the host stopped reading (the rest is dropped).
async fn send(serial: &mut Serial<'_>, bytes: &[u8]) -> Result<bool, EndpointError> {
    if bytes.is_empty() {
        return Ok(true);
    }
    let zlp = bytes.len().is_multiple_of(PACKET).then_some(&[][..]);
    for p in bytes.chunks(PACKET).chain(zlp) {
        match with_timeout(WRITE_TIMEOUT, serial.write_packet(p)).await {
            Ok(written) => written?,
            Err(_timeout) => return Ok(false),
        }
    }
    Ok(true)
}

/// The RGB LED (each colour active low).
struct Rgb {
    red: Output<'static>,
    green: Output<'static>,
    blue: Output<'static>,
}

impl Rgb {
    /// The colour of class `c`: red, green, blue, yellow, magenta, cyan, white, then again.
    fn class(&mut self, c: u8) {
        let on = |lit: bool| if lit { Level::Low } else { Level::High };
        let (r, g, b) = [
            (true, false, false),
            (false, true, false),
            (false, false, true),
            (true, true, false),
            (true, false, true),
            (false, true, true),
            (true, true, true),
        ][c as usize % 7];
        self.red.set_level(on(r));
        self.green.set_level(on(g));
        self.blue.set_level(on(b));
    }

    /// Blue while a model is being received, else green while a model is active, else off.
    fn show(&mut self, status: Status) {
        let receiving = status.state == 1;
        let active = status.active_len != 0;
        let on = |lit: bool| if lit { Level::Low } else { Level::High };
        self.red.set_level(Level::High);
        self.green.set_level(on(active && !receiving));
        self.blue.set_level(on(receiving));
    }
}

/// A panic (a bug: the core never panics on bad input) stops everything and lights the LED red,
/// until the reset button is pressed.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    cortex_m::interrupt::disable();
    // GPIO port 0's OUTSET, OUTCLR and DIRSET registers (nRF52840 product specification, GPIO).
    const P0_OUTSET: *mut u32 = 0x5000_0508 as *mut u32;
    const P0_OUTCLR: *mut u32 = 0x5000_050C as *mut u32;
    const P0_DIRSET: *mut u32 = 0x5000_0518 as *mut u32;
    let (red, green, blue) = (1 << 24, 1 << 16, 1 << 6);
    // SAFETY: plain writes to GPIO registers, with interrupts off; whatever drove these pins
    // before will not run again.
    unsafe {
        P0_OUTSET.write_volatile(green | blue);
        P0_OUTCLR.write_volatile(red);
        P0_DIRSET.write_volatile(red | green | blue);
    }
    loop {
        cortex_m::asm::wfi();
    }
}
