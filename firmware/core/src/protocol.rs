//! The serial protocol between the laptop and the board (`PROTOCOL.md` beside this crate).
//!
//! A packet is `version, type, sequence, body, CRC-32`, COBS-encoded ([`crate::cobs`]) and ended
//! by a zero byte. The laptop sends [`Request`]s; the board answers each with a [`Response`]
//! carrying the same sequence number (and, while running or streaming, sends predictions and
//! samples with sequence 0). Everything here is `no_std` and allocation-free: packets are built
//! in and parsed from caller-given buffers, bodies borrow from them.

use crate::cobs;
use crate::crc32::crc32;

/// The protocol version spoken here.
pub const VERSION: u8 = 1;
/// Bytes before the body: version, type, sequence (`u16`).
pub const HEADER_LEN: usize = 4;
/// Largest body.
pub const MAX_BODY: usize = 1024;
/// Largest packet (header, body, CRC).
pub const MAX_PACKET: usize = HEADER_LEN + MAX_BODY + 4;
/// Largest frame on the wire, trailing zero included.
pub const MAX_FRAME: usize = MAX_PACKET + cobs::max_overhead(MAX_PACKET) + 1;
/// Most model bytes in one [`Request::Chunk`].
pub const MAX_CHUNK: usize = 512;

/// Message types. Requests are below 0x80, responses from 0x80.
pub mod kind {
    /// Request: who are you?
    pub const HELLO: u8 = 0x01;
    /// Request: a model of `len` bytes with CRC `crc` follows.
    pub const BEGIN_MODEL: u8 = 0x02;
    /// Request: model bytes at `offset`.
    pub const CHUNK: u8 = 0x03;
    /// Request: check the uploaded model and make it the active one.
    pub const COMMIT: u8 = 0x04;
    /// Request: what are you doing?
    pub const STATUS: u8 = 0x05;
    /// Request: run the active model on this int8 input.
    pub const PREDICT: u8 = 0x06;
    /// Request: run the active model on a sensor, sending predictions.
    pub const RUN: u8 = 0x07;
    /// Request: send raw sensor samples (data collection).
    pub const STREAM: u8 = 0x08;
    /// Request: stop running or streaming.
    pub const STOP: u8 = 0x09;
    /// Response to HELLO.
    pub const INFO: u8 = 0x81;
    /// Response: done.
    pub const ACK: u8 = 0x82;
    /// Response: refused, with an error code.
    pub const NAK: u8 = 0x83;
    /// Response to STATUS.
    pub const STATUS_REPLY: u8 = 0x85;
    /// Response to PREDICT: the raw int8 outputs.
    pub const OUTPUT: u8 = 0x86;
    /// While running: one recognised window.
    pub const PREDICTION: u8 = 0x87;
    /// While streaming: raw samples.
    pub const SAMPLES: u8 = 0x88;
}

/// Sensors.
pub mod sensor {
    /// The PDM microphone, 16 kHz.
    pub const MIC: u8 = 1;
    /// The accelerometer.
    pub const IMU: u8 = 2;
    /// Accelerometer samples (x, y, z triples) per second when streaming.
    pub const IMU_RATE_HZ: u32 = 50;
}

/// Why a frame or a request was refused. Codes are stable (model errors are
/// [`crate::model::ModelError`]'s 32–49; these start at 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ProtocolError {
    /// The frame is not valid COBS, or too long.
    BadFrame = 64,
    /// The CRC of the packet does not match.
    BadCrc = 65,
    /// Another protocol version.
    UnsupportedVersion = 66,
    /// A message type this side does not know.
    UnknownMessage = 67,
    /// The body's length does not fit the message type.
    BadLength = 68,
    /// A chunk or commit without a BeginModel first.
    NoUpload = 69,
    /// A chunk at another offset than the next expected byte.
    WrongOffset = 70,
    /// The model is larger than a model slot.
    ModelTooLarge = 71,
    /// Commit before every byte arrived.
    UploadIncomplete = 72,
    /// The uploaded bytes do not have the announced CRC.
    CrcMismatch = 73,
    /// Writing the flash failed.
    FlashError = 74,
    /// Predict or Run without an active model.
    NoModel = 75,
    /// The input has another length than the model's input.
    WrongInputSize = 76,
    /// The sensor does not exist, or the model does not take it.
    BadSensor = 77,
    /// Not now (for example an upload while running).
    Busy = 78,
    /// The model needs more arena than the board has.
    ArenaTooSmall = 79,
}

