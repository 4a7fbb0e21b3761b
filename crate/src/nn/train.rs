//! The training loop: batches, softmax cross-entropy, Adam or SGD, early stopping, progress.

use std::time::Instant;

use dfdx::losses::cross_entropy_with_logits_loss;
use dfdx::prelude::*;
use serde::Serialize;

use super::ops::values;
use super::{forward, to_input, Network, Params};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// How the weights are updated from their gradients.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Optimizer {
    /// Adam (Kingma & Ba 2015), β1 = 0.9, β2 = 0.999, ε = 1e-7 (Keras' defaults).
    Adam,
    /// Plain stochastic gradient descent.
    Sgd,
}

/// What one epoch did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EpochReport {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub loss: f64,
    /// Accuracy on the training batches (as they were seen, dropout on).
    pub train_accuracy: f64,
    /// Accuracy on the validation set, when there is one.
    pub val_accuracy: Option<f64>,
    /// Wall time of the epoch in seconds.
    pub seconds: f64,
}

/// Every epoch's report, and which epoch's weights were kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    /// One report per epoch run.
    pub epochs: Vec<EpochReport>,
    /// The epoch whose weights the network now has (the best validation accuracy with early
    /// stopping, else the last).
    pub kept_epoch: usize,
}

impl History {
    /// Loss and accuracy per epoch.
    pub fn figure(&self, title: &str) -> crate::plot::Figure {
        let at = |f: fn(&EpochReport) -> Option<f64>| -> Vec<(f64, f64)> {
            self.epochs
                .iter()
                .filter_map(|e| Some((e.epoch as f64, f(e)?)))
                .collect()
        };
        crate::plot::Figure::lines(title, "epoch", "loss / accuracy")
            .line("training loss", at(|e| Some(e.loss)))
            .line("training accuracy", at(|e| Some(e.train_accuracy)))
            .line("validation accuracy", at(|e| e.val_accuracy))
            .x_marker(self.kept_epoch as f64, "kept")
            .legend_lower_right()
    }

    /// Shows the figure in Jupyter.
    pub fn evcxr_display(&self) {
        self.figure("Training").evcxr_display();
    }

    /// A trained model's figure ([`History::figure`]), or, for a model that was not trained
    /// here (loaded from a file, or fresh), an empty one that says so.
    pub(crate) fn figure_of(history: Option<&History>, title: &str) -> crate::plot::Figure {
        match history {
            Some(h) => h.figure(title),
            None => crate::plot::Figure::lines(
                &format!("{title} (no training history: this model was not trained here)"),
                "epoch",
                "loss / accuracy",
            ),
        }
    }
}

/// The settings every trainer (`DigitsTrainer`, `ActivityTrainer`, `KwsTrainer`) passes on to
/// the [`TrainParams`] in its field `train`: one definition of the six methods for all three.
macro_rules! train_settings {
    () => {
        /// Passes over the training data.
        pub fn epochs(mut self, epochs: usize) -> Self {
            self.train = self.train.epochs(epochs);
            self
        }

        /// Examples per weight update.
        pub fn batch_size(mut self, batch_size: usize) -> Self {
            self.train = self.train.batch_size(batch_size);
            self
        }

        /// Adam's step size.
        pub fn learning_rate(mut self, rate: f64) -> Self {
            self.train = self.train.learning_rate(rate);
            self
        }

        /// Seed of the initial weights and of the batch order: the same seed and data give the
        /// same model.
        pub fn seed(mut self, seed: u64) -> Self {
            self.train = self.train.seed(seed);
            self
        }

        /// Stop when validation accuracy has not improved for `patience` epochs, and keep the
        /// best epoch's weights.
        pub fn early_stopping(mut self, patience: usize) -> Self {
            self.train = self.train.early_stopping(patience);
            self
        }

        /// Print a line per epoch.
        pub fn progress(mut self, on: bool) -> Self {
            self.train = self.train.progress(on);
            self
        }
    };
}
pub(crate) use train_settings;

/// Training parameters; see [`TrainParams::new`] for the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainParams {
    epochs: usize,
    batch_size: usize,
    learning_rate: f64,
    optimizer: Optimizer,
    seed: u64,
    patience: Option<usize>,
    progress: bool,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams::new()
    }
}

