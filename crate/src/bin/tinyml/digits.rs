//! `tinyml digits …`: the handwritten digits lesson.

use std::path::PathBuf;

use clap::Subcommand;
use tinyml_kit::digits::{Architecture, Digits, DigitsModel, DigitsTrainer, MnistSet, Shifts};
use tinyml_kit::error::{Error, Result};
use tinyml_kit::metrics::percent;
use tinyml_kit::quantize::QuantizedModel;

use crate::model::is_int8;
use crate::print_json;

#[derive(Subcommand)]
pub(crate) enum DigitsCmd {
    /// Train a digits model and save it (float model file).
    Train {
        /// MNIST IDX folder or CSV file (default: the embedded 5,000 digits).
        #[arg(long, value_name = "DIR|FILE")]
        data: Option<PathBuf>,
        /// mlp or cnn.
        #[arg(long, default_value = "cnn")]
        model: String,
        /// Most passes over the training images (training stops earlier when validation
        /// accuracy has not improved for 6 epochs, keeping the best epoch).
        #[arg(long, default_value_t = 30)]
        epochs: usize,
        /// Seed of the weights, the validation split and the shuffling.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Images held out of training to report validation accuracy.
        #[arg(long, default_value_t = 500)]
        validation: usize,
        /// Shifted copies (up to 2 pixels) of each training image added to the training set.
        #[arg(long, default_value_t = 6)]
        augment: usize,
        /// Model file to write.
        #[arg(long)]
        out: PathBuf,
        /// Print JSON (the training history and validation accuracy) instead of progress.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a saved model (float .tkf, or int8 .tkm through the board's interpreter):
    /// accuracy and confusion matrix.
    Eval {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// MNIST IDX folder (its t10k test set when present) or CSV file (default: the embedded 5,000).
        #[arg(long, value_name = "DIR|FILE")]
        data: Option<PathBuf>,
        /// Print JSON: accuracy, n, confusion.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn digits(cmd: DigitsCmd) -> Result<()> {
    let load = |data: &Option<PathBuf>, set: MnistSet| match data {
        Some(path) => Digits::load(path, set),
        None => Ok(Digits::course_default()),
    };
    match cmd {
        DigitsCmd::Train {
            data,
            model,
            epochs,
            seed,
            validation,
            augment,
            out,
            json,
        } => {
            let trainer = DigitsTrainer::params()
                .architecture(Architecture::parse(&model)?)
                .epochs(epochs)
                .seed(seed)
                .early_stopping(6)
                .progress(!json);
            trainer.check()?;
            let shifts = Shifts::new().copies(augment);
            shifts.check()?;
            let all = load(&data, MnistSet::Train)?;
            let (train, val) = all.split(validation, seed).map_err(|_| {
                Error::param(
                    "validation",
                    format!(
                        "{validation}: hold out 1 to {} of the {} images",
                        all.len().saturating_sub(1),
                        all.len()
                    ),
                )
            })?;
            let m = trainer.fit(&train.augmented(&shifts, seed)?, Some(&val))?;
            let history = m.history.as_ref().expect("a trained model has a history");
            m.save(&out)?;
            let acc = m.evaluate(&val)?.accuracy();
            if json {
                print_json(
                    &serde_json::json!({ "model": model, "train": train.len(), "validation": val.len(), "validation_accuracy": acc, "history": history, "out": out }),
                );
            } else {
                println!(
                    "kept epoch {}: validation accuracy {} on {} images; saved {} ({} parameters)",
                    history.kept_epoch,
                    percent(acc),
                    val.len(),
                    out.display(),
                    m.parameter_count()
                );
            }
        }
        DigitsCmd::Eval { model, data, json } => {
            if data.is_none() && !json {
                println!("note: scoring the embedded 5,000 digits, which `tinyml digits train` trains on by default; pass --data with the MNIST test set (`tinyml data fetch mnist`) for an honest score");
            }
            let eval = if is_int8(&model)? {
                QuantizedModel::load(&model)?.evaluate_digits(&load(&data, MnistSet::Test)?)?
            } else {
                DigitsModel::load(&model)?.evaluate(&load(&data, MnistSet::Test)?)?
            };
            if json {
                print_json(&eval.json());
            } else {
                println!(
                    "accuracy {} on {} images of {}",
                    percent(eval.accuracy()),
                    eval.confusion.total(),
                    eval.data
                );
                print!("{}", eval.confusion.table());
            }
        }
    }
    Ok(())
}
