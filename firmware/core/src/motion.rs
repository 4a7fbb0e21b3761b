//! The activity loop the board runs on its accelerometer: the last window of x, y, z samples (in
//! milligravities, as the IMU gives them) goes through the model's front end (the Day 1
//! [`window_features`], standardisation, quantization) and the interpreter every `hop` samples,
//! and a [`Recognizer`] ([`RecognizerConfig::ACTIVITIES`]) says which activity it is.
//!
//! The window and hop come from the model file (`FrontEnd::Motion`): a model trained on 2 s
//! windows is run on 2 s windows. The laptop computes the same input bytes from the same samples
//! (`device::watch` converts with [`mg_to_g`] too).

use crate::imu::{mg_to_g, window_features};
use crate::listen::{
    recognize, ListenError, Recognizer, RecognizerConfig, SensorLoop, Window, MAX_CLASSES,
};
use crate::model::{FrontEnd, Model, ModelError};
use crate::protocol::sensor::IMU_RATE_HZ;

/// The longest window the activity loop keeps, in samples: 2.56 s at 50 Hz (the course's windows
/// are 2 s). The same on the laptop as on the board, whose RAM budget sets it, so that the
/// simulator refuses exactly the models the board refuses.
pub const MAX_WINDOW: usize = 128;

/// Checks that `model` takes windows of the board's accelerometer; gives its (window, hop) in
/// samples.
pub fn activity_front_end(model: &Model) -> Result<(usize, usize), ListenError> {
    match model.front_end().map_err(ListenError::Model)? {
        FrontEnd::Motion {
            sample_rate_hz,
            window,
            hop,
            ..
        } if u32::from(sample_rate_hz) == IMU_RATE_HZ
            && (crate::imu::MIN_WINDOW_LEN..=MAX_WINDOW).contains(&(window as usize))
            && (1..=window).contains(&hop)
            && model.output().len() <= MAX_CLASSES =>
        {
            Ok((window as usize, hop as usize))
        }
        _ => Err(ListenError::NotAnActivityModel),
    }
}

/// The activity loop's state: the last window of samples and the recognizer (about 1 KB). All
/// zeros when idle, so the board keeps it in `.bss`.
#[derive(Clone)]
pub struct MotionListener {
    /// x, y, z in milligravities, oldest first.
    samples: [[i16; 3]; MAX_WINDOW],
    filled: usize,
    /// Samples per window and between windows, from the model (0: not started).
    window: usize,
    hop: usize,
    recognizer: Recognizer,
}

impl Default for MotionListener {
    fn default() -> Self {
        MotionListener::new()
    }
}

impl MotionListener {
    /// An idle loop ([`MotionListener::start`] it with a model).
    pub const fn new() -> MotionListener {
        const IDLE: RecognizerConfig = RecognizerConfig {
            average_windows: 0,
            threshold: 0,
            suppression_ms: 0,
        };
        MotionListener {
            samples: [[0; 3]; MAX_WINDOW],
            filled: 0,
            window: 0,
            hop: 0,
            recognizer: Recognizer::new(IDLE, 0, 0),
        }
    }

    /// Gets ready to run `model`: takes its window and hop, forgets earlier samples and scores.
    pub fn start(&mut self, model: &Model, config: RecognizerConfig) -> Result<(), ListenError> {
        let (window, hop) = activity_front_end(model)?;
        (self.window, self.hop, self.filled) = (window, hop, 0);
        self.recognizer = Recognizer::for_model(model, config);
        Ok(())
    }

    /// Takes x, y, z triples (in mg) from the front of `rest` (which moves past them) until a
    /// window is due; true when one is: call [`MotionListener::infer`], then `feed` again with
    /// the rest. A trailing part of a triple is left in `rest`.
    pub fn feed(&mut self, rest: &mut &[i16]) -> bool {
        while self.window > 0 && !self.due() && rest.len() >= 3 {
            self.samples[self.filled] = [rest[0], rest[1], rest[2]];
            self.filled += 1;
            *rest = &rest[3..];
        }
        self.due()
    }

