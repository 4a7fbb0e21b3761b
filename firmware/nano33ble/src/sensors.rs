//! The board's sensors: the PDM microphone (sampled by a task on a high-priority executor, so
//! that a 100 ms inference never makes it drop samples) and the IMU on the internal I2C bus
//! (the board revision is told by which IMU answers): rev1's LSM9DS1, or rev2's BMI270 after
//! Bosch's configuration file is uploaded to it.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use embassy_nrf::gpio::Output;
use embassy_nrf::pdm::{self, Pdm, SamplerState};
use embassy_nrf::twim::Twim;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_sync::signal::Signal;
use embassy_time::Timer;

/// Microphone samples per block (32 ms at 16 kHz).
pub const BLOCK: usize = 512;
/// Blocks waiting for the protocol loop: 6 blocks hold 192 ms, more than one window's MFCC and
/// inference (about 6.2 million instructions, roughly 0.1 s at 64 MHz).
pub static BLOCKS: Channel<CriticalSectionRawMutex, [i16; BLOCK], 6> = Channel::new();
/// Starts the microphone.
pub static START: Signal<CriticalSectionRawMutex, ()> = Signal::new();
/// Cleared to stop the microphone.
pub static LISTENING: AtomicBool = AtomicBool::new(false);
/// Blocks dropped because the protocol loop was behind.
pub static DROPPED: AtomicU32 = AtomicU32::new(0);

/// The PDM configuration: 1.28 MHz clock and ratio 80 give 16 kHz (Arduino's PDM library does
/// the same; the MP34DT05 needs at least 1.2 MHz). Gain 0 dB: every window is peak-normalised.
pub fn pdm_config() -> pdm::Config {
    pdm::Config {
        frequency: pdm::Frequency::_1280k,
        ratio: pdm::Ratio::Ratio80,
        ..Default::default()
    }
}

/// Samples the microphone while [`LISTENING`] is set, block after block into [`BLOCKS`].
#[embassy_executor::task]
pub async fn microphone(mut pdm: Pdm<'static>, mut power: Output<'static>) {
    let mut buffers = [[0i16; BLOCK]; 2];
    loop {
        START.wait().await;
        power.set_high();
        // The microphone needs about 10 ms after power-up.
        Timer::after_millis(10).await;
        let _ = pdm
            .run_task_sampler(&mut buffers, |block| {
                if BLOCKS.try_send(*block).is_err() {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                }
                if LISTENING.load(Ordering::Relaxed) {
                    SamplerState::Sampled
                } else {
                    SamplerState::Stopped
                }
            })
            .await;
        power.set_low();
    }
}

/// Which IMU the board has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imu {
    /// Rev1: ST LSM9DS1 (accelerometer and gyroscope at 0x6B), started at 50 Hz, ±4 g.
    Lsm9ds1,
    /// Rev2: Bosch BMI270 at 0x68, configured and started at 50 Hz, ±4 g.
    Bmi270,
    /// An IMU that answered but could not be started (revision 1 or 2): the board reports its
    /// revision, and refuses the IMU.
    Failed(u8),
    /// No IMU answered.
    None,
}

impl Imu {
    /// The board revision it tells (0: unknown).
    pub fn revision(self) -> u8 {
        match self {
            Imu::Lsm9ds1 => 1,
            Imu::Bmi270 => 2,
            Imu::Failed(revision) => revision,
            Imu::None => 0,
        }
    }

    /// True when its accelerometer gives samples.
    pub fn works(self) -> bool {
        matches!(self, Imu::Lsm9ds1 | Imu::Bmi270)
    }
}

