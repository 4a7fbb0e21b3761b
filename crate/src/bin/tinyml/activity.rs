//! `tinyml activity …`: the activity lesson (rules, features, the network, the board's IMU).

use std::path::PathBuf;

use clap::Subcommand;
use tinyml_kit::activity::{ActivityData, ActivityModel, ActivityTrainer, Method, SpeedRules};
use tinyml_kit::audit::DataAudit;
use tinyml_kit::error::{Error, Result};
use tinyml_kit::learn::ThresholdLearner;
use tinyml_kit::metrics::percent;

use crate::{print_json, DataArg};

#[derive(Subcommand)]
pub(crate) enum ActivityCmd {
    /// Write the generated activity data as CSV (the layout the board records).
    Generate {
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
        /// Number of people.
        #[arg(long, default_value_t = 12)]
        people: usize,
        /// Seconds each person does each activity.
        #[arg(long, default_value_t = 24)]
        seconds: u32,
        /// Seed: the same seed gives the same file.
        #[arg(long, default_value_t = tinyml_kit::activity::DEFAULT_SEED)]
        seed: u64,
    },
    /// Score the slides' speed rules (below A mph WALKING, below B mph RUNNING, else BIKING).
    Rules {
        /// The two limits A,B in mph.
        #[arg(long, default_value = "4,12")]
        thresholds: String,
        #[command(flatten)]
        data: DataArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Learn the rules from accelerometer features; test on people held out of training.
    Learn {
        /// tree, logistic, knn or all.
        #[arg(long, default_value = "all")]
        model: String,
        /// How many people to hold out for testing.
        #[arg(long, default_value_t = 4)]
        test_people: usize,
        /// Seed of the choice of held-out people.
        #[arg(long, default_value_t = tinyml_kit::course::SPLIT_SEED)]
        seed: u64,
        #[command(flatten)]
        data: DataArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Day 3: train the activity network the board runs (12 features → 16 → one output per
    /// activity), test it on held-out people in float and int8, and write the int8 `.tkm`
    /// (deploy it, then `tinyml monitor --sensor imu`).
    Train {
        /// The int8 model file to write.
        #[arg(long, value_name = "FILE.tkm")]
        out: PathBuf,
        /// How many people to hold out for testing.
        #[arg(long, default_value_t = 4)]
        test_people: usize,
        /// Seed of the choice of held-out people.
        #[arg(long, default_value_t = tinyml_kit::course::SPLIT_SEED)]
        seed: u64,
        #[command(flatten)]
        data: DataArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Count examples per class and person; warn about imbalance.
    Audit {
        #[command(flatten)]
        data: DataArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn activity(cmd: ActivityCmd) -> Result<()> {
    match cmd {
        ActivityCmd::Generate {
            out,
            people,
            seconds,
            seed,
        } => {
            if seconds > 3600 {
                return Err(Error::param(
                    "seconds",
                    format!("{seconds} (use up to 3600 per person and activity)"),
                ));
            }
            let data = ActivityData::generator()
                .people(people)
                .seconds_per_activity(seconds)
                .seed(seed)
                .generate()?;
            data.save_csv(&out)?;
            println!(
                "wrote {} windows ({} people) to {}",
                data.len(),
                people,
                out.display()
            );
        }
        ActivityCmd::Rules {
            thresholds,
            data,
            json,
        } => {
            let limits: Vec<f64> = thresholds
                .split(',')
                .map(|s| s.trim().parse::<f64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    Error::param(
                        "thresholds",
                        format!("'{thresholds}': give two speeds in mph, e.g. 4,12"),
                    )
                })?;
            let [walking, running] = limits[..] else {
                return Err(Error::param(
                    "thresholds",
                    format!("'{thresholds}': give exactly two speeds in mph, e.g. 4,12"),
                ));
            };
            let rules = SpeedRules::thresholds(walking, running)?;
            let eval = rules.evaluate(&data.load()?)?;
            if json {
                print_json(&eval.json());
            } else {
                println!("{}", rules.code());
                print!("{eval}");
            }
        }
        ActivityCmd::Learn {
            model,
            test_people,
            seed,
            data,
            json,
        } => {
            let data = data.load()?;
            let methods = if model == "all" {
                Method::ALL.to_vec()
            } else {
                vec![Method::parse(&model)?]
            };
            let (train, test) = data.split_by_people(test_people, seed)?;
            let mut results = Vec::new();
            for method in methods {
                let m = ActivityModel::params(method).fit(&train)?;
                let (eval, per_person) = m.evaluate_per_person(&test)?;
                if !json {
                    println!(
                        "{}: accuracy {} on held-out people {}",
                        method.name(),
                        percent(eval.accuracy()),
                        test.person_names().join(", ")
                    );
                    print!("{}", eval.confusion.table());
                    if let Some(rules) = m.rules() {
                        println!("learned rules:\n{rules}");
                    }
                    println!();
                }
                let mut j = eval.json();
                j["per_person"] = per_person.json();
                if let Some(rules) = m.rules() {
                    j["rules"] = rules.into();
                }
                results.push(j);
            }
            if json {
                print_json(
                    &serde_json::json!({ "test_people": test.person_names(), "models": results }),
                );
            }
        }
        ActivityCmd::Train {
            out,
            test_people,
            seed,
            data,
            json,
        } => {
            let (train, test) = data.load()?.split_by_people(test_people, seed)?;
            let net = ActivityTrainer::params().progress(!json).fit(&train)?;
            let int8 = net.quantize(&train)?;
            let report = net.quantization_report(&int8, &test)?;
            int8.save(&out)?;
            if json {
                let mut j = report.json();
                j["test_people"] = test.person_names().into();
                j["out"] = out.display().to_string().into();
                print_json(&j);
            } else {
                println!("held-out people: {}", test.person_names().join(", "));
                print!("{}", report.table());
                println!("wrote {}", out.display());
            }
        }
        ActivityCmd::Audit { data, json } => {
            let audit = DataAudit::of_activity(&data.load()?);
            if json {
                print_json(&audit.json());
            } else {
                print!("{}", audit.class_table());
                for w in &audit.warnings {
                    println!("warning: {w}");
                }
                if audit.warnings.is_empty() {
                    println!("no warnings: classes and people are balanced");
                }
            }
        }
    }
    Ok(())
}

/// `tinyml learn`: a threshold between two activities, learned step by step.
pub(crate) fn learn(
    data: &DataArg,
    classes: &str,
    steps: usize,
    learning_rate: f64,
    json: bool,
) -> Result<()> {
    let data = data.load()?;
    let names: Vec<&str> = classes.split(',').map(str::trim).collect();
    let [first, second] = names[..] else {
        return Err(Error::param(
            "classes",
            format!("'{classes}': give two activities, e.g. WALKING,RUNNING"),
        ));
    };
    let run = ThresholdLearner::params()
        .steps(steps)
        .learning_rate(learning_rate)
        .fit_activities(&data, first, second)?;
    if json {
        print_json(&run.json());
    } else {
        print!("{}", run.table((steps / 10).max(1)));
    }
    Ok(())
}
