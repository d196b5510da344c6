//! The one classifier of an environment folder's health, from its
//! observation alone. `plan` turns [`Health::Broken`] into a replace;
//! `status`, `doctor` and `run` report the same verdict from the same
//! function, so no two commands can disagree about an environment.

use std::path::{Path, PathBuf};

use super::{Change, Reason};
use crate::registry::Registry;
use crate::venv::Observed;

/// How an environment folder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Nothing at its path (or an empty folder).
    Absent,
    /// It cannot work as it is; the reason says why.
    Broken(Reason),
    /// A virtual environment whose interpreter and base are there.
    Healthy,
}

/// Classifies an observed folder. Ownership (the marker) is not health:
/// the planner checks it first.
pub fn classify(observed: &Observed) -> Health {
    if !observed.exists {
        return Health::Absent;
    }
    if let Some(conda) = &observed.conda {
        return classify_conda(conda);
    }
    if !observed.is_venv {
        return Health::Broken(Reason::Broken {
            what: "`pyvenv.cfg` is missing or unreadable".into(),
        });
    }
    if !observed.base_exists {
        return Health::Broken(Reason::BaseInterpreterMissing {
            base: observed
                .base_executable
                .clone()
                .or_else(|| observed.home.clone())
                .unwrap_or_default(),
        });
    }
    if !observed.python_exists {
        return Health::Broken(Reason::Broken {
            what: "`bin/python` is missing".into(),
        });
    }
    Health::Healthy
}

/// A conda environment works when its records can be read and its
/// python (if it has one) is there; damaged files are the planner's
/// business (they are installed again, not rebuilt).
fn classify_conda(conda: &crate::conda::CondaState) -> Health {
    if let Some(reason) = &conda.unreadable {
        return Health::Broken(Reason::CondaBroken {
            what: format!("`conda-meta/` is unreadable: {reason}"),
        });
    }
    match &conda.python {
        Some(python) if !python.is_file() => Health::Broken(Reason::CondaBroken {
            what: format!("`{}` is missing", python.display()),
        }),
        Some(_) | None => Health::Healthy,
    }
}

impl Health {
    /// One word (or a few) for tables: `ready`, `missing`, `broken: ...`.
    pub fn describe(&self) -> String {
        match self {
            Health::Absent => "missing".into(),
            Health::Broken(reason) => format!("broken: {reason}"),
            Health::Healthy => "ready".into(),
        }
    }
}

/// One recorded environment's verdict, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub name: String,
    pub owner: Option<PathBuf>,
    pub path: PathBuf,
    pub python: String,
    /// `ready`, the plan's `action: reason`, or the health's description.
    pub status: String,
}

/// The verdict of every environment the registry records. Those of the
/// manifest that was planned (`planned`: its owner and its changes) get
/// the plan's own verdict; every other record gets [`classify`] of its
/// folder, observed now. So `status` and `plan` cannot disagree.
pub fn verdicts(registry: &Registry, planned: Option<(&Path, &[Change])>) -> Vec<Verdict> {
    registry
        .environments
        .iter()
        .map(|e| {
            let from_plan = planned.and_then(|(owner, changes)| {
                (e.owner.as_deref() == Some(owner)).then(|| {
                    changes
                        .iter()
                        .find(|c| {
                            matches!(c, Change::Environment(c)
                                if c.name == e.name || c.action.renamed_from() == Some(&e.name))
                        })
                        .map_or_else(
                            || "ready".to_string(),
                            |c| format!("{}: {}", c.action().as_str(), c.reason_text()),
                        )
                })
            });
            let status = from_plan.unwrap_or_else(|| {
                match classify(&crate::observe::environment(&e.path)) {
                    Health::Healthy => e.status.as_str().to_string(),
                    other => other.describe(),
                }
            });
            Verdict {
                name: e.name.clone(),
                owner: e.owner.clone(),
                path: e.path.clone(),
                python: e.version.clone(),
                status,
            }
        })
        .collect()
}
