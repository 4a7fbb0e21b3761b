//! The notebooks' exercises and their checks: each check says "right", "not yet" with a hint,
//! or "no answer yet" while the student's cell is as the notebook ships it.
//!
//! A check never passes on an untouched notebook: the shipped answer cells hold `None`, the
//! slides' rules, `turns = 0` or the default setting, and the check says what to change.
//!
//! ```
//! use tinyml_kit::exercise::{check_search_turns, Feedback};
//! assert!(matches!(check_search_turns(0), Feedback::NoAnswer(_)));
//! assert!(matches!(check_search_turns(10), Feedback::NotYet(_)));
//! assert!(check_search_turns(9).is_right());
//! ```

use std::fmt;

use tinyml_core::mfcc::FeatureConfig;

use crate::activity::{ActivityData, SpeedRules};
use crate::device::{watch, ImuRecording, Listening};
use crate::digits::{Architecture, Digits, DigitsModel};
use crate::error::Result;
use crate::ideas::Neuron;
use crate::kws::{KeywordData, KwsArchitecture, KwsModel, UPPER_HZ_FRICATIVES};
use crate::learn::ThresholdLearner;
use crate::metrics::percent;
use crate::nn::Network;
use crate::plot::display_content;
use crate::quantize::QuantizedModel;
use crate::recorder::html_escape;
use crate::search::deep_blue;
use crate::stream::WordStream;

/// What a check says about an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feedback {
    /// The answer is right; the text says why it matters.
    Right(String),
    /// The answer is not right yet; the text is a hint.
    NotYet(String),
    /// The answer cell is still as the notebook ships it; the text says what to do.
    NoAnswer(String),
}

impl Feedback {
    /// True for [`Feedback::Right`].
    pub fn is_right(&self) -> bool {
        matches!(self, Feedback::Right(_))
    }

    /// Shows the feedback in Jupyter, in a coloured box.
    pub fn evcxr_display(&self) {
        let (color, text) = match self {
            Feedback::Right(_) => ("#2ca02c", self.to_string()),
            Feedback::NotYet(_) => ("#ff7f0e", self.to_string()),
            Feedback::NoAnswer(_) => ("#7f7f7f", self.to_string()),
        };
        let html = format!(
            "<div style=\"border-left: 6px solid {color}; padding: 6px 10px; \
             background: #fafafa\">{}</div>",
            html_escape(&text)
        );
        display_content("text/html", &html);
    }
}

impl fmt::Display for Feedback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Feedback::Right(text) => write!(f, "Right! {text}"),
            Feedback::NotYet(text) => write!(f, "Not yet: {text}"),
            Feedback::NoAnswer(text) => write!(f, "No answer yet: {text}"),
        }
    }
}

/// Exercise 1 of Day 1 (rules vs learning): the accuracy hand-written rules must beat.
pub const RULES_GOAL: f64 = 0.75;

/// Day 1, exercise 1: rules better than the slides' (more than [`RULES_GOAL`] right).
pub fn check_rules(rules: &SpeedRules, data: &ActivityData) -> Result<Feedback> {
    if *rules == SpeedRules::slides() {
        return Ok(Feedback::NoAnswer(
            "these are the slides' rules: move the limits and add a GOLFING rule".into(),
        ));
    }
    let mine = rules.evaluate(data)?.accuracy();
    let slides = SpeedRules::slides().evaluate(data)?.accuracy();
    Ok(if mine > RULES_GOAL {
        Feedback::Right(format!(
            "your rules get {} right, the slides' {}.",
            percent(mine),
            percent(slides)
        ))
    } else {
        Feedback::NotYet(format!(
            "{} (the slides' rules: {}; the goal: more than {}). Golfers are slower than \
             about 1.5 mph, and bikes can go slower than 12 mph: look at the histogram.",
            percent(mine),
            percent(slides),
            percent(RULES_GOAL)
        ))
    })
}

