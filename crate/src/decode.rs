//! Compressed audio files (m4a/AAC, mp3, Ogg Vorbis, FLAC) decoded with symphonia, in Rust:
//! the files phones and laptops save, read without converting them first.

use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL, CODEC_TYPE_OPUS};
use symphonia::core::errors::Error as DecodeError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::audio::{Audio, MAX_FILE_SECONDS};
use crate::error::{Error, Result};

/// What to do with a file the kit cannot decode.
const CONVERT: &str = "save it as WAV (Audacity: File > Export > Export as WAV), or as m4a, mp3, \
                       Ogg Vorbis or FLAC";

/// Decodes the first audio track of `path`, averaged to mono.
pub(crate) fn decode_file(path: &Path) -> Result<Audio> {
    let bad = |message: String| Error::Audio {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let source = MediaSourceStream::new(Box::new(file), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            source,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|_| bad(format!("not an audio file the kit can read: {CONVERT}")))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| bad(format!("the file holds no audio track: {CONVERT}")))?;
    let track_id = track.id;
    if track.codec_params.codec == CODEC_TYPE_OPUS {
        return Err(bad(format!(
            "Opus audio has no decoder written in Rust yet: {CONVERT}"
        )));
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|_| {
            bad(format!(
                "its audio codec is not one the kit reads: {CONVERT}"
            ))
        })?;
    let mut rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut mono: Vec<f32> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(DecodeError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(DecodeError::ResetRequired) => break,
            Err(e) => {
                return Err(bad(format!(
                    "the file is damaged after {:.2} s ({e}): record or export it again",
                    seconds(mono.len(), rate)
                )))
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A damaged packet: symphonia's advice is to skip it and go on.
            Err(DecodeError::DecodeError(_)) => continue,
            Err(e) => {
                return Err(bad(format!(
                    "the audio cannot be decoded after {:.2} s ({e}): record or export it again",
                    seconds(mono.len(), rate)
                )))
            }
        };
        let spec = *decoded.spec();
        rate = spec.rate;
        let channels = spec.channels.count().max(1);
        let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buf.copy_interleaved_ref(decoded);
        mono.extend(
            buf.samples()
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32),
        );
        if seconds(mono.len(), rate) > MAX_FILE_SECONDS {
            return Err(bad(format!(
                "longer than {MAX_FILE_SECONDS:.0} s: split the recording into shorter clips"
            )));
        }
    }
    if rate == 0 || mono.is_empty() {
        return Err(bad(format!("the file holds no sound: {CONVERT}")));
    }
    // Decoders may overshoot full scale a little (mp3, AAC): keep samples in [-1, 1].
    for x in &mut mono {
        *x = if x.is_finite() {
            x.clamp(-1.0, 1.0)
        } else {
            0.0
        };
    }
    Audio::new(mono, rate).map_err(|e| bad(e.to_string()))
}

fn seconds(samples: usize, rate: u32) -> f64 {
    if rate == 0 {
        0.0
    } else {
        samples as f64 / rate as f64
    }
}
