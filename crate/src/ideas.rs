//! Day 1's big ideas, computed: where deep learning sits inside AI, what one neuron does, why
//! machine learning goes *tiny* (BLERP, with the arithmetic), and the workflow the three days
//! follow.
//!
//! ```
//! use tinyml_kit::ideas::Neuron;
//! let neuron = Neuron::new(&[0.5, -1.0], 0.25);
//! // 0.5 × 4 + (−1) × 1 + 0.25 = 1.25, and ReLU keeps a positive sum.
//! assert_eq!(neuron.output(&[4.0, 1.0]).unwrap(), 1.25);
//! // A negative sum becomes 0.
//! assert_eq!(neuron.output(&[0.0, 2.0]).unwrap(), 0.0);
//! ```

use std::fmt;

use crate::error::{Error, Result};
use crate::plot::{Figure, Table};

/// Artificial intelligence ⊃ machine learning ⊃ deep learning, each with the course's example.
pub fn ai_family_figure() -> Figure {
    let rings = [
        (
            "Artificial intelligence",
            "Programs that act smart, even with rules people write: the speed rules, Deep Blue",
        ),
        (
            "Machine learning",
            "Rules learned from data + answers: the decision tree of activities",
        ),
        (
            "Deep learning",
            "Learning with many layers of neurons: the digit and keyword networks",
        ),
    ];
    Figure::nested(
        "AI ⊃ machine learning ⊃ deep learning",
        rings
            .iter()
            .map(|(name, example)| (name.to_string(), example.to_string()))
            .collect(),
    )
}

/// The steps of the (tiny) machine learning workflow, as the slides name them.
pub const WORKFLOW: [&str; 4] = [
    "Collect &\ntransform data",
    "Design &\ntrain a model",
    "Deploy\nthe model",
    "Make\ninferences",
];

/// The workflow with the steps `day` (1 to 3) works on in colour: Day 1 and Day 2 collect data
/// and train models on the laptop, Day 3 deploys a model to the board, which makes inferences.
pub fn workflow_figure(day: u8) -> Result<Figure> {
    let highlighted = match day {
        1 | 2 => vec![true, true, false, false],
        3 => vec![false, false, true, true],
        _ => {
            return Err(Error::param(
                "day",
                format!("{day} (the course has days 1, 2 and 3)"),
            ))
        }
    };
    Ok(Figure::flow(
        &format!("The machine learning workflow: Day {day}"),
        WORKFLOW.iter().map(|s| s.to_string()).collect(),
        highlighted,
    ))
}

/// ReLU, the "rectified linear unit": negative numbers become 0, others stay as they are.
pub fn relu(x: f64) -> f64 {
    x.max(0.0)
}

/// One artificial neuron: multiply each input by its weight, add them up and the bias, then
/// ReLU.
#[derive(Debug, Clone, PartialEq)]
pub struct Neuron {
    /// One weight per input.
    pub weights: Vec<f64>,
    /// Added to the weighted sum.
    pub bias: f64,
}

/// One neuron's work on one input, step by step (what [`Neuron::explain`] shows).
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronStep {
    /// The inputs.
    pub inputs: Vec<f64>,
    /// The neuron's weights.
    pub weights: Vec<f64>,
    /// Each input times its weight.
    pub products: Vec<f64>,
    /// The neuron's bias.
    pub bias: f64,
    /// The products and the bias added up.
    pub sum: f64,
    /// ReLU of the sum: the neuron's output.
    pub output: f64,
}

impl Neuron {
    /// A neuron with these weights (one per input) and this bias.
    pub fn new(weights: &[f64], bias: f64) -> Neuron {
        Neuron {
            weights: weights.to_vec(),
            bias,
        }
    }

    /// Every step of the neuron's work on `inputs` (as many as it has weights).
    pub fn explain(&self, inputs: &[f64]) -> Result<NeuronStep> {
        if inputs.len() != self.weights.len() {
            return Err(Error::param(
                "inputs",
                format!(
                    "{} numbers, but the neuron has {} weights: give it one input per weight",
                    inputs.len(),
                    self.weights.len()
                ),
            ));
        }
        let products: Vec<f64> = inputs
            .iter()
            .zip(&self.weights)
            .map(|(x, w)| x * w)
            .collect();
        let sum = products.iter().sum::<f64>() + self.bias;
        Ok(NeuronStep {
            inputs: inputs.to_vec(),
            weights: self.weights.clone(),
            products,
            bias: self.bias,
            sum,
            output: relu(sum),
        })
    }

