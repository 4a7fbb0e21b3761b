//! Few-shot keywords against training from scratch, on voices the models never heard.
//!
//! `cargo bench -p tinyml-kit --bench few_shot` takes N takes (1, 3, 5, 10, 20) of each of the
//! spoken digits "5" to "9" from one speaker of data/fsdd, trains a model on them, and tests it
//! on every clip of those words by each other speaker: every pairing of the five speakers. Two
//! ways, side by side on the same takes: the default keyword CNN trained from scratch (as `tinyml
//! kws train`: 20 epochs, 3 altered copies of each take), and a few-shot head on the keyword
//! embedding (`--few-shot`: the same takes and copies). Both float and int8 (the board's
//! interpreter, calibrated on the takes). Five words, no "unknown" or "silence": chance is 20%.
//!
//! The embedding is the measured one: trained on the keyword bank (target/kws-bank, made here
//! with espeak-ng and Festival when missing, about 5 minutes) and the real voices of "0" to "4",
//! never "5" to "9"; for each test speaker, one embedding trained without that speaker's voice at
//! all (target/kws-embedding-without-NAME.tkf, trained when missing, about 7 minutes each on 2
//! idle cores; delete them after changing the bank or how embeddings are trained), so the test
//! voice is one neither the embedding nor the head ever heard. `--shipped` uses the kit's
//! data/kws_embedding.tkf instead (which heard every speaker say "0" to "4").
//!
//! Prints a table (mean over the 20 pairings, with the lowest and highest) and writes the figure
//! target/few-shot.png and .svg (target/few-shot-shipped.* with `--shipped`). `--test NAME` runs
//! only the pairings that test on NAME.
//!
//! `--heads` instead compares kinds of head on the shipped embedding, at five takes, on the same
//! 20 pairings: the kit's dense layer (trained as `KwsTrainer::few_shot` trains it), the nearest
//! class mean (Euclidean; cosine, which is a dense layer of the normalised means), a dense layer
//! on L2-normalised embeddings (the board would have to normalise), a dense layer on ten altered
//! copies of each take instead of three, and the dense layer's whole network fine-tuned on the
//! takes and their copies afterwards (the convolutions too: its own convolution weights). All but
//! the L2-normalised one run on the board as they are. The dense row trains its head with
//! `KwsTrainer::few_shot`'s settings (`FEW_SHOT_*`, seed 7), so it equals the main table's
//! few-shot float figure at five takes. `--test` does not apply.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tinyml_kit::fewshot::{
    bank_plan, embedding_data, embedding_trainer, make_bank, train_embedding, BankParams,
    KwsEmbedding, FEW_TAKE_COPIES, NEW_WORDS,
};
use tinyml_kit::kws::{
    Augmentation, KeywordData, KwsModel, KwsTrainer, FEW_SHOT_BATCH, FEW_SHOT_EPOCHS,
    FEW_SHOT_LEARNING_RATE,
};
use tinyml_kit::nn::{argmax, Layer, Network, Shape, TrainParams};
use tinyml_kit::plot::{Figure, Table};

const TAKES: [usize; 5] = [1, 3, 5, 10, 20];
/// Epochs from scratch, as `tinyml kws train`.
const SCRATCH_EPOCHS: usize = tinyml_kit::kws::KWS_EPOCHS;
const SEED: u64 = 7;

fn target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

/// The measured embedding without `speaker`'s voice, trained (and kept) when missing.
fn embedding_without(bank: &Path, speaker: &str) -> KwsEmbedding {
    let path = target().join(format!("kws-embedding-without-{speaker}.tkf"));
    if let Ok(e) = KwsEmbedding::load(&path) {
        return e;
    }
    let started = Instant::now();
    let data = embedding_data(bank, &[speaker]).expect("the bank and the spoken digits");
    let embedding = train_embedding(&data, &embedding_trainer().progress(false)).expect("trains");
    embedding.save(&path).expect("saved");
    eprintln!(
        "embedding without {speaker}: {} clips, {:.0} s",
        data.len(),
        started.elapsed().as_secs_f64()
    );
    embedding
}

