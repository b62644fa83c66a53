//! Models shipped inside the binary: the span reader and the aligned
//! encoder's delta of the repository's `models/`, embedded at build time so
//! that an installed binary (`cargo install`) has them without the source
//! tree. On first use they are written to `$XLQA_HOME/shipped/<name>-<sha>/`
//! (temporary file, then rename), and checked on every later use.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use xlqa_models::install::ModelHome;

use crate::SearchError;

/// One shipped model: a folder of files.
pub struct Shipped {
    pub name: &'static str,
    pub files: &'static [(&'static str, &'static [u8])],
}

/// The span reader of `models/span-reader`.
pub const SPAN_READER: Shipped = Shipped {
    name: "span-reader",
    files: &[
        (
            "reader.json",
            include_bytes!("../../../models/span-reader/reader.json"),
        ),
        (
            "reader.safetensors",
            include_bytes!("../../../models/span-reader/reader.safetensors"),
        ),
    ],
};

/// The cross-lingually aligned encoder delta of `models/aligned-encoder`.
pub const ALIGNED_ENCODER: Shipped = Shipped {
    name: "aligned-encoder",
    files: &[
        (
            "encoder.json",
            include_bytes!("../../../models/aligned-encoder/encoder.json"),
        ),
        (
            "encoder.safetensors",
            include_bytes!("../../../models/aligned-encoder/encoder.safetensors"),
        ),
    ],
};

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Shipped {
    /// A short digest naming this version's folder: of the first file, the
    /// JSON description, which records the sha256 of the weights.
    fn version(&self) -> String {
        self.files
            .first()
            .map_or_else(String::new, |(_, b)| sha_hex(b)[..12].to_string())
    }

    /// The folder holding this model's files under `home`, written if missing.
    pub fn dir(&self, home: &ModelHome) -> Result<PathBuf, SearchError> {
        let dir = home
            .root()
            .join("shipped")
            .join(format!("{}-{}", self.name, self.version()));
        let io = |p: &Path, e: std::io::Error| SearchError::Input(format!("{}: {e}", p.display()));
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        for (name, bytes) in self.files {
            let path = dir.join(name);
            let ok = std::fs::read(&path).is_ok_and(|b| b == *bytes);
            if !ok {
                let tmp = dir.join(format!(".{name}.partial-{}", std::process::id()));
                std::fs::write(&tmp, bytes).map_err(|e| io(&tmp, e))?;
                std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
            }
        }
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_models_are_written_once_and_repaired_when_damaged() {
        let tmp = tempfile::tempdir().unwrap();
        let home = ModelHome::new(tmp.path().to_path_buf());
        let dir = SPAN_READER.dir(&home).unwrap();
        let json = dir.join("reader.json");
        assert_eq!(std::fs::read(&json).unwrap(), SPAN_READER.files[0].1);
        std::fs::write(&json, b"damaged").unwrap();
        assert_eq!(SPAN_READER.dir(&home).unwrap(), dir);
        assert_eq!(std::fs::read(&json).unwrap(), SPAN_READER.files[0].1);
    }
}