    /// The neuron's output for `inputs`.
    pub fn output(&self, inputs: &[f64]) -> Result<f64> {
        Ok(self.explain(inputs)?.output)
    }

    /// The neuron's output for each of several inputs, as a table.
    pub fn table(&self, inputs: &[Vec<f64>]) -> Result<Table> {
        let mut table = Table::new(&["inputs", "weighted sum + bias", "output (ReLU)"]);
        for x in inputs {
            let step = self.explain(x)?;
            table.push(vec![
                numbers(&step.inputs),
                number(step.sum),
                number(step.output),
            ]);
        }
        Ok(table)
    }
}

impl NeuronStep {
    /// The step as a table: one row per input, then the bias, the sum and ReLU.
    pub fn table(&self) -> Table {
        let mut table = Table::new(&["", "input", "× weight", "= product"]);
        for (i, ((x, w), p)) in self
            .inputs
            .iter()
            .zip(&self.weights)
            .zip(&self.products)
            .enumerate()
        {
            table.push(vec![
                format!("input {}", i + 1),
                number(*x),
                number(*w),
                number(*p),
            ]);
        }
        table.push(vec![
            "+ bias".into(),
            String::new(),
            String::new(),
            number(self.bias),
        ]);
        table.push(vec![
            "sum".into(),
            String::new(),
            String::new(),
            number(self.sum),
        ]);
        table.push(vec![
            "ReLU(sum)".into(),
            String::new(),
            String::new(),
            number(self.output),
        ]);
        table
    }

    /// Shows the steps and the output in Jupyter.
    pub fn evcxr_display(&self) {
        println!("{self}");
        self.table().evcxr_display();
    }
}

impl fmt::Display for NeuronStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let terms: Vec<String> = self
            .inputs
            .iter()
            .zip(&self.weights)
            .map(|(x, w)| format!("{} × {}", number(*w), number(*x)))
            .collect();
        write!(
            f,
            "{} + {} = {}; ReLU gives {}",
            terms.join(" + "),
            number(self.bias),
            number(self.sum),
            number(self.output)
        )
    }
}

/// A layer: several neurons that all see the same inputs, each giving one output.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronLayer {
    /// The neurons, each with one weight per input.
    pub neurons: Vec<Neuron>,
}

impl NeuronLayer {
    /// A layer of `neurons` (each with as many weights as the layer has inputs).
    pub fn new(neurons: Vec<Neuron>) -> Result<NeuronLayer> {
        let inputs = neurons.first().map_or(0, |n| n.weights.len());
        if neurons.is_empty() || neurons.iter().any(|n| n.weights.len() != inputs) {
            return Err(Error::param(
                "neurons",
                "a layer needs at least one neuron, and every neuron as many weights as the \
                 layer has inputs",
            ));
        }
        Ok(NeuronLayer { neurons })
    }

    /// Every neuron's output for `inputs`: the layer's outputs, the next layer's inputs.
    pub fn outputs(&self, inputs: &[f64]) -> Result<Vec<f64>> {
        self.neurons.iter().map(|n| n.output(inputs)).collect()
    }

    /// Weights plus biases: what training has to learn.
    pub fn parameter_count(&self) -> usize {
        self.neurons.iter().map(|n| n.weights.len() + 1).sum()
    }

    /// Each neuron's sum and output for `inputs`, as a table.
    pub fn table(&self, inputs: &[f64]) -> Result<Table> {
        let mut table = Table::new(&["neuron", "weights", "bias", "sum", "output (ReLU)"]);
        for (i, neuron) in self.neurons.iter().enumerate() {
            let step = neuron.explain(inputs)?;
            table.push(vec![
                format!("{}", i + 1),
                numbers(&neuron.weights),
                number(neuron.bias),
                number(step.sum),
                number(step.output),
            ]);
        }
        Ok(table)
    }
}