impl TrainParams {
    /// Defaults: 8 epochs, batches of 32, Adam with learning rate 1e-3, seed 0, no early
    /// stopping, a progress line per epoch.
    pub fn new() -> TrainParams {
        TrainParams {
            epochs: 8,
            batch_size: 32,
            learning_rate: 1e-3,
            optimizer: Optimizer::Adam,
            seed: 0,
            patience: None,
            progress: true,
        }
    }

    /// Passes over the training set.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Examples per weight update.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Step size.
    pub fn learning_rate(mut self, rate: f64) -> Self {
        self.learning_rate = rate;
        self
    }

    /// Adam or SGD.
    pub fn optimizer(mut self, optimizer: Optimizer) -> Self {
        self.optimizer = optimizer;
        self
    }

    /// Seed of the shuffling and dropout: the same seed and data give the same weights.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Stop when validation accuracy has not improved for this many epochs, and keep the best
    /// epoch's weights.
    pub fn early_stopping(mut self, patience: usize) -> Self {
        self.patience = Some(patience);
        self
    }

    /// Print a line per epoch (default on).
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// The seed (also the one to initialise a network with, for the same weights every run).
    pub fn seed_value(&self) -> u64 {
        self.seed
    }

    /// Whether a line is printed per epoch.
    pub fn shows_progress(&self) -> bool {
        self.progress
    }

    /// The early-stopping patience, when set.
    pub fn patience(&self) -> Option<usize> {
        self.patience
    }

    /// [`TrainParams::check`], and that early stopping has a validation set to watch: what
    /// the trainers call first, before any feature is computed.
    pub fn check_for(&self, has_validation: bool) -> Result<()> {
        self.check()?;
        if self.patience.is_some() && !has_validation {
            return Err(Error::param(
                "early_stopping",
                "needs a validation set to watch: pass one, or train without early stopping",
            ));
        }
        Ok(())
    }

