//! Responsible data: is every class well represented, and does the model work as well for
//! everyone?
//!
//! Good data has a wide variety, correct labels and a good balance. [`DataAudit`] counts
//! examples per class and per group (person, speaker) and warns about imbalance;
//! [`GroupAccuracy`] shows how a model does for each group, so a model that works for most
//! people but fails for a few cannot hide behind its average.

use serde::Serialize;

use crate::activity::{ActivityData, ACTIVITIES};
use crate::metrics::{ordered_labels, percent};
use crate::plot::{Figure, Table};

/// A class is "under-represented" when the largest class has more than this many times its
/// examples.
pub const IMBALANCE_RATIO: f64 = 1.5;

/// A group is flagged when its accuracy is this far (or more) below the overall accuracy.
pub const ACCURACY_GAP: f64 = 0.10;

/// Counts of examples per class and per group, with warnings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataAudit {
    /// What a group is ("person", "speaker").
    pub group_name: String,
    /// `(class, examples)`, lesson order.
    pub class_counts: Vec<(String, usize)>,
    /// `(group, examples)`, sorted by group.
    pub group_counts: Vec<(String, usize)>,
    /// Plain-language warnings; empty when the data looks balanced.
    pub warnings: Vec<String>,
}

impl DataAudit {
    /// Audits labels and the group of each example (`groups[i]` is who recorded example `i`).
    pub fn new(labels: &[String], groups: &[String], group_name: &str) -> DataAudit {
        let class_counts = counts(labels, &ACTIVITIES);
        let group_counts = counts(groups, &[]);
        let mut warnings = Vec::new();
        if let Some(max) = class_counts.iter().map(|c| c.1).max() {
            for (class, n) in &class_counts {
                if (max as f64) > IMBALANCE_RATIO * (*n as f64) {
                    warnings.push(format!(
                        "class {class} has {n} examples, the largest class has {max}: a model sees too little {class} and learns to guess it less often; record more {class} or use fewer of the others"
                    ));
                }
            }
            if class_counts.len() < 2 {
                warnings.push("only one class: a model cannot learn to tell anything apart".into());
            }
        }
        if let Some(max) = group_counts.iter().map(|c| c.1).max() {
            for (group, n) in &group_counts {
                if (max as f64) > IMBALANCE_RATIO * (*n as f64) {
                    warnings.push(format!("{group_name} {group} recorded {n} examples, another {group_name} {max}: results for {group} rest on little data"));
                }
            }
        }
        if group_counts.len() < 3 {
            warnings.push(format!("only {} {group_name}(s): a model may learn them, not the classes; record more people", group_counts.len()));
        }
        DataAudit {
            group_name: group_name.to_string(),
            class_counts,
            group_counts,
            warnings,
        }
    }

    /// Audits activity windows, grouped by person.
    pub fn of_activity(data: &ActivityData) -> DataAudit {
        DataAudit::new(&data.labels(), &data.people(), "person")
    }

    /// Examples per class, with each class's share.
    pub fn class_table(&self) -> Table {
        let total: usize = self.class_counts.iter().map(|c| c.1).sum();
        let mut t = Table::new(&["class", "examples", "share"]);
        for (class, n) in &self.class_counts {
            t.push(vec![
                class.clone(),
                n.to_string(),
                percent(*n as f64 / total.max(1) as f64),
            ]);
        }
        t
    }

    /// Examples per class as bars.
    pub fn class_figure(&self) -> Figure {
        let bars = self
            .class_counts
            .iter()
            .map(|(c, n)| (c.clone(), *n as f64))
            .collect();
        Figure::bars(
            "Examples per class: is the data balanced?",
            "class",
            "examples",
            bars,
        )
    }

    /// The JSON form used by `tinyml activity audit --json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Shows the warnings and the class counts in Jupyter.
    pub fn evcxr_display(&self) {
        self.print_warnings();
        self.class_figure().evcxr_display();
    }

    fn print_warnings(&self) {
        if self.warnings.is_empty() {
            println!("balanced: no warnings");
        }
        for w in &self.warnings {
            println!("warning: {w}");
        }
    }
}

/// How a model does for each group (person, speaker).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupAccuracy {
    /// What a group is ("person", "speaker").
    pub group_name: String,
    /// `(group, examples, correct)`, sorted by group.
    pub groups: Vec<(String, usize, usize)>,
    /// Accuracy over all examples.
    pub overall: f64,
    /// Groups whose accuracy is [`ACCURACY_GAP`] or more below `overall`.
    pub warnings: Vec<String>,
}