    /// True when a window of samples is waiting for [`MotionListener::infer`].
    pub fn due(&self) -> bool {
        self.window > 0 && self.filled == self.window
    }

    /// Runs the model on the last window (features, quantization, interpreter in `arena`),
    /// writes its raw int8 outputs into `scores`, and moves on by the model's hop (also when it
    /// fails, so that the loop goes on with the next window).
    pub fn infer(
        &mut self,
        model: &Model,
        arena: &mut [i8],
        time_ms: u32,
        scores: &mut [i8],
    ) -> Result<Window, ListenError> {
        let output = model.output();
        if !self.due() {
            return Err(ListenError::NotAnActivityModel);
        }
        // The window is taken and the loop moves on by its hop whatever the result (a window
        // that fails is not tried again; the caller reports the error).
        let n = self.window;
        let (mut ax, mut ay, mut az) = ([0f32; MAX_WINDOW], [0f32; MAX_WINDOW], [0f32; MAX_WINDOW]);
        for (i, xyz) in self.samples[..n].iter().enumerate() {
            (ax[i], ay[i], az[i]) = (mg_to_g(xyz[0]), mg_to_g(xyz[1]), mg_to_g(xyz[2]));
        }
        self.samples.copy_within(self.hop..n, 0);
        self.filled = n - self.hop;
        if scores.len() < output.len() || model.input().len() != crate::imu::FEATURE_COUNT {
            return Err(ListenError::Model(ModelError::WrongIoSize));
        }
        let mut features = window_features(&ax[..n], &ay[..n], &az[..n], IMU_RATE_HZ as f32)
            .map_err(ListenError::Motion)?;
        let mut input = [0i8; crate::imu::FEATURE_COUNT];
        model
            .quantize_input(&mut features, &mut input)
            .map_err(ListenError::Model)?;
        recognize(model, arena, &input, time_ms, scores, &mut self.recognizer)
    }
}

impl SensorLoop for MotionListener {
    const VALUES_PER_SAMPLE: usize = 3;

    fn start(&mut self, model: &Model, config: RecognizerConfig) -> Result<(), ListenError> {
        MotionListener::start(self, model, config)
    }

    /// The arena is not needed: the window's samples are kept in the loop.
    fn feed(&mut self, rest: &mut &[i16], _arena: &mut [i8]) -> bool {
        MotionListener::feed(self, rest)
    }

    fn infer(
        &mut self,
        model: &Model,
        arena: &mut [i8],
        time_ms: u32,
        scores: &mut [i8],
    ) -> Result<Window, ListenError> {
        MotionListener::infer(self, model, arena, time_ms, scores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_come_every_hop_and_partial_triples_wait() {
        let mut m = MotionListener::new();
        // Not started: takes nothing, never due.
        let data = [1i16; 30];
        let mut rest = &data[..];
        assert!(!m.feed(&mut rest));
        assert_eq!(rest.len(), 30);
        (m.window, m.hop) = (8, 4);
        let mut due_at = [0usize; 3];
        let mut found = 0;
        let mut taken = 0;
        let chunk = [5i16; 7];
        while found < 3 {
            let mut rest = &chunk[..];
            while m.feed(&mut rest) {
                due_at[found] = taken + (chunk.len() - rest.len()) / 3;
                found += 1;
                // What infer does after a window, without a model.
                m.samples.copy_within(m.hop..m.window, 0);
                m.filled = m.window - m.hop;
                if found == 3 {
                    break;
                }
            }
            if found < 3 {
                // Two triples per chunk of 7 values; the seventh, a partial triple, is left.
                assert_eq!(rest.len(), 1);
            }
            taken += (chunk.len() - rest.len()) / 3;
        }
        assert_eq!(due_at, [8, 12, 16]);
    }
}