/// Why run the model on the device: **B**andwidth, **L**atency, **E**nergy, **R**eliability,
/// **P**rivacy, worked out for a keyword spotter that either streams its microphone to the cloud
/// or listens on the board and sends only the words it hears.
///
/// Every number is an assumption, stated in a field so a class can change it; the defaults
/// ([`Blerp::keyword_spotter`]) are round figures of the order of the Nano 33 BLE Sense's parts
/// (its nRF52840's radio and processor, its microphone), not measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct Blerp {
    /// Microphone samples per second.
    pub sample_rate_hz: f64,
    /// Bytes per sample (16-bit audio: 2).
    pub bytes_per_sample: f64,
    /// Keywords heard per day.
    pub events_per_day: f64,
    /// Bytes sent per keyword (its number, the time, the score, a packet's header).
    pub bytes_per_event: f64,
    /// Current of the microphone and the sleeping board, always on, in mA.
    pub base_ma: f64,
    /// Extra current while the radio sends, in mA.
    pub radio_ma: f64,
    /// Extra current while the processor computes, in mA.
    pub cpu_ma: f64,
    /// Time of one inference (features and model) on the board, in seconds.
    pub inference_s: f64,
    /// Time between inferences (the keyword loop's hop), in seconds.
    pub hop_s: f64,
    /// Time the radio is on to send one keyword, in seconds.
    pub send_s: f64,
    /// The battery, in mAh.
    pub battery_mah: f64,
    /// Time for audio to reach a server and the answer to come back, in seconds.
    pub cloud_round_trip_s: f64,
}

const SECONDS_PER_DAY: f64 = 86_400.0;

impl Blerp {
    /// The course's keyword spotter: 16 kHz 16-bit audio, 100 keywords a day of 20 bytes each,
    /// 0.6 mA always on (microphone and sleep), 5 mA of radio, 3.3 mA of processor, 0.1 s per
    /// inference every 0.25 s, 5 ms on air per keyword, a 1,000 mAh battery, 0.3 s to the cloud
    /// and back.
    pub fn keyword_spotter() -> Blerp {
        Blerp {
            sample_rate_hz: 16_000.0,
            bytes_per_sample: 2.0,
            events_per_day: 100.0,
            bytes_per_event: 20.0,
            base_ma: 0.6,
            radio_ma: 5.0,
            cpu_ma: 3.3,
            inference_s: 0.1,
            hop_s: 0.25,
            send_s: 0.005,
            battery_mah: 1_000.0,
            cloud_round_trip_s: 0.3,
        }
    }

    /// Bytes a day when the microphone is streamed to the cloud.
    pub fn streamed_bytes_per_day(&self) -> f64 {
        self.sample_rate_hz * self.bytes_per_sample * SECONDS_PER_DAY
    }

    /// Bytes a day when the board sends only the keywords it hears.
    pub fn event_bytes_per_day(&self) -> f64 {
        self.events_per_day * self.bytes_per_event
    }

    /// Average current when streaming: always on, radio always sending.
    pub fn streaming_ma(&self) -> f64 {
        self.base_ma + self.radio_ma
    }

    /// Average current when listening on the board: always on, the processor for its share of
    /// each hop, the radio only for the keywords.
    pub fn on_device_ma(&self) -> f64 {
        let computing = (self.inference_s / self.hop_s).clamp(0.0, 1.0);
        let sending = (self.events_per_day * self.send_s / SECONDS_PER_DAY).clamp(0.0, 1.0);
        self.base_ma + self.cpu_ma * computing + self.radio_ma * sending
    }

    /// Hours on one battery when streaming.
    pub fn streaming_hours(&self) -> f64 {
        self.battery_mah / self.streaming_ma()
    }

    /// Hours on one battery when listening on the board.
    pub fn on_device_hours(&self) -> f64 {
        self.battery_mah / self.on_device_ma()
    }

    /// The five letters, streamed to the cloud against listening on the board.
    pub fn table(&self) -> Table {
        let hours = |h: f64| format!("{h:.0} hours ({:.1} days)", h / 24.0);
        Table::new(&["", "stream to the cloud", "listen on the board"])
            .row(vec![
                "Bandwidth (bytes a day)".into(),
                bytes(self.streamed_bytes_per_day()),
                bytes(self.event_bytes_per_day()),
            ])
            .row(vec![
                "Latency (time to an answer)".into(),
                format!(
                    "{:.2} s there and back + the server's time",
                    self.cloud_round_trip_s
                ),
                format!("{:.2} s", self.inference_s),
            ])
            .row(vec![
                format!("Energy ({:.0} mAh battery)", self.battery_mah),
                format!(
                    "{:.1} mA: {}",
                    self.streaming_ma(),
                    hours(self.streaming_hours())
                ),
                format!(
                    "{:.1} mA: {}",
                    self.on_device_ma(),
                    hours(self.on_device_hours())
                ),
            ])
            .row(vec![
                "Reliability".into(),
                "stops when the network does".into(),
                "works offline".into(),
            ])
            .row(vec![
                "Privacy".into(),
                "every sound leaves the room".into(),
                "only the keyword leaves".into(),
            ])
    }

