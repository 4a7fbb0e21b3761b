//! Putting the kit's firmware on a Nano 33 BLE Sense (`tinyml flash`), through Arduino's
//! bootloader and Arduino's `bossac`, as the Arduino IDE uploads a sketch.
//!
//! The firmware image is checked first: it must start at 0x10000, after the bootloader (an image
//! linked at 0 would overwrite it), and end before the model store at 0x7E000. A `.bin` file is
//! taken as it is (its vector table is checked); an ELF file (what `cargo build` writes) is turned
//! into the same bytes from its loadable segments, so no `objcopy` is needed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::device::{ports, PortInfo};
use crate::error::{DeviceError, Error, Result};

/// Where the firmware starts: the end of Arduino's bootloader.
pub const APP_START: u32 = 0x1_0000;
/// Where the model store starts (the firmware must end before it).
pub const APP_END: u32 = 0x7_E000;
/// How long the board may take to come back as its bootloader after the 1200-baud touch.
const BOOTLOADER_WAIT: Duration = Duration::from_secs(8);

fn u16_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as u32)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The bytes to write from [`APP_START`]: a `.bin` file as it is, or an ELF file's loadable
/// segments (gaps filled with 0xFF, erased flash). `what` names the file in errors.
pub fn firmware_image(bytes: &[u8], what: &str) -> Result<Vec<u8>> {
    let bad = |m: String| Error::Device(DeviceError::Flash(format!("{what}: {m}")));
    let image = if bytes.starts_with(b"\x7fELF") {
        elf_image(bytes).map_err(bad)?
    } else {
        bytes.to_vec()
    };
    if image.is_empty() || image.len() > (APP_END - APP_START) as usize {
        return Err(bad(format!(
            "{} bytes; the firmware must be 1 to {} bytes (0x10000 to 0x7E000)",
            image.len(),
            APP_END - APP_START
        )));
    }
    // The vector table: the initial stack pointer in RAM, the reset handler in this image.
    let (sp, reset) = (u32_at(&image, 0), u32_at(&image, 4));
    let sp_ok = sp.is_some_and(|sp| (0x2000_0000..=0x2004_0000).contains(&sp));
    let end = APP_START + image.len() as u32;
    let reset_ok = reset.is_some_and(|r| r & 1 == 1 && (APP_START..end).contains(&(r & !1)));
    if !(sp_ok && reset_ok) {
        return Err(bad(
            "this is not a firmware for 0x10000: its vector table does not point into it. Build \
             it from firmware/nano33ble (`cargo build --release`), linked after Arduino's \
             bootloader"
                .into(),
        ));
    }
    Ok(image)
}

/// The loadable segments of a little-endian 32-bit ARM ELF file, at their load addresses.
fn elf_image(elf: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let truncated = || "the ELF file is cut short".to_string();
    if elf.get(4..6) != Some(&[1, 1]) || u16_at(elf, 0x12) != Some(40) {
        return Err("not a 32-bit little-endian ARM ELF file".into());
    }
    let phoff = u32_at(elf, 0x1C).ok_or_else(truncated)? as usize;
    let phentsize = u16_at(elf, 0x2A).ok_or_else(truncated)? as usize;
    let phnum = u16_at(elf, 0x2C).ok_or_else(truncated)? as usize;
    let mut segments = Vec::new();
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let field = |o: usize| u32_at(elf, at + o).ok_or_else(truncated);
        const LOAD: u32 = 1;
        let (kind, offset, paddr, filesz) = (field(0)?, field(4)?, field(0xC)?, field(0x10)?);
        if kind != LOAD || filesz == 0 {
            continue;
        }
        let data = elf
            .get(offset as usize..offset as usize + filesz as usize)
            .ok_or_else(truncated)?;
        let end = paddr as u64 + filesz as u64;
        if paddr < APP_START {
            return Err(format!(
                "it is linked at 0x{paddr:X}, inside Arduino's bootloader (below 0x10000): \
                 flashing it would destroy the bootloader"
            ));
        }
        if end > APP_END as u64 {
            return Err(format!(
                "it reaches 0x{end:X}, into the model store (from 0x7E000)"
            ));
        }
        segments.push((paddr, data));
    }
    let end = segments
        .iter()
        .map(|(a, d)| *a as usize + d.len())
        .max()
        .ok_or("the ELF file has nothing to load")?;
    let mut image = vec![0xFF; end - APP_START as usize];
    for (addr, data) in segments {
        let at = (addr - APP_START) as usize;
        image[at..at + data.len()].copy_from_slice(data);
    }
    Ok(image)
}

