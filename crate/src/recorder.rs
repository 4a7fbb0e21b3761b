//! The browser recorder (Day 2): students record their own words with their laptop's or
//! Chromebook's microphone, in a page the kit serves, with no other app.
//!
//! [`Recorder::start`] serves one self-contained page (compiled into the kit; nothing comes from
//! the internet) on `127.0.0.1`, at a random port, behind a random token in the link. For each
//! word the page shows its real spelling, counts down, records [`TAKE_SECONDS`], draws the
//! waveform and plays it back; a take the student keeps is sent here, checked
//! ([`crate::words::take_problems`]: silent, clipped and too-short takes are refused with what
//! to do), resampled to 16 kHz and written as 16-bit WAV in the Speech Commands layout,
//! `DIR/<word id>/<speaker>_nohash_<n>.wav`, never over an existing file. The words' spellings go
//! to `DIR/words.txt`.
//!
//! Requests without the token are refused and write nothing; names cannot leave `DIR`; a take
//! may be at most [`MAX_TAKE_BYTES`] (refused on its declared length, before it is read) and
//! twice [`TAKE_SECONDS`]. The server is `std::net` with bounds on everything a client controls:
//! a head of at most 16 KB, 10 s of silence closes a connection, at most 16 connections at once,
//! and a panic in one request is caught.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::json;

use crate::audio::{has_extension, Audio, AUDIO_EXTENSIONS};
use crate::error::{DeviceError, Error, Result};
use crate::words::{check_speaker, save_take, speaker_of, take_problems, word_id, Spellings};

/// Seconds of each take (a word of up to 1.5 s, with room around it).
pub const TAKE_SECONDS: f64 = 1.5;
/// Largest take the recorder accepts, in bytes (1.5 s of 16-bit stereo at 384 kHz is 2.3 MB).
pub const MAX_TAKE_BYTES: usize = 4 << 20;
/// Most takes of a word a student is asked for.
pub const MAX_TAKES: usize = 200;
/// Takes of each word by default.
pub const DEFAULT_TAKES: usize = 10;
/// Countdown before each take, in seconds, by default.
pub const DEFAULT_COUNTDOWN: u32 = 3;
/// The sample rate the takes are written at.
pub const TAKE_RATE_HZ: u32 = 16_000;
/// Longest request line and headers, in bytes.
const MAX_HEAD_BYTES: usize = 16 << 10;
/// Most connections served at once (a page makes two or three).
const MAX_CONNECTIONS: usize = 16;
/// A connection that sends nothing for this long is closed.
const IDLE: Duration = Duration::from_secs(10);

const PAGE: &str = include_str!("../assets/recorder.html");

/// What the recorder serves: the folder, the words, who speaks.
#[derive(Debug)]
struct Session {
    dir: PathBuf,
    /// `(id, spelling)` of each word, in the order given.
    words: Vec<(String, String)>,
    speaker: String,
    takes: usize,
    countdown: u32,
    token: String,
    /// Held while a take is written or deleted: one at a time.
    writing: Mutex<()>,
}

