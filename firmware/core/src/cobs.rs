//! Consistent Overhead Byte Stuffing: packets on a serial line, separated by zero bytes.
//!
//! COBS rewrites a packet so that it contains no `0x00`, at a cost of one byte per 254 (plus
//! one); a `0x00` then ends each frame. A receiver that joins mid-stream, or loses bytes, skips
//! to the next zero and is in step again. (Cheshire and Baker, "Consistent Overhead Byte
//! Stuffing", IEEE/ACM Transactions on Networking, 1999.)

/// The most bytes COBS adds to a packet of `len` bytes (the trailing zero not included).
pub const fn max_overhead(len: usize) -> usize {
    len / 254 + 1
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CobsError {
    /// `out` is too small.
    BufferTooSmall,
    /// A zero inside the frame, or a code byte pointing past its end.
    Malformed,
}

/// Encodes `packet` into `out` (without the trailing zero); gives the encoded length.
pub fn encode(packet: &[u8], out: &mut [u8]) -> Result<usize, CobsError> {
    if out.len() < packet.len() + max_overhead(packet.len()) {
        return Err(CobsError::BufferTooSmall);
    }
    let mut code_at = 0;
    let mut at = 1;
    let mut code = 1u8;
    for &b in packet {
        if b == 0 {
            out[code_at] = code;
            code_at = at;
            at += 1;
            code = 1;
        } else {
            out[at] = b;
            at += 1;
            code += 1;
            if code == 0xFF {
                out[code_at] = code;
                code_at = at;
                at += 1;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    Ok(at)
}

/// Decodes one frame (the bytes between two zeros, without them) into `out`; gives the packet
/// length.
pub fn decode(frame: &[u8], out: &mut [u8]) -> Result<usize, CobsError> {
    let mut at = 0;
    let mut len = 0;
    while at < frame.len() {
        let code = frame[at] as usize;
        if code == 0 || at + code > frame.len() {
            return Err(CobsError::Malformed);
        }
        let run = &frame[at + 1..at + code];
        if run.contains(&0) {
            return Err(CobsError::Malformed);
        }
        let dst = out
            .get_mut(len..len + run.len())
            .ok_or(CobsError::BufferTooSmall)?;
        dst.copy_from_slice(run);
        len += run.len();
        at += code;
        // A code below 0xFF stands for a zero after its run, unless the frame ends there.
        if code < 0xFF && at < frame.len() {
            *out.get_mut(len).ok_or(CobsError::BufferTooSmall)? = 0;
            len += 1;
        }
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(packet: &[u8]) {
        let mut enc = [0u8; 2048];
        let n = encode(packet, &mut enc).unwrap();
        assert!(!enc[..n].contains(&0), "{packet:?}");
        assert!(n <= packet.len() + max_overhead(packet.len()));
        let mut dec = [0u8; 2048];
        let m = decode(&enc[..n], &mut dec).unwrap();
        assert_eq!(&dec[..m], packet);
    }

    #[test]
    fn known_vectors() {
        // From the COBS paper and Wikipedia's table.
        let mut out = [0u8; 16];
        let n = encode(&[0x00], &mut out).unwrap();
        assert_eq!(&out[..n], &[0x01, 0x01]);
        let n = encode(&[0x11, 0x22, 0x00, 0x33], &mut out).unwrap();
        assert_eq!(&out[..n], &[0x03, 0x11, 0x22, 0x02, 0x33]);
        let n = encode(&[0x11, 0x00, 0x00, 0x00], &mut out).unwrap();
        assert_eq!(&out[..n], &[0x02, 0x11, 0x01, 0x01, 0x01]);
        let n = encode(&[], &mut out).unwrap();
        assert_eq!(&out[..n], &[0x01]);
    }

    #[test]
    fn round_trips_at_run_boundaries() {
        let mut p = [0u8; 1000];
        for (i, b) in p.iter_mut().enumerate() {
            *b = (i % 255 + 1) as u8;
        }
        for len in [0, 1, 253, 254, 255, 256, 508, 509, 510, 1000] {
            round_trip(&p[..len]);
            let mut q = p;
            q[len / 2] = 0;
            round_trip(&q[..len]);
        }
        round_trip(&[0; 600]);
    }

    #[test]
    fn malformed_frames_are_errors() {
        let mut out = [0u8; 16];
        assert_eq!(decode(&[0x05, 1, 2], &mut out), Err(CobsError::Malformed));
        assert_eq!(decode(&[0x03, 0, 2], &mut out), Err(CobsError::Malformed));
        assert_eq!(decode(&[0x00], &mut out), Err(CobsError::Malformed));
        assert_eq!(
            decode(&[0x05, 1, 2, 3, 4], &mut out[..2]),
            Err(CobsError::BufferTooSmall)
        );
    }
}
