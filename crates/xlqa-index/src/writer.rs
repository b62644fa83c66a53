//! Atomic construction of an index directory.

use crate::manifest::Manifest;
use crate::IndexError;
use std::path::{Path, PathBuf};

/// Writes an index into `OUT.partial-<pid>` and renames it to `OUT` only when
/// [`IndexWriter::finish`] is called, after the manifest is written. An
/// interrupted build leaves at most the partial directory, which the next
/// build of the same `OUT` removes. An existing index at `OUT` is replaced
/// only with `force`, and only once the new one is complete: it is first
/// renamed to `OUT.old`, then the new one to `OUT`. A build killed between
/// the two renames leaves `OUT.old` and no `OUT`; the next build of `OUT`
/// puts `OUT.old` back first (nothing is lost), and removes an `OUT.old`
/// left beside a complete `OUT`.
pub struct IndexWriter {
    out: PathBuf,
    tmp: PathBuf,
    finished: bool,
}

impl IndexWriter {
    pub fn create(out: &Path, force: bool) -> Result<IndexWriter, IndexError> {
        recover_old(out)?;
        if out.exists() {
            let is_index = out.join(crate::MANIFEST_FILE).exists();
            if !force {
                return Err(IndexError::Usage(if is_index {
                    format!(
                        "{} already holds an index: pass --force to replace it",
                        out.display()
                    )
                } else {
                    format!(
                        "{} exists and is not an xlqa index: choose another --out directory",
                        out.display()
                    )
                }));
            }
            if !is_index
                && out
                    .read_dir()
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(true)
            {
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
        Ok(IndexWriter {
            out: out.to_path_buf(),
            tmp,
            finished: false,
        })
    }

    /// Directory to write the parts into.
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// Writes the manifest and moves the index into place.
    pub fn finish(self, manifest: &Manifest) -> Result<PathBuf, IndexError> {
        self.finish_with(manifest, false)
    }

    /// [`IndexWriter::finish`]; with `crash_between`, stops like a killed
    /// process right after the first rename (for the fault-injection test).
    fn finish_with(
        mut self,
        manifest: &Manifest,
        crash_between: bool,
    ) -> Result<PathBuf, IndexError> {
        manifest.write(&self.tmp.join(crate::MANIFEST_FILE))?;
        if self.out.exists() {
            // no live update may commit into the index being replaced (it
            // would be lost with it); writers that opened it find the new
            // build id and refuse
            let _updates = if self.out.join(crate::MANIFEST_FILE).exists() {
                Some(crate::update::WriterLock::acquire(&self.out)?)
            } else {
                None
            };
            let old = old_path(&self.out);
            std::fs::rename(&self.out, &old).map_err(|e| IndexError::io(&self.out, e))?;
            if crash_between {
                std::mem::forget(self); // a killed process runs no destructor
                return Err(IndexError::Usage(
                    "simulated crash between the renames".into(),
                ));
            }
            std::fs::rename(&self.tmp, &self.out).map_err(|e| IndexError::io(&self.out, e))?;
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&self.tmp, &self.out).map_err(|e| IndexError::io(&self.out, e))?;
        }
        self.finished = true;
        Ok(self.out.clone())
    }
}

/// `OUT.old`: where the index being replaced waits during the swap.
fn old_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".old");
    out.with_file_name(name)
}

/// Undoes a swap interrupted between its two renames (`OUT.old` without
/// `OUT`: the previous index goes back) and removes an `OUT.old` left
/// beside a complete `OUT`.
fn recover_old(out: &Path) -> Result<(), IndexError> {
    let old = old_path(out);
    if !old.exists() {
        return Ok(());
    }
    if out.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| IndexError::io(&old, e))
    } else {
        std::fs::rename(&old, out).map_err(|e| IndexError::io(&old, e))
    }
}

impl Drop for IndexWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_manifest;

    fn manifest() -> Manifest {
        test_manifest(Default::default())
    }

    #[test]
    fn nothing_appears_until_finished_and_interrupted_builds_are_cleaned() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("idx");
        {
            let w = IndexWriter::create(&out, false).unwrap();
            std::fs::write(w.dir().join("part"), b"x").unwrap();
            assert!(!out.exists());
            // dropped without finish: as after an error
        }
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);

        // a partial directory left by a killed process is removed by the next build
        std::fs::create_dir_all(d.path().join("idx.partial-999999")).unwrap();
        let w = IndexWriter::create(&out, false).unwrap();
        assert!(!d.path().join("idx.partial-999999").exists());
        w.finish(&manifest()).unwrap();
        assert!(out.join("manifest.json").exists());

        // an existing index needs --force; with it, it is replaced
        let e = IndexWriter::create(&out, false)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("--force"), "{e}");
        let w = IndexWriter::create(&out, true).unwrap();
        std::fs::write(w.dir().join("new"), b"y").unwrap();
        w.finish(&manifest()).unwrap();
        assert!(out.join("new").exists());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);

        // a non-index directory with content is never replaced
        let other = d.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("precious"), b"z").unwrap();
        let e = IndexWriter::create(&other, true)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("not an xlqa index"), "{e}");
        assert!(other.join("precious").exists());
    }

    #[test]
    fn a_build_killed_between_the_renames_loses_nothing() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("idx");
        let w = IndexWriter::create(&out, false).unwrap();
        std::fs::write(w.dir().join("first"), b"1").unwrap();
        w.finish(&manifest()).unwrap();
        // replace it, and "kill" the build after out → out.old
        let w = IndexWriter::create(&out, true).unwrap();
        std::fs::write(w.dir().join("second"), b"2").unwrap();
        assert!(w.finish_with(&manifest(), true).is_err());
        assert!(!out.exists());
        assert!(d.path().join("idx.old/first").exists());
        // the next build puts the previous index back before anything else
        let e = IndexWriter::create(&out, false)
            .err()
            .expect("refused without --force")
            .to_string();
        assert!(e.contains("--force"), "{e}");
        assert!(out.join("first").exists(), "the previous index is back");
        assert!(!d.path().join("idx.old").exists());
        // a stale idx.old beside a complete index is removed
        std::fs::create_dir_all(d.path().join("idx.old")).unwrap();
        let w = IndexWriter::create(&out, true).unwrap();
        assert!(!d.path().join("idx.old").exists());
        std::fs::write(w.dir().join("third"), b"3").unwrap();
        w.finish(&manifest()).unwrap();
        assert!(out.join("third").exists() && !out.join("first").exists());
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }
}
