//! Learning the rules: features of each window, then a decision tree, a logistic regression or
//! k nearest neighbours (linfa) learns which features mean which activity.

use std::fmt::Write as _;

use linfa::prelude::*;
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use linfa_nn::{distance::L2Dist, CommonNearestNeighbour, NearestNeighbour};
use linfa_trees::{DecisionTree, TreeNode};
use ndarray::{Array1, Array2};
use rustfft::{num_complex::Complex, FftPlanner};
use tinyml_core::imu::{window_features, FEATURE_COUNT, FEATURE_NAMES};

use super::data::{ActivityData, ACTIVITIES};
use crate::audit::GroupAccuracy;
use crate::error::{Error, Result};
use crate::metrics::{ordered_labels, Evaluation};
use crate::plot::{Figure, Table};

/// The features of every window: one row per window, one column per feature
/// ([`tinyml_core::imu::FEATURE_NAMES`]), computed by the same code the board runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Column names, with units.
    pub names: Vec<String>,
    /// One row of [`FEATURE_COUNT`] values per window.
    pub rows: Vec<Vec<f64>>,
    /// The label of each row.
    pub labels: Vec<String>,
}

impl Features {
    /// Computes the features of every window of `data`.
    pub fn of(data: &ActivityData) -> Result<Features> {
        let rows = data
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                window_features(&w.ax, &w.ay, &w.az, data.sample_rate_hz)
                    .map(|f| f.iter().map(|&v| v as f64).collect())
                    .map_err(|e| Error::Learner {
                        learner: "activity features",
                        message: format!(
                            "window {i} of {} ({}, {}): {e:?}",
                            data.source, w.person, w.label
                        ),
                    })
            })
            .collect::<Result<Vec<Vec<f64>>>>()?;
        Ok(Features {
            names: FEATURE_NAMES.iter().map(|n| n.to_string()).collect(),
            rows,
            labels: data.labels(),
        })
    }

    /// The column of feature `name`.
    pub fn column(&self, name: &str) -> Result<Vec<f64>> {
        let i = self.names.iter().position(|n| n == name).ok_or_else(|| {
            Error::param(
                "feature",
                format!(
                    "'{name}' is not a feature; the features are {}",
                    self.names.join(", ")
                ),
            )
        })?;
        Ok(self.rows.iter().map(|r| r[i]).collect())
    }

    /// Each label's windows as dots in the plane of two features.
    pub fn scatter(&self, x_feature: &str, y_feature: &str) -> Result<Figure> {
        let (xs, ys) = (self.column(x_feature)?, self.column(y_feature)?);
        let mut fig = Figure::lines(
            &format!("{y_feature} against {x_feature}"),
            x_feature,
            y_feature,
        );
        for label in ordered_labels(&self.labels, &ACTIVITIES) {
            let points = (0..xs.len())
                .filter(|&i| self.labels[i] == label)
                .map(|i| (xs[i], ys[i]))
                .collect();
            fig = fig.dots(&label, points);
        }
        Ok(fig)
    }

    /// The first `n` rows as a table.
    pub fn head(&self, n: usize) -> Table {
        let mut header: Vec<&str> = vec!["label"];
        header.extend(self.names.iter().map(|s| s.as_str()));
        let mut t = Table::new(&header);
        for (row, label) in self.rows.iter().zip(&self.labels).take(n) {
            let mut cells = vec![label.clone()];
            cells.extend(row.iter().map(|v| format!("{v:.3}")));
            t.push(cells);
        }
        t
    }

    /// Shows the first rows in Jupyter.
    pub fn evcxr_display(&self) {
        println!(
            "{} windows × {} features",
            self.rows.len(),
            self.names.len()
        );
        self.head(8).evcxr_display();
    }

    fn array(&self) -> Array2<f64> {
        let flat: Vec<f64> = self.rows.iter().flatten().copied().collect();
        Array2::from_shape_vec((self.rows.len(), FEATURE_COUNT), flat)
            .expect("every row has FEATURE_COUNT values")
    }
}

/// The power spectrum of a window's acceleration magnitude, computed with rustfft, with the
/// dominant frequency that the board's feature code finds marked on it.
pub fn spectrum_figure(data: &ActivityData, index: usize) -> Result<Figure> {
    let w = data.windows.get(index).ok_or_else(|| {
        Error::param(
            "index",
            format!("{index}: there are {} windows", data.len()),
        )
    })?;
    let (freqs, power) = magnitude_spectrum(&w.ax, &w.ay, &w.az, data.sample_rate_hz);
    let features =
        window_features(&w.ax, &w.ay, &w.az, data.sample_rate_hz).map_err(|e| Error::Learner {
            learner: "activity features",
            message: format!("{e:?}"),
        })?;
    let dominant = features[9] as f64;
    Ok(Figure::lines(
        &format!("What rhythm is in it? {} ({})", w.label, w.person),
        "frequency (Hz)",
        "power",
    )
    .line("spectrum of |a|", freqs.into_iter().zip(power).collect())
    .x_marker(dominant, &format!("{dominant:.1} Hz")))
}

