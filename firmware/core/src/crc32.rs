//! CRC-32 (IEEE 802.3, the zlib/PNG polynomial), for model files and serial frames.
//!
//! Bitwise with a 16-entry table: small enough for the board's flash, fast enough for a 100 KB
//! model. `crc32(b"123456789") == 0xCBF4_3926`, the standard check value.

const POLY: u32 = 0xEDB8_8320;

const fn nibble_table() -> [u32; 16] {
    let mut table = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 4 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static TABLE: [u32; 16] = nibble_table();

/// A running CRC-32: feed bytes with [`Crc32::update`], read with [`Crc32::finish`].
#[derive(Debug, Clone, Copy)]
pub struct Crc32 {
    state: u32,
}

impl Crc32 {
    /// A new checksum.
    pub const fn new() -> Crc32 {
        Crc32 { state: 0xFFFF_FFFF }
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut c = self.state;
        for &b in bytes {
            c ^= b as u32;
            c = TABLE[(c & 15) as usize] ^ (c >> 4);
            c = TABLE[(c & 15) as usize] ^ (c >> 4);
        }
        self.state = c;
    }

    /// The checksum of everything added so far.
    pub const fn finish(&self) -> u32 {
        !self.state
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Crc32::new()
    }
}

/// The CRC-32 of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(bytes);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_check_value_and_streaming() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        let mut c = Crc32::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finish(), 0xCBF4_3926);
    }
}
