//! tinyml-core on an emulated Cortex-M4: the harness behind `tests/tests/qemu.rs`.
//!
//! Runs under `qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -semihosting-config
//! enable=on,target=native`. Through semihosting it reads `cases.bin` from QEMU's working folder
//! (written by the host test: int8 models, their inputs, audio clips), runs every case with the
//! same `tinyml-core` code the laptop ran, writes what it computed to `out.bin`, and exits with
//! status 0 (or 1 on a harness error; a model the core refuses is recorded, not fatal). The host
//! compares `out.bin` with its own results byte for byte.
//!
//! `cases.bin`, all little-endian:
//! - `"TKQC"`, `u32` version 1, `u32` case count;
//! - per case: `u32` kind (1: int8 inputs → outputs; 2: audio → MFCC → int8 input → outputs),
//!   `u32` flags (bit 0: reference kernels; bit 1: mark the first inference for the instruction
//!   counter), `u32` model length, the model bytes padded to 4, `u32` count `n`, then kind 1:
//!   `n` inputs of the input tensor's length (padded to 4 at the end); kind 2: `u32` samples per
//!   clip, then `n` clips of `f32` samples.
//!
//! `out.bin`: per case a `u32` status (0; a model the core refuses stops the harness with its
//! error code printed), then per input kind 1: the
//! output bytes; kind 2: the features (`f32`), the int8 input, the output bytes; each case
//! padded to 4.
//!
//! Instruction counting: before running, the harness prints the addresses of
//! `tinyml_count_begin` and `tinyml_count_end`; the host runs QEMU with one instruction per
//! translation block and an execution trace, and counts the instructions between the two.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln, nr, syscall};
use panic_semihosting as _;

use tinyml_core::mfcc::Mfcc;
use tinyml_core::model::{FrontEnd, Kernels, Model};

const MAX_MODEL: usize = 512 * 1024;
const MAX_ARENA: usize = 256 * 1024;
const MAX_SAMPLES: usize = tinyml_core::listen::MAX_CLIP_SAMPLES;
const MAX_FEATURES: usize = 4_096;

/// Marks the start of a counted region (its address is what the counter looks for).
#[inline(never)]
#[no_mangle]
pub extern "C" fn tinyml_count_begin() {
    cortex_m::asm::nop();
}

/// Marks the end of a counted region.
#[inline(never)]
#[no_mangle]
pub extern "C" fn tinyml_count_end() {
    // Two no-ops: different code, so that the linker cannot fold the markers into one.
    cortex_m::asm::nop();
    cortex_m::asm::nop();
}

struct File(usize);

impl File {
    fn open(name: &str, mode: usize) -> Option<File> {
        // Semihosting wants a NUL-terminated name and its length without the NUL.
        let mut path = [0u8; 64];
        path.get_mut(..name.len())?.copy_from_slice(name.as_bytes());
        let fd = unsafe { syscall!(OPEN, path.as_ptr(), mode, name.len()) } as isize;
        (fd >= 0).then_some(File(fd as usize))
    }

    fn read(&self, buf: &mut [u8]) -> bool {
        let left = unsafe { syscall!(READ, self.0, buf.as_mut_ptr(), buf.len()) };
        left == 0
    }

    fn u32(&self) -> Option<u32> {
        let mut b = [0u8; 4];
        self.read(&mut b).then(|| u32::from_le_bytes(b))
    }

    fn write(&self, buf: &[u8]) -> bool {
        let left = unsafe { syscall!(WRITE, self.0, buf.as_ptr(), buf.len()) };
        left == 0
    }

    fn skip_padding(&self, len: usize) -> bool {
        let pad = (4 - len % 4) % 4;
        self.read(&mut [0u8; 3][..pad])
    }
}

