//! The rule from the slides, as a value students can edit:
//!
//! ```text
//! if(speed<4){ status=WALKING; } else if(speed<12){ status=RUNNING; } else { status=BIKING; }
//! ```
//!
//! ```
//! use tinyml_kit::activity::{ActivityData, SpeedRules};
//! let rules = SpeedRules::slides();
//! assert_eq!(rules.classify(3.0), "WALKING");
//! assert_eq!(rules.classify(12.0), "BIKING");
//! let result = rules.evaluate(&ActivityData::course_default()).unwrap();
//! assert!(result.accuracy() > 0.4 && result.accuracy() < 0.8); // rules miss GOLFING entirely
//! ```

use std::fmt;

use super::data::{ActivityData, ACTIVITIES};
use crate::error::{Error, Result};
use crate::metrics::Evaluation;
use crate::plot::Figure;

/// One line of the rules: below this speed, this label.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeedRule {
    /// The speed limit in miles per hour (exclusive: `speed < below_mph`).
    pub below_mph: f64,
    /// The label given below it.
    pub label: String,
}

/// Hand-written rules on speed: checked in order, the first that matches gives the label,
/// otherwise [`SpeedRules::otherwise`] does.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeedRules {
    rules: Vec<SpeedRule>,
    otherwise: String,
}

impl SpeedRules {
    /// The slides' rules: below 4 mph WALKING, below 12 mph RUNNING, else BIKING.
    pub fn slides() -> SpeedRules {
        SpeedRules::new()
            .below(4.0, "WALKING")
            .below(12.0, "RUNNING")
            .otherwise("BIKING")
    }

    /// The slides' rules with other thresholds, checked: `walking_below_mph <
    /// running_below_mph`, both positive.
    pub fn thresholds(walking_below_mph: f64, running_below_mph: f64) -> Result<SpeedRules> {
        let rules = SpeedRules::new()
            .below(walking_below_mph, "WALKING")
            .below(running_below_mph, "RUNNING")
            .otherwise("BIKING");
        rules.validate()?;
        Ok(rules)
    }

    /// No rules yet; everything is `BIKING` until you add some with [`SpeedRules::below`].
    pub fn new() -> SpeedRules {
        SpeedRules {
            rules: Vec::new(),
            otherwise: "BIKING".into(),
        }
    }

    /// Adds a rule at the end: `else if speed < below_mph { label }`.
    pub fn below(mut self, below_mph: f64, label: &str) -> SpeedRules {
        self.rules.push(SpeedRule {
            below_mph,
            label: label.to_string(),
        });
        self
    }

