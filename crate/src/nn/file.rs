//! The float model file (`.tkf`): a trained network, its labels, and what it is for.
//!
//! Version 1, all integers little-endian:
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 4 | magic `TKMF` |
//! | 4 | 2 | format version (1) |
//! | 6 | 2 | reserved, 0 |
//! | 8 | 4 | header length `H` in bytes |
//! | 12 | `H` | header, UTF-8 JSON: `kind` (e.g. `"digits-cnn"`), `input` (shape), `layers`, `labels`, `tensors` (the length of each weight tensor, in order), and for keyword models `front_end` (the feature configuration and the per-coefficient `mean` and `std`) |
//! | 12 + `H` | 4 × Σ`tensors` | the weight tensors as `f32`, layer by layer: weight matrix `[fan_in, outputs]` row by row, then the bias |
//! | end − 4 | 4 | CRC-32 (IEEE) of every byte before it |
//!
//! The int8 model that the board runs has its own format, in `tinyml-core`.

use serde::{Deserialize, Serialize};

use super::{tensor_lengths, Layer, Network, Shape};
use crate::error::{Error, Result};
use tinyml_core::crc32::crc32;

/// The magic bytes at the start of a float model file.
pub const MAGIC: &[u8; 4] = b"TKMF";
/// The format version this kit writes and reads.
pub const VERSION: u16 = 1;

/// What the JSON header of a model file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelHeader {
    /// What the model is for, e.g. `digits-cnn`.
    pub kind: String,
    /// Input shape.
    pub input: Shape,
    /// Layers.
    pub layers: Vec<Layer>,
    /// Class names, one per output.
    pub labels: Vec<String>,
    /// Length of each weight tensor.
    pub tensors: Vec<usize>,
    /// What turns raw input into the network's input (for keyword models: the feature
    /// configuration and the standardisation). Absent for digit models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub front_end: Option<serde_json::Value>,
}

impl Network {
    /// The network as model-file bytes, with its `kind` and `labels`.
    pub fn to_file_bytes(&self, kind: &str, labels: &[String]) -> Vec<u8> {
        self.to_file_bytes_with(kind, labels, None)
    }

    /// The network as model-file bytes, with its `kind`, `labels` and `front_end`.
    pub fn to_file_bytes_with(
        &self,
        kind: &str,
        labels: &[String],
        front_end: Option<serde_json::Value>,
    ) -> Vec<u8> {
        let weights = self.weights();
        let header = ModelHeader {
            kind: kind.into(),
            input: self.input,
            layers: self.layers.clone(),
            labels: labels.to_vec(),
            tensors: weights.iter().map(Vec::len).collect(),
            front_end,
        };
        let json = serde_json::to_vec(&header).expect("the header serialises");
        let mut out =
            Vec::with_capacity(16 + json.len() + 4 * weights.iter().map(Vec::len).sum::<usize>());
        out.extend(MAGIC);
        out.extend(VERSION.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend((json.len() as u32).to_le_bytes());
        out.extend(&json);
        for w in &weights {
            for v in w {
                out.extend(v.to_le_bytes());
            }
        }
        let crc = crc32(&out);
        out.extend(crc.to_le_bytes());
        out
    }

    /// Reads model-file bytes, checking everything before building the network. `what` names
    /// the source in error messages.
    pub fn from_file_bytes(bytes: &[u8], what: &str) -> Result<(Network, ModelHeader)> {
        let bad = |message: String| Error::Network(format!("{what}: {message}"));
        if bytes.len() < 16 {
            return Err(bad(format!(
                "{} bytes: too short to be a model file (truncated?)",
                bytes.len()
            )));
        }
        if &bytes[..4] != MAGIC {
            return Err(bad(format!(
                "not a tinyml-kit float model (starts with {:?}, expected \"TKMF\"){}",
                String::from_utf8_lossy(&bytes[..4]),
                if &bytes[..4] == b"TKM8" {
                    "; this is an int8 model"
                } else {
                    ""
                }
            )));
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != VERSION {
            return Err(bad(format!(
                "model file version {version}; this kit reads version {VERSION}: {}",
                if version > VERSION {
                    "update tinyml-kit"
                } else {
                    "train the model again"
                }
            )));
        }
        let h = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        if 12 + h + 4 > bytes.len() {
            return Err(bad(format!(
                "the header says {h} bytes but the file has {}: truncated",
                bytes.len()
            )));
        }
        let header: ModelHeader =
            serde_json::from_slice(&bytes[12..12 + h]).map_err(|e| bad(format!("header: {e}")))?;
        // The layers say how many weights there must be: check that before reading or
        // allocating anything (a header may claim absurd sizes).
        let lengths =
            tensor_lengths(header.input, &header.layers).map_err(|e| bad(e.to_string()))?;
        if lengths != header.tensors {
            return Err(bad(format!(
                "the header lists weight tensors of {:?} values, but its layers need {lengths:?}",
                header.tensors
            )));
        }
        let floats: usize = lengths.iter().sum();
        let expected = 12 + h + 4 * floats + 4;
        if bytes.len() != expected {
            return Err(bad(format!(
                "{} bytes, but the header describes {expected}: {}",
                bytes.len(),
                if bytes.len() < expected {
                    "the file is truncated"
                } else {
                    "extra bytes at the end"
                }
            )));
        }
        let stored = u32::from_le_bytes(bytes[expected - 4..].try_into().expect("4 bytes"));
        if crc32(&bytes[..expected - 4]) != stored {
            return Err(bad(
                "checksum mismatch: the file is corrupt (copy it again)".into(),
            ));
        }
        let mut weights = Vec::with_capacity(header.tensors.len());
        let mut at = 12 + h;
        for &n in &header.tensors {
            weights.push(
                bytes[at..at + 4 * n]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            );
            at += 4 * n;
        }
        let mut net =
            Network::new(header.input, header.layers.clone(), 0).map_err(|e| bad(e.to_string()))?;
        net.set_weights(&weights).map_err(|e| bad(e.to_string()))?;
        if net.outputs() != header.labels.len() {
            return Err(bad(format!(
                "{} labels for {} outputs",
                header.labels.len(),
                net.outputs()
            )));
        }
        Ok((net, header))
    }
}
