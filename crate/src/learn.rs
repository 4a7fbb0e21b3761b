//! The training loop made visible: guess the answer, count the mistakes, improve, repeat.
//!
//! The smallest model that learns: one speed threshold between two activities (say WALKING
//! and RUNNING), written as a logistic curve `p(second) = sigmoid(w * speed + b)`. Gradient
//! descent moves `w` and `b` a little after every look at the data; the boundary (the speed
//! where `p = 0.5`, that is `-b / w`) walks to where the mistakes are fewest.
//!
//! ```
//! use tinyml_kit::learn::ThresholdLearner;
//! let speeds = vec![2.0, 3.0, 3.5, 6.0, 7.0, 8.0];
//! let running = vec![false, false, false, true, true, true];
//! let run = ThresholdLearner::params().steps(300).fit(&speeds, &running).unwrap();
//! let boundary = run.final_step().boundary_mph.unwrap();
//! assert!(boundary > 3.5 && boundary < 6.0);
//! assert_eq!(run.final_step().mistakes, 0);
//! ```

use serde::Serialize;

use crate::activity::ActivityData;
use crate::error::{Error, Result};
use crate::plot::{Figure, Table};

/// The logistic function: squashes any number into a probability in `(0, 1)`.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The mean log loss ("how surprised were we by the answers") of probabilities `p` for the
/// true answers `y`. Probabilities are clipped to `[1e-12, 1 - 1e-12]` so a confident mistake
/// costs a lot but not infinitely much.
pub fn log_loss(p: &[f64], y: &[bool]) -> f64 {
    let n = p.len().min(y.len()).max(1) as f64;
    let total: f64 = p
        .iter()
        .zip(y)
        .map(|(&p, &y)| {
            let p = p.clamp(1e-12, 1.0 - 1e-12);
            if y {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    total / n
}

/// How many guesses are wrong: a probability ≥ 0.5 guesses `true`.
pub fn count_mistakes(p: &[f64], y: &[bool]) -> usize {
    p.iter().zip(y).filter(|(&p, &y)| (p >= 0.5) != y).count()
}

/// One step of training: the model before the update, how it did, and where its boundary was.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Step {
    /// Step number, from 0.
    pub step: usize,
    /// Weight on the (standardised) speed.
    pub w: f64,
    /// Bias.
    pub b: f64,
    /// Mean log loss over the data.
    pub loss: f64,
    /// Wrong guesses.
    pub mistakes: usize,
    /// The speed where the guess flips, in mph (`None` while `w` is 0).
    pub boundary_mph: Option<f64>,
}

/// Parameters of [`ThresholdLearner`]: see [`ThresholdLearner::params`].
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdLearner {
    learning_rate: f64,
    steps: usize,
}

impl ThresholdLearner {
    /// Defaults: learning rate 0.5, 60 steps, starting from `w = b = 0` (every guess 50/50).
    pub fn params() -> ThresholdLearner {
        ThresholdLearner {
            learning_rate: 0.5,
            steps: 60,
        }
    }

    /// How far each step moves the model (default 0.5).
    pub fn learning_rate(mut self, rate: f64) -> Self {
        self.learning_rate = rate;
        self
    }

    /// How many steps (default 60).
    pub fn steps(mut self, steps: usize) -> Self {
        self.steps = steps;
        self
    }

    /// Learns the threshold between `false` and `true` examples from their speeds.
    pub fn fit(&self, speeds_mph: &[f64], is_second: &[bool]) -> Result<TrainingRun> {
        if !(self.learning_rate.is_finite()
            && self.learning_rate > 0.0
            && self.learning_rate <= 100.0)
        {
            return Err(Error::param(
                "learning_rate",
                format!("{} (use a number in (0, 100])", self.learning_rate),
            ));
        }
        if !(1..=100_000).contains(&self.steps) {
            return Err(Error::param(
                "steps",
                format!("{} (use 1 to 100000)", self.steps),
            ));
        }
        if speeds_mph.len() != is_second.len() || speeds_mph.is_empty() {
            return Err(Error::param(
                "speeds",
                format!(
                    "{} speeds for {} answers: give one answer per speed, at least one",
                    speeds_mph.len(),
                    is_second.len()
                ),
            ));
        }
        if speeds_mph.iter().any(|s| !s.is_finite()) {
            return Err(Error::param("speeds", "a speed is not a number"));
        }
        // Standardise the speed so one learning rate suits any units; report in mph.
        let n = speeds_mph.len() as f64;
        let mean = speeds_mph.iter().sum::<f64>() / n;
        let std = (speeds_mph.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n)
            .sqrt()
            .max(1e-9);
        let x: Vec<f64> = speeds_mph.iter().map(|s| (s - mean) / std).collect();
        let (mut w, mut b) = (0.0f64, 0.0f64);
        let mut steps = Vec::with_capacity(self.steps + 1);
        for step in 0..=self.steps {
            // 1. Guess.
            let p: Vec<f64> = x.iter().map(|&xi| sigmoid(w * xi + b)).collect();
            // 2. Count mistakes (and how badly: the loss).
            let boundary_mph = (w.abs() > 1e-12).then(|| mean + std * (-b / w));
            steps.push(Step {
                step,
                w,
                b,
                loss: log_loss(&p, is_second),
                mistakes: count_mistakes(&p, is_second),
                boundary_mph,
            });
            if step == self.steps {
                break;
            }
            // 3. Improve: move against the gradient of the loss.
            let (mut gw, mut gb) = (0.0, 0.0);
            for ((&xi, &pi), &yi) in x.iter().zip(&p).zip(is_second) {
                let err = pi - if yi { 1.0 } else { 0.0 };
                gw += err * xi;
                gb += err;
            }
            w -= self.learning_rate * gw / n;
            b -= self.learning_rate * gb / n;
        }
        Ok(TrainingRun {
            steps,
            speeds_mph: speeds_mph.to_vec(),
            answers: is_second.to_vec(),
            mean,
            std,
            names: ("no".into(), "yes".into()),
        })
    }

    /// Learns the speed threshold between two activities of `data` (for example WALKING and
    /// RUNNING); the other windows are left out.
    pub fn fit_activities(
        &self,
        data: &ActivityData,
        first: &str,
        second: &str,
    ) -> Result<TrainingRun> {
        let speeds = data.speeds()?;
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for (w, s) in data.windows.iter().zip(speeds) {
            if w.label == first || w.label == second {
                xs.push(s);
                ys.push(w.label == second);
            }
        }
        for label in [first, second] {
            if !data.windows.iter().any(|w| w.label == label) {
                return Err(Error::param(
                    "labels",
                    format!(
                        "{} has no {label} windows (it has {})",
                        data.source,
                        data.label_names().join(", ")
                    ),
                ));
            }
        }
        let mut run = self.fit(&xs, &ys)?;
        run.names = (first.to_string(), second.to_string());
        Ok(run)
    }
}

/// The record of a training run: every step's model, loss and mistakes.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingRun {
    /// Step 0 is the untrained model; the last is the trained one.
    pub steps: Vec<Step>,
    speeds_mph: Vec<f64>,
    answers: Vec<bool>,
    mean: f64,
    std: f64,
    names: (String, String),
}

impl TrainingRun {
    /// The trained model's step.
    pub fn final_step(&self) -> Step {
        *self.steps.last().expect("a run has at least step 0")
    }

    /// Probability of the second class at `speed_mph` for the model of step `step`.
    pub fn probability(&self, step: usize, speed_mph: f64) -> f64 {
        let s = self.steps[step.min(self.steps.len() - 1)];
        sigmoid(s.w * (speed_mph - self.mean) / self.std + s.b)
    }

    /// Loss and mistake rate against the step.
    pub fn loss_figure(&self) -> Figure {
        let n = self.answers.len().max(1) as f64;
        Figure::lines(
            "Training: the loss falls as the model improves",
            "step",
            "loss / mistakes",
        )
        .line(
            "loss (log loss)",
            self.steps.iter().map(|s| (s.step as f64, s.loss)).collect(),
        )
        .line(
            "mistakes (fraction)",
            self.steps
                .iter()
                .map(|s| (s.step as f64, s.mistakes as f64 / n))
                .collect(),
        )
    }

    /// The examples (0 = first class, 1 = second) and the model's curve at a few steps: the
    /// boundary moving while it learns.
    pub fn boundary_figure(&self) -> Figure {
        let (first, second) = &self.names;
        let title = format!("Learning the {first}/{second} threshold, step by step");
        let y_label = format!("p({second})");
        let mut fig = Figure::lines(&title, "speed (mph)", &y_label);
        let lo = self
            .speeds_mph
            .iter()
            .cloned()
            .fold(f64::INFINITY, f64::min);
        let hi = self
            .speeds_mph
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max);
        let last = self.steps.len() - 1;
        let mut shown: Vec<usize> = [1, 3, 10, last]
            .into_iter()
            .filter(|&s| s <= last)
            .collect();
        shown.dedup();
        for s in shown {
            let curve = (0..=100).map(|i| {
                let x = lo + (hi - lo) * i as f64 / 100.0;
                (x, self.probability(s, x))
            });
            fig = fig.line(&format!("step {s}"), curve.collect());
        }
        let dots = |want: bool, y: f64| -> Vec<(f64, f64)> {
            self.speeds_mph
                .iter()
                .zip(&self.answers)
                .filter(|(_, &a)| a == want)
                .map(|(&s, _)| (s, y))
                .collect()
        };
        fig = fig
            .dots(first, dots(false, 0.0))
            .dots(second, dots(true, 1.0));
        if let Some(b) = self.final_step().boundary_mph {
            fig = fig.x_marker(b, &format!("learned: {b:.2} mph"));
        }
        fig
    }

    /// Every `every`-th step as a table (step, w, b, loss, mistakes, boundary).
    pub fn table(&self, every: usize) -> Table {
        let mut t = Table::new(&["step", "w", "b", "loss", "mistakes", "boundary (mph)"]);
        let last = self.steps.len() - 1;
        for s in self
            .steps
            .iter()
            .filter(|s| s.step % every.max(1) == 0 || s.step == last)
        {
            t.push(vec![
                s.step.to_string(),
                format!("{:.3}", s.w),
                format!("{:.3}", s.b),
                format!("{:.4}", s.loss),
                s.mistakes.to_string(),
                s.boundary_mph
                    .map(|b| format!("{b:.2}"))
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
        t
    }

    /// The JSON form used by `tinyml learn --json`.
    pub fn json(&self) -> serde_json::Value {
        let f = self.final_step();
        serde_json::json!({
            "classes": [self.names.0, self.names.1],
            "steps": f.step,
            "boundary_mph": f.boundary_mph,
            "loss": f.loss,
            "mistakes": f.mistakes,
            "n": self.answers.len(),
            "loss_curve": self.steps.iter().map(|s| s.loss).collect::<Vec<_>>(),
        })
    }

    /// Shows the boundary figure in Jupyter.
    pub fn evcxr_display(&self) {
        let f = self.final_step();
        println!(
            "after {} steps: boundary {} mph, loss {:.4}, {} mistakes of {}",
            f.step,
            f.boundary_mph
                .map(|b| format!("{b:.2}"))
                .unwrap_or_else(|| "-".into()),
            f.loss,
            f.mistakes,
            self.answers.len()
        );
        self.boundary_figure().evcxr_display();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_mistakes_by_hand() {
        let p = [0.9, 0.2, 0.6];
        let y = [true, false, false];
        let expected = (-(0.9f64).ln() - (0.8f64).ln() - (0.4f64).ln()) / 3.0;
        assert!((log_loss(&p, &y) - expected).abs() < 1e-12);
        assert_eq!(count_mistakes(&p, &y), 1);
        assert!(log_loss(&[0.0], &[true]).is_finite());
        assert_eq!(sigmoid(0.0), 0.5);
    }

    #[test]
    fn loss_falls_and_the_boundary_lands_between_walking_and_running() {
        let data = ActivityData::course_default();
        let run = ThresholdLearner::params()
            .fit_activities(&data, "WALKING", "RUNNING")
            .unwrap();
        let (first, last) = (run.steps[0], run.final_step());
        assert!(
            (first.loss - 2f64.ln()).abs() < 1e-12,
            "an untrained model guesses 50/50"
        );
        assert!(
            last.loss < 0.5 * first.loss,
            "{} -> {}",
            first.loss,
            last.loss
        );
        let b = last.boundary_mph.unwrap();
        assert!((3.5..5.5).contains(&b), "learned threshold {b}");
        // Gradient descent with a small enough rate never makes the loss go up here.
        assert!(run.steps.windows(2).all(|w| w[1].loss <= w[0].loss + 1e-12));
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(ThresholdLearner::params()
            .learning_rate(0.0)
            .fit(&[1.0], &[true])
            .is_err());
        assert!(ThresholdLearner::params()
            .steps(0)
            .fit(&[1.0], &[true])
            .is_err());
        assert!(ThresholdLearner::params()
            .fit(&[1.0, 2.0], &[true])
            .is_err());
        let data = ActivityData::course_default();
        let e = ThresholdLearner::params()
            .fit_activities(&data, "WALKING", "SKIING")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no SKIING"), "{e}");
    }
}