    /// Sets the label when no rule matches.
    pub fn otherwise(mut self, label: &str) -> SpeedRules {
        self.otherwise = label.to_string();
        self
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[SpeedRule] {
        &self.rules
    }

    /// Checks that every limit is a positive number and that they increase (a later rule with a
    /// lower limit could never match).
    pub fn validate(&self) -> Result<()> {
        for (i, rule) in self.rules.iter().enumerate() {
            if !(rule.below_mph.is_finite() && rule.below_mph > 0.0) {
                return Err(Error::param(
                    "thresholds",
                    format!(
                        "{} mph for {} is not a positive speed",
                        rule.below_mph, rule.label
                    ),
                ));
            }
            if let Some(prev) = i.checked_sub(1).map(|j| &self.rules[j]) {
                if rule.below_mph <= prev.below_mph {
                    return Err(Error::param(
                        "thresholds",
                        format!(
                            "out of order: {} mph ({}) comes after {} mph ({}); each limit must be larger than the one before, or its rule never matches",
                            rule.below_mph, rule.label, prev.below_mph, prev.label
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The label for one speed.
    pub fn classify(&self, speed_mph: f64) -> String {
        self.rules
            .iter()
            .find(|r| speed_mph < r.below_mph)
            .map_or(&self.otherwise, |r| &r.label)
            .clone()
    }

    /// Applies the rules to every window of `data` and scores them.
    pub fn evaluate(&self, data: &ActivityData) -> Result<Evaluation> {
        self.validate()?;
        let predicted: Vec<String> = data
            .speeds()?
            .into_iter()
            .map(|s| self.classify(s))
            .collect();
        Ok(Evaluation::new(
            &self.name(),
            &data.source,
            &data.labels(),
            &predicted,
            &ACTIVITIES,
        ))
    }

    /// A short name: "speed rules 4, 12 mph".
    pub fn name(&self) -> String {
        let limits: Vec<String> = self.rules.iter().map(|r| format_mph(r.below_mph)).collect();
        format!("speed rules {} mph", limits.join(", "))
    }

    /// The rules written as code, as on the slides.
    pub fn code(&self) -> String {
        let mut code = String::new();
        for (i, r) in self.rules.iter().enumerate() {
            let keyword = if i == 0 { "if" } else { "} else if" };
            code += &format!(
                "{keyword} (speed < {}) {{\n    status = {};\n",
                format_mph(r.below_mph),
                r.label
            );
        }
        if self.rules.is_empty() {
            code += &format!("status = {};\n", self.otherwise);
        } else {
            code += &format!("}} else {{\n    status = {};\n}}\n", self.otherwise);
        }
        code
    }

    /// The speeds of each true label as overlaid histograms, with the rule limits drawn.
    pub fn histogram(&self, data: &ActivityData) -> Result<Figure> {
        let speeds = data.speeds()?;
        let groups = data
            .label_names()
            .into_iter()
            .map(|label| {
                let values = data
                    .windows
                    .iter()
                    .zip(&speeds)
                    .filter(|(w, _)| w.label == label)
                    .map(|(_, &s)| s)
                    .collect();
                (label, values)
            })
            .collect();
        let mut fig = Figure::histograms(
            "Speed of each activity, with the rule's limits",
            "speed (mph)",
            groups,
            40,
        );
        for r in &self.rules {
            fig = fig.x_marker(r.below_mph, &format!("{} mph", format_mph(r.below_mph)));
        }
        Ok(fig)
    }

    /// Shows the rules as code in Jupyter.
    pub fn evcxr_display(&self) {
        print!("{}", self.code());
    }
}

impl Default for SpeedRules {
    fn default() -> Self {
        SpeedRules::slides()
    }
}

impl fmt::Display for SpeedRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

fn format_mph(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slide_rules_classify_and_print_like_the_slide() {
        let r = SpeedRules::slides();
        assert_eq!(
            [
                r.classify(0.5),
                r.classify(3.99),
                r.classify(4.0),
                r.classify(11.9),
                r.classify(30.0)
            ],
            ["WALKING", "WALKING", "RUNNING", "RUNNING", "BIKING"].map(String::from)
        );
        assert_eq!(r.code(), "if (speed < 4) {\n    status = WALKING;\n} else if (speed < 12) {\n    status = RUNNING;\n} else {\n    status = BIKING;\n}\n");
    }

    #[test]
    fn thresholds_out_of_order_or_not_positive_are_refused() {
        let e = SpeedRules::thresholds(12.0, 4.0).unwrap_err().to_string();
        assert!(
            e.contains("out of order") && e.contains("thresholds"),
            "{e}"
        );
        assert!(SpeedRules::thresholds(0.0, 4.0).is_err());
        assert!(SpeedRules::thresholds(4.0, f64::NAN).is_err());
        assert!(SpeedRules::thresholds(4.0, 12.0).is_ok());
    }

    #[test]
    fn rules_never_say_golfing_so_golfing_is_always_wrong() {
        let data = ActivityData::course_default();
        let eval = SpeedRules::slides().evaluate(&data).unwrap();
        let golf = eval
            .confusion
            .per_class_accuracy()
            .into_iter()
            .find(|(l, _)| l == "GOLFING")
            .unwrap();
        assert_eq!(golf.1, 0.0);
        let walking = eval.confusion.per_class_accuracy()[0].clone();
        assert_eq!(walking.0, "WALKING");
        assert!(
            walking.1 > 0.85,
            "the slide's 4 mph limit suits walking: {}",
            walking.1
        );
        // A rule for golf (standing still most of the time) fixes a good part of it.
        let better = SpeedRules::new()
            .below(1.5, "GOLFING")
            .below(4.0, "WALKING")
            .below(12.0, "RUNNING")
            .otherwise("BIKING");
        assert!(better.evaluate(&data).unwrap().accuracy() > eval.accuracy());
    }
}