const LSM9DS1: u8 = 0x6B;
const LSM9DS1_WHO_AM_I: u8 = 0x0F;
const LSM9DS1_ID: u8 = 0x68;
const LSM9DS1_CTRL_REG6_XL: u8 = 0x20;
/// ODR 50 Hz (bits 7:5 = 010), ±4 g (bits 4:3 = 10).
const LSM9DS1_50HZ_4G: u8 = 0x50;
const LSM9DS1_OUT_X_XL: u8 = 0x28;
const BMI270: u8 = 0x68;
const BMI270_CHIP_ID: u8 = 0x00;
const BMI270_ID: u8 = 0x24;
// BMI270 registers (Bosch BMI270 datasheet, section 5, register map).
const BMI270_ACC_X_LSB: u8 = 0x0C;
const BMI270_INTERNAL_STATUS: u8 = 0x21;
const BMI270_ACC_CONF: u8 = 0x40;
const BMI270_ACC_RANGE: u8 = 0x41;
const BMI270_INIT_CTRL: u8 = 0x59;
const BMI270_INIT_ADDR_0: u8 = 0x5B;
const BMI270_INIT_DATA: u8 = 0x5E;
const BMI270_PWR_CONF: u8 = 0x7C;
const BMI270_PWR_CTRL: u8 = 0x7D;
const BMI270_CMD: u8 = 0x7E;
const BMI270_SOFT_RESET: u8 = 0xB6;
/// INTERNAL_STATUS message bits (3:0) after a good configuration: `init_ok`.
const BMI270_INIT_OK: u8 = 0x01;
/// ACC_CONF: filter performance mode (bit 7), normal bandwidth (bits 6:4 = 010), 50 Hz
/// (bits 3:0 = 0111).
const BMI270_ACC_50HZ: u8 = 0xA7;
/// ACC_RANGE: ±4 g, 8192 units per g.
const BMI270_RANGE_4G: u8 = 0x01;
/// PWR_CTRL: the accelerometer on (acc_en, bit 2).
const BMI270_ACC_EN: u8 = 0x04;
/// PWR_CONF: advanced power save off, FIFO self wake-up on (the datasheet's normal mode).
const BMI270_NORMAL_POWER: u8 = 0x02;
/// Configuration bytes per I2C write (any even number works; the TWIM sends from RAM).
const BMI270_CONFIG_CHUNK: usize = 64;

/// Finds the IMU (and starts the LSM9DS1's accelerometer at 50 Hz, ±4 g).
pub async fn detect(twim: &mut Twim<'static>) -> Imu {
    let mut id = [0u8];
    if twim
        .write_read(LSM9DS1, &[LSM9DS1_WHO_AM_I], &mut id)
        .await
        .is_ok()
        && id[0] == LSM9DS1_ID
    {
        if twim
            .write(LSM9DS1, &[LSM9DS1_CTRL_REG6_XL, LSM9DS1_50HZ_4G])
            .await
            .is_ok()
        {
            return Imu::Lsm9ds1;
        }
        return Imu::Failed(1);
    }
    if twim
        .write_read(BMI270, &[BMI270_CHIP_ID], &mut id)
        .await
        .is_ok()
        && id[0] == BMI270_ID
    {
        return match start_bmi270(twim).await {
            Ok(()) => Imu::Bmi270,
            Err(_) => Imu::Failed(2),
        };
    }
    Imu::None
}

/// Why an IMU could not be started.
#[derive(Debug)]
enum StartError {
    /// The I2C transfer failed.
    Bus,
    /// The BMI270 did not take its configuration (INTERNAL_STATUS is not `init_ok`).
    NotInitialised,
}

impl From<embassy_nrf::twim::Error> for StartError {
    fn from(_: embassy_nrf::twim::Error) -> Self {
        StartError::Bus
    }
}