fn fail(what: &str) -> ! {
    hprintln!("harness error: {}", what);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

fn as_bytes(values: &[i8]) -> &[u8] {
    // i8 and u8 have the same layout.
    unsafe { core::slice::from_raw_parts(values.as_ptr().cast(), values.len()) }
}

fn as_bytes_mut(values: &mut [i8]) -> &mut [u8] {
    unsafe { core::slice::from_raw_parts_mut(values.as_mut_ptr().cast(), values.len()) }
}

#[entry]
fn main() -> ! {
    hprintln!(
        "markers begin=0x{:08x} end=0x{:08x}",
        tinyml_count_begin as *const () as usize & !1,
        tinyml_count_end as *const () as usize & !1
    );
    let input = File::open("cases.bin", nr::open::R_BINARY).unwrap_or_else(|| fail("no cases.bin"));
    let out = File::open("out.bin", nr::open::W_TRUNC_BINARY)
        .unwrap_or_else(|| fail("cannot write out.bin"));
    let mut magic = [0u8; 4];
    if !input.read(&mut magic) || &magic != b"TKQC" || input.u32() != Some(1) {
        fail("cases.bin is not a version 1 case file");
    }
    let cases = input.u32().unwrap_or_else(|| fail("no case count"));

    let mut model_buf = [0u8; MAX_MODEL];
    let mut arena = [0i8; MAX_ARENA];
    let mut x = [0i8; MAX_FEATURES];
    let mut y = [0i8; 1024];
    let mut samples = [0f32; MAX_SAMPLES];
    let mut features = [0f32; MAX_FEATURES];

    for case in 0..cases {
        let kind = input.u32().unwrap_or_else(|| fail("truncated case"));
        let flags = input.u32().unwrap_or_else(|| fail("truncated case"));
        let kernels = if flags & 1 != 0 {
            Kernels::Reference
        } else {
            Kernels::Optimized
        };
        let mut count = flags & 2 != 0;
        let len = input.u32().unwrap_or_else(|| fail("truncated case")) as usize;
        let bytes = model_buf
            .get_mut(..len)
            .unwrap_or_else(|| fail("model too large"));
        if !input.read(bytes) || !input.skip_padding(len) {
            fail("truncated model");
        }
        let n = input.u32().unwrap_or_else(|| fail("truncated case")) as usize;
        let model = Model::parse(&model_buf[..len]);
        let status = match &model {
            Ok(_) => 0u32,
            Err(e) => e.code() as u32,
        };
        out.write(&status.to_le_bytes());
        let mut written = 4usize;
        let Ok(model) = model else {
            hprintln!(
                "case {}: the core refused the model (error {})",
                case,
                status
            );
            fail("a model the host accepted was refused");
        };
        let (x_len, y_len) = (model.input().len(), model.output().len());
        let x = x
            .get_mut(..x_len)
            .unwrap_or_else(|| fail("input too large"));
        let y = y
            .get_mut(..y_len)
            .unwrap_or_else(|| fail("output too large"));
        match kind {
            1 => {
                for _ in 0..n {
                    if !input.read(as_bytes_mut(x)) {
                        fail("truncated inputs");
                    }
                    if count {
                        tinyml_count_begin();
                    }
                    let r = model.invoke(&mut arena, x, y, kernels);
                    if count {
                        tinyml_count_end();
                        count = false;
                    }
                    if r.is_err() {
                        y.fill(0);
                    }
                    out.write(as_bytes(y));
                    written += y_len;
                }
                if !input.skip_padding(n * x_len) {
                    fail("truncated inputs");
                }
            }
            2 => {
                let per = input.u32().unwrap_or_else(|| fail("truncated case")) as usize;
                let Ok(FrontEnd::Mfcc { config, .. }) = model.front_end() else {
                    fail("a keyword case needs a model with an MFCC front end");
                };
                let mfcc = Mfcc::new(config).unwrap_or_else(|_| fail("MFCC config refused"));
                let clip = samples
                    .get_mut(..per)
                    .unwrap_or_else(|| fail("clip too long"));
                let f = features
                    .get_mut(..x_len)
                    .unwrap_or_else(|| fail("too many features"));
                for _ in 0..n {
                    let raw = unsafe {
                        core::slice::from_raw_parts_mut(clip.as_mut_ptr().cast::<u8>(), 4 * per)
                    };
                    if !input.read(raw) {
                        fail("truncated clip");
                    }
                    for s in clip.iter_mut() {
                        *s = f32::from_bits(s.to_bits().to_le());
                    }
                    if count {
                        tinyml_count_begin();
                    }
                    let ok = mfcc.process(clip, f).is_ok();
                    if count {
                        tinyml_count_end();
                    }
                    for v in f.iter() {
                        out.write(&v.to_le_bytes());
                    }
                    let ok = ok && model.quantize_input(f, x).is_ok();
                    out.write(as_bytes(x));
                    if count {
                        tinyml_count_begin();
                    }
                    let ok = ok && model.invoke(&mut arena, x, y, kernels).is_ok();
                    if count {
                        tinyml_count_end();
                        count = false;
                    }
                    if !ok {
                        y.fill(0);
                    }
                    out.write(as_bytes(y));
                    written += 4 * x_len + x_len + y_len;
                }
            }
            _ => fail("unknown case kind"),
        }
        let pad = (4 - written % 4) % 4;
        out.write(&[0u8; 3][..pad]);
    }
    hprintln!("done: {} cases", cases);
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}