    /// Checks the settings (epochs, batch size, learning rate) without training: the trainers
    /// call it before they compute any feature, so a mistake is reported at once.
    pub fn check(&self) -> Result<()> {
        if !(1..=10_000).contains(&self.epochs) {
            return Err(Error::param(
                "epochs",
                format!("{} (use 1 to 10000)", self.epochs),
            ));
        }
        if !(1..=65_536).contains(&self.batch_size) {
            return Err(Error::param(
                "batch_size",
                format!("{} (use 1 to 65536)", self.batch_size),
            ));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::param(
                "learning_rate",
                format!("{} (must be positive)", self.learning_rate),
            ));
        }
        Ok(())
    }

    /// Trains `net` on `inputs` (examples of `net.input().len()` values, one after another) with
    /// `labels` (class indices below `net.outputs()`), checking accuracy on `validation` after
    /// each epoch when given.
    pub fn fit(
        &self,
        net: &mut Network,
        inputs: &[f32],
        labels: &[usize],
        validation: Option<(&[f32], &[usize])>,
    ) -> Result<History> {
        self.check_for(validation.is_some())?;
        let per = net.input.len();
        let classes = net.outputs();
        check_examples(inputs, labels, per, classes, "training")?;
        if let Some((vx, vy)) = validation {
            check_examples(vx, vy, per, classes, "validation")?;
        }
        let n = labels.len();
        let mut rng = Rng::new(self.seed);
        let mut state: Vec<OptimizerState> = net
            .params
            .iter()
            .flatten()
            .flat_map(|p| {
                [
                    OptimizerState::new(p.weight.as_vec().len()),
                    OptimizerState::new(p.bias.as_vec().len()),
                ]
            })
            .collect();
        let mut step = 0u64;
        let mut history = History {
            epochs: Vec::new(),
            kept_epoch: 0,
        };
        // (validation accuracy, epoch, weights) of the best epoch so far.
        let mut best: Option<(f64, usize, Vec<Vec<f32>>)> = None;
        net.dev = Cpu::seed_from_u64(self.seed);
        // One device per half batch: each draws its own dropout masks.
        let devs = [net.dev.clone(), Cpu::seed_from_u64(self.seed ^ SECOND_HALF)];
        // Fresh tensors for the weights: dfdx tells tensors apart by an id from a global counter,
        // and a Jupyter kernel (evcxr) links every cell with its own copy of that counter, so
        // weights made in an earlier cell could share ids with this cell's tensors.
        for p in net.params.iter_mut().flatten() {
            p.weight = net
                .dev
                .tensor_from_vec(values(&p.weight), *p.weight.shape());
            p.bias = net.dev.tensor_from_vec(values(&p.bias), *p.bias.shape());
        }
        let mut order: Vec<usize> = (0..n).collect();
        for epoch in 1..=self.epochs {
            let started = Instant::now();
            rng.shuffle(&mut order);
            let (mut loss_sum, mut correct) = (0.0f64, 0usize);
            for batch in order.chunks(self.batch_size) {
                // The batch's halves go forward and backward on both cores at once; their
                // gradients are then averaged, weighted by size, in a fixed order, so the
                // weights do not depend on how many threads there are.
                let run = |part: &[usize], dev: &Cpu| half_step(&*net, part, inputs, labels, dev);
                let done = if batch.len() >= 2 {
                    let (a, b) = batch.split_at(batch.len() / 2);
                    let (a, b) = rayon::join(|| run(a, &devs[0]), || run(b, &devs[1]));
                    vec![a, b]
                } else {
                    vec![run(batch, &devs[0])]
                };
                let mut grads: Vec<Vec<f32>> =
                    done[0].grads.iter().map(|g| vec![0.0; g.len()]).collect();
                for part in &done {
                    let share = part.examples as f32 / batch.len() as f32;
                    for (sum, g) in grads.iter_mut().zip(&part.grads) {
                        for (s, &v) in sum.iter_mut().zip(g) {
                            *s += v * share;
                        }
                    }
                    loss_sum += part.loss;
                    correct += part.correct;
                }
                step += 1;
                let mut updates = state.iter_mut().zip(&grads);
                for p in net.params.iter_mut().flatten() {
                    let Params { weight, bias } = p;
                    let (s, g) = updates.next().expect("one state per tensor");
                    s.update(weight, g, self, step);
                    let (s, g) = updates.next().expect("one state per tensor");
                    s.update(bias, g, self, step);
                }
            }
            let val_accuracy = validation
                .map(|(vx, vy)| accuracy(net, vx, vy))
                .transpose()?;
            let report = EpochReport {
                epoch,
                loss: loss_sum / n as f64,
                train_accuracy: correct as f64 / n as f64,
                val_accuracy,
                seconds: started.elapsed().as_secs_f64(),
            };
            if self.progress {
                let val = val_accuracy
                    .map(|a| format!("  validation {:.1}%", 100.0 * a))
                    .unwrap_or_default();
                println!(
                    "epoch {epoch}/{}  loss {:.4}  train {:.1}%{val}  ({:.1} s, {:.0} examples/s)",
                    self.epochs,
                    report.loss,
                    100.0 * report.train_accuracy,
                    report.seconds,
                    n as f64 / report.seconds.max(1e-9)
                );
            }
            history.epochs.push(report);
            history.kept_epoch = epoch;
            if let (Some(patience), Some(acc)) = (self.patience, val_accuracy) {
                // Keep the first epoch with the best validation accuracy.
                if best.as_ref().is_none_or(|(b, _, _)| acc > *b) {
                    best = Some((acc, epoch, net.weights()));
                }
                let best_epoch = best.as_ref().map_or(epoch, |(_, e, _)| *e);
                history.kept_epoch = best_epoch;
                if epoch - best_epoch >= patience {
                    break;
                }
            }
        }
        if let Some((_, _, weights)) = best {
            net.set_weights(&weights)?;
        }
        Ok(history)
    }
}

/// Seed of the second half batch's device, beside the training seed (any constant apart from
/// zero gives it masks of its own).
const SECOND_HALF: u64 = 0x9e37_79b9_7f4a_7c15;

