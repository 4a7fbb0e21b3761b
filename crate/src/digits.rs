//! Day 1 case study: handwritten digits ("What number? It's a 7!").
//!
//! Data: MNIST in its IDX files (`*-images-idx3-ubyte` + `*-labels-idx1-ubyte`, plain or `.gz`),
//! or CSV (784 pixels 0–255 row by row, then the label). The offline default is the 5,000-digit
//! subset in `data/mnist_5k.csv.gz` (500 of each digit; MNIST, CC BY-SA 3.0), compiled in.
//!
//! Models: [`DigitsModel::mlp`] (784 → 128 → 10) and [`DigitsModel::cnn`] (conv 8 3×3, pool,
//! conv 16 3×3, pool, dense 10), trained by [`crate::nn`].

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::front_end::InputKind;
use crate::metrics::{percent, ConfusionMatrix};
use crate::nn::file::ModelHeader;
use crate::nn::{History, Layer, Network, Padding, Shape, TrainParams};
use crate::plot::{Figure, GrayImage};
use crate::quantize::{
    quantize, Calibration, QuantizationReport, QuantizeOptions, QuantizedModel, Session,
};
use crate::rng::Rng;
use tinyml_core::model::{FrontEnd, Kernels, Model};

/// Image side in pixels.
pub const SIDE: usize = 28;
/// Pixels per image.
pub const PIXELS: usize = SIDE * SIDE;

static DEFAULT_CSV_GZ: &[u8] = include_bytes!("../../data/mnist_5k.csv.gz");

/// A set of 28×28 grayscale digits with labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Digits {
    /// `len() * 784` pixels, 0 (background) to 255 (ink), image after image, row by row.
    pub pixels: Vec<u8>,
    /// The digit of each image, 0–9.
    pub labels: Vec<u8>,
    /// Where they came from.
    pub source: String,
}

/// Which of MNIST's two sets [`Digits::load`] takes from a folder holding both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnistSet {
    /// The 60,000 training images (`train-*`).
    Train,
    /// The 10,000 test images (`t10k-*`), or the training set when the folder has no test set.
    Test,
}

/// Shifted copies of each image, for [`Digits::augmented`]: `Shifts::new()` is one copy moved
/// by up to [`MAX_SHIFT`] pixels in x and y.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shifts {
    copies: usize,
    max_shift: usize,
}

/// How far a shifted copy moves, at most, in pixels (a digit is about 20 pixels tall).
pub const MAX_SHIFT: usize = 2;

/// The most shifted copies of each image that [`Shifts::copies`] allows.
pub const MAX_SHIFTED_COPIES: usize = 20;

impl Default for Shifts {
    fn default() -> Self {
        Shifts::new()
    }
}

impl Shifts {
    /// One copy, shifted by up to [`MAX_SHIFT`] pixels.
    pub fn new() -> Shifts {
        Shifts {
            copies: 1,
            max_shift: MAX_SHIFT,
        }
    }

    /// Shifted copies of every image (0 to [`MAX_SHIFTED_COPIES`]).
    pub fn copies(mut self, copies: usize) -> Self {
        self.copies = copies;
        self
    }

    /// The largest shift, in pixels (0 to 13).
    pub fn max_shift(mut self, pixels: usize) -> Self {
        self.max_shift = pixels;
        self
    }

    /// Checks the settings without making any copy.
    pub fn check(&self) -> Result<()> {
        if self.copies > MAX_SHIFTED_COPIES {
            return Err(Error::param(
                "augment",
                format!(
                    "{} shifted copies of every image (use 0 to {MAX_SHIFTED_COPIES})",
                    self.copies
                ),
            ));
        }
        if self.max_shift >= SIDE / 2 {
            return Err(Error::param(
                "max_shift",
                format!(
                    "{} pixels would move a digit out of its {SIDE}×{SIDE} image (use 0 to {})",
                    self.max_shift,
                    SIDE / 2 - 1
                ),
            ));
        }
        Ok(())
    }
}

impl Digits {
    /// The 5,000-digit default (500 per digit), compiled into the kit.
    pub fn course_default() -> Digits {
        let mut text = String::new();
        flate2::read::GzDecoder::new(DEFAULT_CSV_GZ)
            .read_to_string(&mut text)
            .expect("the embedded MNIST subset is valid gzip");
        let mut d = parse_csv(&text, Path::new("data/mnist_5k.csv.gz"))
            .expect("the embedded MNIST subset is valid CSV");
        d.source = "MNIST 5k subset (embedded)".into();
        d
    }