/// Frequencies (Hz) and power of the bins 0..=n/2 of the mean-removed magnitude, by rustfft.
pub fn magnitude_spectrum(
    ax: &[f32],
    ay: &[f32],
    az: &[f32],
    sample_rate_hz: f32,
) -> (Vec<f64>, Vec<f64>) {
    let mag: Vec<f32> = (0..ax.len())
        .map(|i| (ax[i] * ax[i] + ay[i] * ay[i] + az[i] * az[i]).sqrt())
        .collect();
    let mean = mag.iter().sum::<f32>() / mag.len().max(1) as f32;
    let mut buf: Vec<Complex<f32>> = mag.iter().map(|&m| Complex::new(m - mean, 0.0)).collect();
    FftPlanner::new()
        .plan_fft_forward(buf.len())
        .process(&mut buf);
    let n = buf.len();
    let bins = n / 2 + 1;
    let freqs = (0..bins)
        .map(|k| k as f64 * sample_rate_hz as f64 / n as f64)
        .collect();
    (
        freqs,
        buf[..bins].iter().map(|c| c.norm_sqr() as f64).collect(),
    )
}

/// How a model learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A tree of yes/no questions on one feature each: readable as if/else rules.
    DecisionTree,
    /// A weighted sum of features per class, turned into probabilities.
    LogisticRegression,
    /// The majority label of the k most similar training windows.
    NearestNeighbors,
}

impl Method {
    /// All methods, in lesson order.
    pub const ALL: [Method; 3] = [
        Method::DecisionTree,
        Method::LogisticRegression,
        Method::NearestNeighbors,
    ];

    /// Human name, also accepted by [`Method::parse`].
    pub fn name(self) -> &'static str {
        match self {
            Method::DecisionTree => "decision tree",
            Method::LogisticRegression => "logistic regression",
            Method::NearestNeighbors => "k nearest neighbours",
        }
    }

    /// Parses `tree`, `logistic` or `knn`.
    pub fn parse(s: &str) -> Result<Method> {
        match s.to_ascii_lowercase().as_str() {
            "tree" | "decision-tree" | "decision tree" => Ok(Method::DecisionTree),
            "logistic" | "logistic-regression" | "logistic regression" => {
                Ok(Method::LogisticRegression)
            }
            "knn" | "k-nn" | "nearest-neighbors" | "k nearest neighbours" => {
                Ok(Method::NearestNeighbors)
            }
            _ => Err(Error::param(
                "model",
                format!("'{s}': use tree, logistic or knn"),
            )),
        }
    }
}

/// Hyper-parameters of [`ActivityModel`]: see [`ActivityModel::params`].
#[derive(Debug, Clone, PartialEq)]
pub struct ModelParams {
    method: Method,
    max_depth: usize,
    k: usize,
    max_iterations: u64,
}

impl ModelParams {
    /// Deepest question chain of a tree (default 4: short enough to read).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Neighbours that vote (default 5).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Optimiser iterations of the logistic regression (default 200).
    pub fn max_iterations(mut self, n: u64) -> Self {
        self.max_iterations = n;
        self
    }

    fn validate(&self, train: &ActivityData) -> Result<()> {
        if !(1..=20).contains(&self.max_depth) {
            return Err(Error::param(
                "max_depth",
                format!("{} (use 1 to 20)", self.max_depth),
            ));
        }
        if self.k == 0 || self.k > train.len() {
            return Err(Error::param(
                "k",
                format!("{}: use 1 to the {} training windows", self.k, train.len()),
            ));
        }
        if self.max_iterations == 0 {
            return Err(Error::param("max_iterations", "must be at least 1"));
        }
        if train.label_names().len() < 2 {
            return Err(Error::param(
                "train",
                format!(
                    "{} has fewer than two labels: there is nothing to tell apart",
                    train.source
                ),
            ));
        }
        Ok(())
    }