/// What one half batch gave: its gradients (each tensor's, in [`Network::weights`] order), its
/// summed loss and right answers.
struct HalfStep {
    examples: usize,
    grads: Vec<Vec<f32>>,
    loss: f64,
    correct: usize,
}

/// Forward and backward on the examples `part` of `inputs`, with dropout masks from `dev`.
fn half_step(
    net: &Network,
    part: &[usize],
    inputs: &[f32],
    labels: &[usize],
    dev: &Cpu,
) -> HalfStep {
    let per = net.input.len();
    let classes = net.outputs();
    let mut xs = Vec::with_capacity(part.len() * per);
    let mut ys = vec![0f32; part.len() * classes];
    for (row, &i) in part.iter().enumerate() {
        xs.extend_from_slice(&inputs[i * per..(i + 1) * per]);
        ys[row * classes + labels[i]] = 1.0;
    }
    let x = to_input(dev, &xs, net.input).leaky_traced();
    let logits = forward(
        &net.layers,
        &net.params,
        net.input,
        x,
        part.len(),
        true,
        false,
    );
    let predicted = argmax_rows(&values(&logits), classes);
    let correct = part
        .iter()
        .zip(&predicted)
        .filter(|(&i, &p)| labels[i] == p)
        .count();
    let targets = dev.tensor_from_vec(ys, (part.len(), classes));
    let loss = cross_entropy_with_logits_loss(logits, targets);
    let loss_sum = loss.array() as f64 * part.len() as f64;
    let grads = loss.backward();
    let grads = net
        .params
        .iter()
        .flatten()
        .flat_map(|p| [values(&grads.get(&p.weight)), values(&grads.get(&p.bias))])
        .collect();
    HalfStep {
        examples: part.len(),
        grads,
        loss: loss_sum,
        correct,
    }
}

/// Adam's moving averages (or nothing, for SGD) of one weight tensor.
struct OptimizerState {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl OptimizerState {
    fn new(len: usize) -> Self {
        OptimizerState {
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }

    fn update<S: dfdx::shapes::Shape>(
        &mut self,
        tensor: &mut Tensor<S, f32, Cpu>,
        grad: &[f32],
        params: &TrainParams,
        step: u64,
    ) {
        let mut w = values(tensor);
        let lr = params.learning_rate as f32;
        match params.optimizer {
            Optimizer::Sgd => {
                for (w, g) in w.iter_mut().zip(grad) {
                    *w -= lr * g;
                }
            }
            Optimizer::Adam => {
                let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-7f32);
                let c1 = 1.0 - b1.powi(step as i32);
                let c2 = 1.0 - b2.powi(step as i32);
                for i in 0..w.len() {
                    self.m[i] = b1 * self.m[i] + (1.0 - b1) * grad[i];
                    self.v[i] = b2 * self.v[i] + (1.0 - b2) * grad[i] * grad[i];
                    w[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + eps);
                }
            }
        }
        tensor.copy_from(&w);
    }
}

fn check_examples(
    inputs: &[f32],
    labels: &[usize],
    per: usize,
    classes: usize,
    what: &str,
) -> Result<()> {
    if labels.is_empty() {
        return Err(Error::Network(format!("the {what} set is empty")));
    }
    if inputs.len() != labels.len() * per {
        return Err(Error::Network(format!(
            "the {what} set has {} labels but {} input values ({per} per example expected)",
            labels.len(),
            inputs.len()
        )));
    }
    if let Some(bad) = labels.iter().find(|&&l| l >= classes) {
        return Err(Error::Network(format!(
            "the {what} set has label {bad}, but the network has {classes} outputs"
        )));
    }
    Ok(())
}

/// The index of the largest value of each row of `classes` values.
pub(crate) fn argmax_rows(values: &[f32], classes: usize) -> Vec<usize> {
    values.chunks(classes.max(1)).map(super::argmax).collect()
}

/// Fraction of `labels` the network predicts.
pub(crate) fn accuracy(net: &Network, inputs: &[f32], labels: &[usize]) -> Result<f64> {
    let predicted = argmax_rows(&net.logits(inputs)?, net.outputs());
    Ok(
        predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f64
            / labels.len().max(1) as f64,
    )
}