    /// Loads digits from a CSV (`.csv` or `.csv.gz`) file, a pair of IDX files given by the
    /// images file, or a folder holding MNIST's IDX files (`set` says which: the test set
    /// `t10k-*` when it is there, else the training set `train-*`).
    pub fn load(path: impl AsRef<Path>, set: MnistSet) -> Result<Digits> {
        let test = set == MnistSet::Test;
        let path = path.as_ref();
        if path.is_dir() {
            // MNIST's names (`train-images-idx3-ubyte`), and the `train-images.idx3-ubyte`
            // spelling of some copies, plain or gzip.
            let pick = |prefix: &str| -> Option<(PathBuf, PathBuf)> {
                let find = |kind: &str, idx: &str| {
                    ["-", "."]
                        .iter()
                        .flat_map(|sep| {
                            ["", ".gz"].map(|ext| {
                                path.join(format!("{prefix}-{kind}{sep}{idx}-ubyte{ext}"))
                            })
                        })
                        .find(|p| p.exists())
                };
                Some((find("images", "idx3")?, find("labels", "idx1")?))
            };
            let found = if test {
                pick("t10k").or_else(|| pick("train"))
            } else {
                pick("train")
            };
            let (images, labels) = found.ok_or_else(|| Error::Data {
                path: path.to_path_buf(),
                line: 0,
                column: None,
                message: if !test && pick("t10k").is_some() {
                    "only the test set (t10k-*) is here: train on train-images-idx3-ubyte + train-labels-idx1-ubyte, and keep the test set for `tinyml digits eval`".into()
                } else {
                    "no MNIST files here: expected train-images-idx3-ubyte and train-labels-idx1-ubyte (or t10k-*, optionally .gz); `tinyml data fetch mnist` downloads them".into()
                },
            })?;
            return Digits::load_idx(&images, &labels);
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        // ASCII-only case folding: the offsets found are the name's own (lower-casing the whole
        // name can change its length, as 'K' KELVIN SIGN does).
        if let Some(at) =
            find_ascii_ci(&name, "images").filter(|_| find_ascii_ci(&name, "idx3").is_some())
        {
            // The labels file beside it: "images" → "labels", "idx3" → "idx1".
            let mut label_name = format!("{}labels{}", &name[..at], &name[at + 6..]);
            if let Some(k) = find_ascii_ci(&label_name, "idx3") {
                label_name.replace_range(k..k + 4, "idx1");
            }
            let labels = path.with_file_name(&label_name);
            if !labels.exists() {
                return Err(Error::Data {
                    path: labels,
                    line: 0,
                    column: None,
                    message: format!(
                        "the labels file for {name} is missing: put {label_name} beside it"
                    ),
                });
            }
            return Digits::load_idx(path, &labels);
        }
        let bytes = read_maybe_gz(path)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::Data {
            path: path.to_path_buf(),
            line: 0,
            column: None,
            message: "not a text CSV file (expected 784 pixel values and a label per line)".into(),
        })?;
        parse_csv(&text, path)
    }

    /// Loads an IDX images file and its IDX labels file (plain or gzip).
    pub fn load_idx(images: &Path, labels: &Path) -> Result<Digits> {
        let img = read_maybe_gz(images)?;
        let lab = read_maybe_gz(labels)?;
        let bad = |path: &Path, message: String| Error::Data {
            path: path.to_path_buf(),
            line: 0,
            column: None,
            message,
        };
        let header = |bytes: &[u8], path: &Path, magic: u32, dims: usize| -> Result<Vec<usize>> {
            if bytes.len() < 4 + 4 * dims {
                return Err(bad(
                    path,
                    format!(
                        "{} bytes: too short for an IDX header (truncated download?)",
                        bytes.len()
                    ),
                ));
            }
            let word =
                |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
            if word(0) != magic {
                return Err(bad(
                    path,
                    format!(
                        "magic number {:#010x}, expected {magic:#010x}: not an MNIST {} file",
                        word(0),
                        if dims == 3 { "images" } else { "labels" }
                    ),
                ));
            }
            Ok((0..dims).map(|d| word(4 + 4 * d) as usize).collect())
        };
        let d = header(&img, images, 0x0000_0803, 3)?;
        let (n, rows, cols) = (d[0], d[1], d[2]);
        if (rows, cols) != (SIDE, SIDE) {
            return Err(bad(
                images,
                format!("images are {rows}×{cols}; the digits lessons use MNIST's 28×28"),
            ));
        }
        let want = 16 + n * PIXELS;
        if img.len() != want {
            return Err(bad(images, format!("{} bytes, but the header promises {n} images ({want} bytes): the file is truncated or corrupt; download it again", img.len())));
        }
        let m = header(&lab, labels, 0x0000_0801, 1)?[0];
        if lab.len() != 8 + m {
            return Err(bad(
                labels,
                format!(
                    "{} bytes, but the header promises {m} labels ({} bytes): truncated or corrupt",
                    lab.len(),
                    8 + m
                ),
            ));
        }
        if m != n {
            return Err(bad(labels, format!("{m} labels for {n} images in {}: use the labels file that belongs to the images", images.display())));
        }
        let labels_v = lab[8..].to_vec();
        if let Some(i) = labels_v.iter().position(|&l| l > 9) {
            return Err(bad(
                labels,
                format!("label {} at index {i} is not a digit 0–9", labels_v[i]),
            ));
        }
        Ok(Digits {
            pixels: img[16..].to_vec(),
            labels: labels_v,
            source: images.display().to_string(),
        })
    }

