//! Activity recordings: windows of accelerometer data with a label, a person and a speed.
//!
//! The CSV layout is the one `tinyml record --sensor imu` will write from the board: one row per
//! accelerometer sample.
//!
//! ```text
//! person,session,label,t_ms,ax,ay,az,speed_mph
//! P01,1,WALKING,0,-0.8123,0.1534,0.4410,3.12
//! P01,1,WALKING,20,-0.7988,0.1602,0.4521,3.12
//! ```
//!
//! - `person`: who wore the board (any text without commas); used to hold out whole people.
//! - `session`: one continuous recording (a whole number); `t_ms` restarts in each session.
//! - `label`: the activity (`WALKING`, `RUNNING`, `BIKING`, `GOLFING` or your own).
//! - `t_ms`: milliseconds since the session started, increasing.
//! - `ax`, `ay`, `az`: acceleration in g (1 g = 9.81 m/s², gravity alone reads 1 g).
//! - `speed_mph`: optional (the board has no speedometer: leave the cells empty); the hand-written
//!   speed rules need it, the learned models do not.
//!
//! Columns may come in any order and extra columns are ignored. Each session is cut into
//! back-to-back windows of [`ActivityData::window_len`] samples (2 s at 50 Hz by default); a
//! tail shorter than a window is left out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::plot::{Figure, Table};
use crate::rng::Rng;

/// The four activities of the course slides, in the order lessons show them.
pub const ACTIVITIES: [&str; 4] = ["WALKING", "RUNNING", "BIKING", "GOLFING"];

/// Columns a recording must have.
pub const REQUIRED_COLUMNS: [&str; 7] = ["person", "session", "label", "t_ms", "ax", "ay", "az"];
/// The optional speed column.
pub const SPEED_COLUMN: &str = "speed_mph";

/// The seed of the embedded default dataset (the year of the first Summer Institute).
pub const DEFAULT_SEED: u64 = 2022;

/// One window of accelerometer samples with its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Who wore the board.
    pub person: String,
    /// The recording session it was cut from.
    pub session: u32,
    /// The activity.
    pub label: String,
    /// Mean speed over the window in miles per hour, when the recording has speeds.
    pub speed_mph: Option<f64>,
    /// Time of the first sample, ms since the session started.
    pub start_ms: u32,
    /// x acceleration in g, one value per sample.
    pub ax: Vec<f32>,
    /// y acceleration in g.
    pub ay: Vec<f32>,
    /// z acceleration in g.
    pub az: Vec<f32>,
}

/// A set of labelled accelerometer windows, all of one length and sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityData {
    /// The windows, in recording order.
    pub windows: Vec<Window>,
    /// Samples per second.
    pub sample_rate_hz: f32,
    /// Samples per window.
    pub window_len: usize,
    /// Where the data came from (a path, or the generator and its seed).
    pub source: String,
}

/// Parameters of the activity data generator: see [`ActivityData::generator`].
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorParams {
    people: usize,
    seconds_per_activity: u32,
    sample_rate_hz: u32,
    window_seconds: u32,
    seed: u64,
}

impl GeneratorParams {
    /// Number of people (default 12), named `P01`, `P02`, ….
    pub fn people(mut self, people: usize) -> Self {
        self.people = people;
        self
    }

    /// Seconds each person records each activity (default 24: 12 windows of 2 s).
    pub fn seconds_per_activity(mut self, seconds: u32) -> Self {
        self.seconds_per_activity = seconds;
        self
    }

    /// Accelerometer sample rate (default 50 Hz).
    pub fn sample_rate_hz(mut self, hz: u32) -> Self {
        self.sample_rate_hz = hz;
        self
    }

    /// Window length in seconds (default 2).
    pub fn window_seconds(mut self, seconds: u32) -> Self {
        self.window_seconds = seconds;
        self
    }

