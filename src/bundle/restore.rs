//! `RESTORE.md`: the steps to rebuild from a bundle, for a person (what the
//! old environment manager called "recovery instructions").

use std::fmt::Write as _;

use super::Index;
use crate::lockfile::Lock;

/// The text of `RESTORE.md` for a bundle holding `index`, made from `lock`.
pub(super) fn text(index: &Index, lock: &Lock) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Restoring from this bundle\n");
    let _ = writeln!(
        out,
        "Made by {} on {}. It holds a beep-python manifest (`beep-python.toml`), its lock \
         (`beep-python.lock`), and every file they need: no network and no package index \
         are used to restore it.\n",
        index.created_by,
        index.created_at.strftime("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(out, "## Steps\n");
    let _ = writeln!(
        out,
        "1. Install beep-python (one binary) on the machine.\n\
         2. Copy this bundle there, into the folder the project should live in (the manifest \
         places environments relative to its own folder).\n\
         3. Check it: `beep-python bundle verify BUNDLE.tar.zst` (every file against \
         `SHA256SUMS`, every artifact against the lock).\n\
         4. In that folder, run `beep-python apply --bundle BUNDLE.tar.zst --auto-approve`. \
         It writes `beep-python.toml`, `beep-python.lock` and the `pylock` files the \
         manifest names there (if they are not there yet), makes the `find-links` folders \
         the manifest names that are missing (holding the wheels inside), installs the \
         interpreters from the archives inside and every environment from the wheels \
         inside, and every conda environment from the conda packages inside (the \
         folder channels the manifest names that are missing are made from them), exactly as \
         locked, checking every sha256. Anything missing is named before anything changes.\n\
         5. `beep-python plan --locked` then shows no changes.\n"
    );
    let systems: Vec<String> = lock
        .runtimes
        .iter()
        .filter(|(_, r)| r.source == "system")
        .map(|(name, r)| {
            format!(
                "- runtime `{name}`: Python {} from the system{}",
                r.version,
                r.path
                    .as_ref()
                    .map(|p| format!(" (it was `{}`)", p.display()))
                    .unwrap_or_default()
            )
        })
        .collect();
    if !systems.is_empty() {
        let _ = writeln!(
            out,
            "## Install first\n\nThese runtimes are interpreters of the machine, not in the bundle: \
             install them (with the same minor version) before step 4.\n"
        );
        for line in systems {
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Inside\n");
    if index.platforms.is_empty() {
        let _ = writeln!(out, "Interpreter builds: none (no managed runtime).\n");
    } else {
        let _ = writeln!(
            out,
            "Interpreter builds for: {}. Another platform needs a bundle made with \
             `beep-python bundle create --platform OS-ARCH-LIBC`.\n",
            index.platforms.join(", ")
        );
    }
    for runtime in &index.runtimes {
        let _ = writeln!(
            out,
            "- `{}`: runtime `{}`, Python {}{}, sha256 `{}`",
            runtime.file,
            runtime.name,
            runtime.version,
            if runtime.platform.is_empty() {
                String::new()
            } else {
                format!(" ({})", runtime.platform)
            },
            runtime.sha256
        );
    }
    for (name, env) in &lock.environments {
        if let Some(conda) = &env.conda {
            let _ = writeln!(
                out,
                "- environment `{name}`: conda ({}), Python {}, {} conda package{} (in `conda/`), {} PyPI package{}",
                conda.platform,
                env.python_version,
                conda.packages.len(),
                if conda.packages.len() == 1 { "" } else { "s" },
                env.packages.len(),
                if env.packages.len() == 1 { "" } else { "s" }
            );
            continue;
        }
        let _ = writeln!(
            out,
            "- environment `{name}`: runtime `{}`, Python {}, {} package{}",
            env.runtime,
            env.python_version,
            env.packages.len(),
            if env.packages.len() == 1 { "" } else { "s" }
        );
    }
    let _ = writeln!(
        out,
        "\n## By hand\n\nWithout beep-python: unpack with `tar --zstd -xf BUNDLE.tar.zst`, check \
         with `sha256sum -c SHA256SUMS`, unpack an interpreter archive from `runtimes/`, make a \
         virtual environment with it, and install each environment's packages with \
         `pip install --no-index --find-links wheels --require-hashes -r REQUIREMENTS`, where \
         REQUIREMENTS lists `name==version --hash=sha256:...` for each package of that \
         environment in `beep-python.lock`."
    );
    if !index.conda.is_empty() {
        let _ = writeln!(
            out,
            "\nThe conda packages are in `conda/`, by the file names `beep-python.lock` gives them \
             (`conda-packages`, with their sha256): put them in a folder as `<subdir>/<file>` \
             (the lock says each package's subdir) and index it (`conda index`) to make a \
             channel that conda, mamba or pixi install from offline."
        );
    }
    out
}
