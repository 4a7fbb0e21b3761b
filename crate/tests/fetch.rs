//! `tinyml data fetch`: downloads from a local HTTP server on 127.0.0.1 serving generated IDX
//! files (the real download is never run in tests): verification, cache, resume, bad mirrors.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};
use tinyml_kit::digits::{Digits, MnistSet};
use tinyml_kit::fetch::{fetch, Fetched, RemoteFile};

/// How the server answers.
#[derive(Default)]
struct Behaviour {
    /// Close the connection after this many body bytes, once.
    cut_after: Option<usize>,
    /// Flip a byte of every file served.
    corrupt: bool,
}

struct Server {
    base: String,
    requests: Arc<AtomicUsize>,
    ranges: Arc<Mutex<Vec<String>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

/// Serves `files` at `http://127.0.0.1:PORT/mnist/NAME` until the test ends.
fn serve(files: HashMap<String, Vec<u8>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/mnist/", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let behaviour = Arc::new(Mutex::new(Behaviour::default()));
    let (r, g, b) = (requests.clone(), ranges.clone(), behaviour.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(100) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            let mut range_start = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    g.lock().unwrap().push(v.trim().to_string());
                    range_start = v.trim().trim_end_matches('-').parse::<usize>().ok();
                }
            }
            r.fetch_add(1, Ordering::SeqCst);
            let name = first
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .trim_start_matches("/mnist/")
                .to_string();
            let Some(body) = files.get(&name) else {
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            };
            let mut body = body.clone();
            let mut behave = b.lock().unwrap();
            if behave.corrupt {
                let middle = body.len() / 2;
                body[middle] ^= 0xff;
            }
            let (status, body) = match range_start {
                Some(s) if s < body.len() => ("206 Partial Content", body[s..].to_vec()),
                _ => ("200 OK", body),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let send = behave
                .cut_after
                .take()
                .map_or(body.len(), |n| n.min(body.len()));
            let _ = stream.write_all(&body[..send]);
        }
    });
    Server {
        base,
        requests,
        ranges,
        behaviour,
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fetch-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Generated MNIST-format files and their manifest, made once: the tests run in
/// parallel and must not rebuild a shared directory under each other.
fn dataset() -> Dataset {
    static DATASET: OnceLock<Dataset> = OnceLock::new();
    DATASET.get_or_init(generate_dataset).clone()
}

/// Served files by name, and the manifest.
type Dataset = (HashMap<String, Vec<u8>>, Vec<RemoteFile>);

fn generate_dataset() -> Dataset {
    let src = scratch("src");
    let (images, labels) = Digits::course_default()
        .sample(300, 2)
        .save_idx(&src, "t10k")
        .unwrap();
    let mut files = HashMap::new();
    let mut manifest = Vec::new();
    for path in [images, labels] {
        let name = format!("{}.gz", path.file_name().unwrap().to_string_lossy());
        let bytes = gzip(&std::fs::read(&path).unwrap());
        let sha256 = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        manifest.push(RemoteFile {
            name: name.clone(),
            size: bytes.len() as u64,
            sha256,
        });
        files.insert(name, bytes);
    }
    (files, manifest)
}

fn quiet() -> impl FnMut(&str, u64, u64) {
    |_: &str, _: u64, _: u64| {}
}

#[test]
fn downloads_verifies_then_uses_the_cache() {
    let (files, manifest) = dataset();
    let server = serve(files);
    let dir = scratch("fresh");
    let got = fetch(
        std::slice::from_ref(&server.base),
        &manifest,
        &dir,
        &mut quiet(),
    )
    .unwrap();
    assert!(
        got.iter().all(|f| matches!(
            f,
            Fetched::Downloaded {
                resumed_from: 0,
                ..
            }
        )),
        "{got:?}"
    );
    assert_eq!(Digits::load(&dir, MnistSet::Test).unwrap().len(), 300);
    let before = server.requests.load(Ordering::SeqCst);
    let again = fetch(
        std::slice::from_ref(&server.base),
        &manifest,
        &dir,
        &mut quiet(),
    )
    .unwrap();
    assert!(again.iter().all(|f| matches!(f, Fetched::Cached(_))));
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        before,
        "a verified file is not fetched again"
    );
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let (files, manifest) = dataset();
    let big = manifest.iter().max_by_key(|f| f.size).unwrap().clone();
    let server = serve(files);
    server.behaviour.lock().unwrap().cut_after = Some(big.size as usize / 3);
    let dir = scratch("resume");
    let e = fetch(
        std::slice::from_ref(&server.base),
        std::slice::from_ref(&big),
        &dir,
        &mut quiet(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("resume"), "{e}");
    let part = dir.join(format!("{}.part", big.name));
    assert_eq!(
        std::fs::metadata(&part).unwrap().len(),
        big.size / 3,
        "the part is kept"
    );
    let got = fetch(
        std::slice::from_ref(&server.base),
        std::slice::from_ref(&big),
        &dir,
        &mut quiet(),
    )
    .unwrap();
    assert_eq!(
        got,
        vec![Fetched::Downloaded {
            path: dir.join(&big.name),
            resumed_from: big.size / 3
        }]
    );
    assert_eq!(
        server.ranges.lock().unwrap().as_slice(),
        &[format!("{}-", big.size / 3)]
    );
    assert!(!part.exists());
}

#[test]
fn a_corrupt_download_is_deleted_and_reported() {
    let (files, manifest) = dataset();
    let server = serve(files);
    server.behaviour.lock().unwrap().corrupt = true;
    let dir = scratch("corrupt");
    let e = fetch(
        std::slice::from_ref(&server.base),
        &manifest,
        &dir,
        &mut quiet(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("SHA-256") && e.contains("deleted"), "{e}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing unverified is left"
    );
}

#[test]
fn a_broken_mirror_falls_back_to_the_next() {
    let (files, manifest) = dataset();
    let server = serve(files);
    let empty = serve(HashMap::new());
    let dir = scratch("mirrors");
    let got = fetch(
        &[empty.base.clone(), server.base.clone()],
        &manifest,
        &dir,
        &mut quiet(),
    )
    .unwrap();
    assert_eq!(got.len(), 2);
    let e = fetch(
        std::slice::from_ref(&empty.base),
        &manifest,
        &scratch("mirrors-none"),
        &mut quiet(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("404") && e.contains("by hand"), "{e}");
}

#[test]
fn cli_rejects_unknown_datasets() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tinyml"))
        .args(["data", "fetch", "imagenet"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("mnist"));
}
