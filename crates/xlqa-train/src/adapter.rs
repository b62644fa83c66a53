//! A linear alignment adapter on sentence embeddings.
//!
//! `z = normalize(v · W)`, `W` a `d × d` matrix trained by
//! [`crate::trainer`] (initialized at the identity). Applied after the
//! index's de-biasing transform when the adapter was trained on centered
//! vectors (`input = "center"`), else on the encoder's vectors.
//!
//! On disk, a folder: `adapter.safetensors` (one tensor, `weight`, f32
//! `[d, d]`) and `adapter.json` (format, dimension, the base encoder it was
//! trained on, the sha256 of the safetensors file, the recipe and the
//! training log). Loading verifies the checksum and the encoder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The format name written into `adapter.json`.
pub const ADAPTER_FORMAT: &str = "xlqa-adapter";
/// The weights file inside an adapter folder.
pub const WEIGHTS_FILE: &str = "adapter.safetensors";
/// The description file inside an adapter folder.
pub const META_FILE: &str = "adapter.json";

/// Errors of saving and loading adapters.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Tensor {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },
    #[error("adapter {path} was trained on encoder {want} (weights sha256 {want_sha}…), but the loaded encoder is {got} ({got_sha}…)")]
    Encoder {
        path: PathBuf,
        want: String,
        want_sha: String,
        got: String,
        got_sha: String,
    },
}

/// What an adapter says about itself (`adapter.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterMeta {
    pub format: String,
    pub dim: usize,
    /// Encoder id and weights sha256 the training vectors came from.
    pub encoder: String,
    pub encoder_sha256: String,
    /// What the adapter expects as input: "raw" (encoder vectors) or
    /// "center" (vectors centered per language, as `xlqa index` stores).
    pub input: String,
    /// sha256 of `adapter.safetensors`.
    pub weights_sha256: String,
    /// The training recipe and log, as the trainer wrote them.
    pub recipe: serde_json::Value,
    pub log: serde_json::Value,
}

/// A loaded adapter.
#[derive(Clone, Debug)]
pub struct Adapter {
    pub meta: AdapterMeta,
    /// Row-major `dim × dim`.
    pub weight: Vec<f32>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AdapterError + '_ {
    move |source| AdapterError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn tensor_err(path: &Path) -> impl FnOnce(candle_core::Error) -> AdapterError + '_ {
    move |source| AdapterError::Tensor {
        path: path.to_path_buf(),
        source,
    }
}

impl Adapter {
    /// `z = normalize(v · W)` in place.
    pub fn apply(&self, v: &mut [f32]) {
        let d = self.meta.dim;
        let mut out = vec![0f32; d];
        for (i, &x) in v.iter().enumerate().take(d) {
            if x != 0.0 {
                let row = &self.weight[i * d..(i + 1) * d];
                out.iter_mut().zip(row).for_each(|(o, w)| *o += x * w);
            }
        }
        let n = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 0.0 {
            out.iter_mut().for_each(|x| *x /= n);
        }
        v.copy_from_slice(&out);
    }

    /// Writes the folder `dir` (created if missing); fills in the checksum.
    pub fn save(&mut self, dir: &Path) -> Result<(), AdapterError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let wpath = dir.join(WEIGHTS_FILE);
        let d = self.meta.dim;
        let t = Tensor::from_vec(self.weight.clone(), (d, d), &Device::Cpu)
            .map_err(tensor_err(&wpath))?;
        let mut map = HashMap::new();
        map.insert("weight".to_string(), t);
        candle_core::safetensors::save(&map, &wpath).map_err(tensor_err(&wpath))?;
        self.meta.weights_sha256 = sha256_file(&wpath)?;
        let mpath = dir.join(META_FILE);
        let json = serde_json::to_string_pretty(&self.meta).map_err(|e| AdapterError::Invalid {
            path: mpath.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&mpath, json + "\n").map_err(io(&mpath))?;
        Ok(())
    }

