//! Resolution: template chains, runtime precedence, package union and env
//! var merging (issue #2 "Resolution").

use std::path::{Path, PathBuf};

use beep_python::diagnostic::SourceFile;
use beep_python::manifest::{self, resolve};

use crate::common::{HOME, PROJECT};

fn resolve_text(text: &str) -> Vec<resolve::ResolvedEnvironment> {
    let checked = manifest::check(
        SourceFile::new("beep-python.toml", text),
        &PathBuf::from(PROJECT).join("beep-python.toml"),
        Path::new(PROJECT),
        Path::new(HOME),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    resolve::resolve(&checked.manifest, Path::new(HOME))
}

const MANIFEST: &str = r#"
version = 1

[settings]
default-runtime = "fallback"

[runtimes.fallback]
version = "3.11"

[runtimes.marked]
version = "3.12"
default = true

[runtimes.from-template]
version = "3.13"

[runtimes.own]
source = "system"
version = ">=3.10"

[profiles.lint]
packages = ["ruff>=0.5", "requests<3"]

[templates.root]
profiles = ["base"]
packages = ["requests>=2.31"]
env = { A = "root", B = "root" }
system-site-packages = true

[templates.child]
extends = "root"
runtime = "from-template"
profiles = ["lint"]
env = { B = "child", C = "child" }

[environments.full]
template = "child"
profiles = ["base"]
packages = ["rich>=13", "ruff>=0.5"]
env = { C = "env" }
system-site-packages = false
path = "../venvs/full"

[environments.own-runtime]
template = "child"
runtime = "own"

[environments.plain]
"#;

#[test]
fn templates_profiles_and_packages_fold_in_order() {
    let envs = resolve_text(MANIFEST);
    let full = envs.iter().find(|e| e.name == "full").unwrap();
    assert_eq!(full.templates, ["child", "root"]);
    assert_eq!(full.profiles, ["base", "lint"]);
    assert_eq!(
        full.packages,
        [
            // profiles (root's, then child's), template packages, its own;
            // two constraints on one package are both kept
            "pip>=23.0",
            "setuptools>=68.0",
            "wheel>=0.40",
            "ruff>=0.5",
            "requests<3",
            "requests>=2.31",
            "rich>=13",
        ]
    );
    let env: Vec<(&str, &str)> = full
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env, [("A", "root"), ("B", "child"), ("C", "env")]);
    assert!(!full.system_site_packages, "the environment wins");
    assert_eq!(full.path, Path::new("/venvs/full"));
}

#[test]
fn runtime_precedence_is_environment_template_setting_then_marked_default() {
    let envs = resolve_text(MANIFEST);
    let runtime = |name: &str| {
        envs.iter()
            .find(|e| e.name == name)
            .unwrap()
            .runtime
            .clone()
    };
    assert_eq!(runtime("own-runtime"), "own");
    assert_eq!(runtime("full"), "from-template");
    assert_eq!(runtime("plain"), "fallback");

    let without_setting = MANIFEST.replace("default-runtime = \"fallback\"", "");
    let envs = resolve_text(&without_setting);
    assert_eq!(
        envs.iter().find(|e| e.name == "plain").unwrap().runtime,
        "marked"
    );
}

#[test]
fn default_paths_are_under_the_home_and_templates_inherit_system_site_packages() {
    let envs = resolve_text(MANIFEST);
    let plain = envs.iter().find(|e| e.name == "plain").unwrap();
    assert_eq!(plain.path, Path::new(HOME).join("environments/plain"));
    assert!(plain.packages.is_empty());
    let own = envs.iter().find(|e| e.name == "own-runtime").unwrap();
    assert!(own.system_site_packages, "inherited from `root`");
}

#[test]
fn a_redefined_builtin_profile_replaces_the_builtin() {
    let envs = resolve_text(
        r#"
version = 1
[runtimes.py]
version = "3.12"
default = true
[profiles.base]
packages = ["pip>=24"]
[environments.dev]
template = "minimal"
"#,
    );
    assert_eq!(envs[0].packages, ["pip>=24"]);
}
