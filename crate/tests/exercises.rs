//! The Day 3 exercise checks, the word stream and the recognizer's threshold, on small models
//! trained here (the Day 1 and Day 2 checks are unit-tested in `exercise.rs`).

mod common;

use tinyml_kit::prelude::*;

/// The Day 3 notebook's stand-in words (no recordings in the folder) and a keyword model of
/// them, trained briefly for listening (once for all the tests).
fn stand_in_model() -> (KeywordData, QuantizedModel) {
    static MODEL: std::sync::OnceLock<(KeywordData, QuantizedModel)> = std::sync::OnceLock::new();
    MODEL.get_or_init(train_stand_in).clone()
}

fn train_stand_in() -> (KeywordData, QuantizedModel) {
    let words = KeywordData::class_words(common::scratch("exercises-no-words")).unwrap();
    let examples = words
        .augmented(&Augmentation::new().copies(1), 7)
        .unwrap()
        .with_silence(words.len() / 8, 7);
    let model = KwsTrainer::params()
        .epochs(3)
        .seed(7)
        .progress(false)
        .fit(&examples, None)
        .unwrap();
    let int8 = model.quantize(&examples.sample(300, 1).unwrap()).unwrap();
    (words, int8)
}

#[test]
fn the_chunk_check_wants_the_bytes_divided_by_512_rounded_up() {
    let (_, int8) = stand_in_model();
    let chunks = int8.size_bytes().div_ceil(512);
    assert!(matches!(check_chunks(None, &int8), Feedback::NoAnswer(_)));
    assert!(check_chunks(Some(chunks), &int8).is_right());
    let short = check_chunks(Some(chunks - 1), &int8);
    assert!(short.to_string().contains("round up"), "{short}");
    assert!(!check_chunks(Some(chunks * 2), &int8).is_right());
}

#[test]
fn a_lower_threshold_hears_more_and_the_false_alarm_check_counts_them() {
    let (words, int8) = stand_in_model();
    let stream = WordStream::of(&words).unwrap();
    let keywords = words.keywords();
    assert_eq!(stream.keywords_said(), keywords.len());
    assert_eq!(
        stream.said.len(),
        2 * keywords.len(),
        "an unknown word after each keyword"
    );
    let heard = listen_to(&int8, &stream.audio).unwrap();
    // The recognizer run again at the course's threshold gives what the board's loop gave.
    assert_eq!(heard.with_threshold(0.8).unwrap(), heard);
    let low = heard.with_threshold(0.3).unwrap();
    assert!(low.heard().len() >= heard.heard().len());
    assert!(heard.with_threshold(0.0).is_err() && heard.with_threshold(1.5).is_err());

    let score = stream.score(&low);
    let n = score.false_alarms;
    assert!(matches!(
        check_false_alarms(Some(n), 0.8, &heard, &stream),
        Feedback::NoAnswer(_)
    ));
    assert!(matches!(
        check_false_alarms(None, 0.3, &low, &stream),
        Feedback::NoAnswer(_)
    ));
    let right = check_false_alarms(Some(n), 0.3, &low, &stream);
    assert!(right.is_right(), "{right}");
    assert!(!check_false_alarms(Some(n + 1), 0.3, &low, &stream).is_right());
}

#[test]
fn the_activity_check_wants_the_activity_felt_most() {
    let moves = ActivityData::course_default();
    let (train, test) = moves.split_by_people(4, 7).unwrap();
    let net = ActivityTrainer::params()
        .progress(false)
        .fit(&train)
        .unwrap();
    let int8 = net.quantize(&train).unwrap();
    assert!(matches!(
        check_felt_most(Some("RUNNING"), "RUNNING", &int8, &test).unwrap(),
        Feedback::NoAnswer(_)
    ));
    assert!(matches!(
        check_felt_most(None, "BIKING", &int8, &test).unwrap(),
        Feedback::NoAnswer(_)
    ));
    let seen = watch(
        &int8,
        &ImuRecording::from_activity(&test, "BIKING").unwrap(),
    )
    .unwrap();
    let heard = seen.heard();
    let count = |label: &str| heard.iter().filter(|h| h.1 == label).count();
    let most = ACTIVITIES.iter().map(|a| count(a)).max().unwrap();
    assert!(most > 0, "the board felt something");
    for activity in ACTIVITIES {
        let feedback = check_felt_most(Some(activity), "BIKING", &int8, &test).unwrap();
        // Every activity felt most often is right (ties included), every other one is not.
        assert_eq!(
            feedback.is_right(),
            count(activity) == most,
            "{activity}: {feedback}"
        );
    }
    let lower = check_felt_most(Some("biking"), "BIKING", &int8, &test).unwrap();
    assert_eq!(
        lower.is_right(),
        count("BIKING") == most,
        "case is ignored: {lower}"
    );
}
