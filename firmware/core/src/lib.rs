//! `tinyml-core`: the code that the laptop and the board both run.
//!
//! Everything the Arduino Nano 33 BLE Sense computes is computed on the laptop by this crate, so
//! a model trained in a notebook sees exactly the features the board will give it. The crate is
//! `#![no_std]`, allocates nothing and never panics on bad input: every fallible function returns
//! a small `Copy` error with a stable `u8` code that can travel over the serial protocol.
//!
//! What is here so far:
//! - [`imu`]: features of one accelerometer window (Day 1 activity detection, Day 3 on the board);
//! - [`fft`] and [`mfcc`]: the keyword spotter's audio front end (real FFT, log-mel, MFCC);
//! - [`int8`] and [`model`]: the int8 kernels, the `.tkm` model file and the interpreter that
//!   runs it (the laptop's simulator and the board run the same code), and [`limits`], the
//!   board's table sizes that every build checks models against;
//! - [`listen`]: the board's keyword loop (a clip of microphone samples every 250 ms, the
//!   model, and a recognizer that turns scores into detections), and [`motion`], its activity
//!   loop on the accelerometer;
//! - [`protocol`] and [`cobs`]: the serial protocol between the laptop and the board;
//! - [`store`]: the board's model store (two flash slots and commit records), and [`handler`],
//!   the board's side of the protocol over it;
//! - [`crc32`]: the checksum of model files and serial frames.
//!
//! On a laptop (x86_64), the heavy kernels (the int8 convolution, dense layer and max pooling,
//! and the MFCC) also have builds for the processor's vector unit, picked at run time; they
//! compute the same integers and the same `f32` bits as the board's build, which the tests check.
//!
//! Float maths goes through [`libm`], a software implementation that gives the same bits on
//! x86_64 and on the Cortex-M4.
#![no_std]
// `unsafe` only for the Cortex-M4's DSP instructions (int8.rs, feature `cortex-m4-dsp`) and the
// laptop's vector units (cpu.rs, int8/x86.rs, mfcc.rs: run-time dispatch to AVX2 / AVX-512).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cobs;
#[cfg(target_arch = "x86_64")]
mod cpu;
pub mod crc32;
pub mod fft;
pub mod handler;
pub mod imu;
pub mod int8;
pub mod limits;
pub mod listen;
pub mod mfcc;
pub mod model;
pub mod motion;
pub mod protocol;
pub mod spectrum;
pub mod store;