    /// The seed (default [`DEFAULT_SEED`]): the same seed gives the same data, bit for bit.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    fn validate(&self) -> Result<()> {
        if !(1..=999).contains(&self.people) {
            return Err(Error::param(
                "people",
                format!("{} (use 1 to 999)", self.people),
            ));
        }
        if !(10..=400).contains(&self.sample_rate_hz) {
            return Err(Error::param(
                "sample_rate_hz",
                "use 10 to 400 Hz (the IMU runs at 50-119 Hz)",
            ));
        }
        let window_len = self.sample_rate_hz * self.window_seconds;
        if !(tinyml_core::imu::MIN_WINDOW_LEN as u32..=tinyml_core::imu::MAX_WINDOW_LEN as u32)
            .contains(&window_len)
        {
            return Err(Error::param(
                "window_seconds",
                format!(
                    "{} s at {} Hz is {window_len} samples; a window holds {} to {} samples",
                    self.window_seconds,
                    self.sample_rate_hz,
                    tinyml_core::imu::MIN_WINDOW_LEN,
                    tinyml_core::imu::MAX_WINDOW_LEN
                ),
            ));
        }
        if self.seconds_per_activity < self.window_seconds {
            return Err(Error::param(
                "seconds_per_activity",
                format!("must be at least one window ({} s)", self.window_seconds),
            ));
        }
        Ok(())
    }

    /// Generates the data.
    pub fn generate(&self) -> Result<ActivityData> {
        self.validate()?;
        let mut rng = Rng::new(self.seed);
        let rate = self.sample_rate_hz as f64;
        let window_len = (self.sample_rate_hz * self.window_seconds) as usize;
        let windows_per_session = (self.seconds_per_activity / self.window_seconds) as usize;
        let mut windows = Vec::new();
        for p in 0..self.people {
            let person = Person::draw(&mut rng);
            let name = format!("P{:02}", p + 1);
            for (a, label) in ACTIVITIES.iter().enumerate() {
                let session = (p * ACTIVITIES.len() + a + 1) as u32;
                for w in 0..windows_per_session {
                    let speed = person.speed_mph(label, &mut rng);
                    let [ax, ay, az] = person.window(label, speed, window_len, rate, &mut rng);
                    windows.push(Window {
                        person: name.clone(),
                        session,
                        label: label.to_string(),
                        speed_mph: Some((speed * 100.0).round() / 100.0),
                        start_ms: (w * window_len * 1000 / self.sample_rate_hz as usize) as u32,
                        ax,
                        ay,
                        az,
                    });
                }
            }
        }
        Ok(ActivityData {
            windows,
            sample_rate_hz: self.sample_rate_hz as f32,
            window_len,
            source: format!("generated (seed {})", self.seed),
        })
    }
}

/// How one person moves: the per-person variation of the generator.
struct Person {
    speed_factor: f64,
    cadence_factor: f64,
    strength: f64,
    /// How the board sits on the wrist: rotation about x and y, radians.
    roll: f64,
    pitch: f64,
    noise_g: f64,
    /// Wears the board on the other wrist: the y axis points the other way.
    other_wrist: bool,
}

impl Person {
    fn draw(rng: &mut Rng) -> Person {
        Person {
            speed_factor: rng.normal(1.0, 0.12).clamp(0.7, 1.3),
            cadence_factor: rng.normal(1.0, 0.08).clamp(0.8, 1.2),
            strength: rng.normal(1.0, 0.2).clamp(0.6, 1.5),
            roll: rng.normal(0.0, 0.35),
            pitch: rng.normal(0.0, 0.25),
            noise_g: rng.range(0.02, 0.05),
            other_wrist: rng.uniform() < 0.2,
        }
    }

