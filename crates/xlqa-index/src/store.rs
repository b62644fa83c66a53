//! The passage store: one JSON passage per line, row i = line i + 1.

use crate::IndexError;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use xlqa_core::Passage;

/// All passages of an index, in row order, held in memory.
pub struct PassageStore {
    passages: Vec<Passage>,
}

impl PassageStore {
    pub fn write(path: &Path, passages: &[Passage]) -> Result<(), IndexError> {
        let f = std::fs::File::create(path).map_err(|e| IndexError::io(path, e))?;
        let mut w = BufWriter::new(f);
        for p in passages {
            serde_json::to_writer(&mut w, p).map_err(|e| {
                IndexError::corrupt(path, format!("cannot write passage {}: {e}", p.id))
            })?;
            w.write_all(b"\n").map_err(|e| IndexError::io(path, e))?;
        }
        w.flush().map_err(|e| IndexError::io(path, e))
    }

    pub fn open(path: &Path) -> Result<PassageStore, IndexError> {
        let f = std::fs::File::open(path).map_err(|e| IndexError::io(path, e))?;
        let mut passages = Vec::new();
        for (i, line) in BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| IndexError::io(path, e))?;
            let p: Passage = serde_json::from_str(&line)
                .map_err(|e| IndexError::corrupt(path, format!("line {}: {e}", i + 1)))?;
            passages.push(p);
        }
        Ok(PassageStore { passages })
    }

    pub fn from_passages(passages: Vec<Passage>) -> PassageStore {
        PassageStore { passages }
    }

    pub fn len(&self) -> usize {
        self.passages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// The passage at `row`, if it exists.
    pub fn get(&self, row: u32) -> Option<&Passage> {
        self.passages.get(row as usize)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Passage> {
        self.passages.iter()
    }
}
