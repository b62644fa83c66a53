//! An on-disk cache of text embeddings, so that evaluations which encode the
//! same ~26k texts again (another metric, another diagnostic, a rerun after a
//! crash) do not pay for the encoder twice.
//!
//! **Key.** A record is found by `sha256(config ‖ 0 ‖ kind prefix ‖ text)`,
//! where `config` names everything that changes the vector: the encoder id,
//! the sha256 of its weights file, the precision of the linear layers and the
//! token limit (truncation). Another model, another precision or another
//! `max_tokens` therefore never reads a stale vector: it uses another file.
//!
//! **File.** One file per configuration,
//! `<dir>/<encoder id>-<first 16 hex digits of sha256(config)>.emb`:
//! a 16-byte header (`XLQAEMB1`, dimension as u32 LE, 4 zero bytes), then
//! records of 32 key bytes followed by `dim` little-endian f32. New vectors
//! are appended with one `write` per batch (`O_APPEND`), so an interrupted
//! run keeps every finished batch and two processes appending at once do not
//! interleave records. A torn last record (the process was killed inside a
//! write) is ignored on load and overwritten by the next append, with a
//! warning on stderr; any other inconsistency is an error naming the file.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::encoder::{Encoder, ModelError, TextKind};

const MAGIC: &[u8; 8] = b"XLQAEMB1";
const HEADER: usize = 16;

/// Errors of the embedding cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Reading or writing the cache file failed.
    #[error("embedding cache {path}: {source}")]
    Io {
        /// The cache file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The cache file is not one this version wrote.
    #[error("embedding cache {path} is damaged ({reason}); delete it and it will be rebuilt")]
    Corrupt {
        /// The cache file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The encoder failed on a text that was not cached yet.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// How a lookup went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Texts found in the cache.
    pub hits: usize,
    /// Distinct texts encoded now (and appended); a text that occurs twice
    /// in one call is encoded once.
    pub encoded: usize,
}

/// Embeddings of one encoder configuration, loaded in memory, backed by a file.
pub struct EmbeddingCache {
    path: PathBuf,
    config: Vec<u8>,
    dim: usize,
    map: HashMap<[u8; 32], Vec<f32>>,
}

impl std::fmt::Debug for EmbeddingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingCache")
            .field("path", &self.path)
            .field("dim", &self.dim)
            .field("entries", &self.map.len())
            .finish()
    }
}

/// The bytes that identify everything that changes an encoder's output.
fn config_of(enc: &Encoder) -> Vec<u8> {
    let o = enc.options();
    format!(
        "{}\0{}\0{}\0{}",
        enc.id(),
        enc.weights_sha256(),
        o.precision,
        o.max_tokens
    )
    .into_bytes()
}

impl EmbeddingCache {
    /// Opens (or starts) the cache of `enc`'s configuration in `dir`.
    pub fn open(dir: &Path, enc: &Encoder) -> Result<EmbeddingCache, CacheError> {
        let config = config_of(enc);
        let tag = hex::encode(&Sha256::digest(&config)[..8]);
        let path = dir.join(format!("{}-{tag}.emb", enc.id()));
        Self::open_file(path, config, enc.dim())
    }

