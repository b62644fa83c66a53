//! A fine-tuned encoder stored as its difference from the base model: the
//! trained top layers (`encoder.safetensors`) and a record of what they
//! belong to and how they were made (`encoder.json`).
//!
//! Layers `0..from_layer` stay the base encoder's; layers
//! `from_layer..from_layer + layers` are replaced by the file's (run with
//! the encoder's own kernels, int8 weights requantized from the stored f32
//! ones). Loading checks the base encoder's sha256 and the file's sha256,
//! and names the file in every error. The fine-tuned encoder gets its own
//! id (`<base id>+<name>`) and weights checksum
//! (`sha256(base sha256 ‖ ":" ‖ delta sha256)`), so embedding caches and
//! index manifests keep the two apart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bert::TrainableLayer;
use crate::encoder::{Encoder, ModelError};

/// Format tag of `encoder.json`.
pub const DELTA_FORMAT: &str = "xlqa-encoder-delta/1";
/// The weights file in a delta folder.
pub const DELTA_WEIGHTS: &str = "encoder.safetensors";
/// The record in a delta folder.
pub const DELTA_META: &str = "encoder.json";

/// What `encoder.json` records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeltaMeta {
    pub format: String,
    /// Short name; the fine-tuned encoder's id is `<base_encoder>+<name>`.
    pub name: String,
    /// The base encoder: id and sha256 of its weights file.
    pub base_encoder: String,
    pub base_weights_sha256: String,
    /// First replaced layer (0-based) and the number of replaced layers.
    pub from_layer: usize,
    pub layers: usize,
    /// sha256 of `encoder.safetensors`.
    pub weights_sha256: String,
    /// How it was trained (command, data, losses, seed…), free-form JSON.
    #[serde(default)]
    pub recipe: serde_json::Value,
    /// Per-epoch numbers of the training run, free-form JSON.
    #[serde(default)]
    pub log: serde_json::Value,
}

impl DeltaMeta {
    /// The id of the fine-tuned encoder.
    pub fn encoder_id(&self) -> String {
        format!("{}+{}", self.base_encoder, self.name)
    }

    /// The weights checksum the fine-tuned encoder reports.
    pub fn combined_sha256(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.base_weights_sha256.as_bytes());
        h.update(b":");
        h.update(self.weights_sha256.as_bytes());
        hex(&h.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn delta_err(path: &Path, message: impl std::fmt::Display) -> ModelError {
    ModelError::Delta {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Writes `layers` and `meta` into `dir` (created when missing); fills in
/// `meta.weights_sha256`.
pub fn save_delta(
    dir: &Path,
    meta: &mut DeltaMeta,
    layers: &[TrainableLayer],
) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| delta_err(dir, e))?;
    let mut map: HashMap<String, Tensor> = HashMap::new();
    for (i, l) in layers.iter().enumerate() {
        for (name, t) in l.named(&format!("layer.{i}.")) {
            map.insert(name, t);
        }
    }
    let wpath = dir.join(DELTA_WEIGHTS);
    candle_core::safetensors::save(&map, &wpath).map_err(|e| delta_err(&wpath, e))?;
    meta.weights_sha256 = crate::install::sha256_file(&wpath).map_err(|e| delta_err(&wpath, e))?;
    meta.layers = layers.len();
    let mpath = dir.join(DELTA_META);
    let text = serde_json::to_string_pretty(meta).map_err(|e| delta_err(&mpath, e))? + "\n";
    std::fs::write(&mpath, text).map_err(|e| delta_err(&mpath, e))
}

/// Reads `dir/encoder.json`, checking its format.
pub fn read_delta_meta(dir: &Path) -> Result<DeltaMeta, ModelError> {
    let mpath = dir.join(DELTA_META);
    let text = std::fs::read_to_string(&mpath).map_err(|e| {
        delta_err(
            &mpath,
            format!("{e} (a fine-tuned encoder folder holds {DELTA_META} and {DELTA_WEIGHTS})"),
        )
    })?;
    let meta: DeltaMeta = serde_json::from_str(&text).map_err(|e| delta_err(&mpath, e))?;
    if meta.format != DELTA_FORMAT {
        return Err(delta_err(
            &mpath,
            format!("format is '{}', expected '{DELTA_FORMAT}'", meta.format),
        ));
    }
    Ok(meta)
}

/// The trained layers of the delta in `dir`, checked against `base` (its id,
/// weights checksum and layer count) and against the recorded sha256.
pub fn load_delta(
    dir: &Path,
    base: &Encoder,
) -> Result<(DeltaMeta, Vec<TrainableLayer>), ModelError> {
    let meta = read_delta_meta(dir)?;
    let mpath = dir.join(DELTA_META);
    if meta.base_encoder != base.id() || meta.base_weights_sha256 != base.weights_sha256() {
        return Err(delta_err(
            &mpath,
            format!(
                "made for encoder {} (weights sha256 {}), but the loaded encoder is {} ({})",
                meta.base_encoder,
                meta.base_weights_sha256,
                base.id(),
                base.weights_sha256()
            ),
        ));
    }
    let n = base.num_layers();
    if meta.layers == 0 || meta.from_layer + meta.layers > n {
        return Err(delta_err(
            &mpath,
            format!(
                "layers {}..{} do not fit an encoder of {n} layers",
                meta.from_layer,
                meta.from_layer + meta.layers
            ),
        ));
    }
    let wpath: PathBuf = dir.join(DELTA_WEIGHTS);
    let sha = crate::install::sha256_file(&wpath).map_err(|e| delta_err(&wpath, e))?;
    if sha != meta.weights_sha256 {
        return Err(delta_err(
            &wpath,
            format!(
                "sha256 is {sha}, {DELTA_META} records {} (a changed or damaged file)",
                meta.weights_sha256
            ),
        ));
    }
    let map =
        candle_core::safetensors::load(&wpath, &Device::Cpu).map_err(|e| delta_err(&wpath, e))?;
    let get = |name: &str| map.get(name).cloned();
    let layers = (0..meta.layers)
        .map(|i| TrainableLayer::from_named(&get, &format!("layer.{i}."), base.layer_shape()))
        .collect::<candle_core::Result<Vec<_>>>()
        .map_err(|e| delta_err(&wpath, e))?;
    Ok((meta, layers))
}

impl Encoder {
    /// Turns this (base) encoder into the fine-tuned one stored in `dir`.
    pub fn apply_delta(&mut self, dir: &Path) -> Result<DeltaMeta, ModelError> {
        let (meta, layers) = load_delta(dir, self)?;
        self.replace_layers(meta.from_layer, &layers)?;
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        self.set_identity(meta.encoder_id(), meta.combined_sha256(), &dir);
        Ok(meta)
    }
}
