//! Saved plans (`plan --out FILE`, `apply FILE`).
//!
//! A saved plan records what it was made against: the manifest's SHA-256
//! and the registry's lineage and serial. `apply FILE` refuses it when
//! either has moved since, saying which, because applying a plan made
//! against another state could undo someone else's change (Terraform's
//! rule). The plan carries full [`super::EnvSpec`]s, so it applies exactly
//! what it showed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Change;

pub const SAVED_PLAN_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format_version: u32,
    pub manifest: PathBuf,
    pub manifest_sha256: String,
    pub lineage: Uuid,
    pub serial: u64,
    pub changes: Vec<Change>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SavedPlanError {
    #[error("could not read the saved plan")]
    #[diagnostic(code(plan::saved_io))]
    Io(#[source] std::io::Error),

    #[error("`{}` is not a saved plan: {reason}", path.display())]
    #[diagnostic(
        code(plan::saved_invalid),
        help("make one with `beep-python plan --out FILE`")
    )]
    Invalid { path: PathBuf, reason: String },

    #[error("`{}` was saved by a newer beep-python (plan format {version}; this one reads {SAVED_PLAN_VERSION})", path.display())]
    #[diagnostic(
        code(plan::saved_newer),
        help("upgrade beep-python, or make a new plan")
    )]
    Newer { path: PathBuf, version: u32 },

    #[error("the saved plan is stale: {what} changed since it was made")]
    #[diagnostic(
        code(plan::stale),
        help(
            "nothing was changed; run `beep-python plan --out FILE` again and review the new plan"
        )
    )]
    Stale { what: String },
}

pub fn manifest_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl SavedPlan {
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        text.push(b'\n');
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut temp, &text)?;
        temp.as_file().sync_all()?;
        temp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    pub fn read(path: &Path) -> Result<Self, SavedPlanError> {
        let bytes = fs_err::read(path).map_err(SavedPlanError::Io)?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| SavedPlanError::Invalid {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let version = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if version > u64::from(SAVED_PLAN_VERSION) {
            return Err(SavedPlanError::Newer {
                path: path.to_path_buf(),
                version: u32::try_from(version).unwrap_or(u32::MAX),
            });
        }
        serde_json::from_value(value).map_err(|e| SavedPlanError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// Refuses the plan when the manifest or the registry moved since.
    pub fn check_fresh(
        &self,
        manifest_sha256: &str,
        lineage: Uuid,
        serial: u64,
    ) -> Result<(), SavedPlanError> {
        let mut what = Vec::new();
        if self.manifest_sha256 != manifest_sha256 {
            what.push(format!("the manifest `{}`", self.manifest.display()));
        }
        // A plan made before the registry was first written has the nil
        // lineage: the registry being written since is a serial change.
        if self.lineage != lineage && !self.lineage.is_nil() {
            what.push("the registry (another lineage)".to_string());
        } else if self.serial != serial {
            what.push(format!("the registry (serial {} -> {serial})", self.serial));
        }
        if what.is_empty() {
            Ok(())
        } else {
            Err(SavedPlanError::Stale {
                what: what.join(" and "),
            })
        }
    }
}
