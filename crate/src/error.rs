//! The kit's error type. Every message says what went wrong and what to do about it.

use std::path::PathBuf;

use tinyml_core::model::ModelError;

/// Everything that can go wrong in a lesson pipeline.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A data file has a problem at a known place.
    #[error("{path}:{line}{column}: {message}", column = column.map(|c| format!(" column {c}")).unwrap_or_default())]
    Data {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column number, when one column is at fault.
        column: Option<usize>,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An audio file, or a folder of recordings, could not be used.
    #[error("{path}: {message}")]
    Audio {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A parameter is out of its range, or parameters contradict each other.
    #[error("invalid {name}: {message}")]
    InvalidParam {
        /// The parameter (as the CLI and the notebook API name it).
        name: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A network cannot be built or trained as asked (layers that do not fit together, data of
    /// the wrong shape, more weights than the kit trains), or a float network file (`.tkf`)
    /// cannot be read.
    #[error("{0}")]
    Network(String),
    /// The core's model loader or writer refused a model (`what` names the file or step).
    #[error(
        "{what}: {} (error {}){}",
        error.message(),
        error.code(),
        model_error_hint(*error)
    )]
    ModelFile {
        /// The file, or the step that wrote it.
        what: String,
        /// The core's error code.
        error: ModelError,
    },
    /// A TensorFlow Lite file (`.tflite`) that cannot be read, or a model that cannot be
    /// written as one (`what` names the file or the model).
    #[error("{what}: {message}")]
    Tflite {
        /// The file, or the model being exported.
        what: String,
        /// What is wrong, and what to do.
        message: String,
    },
    /// A model of another kind or shape than this use takes (a digits model given to the
    /// keyword lesson, a keyword model on the accelerometer).
    #[error("{0}")]
    WrongModel(String),
    /// A model that does not fit the model format or the board (its flash, RAM, time or
    /// feature limits).
    #[error("{0}")]
    DoesNotFit(String),
    /// Features could not be computed from the data given (accelerometer windows too short,
    /// samples that are not numbers).
    #[error("{0}")]
    Features(String),
    /// A classical learner (decision tree, logistic regression, k-NN) failed.
    #[error("{learner}: {message}")]
    Learner {
        /// Which one.
        learner: &'static str,
        /// What it said.
        message: String,
    },
    /// The board (or the simulator) could not be reached or refused a request.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// A download failed.
    #[error("{0}")]
    Download(String),
    /// The notebooks' Jupyter environment (JupyterLab, the Rust kernel, its build) is missing
    /// or failed.
    #[error("{0}")]
    Lab(String),
    /// A figure could not be drawn or saved.
    #[error("figure '{title}': {message}")]
    Figure {
        /// The figure's title.
        title: String,
        /// What went wrong.
        message: String,
    },
}

/// What went wrong with the board, the simulator or the link to them.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// No board is plugged in, or it waits in its bootloader.
    #[error("{0}")]
    NotFound(String),
    /// A port could not be opened (permission, busy, gone): the message names the fix.
    #[error("{0}")]
    CannotOpen(String),
    /// Reading or writing the port failed (unplugged?).
    #[error("{0}")]
    Link(String),
    /// No answer within the time allowed.
    #[error(
        "{port}: no answer within {seconds:.1} s. Is the kit's firmware on the board (`tinyml \
         flash`)?"
    )]
    NoAnswer {
        /// The port.
        port: String,
        /// How long the kit waited.
        seconds: f64,
    },
    /// Something that does not answer as the kit's firmware does, or an answer that does not
    /// fit the request.
    #[error("{0}")]
    Protocol(String),
    /// The board refused a request with one of the core's error codes (`of`: the request's
    /// kind, `detail`: the number the board sent with it).
    #[error("{}", crate::device::refusal_message(*of, *code, *detail))]
    Refused {
        /// The request's kind (`tinyml_core::protocol::kind`).
        of: u8,
        /// The core's error code (`ModelError` or `ProtocolError`).
        code: u8,
        /// A number that goes with it (an offset, a size, a sensor).
        detail: u32,
    },
    /// The board stopped a stream (listening, watching, recording) part way.
    #[error("{0}")]
    Stopped(String),
    /// A deploy did not complete (the board kept the model it had), or the board runs another
    /// model than the one asked for.
    #[error("{0}")]
    Deploy(String),
    /// The firmware could not be flashed.
    #[error("{0}")]
    Flash(String),
    /// A local server (the simulator's socket or pseudo-terminal, the recorder) could not start.
    #[error("{0}")]
    Server(String),
}

impl DeviceError {
    /// The core's model error, when the board refused a model.
    pub fn model_error(&self) -> Option<ModelError> {
        match self {
            DeviceError::Refused { code, .. } => ModelError::from_code(*code),
            _ => None,
        }
    }
}

impl From<ModelError> for Error {
    fn from(error: ModelError) -> Self {
        Error::ModelFile {
            what: "the model".into(),
            error,
        }
    }
}

/// What to do about a model the core refused.
fn model_error_hint(e: ModelError) -> &'static str {
    match e {
        ModelError::BadMagic => "; is it a float model (.tkf)? quantize it with `tinyml quantize`",
        ModelError::Truncated | ModelError::BadChecksum => "; copy or export it again",
        ModelError::UnsupportedVersion => "; quantize the model again with this kit",
        _ => "",
    }
}

/// The kit's `Result`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::InvalidParam`].
    pub fn param(name: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidParam {
            name,
            message: message.into(),
        }
    }

    /// An [`Error::ModelFile`]: the core refused `what`.
    pub fn model_file(what: impl Into<String>, error: ModelError) -> Self {
        Error::ModelFile {
            what: what.into(),
            error,
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
