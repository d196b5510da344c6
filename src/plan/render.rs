//! Rendering a plan: Terraform-style text, and JSON (`format_version` 1).
//! The text is an interface (people read it in review), so tests snapshot it.

use serde_json::json;

use super::{Action, Change, summarize};

/// The human plan, ending with the `Plan:` line or `No changes.`.
pub fn human(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "No changes. The machine matches the manifest.\n".to_string();
    }
    let mut out = String::from("beep-python will perform the following actions:\n\n");
    for c in changes {
        out.push_str(&format!("  {} {}\n", c.action.symbol(), c.address));
        out.push_str(&format!(
            "      {}: {}\n",
            c.action.as_str(),
            c.reason_text()
        ));
        if let Some(r) = &c.runtime {
            out.push_str(&format!(
                "      python: cpython {} ({}, {}), path: {}\n",
                r.python_version,
                r.source.as_str(),
                r.platform,
                r.root.display()
            ));
            out.push_str(&format!("      url: {}\n", r.url));
            out.push_str(&format!("      sha256: {}\n", r.sha256));
            if let Some(old) = &c.retire {
                out.push_str(&format!("      removes: {}\n", old.display()));
            }
            out.push('\n');
            continue;
        }
        match c.action {
            Action::Delete => {
                out.push_str(&format!("      path: {}\n", c.path.display()));
            }
            Action::Create | Action::Replace | Action::Update => {
                if c.action != Action::Update
                    && let Some(d) = &c.desired
                {
                    {
                        out.push_str(&format!(
                            "      python: {} {} ({}), path: {}\n",
                            d.implementation,
                            d.python_version,
                            d.runtime,
                            d.path.display()
                        ));
                    }
                }
                for add in &c.packages.add {
                    out.push_str(&format!("      + {add}\n"));
                }
                for change in &c.packages.change {
                    out.push_str(&format!(
                        "      ~ {} {} -> {}\n",
                        change.name, change.installed, change.required
                    ));
                }
                for remove in &c.packages.remove {
                    out.push_str(&format!("      - {remove}\n"));
                }
            }
        }
        out.push('\n');
    }
    let s = summarize(changes);
    out.push_str(&format!(
        "Plan: {} to add, {} to change, {} to destroy.\n",
        s.add, s.change, s.destroy
    ));
    out
}

/// The JSON plan (`--format json`); no-ops are omitted.
pub fn json(changes: &[Change]) -> serde_json::Value {
    let s = summarize(changes);
    json!({
        "format_version": 1,
        "changes": changes.iter().map(|c| json!({
            "address": c.address,
            "action": c.action.as_str(),
            "reason": c.reason_text(),
            "reasons": c.reasons,
            "path": c.path,
            "packages": {
                "add": c.packages.add,
                "change": c.packages.change,
                "remove": c.packages.remove,
            },
            "runtime": c.runtime.as_ref().map(|r| json!({
                "source": r.source,
                "version": r.python_version,
                "platform": r.platform,
                "url": r.url,
                "sha256": r.sha256,
                "path": r.root,
                "removes": c.retire,
            })),
        })).collect::<Vec<_>>(),
        "summary": { "add": s.add, "change": s.change, "destroy": s.destroy },
    })
}
