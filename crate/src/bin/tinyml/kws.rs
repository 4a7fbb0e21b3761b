//! `tinyml kws …` and `tinyml mfcc`: keyword spotting, from features to models, folds and voices.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use tinyml_kit::audio::{librosa_expression, Audio};
use tinyml_kit::error::{Error, Result};
use tinyml_kit::fewshot::{
    bank_plan, embedding_data, embedding_trainer, make_bank, train_embedding, BankParams,
    KwsEmbedding,
};
use tinyml_kit::kws::{
    speaker_folds, voice_curve, Augmentation, KeywordData, KwsArchitecture, KwsModel, KwsTrainer,
    SpeakerFold, SpeakerFolds, TRAIN_FOLDS,
};
use tinyml_kit::metrics::percent;
use tinyml_kit::prelude::FeatureConfig;
use tinyml_kit::quantize::QuantizedModel;

use crate::model::is_int8;
use crate::print_json;

#[derive(Args)]
pub(crate) struct KwsDataArg {
    /// A folder with one folder of WAV files per word (`DIR/<word>/<speaker>_<n>.wav`);
    /// default: the spoken digits in the repository's data/fsdd (5 speakers; or $TINYML_DATA/fsdd).
    #[arg(long, value_name = "DIR")]
    pub(crate) data: Option<PathBuf>,
}

impl KwsDataArg {
    /// The words with the kit's keyword features.
    pub(crate) fn load(&self) -> Result<KeywordData> {
        self.load_with(FeatureConfig::KEYWORDS)
    }

    /// The words with the features of a model (an int8 model carries its own), or the ones to
    /// train on; lists the files left out.
    pub(crate) fn load_with(&self, config: FeatureConfig) -> Result<KeywordData> {
        let data = match &self.data {
            Some(dir) => KeywordData::load_with(dir, config)?,
            None => KeywordData::course_default_with(config)?,
        };
        for s in data.skipped() {
            eprintln!("skipped {}: {}", s.file, s.reason);
        }
        Ok(data)
    }
}

#[derive(Args)]
pub(crate) struct KwsTrainArgs {
    /// tiny_conv, cnn or ds_cnn.
    #[arg(long, default_value = "cnn")]
    pub(crate) model: String,
    /// Passes over the training clips (default: 20; with --few-shot, 60 over the last layer).
    #[arg(long)]
    pub(crate) epochs: Option<usize>,
    /// Seed of the weights, the augmentation and the shuffling.
    #[arg(long, default_value_t = 7)]
    pub(crate) seed: u64,
    /// Altered copies of each training clip (shifted, faster or slower, with noise).
    #[arg(long, default_value_t = 3)]
    pub(crate) augment: usize,
    /// Few-shot: learn only the last layer, on the kit's keyword embedding (data/kws_embedding.tkf;
    /// five takes of a word are enough). --model is then the embedding's network.
    #[arg(long)]
    pub(crate) few_shot: bool,
    /// The keyword embedding for --few-shot (default: the kit's).
    #[arg(long, value_name = "FILE", requires = "few_shot")]
    pub(crate) embedding: Option<PathBuf>,
    /// The highest mel filter's frequency, in Hz: 4000 by default (where most of speech is); up
    /// to 8000 for words whose s, sh, ł or ts' matter (16 kHz recordings hold up to 8 kHz).
    /// Carried in the model file; the board computes the same features. (A few-shot head
    /// takes the embedding's features.)
    #[arg(long, value_name = "HZ", conflicts_with = "few_shot")]
    pub(crate) upper_hz: Option<f32>,
    /// How much audio the model hears at a time, in ms: 1000 by default; up to 1500 for words
    /// longer than a second (hágoónee'). Carried in the model file; the board listens to clips
    /// as long. (A few-shot head takes the embedding's clips.)
    #[arg(long, value_name = "MS", conflicts_with = "few_shot")]
    pub(crate) clip_ms: Option<u16>,
}

impl KwsTrainArgs {
    /// The epochs training runs.
    pub(crate) fn epochs(&self) -> usize {
        self.epochs.unwrap_or(if self.few_shot {
            tinyml_kit::kws::FEW_SHOT_EPOCHS
        } else {
            tinyml_kit::kws::KWS_EPOCHS
        })
    }