    /// Learns from `train`.
    pub fn fit(&self, train: &ActivityData) -> Result<ActivityModel> {
        self.validate(train)?;
        let features = Features::of(train)?;
        let classes = train.label_names();
        let targets: Array1<usize> = features
            .labels
            .iter()
            .map(|l| classes.iter().position(|c| c == l).unwrap_or(0))
            .collect();
        let x = features.array();
        let scaler = Scaler::fit(&x);
        let inner = match self.method {
            Method::DecisionTree => {
                let dataset = Dataset::new(x, targets).with_feature_names(features.names.clone());
                let tree = DecisionTree::params()
                    .max_depth(Some(self.max_depth))
                    .fit(&dataset)
                    .map_err(|e| Error::Learner {
                        learner: "decision tree",
                        message: e.to_string(),
                    })?;
                Inner::Tree(tree)
            }
            Method::LogisticRegression => {
                let dataset = Dataset::new(scaler.apply(&x), targets);
                let model = MultiLogisticRegression::default()
                    .max_iterations(self.max_iterations)
                    .fit(&dataset)
                    .map_err(|e| Error::Learner {
                        learner: "logistic regression",
                        message: e.to_string(),
                    })?;
                Inner::Logistic(model)
            }
            Method::NearestNeighbors => Inner::Knn {
                points: scaler.apply(&x),
                targets: targets.to_vec(),
                k: self.k,
            },
        };
        Ok(ActivityModel {
            method: self.method,
            classes,
            scaler,
            inner,
            trained_on: train.source.clone(),
        })
    }
}

/// Per-feature standardisation (zero mean, unit spread) learned on the training set.
#[derive(Debug, Clone, PartialEq)]
struct Scaler {
    mean: Array1<f64>,
    std: Array1<f64>,
}

impl Scaler {
    fn fit(x: &Array2<f64>) -> Scaler {
        let mean = x
            .mean_axis(ndarray::Axis(0))
            .unwrap_or_else(|| Array1::zeros(x.ncols()));
        let std = x
            .std_axis(ndarray::Axis(0), 0.0)
            .mapv(|s| if s > 1e-12 { s } else { 1.0 });
        Scaler { mean, std }
    }

    fn apply(&self, x: &Array2<f64>) -> Array2<f64> {
        (x - &self.mean) / &self.std
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Inner {
    Tree(DecisionTree<f64, usize>),
    Logistic(MultiFittedLogisticRegression<f64, usize>),
    Knn {
        points: Array2<f64>,
        targets: Vec<usize>,
        k: usize,
    },
}

/// A learned activity classifier.
///
/// ```
/// use tinyml_kit::activity::{ActivityData, ActivityModel, Method};
/// let (train, test) = ActivityData::course_default().split_by_people(4, 1).unwrap();
/// let tree = ActivityModel::params(Method::DecisionTree).fit(&train).unwrap();
/// assert!(tree.evaluate(&test).unwrap().accuracy() > 0.8);
/// assert!(tree.rules().unwrap().starts_with("if ("));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityModel {
    method: Method,
    classes: Vec<String>,
    scaler: Scaler,
    inner: Inner,
    trained_on: String,
}

impl ActivityModel {
    /// Parameters for `method`; defaults: `max_depth` 4, `k` 5, `max_iterations` 200.
    pub fn params(method: Method) -> ModelParams {
        ModelParams {
            method,
            max_depth: 4,
            k: 5,
            max_iterations: 200,
        }
    }

    /// How it learned.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The labels it can answer.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The label of every window of `data`.
    pub fn predict(&self, data: &ActivityData) -> Result<Vec<String>> {
        let x = Features::of(data)?.array();
        let indices: Vec<usize> = match &self.inner {
            Inner::Tree(tree) => tree.predict(&x).to_vec(),
            Inner::Logistic(model) => model.predict(&self.scaler.apply(&x)).to_vec(),
            Inner::Knn { points, targets, k } => {
                let index = CommonNearestNeighbour::KdTree
                    .from_batch(points, L2Dist)
                    .map_err(|e| Error::Learner {
                        learner: "k-NN index",
                        message: e.to_string(),
                    })?;
                let queries = self.scaler.apply(&x);
                let mut out = Vec::with_capacity(queries.nrows());
                for q in queries.rows() {
                    let near = index.k_nearest(q, *k).map_err(|e| Error::Learner {
                        learner: "k-NN",
                        message: e.to_string(),
                    })?;
                    let mut votes = vec![0usize; self.classes.len()];
                    for (_, i) in &near {
                        votes[targets[*i]] += 1;
                    }
                    // Most votes; ties go to the nearest neighbour's label among the tied.
                    let best = *votes.iter().max().unwrap_or(&0);
                    let winner = near
                        .iter()
                        .map(|(_, i)| targets[*i])
                        .find(|&t| votes[t] == best)
                        .unwrap_or(0);
                    out.push(winner);
                }
                out
            }
        };
        Ok(indices
            .into_iter()
            .map(|i| self.classes[i].clone())
            .collect())
    }

    /// Predicts every window of `data` and scores the predictions.
    pub fn evaluate(&self, data: &ActivityData) -> Result<Evaluation> {
        Ok(self.evaluate_per_person(data)?.0)
    }

