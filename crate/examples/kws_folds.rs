use std::time::Instant;
use tinyml_kit::prelude::*;
fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arch = KwsArchitecture::parse(&args[1])?;
    let epochs: usize = args[2].parse().unwrap();
    let copies: usize = args.get(3).map_or(0, |a| a.parse().unwrap());
    let t = Instant::now();
    let mut config = FeatureConfig::KEYWORDS;
    if let Ok(m) = std::env::var("EXP_MFCC") {
        config.num_mfcc = m.parse().unwrap();
    }
    if let Ok(m) = std::env::var("EXP_MELS") {
        config.num_mel_bins = m.parse().unwrap();
    }
    let data = KeywordData::load_with(tinyml_kit::kws::default_dir(), config)?;
    eprintln!(
        "load {:.1}s, {} clips",
        t.elapsed().as_secs_f64(),
        data.len()
    );
    let trainer = KwsTrainer::params()
        .architecture(arch)
        .epochs(epochs)
        .progress(false)
        .clip_mean_normalization(std::env::var("EXP_CMN").is_ok());
    let mut accs = vec![];
    for speaker in data.speaker_names() {
        let t = Instant::now();
        let (train, test) = data.split_by_speaker(&[speaker.as_str()])?;
        let train = if copies > 0 {
            train.augmented(
                &Augmentation::new()
                    .copies(copies)
                    .speed(std::env::var("EXP_SPEED").map_or(0.15, |v| v.parse().unwrap())),
                1,
            )?
        } else {
            train
        };
        let model = trainer.fit(&train, None)?;
        let acc = model.evaluate(&test)?.accuracy();
        let h = model.history.as_ref().unwrap();
        eprintln!(
            "  train acc {:.3} loss {:.3}",
            h.epochs.last().unwrap().train_accuracy,
            h.epochs.last().unwrap().loss
        );
        eprintln!(
            "{speaker}: {:.1}% ({:.1}s, {} params)",
            100.0 * acc,
            t.elapsed().as_secs_f64(),
            model.parameter_count()
        );
        accs.push(acc);
    }
    eprintln!(
        "mean {:.1}%",
        100.0 * accs.iter().sum::<f64>() / accs.len() as f64
    );
    Ok(())
}