/// A running browser recorder. It serves until [`Recorder::stop`] or the end of the program.
pub struct Recorder {
    session: Arc<Session>,
    stopping: Arc<AtomicBool>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts the recorder for `speaker` saying `words` (their real spellings, for example
    /// `&["Yá'át'ééh", "aoo'", "dooda", "hágoónee'"]`), `takes` times each, into the dataset
    /// folder `dir` (made if needed), with a countdown of [`DEFAULT_COUNTDOWN`] seconds.
    pub fn start(
        dir: impl AsRef<Path>,
        words: &[&str],
        speaker: &str,
        takes: usize,
    ) -> Result<Recorder> {
        Recorder::start_with(dir, words, speaker, takes, DEFAULT_COUNTDOWN)
    }

    /// [`Recorder::start`] with another countdown (0 to 10 s).
    pub fn start_with(
        dir: impl AsRef<Path>,
        words: &[&str],
        speaker: &str,
        takes: usize,
        countdown: u32,
    ) -> Result<Recorder> {
        let dir = dir.as_ref().to_path_buf();
        let speaker = check_speaker(speaker)?;
        if words.is_empty() {
            return Err(Error::param("words", "name at least one word to record"));
        }
        if !(1..=MAX_TAKES).contains(&takes) {
            return Err(Error::param(
                "takes",
                format!("{takes} (use 1 to {MAX_TAKES})"),
            ));
        }
        if countdown > 10 {
            return Err(Error::param(
                "countdown",
                format!("{countdown} s (use 0 to 10)"),
            ));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        for spelling in words {
            let id = word_id(spelling)?;
            let spelling = crate::words::check_name("word", spelling)?;
            if let Some((_, other)) = pairs.iter().find(|(i, _)| *i == id) {
                return Err(Error::param(
                    "words",
                    format!(
                        "'{spelling}' and '{other}' would share the folder '{id}': spell them \
                         so they differ in a letter"
                    ),
                ));
            }
            pairs.push((id, spelling));
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut spellings = Spellings::load(&dir)?;
        for (id, spelling) in &pairs {
            match spellings.by_id(id) {
                Some(known) if known != spelling => {
                    return Err(crate::words::spelling_clash(&dir, spelling, known, id))
                }
                _ => spellings.insert(id, spelling),
            }
        }
        // Writing words.txt first also shows at once whether the folder can be written.
        spellings.save(&dir)?;
        let session = Arc::new(Session {
            dir,
            words: pairs,
            speaker,
            takes,
            countdown,
            token: random_token()?,
            writing: Mutex::new(()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| {
            Error::Device(DeviceError::Server(format!(
                "cannot start the recorder's server: {e}"
            )))
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| {
                Error::Device(DeviceError::Server(format!(
                    "the recorder's server has no port: {e}"
                )))
            })?
            .port();
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let (session, stopping) = (Arc::clone(&session), Arc::clone(&stopping));
            std::thread::Builder::new()
                .name("tinyml-recorder".into())
                .spawn(move || serve(listener, session, stopping))
                .map_err(|e| {
                    Error::Device(DeviceError::Server(format!(
                        "cannot start the recorder: {e}"
                    )))
                })?
        };
        Ok(Recorder {
            session,
            stopping,
            port,
            thread: Some(thread),
        })
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The page on this computer: `http://127.0.0.1:PORT/?t=TOKEN`.
    pub fn local_url(&self) -> String {
        format!("http://127.0.0.1:{}/?t={}", self.port, self.session.token)
    }

    /// The link to open: [`Recorder::local_url`], or under JupyterHub (when
    /// `JUPYTERHUB_SERVICE_PREFIX` is set) the same page through jupyter-server-proxy,
    /// `PREFIX/proxy/PORT/?t=TOKEN`.
    pub fn url(&self) -> String {
        match std::env::var("JUPYTERHUB_SERVICE_PREFIX") {
            Ok(prefix) if !prefix.is_empty() => format!(
                "{}/proxy/{}/?t={}",
                prefix.trim_end_matches('/'),
                self.port,
                self.session.token
            ),
            _ => self.local_url(),
        }
    }

    /// The dataset folder.
    pub fn dir(&self) -> &Path {
        &self.session.dir
    }

    /// The takes of each word kept so far by this speaker: `(spelling, takes)`.
    pub fn kept(&self) -> Vec<(String, usize)> {
        self.session
            .words
            .iter()
            .map(|(id, spelling)| (spelling.clone(), kept(&self.session, id).len()))
            .collect()
    }

    /// True when every word has its takes.
    pub fn is_done(&self) -> bool {
        self.kept().iter().all(|(_, n)| *n >= self.session.takes)
    }

    /// Stops serving (the page's requests fail from then on).
    pub fn stop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees `stopping`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Waits until the server stops (for the command line: until Ctrl-C).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Shows the recorder in Jupyter: the page itself, and its link.
    pub fn evcxr_display(&self) {
        let url = self.url();
        let html = format!(
            "<div><p>Recording {} word(s) as <b>{}</b> into <code>{}</code>: \
             <a href=\"{url}\" target=\"_blank\">open the recorder in its own tab</a> \
             (or use it here).</p>\
             <iframe src=\"{url}\" allow=\"microphone\" width=\"100%\" height=\"640\" \
             style=\"border:1px solid #ccc\"></iframe></div>",
            self.session.words.len(),
            html_escape(&self.session.speaker),
            html_escape(&self.session.dir.display().to_string()),
        );
        crate::plot::display_content("text/html", &html);
    }
}

impl std::fmt::Display for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "recorder for {} at {}", self.session.speaker, self.url())
    }
}

/// `s` safe inside HTML text and attribute values.
pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// 128 random bits from the operating system, as hex (the recorder's and the simulator's
/// tokens).
pub(crate) fn random_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| {
        Error::Device(DeviceError::Server(format!(
            "no random numbers for a token: {e}"
        )))
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// This speaker's takes of word `id`, sorted.
fn kept(session: &Session, id: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(session.dir.join(id))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file() && has_extension(p, &AUDIO_EXTENSIONS) && speaker_of(p) == session.speaker
        })
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    files.sort();
    files
}

/// An answer: status and JSON, or the page.
struct Reply {
    status: u16,
    body: Vec<u8>,
    content_type: &'static str,
}

impl Reply {
    fn json(status: u16, value: serde_json::Value) -> Reply {
        Reply {
            status,
            body: value.to_string().into_bytes(),
            content_type: "application/json; charset=utf-8",
        }
    }

    fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::json(status, json!({ "error": message.into() }))
    }
}

/// Accepts connections until stopped, each on a thread of its own (at most
/// [`MAX_CONNECTIONS`] at once).
fn serve(listener: TcpListener, session: Arc<Session>, stopping: Arc<AtomicBool>) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            continue; // dropped: the browser tries again
        }
        let (session, mine) = (Arc::clone(&session), Arc::clone(&open));
        let spawned = std::thread::Builder::new()
            .name("tinyml-recorder-request".into())
            .spawn(move || {
                // Whatever one request does, the others are still served.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    answer(&session, stream)
                }));
                mine.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A request as read: method, target (path and query), body.