impl ProtocolError {
    /// Every protocol error, in code order.
    pub const ALL: [ProtocolError; 16] = [
        ProtocolError::BadFrame,
        ProtocolError::BadCrc,
        ProtocolError::UnsupportedVersion,
        ProtocolError::UnknownMessage,
        ProtocolError::BadLength,
        ProtocolError::NoUpload,
        ProtocolError::WrongOffset,
        ProtocolError::ModelTooLarge,
        ProtocolError::UploadIncomplete,
        ProtocolError::CrcMismatch,
        ProtocolError::FlashError,
        ProtocolError::NoModel,
        ProtocolError::WrongInputSize,
        ProtocolError::BadSensor,
        ProtocolError::Busy,
        ProtocolError::ArenaTooSmall,
    ];

    /// The stable wire code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The error with wire code `code` (as a Nak carries it).
    pub fn from_code(code: u8) -> Option<ProtocolError> {
        ProtocolError::ALL.into_iter().find(|e| e.code() == code)
    }
}

/// What the laptop sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Who are you?
    Hello,
    /// A model of `len` bytes with CRC-32 `crc` follows.
    BeginModel {
        /// Bytes.
        len: u32,
        /// CRC-32 of the whole file.
        crc: u32,
    },
    /// Model bytes at `offset`.
    Chunk {
        /// Where in the model file.
        offset: u32,
        /// 1 to [`MAX_CHUNK`] bytes.
        bytes: &'a [u8],
    },
    /// Check the upload and make it active.
    Commit,
    /// What are you doing?
    Status,
    /// Run the active model on this input (the input tensor's int8 values).
    Predict {
        /// int8 values, as bytes.
        input: &'a [u8],
    },
    /// Run the active model on a sensor.
    Run {
        /// [`sensor`].
        sensor: u8,
    },
    /// Send raw samples of a sensor.
    Stream {
        /// [`sensor`].
        sensor: u8,
    },
    /// Stop running or streaming.
    Stop,
}

/// The board's identity and budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// Protocol version.
    pub protocol: u8,
    /// Firmware version `[major, minor, patch]`.
    pub firmware: [u8; 3],
    /// Board revision: 0 unknown or simulator, 1 (LSM9DS1 IMU), 2 (BMI270 + BMM150).
    pub board_revision: u8,
    /// 1 when this is the laptop's simulator, not a board.
    pub simulated: u8,
    /// Bytes of flash for a model.
    pub model_flash: u32,
    /// Bytes of RAM for the arena.
    pub arena_ram: u32,
    /// Bit `n` set: op code `n` is supported.
    pub op_set: u32,
    /// Length of the active model (0: none).
    pub active_len: u32,
    /// CRC-32 of the active model.
    pub active_crc: u32,
}

/// What the board is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// 0 idle, 1 receiving a model, 2 running, 3 streaming.
    pub state: u8,
    /// Length of the active model (0: none).
    pub active_len: u32,
    /// CRC-32 of the active model.
    pub active_crc: u32,
    /// Length of the model being uploaded (0: none).
    pub upload_len: u32,
    /// Bytes of it received.
    pub upload_received: u32,
}