    /// Reads an adapter folder, verifying format, checksum and shape.
    pub fn load(dir: &Path) -> Result<Adapter, AdapterError> {
        let mpath = dir.join(META_FILE);
        let text = std::fs::read_to_string(&mpath).map_err(io(&mpath))?;
        let meta: AdapterMeta = serde_json::from_str(&text).map_err(|e| AdapterError::Invalid {
            path: mpath.clone(),
            message: format!("not an adapter description: {e}"),
        })?;
        if meta.format != ADAPTER_FORMAT {
            return Err(AdapterError::Invalid {
                path: mpath,
                message: format!("format is '{}', expected '{ADAPTER_FORMAT}'", meta.format),
            });
        }
        if meta.input != "raw" && meta.input != "center" {
            return Err(AdapterError::Invalid {
                path: mpath,
                message: format!("input is '{}', expected raw or center", meta.input),
            });
        }
        let wpath = dir.join(WEIGHTS_FILE);
        let sha = sha256_file(&wpath)?;
        if sha != meta.weights_sha256 {
            return Err(AdapterError::Invalid {
                path: wpath,
                message: format!(
                    "sha256 {sha} does not match {} recorded in {META_FILE}: the file is damaged or was replaced",
                    meta.weights_sha256
                ),
            });
        }
        let map =
            candle_core::safetensors::load(&wpath, &Device::Cpu).map_err(tensor_err(&wpath))?;
        let t = map.get("weight").ok_or_else(|| AdapterError::Invalid {
            path: wpath.clone(),
            message: "no tensor named 'weight'".to_string(),
        })?;
        let d = meta.dim;
        if t.dims() != [d, d] {
            return Err(AdapterError::Invalid {
                path: wpath,
                message: format!("weight has shape {:?}, expected [{d}, {d}]", t.dims()),
            });
        }
        let weight = t
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(tensor_err(&wpath))?;
        Ok(Adapter { meta, weight })
    }

    /// Refuses an adapter trained on another encoder.
    pub fn check_encoder(&self, id: &str, sha256: &str, dir: &Path) -> Result<(), AdapterError> {
        if self.meta.encoder != id || self.meta.encoder_sha256 != sha256 {
            return Err(AdapterError::Encoder {
                path: dir.to_path_buf(),
                want: self.meta.encoder.clone(),
                want_sha: self.meta.encoder_sha256.chars().take(12).collect(),
                got: id.to_string(),
                got_sha: sha256.chars().take(12).collect(),
            });
        }
        Ok(())
    }
}

fn sha256_file(path: &Path) -> Result<String, AdapterError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dim: usize) -> Adapter {
        let mut weight = vec![0f32; dim * dim];
        for i in 0..dim {
            weight[i * dim + i] = 1.0;
        }
        weight[1] = 2.0; // row 0 → column 1
        Adapter {
            meta: AdapterMeta {
                format: ADAPTER_FORMAT.into(),
                dim,
                encoder: "enc".into(),
                encoder_sha256: "ab".repeat(32),
                input: "center".into(),
                weights_sha256: String::new(),
                recipe: serde_json::json!({"seed": 1}),
                log: serde_json::json!([]),
            },
            weight,
        }
    }

    #[test]
    fn apply_is_v_times_w_normalized() {
        let a = sample(3);
        let mut v = vec![1.0, 0.0, 0.0];
        a.apply(&mut v);
        // (1,0,0)·W = (1,2,0) → /√5
        let r = 5f32.sqrt();
        assert!((v[0] - 1.0 / r).abs() < 1e-6 && (v[1] - 2.0 / r).abs() < 1e-6 && v[2] == 0.0);
    }

    #[test]
    fn save_load_round_trip_and_damage_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = sample(4);
        a.save(dir.path()).unwrap();
        let b = Adapter::load(dir.path()).unwrap();
        assert_eq!(b.weight, a.weight);
        assert_eq!(b.meta, a.meta);
        b.check_encoder("enc", &"ab".repeat(32), dir.path())
            .unwrap();
        let e = b
            .check_encoder("other", "cd", dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("trained on encoder enc") && e.contains("other"),
            "{e}"
        );
        // damage the weights
        let w = dir.path().join(WEIGHTS_FILE);
        let mut bytes = std::fs::read(&w).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x55;
        std::fs::write(&w, bytes).unwrap();
        let e = Adapter::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("does not match"), "{e}");
        // not an adapter
        std::fs::write(dir.path().join(META_FILE), "{}").unwrap();
        let e = Adapter::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not an adapter description"), "{e}");
    }
}