    /// Writes IDX files `DIR/PREFIX-images-idx3-ubyte` and `DIR/PREFIX-labels-idx1-ubyte`.
    pub fn save_idx(&self, dir: &Path, prefix: &str) -> Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let n = self.len() as u32;
        let mut img = Vec::with_capacity(16 + self.pixels.len());
        for w in [0x0803u32, n, SIDE as u32, SIDE as u32] {
            img.extend(w.to_be_bytes());
        }
        img.extend(&self.pixels);
        let mut lab = Vec::with_capacity(8 + self.labels.len());
        for w in [0x0801u32, n] {
            lab.extend(w.to_be_bytes());
        }
        lab.extend(&self.labels);
        let (ip, lp) = (
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
        );
        std::fs::write(&ip, img).map_err(|e| Error::io(&ip, e))?;
        std::fs::write(&lp, lab).map_err(|e| Error::io(&lp, e))?;
        Ok((ip, lp))
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i` (784 values, 0–255).
    pub fn image(&self, i: usize) -> Result<Vec<u8>> {
        if i >= self.len() {
            return Err(Error::param(
                "index",
                format!(
                    "{i}: there are {} images (0 to {})",
                    self.len(),
                    self.len().saturating_sub(1)
                ),
            ));
        }
        Ok(self.pixels_of(i).to_vec())
    }

    fn pixels_of(&self, i: usize) -> &[u8] {
        &self.pixels[i * PIXELS..(i + 1) * PIXELS]
    }

    /// The images with these indices.
    pub fn subset(&self, indices: &[usize]) -> Digits {
        let mut d = Digits {
            pixels: Vec::with_capacity(indices.len() * PIXELS),
            labels: Vec::with_capacity(indices.len()),
            source: self.source.clone(),
        };
        for &i in indices {
            d.pixels
                .extend_from_slice(&self.pixels[i * PIXELS..(i + 1) * PIXELS]);
            d.labels.push(self.labels[i]);
        }
        d
    }

    /// A seeded split: `holdout` images (the same share of every digit) go to the second set.
    pub fn split(&self, holdout: usize, seed: u64) -> Result<(Digits, Digits)> {
        if holdout == 0 || holdout >= self.len() {
            return Err(Error::param(
                "holdout",
                format!(
                    "{holdout}: use 1 to {} images",
                    self.len().saturating_sub(1)
                ),
            ));
        }
        let mut by_digit: Vec<Vec<usize>> = vec![Vec::new(); 10];
        for (i, &l) in self.labels.iter().enumerate() {
            by_digit[l as usize].push(i);
        }
        // Each digit's share of `holdout`, rounded down; the images left over go to the digits
        // with the largest remainders, so exactly `holdout` images are held out.
        let mut take: Vec<usize> = by_digit
            .iter()
            .map(|d| d.len() * holdout / self.len())
            .collect();
        let mut order: Vec<usize> = (0..10).collect();
        order.sort_by_key(|&d| {
            (
                std::cmp::Reverse(by_digit[d].len() * holdout % self.len()),
                d,
            )
        });
        let mut missing = holdout - take.iter().sum::<usize>();
        for d in order.into_iter().cycle().take(100) {
            if missing == 0 {
                break;
            }
            if take[d] < by_digit[d].len() {
                take[d] += 1;
                missing -= 1;
            }
        }
        let mut rng = Rng::new(seed);
        let (mut keep, mut held) = (Vec::new(), Vec::new());
        for (d, idx) in by_digit.iter_mut().enumerate() {
            rng.shuffle(idx);
            held.extend_from_slice(&idx[..take[d]]);
            keep.extend_from_slice(&idx[take[d]..]);
        }
        keep.sort_unstable();
        held.sort_unstable();
        Ok((self.subset(&keep), self.subset(&held)))
    }

    /// The first `n` images of a seeded shuffle (for "accuracy vs training set size").
    pub fn sample(&self, n: usize, seed: u64) -> Digits {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        Rng::new(seed).shuffle(&mut idx);
        idx.truncate(n.min(self.len()));
        self.subset(&idx)
    }

    /// The images plus shifted copies of each ([`Shifts`]: how many, up to how many pixels in x
    /// and y; zeros shifted in), drawn with `seed`: more varied handwriting from the same digits.
    pub fn augmented(&self, shifts: &Shifts, seed: u64) -> Result<Digits> {
        shifts.check()?;
        let Shifts { copies, max_shift } = *shifts;
        let mut rng = Rng::new(seed);
        let mut out = self.clone();
        let span = 2 * max_shift as i64 + 1;
        for _ in 0..copies {
            for i in 0..self.len() {
                let (dx, dy) = (
                    rng.index(span as usize) as i64 - max_shift as i64,
                    rng.index(span as usize) as i64 - max_shift as i64,
                );
                let src = &self.pixels[i * PIXELS..(i + 1) * PIXELS];
                for y in 0..SIDE as i64 {
                    for x in 0..SIDE as i64 {
                        let (sx, sy) = (x - dx, y - dy);
                        let inside =
                            (0..SIDE as i64).contains(&sx) && (0..SIDE as i64).contains(&sy);
                        out.pixels.push(if inside {
                            src[(sy * SIDE as i64 + sx) as usize]
                        } else {
                            0
                        });
                    }
                }
                out.labels.push(self.labels[i]);
            }
        }
        Ok(out)
    }

    /// Pixels scaled to `[0, 1]`, as the networks take them.
    pub fn inputs(&self) -> Vec<f32> {
        self.pixels.iter().map(|&p| p as f32 / 255.0).collect()
    }

    /// Labels as class indices.
    pub fn targets(&self) -> Vec<usize> {
        self.labels.iter().map(|&l| l as usize).collect()
    }

    /// `n` images in a grid, each captioned with its label: the first of each digit 0–9, then
    /// the second of each, and so on.
    pub fn grid_figure(&self, n: usize) -> Figure {
        let mut by_digit: Vec<Vec<usize>> = vec![Vec::new(); 10];
        for (i, &l) in self.labels.iter().enumerate() {
            by_digit[l as usize].push(i);
        }
        let deepest = by_digit.iter().map(Vec::len).max().unwrap_or(0);
        let order =
            (0..deepest).flat_map(|k| by_digit.iter().filter_map(move |d| d.get(k).copied()));
        let images = order
            .take(n)
            .map(|i| GrayImage {
                width: SIDE,
                height: SIDE,
                pixels: self.pixels_of(i).to_vec(),
                caption: self.labels[i].to_string(),
            })
            .collect();
        Figure::images("Handwritten digits and their labels", images, 10)
    }

    /// Flatten shown as an operation: image `i` as its 28×28 grid and as one row of 784 numbers.
    pub fn flatten_figure(&self, i: usize) -> Result<Figure> {
        let image = self.image(i)?;
        let images = vec![
            GrayImage {
                width: SIDE,
                height: SIDE,
                pixels: image.clone(),
                caption: "28 × 28 image".into(),
            },
            GrayImage {
                width: PIXELS,
                height: 1,
                pixels: image,
                caption: "flattened: 784 numbers in a row".into(),
            },
        ];
        Ok(Figure::images(
            &format!(
                "Flatten: the network sees a {} as 784 numbers",
                self.labels[i]
            ),
            images,
            1,
        ))
    }
}

/// Where `needle` (ASCII) first occurs in `hay`, ignoring ASCII case: a byte offset of `hay`
/// itself, at a character boundary (an ASCII byte never lies inside a UTF-8 sequence).
fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::Data {
                path: path.to_path_buf(),
                line: 0,
                column: None,
                message: format!("gzip: {e} (truncated download? fetch it again)"),
            })?;
        return Ok(out);
    }
    Ok(bytes)
}

fn parse_csv(text: &str, path: &Path) -> Result<Digits> {
    let err = |line: usize, column: Option<usize>, message: String| Error::Data {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut d = Digits {
        pixels: Vec::new(),
        labels: Vec::new(),
        source: path.display().to_string(),
    };
    // Without a header: 784 pixels, then the label. A header naming a `label` column (as some
    // copies have, often first) says where the label is.
    let mut label_col = PIXELS;
    let mut lines = text.lines().enumerate().peekable();
    if let Some((_, first)) = lines.peek() {
        let fields: Vec<&str> = first.split(',').map(str::trim).collect();
        let words = fields.iter().filter(|f| f.parse::<u32>().is_err()).count();
        let named_label = fields.iter().any(|f| f.eq_ignore_ascii_case("label"));
        // A header is mostly words (a data row with a typo is still mostly numbers).
        if named_label || words > fields.len() / 2 {
            label_col = fields.iter().position(|f| f.eq_ignore_ascii_case("label")).ok_or_else(|| {
                err(1, None, "the header has no `label` column (expected 784 pixel values and a label per line, or a header naming the label column)".into())
            })?;
            lines.next();
        }
    }
    for (i, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != PIXELS + 1 {
            return Err(err(
                i + 1,
                None,
                format!(
                    "expected 785 values (784 pixels and the label), found {}",
                    fields.len()
                ),
            ));
        }
        for (c, f) in fields.iter().enumerate() {
            let v: u8 = f.trim().parse().map_err(|_| {
                err(
                    i + 1,
                    Some(c + 1),
                    format!("'{}' is not a whole number 0–255", f.trim()),
                )
            })?;
            if c != label_col {
                d.pixels.push(v);
            } else if v > 9 {
                return Err(err(i + 1, Some(c + 1), format!("label {v} is not a digit 0–9 (is the label in another column? without a header it must be the last)")));
            } else {
                d.labels.push(v);
            }
        }
    }
    if d.is_empty() {
        return Err(err(1, None, "no digits in the file".into()));
    }
    if d.len() >= 20 && d.labels.iter().all(|&l| l == d.labels[0]) {
        return Err(err(1, None, format!(
            "all {} labels are {}: is the label in another column? Without a header it must be the last of the 785 values; add a header naming the `label` column otherwise",
            d.len(),
            d.labels[0]
        )));
    }
    Ok(d)
}

/// Accuracy on `test` of k nearest neighbours over `train` (linfa-nn, Euclidean distance on the
/// raw pixels): the "no network at all" baseline.
pub fn knn_accuracy(train: &Digits, test: &Digits, k: usize) -> Result<f64> {
    use linfa_nn::{distance::L2Dist, CommonNearestNeighbour, NearestNeighbour};
    if k == 0 || k > train.len() {
        return Err(Error::param("k", format!("{k}: use 1 to {}", train.len())));
    }
    let to_array = |d: &Digits| {
        ndarray::Array2::from_shape_vec(
            (d.len(), PIXELS),
            d.pixels.iter().map(|&p| p as f64 / 255.0).collect(),
        )
        .expect("784 pixels per image")
    };
    let points = to_array(train);
    let index = CommonNearestNeighbour::LinearSearch
        .from_batch(&points, L2Dist)
        .map_err(|e| Error::Learner {
            learner: "k-NN index",
            message: e.to_string(),
        })?;
    let queries = to_array(test);
    let mut correct = 0;
    for (q, &label) in queries.rows().into_iter().zip(&test.labels) {
        let near = index.k_nearest(q, k).map_err(|e| Error::Learner {
            learner: "k-NN",
            message: e.to_string(),
        })?;
        let mut votes = [0usize; 10];
        for (_, i) in &near {
            votes[train.labels[*i] as usize] += 1;
        }
        let best = *votes.iter().max().unwrap_or(&0);
        // Ties go to the nearest neighbour's label among the tied.
        let winner = near
            .iter()
            .map(|(_, i)| train.labels[*i])
            .find(|&l| votes[l as usize] == best)
            .unwrap_or(0);
        correct += usize::from(winner == label);
    }
    Ok(correct as f64 / test.len().max(1) as f64)
}

/// Which network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Architecture {
    /// 784 → 128 (ReLU) → 10.
    Mlp,
    /// conv 8 3×3 (ReLU), max pool 2, conv 16 3×3 (ReLU), max pool 2, dense 10.
    Cnn,
}

impl Architecture {
    /// Parses `mlp` or `cnn`.
    pub fn parse(s: &str) -> Result<Architecture> {
        match s.to_ascii_lowercase().as_str() {
            "mlp" => Ok(Architecture::Mlp),
            "cnn" => Ok(Architecture::Cnn),
            _ => Err(Error::param("model", format!("'{s}': use mlp or cnn"))),
        }
    }

    /// The `kind` written in model files.
    pub fn kind(self) -> &'static str {
        match self {
            Architecture::Mlp => "digits-mlp",
            Architecture::Cnn => "digits-cnn",
        }
    }

    /// The layers.
    pub fn layers(self) -> (Shape, Vec<Layer>) {
        match self {
            Architecture::Mlp => (
                Shape::Flat(PIXELS),
                vec![
                    Layer::Dense { units: 128 },
                    Layer::Relu,
                    Layer::Dense { units: 10 },
                ],
            ),
            Architecture::Cnn => (
                Shape::Image {
                    height: SIDE,
                    width: SIDE,
                    channels: 1,
                },
                vec![
                    Layer::Conv2d {
                        filters: 8,
                        kernel: 3,
                        stride: 1,
                        padding: Padding::Valid,
                    },
                    Layer::Relu,
                    Layer::MaxPool { size: 2 },
                    Layer::Conv2d {
                        filters: 16,
                        kernel: 3,
                        stride: 1,
                        padding: Padding::Valid,
                    },
                    Layer::Relu,
                    Layer::MaxPool { size: 2 },
                    Layer::Flatten,
                    Layer::Dense { units: 10 },
                ],
            ),
        }
    }
}

/// Training settings for a digits model (`params()`, then settings, then [`DigitsTrainer::fit`],
/// like [`crate::kws::KwsTrainer`] and [`crate::activity::ActivityTrainer`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DigitsTrainer {
    architecture: Architecture,
    train: TrainParams,
}

impl DigitsTrainer {
    /// Defaults: the [`Architecture::Mlp`], and [`TrainParams::new`]'s (8 epochs, batches of
    /// 32, Adam 1e-3, seed 0, no early stopping, a progress line per epoch).
    pub fn params() -> DigitsTrainer {
        DigitsTrainer {
            architecture: Architecture::Mlp,
            train: TrainParams::new(),
        }
    }

    /// The network.
    pub fn architecture(mut self, architecture: Architecture) -> Self {
        self.architecture = architecture;
        self
    }

    crate::nn::train_settings!();

    /// Checks the settings without training.
    pub fn check(&self) -> Result<()> {
        self.train.check()
    }

    /// A model trained on `train` (its weights first drawn with the seed), with accuracy on
    /// `validation` after each epoch when given (early stopping needs it).
    pub fn fit(&self, train: &Digits, validation: Option<&Digits>) -> Result<DigitsModel> {
        self.train.check_for(validation.is_some())?;
        let mut model = DigitsModel::new(self.architecture, self.train.seed_value());
        let validation = validation.map(|v| (v.inputs(), v.targets()));
        let history = self.train.fit(
            &mut model.network,
            &train.inputs(),
            &train.targets(),
            validation
                .as_ref()
                .map(|(x, y)| (x.as_slice(), y.as_slice())),
        )?;
        model.history = Some(history);
        Ok(model)
    }
}

/// A digit classifier: an [`Architecture`] and its network.
#[derive(Debug, Clone)]
pub struct DigitsModel {
    /// Which network.
    pub architecture: Architecture,
    /// The network and its weights.
    pub network: Network,
    /// How training went, epoch by epoch (`None` for a model loaded from a file or not trained).
    pub history: Option<History>,
}

/// One image's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The most likely digit.
    pub label: u8,
    /// Probability of each digit 0–9 (softmax of the outputs).
    pub probabilities: Vec<f32>,
}

impl Prediction {
    /// The probabilities as a bar chart.
    pub fn figure(&self) -> Figure {
        let bars = self
            .probabilities
            .iter()
            .enumerate()
            .map(|(d, &p)| (d.to_string(), p as f64))
            .collect();
        Figure::bars(
            &format!(
                "It's a {}! ({:.0}% sure)",
                self.label,
                100.0 * self.probabilities[self.label as usize]
            ),
            "digit",
            "probability",
            bars,
        )
    }

    /// Shows the sentence and the chart in Jupyter.
    pub fn evcxr_display(&self) {
        self.figure().evcxr_display();
    }
}

impl DigitsModel {
    /// The multi-layer perceptron, weights drawn with `seed`.
    pub fn mlp(seed: u64) -> DigitsModel {
        DigitsModel::new(Architecture::Mlp, seed)
    }

    /// The convolutional network, weights drawn with `seed`.
    pub fn cnn(seed: u64) -> DigitsModel {
        DigitsModel::new(Architecture::Cnn, seed)
    }

    /// A fresh, untrained model of `architecture` (its weights drawn with `seed`): to look at
    /// its layers and count its parameters. [`DigitsTrainer`] trains one.
    pub fn new(architecture: Architecture, seed: u64) -> DigitsModel {
        let (input, layers) = architecture.layers();
        let network = Network::new(input, layers, seed).expect("the digit architectures are valid");
        DigitsModel {
            architecture,
            network,
            history: None,
        }
    }

    /// Loss and accuracy epoch by epoch, as it trained.
    pub fn training_figure(&self, title: &str) -> Figure {
        History::figure_of(self.history.as_ref(), title)
    }

    /// The answer for one 28×28 image (784 pixels, 0–255).
    pub fn predict(&self, image: &[u8]) -> Result<Prediction> {
        if image.len() != PIXELS {
            return Err(Error::param(
                "image",
                format!("{} pixels; a digit image has 28 × 28 = 784", image.len()),
            ));
        }
        let x: Vec<f32> = image.iter().map(|&p| p as f32 / 255.0).collect();
        Ok(softmax_prediction(&self.network.logits(&x)?))
    }

    /// Every image's answer.
    pub fn predict_all(&self, digits: &Digits) -> Result<Vec<Prediction>> {
        Ok(self
            .network
            .logits(&digits.inputs())?
            .chunks(10)
            .map(softmax_prediction)
            .collect())
    }

    /// Accuracy and confusion matrix on `digits`.
    pub fn evaluate(&self, digits: &Digits) -> Result<DigitsEvaluation> {
        Ok(DigitsEvaluation::new(self.predict_all(digits)?, digits))
    }

    /// Number of learned values.
    pub fn parameter_count(&self) -> usize {
        self.network.parameter_count()
    }

    /// Size of the float weights in bytes (4 per value).
    pub fn size_bytes(&self) -> usize {
        4 * self.parameter_count()
    }

    /// The model in the float model file format ([`crate::nn::file`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let labels: Vec<String> = (0..10).map(|d| d.to_string()).collect();
        self.network
            .to_file_bytes(self.architecture.kind(), &labels)
    }

    /// Writes the model file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::write(path, self.to_bytes()).map_err(|e| Error::io(path, e))
    }

    /// Reads a model file written by [`DigitsModel::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<DigitsModel> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let what = path.display().to_string();
        let (network, header) = Network::from_file_bytes(&bytes, &what)?;
        DigitsModel::from_parts(network, header, &what)
    }

    /// The model of a parsed model file (`what` names the file in errors).
    pub fn from_parts(network: Network, header: ModelHeader, what: &str) -> Result<DigitsModel> {
        let architecture = match header.kind.as_str() {
            "digits-mlp" => Architecture::Mlp,
            "digits-cnn" => Architecture::Cnn,
            other => {
                return Err(Error::WrongModel(format!(
                    "{what}: a '{other}' model, not a digits model"
                )))
            }
        };
        if network.input().len() != PIXELS || network.outputs() != 10 {
            return Err(Error::WrongModel(format!(
                "{what}: takes {} inputs and gives {} outputs; a digits model takes 784 and gives 10",
                network.input().len(),
                network.outputs()
            )));
        }
        Ok(DigitsModel {
            architecture,
            network,
            history: None,
        })
    }
}