/// Float and int8 accuracy of `model` on `test`.
fn accuracy(model: &KwsModel, calibration: &KeywordData, test: &KeywordData) -> (f64, f64) {
    let float = model.evaluate(test).expect("evaluates").accuracy();
    let int8 = model
        .quantize(calibration)
        .expect("quantizes")
        .evaluate_keywords(test)
        .expect("evaluates")
        .accuracy();
    (float, int8)
}

#[derive(Default, Clone)]
struct Cell(Vec<f64>);

impl Cell {
    fn mean(&self) -> f64 {
        self.0.iter().sum::<f64>() / self.0.len().max(1) as f64
    }

    fn show(&self) -> String {
        let lo = self.0.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!(
            "{:.1}% ({:.0}–{:.0})",
            100.0 * self.mean(),
            100.0 * lo,
            100.0 * hi
        )
    }
}

/// Each clip's class among `words`.
fn classes(data: &KeywordData, words: &[&str]) -> Vec<usize> {
    let of = |l: &String| words.iter().position(|w| w == l).expect("one of the words");
    data.labels().iter().map(of).collect()
}

fn l2_normalised(row: &[f32]) -> Vec<f32> {
    let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
    row.iter().map(|v| v / norm).collect()
}

/// The share of `rows` (embeddings, `d` values each) whose highest score `w · row + b` is their
/// class.
fn linear_accuracy(w: &[Vec<f32>], b: &[f32], rows: &[f32], y: &[usize], d: usize) -> f64 {
    let right = rows
        .chunks_exact(d)
        .zip(y)
        .filter(|(row, &c)| {
            let scores: Vec<f32> = w
                .iter()
                .zip(b)
                .map(|(wc, bc)| wc.iter().zip(*row).map(|(a, x)| a * x).sum::<f32>() + bc)
                .collect();
            argmax(&scores) == c
        })
        .count();
    right as f64 / y.len() as f64
}

/// The mean embedding of each class, after `f`.
fn class_means(
    rows: &[f32],
    y: &[usize],
    d: usize,
    k: usize,
    f: fn(&[f32]) -> Vec<f32>,
) -> Vec<Vec<f32>> {
    let mut sums = vec![vec![0f32; d]; k];
    let mut counts = vec![0usize; k];
    for (row, &c) in rows.chunks_exact(d).zip(y) {
        for (s, v) in sums[c].iter_mut().zip(f(row)) {
            *s += v;
        }
        counts[c] += 1;
    }
    for (sum, n) in sums.iter_mut().zip(counts) {
        sum.iter_mut().for_each(|s| *s /= n.max(1) as f32);
    }
    sums
}

