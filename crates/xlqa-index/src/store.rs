//! The passage store: one JSON passage per line, row i = line i + 1.

use crate::IndexError;
use std::io::{BufRead, BufReader, BufWriter, Write};

use std::path::Path;
use xlqa_core::Passage;

/// All passages of an index, in row order, held in memory.
pub struct PassageStore {
    passages: Vec<Passage>,
    /// Bytes of the file those passages fill (a live update appends after them).
    bytes: u64,
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

    /// Reads the first `rows` passages (the committed ones: what follows
    /// them is what an interrupted live update left, ignored and later cut).
    pub fn open(path: &Path, rows: usize) -> Result<PassageStore, IndexError> {
        let f = std::fs::File::open(path).map_err(|e| IndexError::io(path, e))?;
        let mut passages = Vec::with_capacity(rows);
        let mut bytes = 0u64;
        let mut r = BufReader::new(f);
        let mut line = String::new();
        while passages.len() < rows {
            line.clear();
            let n = r
                .read_line(&mut line)
                .map_err(|e| IndexError::io(path, e))?;
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            let p: Passage = serde_json::from_str(&line).map_err(|e| {
                IndexError::corrupt(path, format!("line {}: {e}", passages.len() + 1))
            })?;
            passages.push(p);
            bytes += n as u64;
        }
        Ok(PassageStore { passages, bytes })
    }

    pub fn from_passages(passages: Vec<Passage>) -> PassageStore {
        PassageStore { passages, bytes: 0 }
    }

    /// Cuts `path` back to the passages held here and appends `new` after
    /// them, durably (fsync). The store in memory is unchanged until
    /// [`PassageStore::extend`].
    pub fn append_to_file(&self, path: &Path, new: &[Passage]) -> Result<u64, IndexError> {
        let mut buf = Vec::new();
        for p in new {
            serde_json::to_writer(&mut buf, p).map_err(|e| {
                IndexError::corrupt(path, format!("cannot write passage {}: {e}", p.id))
            })?;
            buf.push(b'\n');
        }
        crate::update::append_at(path, self.bytes, &buf)?;
        Ok(buf.len() as u64)
    }

    /// Takes in passages appended to the file by [`PassageStore::append_to_file`].
    pub fn extend(&mut self, new: Vec<Passage>, bytes: u64) {
        self.passages.extend(new);
        self.bytes += bytes;
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
