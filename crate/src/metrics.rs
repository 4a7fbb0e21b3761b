//! Scoring a classifier: accuracy and the confusion matrix.

use std::fmt;

use serde::Serialize;

use crate::plot::{Figure, Table};

/// Counts of (true label, predicted label) pairs. Rows are the true labels, columns the
/// predictions, both in the order of [`ConfusionMatrix::labels`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfusionMatrix {
    /// Row and column names.
    pub labels: Vec<String>,
    /// `counts[true][predicted]`.
    pub counts: Vec<Vec<u32>>,
}

impl ConfusionMatrix {
    /// Tallies `truth[i]` against `predicted[i]`. Labels are ordered as in `order` first, then
    /// any others alphabetically. Extra items of the longer slice are ignored.
    pub fn new(truth: &[String], predicted: &[String], order: &[&str]) -> ConfusionMatrix {
        let labels = ordered_labels(truth.iter().chain(predicted), order);
        let index = |l: &String| labels.iter().position(|x| x == l).unwrap_or(0);
        let mut counts = vec![vec![0u32; labels.len()]; labels.len()];
        for (t, p) in truth.iter().zip(predicted) {
            counts[index(t)][index(p)] += 1;
        }
        ConfusionMatrix { labels, counts }
    }

    /// How many examples were scored.
    pub fn total(&self) -> u32 {
        self.counts.iter().flatten().sum()
    }

    /// How many were right.
    pub fn correct(&self) -> u32 {
        (0..self.labels.len()).map(|i| self.counts[i][i]).sum()
    }

    /// Fraction right, in `[0, 1]` (0 when empty).
    pub fn accuracy(&self) -> f64 {
        let total = self.total();
        if total == 0 {
            0.0
        } else {
            self.correct() as f64 / total as f64
        }
    }

    /// For each label that occurs in the truth: the fraction of its examples predicted right
    /// (recall).
    pub fn per_class_accuracy(&self) -> Vec<(String, f64)> {
        self.labels
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let n: u32 = self.counts[i].iter().sum();
                (n > 0).then(|| (l.clone(), self.counts[i][i] as f64 / n as f64))
            })
            .collect()
    }

    /// The matrix as a heatmap figure.
    pub fn figure(&self, title: &str) -> Figure {
        let values = self
            .counts
            .iter()
            .map(|r| r.iter().map(|&c| c as f64).collect())
            .collect();
        Figure::heatmap(
            title,
            "predicted",
            "true label",
            self.labels.clone(),
            self.labels.clone(),
            values,
        )
    }

    /// The matrix as a table, with each class's accuracy.
    pub fn table(&self) -> Table {
        let mut header = vec!["true \\ predicted".to_string()];
        header.extend(self.labels.iter().cloned());
        header.push("class accuracy".to_string());
        let mut table = Table {
            header,
            rows: Vec::new(),
        };
        for (i, label) in self.labels.iter().enumerate() {
            let n: u32 = self.counts[i].iter().sum();
            let mut row = vec![label.clone()];
            row.extend(self.counts[i].iter().map(|c| c.to_string()));
            row.push(if n == 0 {
                "-".into()
            } else {
                percent(self.counts[i][i] as f64 / n as f64)
            });
            table.push(row);
        }
        table
    }

    /// Shows the matrix as a heatmap in Jupyter.
    pub fn evcxr_display(&self) {
        let title = format!("Confusion matrix (accuracy {})", percent(self.accuracy()));
        self.figure(&title).evcxr_display();
    }
}

impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.table())?;
        writeln!(
            f,
            "accuracy {} ({} of {})",
            percent(self.accuracy()),
            self.correct(),
            self.total()
        )
    }
}