    /// Speed over one window: everyday speeds, overlapping between activities (a brisk walk is
    /// faster than a slow jog; a relaxed bike ride is slower than a run).
    fn speed_mph(&self, label: &str, rng: &mut Rng) -> f64 {
        let s = self.speed_factor;
        match label {
            "WALKING" => (rng.normal(3.1, 0.55) * s).clamp(0.8, 5.0),
            "RUNNING" => (rng.normal(6.8, 1.6) * s).clamp(4.0, 12.5),
            "BIKING" => (rng.normal(12.5, 3.2) * s).clamp(5.0, 25.0),
            _ => rng.normal(0.6, 0.8).abs().min(3.5), // golf: standing, a few steps between shots
        }
    }

    /// One window of 3-axis acceleration in g, as a wrist-worn board would measure it.
    fn window(&self, label: &str, speed: f64, n: usize, rate: f64, rng: &mut Rng) -> [Vec<f32>; 3] {
        use std::f64::consts::TAU;
        // Where gravity points in the board's frame for this activity's arm posture.
        let gravity = match label {
            "WALKING" => [-0.90, 0.10, 0.42], // arm hanging, swinging
            "RUNNING" => [-0.25, 0.10, 0.96], // forearm bent, near horizontal
            "BIKING" => [-0.55, 0.05, 0.83],  // hands on the handlebar
            _ => [-0.95, 0.20, 0.22],         // golf: arms down, holding the club
        };
        let jitter = |rng: &mut Rng| rng.normal(0.0, 0.05);
        let (roll, pitch) = (self.roll + jitter(rng), self.pitch + jitter(rng));
        let phase = rng.range(0.0, TAU);
        let c = self.cadence_factor;
        let a = self.strength;
        // Golf: a swing (slow backswing, fast downswing) lands somewhere in 75% of the windows.
        let swing = (label == "GOLFING" && rng.uniform() < 0.75).then(|| {
            let seconds = n as f64 / rate;
            (rng.range(0.3, seconds - 0.2), rng.range(2.0, 3.5) * a)
        });
        let mut axes = [
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        ];
        for i in 0..n {
            let t = i as f64 / rate;
            let mut v = gravity;
            match label {
                "WALKING" => {
                    let f = 1.8 * c * (speed / 3.1).powf(0.3);
                    let bounce = 0.22 * a * (speed / 3.1) * (TAU * f * t + phase).sin()
                        + 0.08 * a * (2.0 * TAU * f * t + phase).sin();
                    let arm = 0.30 * a * (TAU * f / 2.0 * t + phase).sin();
                    v = [v[0] + bounce, v[1] + arm, v[2] + 0.3 * bounce];
                }
                "RUNNING" => {
                    let f = 2.7 * c * (speed / 6.8).powf(0.25);
                    let s = (TAU * f * t + phase).sin();
                    // Foot strikes: sharp peaks, hence the strong harmonic.
                    let bounce = 0.8 * a * (speed / 6.8).sqrt() * (s.max(0.0).powi(3) - 0.2)
                        + 0.3 * a * (2.0 * TAU * f * t + phase).sin();
                    let arm = 0.6 * a * (TAU * f / 2.0 * t + phase).sin();
                    v = [v[0] + 0.4 * bounce, v[1] + arm, v[2] + bounce];
                }
                "BIKING" => {
                    let f = 1.3 * c;
                    let sway = 0.06 * a * (TAU * f * t + phase).sin();
                    let road = rng.normal(0.0, 0.03 + 0.004 * speed);
                    v = [v[0] + road, v[1] + sway, v[2] + road * 0.8 + sway * 0.5];
                }
                _ => {
                    let sway = 0.02 * (TAU * 0.3 * t + phase).sin();
                    v[1] += sway;
                    if let Some((t0, peak)) = swing {
                        let down = (-(t - t0).powi(2) / (2.0 * 0.09f64.powi(2))).exp();
                        let back = (-(t - t0 + 0.45).powi(2) / (2.0 * 0.25f64.powi(2))).exp();
                        let osc = (TAU * 3.0 * (t - t0)).cos();
                        v[0] += peak * down * osc;
                        v[1] += 0.6 * peak * down * (TAU * 3.0 * (t - t0)).sin() + 0.5 * back;
                        v[2] += 0.3 * peak * down - 0.3 * back;
                    }
                }
            }
            let mut v = rotate(v, roll, pitch);
            if self.other_wrist {
                v[1] = -v[1];
            }
            for (axis, value) in axes.iter_mut().zip(v) {
                let g = (value + rng.normal(0.0, self.noise_g)).clamp(-4.0, 4.0);
                // The recording resolution: 0.1 mg, written exactly to CSV and read back.
                axis.push(((g * 1e4).round() / 1e4) as f32);
            }
        }
        axes
    }
}

