//! Atomic construction of an index directory.

use crate::manifest::Manifest;
use crate::IndexError;
use std::path::{Path, PathBuf};

/// Writes an index into `OUT.partial-<pid>` and renames it to `OUT` only when
/// [`IndexWriter::finish`] is called, after the manifest is written. An
/// interrupted build leaves at most the partial directory, which the next
/// build of the same `OUT` removes. An existing index at `OUT` is replaced
/// only with `force`, and only once the new one is complete.
pub struct IndexWriter {
    out: PathBuf,
    tmp: PathBuf,
    finished: bool,
}

impl IndexWriter {
    pub fn create(out: &Path, force: bool) -> Result<IndexWriter, IndexError> {
        if out.exists() {
            let is_index = out.join(crate::MANIFEST_FILE).exists();
            if !force {
                return Err(IndexError::Usage(if is_index {
                    format!("{} already holds an index: pass --force to replace it", out.display())
                } else {
                    format!(
                        "{} exists and is not an xlqa index: choose another --out directory",
                        out.display()
                    )
                }));
            }
            if !is_index && out.read_dir().map(|mut d| d.next().is_some()).unwrap_or(true) {
                return Err(IndexError::Usage(format!(
                    "{} exists, is not empty and is not an xlqa index: refusing to replace it even with --force",
                    out.display()
                )));
            }
        }
        let name = out
            .file_name()
            .ok_or_else(|| IndexError::Usage(format!("{} is not a directory name", out.display())))?
            .to_string_lossy()
            .to_string();
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| IndexError::io(&parent, e))?;
        // Remove partial directories left by interrupted builds of this index.
        if let Ok(entries) = parent.read_dir() {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if n.starts_with(&format!("{name}.partial-")) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let tmp = parent.join(format!("{name}.partial-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
        Ok(IndexWriter { out: out.to_path_buf(), tmp, finished: false })
    }

    /// Directory to write the parts into.
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// Writes the manifest and moves the index into place.
    pub fn finish(mut self, manifest: &Manifest) -> Result<PathBuf, IndexError> {
        manifest.write(&self.tmp.join(crate::MANIFEST_FILE))?;
        if self.out.exists() {
            let old = self.tmp.with_extension("old");
            std::fs::rename(&self.out, &old).map_err(|e| IndexError::io(&self.out, e))?;
            std::fs::rename(&self.tmp, &self.out).map_err(|e| IndexError::io(&self.out, e))?;
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&self.tmp, &self.out).map_err(|e| IndexError::io(&self.out, e))?;
        }
        self.finished = true;
        Ok(self.out.clone())
    }
}

impl Drop for IndexWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}