fn softmax_prediction(logits: &[f32]) -> Prediction {
    let probabilities = crate::nn::softmax(logits);
    let label = crate::nn::argmax(&probabilities) as u8;
    Prediction {
        label,
        probabilities,
    }
}

/// How a digits model did.
#[derive(Debug, Clone)]
pub struct DigitsEvaluation {
    /// Counts of (true digit, predicted digit).
    pub confusion: ConfusionMatrix,
    /// Every image's answer, in order.
    pub predictions: Vec<Prediction>,
    /// The data's source.
    pub data: String,
    /// The images that were evaluated.
    pub digits: Digits,
}

impl DigitsEvaluation {
    /// Fraction right.
    pub fn accuracy(&self) -> f64 {
        self.confusion.accuracy()
    }

    /// `{"accuracy":…, "n":…, "confusion":[[…]]}` (rows: true digit 0–9, columns: predicted).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "accuracy": self.accuracy(), "n": self.confusion.total(), "confusion": self.confusion.counts, "data": self.data })
    }

    /// The `n` wrong answers the model was most sure of, as a captioned grid.
    pub fn confidently_wrong(&self, n: usize) -> Figure {
        let digits = &self.digits;
        let mut wrong: Vec<(usize, f32)> = self
            .predictions
            .iter()
            .enumerate()
            .filter(|(i, p)| p.label != digits.labels[*i])
            .map(|(i, p)| (i, p.probabilities[p.label as usize]))
            .collect();
        wrong.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let images = wrong
            .iter()
            .take(n)
            .map(|&(i, p)| GrayImage {
                width: SIDE,
                height: SIDE,
                pixels: digits.pixels_of(i).to_vec(),
                caption: format!(
                    "{} → {} ({:.0}%)",
                    digits.labels[i],
                    self.predictions[i].label,
                    100.0 * p
                ),
            })
            .collect();
        Figure::images(
            "The most confidently wrong answers (true → predicted)",
            images,
            5,
        )
    }

    /// Shows accuracy and the confusion matrix in Jupyter.
    pub fn evcxr_display(&self) {
        println!(
            "accuracy {} on {} images of {}",
            percent(self.accuracy()),
            self.confusion.total(),
            self.data
        );
        self.confusion
            .figure(&format!("Digits: accuracy {}", percent(self.accuracy())))
            .evcxr_display();
    }
}