/// Rotates `v` by `roll` about x, then `pitch` about y.
fn rotate(v: [f64; 3], roll: f64, pitch: f64) -> [f64; 3] {
    let (sr, cr) = roll.sin_cos();
    let (sp, cp) = pitch.sin_cos();
    let [x, y, z] = v;
    let (y, z) = (cr * y - sr * z, sr * y + cr * z);
    [cp * x + sp * z, y, -sp * x + cp * z]
}

impl ActivityData {
    /// Parameters of the seeded generator of the course's default data: `people` people each
    /// walking, running, biking and golfing with a board on the wrist.
    ///
    /// Defaults: 12 people, 24 s per activity, 50 Hz, 2 s windows, seed [`DEFAULT_SEED`]
    /// (576 windows).
    pub fn generator() -> GeneratorParams {
        GeneratorParams {
            people: 12,
            seconds_per_activity: 24,
            sample_rate_hz: 50,
            window_seconds: 2,
            seed: DEFAULT_SEED,
        }
    }

    /// The embedded default: [`ActivityData::generator`] with its defaults.
    pub fn course_default() -> ActivityData {
        // The defaults are valid by construction (and tested).
        Self::generator()
            .generate()
            .expect("default generator parameters are valid")
    }

    /// Loads a CSV recording, or every `*.csv` in a folder (in name order), cut into windows
    /// of 2 s.
    pub fn load(path: impl AsRef<Path>) -> Result<ActivityData> {
        Self::load_with_window(path, 2.0)
    }