    fn trainer(&self, progress: bool) -> Result<KwsTrainer> {
        let mut trainer = KwsTrainer::params()
            .architecture(KwsArchitecture::parse(&self.model)?)
            .seed(self.seed)
            .progress(progress);
        if self.few_shot {
            let embedding = match &self.embedding {
                Some(path) => KwsEmbedding::load(path)?,
                None => KwsEmbedding::bundled()?,
            };
            trainer = trainer.few_shot(&embedding);
        }
        let trainer = trainer.epochs(self.epochs());
        trainer.check()?;
        Ok(trainer)
    }

    /// The features to train on: the kit's keyword features, up to `--upper-hz`, on clips of
    /// `--clip-ms`.
    pub(crate) fn features(&self) -> FeatureConfig {
        let keywords = FeatureConfig::KEYWORDS;
        FeatureConfig {
            fmax_hz: self.upper_hz.unwrap_or(keywords.fmax_hz),
            clip_ms: self.clip_ms.unwrap_or(keywords.clip_ms),
            ..keywords
        }
    }

    /// `data`'s words with the features to train on.
    pub(crate) fn words(&self, data: &KwsDataArg) -> Result<KeywordData> {
        data.load_with(self.features())
    }

    fn augmentation(&self) -> Augmentation {
        Augmentation::new().copies(self.augment)
    }

    pub(crate) fn augment(&self, data: &KeywordData) -> Result<KeywordData> {
        data.augmented(&self.augmentation(), self.seed)
    }
}

