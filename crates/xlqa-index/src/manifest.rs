//! `manifest.json`: what built an index and how, checked on every open.

use crate::IndexError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Version of the on-disk layout. Bump it whenever a reader of the old
/// layout would misread the new one.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_NAME: &str = "xlqa-index";

/// The encoder that produced the dense vectors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncoderInfo {
    pub id: String,
    pub weights_sha256: String,
    pub dim: usize,
    /// Arithmetic of the linear layers (`f32`, `int8`, `q4`); indexes from
    /// before this field was recorded were built with `f32`.
    #[serde(default = "f32_precision")]
    pub precision: String,
    /// For a fine-tuned encoder, the folder of its delta (`encoder.json` +
    /// `encoder.safetensors`) when the index was built: where a later
    /// `xlqa ask` finds it. Not compared by [`Manifest::check_encoder`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_dir: Option<String>,
}

fn f32_precision() -> String {
    "f32".to_string()
}

/// How documents were cut into passages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkingInfo {
    pub target_tokens: usize,
    pub min_tokens: usize,
}

/// One language's lexical analyzer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyzerInfo {
    /// Name of the analyzer (the tantivy tokenizer registered for it).
    pub name: String,
    /// Human-readable rules, e.g. "jieba segmentation + NFKC + lowercase".
    pub description: String,
    /// True when no language-specific rules exist for this language.
    pub generic: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub documents: usize,
    pub passages: usize,
    /// Documents whose only passage was under `min_tokens`.
    pub dropped_short: usize,
    /// Documents skipped as invalid input (`--skip-invalid`).
    pub skipped_invalid: usize,
    /// Documents whose language was detected rather than given.
    pub lang_detected: usize,
    /// Passages per language.
    pub passages_by_lang: BTreeMap<String, usize>,
}

/// The manifest of an index directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub created_by: String,
    pub encoder: EncoderInfo,
    pub langid_model: String,
    pub chunking: ChunkingInfo,
    /// Language code → its analyzer. Every language of the collection has one.
    pub analyzers: BTreeMap<String, AnalyzerInfo>,
    pub counts: Counts,
    /// The de-biasing transform the stored vectors went through (queries
    /// must go through it too); absent: raw encoder vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debias: Option<crate::Debias>,
    /// The approximate dense index stored in `ann.hnsw`, if one was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ann: Option<AnnInfo>,
    /// Random id of the build: a live update refuses to write into an index
    /// rebuilt since it was opened (same generation 0, other files).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub build_id: String,
    /// Live updates committed since the build (0: the index as built; see
    /// `update.rs`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
    /// Store rows that live updates deleted or replaced (sorted). They stay
    /// in the files until the index is rebuilt; no search returns them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted_rows: Vec<u32>,
    /// Passages added by live updates since the build, per language (how far
    /// the de-biasing statistics fitted at build time may have drifted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub added_by_lang: BTreeMap<String, usize>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// How the HNSW graph of an index was built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnInfo {
    /// `hnsw`.
    pub kind: String,
    pub m: usize,
    pub ef_construction: usize,
    pub seed: u64,
}

impl Manifest {
    pub fn new(
        encoder: EncoderInfo,
        langid_model: String,
        chunking: ChunkingInfo,
        analyzers: BTreeMap<String, AnalyzerInfo>,
        counts: Counts,
    ) -> Manifest {
        Manifest {
            format: FORMAT_NAME.to_string(),
            format_version: FORMAT_VERSION,
            created_by: format!("xlqa {}", env!("CARGO_PKG_VERSION")),
            encoder,
            langid_model,
            chunking,
            analyzers,
            counts,
            debias: None,
            ann: None,
            build_id: new_build_id(),
            generation: 0,
            deleted_rows: Vec::new(),
            added_by_lang: BTreeMap::new(),
        }
    }

    /// Passages a search can return (rows of the store less the deleted ones).
    pub fn live_passages(&self) -> usize {
        self.counts.passages - self.deleted_rows.len().min(self.counts.passages)
    }

