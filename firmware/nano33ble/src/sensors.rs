//! The board's sensors: the PDM microphone (sampled by a task on a high-priority executor, so
//! that a 100 ms inference never makes it drop samples) and the IMU on the internal I2C bus
//! (the board revision is told by which IMU answers).

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
    /// Rev1: ST LSM9DS1 (accelerometer and gyroscope at 0x6B).
    Lsm9ds1,
    /// Rev2: Bosch BMI270 at 0x68. Its accelerometer gives data only after Bosch's 8 KB
    /// configuration file is uploaded, which this firmware does not carry yet.
    Bmi270,
    /// No IMU answered.
    None,
}

impl Imu {
    /// The board revision it tells (0: unknown).
    pub fn revision(self) -> u8 {
        match self {
            Imu::Lsm9ds1 => 1,
            Imu::Bmi270 => 2,
            Imu::None => 0,
        }
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
        return Imu::None;
    }
    if twim
        .write_read(BMI270, &[BMI270_CHIP_ID], &mut id)
        .await
        .is_ok()
        && id[0] == BMI270_ID
    {
        return Imu::Bmi270;
    }
    Imu::None
}

/// One accelerometer sample, x, y, z in mg (LSM9DS1 at ±4 g: 0.122 mg per unit).
pub async fn acceleration_mg(twim: &mut Twim<'static>) -> Option<[i16; 3]> {
    let mut raw = [0u8; 6];
    // Register addresses auto-increment (CTRL_REG8's IF_ADD_INC is set at reset).
    twim.write_read(LSM9DS1, &[LSM9DS1_OUT_X_XL], &mut raw)
        .await
        .ok()?;
    let mg = |lo: u8, hi: u8| (i16::from_le_bytes([lo, hi]) as i32 * 122 / 1000) as i16;
    Some([mg(raw[0], raw[1]), mg(raw[2], raw[3]), mg(raw[4], raw[5])])
}
