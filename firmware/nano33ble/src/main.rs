//! The tinyml-kit firmware for the Arduino Nano 33 BLE Sense (nRF52840).
//!
//! What it does, with the same `tinyml-core` code as the laptop's simulator:
//! - appears as a USB serial port (CDC-ACM, Arduino's Nano 33 BLE ids, so `Board::open_auto` finds
//!   it) and speaks the serial protocol (`firmware/core/PROTOCOL.md`): COBS frames in, one
//!   response frame out per request, through the core's [`Handler`];
//! - keeps models in the flash model store (`src/flash.rs`, the region memory.x reserves), so a
//!   deployed model survives a reset and a broken upload never replaces the running one;
//! - runs Predict requests in a 128 KB static arena;
//! - shows what it is doing on the RGB LED: green while a model is active, blue while a model is
//!   being received, red after a panic; the orange LED is lit while a computer has the USB
//!   device configured.
//!
//! Not yet: the microphone, the MFCC loop, the recognizer and the IMU, so Run and Stream are
//! answered with `BadSensor` (`Board::sensors` is false).
#![no_std]
#![no_main]

mod flash;

use embassy_executor::Spawner;
use embassy_futures::join::join;
use embassy_nrf::config::{Config, HfclkSource};
use embassy_nrf::gpio::{Level, Output, OutputDrive};
use embassy_nrf::nvmc::{Nvmc, PAGE_SIZE};
use embassy_nrf::usb::vbus_detect::HardwareVbusDetect;
use embassy_nrf::usb::Driver;
use embassy_nrf::{bind_interrupts, peripherals, usb};
use embassy_time::{with_timeout, Duration};
use embassy_usb::class::cdc_acm::{CdcAcmClass, State};
use embassy_usb::driver::EndpointError;
use embassy_usb::Builder;
use static_cell::ConstStaticCell;
use tinyml_core::handler::{Board, Handler};
use tinyml_core::protocol::{encode_response, FrameReader, Response, Status, MAX_FRAME};
use tinyml_core::store::Store;

use flash::NvmcFlash;

/// Bytes per model slot (the largest model).
const SLOT: usize = 256 * 1024;
/// Bytes of RAM for the interpreter's arena.
const ARENA: usize = 128 * 1024;
/// Bytes per USB packet (full speed bulk endpoints).
const PACKET: usize = 64;
/// How long a response packet may wait for the host to read it. Longer, and the host has closed
/// the port: the rest of the response is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the board tells the host (`Info`).
const BOARD: Board = Board {
    // 1 (LSM9DS1) or 2 (BMI270) once the IMU is probed; 0 until then.
    revision: 0,
    simulated: false,
    arena_ram: ARENA,
    // No microphone or IMU loop yet: Run and Stream answer BadSensor.
    sensors: false,
};

/// The arena, in .bss (taken once, without copying it through the stack).
static ARENA_RAM: ConstStaticCell<[i8; ARENA]> = ConstStaticCell::new([0; ARENA]);

bind_interrupts!(struct Irqs {
    USBD => usb::InterruptHandler<peripherals::USBD>;
    CLOCK_POWER => usb::vbus_detect::InterruptHandler;
});

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

    // The model store: finds the active model (if any) at start-up.
    let flash = NvmcFlash::new(
        Nvmc::new(p.NVMC),
        Store::<NvmcFlash>::region_size(SLOT, PAGE_SIZE),
    );
    let mut handler = Handler::new(Store::open(flash, SLOT), BOARD);
    let arena = ARENA_RAM.take();
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
            let _ = serve(
                &mut serial,
                &mut handler,
                &mut arena[..],
                &mut reader,
                &mut out,
                &mut rgb,
            )
            .await;
            orange.set_low();
        }
    };
    join(usb.run(), protocol).await;
}

/// Answers requests until the USB connection ends.
async fn serve(
    serial: &mut Serial<'_>,
    handler: &mut Handler<NvmcFlash>,
    arena: &mut [i8],
    reader: &mut FrameReader,
    out: &mut [u8; MAX_FRAME],
    rgb: &mut Rgb,
) -> Result<(), EndpointError> {
    let mut packet = [0u8; PACKET];
    // True after a response was cut short: the host may hold part of a frame.
    let mut torn = false;
    loop {
        let n = serial.read_packet(&mut packet).await?;
        for &byte in &packet[..n] {
            let len = match reader.push(byte) {
                None => continue,
                Some(Ok(frame)) => handler.handle_frame(frame, arena, out),
                // Longer than any request: a Nak like a damaged frame's (sequence 0).
                Some(Err(e)) => encode_response(
                    &Response::Nak {
                        of: 0,
                        code: e.code(),
                        detail: 0,
                    },
                    0,
                    out,
                )
                .unwrap_or(0),
            };
            rgb.show(handler.status());
            // A zero first ends whatever the host kept of a cut response (an empty frame).
            if torn && !send(serial, &[0]).await? {
                continue;
            }
            torn = !send(serial, &out[..len]).await?;
        }
    }
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
