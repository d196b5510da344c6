//! Channels: what a manifest writes (`conda-forge`, an `https://` URL, a
//! `file://` URL, a folder) resolved into the URLs packages come from, with
//! mirrors applied.
//!
//! A mirror replaces the beginning of a channel's URL. Repodata and packages
//! are fetched from the mirror, but everything that is recorded (lock
//! entries, `conda-meta/*.json`) carries the channel's own URL, so that a
//! lock file made behind a mirror installs anywhere, and a mirror can be
//! added or removed without changing a lock.

use std::path::PathBuf;

use rattler_conda_types::{Channel, ChannelConfig};
use url::Url;

use super::CondaError;

/// What the settings say about channels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelSettings {
    /// Where channel *names* live (`conda-forge` is `<alias>/conda-forge`).
    /// `None` is rattler's default, the alias conda itself uses.
    pub alias: Option<Url>,
    /// Used when an environment names no channel.
    pub default_channels: Vec<String>,
    /// Mirrors, most specific first or not: the longest matching prefix wins.
    pub mirrors: Vec<Mirror>,
    /// Relative folders (`./channel`) are relative to this folder: the
    /// manifest's.
    pub root_dir: PathBuf,
}

impl ChannelSettings {
    /// The mirrors as [`Channels::resolve`] applies them (each URL ending
    /// in `/`, so that a mirror of `.../forge` is no mirror of
    /// `.../forge2`).
    pub fn normalized_mirrors(&self) -> Vec<Mirror> {
        self.mirrors
            .iter()
            .map(|m| Mirror {
                original: with_trailing_slash(&m.original),
                mirror: with_trailing_slash(&m.mirror),
            })
            .collect()
    }
}

/// Packages under `original` are fetched from `mirror` instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub original: Url,
    pub mirror: Url,
}

/// One resolved channel.
#[derive(Debug, Clone)]
pub struct ResolvedChannel {
    /// As written in the manifest.
    pub written: String,
    /// The channel's own URL (recorded in locks and `conda-meta`).
    pub url: Url,
    /// Where it is fetched from (the mirror's URL, or `url`).
    pub fetch_url: Url,
}

/// The channels of one environment, in priority order.
#[derive(Debug, Clone)]
pub struct Channels {
    pub(super) channels: Vec<ResolvedChannel>,
    pub(super) mirrors: Vec<Mirror>,
}

impl Channels {
    /// Resolves `written` (or, if it is empty, the settings' default
    /// channels). Every channel must parse; the first that does not is the
    /// error, named as written.
    pub fn resolve(written: &[String], settings: &ChannelSettings) -> Result<Channels, CondaError> {
        let written = if written.is_empty() {
            &settings.default_channels
        } else {
            written
        };
        if written.is_empty() {
            return Err(CondaError::NoChannels);
        }
        let mut config = ChannelConfig::default_with_root_dir(settings.root_dir.clone());
        if let Some(alias) = &settings.alias {
            config.channel_alias = with_trailing_slash(alias);
        }
        let mirrors = settings.normalized_mirrors();
        let mut channels = Vec::with_capacity(written.len());
        for text in written {
            let invalid = |reason: String| CondaError::InvalidChannel {
                channel: text.clone(),
                reason,
            };
            if text.trim().is_empty() {
                return Err(invalid("it is empty".to_owned()));
            }
            let channel = Channel::from_str(text, &config).map_err(|e| invalid(e.to_string()))?;
            if channel.platforms.is_some() {
                return Err(invalid(
                    "a platform selector (`name[linux-64]`) is not supported; the environment's platform decides"
                        .to_owned(),
                ));
            }
            let url: Url = channel.base_url.url().as_ref().clone();
            // Plain `http://` follows `fetch`'s rule (loopback only unless
            // insecure HTTP is allowed): packages go through `fetch`, and
            // the manifest's channels, alias and mirrors are checked by
            // `manifest::validate` before repodata is ever fetched.
            // TODO: a hand-edited saved plan could still name an `http://`
            // channel; the gateway does not check it.
            match url.scheme() {
                "https" | "http" | "file" => {}
                other => {
                    return Err(invalid(format!(
                        "`{other}:` channels are not supported (use `https://`, `file://` or a folder)"
                    )));
                }
            }
            let fetch_url = apply(&mirrors, &url);
            channels.push(ResolvedChannel {
                written: text.clone(),
                url,
                fetch_url,
            });
        }
        Ok(Channels { channels, mirrors })
    }