/// What the board sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    /// Answer to Hello.
    Info(Info),
    /// Done: `of` is the request type; `value` is the bytes received (BeginModel, Chunk) or the
    /// active model's CRC (Commit), else 0.
    Ack {
        /// Request type.
        of: u8,
        /// See above.
        value: u32,
    },
    /// Refused.
    Nak {
        /// Request type.
        of: u8,
        /// [`ProtocolError`] or [`crate::model::ModelError`] code.
        code: u8,
        /// More about it (for example the expected offset).
        detail: u32,
    },
    /// Answer to Status.
    Status(Status),
    /// Answer to Predict: the output tensor's int8 values, as bytes.
    Output {
        /// int8 values.
        output: &'a [u8],
    },
    /// While running: a recognised window.
    Prediction {
        /// Milliseconds since the board started.
        time_ms: u32,
        /// The class the recognizer heard in this window (255: nothing new).
        class: u8,
        /// Its score, averaged over the recognizer's windows (0–255 for probability 0–1; 0
        /// when nothing was heard).
        score: u8,
        /// The raw int8 outputs of this window, as bytes.
        scores: &'a [u8],
    },
    /// While streaming: samples.
    Samples {
        /// [`sensor`].
        sensor: u8,
        /// Little-endian `i16` samples (mic: mono 16 kHz; IMU: x, y, z triples in mg).
        data: &'a [u8],
    },
}

/// Writes `samples` little-endian into `out`, as a Samples message carries them; gives the
/// bytes written (as many samples as fit).
pub fn samples_le<'o>(samples: &[i16], out: &'o mut [u8]) -> &'o [u8] {
    let n = samples.len().min(out.len() / 2);
    for (b, x) in out.chunks_exact_mut(2).zip(&samples[..n]) {
        b.copy_from_slice(&x.to_le_bytes());
    }
    &out[..2 * n]
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
}

/// `Ok` when `body` has exactly `n` bytes.
fn expect_len(body: &[u8], n: usize) -> Result<(), ProtocolError> {
    if body.len() == n {
        Ok(())
    } else {
        Err(ProtocolError::BadLength)
    }
}

/// Little-endian writer over a slice.
struct Out<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        let dst = self
            .buf
            .get_mut(self.at..self.at + bytes.len())
            .ok_or(ProtocolError::BadLength)?;
        dst.copy_from_slice(bytes);
        self.at += bytes.len();
        Ok(())
    }
    fn u8(&mut self, v: u8) -> Result<(), ProtocolError> {
        self.put(&[v])
    }
    fn u32(&mut self, v: u32) -> Result<(), ProtocolError> {
        self.put(&v.to_le_bytes())
    }
}

impl<'a> Request<'a> {
    /// The message type.
    pub fn kind(&self) -> u8 {
        match self {
            Request::Hello => kind::HELLO,
            Request::BeginModel { .. } => kind::BEGIN_MODEL,
            Request::Chunk { .. } => kind::CHUNK,
            Request::Commit => kind::COMMIT,
            Request::Status => kind::STATUS,
            Request::Predict { .. } => kind::PREDICT,
            Request::Run { .. } => kind::RUN,
            Request::Stream { .. } => kind::STREAM,
            Request::Stop => kind::STOP,
        }
    }

    fn write_body(&self, o: &mut Out) -> Result<(), ProtocolError> {
        match *self {
            Request::Hello | Request::Commit | Request::Status | Request::Stop => Ok(()),
            Request::BeginModel { len, crc } => {
                o.u32(len)?;
                o.u32(crc)
            }
            Request::Chunk { offset, bytes } => {
                if bytes.is_empty() || bytes.len() > MAX_CHUNK {
                    return Err(ProtocolError::BadLength);
                }
                o.u32(offset)?;
                o.put(bytes)
            }
            Request::Predict { input } => o.put(input),
            Request::Run { sensor } | Request::Stream { sensor } => o.u8(sensor),
        }
    }