    /// Loads like [`ActivityData::load`], with windows of `window_seconds`.
    pub fn load_with_window(path: impl AsRef<Path>, window_seconds: f64) -> Result<ActivityData> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| {
            Error::io(path, std::io::Error::new(e.kind(), format!("{e} (check the path; `tinyml activity generate --out FILE` writes an example)")))
        })?;
        let files = if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| Error::io(path, e))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(Error::Data {
                    path: path.to_path_buf(),
                    line: 0,
                    column: None,
                    message: "this folder has no .csv files; put recordings in it or pass a file"
                        .into(),
                });
            }
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut sessions = Vec::new();
        for file in &files {
            sessions.extend(read_sessions(file)?);
        }
        cut_windows(sessions, window_seconds, path)
    }

    /// Writes the windows as CSV in the recording layout (see the module docs).
    pub fn save_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut out = String::from("person,session,label,t_ms,ax,ay,az,speed_mph\n");
        let step_ms = 1000.0 / self.sample_rate_hz as f64;
        for w in &self.windows {
            let speed = w.speed_mph.map(|s| format!("{s:.2}")).unwrap_or_default();
            for i in 0..w.ax.len() {
                let t = w.start_ms as f64 + (i as f64 * step_ms).round();
                let _ = writeln!(
                    out,
                    "{},{},{},{},{:.4},{:.4},{:.4},{}",
                    w.person, w.session, w.label, t, w.ax[i], w.ay[i], w.az[i], speed
                );
            }
        }
        std::fs::write(path, out).map_err(|e| Error::io(path, e))
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// True when there are no windows.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// The label of every window.
    pub fn labels(&self) -> Vec<String> {
        self.windows.iter().map(|w| w.label.clone()).collect()
    }

    /// The person of every window.
    pub fn people(&self) -> Vec<String> {
        self.windows.iter().map(|w| w.person.clone()).collect()
    }

    /// The distinct people, sorted.
    pub fn person_names(&self) -> Vec<String> {
        let mut names = self.people();
        names.sort();
        names.dedup();
        names
    }

    /// The distinct labels, the course's four first, then others alphabetically.
    pub fn label_names(&self) -> Vec<String> {
        crate::metrics::ordered_labels(self.windows.iter().map(|w| &w.label), &ACTIVITIES)
    }

    /// The speed of every window, or an error naming the data when any window has none.
    pub fn speeds(&self) -> Result<Vec<f64>> {
        self.windows
            .iter()
            .map(|w| w.speed_mph)
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| {
                Error::param(
                    "activity data",
                    format!(
                        "{} has no speed_mph values: the speed rules need speeds (IMU-only \
                         recordings work with the learned models: `tinyml activity learn`)",
                        self.source
                    ),
                )
            })
    }

    /// The windows whose person is in `people`.
    pub fn only_people(&self, people: &[String]) -> ActivityData {
        self.filtered(|w| people.contains(&w.person))
    }

    /// The windows whose person is not in `people`.
    pub fn without_people(&self, people: &[String]) -> ActivityData {
        self.filtered(|w| !people.contains(&w.person))
    }

    /// Keeps each window of `label` with probability `keep_fraction` (seeded): a way to make an
    /// unbalanced dataset and see what it does to a model.
    pub fn thin_label(&self, label: &str, keep_fraction: f64, seed: u64) -> ActivityData {
        let mut rng = Rng::new(seed);
        self.filtered(|w| w.label != label || rng.uniform() < keep_fraction)
    }

    fn filtered(&self, mut keep: impl FnMut(&Window) -> bool) -> ActivityData {
        ActivityData {
            windows: self.windows.iter().filter(|w| keep(w)).cloned().collect(),
            ..self.clone_meta()
        }
    }

    fn clone_meta(&self) -> ActivityData {
        ActivityData {
            windows: Vec::new(),
            sample_rate_hz: self.sample_rate_hz,
            window_len: self.window_len,
            source: self.source.clone(),
        }
    }

    /// Splits by person: `test_people` people (drawn with `seed`) go to the test set, the rest
    /// to the training set. No person is in both, so the test accuracy says how the model does
    /// on someone it has never seen.
    pub fn split_by_people(
        &self,
        test_people: usize,
        seed: u64,
    ) -> Result<(ActivityData, ActivityData)> {
        let mut people = self.person_names();
        if test_people == 0 || test_people >= people.len() {
            return Err(Error::param(
                "test_people",
                format!(
                    "{test_people}: must be at least 1 and fewer than the {} people in {}",
                    people.len(),
                    self.source
                ),
            ));
        }
        Rng::new(seed).shuffle(&mut people);
        let test: Vec<String> = people[..test_people].to_vec();
        Ok((self.without_people(&test), self.only_people(&test)))
    }

    /// A summary table: windows per label and person.
    pub fn summary(&self) -> Table {
        let labels = self.label_names();
        let mut header = vec!["person"];
        header.extend(labels.iter().map(|l| l.as_str()));
        header.push("total");
        let mut table = Table::new(&header);
        let mut counts: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for w in &self.windows {
            let row = counts
                .entry(&w.person)
                .or_insert_with(|| vec![0; labels.len()]);
            if let Some(i) = labels.iter().position(|l| *l == w.label) {
                row[i] += 1;
            }
        }
        for (person, row) in counts {
            let mut cells = vec![person.to_string()];
            cells.extend(row.iter().map(|c| c.to_string()));
            cells.push(row.iter().sum::<usize>().to_string());
            table.push(cells);
        }
        table
    }

    /// Shows the summary table in Jupyter.
    pub fn evcxr_display(&self) {
        println!(
            "{} windows of {} samples at {} Hz from {}",
            self.len(),
            self.window_len,
            self.sample_rate_hz,
            self.source
        );
        self.summary().evcxr_display();
    }

    /// The three axes of window `index` against time.
    pub fn window_figure(&self, index: usize) -> Result<Figure> {
        let w = self.windows.get(index).ok_or_else(|| {
            Error::param(
                "index",
                format!("{index}: there are {} windows", self.len()),
            )
        })?;
        let t = |i: usize| {
            (w.start_ms as f64 + i as f64 * 1000.0 / self.sample_rate_hz as f64) / 1000.0
        };
        let axis = |v: &[f32]| {
            v.iter()
                .enumerate()
                .map(|(i, &g)| (t(i), g as f64))
                .collect()
        };
        let title = format!("{} ({}), window {index}", w.label, w.person);
        Ok(Figure::lines(&title, "time (s)", "acceleration (g)")
            .line("ax", axis(&w.ax))
            .line("ay", axis(&w.ay))
            .line("az", axis(&w.az)))
    }

    /// The first window of each label, one figure per label, for a side-by-side look.
    pub fn example_figures(&self) -> Vec<Figure> {
        self.label_names()
            .iter()
            .filter_map(|l| self.windows.iter().position(|w| &w.label == l))
            .filter_map(|i| self.window_figure(i).ok())
            .collect()
    }
}