    /// Writes the manifest durably and atomically: a temporary file, fsync,
    /// rename over `path`, fsync of the directory. A crash leaves the old
    /// manifest or the new one, never a mix.
    pub fn write_durable(&self, path: &Path) -> Result<(), IndexError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| IndexError::corrupt(path, format!("cannot serialize manifest: {e}")))?;
        let tmp = path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
        std::io::Write::write_all(&mut f, &json).map_err(|e| IndexError::io(&tmp, e))?;
        f.sync_all().map_err(|e| IndexError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| IndexError::io(path, e))?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    }

    /// Reads and validates a manifest. A directory that is not an xlqa index,
    /// or one written by another format version, is refused with a message
    /// that says what to do.
    pub fn read(path: &Path) -> Result<Manifest, IndexError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let bytes = std::fs::read(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                IndexError::Usage(format!(
                    "{} is not an xlqa index (no {}): build one with `xlqa index COLLECTION --out {}`",
                    dir.display(),
                    crate::MANIFEST_FILE,
                    dir.display()
                ))
            } else {
                IndexError::io(path, e)
            }
        })?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| IndexError::corrupt(path, format!("not valid JSON: {e}")))?;
        if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
            return Err(IndexError::corrupt(
                path,
                "not an xlqa index manifest (field \"format\" is not \"xlqa-index\")",
            ));
        }
        let version = v
            .get("format_version")
            .and_then(|f| f.as_u64())
            .unwrap_or(0);
        if version != u64::from(FORMAT_VERSION) {
            return Err(IndexError::Mismatch(format!(
                "index {} has format version {version}, but this xlqa reads version {FORMAT_VERSION}: rebuild it with `xlqa index COLLECTION --out {} --force`",
                dir.display(),
                dir.display()
            )));
        }
        serde_json::from_value(v)
            .map_err(|e| IndexError::corrupt(path, format!("bad manifest: {e}")))
    }

    pub fn write(&self, path: &Path) -> Result<(), IndexError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| IndexError::corrupt(path, format!("cannot serialize manifest: {e}")))?;
        std::fs::write(path, json).map_err(|e| IndexError::io(path, e))
    }

    /// Refuses to use an index with an encoder other than the one that
    /// built it: the vectors would be meaningless.
    pub fn check_encoder(&self, loaded: &EncoderInfo, dir: &Path) -> Result<(), IndexError> {
        let (m, l) = (&self.encoder, loaded);
        if (&m.id, &m.weights_sha256, m.dim, &m.precision)
            != (&l.id, &l.weights_sha256, l.dim, &l.precision)
        {
            return Err(IndexError::Mismatch(format!(
                "index {} was built with encoder {} (weights sha256 {}, dim {}, precision {}), but the loaded encoder is {} (weights sha256 {}, dim {}, precision {}): query it with the same encoder (for the precision: `--precision {}`), or rebuild it with `xlqa index COLLECTION --out {} --force`",
                dir.display(),
                self.encoder.id,
                short(&self.encoder.weights_sha256),
                self.encoder.dim,
                self.encoder.precision,
                loaded.id,
                short(&loaded.weights_sha256),
                loaded.dim,
                loaded.precision,
                self.encoder.precision,
                dir.display()
            )));
        }
        Ok(())
    }
}

/// A manifest with a dummy encoder, for tests of the parts that read one.
#[cfg(test)]
pub(crate) fn test_manifest(analyzers: BTreeMap<String, AnalyzerInfo>) -> Manifest {
    Manifest::new(
        EncoderInfo {
            id: "enc".into(),
            weights_sha256: "ab".repeat(32),
            dim: 4,
            precision: "int8".into(),
            delta_dir: None,
        },
        "lid".into(),
        ChunkingInfo {
            target_tokens: 100,
            min_tokens: 20,
        },
        analyzers,
        Counts::default(),
    )
}

/// Unique enough to tell two builds apart: time, process and a counter.
fn new_build_id() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{t:x}-{:x}-{n}", std::process::id())
}

/// fsync of a directory, so that a rename in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), IndexError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| IndexError::io(dir, e))
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        test_manifest(BTreeMap::new())
    }

    #[test]
    fn round_trip_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("manifest.json");
        let m = sample();
        m.write(&p).unwrap();
        assert_eq!(Manifest::read(&p).unwrap(), m);

        let other = EncoderInfo {
            id: "enc2".into(),
            weights_sha256: "cd".repeat(32),
            dim: 4,
            precision: "int8".into(),
            delta_dir: None,
        };
        let e = m.check_encoder(&other, dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("was built with encoder enc") && e.contains("rebuild"),
            "{e}"
        );
        m.check_encoder(&m.encoder, dir.path()).unwrap();
        // another precision of the same weights is refused, naming the option
        let f32 = EncoderInfo {
            precision: "f32".into(),
            delta_dir: None,
            ..m.encoder.clone()
        };
        let e = m.check_encoder(&f32, dir.path()).unwrap_err().to_string();
        assert!(e.contains("--precision int8"), "{e}");
        // a manifest written before the field existed reads as f32
        let mut v = serde_json::to_value(&m).unwrap();
        v["encoder"].as_object_mut().unwrap().remove("precision");
        let old: Manifest = serde_json::from_value(v).unwrap();
        assert_eq!(old.encoder.precision, "f32");
    }

    #[test]
    fn refuses_other_versions_and_non_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("manifest.json");
        let mut v = serde_json::to_value(sample()).unwrap();
        v["format_version"] = serde_json::json!(FORMAT_VERSION + 1);
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        let e = Manifest::read(&p).unwrap_err().to_string();
        assert!(e.contains("format version") && e.contains("rebuild"), "{e}");

        std::fs::write(&p, b"{\"format\":\"something\"}").unwrap();
        assert!(Manifest::read(&p)
            .unwrap_err()
            .to_string()
            .contains("not an xlqa index"));

        let e = Manifest::read(&dir.path().join("nope/manifest.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not an xlqa index"), "{e}");
    }
}