/// Starts the BMI270 as its datasheet's initialisation sequence says: a soft reset, advanced
/// power save off, Bosch's 8 KB configuration file written to INIT_DATA (each chunk after its
/// word address in INIT_ADDR_0/1), INIT_CTRL set, and INTERNAL_STATUS checked for `init_ok`;
/// then the accelerometer alone at 50 Hz, ±4 g. About 0.8 s at the I2C bus's 100 kHz.
async fn start_bmi270(twim: &mut Twim<'static>) -> Result<(), StartError> {
    twim.write(BMI270, &[BMI270_CMD, BMI270_SOFT_RESET]).await?;
    Timer::after_millis(2).await;
    // The first access after a reset may be ignored (the interface wakes up): read once.
    let mut status = [0u8];
    let _ = twim
        .write_read(BMI270, &[BMI270_CHIP_ID], &mut status)
        .await;
    twim.write(BMI270, &[BMI270_PWR_CONF, 0x00]).await?;
    Timer::after_micros(450).await;
    twim.write(BMI270, &[BMI270_INIT_CTRL, 0x00]).await?;
    let config = &bmi2::config::BMI270_CONFIG_FILE;
    let mut chunk = [0u8; 1 + BMI270_CONFIG_CHUNK];
    chunk[0] = BMI270_INIT_DATA;
    for (k, part) in config.chunks(BMI270_CONFIG_CHUNK).enumerate() {
        // The address is in 16-bit words: 4 low bits in INIT_ADDR_0, the next 8 in INIT_ADDR_1.
        let word = k * BMI270_CONFIG_CHUNK / 2;
        twim.write(
            BMI270,
            &[BMI270_INIT_ADDR_0, (word & 0x0F) as u8, (word >> 4) as u8],
        )
        .await?;
        chunk[1..1 + part.len()].copy_from_slice(part);
        twim.write(BMI270, &chunk[..1 + part.len()]).await?;
    }
    twim.write(BMI270, &[BMI270_INIT_CTRL, 0x01]).await?;
    // The datasheet gives it 20 ms; Bosch's own driver polls. Up to 150 ms here.
    let mut ready = false;
    for _ in 0..30 {
        Timer::after_millis(5).await;
        twim.write_read(BMI270, &[BMI270_INTERNAL_STATUS], &mut status)
            .await?;
        if status[0] & 0x0F == BMI270_INIT_OK {
            ready = true;
            break;
        }
    }
    if !ready {
        return Err(StartError::NotInitialised);
    }
    twim.write(BMI270, &[BMI270_PWR_CTRL, BMI270_ACC_EN])
        .await?;
    twim.write(BMI270, &[BMI270_ACC_CONF, BMI270_ACC_50HZ])
        .await?;
    twim.write(BMI270, &[BMI270_ACC_RANGE, BMI270_RANGE_4G])
        .await?;
    twim.write(BMI270, &[BMI270_PWR_CONF, BMI270_NORMAL_POWER])
        .await?;
    Ok(())
}

/// One accelerometer sample, x, y, z in mg, in the board's axes (rev1's): LSM9DS1 at ±4 g,
/// 0.122 mg per unit; BMI270 at ±4 g, 8192 units per g, turned to rev1's axes as Arduino's
/// BMI270 library does (x = −y, y = −x), so that recordings and models work on both revisions.
/// (Register addresses auto-increment on both.)
pub async fn acceleration_mg(twim: &mut Twim<'static>, imu: Imu) -> Option<[i16; 3]> {
    let mut raw = [0u8; 6];
    let address = match imu {
        Imu::Lsm9ds1 => LSM9DS1,
        Imu::Bmi270 => BMI270,
        Imu::Failed(_) | Imu::None => return None,
    };
    let register = if imu == Imu::Lsm9ds1 {
        LSM9DS1_OUT_X_XL
    } else {
        BMI270_ACC_X_LSB
    };
    twim.write_read(address, &[register], &mut raw).await.ok()?;
    let axis = |k: usize| i16::from_le_bytes([raw[2 * k], raw[2 * k + 1]]) as i32;
    let (x, y, z) = (axis(0), axis(1), axis(2));
    let mg = |v: i32| v.clamp(-32_767, 32_767) as i16;
    Some(if imu == Imu::Lsm9ds1 {
        [mg(x * 122 / 1000), mg(y * 122 / 1000), mg(z * 122 / 1000)]
    } else {
        [
            mg(-y * 1000 / 8192),
            mg(-x * 1000 / 8192),
            mg(z * 1000 / 8192),
        ]
    })
}
