//! How the digit networks do on digits that neither training nor early stopping saw, for a
//! number of shifted copies per training image.
//!
//! The real MNIST test set is not in the repository, and `tinyml digits train` reports accuracy
//! on the 500 digits it stops early on, which picks the best epoch on them (so it flatters the
//! model a little). `cargo bench -p tinyml-kit --bench digits_holdout` cuts the embedded 5,000
//! digits six ways (split seeds 11 to 16): 500 digits never seen, 500 for early stopping, and
//! 4,000 to train on, with the recipe of `tinyml digits train` (seed 1, at most 30 epochs,
//! patience 6, shifts of up to 2 pixels), and prints each split's accuracy on its unseen 500
//! for each model and number of copies. Nothing here is timed: about 5 minutes on 2 cores.

use tinyml_kit::digits::{Architecture, Digits, DigitsTrainer, Shifts};

const SPLITS: [u64; 6] = [11, 12, 13, 14, 15, 16];
const UNSEEN: usize = 500;
const EARLY_STOPPING: usize = 500;

fn main() {
    let all = Digits::course_default();
    println!(
        "accuracy on {UNSEEN} unseen digits, training on {} (split seeds {:?})",
        all.len() - UNSEEN - EARLY_STOPPING,
        SPLITS
    );
    println!("| model | shifted copies | per split | mean |");
    println!("|---|---|---|---|");
    for (arch, copies) in [
        (Architecture::Cnn, 3),
        (Architecture::Cnn, 6),
        (Architecture::Mlp, 3),
        (Architecture::Mlp, 6),
    ] {
        let mut accuracies = Vec::new();
        for split in SPLITS {
            let (rest, unseen) = all.split(UNSEEN, split).expect("5,000 digits");
            let (train, val) = rest.split(EARLY_STOPPING, 1).expect("4,500 digits");
            let augmented = train
                .augmented(&Shifts::new().copies(copies), 1)
                .expect("0 to 20 copies");
            let model = DigitsTrainer::params()
                .architecture(arch)
                .epochs(30)
                .seed(1)
                .early_stopping(6)
                .progress(false)
                .fit(&augmented, Some(&val))
                .expect("training runs");
            accuracies.push(model.evaluate(&unseen).expect("evaluates").accuracy());
        }
        let each: Vec<String> = accuracies
            .iter()
            .map(|a| format!("{:.1}%", 100.0 * a))
            .collect();
        let mean = accuracies.iter().sum::<f64>() / accuracies.len() as f64;
        println!(
            "| {} | {copies} | {} | {:.1}% |",
            arch.kind(),
            each.join(" "),
            100.0 * mean
        );
    }
}