/// One continuous recording read from a file.
struct Session {
    person: String,
    session: u32,
    label: String,
    t_ms: Vec<u32>,
    axes: [Vec<f32>; 3],
    speeds: Vec<Option<f64>>,
    file: PathBuf,
    first_line: usize,
}

fn read_sessions(path: &Path) -> Result<Vec<Session>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    // Spreadsheets save "CSV UTF-8" with an invisible byte-order mark first.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let data_err = |line: usize, column: Option<usize>, message: String| Error::Data {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let expected = "person,session,label,t_ms,ax,ay,az[,speed_mph]";
    let Some((_, header)) = lines.next().filter(|(_, h)| !h.trim().is_empty()) else {
        return Err(data_err(
            1,
            None,
            format!("the file is empty; expected the header {expected}"),
        ));
    };
    let header: Vec<&str> = header.split(',').map(str::trim).collect();
    let mut column = BTreeMap::new();
    for name in REQUIRED_COLUMNS {
        match header.iter().position(|h| h.eq_ignore_ascii_case(name)) {
            Some(i) => column.insert(name, i),
            None => {
                let near = header.iter().position(|h| {
                    !REQUIRED_COLUMNS
                        .iter()
                        .chain([&SPEED_COLUMN])
                        .any(|r| h.eq_ignore_ascii_case(r))
                });
                return Err(data_err(
                    1,
                    near.map(|i| i + 1),
                    format!(
                        "missing column '{name}' in the header (expected {expected}; found {})",
                        header.join(",")
                    ),
                ));
            }
        };
    }
    let speed_col = header
        .iter()
        .position(|h| h.eq_ignore_ascii_case(SPEED_COLUMN));

    let mut sessions: Vec<Session> = Vec::new();
    for (line_no, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < header.len() {
            return Err(data_err(
                line_no,
                None,
                format!(
                    "expected {} comma-separated values, found {}",
                    header.len(),
                    fields.len()
                ),
            ));
        }
        let text = |name: &str| fields[column[name]];
        let number = |name: &str| -> Result<f64> {
            let i = column[name];
            fields[i]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    data_err(
                        line_no,
                        Some(i + 1),
                        format!("'{}' in column {name} is not a number", fields[i]),
                    )
                })
        };
        let whole = |name: &str| -> Result<u32> {
            let i = column[name];
            fields[i].parse::<u32>().map_err(|_| {
                data_err(
                    line_no,
                    Some(i + 1),
                    format!("'{}' in column {name} is not a whole number ≥ 0", fields[i]),
                )
            })
        };
        let person = text("person");
        let label = text("label");
        for (name, value) in [("person", person), ("label", label)] {
            if value.is_empty() {
                return Err(data_err(
                    line_no,
                    Some(column[name] + 1),
                    format!("empty {name}"),
                ));
            }
        }
        let session = whole("session")?;
        let t_ms = whole("t_ms")?;
        let sample = [
            number("ax")? as f32,
            number("ay")? as f32,
            number("az")? as f32,
        ];
        let speed = match speed_col.map(|i| (i, fields[i])) {
            None | Some((_, "")) => None,
            Some((i, s)) => Some(s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).ok_or_else(|| {
                data_err(line_no, Some(i + 1), format!("'{s}' in column speed_mph is not a speed ≥ 0 (leave it empty if unknown)"))
            })?),
        };
        let same = sessions
            .last()
            .is_some_and(|s| s.person == person && s.session == session);
        if same {
            let s = sessions.last_mut().expect("checked above");
            if s.label != label {
                return Err(data_err(line_no, Some(column["label"] + 1), format!(
                    "label changes from {} to {label} inside session {session} of {person}; give each activity its own session number",
                    s.label
                )));
            }
            if t_ms <= *s.t_ms.last().expect("sessions start with a sample") {
                return Err(data_err(line_no, Some(column["t_ms"] + 1), format!(
                    "t_ms {t_ms} does not increase (previous {}); rows of a session must be in time order",
                    s.t_ms.last().expect("non-empty")
                )));
            }
        } else {
            sessions.push(Session {
                person: person.to_string(),
                session,
                label: label.to_string(),
                t_ms: Vec::new(),
                axes: [Vec::new(), Vec::new(), Vec::new()],
                speeds: Vec::new(),
                file: path.to_path_buf(),
                first_line: line_no,
            });
        }
        let s = sessions.last_mut().expect("just pushed or matched");
        s.t_ms.push(t_ms);
        for (axis, v) in s.axes.iter_mut().zip(sample) {
            axis.push(v);
        }
        s.speeds.push(speed);
    }
    if sessions.is_empty() {
        return Err(data_err(
            2,
            None,
            "the file has a header but no samples".into(),
        ));
    }
    Ok(sessions)
}