/// Day 1, exercise 2: the most turns a billion-positions-a-second computer searches in a day
/// (`turns` = 0: no answer yet).
pub fn check_search_turns(turns: u32) -> Feedback {
    if turns == 0 {
        return Feedback::NoAnswer("change `turns` from 0 and run the cell again".into());
    }
    let fits = |t: u32| deep_blue(35.0, t, 1e9).days() <= 1.0;
    let answer = (1..40).take_while(|&t| fits(t)).last().unwrap_or(0);
    let cost = deep_blue(35.0, turns, 1e9);
    if turns == answer {
        Feedback::Right(format!(
            "{turns} turns take {}; one more turn takes {}.",
            cost.human_time(),
            deep_blue(35.0, turns + 1, 1e9).human_time()
        ))
    } else if turns > answer {
        Feedback::NotYet(format!(
            "{turns} turns take {}: more than a day. Try fewer.",
            cost.human_time()
        ))
    } else {
        Feedback::NotYet(format!(
            "{turns} turns take {}: there is time for more. Try more.",
            cost.human_time()
        ))
    }
}

/// Day 1, exercise 3: a learning rate other than the default that learns the WALKING/RUNNING
/// limit in 60 steps as well as the default does.
pub fn check_learning_rate(rate: f64, data: &ActivityData) -> Result<Feedback> {
    let default = ThresholdLearner::params();
    if default == ThresholdLearner::params().learning_rate(rate) {
        return Ok(Feedback::NoAnswer(
            "`rate` is still the default 0.5: try 0.05 and 5.0".into(),
        ));
    }
    let baseline = default
        .fit_activities(data, "WALKING", "RUNNING")?
        .final_step();
    let run = ThresholdLearner::params()
        .learning_rate(rate)
        .fit_activities(data, "WALKING", "RUNNING")?;
    let last = run.final_step();
    if last.mistakes <= baseline.mistakes {
        return Ok(Feedback::Right(format!(
            "with {rate} the model makes {} mistakes after 60 steps (the default: {}).",
            last.mistakes, baseline.mistakes
        )));
    }
    // Still falling at the end: too small. Going up on the way: too big.
    let losses: Vec<f64> = run.steps.iter().map(|s| s.loss).collect();
    let rose = losses.windows(2).any(|w| w[1] > w[0] + 1e-9);
    let why = if rose {
        "the loss went up on the way: steps this big jump past the best limit"
    } else {
        "the loss is still falling: steps this small need many more than 60"
    };
    Ok(Feedback::NotYet(format!(
        "{} mistakes after 60 steps with {rate} (the default 0.5: {}); {why}.",
        last.mistakes, baseline.mistakes
    )))
}

/// Day 1 (neural networks), exercise 1: the neuron's output for `inputs`, worked out by hand.
pub fn check_neuron_output(
    answer: Option<f64>,
    neuron: &Neuron,
    inputs: &[f64],
) -> Result<Feedback> {
    let step = neuron.explain(inputs)?;
    let Some(answer) = answer else {
        return Ok(Feedback::NoAnswer(
            "write your number as Some(…), for example Some(2.5)".into(),
        ));
    };
    let close = |x: f64| (answer - x).abs() < 0.01;
    Ok(if close(step.output) {
        Feedback::Right(format!("{step}."))
    } else if close(step.sum) {
        Feedback::NotYet(format!(
            "{answer} is the sum; the neuron's output is ReLU of the sum (a negative sum \
             becomes 0)."
        ))
    } else if close(step.sum - step.bias) {
        Feedback::NotYet(format!("{answer} leaves out the bias: add it to the sum."))
    } else {
        Feedback::NotYet(
            "multiply each input by its weight, add the products and the bias, then ReLU \
             (below zero becomes 0)."
                .into(),
        )
    })
}

/// Day 1 (neural networks), exercise 2: the number of weights and biases of `network`.
pub fn check_parameter_count(answer: Option<usize>, network: &Network) -> Feedback {
    let Some(answer) = answer else {
        return Feedback::NoAnswer("write your count as Some(…), for example Some(1000)".into());
    };
    let total = network.parameter_count();
    let biases = network.bias_count();
    if answer == total {
        Feedback::Right(format!(
            "{total} numbers, each learned by training; as 32-bit floats, {} KB.",
            total * 4 / 1024
        ))
    } else if answer == total - biases {
        Feedback::NotYet(format!(
            "{answer} counts the weights; every neuron also has a bias ({biases} more)."
        ))
    } else {
        Feedback::NotYet(
            "each neuron has one weight per input and one bias: 784 × 128 + 128 for the \
             hidden layer, then the same for the output layer."
                .into(),
        )
    }
}

/// Day 1 (neural networks): the accuracy the MLP must beat.
pub const MLP_GOAL: f64 = 0.95;