    pub fn iter(&self) -> impl Iterator<Item = &ResolvedChannel> {
        self.channels.iter()
    }

    /// The channels as rattler fetches them (mirrors applied).
    pub(super) fn fetch_channels(&self) -> Vec<Channel> {
        self.channels
            .iter()
            .map(|c| Channel::from_url(c.fetch_url.clone()))
            .collect()
    }

    /// The channel's own URL for a URL under a channel's fetch URL (a
    /// record from repodata fetched through a mirror).
    pub(super) fn original_url(&self, fetched: &Url) -> Url {
        for channel in &self.channels {
            if let Some(rest) = fetched.as_str().strip_prefix(channel.fetch_url.as_str())
                && let Ok(url) = channel.url.join(rest)
            {
                return url;
            }
        }
        fetched.clone()
    }

    /// The mirrors, for installing what these channels locked.
    pub fn mirrors(&self) -> &[Mirror] {
        &self.mirrors
    }
}

/// Where to fetch `url` from: its mirror, if one's `original` is a prefix of
/// it (the longest such), else `url` itself.
pub fn apply(mirrors: &[Mirror], url: &Url) -> Url {
    let text = url.as_str();
    mirrors
        .iter()
        .filter(|m| text.starts_with(m.original.as_str()))
        .max_by_key(|m| m.original.as_str().len())
        .and_then(|m| m.mirror.join(&text[m.original.as_str().len()..]).ok())
        .unwrap_or_else(|| url.clone())
}

fn with_trailing_slash(url: &Url) -> Url {
    if url.path().ends_with('/') {
        url.clone()
    } else {
        let mut url = url.clone();
        url.set_path(&format!("{}/", url.path()));
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ChannelSettings {
        ChannelSettings {
            alias: Some(Url::parse("https://conda.example/").unwrap()),
            default_channels: vec!["main".to_owned()],
            mirrors: vec![Mirror {
                original: Url::parse("https://conda.example/forge").unwrap(),
                mirror: Url::parse("https://mirror.example/m/forge").unwrap(),
            }],
            root_dir: PathBuf::from("/project"),
        }
    }

    #[test]
    fn names_urls_and_folders_resolve_against_the_settings() {
        let written = [
            "forge",
            "https://other.example/x",
            "./local",
            "file:///srv/ch",
        ]
        .map(str::to_owned);
        let channels = Channels::resolve(&written, &settings()).unwrap();
        let urls: Vec<(&str, &str)> = channels
            .iter()
            .map(|c| (c.url.as_str(), c.fetch_url.as_str()))
            .collect();
        assert_eq!(
            urls,
            [
                (
                    "https://conda.example/forge/",
                    "https://mirror.example/m/forge/"
                ),
                ("https://other.example/x/", "https://other.example/x/"),
                ("file:///project/local/", "file:///project/local/"),
                ("file:///srv/ch/", "file:///srv/ch/"),
            ]
        );
    }

    #[test]
    fn a_package_fetched_through_a_mirror_is_recorded_under_its_channel() {
        let channels = Channels::resolve(&["forge".to_owned()], &settings()).unwrap();
        let fetched = Url::parse("https://mirror.example/m/forge/noarch/a-1-0.conda").unwrap();
        let original = channels.original_url(&fetched);
        assert_eq!(
            original.as_str(),
            "https://conda.example/forge/noarch/a-1-0.conda"
        );
        assert_eq!(apply(channels.mirrors(), &original), fetched);
    }

    #[test]
    fn no_channels_falls_back_to_the_defaults_and_then_fails() {
        let channels = Channels::resolve(&[], &settings()).unwrap();
        assert_eq!(channels.channels[0].written, "main");
        let err = Channels::resolve(&[], &ChannelSettings::default()).unwrap_err();
        assert!(matches!(err, CondaError::NoChannels), "{err:?}");
    }

    #[test]
    fn an_unusable_channel_is_named_in_the_error() {
        for bad in ["", "forge[linux-64]", "ftp://host/ch", "a:b"] {
            let err = Channels::resolve(&[bad.to_owned()], &settings()).unwrap_err();
            let CondaError::InvalidChannel { channel, .. } = &err else {
                panic!("{bad}: {err:?}");
            };
            assert_eq!(channel, bad);
        }
    }
}