    /// Shows the table and the two ratios in Jupyter.
    pub fn evcxr_display(&self) {
        println!("{self}");
        self.table().evcxr_display();
    }
}

impl fmt::Display for Blerp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Listening on the board sends {:.0} times fewer bytes and lasts {:.1} times longer \
             on a battery.",
            self.streamed_bytes_per_day() / self.event_bytes_per_day().max(1.0),
            self.on_device_hours() / self.streaming_hours()
        )
    }
}

/// "2.76 GB", "2.0 kB", "20 bytes".
fn bytes(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.2} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        n => format!("{n:.0} bytes"),
    }
}

/// A number as a person writes it: "2", "-0.5", "1.25".
fn number(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

fn numbers(xs: &[f64]) -> String {
    let parts: Vec<String> = xs.iter().map(|x| number(*x)).collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_neuron_adds_its_weighted_inputs_and_bias_then_relu() {
        let neuron = Neuron::new(&[2.0, -1.0, 0.5], -1.0);
        let step = neuron.explain(&[1.0, 3.0, 4.0]).unwrap();
        assert_eq!(step.products, vec![2.0, -3.0, 2.0]);
        assert_eq!(step.sum, 0.0);
        assert_eq!(neuron.output(&[3.0, 1.0, 0.0]).unwrap(), 4.0);
        assert_eq!(neuron.output(&[0.0, 3.0, 0.0]).unwrap(), 0.0);
        assert_eq!(
            step.to_string(),
            "2 × 1 + -1 × 3 + 0.5 × 4 + -1 = 0; ReLU gives 0"
        );
    }

    #[test]
    fn a_neuron_refuses_inputs_of_another_length() {
        let e = Neuron::new(&[1.0, 1.0], 0.0).output(&[1.0]).unwrap_err();
        assert!(e.to_string().contains("one input per weight"), "{e}");
    }

    #[test]
    fn a_layer_gives_one_output_per_neuron_and_counts_its_parameters() {
        let layer = NeuronLayer::new(vec![
            Neuron::new(&[1.0, 1.0], 0.0),
            Neuron::new(&[1.0, -1.0], 0.0),
            Neuron::new(&[-1.0, -1.0], 1.0),
        ])
        .unwrap();
        assert_eq!(layer.outputs(&[2.0, 1.0]).unwrap(), vec![3.0, 1.0, 0.0]);
        assert_eq!(layer.parameter_count(), 9);
        assert!(NeuronLayer::new(vec![
            Neuron::new(&[1.0], 0.0),
            Neuron::new(&[1.0, 2.0], 0.0)
        ])
        .is_err());
        assert!(NeuronLayer::new(Vec::new()).is_err());
    }

    #[test]
    fn blerp_streams_a_day_of_audio_as_2_76_gb_and_events_as_2_kb() {
        let b = Blerp::keyword_spotter();
        assert_eq!(b.streamed_bytes_per_day(), 2_764_800_000.0);
        assert_eq!(b.event_bytes_per_day(), 2_000.0);
        assert!((b.streaming_ma() - 5.6).abs() < 1e-12);
        // 0.6 + 3.3 × 0.4 + 5 × (100 × 0.005 / 86 400)
        assert!((b.on_device_ma() - 1.920_028_9).abs() < 1e-6);
        assert!(b.on_device_hours() > 2.9 * b.streaming_hours());
        let text = b.table().to_string();
        assert!(
            text.contains("2.76 GB") && text.contains("2.0 kB"),
            "{text}"
        );
    }

    #[test]
    fn the_workflow_lights_the_days_steps_and_refuses_a_fourth_day() {
        assert!(workflow_figure(3).unwrap().png().is_ok());
        assert!(ai_family_figure().png().is_ok());
        let e = workflow_figure(4).unwrap_err();
        assert!(e.to_string().contains("days 1, 2 and 3"), "{e}");
    }
}