/// The distinct values of `values`: those named in `order` first (in that order), then the
/// others alphabetically. Rows of confusion matrices, audits and legends all use it, so a class
/// has the same place everywhere.
pub fn ordered_labels<'a>(
    values: impl IntoIterator<Item = &'a String>,
    order: &[&str],
) -> Vec<String> {
    let mut seen: Vec<&String> = values.into_iter().collect();
    seen.sort();
    seen.dedup();
    let first = order
        .iter()
        .filter(|o| seen.iter().any(|s| s == *o))
        .map(|o| o.to_string());
    let rest = seen
        .iter()
        .filter(|s| !order.contains(&s.as_str()))
        .map(|s| s.to_string());
    first.chain(rest).collect()
}

/// `0.8125` → `"81.2%"`.
pub fn percent(fraction: f64) -> String {
    format!("{:.1}%", 100.0 * fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn counts_accuracy_and_label_order() {
        let truth = s(&["A", "A", "B", "C", "C"]);
        let pred = s(&["A", "B", "B", "A", "C"]);
        let cm = ConfusionMatrix::new(&truth, &pred, &["C", "B"]);
        assert_eq!(cm.labels, s(&["C", "B", "A"]));
        assert_eq!(cm.counts, vec![vec![1, 0, 1], vec![0, 1, 0], vec![0, 1, 1]]);
        assert_eq!((cm.correct(), cm.total()), (3, 5));
        assert!((cm.accuracy() - 0.6).abs() < 1e-12);
        assert_eq!(cm.per_class_accuracy()[0], ("C".to_string(), 0.5));
    }

    #[test]
    fn a_label_only_ever_predicted_gets_a_row_without_accuracy() {
        let cm = ConfusionMatrix::new(&s(&["A"]), &s(&["Z"]), &[]);
        assert_eq!(cm.labels, s(&["A", "Z"]));
        assert_eq!(cm.per_class_accuracy(), vec![("A".to_string(), 0.0)]);
        assert!(cm.table().to_string().contains('-'));
    }
}

/// How a classifier did on a dataset: the confusion matrix and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// What was evaluated (for example "speed rules 4, 12 mph" or "decision tree").
    pub model: String,
    /// The data it was evaluated on.
    pub data: String,
    /// The counts.
    pub confusion: ConfusionMatrix,
}

impl Evaluation {
    /// Scores `predicted` against `truth`, labels in `order` first.
    pub fn new(
        model: &str,
        data: &str,
        truth: &[String],
        predicted: &[String],
        order: &[&str],
    ) -> Self {
        Evaluation {
            model: model.to_string(),
            data: data.to_string(),
            confusion: ConfusionMatrix::new(truth, predicted, order),
        }
    }

    /// Fraction right.
    pub fn accuracy(&self) -> f64 {
        self.confusion.accuracy()
    }

    /// The JSON form used by `--json`: `accuracy`, `n`, `labels`, `confusion` (rows: true
    /// label, columns: predicted), `per_class` (each true label's accuracy), `model`, `data`.
    pub fn json(&self) -> serde_json::Value {
        let per_class: serde_json::Map<String, serde_json::Value> = self
            .confusion
            .per_class_accuracy()
            .into_iter()
            .map(|(label, acc)| (label, serde_json::json!(acc)))
            .collect();
        serde_json::json!({
            "model": self.model,
            "data": self.data,
            "accuracy": self.accuracy(),
            "n": self.confusion.total(),
            "labels": self.confusion.labels,
            "confusion": self.confusion.counts,
            "per_class": per_class,
        })
    }

    /// Shows the result and its confusion matrix in Jupyter.
    pub fn evcxr_display(&self) {
        println!(
            "{} on {}: accuracy {} ({} of {})",
            self.model,
            self.data,
            percent(self.accuracy()),
            self.confusion.correct(),
            self.confusion.total()
        );
        self.confusion
            .figure(&format!(
                "{}: accuracy {}",
                self.model,
                percent(self.accuracy())
            ))
            .evcxr_display();
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} on {}", self.model, self.data)?;
        write!(f, "{}", self.confusion)
    }
}