impl DigitsModel {
    /// The int8 model for the board, calibrated on `calibration` (a few hundred training
    /// images are enough; pixels map exactly onto the int8 input, `q = pixel − 128`).
    pub fn quantize(&self, calibration: &Digits) -> Result<QuantizedModel> {
        self.quantize_with(calibration, Calibration::MinMax)
    }

    /// [`DigitsModel::quantize`] with a chosen [`Calibration`].
    pub fn quantize_with(
        &self,
        calibration: &Digits,
        method: Calibration,
    ) -> Result<QuantizedModel> {
        let labels: Vec<String> = (0..10).map(|d| d.to_string()).collect();
        quantize(
            &self.network,
            &labels,
            &InputKind::Image,
            &calibration.inputs(),
            &QuantizeOptions {
                calibration: method,
                kind: self.architecture.kind().into(),
            },
        )
    }

    /// Float and int8 accuracy and sizes on `test`, side by side.
    pub fn quantization_report(
        &self,
        int8: &QuantizedModel,
        test: &Digits,
    ) -> Result<QuantizationReport> {
        let float = self.evaluate(test)?;
        let quantized = int8.evaluate_digits(test)?;
        Ok(QuantizationReport {
            model: self.architecture.kind().into(),
            examples: test.len(),
            float_accuracy: float.accuracy(),
            int8_accuracy: quantized.accuracy(),
            float_bytes: self.size_bytes(),
            int8_bytes: int8.size_bytes(),
            arena_bytes: int8.arena_bytes(),
            disagreements: float
                .predictions
                .iter()
                .zip(&quantized.predictions)
                .filter(|(a, b)| a.label != b.label)
                .count(),
        })
    }
}

