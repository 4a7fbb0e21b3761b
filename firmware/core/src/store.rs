//! The board's model store: two model slots and commit records in flash, so that an upload never
//! touches the model that runs, and a model becomes active only after it is complete and valid.
//!
//! Layout of the store's flash region (`slot` bytes per slot, `page` the erase unit):
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | `slot` | slot 0 |
//! | `slot` | `slot` | slot 1 |
//! | `2·slot` | `page` | commit records, page A |
//! | `2·slot + page` | `page` | commit records, page B |
//!
//! A commit record (24 bytes: magic `TKCR`, sequence, slot, length, the model's
//! [`file_crc`], the
//! record's own CRC-32) is appended after the last one; when a page is full the other page is
//! erased and the record goes there, so the newest valid record always survives a power cut. At
//! start-up the active model is the one of the newest record whose slot still holds bytes with
//! the recorded length and CRC that the loader accepts; an older record is the fall-back.
//!
//! An upload goes to the slot that is not active, erased page by page as the bytes arrive, in
//! order. [`Store::commit`] reads the slot back, checks the announced CRC and the whole model
//! ([`Model::parse`]), and only then appends the record. A power cut or a broken connection at
//! any point leaves the previous record, and so the previous model, in charge.

use crate::crc32::crc32;
use crate::model::{file_crc, Model, ModelError};

/// Flash as the nRF52840 has it (NOR): erasing sets a page to `0xFF`, writing can only clear
/// bits, in aligned 4-byte words; the whole region is readable as memory.
pub trait Flash {
    /// Erase unit in bytes (4096 on the nRF52840).
    fn page_size(&self) -> usize;
    /// The region's bytes, as memory-mapped flash reads them.
    fn bytes(&self) -> &[u8];
    /// Erases the page starting at `offset` (a multiple of the page size).
    fn erase(&mut self, offset: usize) -> Result<(), StoreError>;
    /// Writes `data` (a multiple of 4 bytes) at `offset` (a multiple of 4), into erased flash.
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), StoreError>;
}

/// What went wrong in the store. Codes are the protocol's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The flash refused an erase or a write (or the power went).
    Flash,
    /// A chunk or commit without an upload begun.
    NoUpload,
    /// A chunk at another offset than the next byte expected.
    WrongOffset {
        /// The next byte expected.
        expected: u32,
    },
    /// The model is longer than a slot.
    TooLarge,
    /// A chunk would go past the announced length.
    PastEnd,
    /// Commit before every byte arrived.
    Incomplete,
    /// The bytes do not have the announced CRC.
    CrcMismatch,
    /// The model loader refused the bytes.
    Model(ModelError),
}

impl StoreError {
    /// The wire code (see [`crate::protocol::ProtocolError`] and [`ModelError`]).
    pub fn code(self) -> u8 {
        use crate::protocol::ProtocolError as P;
        match self {
            StoreError::Flash => P::FlashError.code(),
            StoreError::NoUpload => P::NoUpload.code(),
            StoreError::WrongOffset { .. } | StoreError::PastEnd => P::WrongOffset.code(),
            StoreError::TooLarge => P::ModelTooLarge.code(),
            StoreError::Incomplete => P::UploadIncomplete.code(),
            StoreError::CrcMismatch => P::CrcMismatch.code(),
            StoreError::Model(e) => e.code(),
        }
    }
}

const RECORD_MAGIC: [u8; 4] = *b"TKCR";
/// Bytes of one commit record.
pub const RECORD_LEN: usize = 24;

/// One commit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Increases with every commit.
    pub seq: u32,
    /// 0 or 1.
    pub slot: u32,
    /// Model length.
    pub len: u32,
    /// Model CRC-32.
    pub crc: u32,
}

impl Record {
    fn to_bytes(self) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        b[..4].copy_from_slice(&RECORD_MAGIC);
        b[4..8].copy_from_slice(&self.seq.to_le_bytes());
        b[8..12].copy_from_slice(&self.slot.to_le_bytes());
        b[12..16].copy_from_slice(&self.len.to_le_bytes());
        b[16..20].copy_from_slice(&self.crc.to_le_bytes());
        let crc = crc32(&b[..20]);
        b[20..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Option<Record> {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        if b.len() < RECORD_LEN || b[..4] != RECORD_MAGIC || crc32(&b[..20]) != word(20) {
            return None;
        }
        Some(Record {
            seq: word(4),
            slot: word(8),
            len: word(12),
            crc: word(16),
        })
    }
}

/// An upload in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upload {
    /// The slot being written.
    pub slot: u32,
    /// Announced length.
    pub len: u32,
    /// Announced CRC-32.
    pub crc: u32,
    /// Bytes written so far.
    pub received: u32,
    /// Pages of the slot erased so far (from its start).
    erased: u32,
    /// The bytes of a last, partial word, kept until the word is complete or the upload ends.
    tail: [u8; 4],
    tail_len: u8,
}