/// Day 1 (neural networks), exercise 3: an MLP better than [`MLP_GOAL`] on `validation`.
pub fn check_mlp(model: Option<&DigitsModel>, validation: &Digits) -> Result<Feedback> {
    let Some(model) = model else {
        return Ok(Feedback::NoAnswer(
            "train your MLP, then put it in `my_mlp` as Some(model)".into(),
        ));
    };
    if model.architecture != Architecture::Mlp {
        return Ok(Feedback::NotYet(
            "that is not an MLP: the exercise asks for an MLP (Architecture::Mlp)".into(),
        ));
    }
    let accuracy = model.evaluate(validation)?.accuracy();
    Ok(if accuracy > MLP_GOAL {
        Feedback::Right(format!("{} on the validation images.", percent(accuracy)))
    } else {
        Feedback::NotYet(format!(
            "{} (goal: more than {}). Try augmented images (train.augmented(&Shifts::new().copies(2), 1)?) \
             and more epochs, with .early_stopping(5) to keep the best one.",
            percent(accuracy),
            percent(MLP_GOAL)
        ))
    })
}

/// Day 2, exercise 1: the keyword features with their mel filters up to
/// [`UPPER_HZ_FRICATIVES`] (8 kHz), the rest as the course's.
pub fn check_fmax(config: &FeatureConfig) -> Feedback {
    let course = FeatureConfig::KEYWORDS;
    if *config == course {
        return Feedback::NoAnswer("set fmax_hz to 8 kHz in `my_config`".into());
    }
    if config.fmax_hz > config.sample_rate_hz as f32 / 2.0 {
        return Feedback::NotYet(format!(
            "{} Hz is too high: a recording of {} numbers a second holds sounds up to half \
             that, {} Hz.",
            config.fmax_hz,
            config.sample_rate_hz,
            config.sample_rate_hz / 2
        ));
    }
    if let Err(e) = config.validate() {
        return Feedback::NotYet(format!(
            "the board would refuse these settings ({e:?}): keep the course's and change only \
             fmax_hz."
        ));
    }
    let same_rest = FeatureConfig {
        fmax_hz: course.fmax_hz,
        ..*config
    } == course;
    if config.fmax_hz == UPPER_HZ_FRICATIVES && same_rest {
        Feedback::Right(
            "the filters now reach 8 kHz, where the hiss of s, sh and ł is; the picture keeps \
             its 49 × 13 numbers, so the same CNN trains on it."
                .into(),
        )
    } else if !same_rest {
        Feedback::NotYet(
            "change only fmax_hz; `..config` keeps the other settings as they were.".into(),
        )
    } else {
        Feedback::NotYet(format!(
            "fmax_hz is {} Hz; the exercise asks for 8,000 (write 8_000.0).",
            config.fmax_hz
        ))
    }
}

