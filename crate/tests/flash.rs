//! `tinyml flash` without a board: the firmware image checks (generated ELF and .bin files),
//! finding bossac, the bootloader's port, and bossac's arguments (a stand-in script records
//! them).

mod common;

#[cfg(unix)]
use std::process::Command;

// The bossac test runs a shell script as bossac: Unix only, and with it these.
#[cfg(unix)]
use common::{assert_fails_with, scratch, stderr};
#[cfg(unix)]
use tinyml_kit::device::Simulator;
use tinyml_kit::flash::{firmware_image, APP_START};

/// A little-endian ARM ELF32 file with these loadable segments (load address, bytes), plus a
/// RAM segment with no file bytes (.bss).
fn elf(segments: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let (ehsize, phentsize) = (52usize, 32usize);
    let phnum = segments.len() + 1;
    let mut out = vec![0u8; ehsize + phentsize * phnum];
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 1; // 32-bit
    out[5] = 1; // little-endian
    out[0x12..0x14].copy_from_slice(&40u16.to_le_bytes()); // ARM
    out[0x1C..0x20].copy_from_slice(&(ehsize as u32).to_le_bytes());
    out[0x2A..0x2C].copy_from_slice(&(phentsize as u16).to_le_bytes());
    out[0x2C..0x2E].copy_from_slice(&(phnum as u16).to_le_bytes());
    let mut headers = Vec::new();
    for (paddr, data) in segments {
        headers.push((1u32, out.len() as u32, *paddr, data.len() as u32));
        out.extend_from_slice(data);
    }
    headers.push((1, 0, 0x2000_0000, 0));
    for (i, (kind, offset, paddr, filesz)) in headers.into_iter().enumerate() {
        let at = ehsize + i * phentsize;
        for (o, v) in [
            (0, kind),
            (4, offset),
            (8, paddr),
            (0xC, paddr),
            (0x10, filesz),
            (0x14, filesz),
        ] {
            out[at + o..at + o + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// A vector table (stack at the top of RAM, reset handler inside the image) and some code.
fn code() -> Vec<u8> {
    let mut c = Vec::new();
    c.extend_from_slice(&0x2004_0000u32.to_le_bytes());
    c.extend_from_slice(&(APP_START + 0x101).to_le_bytes());
    c.extend((0..0x200u32).map(|i| i as u8));
    c
}

#[test]
fn firmware_images_must_sit_between_the_bootloader_and_the_model_store() {
    let code = code();
    let data = vec![7u8; 16];
    // Code at 0x10000 and .data's initial values after a gap: 0xFF (erased flash) in between.
    let image = firmware_image(
        &elf(&[(APP_START, code.clone()), (APP_START + 0x300, data.clone())]),
        "fw",
    )
    .expect("a good ELF");
    assert_eq!(image.len(), 0x310);
    assert_eq!(image[..code.len()], code[..]);
    assert!(image[code.len()..0x300].iter().all(|&b| b == 0xFF));
    assert_eq!(image[0x300..], data[..]);
    // The same bytes as a .bin file are taken as they are.
    assert_eq!(firmware_image(&image, "fw.bin").unwrap(), image);

    let err = |bytes: &[u8]| firmware_image(bytes, "fw").unwrap_err().to_string();
    // Linked at 0: it would overwrite Arduino's bootloader.
    assert!(err(&elf(&[(0, code.clone())])).contains("bootloader"));
    // Into the model store.
    assert!(
        err(&elf(&[(APP_START, code.clone()), (0x7_DFF0, vec![0; 32])])).contains("model store")
    );
    // Cut short, not ARM, nothing to load, empty.
    let whole = elf(&[(APP_START, code.clone())]);
    assert!(err(&whole[..whole.len() - 10]).contains("cut short"));
    let mut x86 = whole.clone();
    x86[0x12] = 3;
    assert!(err(&x86).contains("ARM"));
    assert!(err(&elf(&[])).contains("nothing to load"));
    assert!(err(&[]).contains("bytes"));
    // A .bin whose reset handler is not in it (linked elsewhere), or text.
    let mut elsewhere = code.clone();
    elsewhere[4..8].copy_from_slice(&0x0000_0201u32.to_le_bytes());
    assert!(err(&elsewhere).contains("vector table"));
    assert!(err(b"hello, this is not firmware").contains("vector table"));
    // Larger than the space before the store.
    let mut huge = code.clone();
    huge.resize(0x7_0000, 0);
    assert!(err(&huge).contains("bytes"));
}

#[test]
fn the_built_board_firmware_is_a_valid_image() {
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware/nano33ble/target/thumbv7em-none-eabihf/release/tinyml-nano33ble");
    let Ok(bytes) = std::fs::read(&built) else {
        eprintln!(
            "skipped: {} is not built (tools/test builds it)",
            built.display()
        );
        return;
    };
    let image = firmware_image(&bytes, "tinyml-nano33ble").expect("the board firmware");
    assert!(image.len() > 10_000 && image.len() < 0x6_E000);
}

#[cfg(unix)]
fn tinyml_with_path(args: &[&str], path: &str, home: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tinyml"))
        .args(args)
        .env("PATH", path)
        .env("HOME", home)
        .env_remove("LOCALAPPDATA")
        .output()
        .expect("runs tinyml")
}

#[cfg(unix)]
#[test]
fn cli_flash_finds_bossac_and_passes_it_the_checked_image() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("flash_cli");
    let image = code();
    let fw = dir.join("fw.elf");
    std::fs::write(&fw, elf(&[(APP_START, image.clone())])).unwrap();
    let fw = fw.to_str().unwrap();
    let empty = dir.join("empty-home");
    std::fs::create_dir_all(&empty).unwrap();

    // No bossac anywhere: what to install.
    assert_fails_with(
        &tinyml_with_path(
            &["flash", "--firmware", fw, "--bootloader-port", "/dev/x"],
            "/nonexistent",
            &empty,
        ),
        &[
            "bossac was not found",
            "arduino-cli core install arduino:mbed_nano",
        ],
    );
    // A firmware linked at 0 is refused before anything else.
    let at_zero = dir.join("zero.elf");
    std::fs::write(&at_zero, elf(&[(0, image.clone())])).unwrap();
    assert_fails_with(
        &tinyml_with_path(
            &[
                "flash",
                "--firmware",
                at_zero.to_str().unwrap(),
                "--bootloader-port",
                "/dev/x",
            ],
            "/nonexistent",
            &empty,
        ),
        &["bootloader"],
    );

    // A stand-in bossac, where the Arduino IDE installs it: it records its arguments and the file.
    let tools = empty.join(".arduino15/packages/arduino/tools/bossac/1.9.1-arduino2");
    std::fs::create_dir_all(&tools).unwrap();
    let log = dir.join("bossac.log");
    let copy = dir.join("written.bin");
    let script = tools.join("bossac");
    let write_script = |exit: u8| {
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$@\" > {}\nfor a; do last=$a; done\ncp \"$last\" {}\nexit {exit}\n",
                log.display(),
                copy.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    write_script(0);
    let out = tinyml_with_path(
        &[
            "flash",
            "--firmware",
            fw,
            "--bootloader-port",
            "/dev/ttyACM7",
        ],
        "/usr/bin:/bin",
        &empty,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(
        args.starts_with("--port=/dev/ttyACM7 -U -i -e -w -v -R "),
        "{args}"
    );
    assert_eq!(std::fs::read(&copy).unwrap(), image);
    assert!(common::stdout(&out).contains("erases the deployed model"));

    // bossac fails: said, and what to do.
    write_script(1);
    assert_fails_with(
        &tinyml_with_path(
            &[
                "flash",
                "--firmware",
                fw,
                "--bootloader-port",
                "/dev/ttyACM7",
            ],
            "/usr/bin:/bin",
            &empty,
        ),
        &["bossac failed", "run `tinyml flash` again"],
    );

    // A port that is not a Nano (the simulator): the 1200-baud touch brings no bootloader.
    write_script(0);
    let sim = Simulator::start().expect("simulator");
    assert_fails_with(
        &tinyml_with_path(
            &["flash", "--firmware", fw, "--port", sim.port()],
            "/usr/bin:/bin",
            &empty,
        ),
        &["did not come back as its bootloader", "double-tap"],
    );
}
