//! `tinyml quantize`, `inspect`, `export`, `import`: model files.

use std::path::Path;

use tinyml_core::model::Budget;
use tinyml_kit::digits::{Digits, DigitsModel, MnistSet};
use tinyml_kit::error::{Error, Result};
use tinyml_kit::front_end::InputKind;
use tinyml_kit::kws::{KeywordData, KwsModel};
use tinyml_kit::quantize::{Calibration, QuantizedModel};
use tinyml_kit::tflite::{is_c_identifier, ImportOptions, TfliteModel};

use crate::print_json;

/// Whether `path` is an int8 model (`TKM8`) rather than a float one.
pub(crate) fn is_int8(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
    Ok(n == 4 && &magic == b"TKM8")
}

pub(crate) fn quantize_cmd(
    model: &Path,
    calibration: Option<&Path>,
    samples: usize,
    percentile: Option<f32>,
    allow_too_big: bool,
    out: &Path,
    json: bool,
) -> Result<()> {
    if samples == 0 {
        return Err(Error::param(
            "samples",
            "use at least 1 calibration example",
        ));
    }
    if let Some(p) = percentile {
        if !(0.0..50.0).contains(&p) {
            return Err(Error::param(
                "percentile",
                format!("{p} (use 0 to 50, e.g. 0.01)"),
            ));
        }
    }
    let bytes = std::fs::read(model).map_err(|e| Error::io(model, e))?;
    if bytes.starts_with(b"TKM8") {
        return Err(Error::param(
            "model",
            format!("{} is already an int8 model", model.display()),
        ));
    }
    let what = model.display().to_string();
    let (network, header) = tinyml_kit::nn::Network::from_file_bytes(&bytes, &what)?;
    let q = if header.kind.starts_with("digits-") {
        let m = DigitsModel::from_parts(network, header, &what)?;
        let data = match calibration {
            Some(path) => Digits::load(path, MnistSet::Train)?,
            None => Digits::course_default(),
        };
        let data = data.sample(samples.min(data.len()), 1);
        match percentile {
            None => m.quantize(&data)?,
            Some(p) => m.quantize_with(&data, Calibration::Percentile(p))?,
        }
    } else if header.kind.starts_with("kws-") {
        let m = KwsModel::from_parts(network, header, &what)?;
        let config = m.config()?;
        let data = match calibration {
            Some(dir) => KeywordData::load_with(dir, config)?,
            None => KeywordData::load_with(tinyml_kit::kws::default_dir(), config)?,
        };
        let data = data.sample(samples, 1)?;
        m.quantize_with(&data, Calibration::Percentile(percentile.unwrap_or(0.01)))?
    } else {
        return Err(Error::WrongModel(format!(
            "{}: a '{}' model; tinyml quantize takes digits and keyword models",
            model.display(),
            header.kind
        )));
    };
    if let Err(e) = q.check_fits(&Budget::NANO_33_BLE) {
        if !allow_too_big {
            return Err(Error::DoesNotFit(format!(
                "{e} (nothing written; --allow-too-big writes it anyway, for the laptop only)"
            )));
        }
        eprintln!("warning: {e}");
    }
    q.save(out)?;
    if json {
        let mut j = q.json();
        j["out"] = serde_json::json!(out);
        print_json(&j);
    } else {
        print!("{}", q.table());
        println!(
            "saved {} ({} bytes, arena {} bytes, labels {})",
            out.display(),
            q.size_bytes(),
            q.arena_bytes(),
            q.labels().join(", ")
        );
    }
    Ok(())
}

pub(crate) fn inspect(file: &Path, json: bool) -> Result<()> {
    let q = QuantizedModel::load(file)?;
    let j = q.json();
    if json {
        print_json(&j);
        return Ok(());
    }
    println!(
        "{}: TKM8 version {}, {} bytes, arena {} bytes",
        file.display(),
        j["version"],
        q.size_bytes(),
        q.arena_bytes()
    );
    println!("labels: {}", q.labels().join(", "));
    let input = &j["input"];
    println!(
        "input: {} int8 (scale {}, zero point {}); features: {}",
        input["shape"], input["scale"], input["zero_point"], j["front_end"]
    );
    print!("{}", q.table());
    match q.check_fits(&Budget::NANO_33_BLE) {
        Ok(()) => println!(
            "fits the {} ({} bytes of flash and {} bytes of RAM kept for a model)",
            Budget::NANO_33_BLE.board,
            Budget::NANO_33_BLE.model_flash,
            Budget::NANO_33_BLE.arena_ram
        ),
        Err(e) => println!("does not fit: {e}"),
    }
    Ok(())
}

pub(crate) fn export(
    file: &Path,
    format: &str,
    name: Option<String>,
    out: Option<&Path>,
) -> Result<()> {
    let q = QuantizedModel::load(file)?;
    if format == "tflite" {
        return export_tflite(&q, name.as_deref(), out);
    }
    if let Some(n) = name.as_deref().filter(|n| !is_c_identifier(n)) {
        return Err(Error::param(
            "name",
            format!("'{n}' is not a C/Rust identifier"),
        ));
    }
    let text = match format {
        "c" => q.to_c(name.as_deref().unwrap_or("model"))?,
        "rust" => q.to_rust(name.as_deref().unwrap_or("MODEL")),
        other => {
            return Err(Error::param(
                "format",
                format!("'{other}' (use tflite, c or rust)"),
            ))
        }
    };
    match out {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
            println!(
                "wrote {} ({} bytes of model)",
                path.display(),
                q.size_bytes()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// `tinyml export --format tflite`: a binary file, so `--out` is required.
fn export_tflite(q: &QuantizedModel, name: Option<&str>, out: Option<&Path>) -> Result<()> {
    if name.is_some() {
        return Err(Error::param(
            "name",
            "a .tflite file has no array name (--name is for c and rust)",
        ));
    }
    let path =
        out.ok_or_else(|| Error::param("out", "give the file to write, e.g. --out model.tflite"))?;
    let tflite = q.to_tflite()?;
    tflite.save(path)?;
    println!(
        "wrote {} ({} bytes, TensorFlow Lite int8): open it in Netron, run it with LiteRT \
         or TensorFlow Lite Micro",
        path.display(),
        tflite.size_bytes()
    );
    Ok(())
}

/// `tinyml import`: a `.tflite` int8 model as a `.tkm`.
pub(crate) fn import(
    file: &Path,
    front_end: Option<&str>,
    labels: Option<&str>,
    out: &Path,
) -> Result<()> {
    let options = ImportOptions {
        labels: labels.map(|l| l.split(',').map(|s| s.trim().to_string()).collect()),
        front_end: front_end.map(InputKind::named).transpose()?,
        kind: None,
    };
    let q = TfliteModel::load(file)?.to_quantized(&options)?;
    q.save(out)?;
    println!(
        "wrote {} ({} bytes, arena {} bytes; labels {})",
        out.display(),
        q.size_bytes(),
        q.arena_bytes(),
        q.labels().join(", ")
    );
    match q.check_fits(&Budget::NANO_33_BLE) {
        Ok(()) => println!("fits the {}", Budget::NANO_33_BLE.board),
        Err(e) => println!("does not fit: {e}"),
    }
    Ok(())
}