/// Day 2, exercise 2: an honest test on a speaker other than george: no voice both in `train`
/// and in `test`.
pub fn check_speaker_split(train: &KeywordData, test: &KeywordData) -> Feedback {
    let test_voices = test.voice_names();
    if test_voices == ["george"] {
        return Feedback::NoAnswer("george is the one above: choose another speaker".into());
    }
    let train_voices = train.voice_names();
    let both: Vec<&String> = test_voices
        .iter()
        .filter(|v| train_voices.contains(v))
        .collect();
    if test_voices.is_empty() {
        Feedback::NotYet("the test data has no voices".into())
    } else if !both.is_empty() {
        Feedback::NotYet(format!(
            "{} in both training and test: the model has heard the voice it is tested on. \
             Split by speaker (split_by_speaker), not by clip.",
            both.iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else {
        Feedback::Right(format!(
            "the model is tested on {}, a voice it never heard. Train on the other voices \
             and evaluate on this one to see how it does.",
            test_voices.join(", ")
        ))
    }
}

/// Day 2, exercise 3: the accuracy a trained tiny_conv must reach on the test voice (chance is
/// one in ten).
pub const TINY_CONV_GOAL: f64 = 0.4;

/// Day 2, exercise 3: the tiny_conv trained instead of the CNN, better than [`TINY_CONV_GOAL`]
/// on `test`.
pub fn check_tiny_conv(model: Option<&KwsModel>, test: &KeywordData) -> Result<Feedback> {
    let Some(model) = model else {
        return Ok(Feedback::NoAnswer(
            "train a tiny_conv, then put it in `my_tiny` as Some(model)".into(),
        ));
    };
    if model.architecture != KwsArchitecture::TinyConv {
        return Ok(Feedback::NotYet(format!(
            "that model is a {:?}: add .architecture(KwsArchitecture::TinyConv) to the trainer",
            model.architecture
        )));
    }
    let accuracy = model.evaluate(test)?.accuracy();
    let voices = test.voice_names().join(", ");
    Ok(if accuracy > TINY_CONV_GOAL {
        Feedback::Right(format!(
            "a tiny_conv of {} weights and biases gets {} on {voices}; compare it with the CNN \
             above.",
            model.parameter_count(),
            percent(accuracy)
        ))
    } else {
        Feedback::NotYet(format!(
            "{} on {voices} (goal: more than {}): train it for more epochs (8 or more).",
            percent(accuracy),
            percent(TINY_CONV_GOAL)
        ))
    })
}

/// Day 3, exercise 1: how many chunks of 512 bytes a deploy of `model` sends.
pub fn check_chunks(answer: Option<usize>, model: &QuantizedModel) -> Feedback {
    let Some(answer) = answer else {
        return Feedback::NoAnswer("write your count as Some(…)".into());
    };
    let bytes = model.size_bytes();
    let chunks = bytes.div_ceil(tinyml_core::protocol::MAX_CHUNK);
    if answer == chunks {
        Feedback::Right(format!(
            "{bytes} bytes in {chunks} chunks; the last one holds {} bytes.",
            bytes - (chunks - 1) * tinyml_core::protocol::MAX_CHUNK
        ))
    } else if answer + 1 == chunks {
        Feedback::NotYet("the bytes left over need one more chunk: round up.".into())
    } else {
        Feedback::NotYet(format!(
            "the model is {bytes} bytes (the table above): divide by 512 and round up."
        ))
    }
}

/// The recognizer's threshold in the course (Day 3, exercise 2 changes it).
pub const COURSE_THRESHOLD: f64 = 0.8;

/// Day 3, exercise 2: the false alarms in `listening` (heard at `threshold`) of `stream`,
/// counted by the student.
pub fn check_false_alarms(
    answer: Option<usize>,
    threshold: f64,
    listening: &Listening,
    stream: &WordStream,
) -> Feedback {
    if (threshold - COURSE_THRESHOLD).abs() < 1e-9 {
        return Feedback::NoAnswer("change `my_threshold` from 0.8 first (try 0.5 or 0.3)".into());
    }
    let Some(answer) = answer else {
        return Feedback::NoAnswer("write your count as Some(…)".into());
    };
    let score = stream.score(listening);
    if answer == score.false_alarms {
        Feedback::Right(format!(
            "at {threshold}: {} false alarm(s), and {} of the {} words heard. A lower \
             threshold hears more words and raises more false alarms.",
            score.false_alarms, score.heard, score.said
        ))
    } else {
        Feedback::NotYet(
            "each report comes from the second of sound before its time. It is a false alarm \
             when that word was not being said in that second, or was reported already: \
             compare each report with the times the words were said."
                .into(),
        )
    }
}

/// Day 3, exercise 3: the activity the board's code felt most often in a recording of
/// `played` (any activity but RUNNING, which the notebook shows).
pub fn check_felt_most(
    answer: Option<&str>,
    played: &str,
    model: &QuantizedModel,
    data: &ActivityData,
) -> Result<Feedback> {
    if played == "RUNNING" {
        return Ok(Feedback::NoAnswer(
            "RUNNING is the one above: play \"BIKING\" or \"GOLFING\"".into(),
        ));
    }
    let Some(answer) = answer else {
        return Ok(Feedback::NoAnswer(
            "write the activity as Some(\"…\")".into(),
        ));
    };
    let seen = watch(model, &ImuRecording::from_activity(data, played)?)?;
    let most = most_heard(&seen);
    if most.is_empty() {
        return Ok(Feedback::NotYet(
            "the board felt nothing: watch for longer".into(),
        ));
    }
    Ok(match most.iter().find(|m| m.eq_ignore_ascii_case(answer)) {
        Some(felt) if felt == played => Feedback::Right(format!(
            "the board felt {felt} most often while {played} was played."
        )),
        Some(felt) => Feedback::Right(format!(
            "the board felt {felt} most often while {played} was played: a mistake the model \
             makes, worth a look at its confusion table."
        )),
        None => Feedback::NotYet(format!(
            "count how often each activity appears in the table: {answer} is not the one felt \
             most often."
        )),
    })
}

/// The labels reported in the most windows (more than one when they tie).
fn most_heard(listening: &Listening) -> Vec<String> {
    let heard = listening.heard();
    let count = |label: &str| heard.iter().filter(|h| h.1 == label).count();
    let most = heard.iter().map(|h| count(&h.1)).max().unwrap_or(0);
    let mut labels: Vec<String> = heard
        .iter()
        .filter(|h| count(&h.1) == most)
        .map(|h| h.1.clone())
        .collect();
    labels.sort();
    labels.dedup();
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_check_waits_for_changed_rules_and_knows_better_ones() {
        let data = ActivityData::course_default();
        assert!(matches!(
            check_rules(&SpeedRules::slides(), &data).unwrap(),
            Feedback::NoAnswer(_)
        ));
        let worse = SpeedRules::new().below(2.0, "WALKING").otherwise("RUNNING");
        assert!(matches!(
            check_rules(&worse, &data).unwrap(),
            Feedback::NotYet(_)
        ));
        let better = SpeedRules::new()
            .below(1.5, "GOLFING")
            .below(4.5, "WALKING")
            .below(9.5, "RUNNING")
            .otherwise("BIKING");
        let feedback = check_rules(&better, &data).unwrap();
        assert!(feedback.is_right(), "{feedback}");
    }

    #[test]
    fn the_search_check_knows_nine_turns_fit_in_a_day() {
        assert!(matches!(check_search_turns(0), Feedback::NoAnswer(_)));
        assert!(check_search_turns(8).to_string().contains("Try more"));
        assert!(check_search_turns(10).to_string().contains("Try fewer"));
        assert!(check_search_turns(9).is_right());
    }

    #[test]
    fn the_learning_rate_check_tells_a_good_rate_from_a_bad_one() {
        let data = ActivityData::course_default();
        assert!(matches!(
            check_learning_rate(0.5, &data).unwrap(),
            Feedback::NoAnswer(_)
        ));
        let small = check_learning_rate(0.05, &data).unwrap();
        assert!(matches!(small, Feedback::NotYet(_)), "{small}");
        assert!(small.to_string().contains("still falling"), "{small}");
        let big = check_learning_rate(5.0, &data).unwrap();
        assert!(big.is_right(), "{big}");
    }

    #[test]
    fn the_neuron_check_spots_a_missing_relu_and_a_missing_bias() {
        let neuron = Neuron::new(&[1.0, -2.0], 0.5);
        let inputs = [1.0, 1.0]; // sum −0.5, output 0
        assert!(matches!(
            check_neuron_output(None, &neuron, &inputs).unwrap(),
            Feedback::NoAnswer(_)
        ));
        assert!(check_neuron_output(Some(0.0), &neuron, &inputs)
            .unwrap()
            .is_right());
        let no_relu = check_neuron_output(Some(-0.5), &neuron, &inputs).unwrap();
        assert!(no_relu.to_string().contains("ReLU"), "{no_relu}");
        let no_bias = check_neuron_output(Some(-1.0), &neuron, &inputs).unwrap();
        assert!(no_bias.to_string().contains("bias"), "{no_bias}");
        assert!(matches!(
            check_neuron_output(Some(7.0), &neuron, &inputs).unwrap(),
            Feedback::NotYet(_)
        ));
    }

    #[test]
    fn the_parameter_check_counts_weights_and_biases_of_the_mlp() {
        let mlp = DigitsModel::mlp(1);
        assert!(matches!(
            check_parameter_count(None, &mlp.network),
            Feedback::NoAnswer(_)
        ));
        let right = 784 * 128 + 128 + 128 * 10 + 10;
        assert!(check_parameter_count(Some(right), &mlp.network).is_right());
        let weights_only = check_parameter_count(Some(784 * 128 + 128 * 10), &mlp.network);
        assert!(weights_only.to_string().contains("bias"), "{weights_only}");
        assert!(!check_parameter_count(Some(784), &mlp.network).is_right());
    }

    #[test]
    fn the_mlp_check_refuses_a_cnn_and_an_mlp_below_the_goal() {
        let digits = Digits::course_default();
        let (train, val) = digits.split(500, 1).unwrap();
        assert!(matches!(
            check_mlp(None, &val).unwrap(),
            Feedback::NoAnswer(_)
        ));
        let cnn = DigitsModel::cnn(1);
        assert!(check_mlp(Some(&cnn), &val)
            .unwrap()
            .to_string()
            .contains("not an MLP"));
        // Untrained: about one in ten.
        let untrained = DigitsModel::mlp(1);
        let feedback = check_mlp(Some(&untrained), &val).unwrap();
        assert!(matches!(feedback, Feedback::NotYet(_)), "{feedback}");
        let trained = crate::digits::DigitsTrainer::params()
            .epochs(20)
            .early_stopping(5)
            .seed(1)
            .progress(false)
            .fit(
                &train
                    .augmented(&crate::digits::Shifts::new().copies(2), 1)
                    .unwrap(),
                Some(&val),
            )
            .unwrap();
        let feedback = check_mlp(Some(&trained), &val).unwrap();
        assert!(feedback.is_right(), "{feedback}");
    }

    #[test]
    fn the_fmax_check_wants_8_khz_and_nothing_else_changed() {
        let course = FeatureConfig::KEYWORDS;
        assert!(matches!(check_fmax(&course), Feedback::NoAnswer(_)));
        let right = FeatureConfig {
            fmax_hz: 8_000.0,
            ..course
        };
        assert!(check_fmax(&right).is_right());
        let six = FeatureConfig {
            fmax_hz: 6_000.0,
            ..course
        };
        assert!(check_fmax(&six).to_string().contains("8,000"));
        let more = FeatureConfig {
            fmax_hz: 8_000.0,
            num_mfcc: 20,
            ..course
        };
        assert!(check_fmax(&more).to_string().contains("only fmax_hz"));
        let past_nyquist = FeatureConfig {
            fmax_hz: 9_000.0,
            ..course
        };
        assert!(check_fmax(&past_nyquist).to_string().contains("half"));
        let fewer_bins = FeatureConfig {
            fmin_hz: 7_990.0,
            fmax_hz: 8_000.0,
            ..course
        };
        let refused = check_fmax(&fewer_bins);
        assert!(matches!(refused, Feedback::NotYet(_)), "{refused}");
    }

    #[test]
    fn the_speaker_check_wants_a_new_voice_that_training_never_heard() {
        let data = KeywordData::course_default()
            .unwrap()
            .sample(300, 1)
            .unwrap();
        let (train, george) = data.split_by_speaker(&["george"]).unwrap();
        assert!(matches!(
            check_speaker_split(&train, &george),
            Feedback::NoAnswer(_)
        ));
        let (train, jackson) = data.split_by_speaker(&["jackson"]).unwrap();
        assert!(check_speaker_split(&train, &jackson).is_right());
        let (mixed_train, mixed_test) = data.split_clips(0.2, 7).unwrap();
        let leak = check_speaker_split(&mixed_train, &mixed_test);
        assert!(leak.to_string().contains("in both"), "{leak}");
    }

    #[test]
    fn the_tiny_conv_check_wants_a_trained_tiny_conv() {
        let data = KeywordData::course_default()
            .unwrap()
            .sample(300, 1)
            .unwrap();
        let (train, test) = data.split_clips(0.3, 7).unwrap();
        assert!(matches!(
            check_tiny_conv(None, &test).unwrap(),
            Feedback::NoAnswer(_)
        ));
        let fit = |architecture, epochs| {
            crate::kws::KwsTrainer::params()
                .architecture(architecture)
                .epochs(epochs)
                .seed(7)
                .progress(false)
                .fit(&train, None)
                .unwrap()
        };
        let cnn = fit(KwsArchitecture::Cnn, 1);
        let feedback = check_tiny_conv(Some(&cnn), &test).unwrap();
        assert!(feedback.to_string().contains("TinyConv"), "{feedback}");
        let barely = check_tiny_conv(Some(&fit(KwsArchitecture::TinyConv, 1)), &test).unwrap();
        assert!(barely.to_string().contains("more epochs"), "{barely}");
        let trained = check_tiny_conv(Some(&fit(KwsArchitecture::TinyConv, 25)), &test).unwrap();
        assert!(trained.is_right(), "{trained}");
    }

    #[test]
    fn feedback_reads_as_a_sentence() {
        assert_eq!(Feedback::Right("yes.".into()).to_string(), "Right! yes.");
        assert_eq!(Feedback::NotYet("no.".into()).to_string(), "Not yet: no.");
        assert_eq!(
            Feedback::NoAnswer("do it.".into()).to_string(),
            "No answer yet: do it."
        );
        assert_eq!(html_escape("a<b & c>"), "a&lt;b &amp; c&gt;");
    }
}
