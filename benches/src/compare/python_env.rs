//! Finding a Python with numpy and scipy for the numpy GEX baseline, installing them when missing: first
//! `python -m pip install --user numpy scipy`, then, if that is refused (e.g. an externally managed Python), a
//! virtual environment under the cargo target directory. Every step is announced on stderr; when nothing works
//! the caller gets the reason and skips only that baseline.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A Python interpreter that imports numpy and scipy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumpyPython {
    /// The interpreter.
    pub python: PathBuf,
    /// `numpy X, scipy Y, Python Z`.
    pub versions: String,
}

/// What to print `import numpy, scipy` versions with.
const PROBE: &str = "import sys, numpy, scipy; \
    print('numpy', numpy.__version__ + ', scipy', scipy.__version__ + ', Python', sys.version.split()[0])";

/// The versions line when `python` imports numpy and scipy, else `None`.
fn probe(python: &Path) -> Option<String> {
    let out = Command::new(python)
        .args(["-c", PROBE])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs a command with its output passed through to stderr; the last stderr lines on failure.
fn run_loud(cmd: &mut Command) -> Result<(), String> {
    eprintln!("compare: running {cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = err.lines().rev().take(3).collect();
    Err(format!(
        "{cmd:?} exited with {}: {}",
        out.status,
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    ))
}

/// A Python with numpy and scipy: `python` itself, after `pip install --user` when needed, else a venv in
/// `venv_dir` made from `python` (reused when it already works). `Err` says why none could be had.
pub fn numpy_python(python: &Path, venv_dir: &Path) -> Result<NumpyPython, String> {
    if let Some(versions) = probe(python) {
        return Ok(NumpyPython {
            python: python.to_path_buf(),
            versions,
        });
    }
    let venv_python = venv_dir.join("bin").join("python");
    if let Some(versions) = probe(&venv_python) {
        return Ok(NumpyPython {
            python: venv_python,
            versions,
        });
    }
    eprintln!(
        "compare: {} cannot import numpy and scipy; installing them with pip (PyPI)",
        python.display()
    );
    let user = run_loud(Command::new(python).args([
        "-m", "pip", "install", "--user", "--quiet", "numpy", "scipy",
    ]));
    if let Some(versions) = probe(python) {
        return Ok(NumpyPython {
            python: python.to_path_buf(),
            versions,
        });
    }
    let user_err = user.err().unwrap_or_else(|| {
        "pip succeeded but numpy and scipy still do not import (user site-packages disabled?)"
            .into()
    });
    eprintln!(
        "compare: pip install --user failed ({user_err}); trying a virtual environment in {}",
        venv_dir.display()
    );
    let venv = run_loud(Command::new(python).arg("-m").arg("venv").arg(venv_dir)).and_then(|_| {
        run_loud(
            Command::new(&venv_python).args(["-m", "pip", "install", "--quiet", "numpy", "scipy"]),
        )
    });
    match (venv, probe(&venv_python)) {
        (_, Some(versions)) => Ok(NumpyPython {
            python: venv_python,
            versions,
        }),
        (Err(e), None) => Err(format!(
            "numpy/scipy could not be installed: pip --user: {user_err}; venv: {e}"
        )),
        (Ok(()), None) => Err(format!(
            "numpy/scipy could not be installed: pip --user: {user_err}; the venv at {} still cannot import them",
            venv_dir.display()
        )),
    }
}

/// Runs `python script args…` (stdin closed) and parses the JSON the script wrote to `results`. A failed run is an
/// error carrying the last line of the script's stderr.
pub fn run_json_script<T: serde::de::DeserializeOwned>(
    python: &Path,
    script: &Path,
    args: &[std::ffi::OsString],
    results: &Path,
) -> anyhow::Result<T> {
    use anyhow::Context;
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} {}", python.display(), script.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        anyhow::bail!(
            "{} exited with {}: {}",
            script.display(),
            out.status,
            err.trim().lines().last().unwrap_or("")
        );
    }
    let text = std::fs::read_to_string(results)
        .with_context(|| format!("reading {}", results.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", results.display()))
}
