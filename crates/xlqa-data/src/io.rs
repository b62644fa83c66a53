//! Small helpers every reader shares: reading JSON and text files, listing
//! folders, character offsets, and JSON field getters whose errors name the
//! file and the JSON path.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{DataError, Result};

/// Reads and parses a whole JSON file.
pub fn read_json(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| DataError::json(path, e))
}

/// The entries of a folder (files and folders), sorted by path.
pub fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| DataError::io(dir, source);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        out.push(entry.map_err(io)?.path());
    }
    out.sort();
    Ok(out)
}

/// The files of a folder (no sub-folders), sorted by path.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(list_dir(dir)?.into_iter().filter(|p| p.is_file()).collect())
}

/// The lines of a UTF-8 text file (split at `\n`, a trailing `\r` removed,
/// no empty last line for a final newline). Invalid UTF-8 is
/// [`DataError::Utf8`] with the line it is on.
pub fn read_lines(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..valid]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        DataError::Utf8 {
            path: path.to_path_buf(),
            line,
        }
    })?;
    Ok(text.lines().map(str::to_string).collect())
}

/// The lines of a (possibly gzipped, detected by its magic bytes) UTF-8
/// text file, numbered from 1; a leading BOM is dropped. Errors are
/// [`DataError::Input`] (`file:line: message`).
pub fn read_numbered_lines(path: &Path) -> Result<Vec<(usize, String)>> {
    let bytes =
        std::fs::read(path).map_err(|e| DataError::input(path, 0, format!("cannot read: {e}")))?;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| DataError::input(path, 0, format!("cannot decompress (gzip): {e}")))?;
        out
    } else {
        bytes
    };
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let s = std::str::from_utf8(raw).map_err(|e| {
            DataError::input(
                path,
                i + 1,
                format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
            )
        })?;
        let s = if i == 0 {
            s.strip_prefix('\u{feff}').unwrap_or(s)
        } else {
            s
        };
        out.push((i + 1, s.to_string()));
    }
    Ok(out)
}

/// Byte offset of character `n` of `s` (`s.len()` for `n` = the number of
/// characters, `None` past that).
pub fn char_to_byte(s: &str, n: usize) -> Option<usize> {
    s.char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(s.len()))
        .nth(n)
}

/// `at.key`, or `key` at the root.
pub fn join_path(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

/// Field getters over one JSON file whose errors are
/// [`DataError::Format`] naming the file and the JSON path (`at` is the
/// path of the object, `""` for the root).
pub struct JsonAt<'p> {
    pub path: &'p Path,
}

impl JsonAt<'_> {
    /// A [`DataError::Format`] at `json_path`.
    pub fn err(&self, json_path: &str, message: impl Into<String>) -> DataError {
        DataError::format(self.path, json_path, message)
    }

    /// Field `key` of the object `obj`.
    pub fn field<'v>(&self, obj: &'v Value, key: &str, at: &str) -> Result<&'v Value> {
        let here = if at.is_empty() { "(root)" } else { at };
        let map = obj
            .as_object()
            .ok_or_else(|| self.err(here, "expected a JSON object"))?;
        map.get(key)
            .ok_or_else(|| self.err(&join_path(at, key), "missing field"))
    }

    /// An array field.
    pub fn array<'v>(&self, obj: &'v Value, key: &str, at: &str) -> Result<&'v Vec<Value>> {
        self.field(obj, key, at)?
            .as_array()
            .ok_or_else(|| self.err(&join_path(at, key), "expected an array"))
    }

    /// A string field (may be empty).
    pub fn string<'v>(&self, obj: &'v Value, key: &str, at: &str) -> Result<&'v str> {
        self.field(obj, key, at)?
            .as_str()
            .ok_or_else(|| self.err(&join_path(at, key), "expected a string"))
    }

    /// A string field that is not empty after trimming.
    pub fn nonempty_string<'v>(&self, obj: &'v Value, key: &str, at: &str) -> Result<&'v str> {
        let s = self.string(obj, key, at)?;
        if s.trim().is_empty() {
            return Err(self.err(&join_path(at, key), "empty string"));
        }
        Ok(s)
    }

    /// A non-negative integer field (`answer_start`).
    pub fn uint(&self, obj: &Value, key: &str, at: &str) -> Result<usize> {
        self.as_uint(self.field(obj, key, at)?, &join_path(at, key))
    }

    /// `v` (found at `json_path`) as a non-negative integer.
    pub fn as_uint(&self, v: &Value, json_path: &str) -> Result<usize> {
        v.as_u64()
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| self.err(json_path, "expected a non-negative integer"))
    }
}

/// A file `name` with `body` in a temporary folder of this process (tests).
#[cfg(test)]
pub(crate) fn temp_file(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xlqa-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}