    /// Scores the predictions overall and for each person, predicting once.
    pub fn evaluate_per_person(&self, data: &ActivityData) -> Result<(Evaluation, GroupAccuracy)> {
        let predicted = self.predict(data)?;
        let truth = data.labels();
        let overall = Evaluation::new(
            self.method.name(),
            &data.source,
            &truth,
            &predicted,
            &ACTIVITIES,
        );
        Ok((
            overall,
            GroupAccuracy::new(&truth, &predicted, &data.people(), "person"),
        ))
    }

    /// A decision tree as if/else rules in the slides' style (other methods: `None`).
    pub fn rules(&self) -> Option<String> {
        let Inner::Tree(tree) = &self.inner else {
            return None;
        };
        let mut code = String::new();
        write_node(tree.root_node(), &self.classes, 0, &mut code);
        Some(code)
    }

    /// Shows what was learned in Jupyter.
    pub fn evcxr_display(&self) {
        println!(
            "{} trained on {} ({} classes)",
            self.method.name(),
            self.trained_on,
            self.classes.len()
        );
        if let Some(rules) = self.rules() {
            print!("{rules}");
        }
    }
}

/// The one label every leaf below `node` gives, if they all agree.
fn single_label(node: &TreeNode<f64, usize>) -> Option<usize> {
    if let Some(p) = node.prediction() {
        return Some(p);
    }
    let labels: Vec<Option<usize>> = node
        .children()
        .into_iter()
        .flatten()
        .map(|c| single_label(c))
        .collect();
    let first = *labels.first()?;
    labels
        .iter()
        .all(|l| *l == first)
        .then_some(first)
        .flatten()
}

fn write_node(node: &TreeNode<f64, usize>, classes: &[String], depth: usize, out: &mut String) {
    let pad = "    ".repeat(depth);
    if let Some(label) = single_label(node) {
        let _ = writeln!(out, "{pad}status = {};", classes[label]);
        return;
    }
    let (feature, split, _) = node.split();
    let name = node
        .feature_name()
        .cloned()
        .unwrap_or_else(|| FEATURE_NAMES[feature].to_string());
    let children = node.children();
    let _ = writeln!(out, "{pad}if ({name} <= {split:.3}) {{");
    if let Some(left) = children[0] {
        write_node(left, classes, depth + 1, out);
    }
    let _ = writeln!(out, "{pad}}} else {{");
    if let Some(right) = children[1] {
        write_node(right, classes, depth + 1, out);
    }
    let _ = writeln!(out, "{pad}}}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_dominant_frequency_is_rustffts_strongest_bin() {
        let data = ActivityData::course_default();
        for (i, w) in data.windows.iter().enumerate().step_by(7) {
            let f = window_features(&w.ax, &w.ay, &w.az, data.sample_rate_hz).unwrap();
            let (freqs, power) = magnitude_spectrum(&w.ax, &w.ay, &w.az, data.sample_rate_hz);
            let best = (1..power.len())
                .max_by(|&a, &b| power[a].total_cmp(&power[b]))
                .unwrap();
            // Two bins of almost equal power may swap on rounding: accept either.
            let core_bin = (f[9] as f64 / freqs[1]).round() as usize;
            assert!(
                core_bin == best || (power[core_bin] - power[best]).abs() <= 1e-3 * power[best],
                "window {i}: core {} Hz vs rustfft {} Hz",
                f[9],
                freqs[best]
            );
        }
    }

    #[test]
    fn every_method_beats_the_speed_rules_on_held_out_people() {
        let data = ActivityData::course_default();
        let (train, test) = data.split_by_people(4, 7).unwrap();
        for method in Method::ALL {
            let model = ActivityModel::params(method).fit(&train).unwrap();
            let acc = model.evaluate(&test).unwrap().accuracy();
            assert!(acc > 0.85, "{}: {acc}", method.name());
        }
    }

    #[test]
    fn bad_params_and_one_label_data_are_refused() {
        let data = ActivityData::course_default();
        assert!(ActivityModel::params(Method::NearestNeighbors)
            .k(0)
            .fit(&data)
            .is_err());
        assert!(ActivityModel::params(Method::DecisionTree)
            .max_depth(0)
            .fit(&data)
            .is_err());
        let walking = ActivityData {
            windows: data
                .windows
                .iter()
                .filter(|w| w.label == "WALKING")
                .cloned()
                .collect(),
            ..data.clone()
        };
        let e = ActivityModel::params(Method::DecisionTree)
            .fit(&walking)
            .unwrap_err()
            .to_string();
        assert!(e.contains("fewer than two labels"), "{e}");
    }

    #[test]
    fn method_names_parse() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.name()).unwrap(), m);
        }
        assert!(Method::parse("svm").is_err());
    }
}
