//! Saved plans (`plan --out FILE`, `apply FILE`).
//!
//! A saved plan records what it was made against: the manifest's SHA-256
//! and the registry's lineage and serial. `apply FILE` refuses it when
//! either has moved since, saying which, because applying a plan made
//! against another state could undo someone else's change (Terraform's
//! rule). The plan carries full typed changes ([`super::Change`]), so it
//! applies exactly what it showed; a hand-edited one is still checked step
//! by step (ownership, claims) and can reach no `expect`.
//!
//! `plan --out FILE` writes only to a new path or over an earlier saved
//! plan: never over the manifest, a symlink, a device or any other file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Change;

/// Version 2: typed changes (renames, moves). Version 3: an environment's
/// spec may carry `conda`; a version-2 reader would drop that field
/// silently and build a venv instead, so the version says it. Older plans
/// are refused with a request to plan again.
pub const SAVED_PLAN_VERSION: u32 = 3;

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
    #[diagnostic(code("plan::saved-io"))]
    Io(#[source] std::io::Error),

    #[error("`{}` is not a saved plan: {reason}", path.display())]
    #[diagnostic(
        code("plan::saved-invalid"),
        help("make one with `beep-python plan --out FILE`")
    )]
    Invalid { path: PathBuf, reason: String },

    #[error("`{}` was saved by a newer beep-python (plan format {version}; this one reads {SAVED_PLAN_VERSION})", path.display())]
    #[diagnostic(
        code("plan::saved-newer"),
        help("upgrade beep-python, or make a new plan")
    )]
    Newer { path: PathBuf, version: u32 },

    #[error("`{}` was saved by an older beep-python (plan format {version}; this one reads {SAVED_PLAN_VERSION})", path.display())]
    #[diagnostic(
        code("plan::saved-older"),
        help("nothing was changed; make a new plan with `beep-python plan --out FILE`")
    )]
    Older { path: PathBuf, version: u32 },

    #[error("refusing to write the plan to `{}`: {why}", path.display())]
    #[diagnostic(
        code("plan::out-refused"),
        help(
            "`--out` writes a new file, or replaces a plan saved earlier; choose another path such as `plan.json`"
        )
    )]
    OutRefused { path: PathBuf, why: String },

    #[error("could not write the plan to `{}`", path.display())]
    #[diagnostic(code("plan::out-io"))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the saved plan is stale: {what} changed since it was made")]
    #[diagnostic(
        code("plan::stale"),
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
    /// Writes the plan to `path`: a new file, or one holding an earlier
    /// saved plan; anything else (the manifest, a link, a device, any other
    /// file) is refused and left untouched.
    pub fn write(&self, path: &Path) -> Result<(), SavedPlanError> {
        let refuse = |why: &str| SavedPlanError::OutRefused {
            path: path.to_path_buf(),
            why: why.to_string(),
        };
        match fs_err::symlink_metadata(path) {
            Err(e) if crate::files::is_absent(&e) => {}
            Err(e) => {
                return Err(SavedPlanError::Write {
                    path: path.to_path_buf(),
                    source: e,
                });
            }
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(refuse("it is a symbolic link"));
            }
            Ok(meta) if !meta.is_file() => {
                return Err(refuse("it exists and is not a regular file"));
            }
            Ok(_) => {
                let same_as_manifest = match (
                    fs_err::canonicalize(path),
                    fs_err::canonicalize(&self.manifest),
                ) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => false,
                };
                if same_as_manifest {
                    return Err(refuse("it is the manifest"));
                }
                let earlier_plan = fs_err::read(path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .is_some_and(|v| {
                        v.get("format_version")
                            .is_some_and(serde_json::Value::is_u64)
                            && v.get("manifest_sha256").is_some()
                            && v.get("changes").is_some_and(serde_json::Value::is_array)
                    });
                if !earlier_plan {
                    return Err(refuse("it exists and is not a plan saved by beep-python"));
                }
            }
        }
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| SavedPlanError::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        text.push(b'\n');
        crate::files::write_atomic(path, &text, crate::files::Durability::Durable, None).map_err(
            |source| SavedPlanError::Write {
                path: path.to_path_buf(),
                source,
            },
        )
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
        if version < u64::from(SAVED_PLAN_VERSION) {
            return Err(SavedPlanError::Older {
                path: path.to_path_buf(),
                version: u32::try_from(version).unwrap_or(0),
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