struct Request {
    method: String,
    target: String,
    body: Vec<u8>,
}

/// Reads one request (head at most [`MAX_HEAD_BYTES`], body at most [`MAX_TAKE_BYTES`], refused
/// on its Content-Length before it is read), answers it and closes the connection.
fn answer(session: &Session, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_write_timeout(Some(IDLE));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let reply = match read_request(&mut BufReader::new(stream)) {
        Ok(request) => handle(session, &request),
        Err(reply) => reply,
    };
    let reason = match reply.status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Referrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    // A browser that went away mid-answer is no reason to stop serving the others.
    let _ = writer
        .write_all(head.as_bytes())
        .and_then(|()| writer.write_all(&reply.body))
        .and_then(|()| writer.flush());
}

fn read_request(reader: &mut impl BufRead) -> std::result::Result<Request, Reply> {
    let bad = |what: &str| {
        Reply::error(
            400,
            format!("not a request the recorder understands: {what}"),
        )
    };
    let mut head = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = reader
            .take((MAX_HEAD_BYTES - head.len().min(MAX_HEAD_BYTES)) as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|_| bad("it stopped arriving"))?;
        head.extend_from_slice(&line);
        if n == 0 || head.len() > MAX_HEAD_BYTES {
            return Err(bad("its head is cut off or too long"));
        }
        let line = String::from_utf8(line).map_err(|_| bad("its head is not text"))?;
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let mut first = lines.first().ok_or_else(|| bad("it is empty"))?.split(' ');
    let (Some(method), Some(target)) = (first.next(), first.next()) else {
        return Err(bad("no method and path"));
    };
    let mut length = 0usize;
    for line in &lines[1..] {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("a bad Content-Length"))?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(bad("send the take with a Content-Length"));
            }
        }
    }
    if length > MAX_TAKE_BYTES {
        return Err(Reply::error(
            413,
            format!(
                "a take may be at most {} MB: record {TAKE_SECONDS} s takes with the page",
                MAX_TAKE_BYTES >> 20
            ),
        ));
    }
    let mut body = vec![0u8; length];
    reader
        .read_exact(&mut body)
        .map_err(|_| bad("the take did not arrive whole"))?;
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        body,
    })
}