fn cut_windows(sessions: Vec<Session>, window_seconds: f64, source: &Path) -> Result<ActivityData> {
    // The sample rate: the median step between samples over all sessions.
    let mut steps: Vec<u32> = sessions
        .iter()
        .flat_map(|s| s.t_ms.windows(2).map(|w| w[1] - w[0]))
        .collect();
    if steps.is_empty() {
        return Err(Error::Data {
            path: source.to_path_buf(),
            line: 0,
            column: None,
            message: "every session has a single sample: cannot tell the sample rate".into(),
        });
    }
    steps.sort_unstable();
    let step_ms = steps[steps.len() / 2] as f64;
    let sample_rate_hz = (1000.0 / step_ms) as f32;
    for s in &sessions {
        let span = (*s.t_ms.last().unwrap_or(&0) - s.t_ms[0]) as f64;
        let expected = step_ms * (s.t_ms.len() - 1) as f64;
        if (span - expected).abs() > 0.1 * expected + step_ms {
            return Err(Error::Data {
                path: s.file.clone(),
                line: s.first_line,
                column: None,
                message: format!(
                    "session {} of {} spans {span} ms for {} samples, but the data's rate is {sample_rate_hz:.1} Hz: \
                     samples are missing or the rate changed; record each session at one rate without gaps",
                    s.session, s.person, s.t_ms.len()
                ),
            });
        }
    }
    let window_len = (window_seconds * sample_rate_hz as f64).round() as usize;
    let (lo, hi) = (
        tinyml_core::imu::MIN_WINDOW_LEN,
        tinyml_core::imu::MAX_WINDOW_LEN,
    );
    if !(lo..=hi).contains(&window_len) {
        return Err(Error::param(
            "window_seconds",
            format!("{window_seconds} s at {sample_rate_hz:.1} Hz is {window_len} samples; a window holds {lo} to {hi}"),
        ));
    }
    let mut windows = Vec::new();
    for s in &sessions {
        for start in (0..s.t_ms.len()).step_by(window_len) {
            let end = start + window_len;
            if end > s.t_ms.len() {
                break;
            }
            let speeds: Vec<f64> = s.speeds[start..end].iter().flatten().copied().collect();
            windows.push(Window {
                person: s.person.clone(),
                session: s.session,
                label: s.label.clone(),
                speed_mph: mean_speed(&speeds),
                start_ms: s.t_ms[start],
                ax: s.axes[0][start..end].to_vec(),
                ay: s.axes[1][start..end].to_vec(),
                az: s.axes[2][start..end].to_vec(),
            });
        }
    }
    if windows.is_empty() {
        return Err(Error::Data {
            path: source.to_path_buf(),
            line: 0,
            column: None,
            message: format!(
                "no session is as long as one window ({window_seconds} s = {window_len} samples at {sample_rate_hz:.1} Hz); record longer sessions"
            ),
        });
    }
    Ok(ActivityData {
        windows,
        sample_rate_hz,
        window_len,
        source: source.display().to_string(),
    })
}