#[derive(Subcommand)]
pub(crate) enum KwsCmd {
    /// Make a keyword bank: made-up words spoken by espeak-ng in 24 languages and many voices,
    /// and by Festival's voices of recorded people (the words an embedding learns from; needs
    /// espeak-ng, and Festival with its voices). Run again to finish a bank.
    Bank {
        /// The bank folder (new, or a bank made with the same settings).
        #[arg(long)]
        out: PathBuf,
        /// Made-up words.
        #[arg(long, default_value_t = BankParams::new().words)]
        words: usize,
        /// Takes of each word.
        #[arg(long, default_value_t = BankParams::new().takes)]
        takes: usize,
        /// How many of each word's takes are by Festival's voices (0: espeak-ng alone;
        /// default: a third of the takes).
        #[arg(long)]
        festival_takes: Option<usize>,
        /// Seed of the words and voices.
        #[arg(long, default_value_t = BankParams::new().seed)]
        seed: u64,
        /// Print JSON: written, kept, espeak_ng, festival (the versions of those that wrote takes),
        /// seconds.
        #[arg(long)]
        json: bool,
    },
    /// Train a keyword embedding on a bank and the real voices of the spoken digits "0" to "4"
    /// (the start of --few-shot models).
    Embedding {
        /// The bank folder (`tinyml kws bank`).
        #[arg(long)]
        bank: PathBuf,
        /// Speakers of the spoken digits left out (to measure on voices it never heard).
        #[arg(long, value_delimiter = ',')]
        hold_out: Vec<String>,
        /// Passes over the bank (default: the embedding trainer's).
        #[arg(long)]
        epochs: Option<usize>,
        /// The embedding file to write.
        #[arg(long)]
        out: PathBuf,
        /// Print JSON: words, clips, held out, history, seconds.
        #[arg(long)]
        json: bool,
    },
    /// Train a keyword model and save it (float model file with its feature configuration).
    Train {
        #[command(flatten)]
        data: KwsDataArg,
        /// The words to recognise; every other word becomes "unknown" (default: every word).
        #[arg(long, value_delimiter = ',')]
        keywords: Vec<String>,
        /// Do not add an "unknown" class of other words (the kit's spoken digits) to a folder
        /// of your own words that has none.
        #[arg(long)]
        no_unknown: bool,
        /// Do not add a "silence" class (background noise, or generated room noise) to a folder
        /// of your own words that has none.
        #[arg(long)]
        no_silence: bool,
        /// Speakers held out of training, to report accuracy on voices the model never heard.
        /// Without it, data of three voices or more is tested by folds: each voice (or, past
        /// three, each of three groups of voices) held out in turn, one more model each.
        #[arg(long, value_delimiter = ',')]
        test_speakers: Vec<String>,
        /// Skip the folds (train the one model only).
        #[arg(long, conflicts_with = "test_speakers")]
        no_folds: bool,
        #[command(flatten)]
        train: KwsTrainArgs,
        /// Model file to write.
        #[arg(long)]
        out: PathBuf,
        /// Print JSON (history, test accuracy when speakers are held out, the folds).
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a saved model (float .tkf, or int8 .tkm through the board's interpreter):
    /// accuracy overall, per word and per speaker.
    Eval {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: KwsDataArg,
        /// Print JSON: accuracy, n, labels, confusion, per_class, per_speaker.
        #[arg(long)]
        json: bool,
    },
    /// What a saved model (float .tkf or int8 .tkm) hears in one recording.
    Predict {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// A WAV file (any rate; its loudest clip, as long as the model's, is used).
        wav: PathBuf,
        /// Print JSON: label and probabilities.
        #[arg(long)]
        json: bool,
    },
    /// Leave one speaker out: train on the others, test on them, for every speaker.
    Folds {
        #[command(flatten)]
        data: KwsDataArg,
        #[command(flatten)]
        train: KwsTrainArgs,
        /// Print JSON: accuracy per held-out speaker and the mean.
        #[arg(long)]
        json: bool,
    },
    /// Accuracy on a voice never heard against the number of voices trained on (each speaker
    /// held out in turn; 75 models for five speakers, about 20 minutes).
    Voices {
        #[command(flatten)]
        data: KwsDataArg,
        #[command(flatten)]
        train: KwsTrainArgs,
        /// Only these speakers (2 to 6; default: every speaker of the data).
        #[arg(long, value_delimiter = ',')]
        speakers: Vec<String>,
        /// Also write the figure (PNG and SVG) into this folder.
        #[arg(long)]
        figures: Option<PathBuf>,
        /// Print JSON: `points` (per number of voices) and `runs` (every model).
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn mfcc(
    file: &Path,
    clip: bool,
    save_clip: Option<&Path>,
    log_mel: bool,
    json: bool,
) -> Result<()> {
    let mut config = FeatureConfig::KEYWORDS;
    if log_mel {
        config.num_mfcc = 0;
    }
    let audio = Audio::load(file)?;
    let audio = if clip {
        audio.keyword_clip(&config)?
    } else if audio.sample_rate_hz() != config.sample_rate_hz {
        return Err(Error::Audio {
            path: file.to_path_buf(),
            message: format!(
                "{} Hz audio; the keyword features are {} Hz: pass --clip to resample it (and --save-clip FILE to keep the prepared clip for librosa)",
                audio.sample_rate_hz(),
                config.sample_rate_hz
            ),
        });
    } else {
        audio
    };
    if let Some(path) = save_clip {
        audio.save_f32(path)?;
    }
    let features = audio.features(&config)?;
    let expression = librosa_expression(&config);
    if json {
        let rows: Vec<&[f32]> = features.values.chunks(features.coefficients).collect();
        print_json(&serde_json::json!({
            "file": file,
            "prepared": clip,
            "config": config,
            "frames": features.frames,
            "coefficients": features.coefficients,
            "features": rows,
            "librosa": expression,
        }));
    } else {
        println!(
            "{}: {} frames × {} {} ({:.2} s at {} Hz)",
            file.display(),
            features.frames,
            features.coefficients,
            if log_mel {
                "log-mel energies (dB)"
            } else {
                "MFCCs"
            },
            audio.duration_s(),
            audio.sample_rate_hz()
        );
        for (f, row) in features.values.chunks(features.coefficients).enumerate() {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:8.2}")).collect();
            println!("{f:3} {}", cells.join(""));
        }
        println!("librosa (y, sr = librosa.load(FILE, sr=None)):\n  {expression}");
    }
    Ok(())
}

pub(crate) fn kws(cmd: KwsCmd) -> Result<()> {
    match cmd {
        KwsCmd::Bank {
            out,
            words,
            takes,
            festival_takes,
            seed,
            json,
        } => {
            let plan = bank_plan(&BankParams {
                words,
                takes,
                festival_takes: festival_takes
                    .unwrap_or_else(|| BankParams::festival_takes_of(takes)),
                seed,
            })?;
            let report = make_bank(&plan, &out, !json)?;
            if json {
                print_json(&serde_json::to_value(&report).expect("a report serialises"));
            } else {
                let engines: Vec<String> = [report.espeak_ng, report.festival]
                    .into_iter()
                    .flatten()
                    .collect();
                let by = match engines.is_empty() {
                    true => String::new(),
                    false => format!(" by {}", engines.join(" and ")),
                };
                println!(
                    "bank {}: {} words × {} takes ({} written, {} already there){by} in {:.0} s",
                    out.display(),
                    words,
                    takes,
                    report.written,
                    report.kept,
                    report.seconds
                );
            }
        }
        KwsCmd::Embedding {
            bank,
            hold_out,
            epochs,
            out,
            json,
        } => {
            let started = std::time::Instant::now();
            let mut trainer = embedding_trainer().progress(!json);
            if let Some(epochs) = epochs {
                trainer = trainer.epochs(epochs);
            }
            trainer.check()?;
            let held: Vec<&str> = hold_out.iter().map(String::as_str).collect();
            let data = embedding_data(&bank, &held)?;
            let embedding = train_embedding(&data, &trainer)?;
            embedding.save(&out)?;
            let seconds = started.elapsed().as_secs_f64();
            if json {
                print_json(&serde_json::json!({
                    "words": embedding.words(),
                    "clips": data.len(),
                    "held_out": held,
                    "parameters": embedding.model.parameter_count(),
                    "history": embedding.model.history,
                    "seconds": seconds,
                    "out": out,
                }));
            } else {
                println!(
                    "saved {}: an embedding of {} words ({} clips, {} parameters) in {:.0} s",
                    out.display(),
                    embedding.words(),
                    data.len(),
                    embedding.model.parameter_count(),
                    seconds
                );
            }
        }
        KwsCmd::Train {
            data,
            keywords,
            no_unknown,
            no_silence,
            test_speakers,
            no_folds,
            train,
            out,
            json,
        } => {
            let trainer = train
                .trainer(false)?
                .unknown(!no_unknown)
                .silence(!no_silence);
            let mut all = train.words(&data)?;
            if !keywords.is_empty() {
                let words: Vec<&str> = keywords.iter().map(String::as_str).collect();
                all = all.with_keywords(&words, train.seed)?;
            }
            all.check_takes()?;
            let held: Vec<&str> = test_speakers.iter().map(String::as_str).collect();
            let (fit_on, test) = if held.is_empty() {
                (all, None)
            } else {
                let (a, b) = all.split_by_speaker(&held)?;
                (a, Some(b))
            };
            // Voices the model never heard, when none are named: folds, before the model
            // (each says its result as it ends).
            let folds = if held.is_empty() && !no_folds && fit_on.voice_names().len() >= 3 {
                if !json {
                    eprintln!(
                        "testing on voices never heard: {} folds, then the model on every voice \
                         (--no-folds skips them)",
                        fit_on.voice_names().len().min(TRAIN_FOLDS)
                    );
                }
                Some(speaker_folds(
                    &fit_on,
                    &trainer.clone().progress(!json),
                    &train.augmentation(),
                    train.seed,
                    TRAIN_FOLDS,
                )?)
            } else {
                None
            };
            let augmented = train.augment(&fit_on)?;
            let spotting = augmented.with_others(!no_unknown, !no_silence, train.seed)?;
            if !json {
                for note in &spotting.notes[augmented.notes.len()..] {
                    eprintln!("{note}");
                }
            }
            let model = trainer.progress(!json).fit(&spotting, None)?;
            model.save(&out)?;
            let test_eval = test.as_ref().map(|t| model.evaluate(t)).transpose()?;
            if json {
                print_json(&serde_json::json!({
                    "model": train.model,
                    "labels": model.labels,
                    "train_clips": fit_on.len(),
                    "augmented_copies": train.augment,
                    "added": &spotting.notes[augmented.notes.len()..],
                    "parameters": model.parameter_count(),
                    "history": model.history,
                    "test": test_eval.as_ref().map(|e| e.json()),
                    "folds": folds.as_ref().map(SpeakerFolds::json),
                    "out": out,
                }));
            } else {
                println!(
                    "saved {} ({} parameters, labels {})",
                    out.display(),
                    model.parameter_count(),
                    model.labels.join(", ")
                );
                if let Some(e) = test_eval {
                    println!(
                        "accuracy {} on {} clips of speakers never heard in training ({})",
                        percent(e.accuracy()),
                        e.overall.confusion.total(),
                        held.join(", ")
                    );
                }
                if let Some(folds) = folds {
                    println!(
                        "accuracy on voices never heard, {} folds: {} (int8 {})",
                        folds.folds.len(),
                        percent(folds.mean()),
                        percent(folds.int8_mean())
                    );
                    print!("{}", folds.table());
                }
            }
        }
        KwsCmd::Eval { model, data, json } => {
            let eval = if is_int8(&model)? {
                let q = QuantizedModel::load(&model)?;
                q.evaluate_keywords(&data.load_with(q.keyword_config()?)?)?
            } else {
                let m = KwsModel::load(&model)?;
                m.evaluate(&data.load_with(m.config()?)?)?
            };
            if json {
                print_json(&eval.json());
            } else {
                println!(
                    "accuracy {} on {} clips of {}",
                    percent(eval.accuracy()),
                    eval.overall.confusion.total(),
                    eval.overall.data
                );
                print!("{}", eval.overall.confusion.table());
                print!("{}", eval.per_speaker.table());
                for w in &eval.per_speaker.warnings {
                    println!("warning: {w}");
                }
            }
        }
        KwsCmd::Predict { model, wav, json } => {
            let audio = Audio::load(&wav)?;
            let p = if is_int8(&model)? {
                QuantizedModel::load(&model)?.predict_keyword(&audio)?
            } else {
                KwsModel::load(&model)?.predict(&audio)?
            };
            if json {
                print_json(&serde_json::to_value(&p).unwrap_or_default());
            } else {
                println!("{}: \"{}\"", wav.display(), p.label);
                for (label, prob) in &p.probabilities {
                    println!("  {label:>10} {:5.1}%", 100.0 * prob);
                }
            }
        }
        KwsCmd::Voices {
            data,
            train,
            speakers,
            figures,
            json,
        } => {
            let trainer = train.trainer(false)?;
            let mut all = train.words(&data)?;
            if !speakers.is_empty() {
                let keep: Vec<&str> = speakers.iter().map(String::as_str).collect();
                all = all.with_voices(&keep)?;
            }
            // Fail now, not after the training, when the figures cannot be written.
            if let Some(dir) = &figures {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            let curve = voice_curve(&all, &trainer, &train.augmentation(), train.seed)?;
            if json {
                print_json(&curve.json());
            } else {
                print!("{}", curve.table());
            }
            if let Some(dir) = figures {
                let (png, _) = curve.figure().save(&dir, "kws-voices")?;
                eprintln!("wrote {}", png.display());
            }
        }
        KwsCmd::Folds { data, train, json } => {
            // Every voice its own fold.
            let trainer = train.trainer(false)?.progress(!json);
            let all = train.words(&data)?;
            let folds = speaker_folds(
                &all,
                &trainer,
                &train.augmentation(),
                train.seed,
                usize::MAX,
            )?;
            if json {
                let per = |value: fn(&SpeakerFold) -> serde_json::Value| {
                    folds
                        .folds
                        .iter()
                        .map(|f| (f.test_speakers.join(","), value(f)))
                        .collect::<serde_json::Map<_, _>>()
                };
                print_json(&serde_json::json!({
                    "per_speaker": per(|f| f.float_accuracy.into()),
                    "mean": folds.mean(),
                    "int8_per_speaker": per(|f| f.int8_accuracy.into()),
                    "int8_mean": folds.int8_mean(),
                    "disagreements": per(|f| f.disagreements.into()),
                    "model": train.model,
                    "epochs": train.epochs(),
                    "augment": train.augment,
                }));
            } else {
                print!("{}", folds.table());
            }
        }
    }
    Ok(())
}