/// Arduino's `bossac`: `explicit`, else on the `PATH`, else where the Arduino IDE or
/// `arduino-cli` installs it (the newest version).
pub fn find_bossac(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(Error::Device(DeviceError::Flash(format!(
                "{}: no such file",
                path.display()
            ))))
        };
    }
    let exe = if cfg!(windows) {
        "bossac.exe"
    } else {
        "bossac"
    };
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(exe)).collect())
        .unwrap_or_default();
    let home = |v: &str| std::env::var_os(v).map(PathBuf::from);
    let arduino: Vec<PathBuf> = [
        home("HOME").map(|h| h.join(".arduino15")),
        home("HOME").map(|h| h.join("Library/Arduino15")),
        home("LOCALAPPDATA").map(|h| h.join("Arduino15")),
    ]
    .into_iter()
    .flatten()
    .map(|d| d.join("packages/arduino/tools/bossac"))
    .filter_map(|d| std::fs::read_dir(d).ok())
    .flat_map(|versions| {
        let mut v: Vec<PathBuf> = versions.flatten().map(|e| e.path().join(exe)).collect();
        v.sort();
        v.into_iter().rev()
    })
    .collect();
    on_path
        .into_iter()
        .chain(arduino)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::Device(DeviceError::Flash(
                "Arduino's bossac was not found. Install it with the Arduino IDE (Boards Manager: \
                 \"Arduino Mbed OS Nano Boards\") or `arduino-cli core install arduino:mbed_nano`, \
                 or pass its path with --bossac (the plain BOSSA release does not know the \
                 nRF52840)"
                    .into(),
            ))
        })
}

/// The bootloader's port: the board already in its bootloader, or the board at `port` (or the
/// first Nano found) after the 1200-baud touch that restarts it into its bootloader.
pub fn enter_bootloader(port: Option<&str>) -> Result<String> {
    let nano = |p: &PortInfo| p.is_nano && p.bootloader;
    if let Some(p) = ports()?.into_iter().find(nano) {
        return Ok(p.name);
    }
    let sketch = match port {
        Some(p) => p.to_string(),
        None => ports()?
            .into_iter()
            .find(|p| p.is_nano)
            .map(|p| p.name)
            .ok_or_else(|| {
                Error::Device(DeviceError::NotFound(
                    "no Arduino Nano 33 BLE found: plug it in with a data USB cable (`tinyml \
                     ports` lists the ports)"
                        .into(),
                ))
            })?,
    };
    // Opening the port at 1200 baud and closing it asks the board to restart into its bootloader.
    let touch = serialport::new(&sketch, 1200)
        .timeout(Duration::from_millis(100))
        .open()
        .map_err(|e| {
            Error::Device(DeviceError::CannotOpen(format!(
                "cannot open {sketch}: {e}"
            )))
        })?;
    drop(touch);
    let started = Instant::now();
    while started.elapsed() < BOOTLOADER_WAIT {
        std::thread::sleep(Duration::from_millis(250));
        if let Some(p) = ports()?.into_iter().find(nano) {
            return Ok(p.name);
        }
    }
    Err(Error::Device(DeviceError::Flash(format!(
        "the board on {sketch} did not come back as its bootloader within {} s: double-tap its \
         reset button (the orange LED pulses), then run `tinyml flash --bootloader-port PORT` \
         with the port `tinyml ports` shows",
        BOOTLOADER_WAIT.as_secs()
    ))))
}

/// Writes `image` with `bossac` through the bootloader on `port`: erase, write, verify, reset.
/// `scratch` is a folder for the `.bin` file bossac reads.
pub fn write_firmware(image: &[u8], bossac: &Path, port: &str, scratch: &Path) -> Result<()> {
    std::fs::create_dir_all(scratch).map_err(|e| Error::io(scratch, e))?;
    let bin = scratch.join("tinyml-firmware.bin");
    std::fs::write(&bin, image).map_err(|e| Error::io(&bin, e))?;
    let status = Command::new(bossac)
        .arg(format!("--port={port}"))
        .args(["-U", "-i", "-e", "-w", "-v", "-R"])
        .arg(&bin)
        .status()
        .map_err(|e| {
            Error::Device(DeviceError::Flash(format!(
                "cannot run {}: {e}",
                bossac.display()
            )))
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Device(DeviceError::Flash(format!(
            "bossac failed ({status}): the board stays in its bootloader; run `tinyml flash` \
             again, or double-tap reset to leave it"
        ))))
    }
}