/// The mean of the speeds of a window; exactly the recorded value when it is constant.
fn mean_speed(speeds: &[f64]) -> Option<f64> {
    let first = *speeds.first()?;
    if speeds.iter().all(|&s| s == first) {
        return Some(first);
    }
    Some(speeds.iter().sum::<f64>() / speeds.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_and_sized_as_documented() {
        let a = ActivityData::course_default();
        assert_eq!(a, ActivityData::course_default());
        assert_eq!(a.len(), 12 * 4 * 12);
        assert_eq!((a.window_len, a.sample_rate_hz), (100, 50.0));
        assert_eq!(a.person_names().len(), 12);
        assert_ne!(a, ActivityData::generator().seed(1).generate().unwrap());
        assert!(a
            .windows
            .iter()
            .flat_map(|w| w.ax.iter().chain(&w.ay).chain(&w.az))
            .all(|g| g.abs() <= 4.0));
    }

    #[test]
    fn csv_round_trip_is_exact() {
        let data = ActivityData::generator()
            .people(3)
            .seconds_per_activity(4)
            .generate()
            .unwrap();
        let dir = std::env::temp_dir().join(format!("tinyml-roundtrip-{}", std::process::id()));
        let path = dir.join("a.csv");
        data.save_csv(&path).unwrap();
        let back = ActivityData::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(back.windows, data.windows);
        assert_eq!(
            (back.window_len, back.sample_rate_hz),
            (data.window_len, data.sample_rate_hz)
        );
    }

    #[test]
    fn split_by_people_never_shares_a_person() {
        let data = ActivityData::course_default();
        let (train, test) = data.split_by_people(4, 9).unwrap();
        let test_people = test.person_names();
        assert_eq!(test_people.len(), 4);
        assert!(train
            .windows
            .iter()
            .all(|w| !test_people.contains(&w.person)));
        assert_eq!(train.len() + test.len(), data.len());
        assert!(data.split_by_people(0, 1).is_err() && data.split_by_people(12, 1).is_err());
    }

    #[test]
    fn loading_columns_in_another_order_and_without_speed() {
        let dir = std::env::temp_dir().join(format!("tinyml-order-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.csv");
        let mut csv = String::from("t_ms,label,az,ay,ax,session,person,notes\n");
        for i in 0..250 {
            csv += &format!("{},RUNNING,1.0,0.5,-0.25,3,Ana,x\n", i * 10);
        }
        std::fs::write(&path, csv).unwrap();
        let data = ActivityData::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            (data.sample_rate_hz, data.window_len, data.len()),
            (100.0, 200, 1)
        );
        assert_eq!(data.windows[0].ax[0], -0.25);
        assert_eq!(data.windows[0].speed_mph, None);
        assert!(data.speeds().is_err());
    }
}