impl QuantizedModel {
    fn check_digits(&self, model: &Model) -> Result<()> {
        if model.front_end() != Ok(FrontEnd::Image)
            || model.input().len() != PIXELS
            || model.output().len() != 10
        {
            return Err(Error::WrongModel(format!(
                "this int8 model ({}) is not a digits model: it takes {} inputs and gives {} \
                 outputs",
                self.kind,
                model.input().len(),
                model.output().len()
            )));
        }
        Ok(())
    }

    /// The int8 answer for one 28×28 image, computed by the board's interpreter.
    pub fn predict_digit(&self, image: &[u8]) -> Result<Prediction> {
        let model = self.model();
        self.check_digits(&model)?;
        if image.len() != PIXELS {
            return Err(Error::param(
                "image",
                format!("{} pixels; a digit image has 28 × 28 = 784", image.len()),
            ));
        }
        let mut x = vec![0i8; PIXELS];
        model
            .quantize_image(image, &mut x)
            .map_err(|e| Error::WrongModel(format!("{}: {e}", self.kind)))?;
        let out = self.simulate(&x)?;
        Ok(int8_prediction(&out, &model))
    }

    /// Accuracy and confusion matrix of the int8 model on `digits`.
    pub fn evaluate_digits(&self, digits: &Digits) -> Result<DigitsEvaluation> {
        let model = self.model();
        self.check_digits(&model)?;
        let mut session = Session::new(&model);
        let mut x = vec![0i8; PIXELS];
        let mut predictions = Vec::with_capacity(digits.len());
        for i in 0..digits.len() {
            model
                .quantize_image(digits.pixels_of(i), &mut x)
                .map_err(|e| Error::WrongModel(format!("{}: {e}", self.kind)))?;
            let out = session.run_ref(&model, &x, Kernels::Optimized)?;
            predictions.push(int8_prediction(out, &model));
        }
        Ok(DigitsEvaluation::new(predictions, digits))
    }
}

/// The label is the first largest int8 output (what the board reports); probabilities are
/// the outputs dequantized.
fn int8_prediction(out: &[i8], model: &Model) -> Prediction {
    let t = model.output();
    let label = tinyml_core::int8::argmax(out) as u8;
    Prediction {
        label,
        probabilities: out.iter().map(|&q| t.dequantize(q)).collect(),
    }
}

impl DigitsEvaluation {
    /// The evaluation of `predictions`, one per image of `digits`.
    fn new(predictions: Vec<Prediction>, digits: &Digits) -> DigitsEvaluation {
        let truth: Vec<String> = digits.labels.iter().map(|l| l.to_string()).collect();
        let predicted: Vec<String> = predictions.iter().map(|p| p.label.to_string()).collect();
        let order: Vec<String> = (0..10).map(|d| d.to_string()).collect();
        let order: Vec<&str> = order.iter().map(String::as_str).collect();
        DigitsEvaluation {
            confusion: ConfusionMatrix::new(&truth, &predicted, &order),
            predictions,
            data: digits.source.clone(),
            digits: digits.clone(),
        }
    }
}
