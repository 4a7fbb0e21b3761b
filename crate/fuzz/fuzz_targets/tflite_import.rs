//! Any bytes through the `.tflite` reader and importer: never a panic, an overflow or a read
//! out of bounds. What the importer accepts must be a model the board's loader accepts (it
//! is checked in full on the way), that runs, and that exports again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyml_core::model::Kernels;
use tinyml_kit::tflite::{ImportOptions, TfliteModel};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = TfliteModel::from_bytes(data.to_vec(), "fuzz") else {
        return;
    };
    let _ = file.table().html();
    let _ = file.to_c("model");
    let Ok(model) = file.to_quantized(&ImportOptions::default()) else {
        return;
    };
    let m = model.model();
    let input = vec![1i8; m.input().len()];
    let (mut arena, mut output) = (vec![0i8; m.arena_bytes()], vec![0i8; m.output().len()]);
    m.invoke(&mut arena, &input, &mut output, Kernels::Reference)
        .expect("an imported model runs");
    model.to_tflite().expect("an imported model exports");
});
