//! The board binary (`firmware/nano33ble`, embassy-nrf) builds for `thumbv7em-none-eabihf`, is
//! linked after Arduino's bootloader, and fits its budgets: flash ≤ 128 KB; of the 256 KB of RAM,
//! the 128 KB model arena, at most 64 KB for the rest (the keyword loop's 49 KB among it), and at
//! least 32 KB left for the stack. The sizes come from the ELF's section headers (read here, no
//! `size` tool needed) and are written to `target/firmware-size.json` for the README.

use tinyml_tests::{build_firmware, target_dir};

/// The model arena (`ARENA` in firmware/nano33ble/src/main.rs).
const ARENA: u64 = 128 * 1024;

/// An allocated ELF32 section: name, address, size, whether it takes flash, whether it takes RAM.
#[derive(Debug)]
struct Section {
    name: String,
    addr: u64,
    size: u64,
    flash: bool,
    ram: bool,
}

fn u16_at(b: &[u8], at: usize) -> u64 {
    u16::from_le_bytes([b[at], b[at + 1]]) as u64
}

fn u32_at(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as u64
}

/// The allocated sections of a little-endian ELF32 file.
fn sections(elf: &[u8]) -> Vec<Section> {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!((elf[4], elf[5]), (1, 1), "not a little-endian ELF32 file");
    let shoff = u32_at(elf, 0x20) as usize;
    let shentsize = u16_at(elf, 0x2E) as usize;
    let shnum = u16_at(elf, 0x30) as usize;
    let shstrndx = u16_at(elf, 0x32) as usize;
    let header = |i: usize| &elf[shoff + i * shentsize..shoff + (i + 1) * shentsize];
    let names_at = u32_at(header(shstrndx), 0x10) as usize;
    (0..shnum)
        .filter_map(|i| {
            let h = header(i);
            let (kind, flags) = (u32_at(h, 0x04), u32_at(h, 0x08));
            let (addr, size) = (u32_at(h, 0x0C), u32_at(h, 0x14));
            const ALLOC: u64 = 0x2;
            const NOBITS: u64 = 8;
            if flags & ALLOC == 0 || size == 0 {
                return None;
            }
            let name_at = names_at + u32_at(h, 0x00) as usize;
            let end = elf[name_at..].iter().position(|&b| b == 0).unwrap_or(0);
            let ram = addr >= 0x2000_0000;
            Some(Section {
                name: String::from_utf8_lossy(&elf[name_at..name_at + end]).into_owned(),
                addr,
                size,
                // Code and constants live in flash; .data is copied from flash into RAM.
                flash: kind != NOBITS,
                ram,
            })
        })
        .collect()
}

#[test]
fn the_board_binary_builds_after_the_bootloader_and_fits_the_budgets() {
    let elf =
        std::fs::read(build_firmware("nano33ble", "tinyml-nano33ble")).expect("the firmware ELF");
    let sections = sections(&elf);
    let flash: u64 = sections.iter().filter(|s| s.flash).map(|s| s.size).sum();
    let ram: u64 = sections.iter().filter(|s| s.ram).map(|s| s.size).sum();
    let lowest = sections
        .iter()
        .filter(|s| s.flash && !s.ram)
        .map(|s| s.addr)
        .min()
        .expect("code sections");
    assert_eq!(
        lowest, 0x10000,
        "the firmware must start after Arduino's bootloader"
    );
    assert!(
        sections
            .iter()
            .filter(|s| !s.ram)
            .all(|s| s.addr + s.size <= 0x7E000),
        "the firmware overlaps the model store: {sections:?}"
    );
    for s in &sections {
        eprintln!("  {:<16} {:>8} bytes at 0x{:08x}", s.name, s.size, s.addr);
    }
    let without_arena = ram.saturating_sub(ARENA);
    eprintln!(
        "nano33ble firmware: flash {flash} bytes, static RAM {ram} bytes ({without_arena} besides \
         the {ARENA}-byte arena)"
    );
    assert!(flash <= 128 * 1024, "flash {flash} bytes > 128 KB");
    assert!(ram >= ARENA, "the arena is static: {ram} bytes of RAM");
    assert!(
        without_arena <= 64 * 1024,
        "static RAM besides the arena {without_arena} bytes > 64 KB"
    );
    let stack = (256 * 1024u64).saturating_sub(ram);
    assert!(
        stack >= 32 * 1024,
        "only {stack} bytes of RAM left for the stack"
    );
    let target = target_dir();
    let _ = std::fs::create_dir_all(&target);
    let json = format!(
        "{{\"flash_bytes\": {flash}, \"static_ram_bytes\": {ram}, \"arena_bytes\": {ARENA}, \"static_ram_without_arena\": {without_arena}}}\n"
    );
    std::fs::write(target.join("firmware-size.json"), json).expect("writes");
}