/// The model store over a [`Flash`] region.
#[derive(Debug)]
pub struct Store<F: Flash> {
    flash: F,
    slot_size: usize,
    active: Option<Record>,
    upload: Option<Upload>,
    /// The newest sequence number in the records.
    last_seq: u32,
    /// The record page in use (0 or 1) and its bytes used.
    record_page: usize,
    record_fill: usize,
}

impl<F: Flash> Store<F> {
    /// Bytes of flash a store with slots of `slot_size` needs on a flash with `page`-byte pages.
    pub const fn region_size(slot_size: usize, page: usize) -> usize {
        2 * slot_size + 2 * page
    }

    /// Opens the store on `flash` (at start-up): finds the active model.
    pub fn open(flash: F, slot_size: usize) -> Store<F> {
        let mut store = Store {
            flash,
            slot_size,
            active: None,
            upload: None,
            last_seq: 0,
            record_page: 0,
            record_fill: 0,
        };
        store.recover();
        store
    }

    fn records_at(&self) -> usize {
        2 * self.slot_size
    }

    /// Every used record position of record page `p` (a valid record, or the remains of one a
    /// power cut interrupted), in order; the page's erased rest is not visited.
    fn scan(&self, p: usize, mut f: impl FnMut(usize, Option<Record>)) {
        let page = self.flash.page_size();
        let start = self.records_at() + p * page;
        let bytes = self.flash.bytes();
        let mut at = start;
        while at + RECORD_LEN <= start + page {
            let Some(b) = bytes.get(at..at + RECORD_LEN) else {
                return;
            };
            if b.iter().all(|&x| x == 0xFF) {
                return;
            }
            f(at, Record::from_bytes(b));
            at += RECORD_LEN;
        }
    }

    fn slot_valid(&self, r: &Record) -> bool {
        self.slot_bytes(r.slot, r.len)
            .is_some_and(|b| file_crc(b) == r.crc && Model::parse(b).is_ok())
    }

    fn recover(&mut self) {
        let a = self.records_at();
        let mut fill = [0usize; 2];
        let mut newest = [None::<u32>; 2];
        // The four newest records, newest first: the fall-backs if a slot does not check out.
        let mut best = [None::<Record>; 4];
        for p in 0..2 {
            let page = self.flash.page_size();
            self.scan(p, |at, r| {
                fill[p] = at + RECORD_LEN - (a + p * page);
                let Some(r) = r else { return };
                newest[p] = Some(newest[p].map_or(r.seq, |s| s.max(r.seq)));
                let mut r = Some(r);
                for b in best.iter_mut() {
                    if b.is_none_or(|x| r.is_some_and(|r| r.seq > x.seq)) {
                        core::mem::swap(b, &mut r);
                        if r.is_none() {
                            break;
                        }
                    }
                }
            });
        }
        self.active = best.iter().flatten().find(|r| self.slot_valid(r)).copied();
        self.last_seq = best[0].map_or(0, |r| r.seq);
        // New records go on the page with the newest record, after its last used position.
        self.record_page = match newest {
            [Some(x), Some(y)] if y > x => 1,
            [None, Some(_)] => 1,
            _ => 0,
        };
        self.record_fill = fill[self.record_page];
    }

    /// The bytes of `slot` (first `len`), if they lie in the region.
    fn slot_bytes(&self, slot: u32, len: u32) -> Option<&[u8]> {
        if slot > 1 || len as usize > self.slot_size {
            return None;
        }
        let start = slot as usize * self.slot_size;
        self.flash.bytes().get(start..start + len as usize)
    }

    /// The active model's record.
    pub fn active(&self) -> Option<Record> {
        self.active
    }

    /// The active model's bytes (validated when it became active).
    pub fn active_bytes(&self) -> Option<&[u8]> {
        let r = self.active?;
        self.slot_bytes(r.slot, r.len)
    }

    /// The upload in progress.
    pub fn upload(&self) -> Option<Upload> {
        self.upload
    }

    /// Bytes of a slot (the largest model).
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// The flash (for tests and the simulator).
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// The flash, mutably (to simulate faults).
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Takes the flash back (a simulated reset re-opens it).
    pub fn into_flash(self) -> F {
        self.flash
    }