/// The query's parameters, percent-decoded.
fn query(url: &str) -> Vec<(String, String)> {
    let Some((_, q)) = url.split_once('?') else {
        return Vec::new();
    };
    q.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

/// `%XX` and `+` decoded; `None` for bad escapes or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Compares in time that does not depend on where the strings differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn handle(session: &Session, request: &Request) -> Reply {
    let url = request.target.clone();
    let path = url.split('?').next().unwrap_or("");
    let params = query(&url);
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if !param("t").is_some_and(|t| same_token(t, &session.token)) {
        return Reply::error(
            403,
            "this link's token is missing or wrong: open the link the recorder printed",
        );
    }
    match (request.method.as_str(), path) {
        ("GET", "/") => Reply {
            status: 200,
            body: PAGE.as_bytes().to_vec(),
            content_type: "text/html; charset=utf-8",
        },
        ("GET", "/session") => Reply::json(
            200,
            json!({
                "speaker": session.speaker,
                "takes": session.takes,
                "seconds": TAKE_SECONDS,
                "countdown": session.countdown,
                "words": session.words.iter().map(|(id, spelling)| json!({
                    "id": id,
                    "spelling": spelling,
                    "kept": kept(session, id),
                })).collect::<Vec<_>>(),
            }),
        ),
        ("POST", "/take") => {
            let Some(id) = known_word(session, param("word")) else {
                return Reply::error(400, "no such word in this recording session");
            };
            let _one_at_a_time = session.writing.lock().unwrap_or_else(|e| e.into_inner());
            keep_take(session, &id, &request.body)
        }
        ("DELETE", "/take") => {
            let Some(id) = known_word(session, param("word")) else {
                return Reply::error(400, "no such word in this recording session");
            };
            let _one_at_a_time = session.writing.lock().unwrap_or_else(|e| e.into_inner());
            delete_take(session, &id, param("file").unwrap_or(""))
        }
        _ => Reply::error(404, "no such page"),
    }
}

/// The id of a word of the session (only those: a request cannot name another folder).
fn known_word(session: &Session, id: Option<&str>) -> Option<String> {
    let id = id?;
    session
        .words
        .iter()
        .find(|(i, _)| i == id)
        .map(|(i, _)| i.clone())
}

fn keep_take(session: &Session, id: &str, body: &[u8]) -> Reply {
    let audio = match Audio::from_wav_bytes(body, "the take") {
        Ok(a) => a,
        Err(e) => {
            return Reply::error(
                400,
                format!("the take is not a WAV recording the kit can read ({e}): reload the page"),
            )
        }
    };
    if audio.duration_s() > 2.0 * TAKE_SECONDS || audio.sample_rate_hz() < 8_000 {
        return Reply::error(
            400,
            format!(
                "a take is {TAKE_SECONDS} s at 8 kHz or more, this one {:.1} s at {} Hz: \
                 reload the page",
                audio.duration_s(),
                audio.sample_rate_hz()
            ),
        );
    }
    if let Some(problem) = take_problems(&audio).into_iter().find(|p| p.refuses()) {
        return Reply::json(
            422,
            json!({ "error": problem.advice(), "problem": problem.name() }),
        );
    }
    let spelling = session
        .words
        .iter()
        .find(|(i, _)| i == id)
        .map_or(id, |(_, s)| s.as_str());
    let saved = audio
        .resample(TAKE_RATE_HZ)
        .and_then(|a| save_take(&session.dir, spelling, &session.speaker, &a));
    match saved {
        Ok(path) => Reply::json(
            200,
            json!({
                "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "kept": kept(session, id),
            }),
        ),
        Err(e) => Reply::error(500, format!("the take could not be saved: {e}")),
    }
}

fn delete_take(session: &Session, id: &str, file: &str) -> Reply {
    let mine = kept(session, id);
    if !mine.iter().any(|f| f == file) {
        return Reply::error(
            404,
            "no such take of yours for this word (only your own takes can be deleted)",
        );
    }
    let path = session.dir.join(id).join(file);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            // A word's last take gone: no empty folder left for training to trip on.
            let _ = std::fs::remove_dir(session.dir.join(id));
            Reply::json(200, json!({ "kept": kept(session, id) }))
        }
        Err(e) => Reply::error(500, format!("could not delete {file}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_and_tokens_compare() {
        let q = query("/take?t=ab%20c&word=y%C3%A1+x&bad=%zz");
        assert_eq!(q[0], ("t".into(), "ab c".into()));
        assert_eq!(q[1], ("word".into(), "yá x".into()));
        assert_eq!(q.len(), 2, "a bad escape is dropped: {q:?}");
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
    }
}