    /// Parses a request body of type `kind`.
    pub fn parse(kind: u8, body: &'a [u8]) -> Result<Request<'a>, ProtocolError> {
        let exactly = |n: usize| expect_len(body, n);
        Ok(match kind {
            kind::HELLO => exactly(0).map(|_| Request::Hello)?,
            kind::COMMIT => exactly(0).map(|_| Request::Commit)?,
            kind::STATUS => exactly(0).map(|_| Request::Status)?,
            kind::STOP => exactly(0).map(|_| Request::Stop)?,
            kind::BEGIN_MODEL => {
                exactly(8)?;
                Request::BeginModel {
                    len: u32_at(body, 0),
                    crc: u32_at(body, 4),
                }
            }
            kind::CHUNK => {
                if body.len() < 5 || body.len() > 4 + MAX_CHUNK {
                    return Err(ProtocolError::BadLength);
                }
                Request::Chunk {
                    offset: u32_at(body, 0),
                    bytes: &body[4..],
                }
            }
            kind::PREDICT => Request::Predict { input: body },
            kind::RUN => {
                exactly(1)?;
                Request::Run { sensor: body[0] }
            }
            kind::STREAM => {
                exactly(1)?;
                Request::Stream { sensor: body[0] }
            }
            _ => return Err(ProtocolError::UnknownMessage),
        })
    }
}

impl<'a> Response<'a> {
    /// The message type.
    pub fn kind(&self) -> u8 {
        match self {
            Response::Info(_) => kind::INFO,
            Response::Ack { .. } => kind::ACK,
            Response::Nak { .. } => kind::NAK,
            Response::Status(_) => kind::STATUS_REPLY,
            Response::Output { .. } => kind::OUTPUT,
            Response::Prediction { .. } => kind::PREDICTION,
            Response::Samples { .. } => kind::SAMPLES,
        }
    }

    fn write_body(&self, o: &mut Out) -> Result<(), ProtocolError> {
        match *self {
            Response::Info(i) => {
                o.put(&[
                    i.protocol,
                    i.firmware[0],
                    i.firmware[1],
                    i.firmware[2],
                    i.board_revision,
                    i.simulated,
                    0,
                    0,
                ])?;
                for v in [
                    i.model_flash,
                    i.arena_ram,
                    i.op_set,
                    i.active_len,
                    i.active_crc,
                ] {
                    o.u32(v)?;
                }
                Ok(())
            }
            Response::Ack { of, value } => {
                o.put(&[of, 0, 0, 0])?;
                o.u32(value)
            }
            Response::Nak { of, code, detail } => {
                o.put(&[of, code, 0, 0])?;
                o.u32(detail)
            }
            Response::Status(s) => {
                o.put(&[s.state, 0, 0, 0])?;
                for v in [s.active_len, s.active_crc, s.upload_len, s.upload_received] {
                    o.u32(v)?;
                }
                Ok(())
            }
            Response::Output { output } => o.put(output),
            Response::Prediction {
                time_ms,
                class,
                score,
                scores,
            } => {
                o.u32(time_ms)?;
                o.put(&[class, score, 0, 0])?;
                o.put(scores)
            }
            Response::Samples { sensor, data } => {
                if !data.len().is_multiple_of(2) {
                    return Err(ProtocolError::BadLength);
                }
                o.put(&[sensor, 0, 0, 0])?;
                o.put(data)
            }
        }
    }