    /// Starts an upload of `len` bytes with CRC-32 `crc` into the inactive slot (an upload in
    /// progress is abandoned).
    pub fn begin(&mut self, len: u32, crc: u32) -> Result<(), StoreError> {
        if len == 0 || len as usize > self.slot_size {
            return Err(StoreError::TooLarge);
        }
        let slot = match self.active {
            Some(r) => 1 - r.slot.min(1),
            None => 0,
        };
        self.upload = Some(Upload {
            slot,
            len,
            crc,
            received: 0,
            erased: 0,
            tail: [0xFF; 4],
            tail_len: 0,
        });
        Ok(())
    }

    /// Writes `bytes` at `offset` of the upload: the next byte expected, nothing else.
    pub fn chunk(&mut self, offset: u32, bytes: &[u8]) -> Result<u32, StoreError> {
        let mut up = self.upload.ok_or(StoreError::NoUpload)?;
        if offset != up.received {
            return Err(StoreError::WrongOffset {
                expected: up.received,
            });
        }
        if offset as usize + bytes.len() > up.len as usize {
            return Err(StoreError::PastEnd);
        }
        let page = self.flash.page_size();
        let base = up.slot as usize * self.slot_size;
        // Erase the pages this chunk reaches.
        let end = offset as usize + bytes.len();
        while (up.erased as usize) * page < end.next_multiple_of(4) {
            let r = self.flash.erase(base + up.erased as usize * page);
            if r.is_err() {
                self.upload = None;
                return Err(StoreError::Flash);
            }
            up.erased += 1;
        }
        // Whole words go to flash; a partial last word waits in `tail`.
        let mut pending = [0u8; 4];
        let mut word_at = (offset as usize) & !3;
        let mut fill = up.tail_len as usize;
        pending[..fill].copy_from_slice(&up.tail[..fill]);
        let mut rest = bytes;
        while !rest.is_empty() {
            let take = (4 - fill).min(rest.len());
            pending[fill..fill + take].copy_from_slice(&rest[..take]);
            fill += take;
            rest = &rest[take..];
            if fill == 4 {
                if self.flash.write(base + word_at, &pending).is_err() {
                    self.upload = None;
                    return Err(StoreError::Flash);
                }
                word_at += 4;
                fill = 0;
            }
        }
        up.tail = [0xFF; 4];
        up.tail[..fill].copy_from_slice(&pending[..fill]);
        up.tail_len = fill as u8;
        up.received = end as u32;
        self.upload = Some(up);
        Ok(up.received)
    }

    /// Drops an open upload (nothing to undo: its bytes went to the slot that is not active,
    /// which the next upload erases); the active model stays.
    pub fn abandon(&mut self) {
        self.upload = None;
    }

    /// Checks the upload (complete, CRC, the whole model) and makes it the active model.
    pub fn commit(&mut self) -> Result<Record, StoreError> {
        self.commit_if(|_| Ok(()))
    }

    /// [`Store::commit`], also refusing a model that `accept` refuses (what this board cannot
    /// run); a refused upload is dropped and the active model stays.
    pub fn commit_if(
        &mut self,
        accept: impl FnOnce(&Model) -> Result<(), ModelError>,
    ) -> Result<Record, StoreError> {
        let up = self.upload.ok_or(StoreError::NoUpload)?;
        if up.received != up.len {
            return Err(StoreError::Incomplete);
        }
        let base = up.slot as usize * self.slot_size;
        if up.tail_len > 0 {
            let at = base + (up.len as usize & !3);
            if self.flash.write(at, &up.tail).is_err() {
                self.upload = None;
                return Err(StoreError::Flash);
            }
        }
        self.upload = None;
        let bytes = self.slot_bytes(up.slot, up.len).ok_or(StoreError::Flash)?;
        if file_crc(bytes) != up.crc {
            return Err(StoreError::CrcMismatch);
        }
        let model = Model::parse(bytes).map_err(StoreError::Model)?;
        accept(&model).map_err(StoreError::Model)?;
        let record = Record {
            seq: self.last_seq.wrapping_add(1),
            slot: up.slot,
            len: up.len,
            crc: up.crc,
        };
        self.last_seq = record.seq;
        self.append(record)?;
        self.active = Some(record);
        Ok(record)
    }

