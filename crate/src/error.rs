//! The kit's error type. Every message says what went wrong and what to do about it.

use std::path::PathBuf;

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
    /// An audio file could not be used.
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
    /// A model could not be trained or used.
    #[error("{0}")]
    Model(String),
    /// The board (or the simulator) could not be reached or refused a request.
    #[error("{0}")]
    Device(String),
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

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