    /// Parses a response body of type `kind`.
    pub fn parse(kind: u8, body: &'a [u8]) -> Result<Response<'a>, ProtocolError> {
        let exactly = |n: usize| expect_len(body, n);
        Ok(match kind {
            kind::INFO => {
                exactly(28)?;
                Response::Info(Info {
                    protocol: body[0],
                    firmware: [body[1], body[2], body[3]],
                    board_revision: body[4],
                    simulated: body[5],
                    model_flash: u32_at(body, 8),
                    arena_ram: u32_at(body, 12),
                    op_set: u32_at(body, 16),
                    active_len: u32_at(body, 20),
                    active_crc: u32_at(body, 24),
                })
            }
            kind::ACK => {
                exactly(8)?;
                Response::Ack {
                    of: body[0],
                    value: u32_at(body, 4),
                }
            }
            kind::NAK => {
                exactly(8)?;
                Response::Nak {
                    of: body[0],
                    code: body[1],
                    detail: u32_at(body, 4),
                }
            }
            kind::STATUS_REPLY => {
                exactly(20)?;
                Response::Status(Status {
                    state: body[0],
                    active_len: u32_at(body, 4),
                    active_crc: u32_at(body, 8),
                    upload_len: u32_at(body, 12),
                    upload_received: u32_at(body, 16),
                })
            }
            kind::OUTPUT => Response::Output { output: body },
            kind::PREDICTION => {
                if body.len() < 8 {
                    return Err(ProtocolError::BadLength);
                }
                Response::Prediction {
                    time_ms: u32_at(body, 0),
                    class: body[4],
                    score: body[5],
                    scores: &body[8..],
                }
            }
            kind::SAMPLES => {
                if body.len() < 4 || !body.len().is_multiple_of(2) {
                    return Err(ProtocolError::BadLength);
                }
                Response::Samples {
                    sensor: body[0],
                    data: &body[4..],
                }
            }
            _ => return Err(ProtocolError::UnknownMessage),
        })
    }
}

/// A decoded packet: its type, sequence number and body (borrowed from the decode buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Message type.
    pub kind: u8,
    /// Sequence number.
    pub seq: u16,
    /// Body.
    pub body: &'a [u8],
}

/// Builds the frame for a message (`kind`, `seq`, body written by `body`) into `frame`:
/// COBS-encoded packet and the trailing zero. Gives the frame's length.
fn encode_frame(
    kind: u8,
    seq: u16,
    body: impl FnOnce(&mut Out) -> Result<(), ProtocolError>,
    frame: &mut [u8],
) -> Result<usize, ProtocolError> {
    let mut packet = [0u8; MAX_PACKET];
    let mut o = Out {
        buf: &mut packet[..HEADER_LEN + MAX_BODY],
        at: 0,
    };
    o.u8(VERSION)?;
    o.u8(kind)?;
    o.put(&seq.to_le_bytes())?;
    body(&mut o)?;
    let end = o.at;
    let crc = crc32(&packet[..end]);
    packet[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    let n = cobs::encode(&packet[..end + 4], frame).map_err(|_| ProtocolError::BadLength)?;
    *frame.get_mut(n).ok_or(ProtocolError::BadLength)? = 0;
    Ok(n + 1)
}

/// The frame of `request` with sequence `seq`, written into `frame` (at least [`MAX_FRAME`]
/// bytes for the largest messages); gives its length.
pub fn encode_request(
    request: &Request,
    seq: u16,
    frame: &mut [u8],
) -> Result<usize, ProtocolError> {
    encode_frame(request.kind(), seq, |o| request.write_body(o), frame)
}

/// The frame of `response` answering sequence `seq`, written into `frame`; gives its length.
pub fn encode_response(
    response: &Response,
    seq: u16,
    frame: &mut [u8],
) -> Result<usize, ProtocolError> {
    encode_frame(response.kind(), seq, |o| response.write_body(o), frame)
}

/// Decodes one frame (the bytes before a zero, without it) into `buf` (at least
/// [`MAX_PACKET`] bytes) and checks its CRC and version.
pub fn decode_frame<'b>(frame: &[u8], buf: &'b mut [u8]) -> Result<Packet<'b>, ProtocolError> {
    if frame.len() > MAX_FRAME {
        return Err(ProtocolError::BadFrame);
    }
    let n = cobs::decode(frame, buf).map_err(|_| ProtocolError::BadFrame)?;
    if n < HEADER_LEN + 4 {
        return Err(ProtocolError::BadFrame);
    }
    let packet = &buf[..n];
    let stored = u32_at(packet, n - 4);
    if crc32(&packet[..n - 4]) != stored {
        return Err(ProtocolError::BadCrc);
    }
    if packet[0] != VERSION {
        return Err(ProtocolError::UnsupportedVersion);
    }
    Ok(Packet {
        kind: packet[1],
        seq: u16::from_le_bytes([packet[2], packet[3]]),
        body: &packet[HEADER_LEN..n - 4],
    })
}