    fn open_file(path: PathBuf, config: Vec<u8>, dim: usize) -> Result<EmbeddingCache, CacheError> {
        let io = |source| CacheError::Io {
            path: path.clone(),
            source,
        };
        let corrupt = |reason: String| CacheError::Corrupt {
            path: path.clone(),
            reason,
        };
        let mut map = HashMap::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                if bytes.len() < HEADER || &bytes[..8] != MAGIC {
                    return Err(corrupt("no XLQAEMB1 header".into()));
                }
                let file_dim = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
                if file_dim as usize != dim {
                    return Err(corrupt(format!(
                        "vectors of {file_dim} dimensions, the encoder has {dim}"
                    )));
                }
                let rec = 32 + 4 * dim;
                let body = &bytes[HEADER..];
                let whole = body.len() / rec;
                if !body.len().is_multiple_of(rec) {
                    eprintln!(
                        "warning: {}: ignoring a torn last record ({} bytes) left by an interrupted run",
                        path.display(),
                        body.len() % rec
                    );
                }
                map.reserve(whole);
                for r in body.chunks_exact(rec) {
                    let mut key = [0u8; 32];
                    key.copy_from_slice(&r[..32]);
                    let v: Vec<f32> = r[32..]
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                    map.insert(key, v);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        Ok(EmbeddingCache {
            path,
            config,
            dim,
            map,
        })
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of vectors cached.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn key(&self, text: &str, kind: TextKind) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(&self.config);
        h.update([0u8]);
        h.update(kind.prefix().as_bytes());
        h.update(text.as_bytes());
        h.finalize().into()
    }

    /// The cached vector of `text`, if any.
    pub fn get(&self, text: &str, kind: TextKind) -> Option<&[f32]> {
        self.map.get(&self.key(text, kind)).map(|v| v.as_slice())
    }

    /// Embeddings of `texts` in order: cached ones are read, the others are
    /// encoded by `enc` in chunks of `chunk` texts, each chunk appended to the
    /// file as soon as it is done. `progress(done, total)` counts all texts.
    pub fn encode(
        &mut self,
        enc: &Encoder,
        texts: &[&str],
        kind: TextKind,
        chunk: usize,
        progress: &dyn Fn(usize, usize),
    ) -> Result<(Vec<Vec<f32>>, CacheStats), CacheError> {
        if config_of(enc) != self.config {
            return Err(ModelError::Options(format!(
                "the embedding cache {} belongs to another encoder configuration",
                self.path.display()
            ))
            .into());
        }
        let keys: Vec<[u8; 32]> = texts.iter().map(|t| self.key(t, kind)).collect();
        // each distinct missing text once
        let mut missing: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, k) in keys.iter().enumerate() {
            if !self.map.contains_key(k) && seen.insert(*k) {
                missing.push(i);
            }
        }
        let total = texts.len();
        let hits = keys.iter().filter(|k| self.map.contains_key(*k)).count();
        progress(hits, total);
        let mut done = hits;
        for part in missing.chunks(chunk.max(1)) {
            let batch: Vec<&str> = part.iter().map(|&i| texts[i]).collect();
            let vecs = enc.encode_with_progress(&batch, kind, &|n| progress(done + n, total))?;
            self.append(part.iter().map(|&i| &keys[i]).zip(&vecs))?;
            for (&i, v) in part.iter().zip(vecs) {
                self.map.insert(keys[i], v);
            }
            done += part.len();
        }
        let out = keys
            .iter()
            .map(|k| {
                self.map.get(k).cloned().ok_or_else(|| CacheError::Corrupt {
                    path: self.path.clone(),
                    reason: "a vector just encoded is missing".into(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            out,
            CacheStats {
                hits,
                encoded: missing.len(),
            },
        ))
    }

    fn append<'a>(
        &mut self,
        records: impl Iterator<Item = (&'a [u8; 32], &'a Vec<f32>)>,
    ) -> Result<(), CacheError> {
        let io = |source| CacheError::Io {
            path: self.path.clone(),
            source,
        };
        let mut buf = Vec::new();
        for (k, v) in records {
            if v.len() != self.dim {
                return Err(CacheError::Corrupt {
                    path: self.path.clone(),
                    reason: format!("a vector of {} dimensions, expected {}", v.len(), self.dim),
                });
            }
            buf.extend_from_slice(k);
            for x in v {
                buf.extend_from_slice(&x.to_le_bytes());
            }
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        let rec = (32 + 4 * self.dim) as u64;
        if len == 0 {
            let mut header = Vec::with_capacity(HEADER);
            header.extend_from_slice(MAGIC);
            header.extend_from_slice(&(self.dim as u32).to_le_bytes());
            header.extend_from_slice(&[0u8; 4]);
            f.write_all(&header).map_err(io)?;
        } else if len < HEADER as u64 {
            return Err(CacheError::Corrupt {
                path: self.path.clone(),
                reason: "shorter than its header".into(),
            });
        } else if !(len - HEADER as u64).is_multiple_of(rec) {
            // cut the torn record an interrupted run left before appending
            f.set_len(len - (len - HEADER as u64) % rec).map_err(io)?;
        }
        f.write_all(&buf).map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path, dim: usize) -> EmbeddingCache {
        EmbeddingCache::open_file(dir.join("t.emb"), b"cfg".to_vec(), dim).unwrap()
    }

    #[test]
    fn vectors_survive_reopen_and_keys_separate_kind_and_text() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cache(dir.path(), 3);
        let k1 = c.key("hello", TextKind::Query);
        let k2 = c.key("hello", TextKind::Passage);
        let k3 = c.key("hello ", TextKind::Query);
        assert_ne!(k1, k2);
        assert_ne!(k1, k3);
        let v1 = vec![1.0f32, 2.0, 3.0];
        let v2 = vec![-1.0f32, 0.5, 0.25];
        c.append([(&k1, &v1), (&k2, &v2)].into_iter()).unwrap();
        c.map.insert(k1, v1.clone());
        let c2 = cache(dir.path(), 3);
        assert_eq!(c2.len(), 2);
        assert_eq!(c2.get("hello", TextKind::Query), Some(&v1[..]));
        assert_eq!(c2.get("hello", TextKind::Passage), Some(&v2[..]));
        assert_eq!(c2.get("hello ", TextKind::Query), None);
        // other configuration → other key
        let other =
            EmbeddingCache::open_file(dir.path().join("t.emb"), b"cfg2".to_vec(), 3).unwrap();
        assert_ne!(other.key("hello", TextKind::Query), k1);
    }

    #[test]
    fn torn_tail_is_ignored_then_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cache(dir.path(), 2);
        let k = c.key("a", TextKind::Query);
        c.append([(&k, &vec![1.0f32, 2.0])].into_iter()).unwrap();
        // simulate a write killed half-way
        let path = dir.path().join("t.emb");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&[7u8; 10]).unwrap();
        drop(f);
        let mut c = cache(dir.path(), 2);
        assert_eq!(c.len(), 1);
        let k2 = c.key("b", TextKind::Query);
        c.append([(&k2, &vec![3.0f32, 4.0])].into_iter()).unwrap();
        let c = cache(dir.path(), 2);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("b", TextKind::Query), Some(&[3.0f32, 4.0][..]));
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            (HEADER + 2 * (32 + 8)) as u64
        );
    }

    #[test]
    fn wrong_dimension_or_header_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cache(dir.path(), 2);
        let k = c.key("a", TextKind::Query);
        c.append([(&k, &vec![1.0f32, 2.0])].into_iter()).unwrap();
        let e =
            EmbeddingCache::open_file(dir.path().join("t.emb"), b"cfg".to_vec(), 3).unwrap_err();
        assert!(
            e.to_string().contains("t.emb") && e.to_string().contains("3"),
            "{e}"
        );
        std::fs::write(dir.path().join("bad.emb"), b"nonsense-file-content").unwrap();
        let e =
            EmbeddingCache::open_file(dir.path().join("bad.emb"), b"cfg".to_vec(), 2).unwrap_err();
        assert!(e.to_string().contains("bad.emb"), "{e}");
    }
}