/// `--heads`: kinds of head on the shipped embedding, five takes, every pairing.
fn compare_heads(digits: &KeywordData, speakers: &[String]) {
    let embedding = KwsEmbedding::bundled().expect("data/kws_embedding.tkf");
    let d = embedding.size();
    let k = NEW_WORDS.len();
    // Each speaker's clips: embeddings, classes, and features (for the fine-tuned network).
    let tests: Vec<(Vec<f32>, Vec<usize>, Vec<f32>)> = speakers
        .iter()
        .map(|s| {
            let clips = digits.with_voices(&[s.as_str()]).expect("a speaker");
            (
                embedding.embed(&clips).expect("embeds"),
                classes(&clips, &NEW_WORDS),
                embedding.model.inputs(&clips).expect("features"),
            )
        })
        .collect();
    let heads = [
        "dense layer (the kit's)",
        "nearest class mean, Euclidean",
        "nearest class mean, cosine",
        "dense layer on L2-normalised embeddings",
        "dense layer, 10 altered copies of each take (not 3)",
        "dense layer, then every layer fine-tuned (10 epochs, Adam 3e-4)",
    ];
    // The convolutions alone, to fine-tune them with a head.
    let flatten = embedding
        .model
        .network
        .layers()
        .iter()
        .position(|l| *l == Layer::Flatten)
        .expect("the embedding flattens");
    let (extractor, _) = embedding
        .model
        .network
        .split_at(flatten + 1)
        .expect("splits");
    let mut cells = vec![Cell::default(); heads.len()];
    for (si, speaker) in speakers.iter().enumerate() {
        let takes = digits.takes_of(speaker, 5, SEED).expect("takes");
        let augmented = takes
            .augmented(&Augmentation::new().copies(FEW_TAKE_COPIES), SEED)
            .expect("augments");
        let x = embedding.embed(&augmented).expect("embeds");
        let y = classes(&augmented, &NEW_WORDS);
        let dense = |inputs: &[f32], y: &[usize]| {
            let mut head = Network::new(Shape::Flat(d), vec![Layer::Dense { units: k }], SEED)
                .expect("a dense head");
            TrainParams::new()
                .epochs(FEW_SHOT_EPOCHS)
                .batch_size(FEW_SHOT_BATCH)
                .learning_rate(FEW_SHOT_LEARNING_RATE)
                .seed(SEED)
                .progress(false)
                .fit(&mut head, inputs, y, None)
                .expect("trains");
            head
        };
        let normalised: Vec<f32> = x.chunks_exact(d).flat_map(l2_normalised).collect();
        let (plain, on_normalised) = (dense(&x, &y), dense(&normalised, &y));
        let more = takes
            .augmented(&Augmentation::new().copies(10), SEED)
            .expect("augments");
        let more_copies = dense(
            &embedding.embed(&more).expect("embeds"),
            &classes(&more, &NEW_WORDS),
        );
        let mut fine_tuned = extractor.then(&plain).expect("joins");
        TrainParams::new()
            .epochs(10)
            .batch_size(FEW_SHOT_BATCH)
            .learning_rate(3e-4)
            .seed(SEED)
            .progress(false)
            .fit(
                &mut fine_tuned,
                &embedding.model.inputs(&augmented).expect("features"),
                &y,
                None,
            )
            .expect("fine-tunes");
        let means = class_means(&x, &y, d, k, |r| r.to_vec());
        let euclid_bias: Vec<f32> = means
            .iter()
            .map(|m| -0.5 * m.iter().map(|v| v * v).sum::<f32>())
            .collect();
        let cosine: Vec<Vec<f32>> = class_means(&x, &y, d, k, l2_normalised)
            .iter()
            .map(|m| l2_normalised(m))
            .collect();
        for (ti, (tx, ty, features)) in tests.iter().enumerate() {
            if ti == si {
                continue;
            }
            let head_accuracy = |head: &Network, rows: &[f32]| {
                let out = head.logits(rows).expect("runs");
                let right = out.chunks_exact(k).zip(ty).filter(|(o, &c)| argmax(o) == c);
                right.count() as f64 / ty.len() as f64
            };
            let tx_normalised: Vec<f32> = tx.chunks_exact(d).flat_map(l2_normalised).collect();
            cells[0].0.push(head_accuracy(&plain, tx));
            cells[1]
                .0
                .push(linear_accuracy(&means, &euclid_bias, tx, ty, d));
            cells[2]
                .0
                .push(linear_accuracy(&cosine, &vec![0.0; k], tx, ty, d));
            cells[3]
                .0
                .push(head_accuracy(&on_normalised, &tx_normalised));
            cells[4].0.push(head_accuracy(&more_copies, tx));
            cells[5].0.push(head_accuracy(&fine_tuned, features));
        }
    }
    let mut table = Table::new(&[
        "head on the shipped embedding, 5 takes",
        "accuracy on other voices",
    ]);
    for (name, cell) in heads.iter().zip(&cells) {
        table.push(vec![name.to_string(), cell.show()]);
    }
    println!(
        "words 5–9, {} pairings; mean (lowest–highest):",
        cells[0].0.len()
    );
    println!("{table}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let shipped = args.iter().any(|a| a == "--shipped");
    // `--test NAME`: only that test voice (a quicker look; the table is then its pairings only).
    let only_test = args
        .iter()
        .position(|a| a == "--test")
        .and_then(|i| args.get(i + 1).cloned());
    let bank = target().join("kws-bank");
    let heads = args.iter().any(|a| a == "--heads");
    if !shipped && !heads {
        // Made, finished, or (a bank of other settings) refused: delete target/kws-bank then.
        let plan = bank_plan(&BankParams::new()).expect("a plan");
        let report = make_bank(&plan, &bank, true).expect("the bank (espeak-ng and Festival)");
        if report.written > 0 {
            eprintln!("bank: {:.0} s", report.seconds);
        }
    }
    let digits = KeywordData::course_default()
        .expect("the spoken digits")
        .only_words(&NEW_WORDS)
        .expect("5 to 9");
    let speakers = digits.voice_names();
    if heads {
        compare_heads(&digits, &speakers);
        return;
    }
    let embeddings: Vec<Option<KwsEmbedding>> = speakers
        .iter()
        .map(|s| {
            if only_test.as_ref().is_some_and(|t| t != s) {
                None
            } else if shipped {
                Some(KwsEmbedding::bundled().expect("data/kws_embedding.tkf"))
            } else {
                Some(embedding_without(&bank, s))
            }
        })
        .collect();
    let tests: Vec<KeywordData> = speakers
        .iter()
        .map(|s| digits.with_voices(&[s.as_str()]).expect("a speaker"))
        .collect();
    // [takes][method: scratch float, scratch int8, few-shot float, few-shot int8]
    let mut cells = vec![vec![Cell::default(); 4]; TAKES.len()];
    let mut seconds = [0.0f64; 2];
    for (si, speaker) in speakers.iter().enumerate() {
        for (ti, &n) in TAKES.iter().enumerate() {
            let train = digits.takes_of(speaker, n, SEED).expect("takes");
            let augmented = train
                .augmented(&Augmentation::new().copies(FEW_TAKE_COPIES), SEED)
                .expect("augments");
            let started = Instant::now();
            let scratch = KwsTrainer::params()
                .unknown(false)
                .silence(false)
                .epochs(SCRATCH_EPOCHS)
                .progress(false)
                .fit(&augmented, None)
                .expect("trains");
            seconds[0] += started.elapsed().as_secs_f64();
            for (ki, test) in tests.iter().enumerate() {
                let Some(embedding) = embeddings[ki].as_ref().filter(|_| ki != si) else {
                    continue;
                };
                let (f, q) = accuracy(&scratch, &augmented, test);
                cells[ti][0].0.push(f);
                cells[ti][1].0.push(q);
                let started = Instant::now();
                let few = KwsTrainer::params()
                    .unknown(false)
                    .silence(false)
                    .few_shot(embedding)
                    .progress(false)
                    .fit(&augmented, None)
                    .expect("trains");
                seconds[1] += started.elapsed().as_secs_f64();
                let (f, q) = accuracy(&few, &augmented, test);
                cells[ti][2].0.push(f);
                cells[ti][3].0.push(q);
            }
        }
        eprintln!("trained on {speaker}");
    }
    let mut table = Table::new(&[
        "takes per word",
        "from scratch, float",
        "from scratch, int8",
        "few-shot, float",
        "few-shot, int8",
    ]);
    for (ti, n) in TAKES.iter().enumerate() {
        let mut row = vec![n.to_string()];
        row.extend(cells[ti].iter().map(Cell::show));
        table.push(row);
    }
    println!(
        "words 5–9, {} pairings of a training voice and an unseen test voice ({}); mean (lowest–highest):",
        cells[0][0].0.len(),
        if shipped {
            "the shipped embedding"
        } else {
            "an embedding per test voice, which never heard it"
        }
    );
    println!("{table}");
    println!(
        "training time: from scratch {:.1} s in all, few-shot heads {:.1} s in all",
        seconds[0], seconds[1]
    );
    let curve = |m: usize| {
        TAKES
            .iter()
            .enumerate()
            .map(|(ti, &n)| (n as f64, 100.0 * cells[ti][m].mean()))
            .collect::<Vec<_>>()
    };
    let title = if shipped {
        "Few-shot keywords, words 5–9: accuracy on other voices (the embedding heard them say 0–4)"
    } else {
        "Few-shot keywords, words 5–9: accuracy on voices neither model ever heard"
    };
    let figure = Figure::lines(title, "takes per word", "accuracy (%)")
        .line("few-shot (embedding), int8", curve(3))
        .line("from scratch, int8", curve(1));
    let stem = if shipped {
        "few-shot-shipped"
    } else {
        "few-shot"
    };
    let (png, _) = figure.save(target(), stem).expect("figure");
    println!("figure: {}", png.display());
}