    fn append(&mut self, record: Record) -> Result<(), StoreError> {
        let page = self.flash.page_size();
        if self.record_fill + RECORD_LEN > page {
            // This page is full: erase the other one and start it. The newest record stays on
            // this page until the new one is written.
            let other = 1 - self.record_page;
            self.flash
                .erase(self.records_at() + other * page)
                .map_err(|_| StoreError::Flash)?;
            self.record_page = other;
            self.record_fill = 0;
        }
        let at = self.records_at() + self.record_page * page + self.record_fill;
        // Even a failed write used the space (it may hold half a record).
        self.record_fill += RECORD_LEN;
        self.flash
            .write(at, &record.to_bytes())
            .map_err(|_| StoreError::Flash)
    }
}

/// Flash in RAM for the simulator and the tests, with faults on demand: a write or erase can
/// fail after a given number of operations (a power cut), leaving half a write behind. `B` holds
/// the bytes: an array on the board's side of the tests, a `Vec<u8>` in the laptop's simulator.
#[derive(Debug, Clone)]
pub struct RamFlash<B> {
    /// The bytes.
    pub data: B,
    /// Erase unit.
    pub page: usize,
    /// Operations left before the power goes (`None`: never).
    pub fail_after: Option<u32>,
    /// True once the power went: every later operation fails.
    pub dead: bool,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> RamFlash<B> {
    /// Flash over `data` (erased: every byte set to `0xFF`) with `page`-byte pages.
    pub fn new(mut data: B, page: usize) -> Self {
        data.as_mut().fill(0xFF);
        RamFlash {
            data,
            page,
            fail_after: None,
            dead: false,
        }
    }

    /// Whether the next operation still has power (counting it).
    fn tick(&mut self) -> bool {
        if self.dead {
            return false;
        }
        match self.fail_after.as_mut() {
            Some(0) => {
                self.dead = true;
                false
            }
            Some(n) => {
                *n -= 1;
                true
            }
            None => true,
        }
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Flash for RamFlash<B> {
    fn page_size(&self) -> usize {
        self.page
    }

    fn bytes(&self) -> &[u8] {
        self.data.as_ref()
    }

    fn erase(&mut self, offset: usize) -> Result<(), StoreError> {
        let ok = self.tick();
        let page = self.page;
        if !offset.is_multiple_of(page) {
            return Err(StoreError::Flash);
        }
        let bytes = self
            .data
            .as_mut()
            .get_mut(offset..offset + page)
            .ok_or(StoreError::Flash)?;
        if !ok {
            // Power lost mid-erase: half the page erased.
            bytes[..page / 2].fill(0xFF);
            return Err(StoreError::Flash);
        }
        bytes.fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), StoreError> {
        let ok = self.tick();
        if !offset.is_multiple_of(4) || !data.len().is_multiple_of(4) {
            return Err(StoreError::Flash);
        }
        let dst = self
            .data
            .as_mut()
            .get_mut(offset..offset + data.len())
            .ok_or(StoreError::Flash)?;
        // NOR: a write can only clear bits.
        let n = if ok { data.len() } else { data.len() / 2 };
        for (d, &s) in dst[..n].iter_mut().zip(data) {
            *d &= s;
        }
        if ok {
            Ok(())
        } else {
            Err(StoreError::Flash)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 1024;
    const SLOT: usize = 8 * 1024;
    const REGION: usize = 2 * SLOT + 2 * PAGE;
    type Sim = RamFlash<[u8; REGION]>;

    /// A valid model with every op (written by the kit's tests).
    const MODEL: &[u8] = include_bytes!("../../../crate/tests/data/every-op.tkm");

    /// The same model with its first label renamed (another valid model, another CRC).
    fn variant(label: u8) -> [u8; MODEL.len()] {
        let mut m = [0u8; MODEL.len()];
        m.copy_from_slice(MODEL);
        let labels = u32::from_le_bytes(m[32..36].try_into().unwrap()) as usize;
        m[labels + 1] = label;
        let n = m.len();
        let crc = crc32(&m[..n - 4]);
        m[n - 4..].copy_from_slice(&crc.to_le_bytes());
        m
    }

    fn upload(store: &mut Store<Sim>, bytes: &[u8], chunk: usize) -> Result<Record, StoreError> {
        store.begin(bytes.len() as u32, file_crc(bytes))?;
        for (i, c) in bytes.chunks(chunk).enumerate() {
            store.chunk((i * chunk) as u32, c)?;
        }
        store.commit()
    }

    fn reopen(store: Store<Sim>) -> Store<Sim> {
        let mut flash = store.into_flash();
        flash.dead = false;
        flash.fail_after = None;
        Store::open(flash, SLOT)
    }

    #[test]
    fn upload_commit_and_survive_a_reset() {
        let mut s = Store::open(Sim::new([0; REGION], PAGE), SLOT);
        assert_eq!(s.active(), None);
        let r = upload(&mut s, MODEL, 100).unwrap();
        assert_eq!((r.slot, r.len), (0, MODEL.len() as u32));
        assert_eq!(s.active_bytes(), Some(MODEL));
        let b = variant(b'z');
        let r2 = upload(&mut s, &b, 512).unwrap();
        assert_eq!(r2.slot, 1);
        let s = reopen(s);
        assert_eq!(s.active_bytes(), Some(&b[..]));
        assert_eq!(s.active().unwrap().seq, 2);
    }

    #[test]
    fn bad_uploads_leave_the_active_model() {
        let mut s = Store::open(Sim::new([0; REGION], PAGE), SLOT);
        upload(&mut s, MODEL, 256).unwrap();
        let b = variant(b'q');
        // Out of order, duplicated, past the end, incomplete.
        s.begin(b.len() as u32, file_crc(&b)).unwrap();
        assert_eq!(
            s.chunk(4, &b[4..8]),
            Err(StoreError::WrongOffset { expected: 0 })
        );
        s.chunk(0, &b[..256]).unwrap();
        assert_eq!(
            s.chunk(0, &b[..256]),
            Err(StoreError::WrongOffset { expected: 256 })
        );
        assert_eq!(s.chunk(256, &[0; 4096]), Err(StoreError::PastEnd));
        assert_eq!(s.commit(), Err(StoreError::Incomplete));
        // The wrong CRC announced.
        s.begin(b.len() as u32, 12345).unwrap();
        s.chunk(0, &b).unwrap();
        assert_eq!(s.commit(), Err(StoreError::CrcMismatch));
        // A model the loader refuses (an unknown op), with the right CRC.
        let mut bad = b;
        let ops = u32::from_le_bytes(bad[28..32].try_into().unwrap()) as usize;
        bad[ops] = 99;
        let n = bad.len();
        let crc = crc32(&bad[..n - 4]);
        bad[n - 4..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            upload(&mut s, &bad, 512),
            Err(StoreError::Model(ModelError::UnknownOp))
        );
        assert_eq!(s.begin(SLOT as u32 + 1, 0), Err(StoreError::TooLarge));
        assert_eq!(s.commit(), Err(StoreError::NoUpload));
        assert_eq!(s.active_bytes(), Some(MODEL));
        assert_eq!(reopen(s).active_bytes(), Some(MODEL));
    }

    #[test]
    fn a_power_cut_at_any_flash_operation_keeps_a_good_model() {
        let b = variant(b'p');
        // The power goes before the 1st, 2nd, … flash operation of an upload (page erases, word
        // writes, the commit record), until the upload finishes before the cut.
        let mut cuts = 0;
        for cut in 0u32.. {
            let mut s = Store::open(Sim::new([0; REGION], PAGE), SLOT);
            upload(&mut s, MODEL, 512).unwrap();
            s.flash_mut().fail_after = Some(cut);
            let result = upload(&mut s, &b, 512);
            let died = s.flash().dead;
            if !died {
                assert!(result.is_ok());
                break;
            }
            cuts += 1;
            let s = reopen(s);
            let active = s.active_bytes().expect("a model survives every cut");
            if result.is_ok() {
                assert_eq!(active, &b[..], "cut {cut}: committed, so the new model");
            } else {
                assert!(active == MODEL || active == &b[..], "cut {cut}");
            }
            // And the store still takes uploads afterwards.
            let mut s = s;
            upload(&mut s, &variant(b'r'), 300).unwrap();
            assert_eq!(reopen(s).active_bytes(), Some(&variant(b'r')[..]));
        }
        // Every erase and word write of a 2 KB model, and the record.
        assert!(cuts > MODEL.len() / 4, "{cuts} cuts");
    }

    #[test]
    fn records_roll_over_between_two_pages() {
        let mut s = Store::open(Sim::new([0; REGION], PAGE), SLOT);
        for i in 0..(3 * PAGE / RECORD_LEN) {
            let m = variant(b'a' + (i % 26) as u8);
            upload(&mut s, &m, 512).unwrap();
            s = reopen(s);
            assert_eq!(s.active_bytes(), Some(&m[..]), "commit {i}");
            assert_eq!(s.active().unwrap().seq, i as u32 + 1);
        }
    }
}
