//! Fuzzes the board's side of the serial protocol: arbitrary bytes go through the frame reader,
//! the frame decoder and the handler (model store on RAM flash, the interpreter). Nothing may
//! panic, and whatever the bytes did, a model the store calls active must still load.
//!
//! A quarter of the inputs are turned into valid frames first (the fuzzer's bytes become the
//! body of a request of the type their first byte names), so that the handler's paths behind
//! the CRC are explored too. Run with `tools/fuzz protocol`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tinyml_core::handler::{Board, Handler};
use tinyml_core::model::Model;
use tinyml_core::protocol::{FrameReader, Request, MAX_FRAME};
use tinyml_core::store::{RamFlash, Store};

const PAGE: usize = 1024;
const SLOT: usize = 8 * 1024;
const REGION: usize = 2 * SLOT + 2 * PAGE;
type Flash = RamFlash<[u8; REGION]>;

const MODEL: &[u8] = include_bytes!("../../../../crate/tests/data/every-op.tkm");

/// Flash holding a committed model, as a board that was used before (made once).
fn used_flash() -> &'static Flash {
    static FLASH: OnceLock<Flash> = OnceLock::new();
    FLASH.get_or_init(|| {
        let mut store = Store::open(Flash::new([0; REGION], PAGE), SLOT);
        let crc = tinyml_core::model::file_crc(MODEL);
        store.begin(MODEL.len() as u32, crc).unwrap();
        store.chunk(0, MODEL).unwrap();
        store.commit().unwrap();
        store.into_flash()
    })
}

fuzz_target!(|data: &[u8]| {
    let store = Store::open(used_flash().clone(), SLOT);
    assert!(store.active().is_some());
    let mut handler = Handler::new(
        store,
        Board {
            revision: 0,
            simulated: true,
            arena_ram: 4096,
            microphone: true,
            imu: true,
        },
    );
    let mut arena = [0i8; 4096];
    let mut out = [0u8; MAX_FRAME];
    let mut reader = FrameReader::new();
    let mut stream = [0u8; 4 * MAX_FRAME];
    let bytes: &[u8] = if data.first().is_some_and(|b| b % 4 == 0) && data.len() > 2 {
        // Frames made valid: each piece of up to 600 bytes becomes one request body.
        let mut at = 0;
        for piece in data[1..].chunks(600) {
            let kind = piece[0] % 10;
            let Ok(request) = Request::parse(kind, &piece[1..]) else {
                continue;
            };
            match tinyml_core::protocol::encode_request(&request, 1, &mut stream[at..]) {
                Ok(n) => at += n,
                Err(_) => break,
            }
        }
        &stream[..at]
    } else {
        data
    };
    for &b in bytes {
        if let Some(frame) = reader.push(b) {
            let n = handler.handle_frame(frame, &mut arena, &mut out);
            assert!(n <= MAX_FRAME);
        }
    }
    if let Some(active) = handler.store().active_bytes() {
        assert!(Model::parse(active).is_ok());
    }
});
