//! Downloads of public datasets with size and SHA-256 checks, resume and a cache
//! (`tinyml data fetch mnist`). Only with the `cli` feature.
//!
//! A file is first written to `NAME.part`; an interrupted download resumes from where it stopped
//! (an HTTP range request) the next time. Only a file whose size and SHA-256 match the published
//! ones is renamed to `NAME`; a finished file is never downloaded again.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A file to download and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name, appended to a mirror's base URL.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// The four MNIST files (the published sizes and SHA-256 digests).
pub fn mnist_files() -> Vec<RemoteFile> {
    [
        (
            "train-images-idx3-ubyte.gz",
            9_912_422,
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        (
            "train-labels-idx1-ubyte.gz",
            28_881,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            1_648_877,
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            4_542,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ]
    .into_iter()
    .map(|(name, size, sha256)| RemoteFile {
        name: name.into(),
        size,
        sha256: sha256.into(),
    })
    .collect()
}

/// Public mirrors of MNIST, tried in order.
pub const MNIST_MIRRORS: [&str; 2] = [
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
];

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Already there and verified: nothing downloaded.
    Cached(PathBuf),
    /// Downloaded (`resumed_from` bytes were already in the `.part` file).
    Downloaded {
        /// The verified file.
        path: PathBuf,
        /// Bytes that an earlier, interrupted download had already fetched.
        resumed_from: u64,
    },
}

/// Makes sure every file of `files` is in `dir`, verified, downloading what is missing from the
/// first mirror that works. `progress(name, bytes_so_far, total)` is called as data arrives.
pub fn fetch(
    mirrors: &[String],
    files: &[RemoteFile],
    dir: &Path,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<Vec<Fetched>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut done = Vec::new();
    for file in files {
        let path = dir.join(&file.name);
        if path.exists() && verify(&path, file).is_ok() {
            done.push(Fetched::Cached(path));
            continue;
        }
        let mut failures = Vec::new();
        let mut fetched = None;
        for mirror in mirrors {
            let url = format!("{}/{}", mirror.trim_end_matches('/'), file.name);
            match download(&url, file, dir, progress) {
                Ok(resumed_from) => {
                    fetched = Some(resumed_from);
                    break;
                }
                Err(e) => failures.push(format!("{url}: {e}")),
            }
        }
        let Some(resumed_from) = fetched else {
            return Err(Error::Download(format!(
                "could not download {}:\n  {}\nCheck the network and run the command again (finished parts are kept), or put the file in {} by hand",
                file.name,
                failures.join("\n  "),
                dir.display()
            )));
        };
        done.push(Fetched::Downloaded { path, resumed_from });
    }
    Ok(done)
}

/// Downloads one file into `NAME.part` (resuming), verifies it and renames it; returns how many
/// bytes were already there.
fn download(
    url: &str,
    file: &RemoteFile,
    dir: &Path,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> std::result::Result<u64, String> {
    let part = dir.join(format!("{}.part", file.name));
    let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if have >= file.size {
        // A complete (or over-long) part that failed verification: start again.
        let _ = std::fs::remove_file(&part);
        have = 0;
    }
    // Timeouts per connection attempt and per read, not for the whole download: a slow
    // connection still finishes a large file.
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(20))
        .timeout_read(std::time::Duration::from_secs(60))
        .build();
    let mut request = agent.get(url);
    if have > 0 {
        request = request.set("Range", &format!("bytes={have}-"));
    }
    let response = request.call().map_err(|e| e.to_string())?;
    let resumed_from = if response.status() == 206 { have } else { 0 };
    let mut out = if resumed_from > 0 {
        OpenOptions::new().append(true).open(&part)
    } else {
        File::create(&part)
    }
    .map_err(|e| format!("{}: {e}", part.display()))?;
    let mut reader = response.into_reader().take(file.size - resumed_from + 1);
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = resumed_from;
    loop {
        let n = reader.read(&mut buf).map_err(|e| {
            format!(
                "connection lost after {total} of {} bytes ({e}); run again to resume",
                file.size
            )
        })?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(|e| format!("{}: {e}", part.display()))?;
        total += n as u64;
        progress(&file.name, total, file.size);
    }
    out.flush()
        .map_err(|e| format!("{}: {e}", part.display()))?;
    drop(out);
    if total < file.size {
        return Err(format!(
            "the server sent {total} of {} bytes; run again to resume",
            file.size
        ));
    }
    if let Err(e) = verify(&part, file) {
        let _ = std::fs::remove_file(&part);
        return Err(format!("{e}; the download was deleted"));
    }
    let path = dir.join(&file.name);
    std::fs::rename(&part, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(resumed_from)
}

/// Checks size and SHA-256.
fn verify(path: &Path, file: &RemoteFile) -> std::result::Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 != file.size {
        return Err(format!(
            "{} is {} bytes, expected {}",
            file.name,
            bytes.len(),
            file.size
        ));
    }
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != file.sha256 {
        return Err(format!(
            "{} has SHA-256 {digest}, expected {}",
            file.name, file.sha256
        ));
    }
    Ok(())
}
