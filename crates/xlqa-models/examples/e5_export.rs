//! Exports multilingual-e5-small, dequantized to f32, as safetensors (for the
//! peer benchmarks in `bench/`, which build the same network in ONNX).
//!
//! `cargo run --release -p xlqa-models --example e5_export -- OUT.safetensors`
//!
//! Tensor names are the `E5S1` ones (`emb.word`, `l0.q.w`, …); matrices keep
//! the PyTorch `[out, in]` layout. The header values go into the metadata.
use std::collections::HashMap;

use candle_core::quantized::{ggml_file::qtensor_from_ggml, GgmlDType};
use candle_core::{Device, Tensor};
use xlqa_models::e5s1::{DType, E5s1File};
use xlqa_models::{ModelHome, E5_SMALL_Q4};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .ok_or("usage: e5_export OUT.safetensors")?;
    let home = ModelHome::from_env()?;
    let path = home.ensure(&E5_SMALL_Q4)?;
    let f = E5s1File::open(&path)?;
    let h = *f.header();
    let dev = Device::Cpu;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for e in f.tensors() {
        let count = e.count as usize;
        let (hs, ff) = (h.hidden, h.ff);
        let name = e.name.as_str();
        let shape: Vec<usize> = if name == "emb.word" {
            vec![h.vocab, hs]
        } else if name == "emb.pos" {
            vec![h.max_positions, hs]
        } else if name == "emb.type" {
            vec![h.type_vocab, hs]
        } else if name.ends_with(".fi.w") {
            vec![ff, hs]
        } else if name.ends_with(".fo.w") {
            vec![hs, ff]
        } else if name.ends_with(".w") && e.dtype == DType::Q4_0 {
            vec![hs, hs]
        } else {
            vec![count]
        };
        if shape.iter().product::<usize>() != count {
            return Err(format!("{name}: {count} values do not fit {shape:?}").into());
        }
        let t = match e.dtype {
            DType::Q4_0 => {
                let bytes = f.tensor_bytes(&e.name, DType::Q4_0, count)?;
                qtensor_from_ggml(GgmlDType::Q4_0, bytes, shape.clone(), &dev)?.dequantize(&dev)?
            }
            _ => Tensor::from_vec(f.f32_tensor(&e.name, count)?, shape.clone(), &dev)?,
        };
        tensors.insert(e.name.clone(), t);
    }
    candle_core::safetensors::save(&tensors, &out)?;
    let meta = serde_json::json!({
        "hidden": h.hidden, "layers": h.layers, "heads": h.heads, "ff": h.ff,
        "vocab": h.vocab, "max_positions": h.max_positions, "eps": h.eps,
    });
    std::fs::write(format!("{out}.json"), serde_json::to_string_pretty(&meta)?)?;
    println!("wrote {} tensors to {out} (+ {out}.json)", tensors.len());
    Ok(())
}