impl GroupAccuracy {
    /// Scores `predicted` against `truth` within each group.
    pub fn new(
        truth: &[String],
        predicted: &[String],
        groups: &[String],
        group_name: &str,
    ) -> GroupAccuracy {
        let mut names: Vec<String> = groups.to_vec();
        names.sort();
        names.dedup();
        let rows: Vec<(String, usize, usize)> = names
            .into_iter()
            .map(|g| {
                let idx: Vec<usize> = (0..groups.len()).filter(|&i| groups[i] == g).collect();
                let correct = idx
                    .iter()
                    .filter(|&&i| truth.get(i) == predicted.get(i))
                    .count();
                (g, idx.len(), correct)
            })
            .collect();
        let n: usize = rows.iter().map(|r| r.1).sum();
        let overall = rows.iter().map(|r| r.2).sum::<usize>() as f64 / n.max(1) as f64;
        let warnings = rows
            .iter()
            .filter(|(_, n, c)| (*c as f64 / (*n).max(1) as f64) <= overall - ACCURACY_GAP)
            .map(|(g, n, c)| {
                let acc = *c as f64 / (*n).max(1) as f64;
                format!("{group_name} {g}: {} against {} overall; look at how {g}'s data differs (and record more like it)", percent(acc), percent(overall))
            })
            .collect();
        GroupAccuracy {
            group_name: group_name.to_string(),
            groups: rows,
            overall,
            warnings,
        }
    }

    /// The group with the lowest accuracy and that accuracy.
    pub fn worst(&self) -> Option<(String, f64)> {
        self.groups
            .iter()
            .map(|(g, n, c)| (g.clone(), *c as f64 / (*n).max(1) as f64))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// One row per group.
    pub fn table(&self) -> Table {
        let mut t = Table::new(&[&self.group_name, "examples", "correct", "accuracy"]);
        for (g, n, c) in &self.groups {
            t.push(vec![
                g.clone(),
                n.to_string(),
                c.to_string(),
                percent(*c as f64 / (*n).max(1) as f64),
            ]);
        }
        t.push(vec![
            "all".into(),
            String::new(),
            String::new(),
            percent(self.overall),
        ]);
        t
    }

    /// Accuracy per group as bars, with the overall accuracy drawn.
    pub fn figure(&self, title: &str) -> Figure {
        let bars = self
            .groups
            .iter()
            .map(|(g, n, c)| (g.clone(), 100.0 * *c as f64 / (*n).max(1) as f64))
            .collect();
        Figure::bars(title, &self.group_name, "accuracy (%)", bars)
    }

    /// The JSON form used by `--json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Shows warnings and the table in Jupyter.
    pub fn evcxr_display(&self) {
        for w in &self.warnings {
            println!("warning: {w}");
        }
        self.table().evcxr_display();
    }
}

/// `(value, count)`, values in `order` first, then the rest sorted.
fn counts(values: &[String], order: &[&str]) -> Vec<(String, usize)> {
    ordered_labels(values, order)
        .into_iter()
        .map(|v| {
            let n = values.iter().filter(|x| **x == v).count();
            (v, n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn balanced_default_data_has_no_warnings() {
        let audit = DataAudit::of_activity(&ActivityData::course_default());
        assert!(audit.warnings.is_empty(), "{:?}", audit.warnings);
        assert_eq!(audit.class_counts.len(), 4);
        assert_eq!(audit.group_counts.len(), 12);
    }

    #[test]
    fn thinned_class_is_flagged() {
        let data = ActivityData::course_default().thin_label("GOLFING", 0.2, 1);
        let audit = DataAudit::of_activity(&data);
        assert!(
            audit.warnings.iter().any(|w| w.contains("class GOLFING")),
            "{:?}",
            audit.warnings
        );
    }

    #[test]
    fn group_accuracy_flags_the_group_left_behind() {
        let truth = s(&["A", "A", "A", "A", "B", "B"]);
        let pred = s(&["A", "A", "A", "A", "A", "A"]);
        let groups = s(&["p1", "p1", "p2", "p2", "p3", "p3"]);
        let g = GroupAccuracy::new(&truth, &pred, &groups, "person");
        assert_eq!(g.groups[2], ("p3".to_string(), 2, 0));
        assert_eq!(g.worst().unwrap().0, "p3");
        assert_eq!(g.warnings.len(), 1);
        assert!(g.warnings[0].starts_with("person p3"));
    }
}
