//! Built-in profiles and templates: usable without being defined, and
//! replaced whole by a manifest that defines one of the same name.

use std::collections::BTreeMap;

use super::{Profile, Spanned, Template};

/// (name, description, packages)
pub const PROFILES: &[(&str, &str, &[&str])] = &[
    (
        "base",
        "Packaging tools every environment needs",
        &["pip>=23.0", "setuptools>=68.0", "wheel>=0.40"],
    ),
    (
        "data-science",
        "Numerical computing and plotting",
        &[
            "numpy>=1.24.0",
            "pandas>=2.0.0",
            "matplotlib>=3.7.0",
            "scipy>=1.10.0",
            "scikit-learn>=1.3.0",
        ],
    ),
    (
        "machine-learning",
        "Deep learning with PyTorch and Hugging Face",
        &[
            "torch>=2.0.0",
            "transformers>=4.35.0",
            "safetensors>=0.3.0",
            "accelerate>=0.20.0",
            "tokenizers>=0.13.0",
        ],
    ),
    (
        "web",
        "Web applications and HTTP clients",
        &["flask>=3.0.0", "requests>=2.31.0", "beautifulsoup4>=4.12.0"],
    ),
];

/// (name, description, profiles)
pub const TEMPLATES: &[(&str, &str, &[&str])] = &[
    ("minimal", "Just the packaging tools", &["base"]),
    (
        "data-science",
        "Numerical computing and plotting",
        &["base", "data-science"],
    ),
    (
        "machine-learning",
        "Deep learning",
        &["base", "machine-learning"],
    ),
    ("web-development", "Web applications", &["base", "web"]),
];

pub fn profiles() -> BTreeMap<String, Profile> {
    PROFILES
        .iter()
        .map(|(name, description, packages)| {
            let profile = Profile {
                name: Spanned::builtin(name.to_string()),
                description: Some(description.to_string()),
                packages: packages
                    .iter()
                    .map(|p| Spanned::builtin(p.to_string()))
                    .collect(),
            };
            (name.to_string(), profile)
        })
        .collect()
}

pub fn templates() -> BTreeMap<String, Template> {
    TEMPLATES
        .iter()
        .map(|(name, description, profiles)| {
            let template = Template {
                name: Spanned::builtin(name.to_string()),
                description: Some(description.to_string()),
                profiles: profiles
                    .iter()
                    .map(|p| Spanned::builtin(p.to_string()))
                    .collect(),
                ..Template::default()
            };
            (name.to_string(), template)
        })
        .collect()
}

/// Whether `name` is one of the built-in profiles.
pub fn is_builtin_profile(name: &str) -> bool {
    PROFILES.iter().any(|(n, _, _)| *n == name)
}

/// Whether `name` is one of the built-in templates.
pub fn is_builtin_template(name: &str) -> bool {
    TEMPLATES.iter().any(|(n, _, _)| *n == name)
}