/// Splits a byte stream into frames: feed bytes as they arrive, get each complete frame (the
/// bytes before a zero). A frame longer than [`MAX_FRAME`] is dropped up to the next zero.
#[derive(Debug)]
pub struct FrameReader {
    buf: [u8; MAX_FRAME],
    len: usize,
    overflow: bool,
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader::new()
    }
}

impl FrameReader {
    /// An empty reader.
    pub const fn new() -> FrameReader {
        FrameReader {
            buf: [0; MAX_FRAME],
            len: 0,
            overflow: false,
        }
    }

    /// Adds one byte; when it ends a frame, gives `Some(Ok(frame))` (`Some(Err(BadFrame))` for an
    /// over-long one). Empty frames (two zeros in a row) are skipped.
    pub fn push(&mut self, byte: u8) -> Option<Result<&[u8], ProtocolError>> {
        if byte != 0 {
            if self.len < self.buf.len() {
                self.buf[self.len] = byte;
                self.len += 1;
            } else {
                self.overflow = true;
            }
            return None;
        }
        let (len, overflow) = (self.len, self.overflow);
        self.len = 0;
        self.overflow = false;
        if overflow {
            return Some(Err(ProtocolError::BadFrame));
        }
        if len == 0 {
            return None;
        }
        Some(Ok(&self.buf[..len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(request: Request) {
        let mut frame = [0u8; MAX_FRAME];
        let n = encode_request(&request, 513, &mut frame).unwrap();
        assert_eq!(frame[n - 1], 0);
        assert!(!frame[..n - 1].contains(&0));
        let mut buf = [0u8; MAX_PACKET];
        let p = decode_frame(&frame[..n - 1], &mut buf).unwrap();
        assert_eq!((p.kind, p.seq), (request.kind(), 513));
        assert_eq!(Request::parse(p.kind, p.body).unwrap(), request);
    }

    fn back(response: Response) {
        let mut frame = [0u8; MAX_FRAME];
        let n = encode_response(&response, 7, &mut frame).unwrap();
        let mut buf = [0u8; MAX_PACKET];
        let p = decode_frame(&frame[..n - 1], &mut buf).unwrap();
        assert_eq!(Response::parse(p.kind, p.body).unwrap(), response);
    }

    #[test]
    fn every_message_round_trips() {
        let bytes = [0u8, 1, 2, 0, 255, 0];
        through(Request::Hello);
        through(Request::BeginModel {
            len: 19052,
            crc: 0xDEAD_BEEF,
        });
        through(Request::Chunk {
            offset: 512,
            bytes: &bytes,
        });
        through(Request::Chunk {
            offset: 0,
            bytes: &[7; MAX_CHUNK],
        });
        through(Request::Commit);
        through(Request::Status);
        through(Request::Predict {
            input: &[0x80; 637],
        });
        through(Request::Run {
            sensor: sensor::MIC,
        });
        through(Request::Stream {
            sensor: sensor::IMU,
        });
        through(Request::Stop);
        back(Response::Info(Info {
            protocol: 1,
            firmware: [0, 1, 0],
            board_revision: 2,
            simulated: 1,
            model_flash: 262_144,
            arena_ram: 131_072,
            op_set: 0x1FE,
            active_len: 7388,
            active_crc: 0x1234_5678,
        }));
        back(Response::Ack {
            of: kind::CHUNK,
            value: 1024,
        });
        back(Response::Nak {
            of: kind::COMMIT,
            code: 73,
            detail: 5,
        });
        back(Response::Status(Status {
            state: 1,
            active_len: 0,
            active_crc: 0,
            upload_len: 9000,
            upload_received: 512,
        }));
        back(Response::Output { output: &bytes });
        back(Response::Prediction {
            time_ms: 123,
            class: 3,
            score: 200,
            scores: &bytes,
        });
        back(Response::Samples {
            sensor: sensor::MIC,
            data: &bytes,
        });
    }

    #[test]
    fn damaged_frames_are_refused() {
        let mut frame = [0u8; MAX_FRAME];
        let n = encode_request(&Request::BeginModel { len: 10, crc: 3 }, 1, &mut frame).unwrap();
        let mut buf = [0u8; MAX_PACKET];
        for i in 0..n - 1 {
            let mut f = frame;
            f[i] ^= 0x10;
            if f[i] == 0 {
                continue;
            }
            assert!(decode_frame(&f[..n - 1], &mut buf).is_err(), "flip at {i}");
        }
        // A frame cut short.
        assert!(decode_frame(&frame[..n / 2], &mut buf).is_err());
        // Another version.
        let mut packet = [2u8, kind::HELLO, 0, 0, 0, 0, 0, 0];
        let crc = crc32(&packet[..4]);
        packet[4..].copy_from_slice(&crc.to_le_bytes());
        let mut f = [0u8; 16];
        let m = cobs::encode(&packet, &mut f).unwrap();
        assert_eq!(
            decode_frame(&f[..m], &mut buf),
            Err(ProtocolError::UnsupportedVersion)
        );
        // Bodies of the wrong length.
        assert_eq!(
            Request::parse(kind::BEGIN_MODEL, &[0; 7]),
            Err(ProtocolError::BadLength)
        );
        assert_eq!(
            Request::parse(kind::CHUNK, &[0; 4]),
            Err(ProtocolError::BadLength)
        );
        assert_eq!(
            Request::parse(0x42, &[]),
            Err(ProtocolError::UnknownMessage)
        );
        assert!(encode_request(
            &Request::Chunk {
                offset: 0,
                bytes: &[1; MAX_CHUNK + 1]
            },
            0,
            &mut frame
        )
        .is_err());
    }

    #[test]
    fn the_reader_splits_a_stream_and_recovers_from_noise() {
        let mut stream = [0u8; 4 * MAX_FRAME];
        let mut at = 0;
        stream[at..at + 3].copy_from_slice(&[9, 9, 0]); // noise, then a zero
        at += 3;
        for seq in 0..3 {
            at += encode_request(&Request::Status, seq, &mut stream[at..]).unwrap();
        }
        let mut reader = FrameReader::new();
        let mut buf = [0u8; MAX_PACKET];
        let mut seen = [false; 3];
        let mut bad = 0;
        for &b in &stream[..at] {
            if let Some(frame) = reader.push(b) {
                match frame.and_then(|f| decode_frame(f, &mut buf)) {
                    Ok(p) => seen[p.seq as usize] = true,
                    Err(_) => bad += 1,
                }
            }
        }
        assert_eq!(seen, [true; 3]);
        assert_eq!(bad, 1); // the noise
                            // An over-long frame is dropped, and the next one still arrives.
        let mut reader = FrameReader::new();
        for _ in 0..MAX_FRAME + 10 {
            assert!(reader.push(1).is_none());
        }
        assert_eq!(
            reader.push(0).map(|r| r.err()),
            Some(Some(ProtocolError::BadFrame))
        );
        let mut f = [0u8; 64];
        let n = encode_request(&Request::Hello, 9, &mut f).unwrap();
        let mut got = None;
        for &b in &f[..n] {
            if let Some(Ok(frame)) = reader.push(b) {
                got = Some(decode_frame(frame, &mut buf).unwrap().seq);
            }
        }
        assert_eq!(got, Some(9));
    }
}
