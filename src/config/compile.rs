//! The second phase (STYLE P7): config.yaml and every bot file, read into
//! their raw mirrors, compiled into a [`Config`] of built adapters and
//! plugins. Independent parts (each top-level key, each adapter, each bot,
//! each plugin) are compiled separately and every problem is collected
//! before failing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_yaml::{Mapping, Value};

use super::bots::{self, BotScope};
use super::error::{self, ConfigError};
use super::limits::LimitsConfig;
use super::options::{Options, deserialize_all, deserialize_lenient};
use super::raw::RawConfig;
use super::source::{self, Env, Parsed, Source, key_text};
use super::spans::Seg;
use super::{AdapterEntry, Config, HttpConfig};
use crate::adapter::AdapterCx;
use crate::event::AdapterId;
use crate::registry::Registry;

/// The bots folder when config.yaml names none.
const DEFAULT_BOTS: &str = "bots";

/// Load config.yaml at `path` and every bot it names, looking `${VAR}`s up
/// with `env`.
pub(super) fn load(path: &Path, registry: &Registry, env: Env<'_>) -> Result<Config, Vec<ConfigError>> {
    let mut errors = Errors::default();
    let config = compile_config(path, registry, env, &mut errors);
    match (config, errors.finish()) {
        (Some(config), errors) if errors.is_empty() => Ok(config),
        (_, errors) => Err(errors),
    }
}

/// Errors found so far. Problems with `${…}` are kept apart: the string
/// concerned keeps its `${…}` text, and any later error at the same place
/// is a consequence, not a second problem.
#[derive(Default)]
pub(super) struct Errors {
    /// Every problem except `${…}` ones.
    pub(super) found: Vec<ConfigError>,
    /// `${…}` problems.
    env: Vec<ConfigError>,
}

impl Errors {
    /// Read and parse one file; `None` if it cannot be read or is not YAML.
    pub(super) fn read(&mut self, file: &Path, env: Env<'_>) -> Option<Parsed> {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                self.found
                    .push(ConfigError::at_file(file, format!("cannot read the file: {e}")));
                return None;
            }
        };
        match source::parse(file, &text, env) {
            Ok(mut parsed) => {
                self.env.append(&mut parsed.env_errors);
                Some(parsed)
            }
            Err(e) => {
                self.found.push(e);
                None
            }
        }
    }

    fn finish(self) -> Vec<ConfigError> {
        let Errors { found, mut env } = self;
        let mut all: Vec<ConfigError> = found
            .into_iter()
            .filter(|e| {
                !env.iter()
                    .any(|v| v.file == e.file && v.line == e.line && v.col == e.col)
            })
            .collect();
        all.append(&mut env);
        error::sort(&mut all);
        all
    }
}

/// A file's top-level mapping (an empty file is an empty mapping).
pub(super) fn root_mapping(parsed: &Parsed, what: &str, errors: &mut Errors) -> Option<Value> {
    match &parsed.value {
        Value::Null => Some(Value::Mapping(Mapping::new())),
        v @ Value::Mapping(_) => Some(v.clone()),
        _ => {
            errors.found.push(
                parsed
                    .source
                    .error_at(&[], format!("{what} must be a mapping of keys")),
            );
            None
        }
    }
}

fn compile_config(path: &Path, registry: &Registry, env: Env<'_>, errors: &mut Errors) -> Option<Config> {
    let parsed = errors.read(path, env)?;
    let root = root_mapping(&parsed, "config.yaml", errors)?;
    let source = &parsed.source;
    let raw: RawConfig = deserialize_lenient(&root, source, &[], &mut errors.found)?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let timezone = raw.timezone.map_or(chrono_tz::UTC, |z| z.0);
    let (adapters, adapter_ids) =
        compile_adapters(&raw.adapters, raw.http.is_some(), source, registry, errors);

    let bots_dir = dir.join(raw.bots.as_deref().unwrap_or(DEFAULT_BOTS));
    let files = match bot_files(&bots_dir) {
        Ok(files) => files,
        Err(e) if raw.bots.is_none() && e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            let at = [Seg::Key("bots".into())];
            errors.found.push(source.error_at(
                &at,
                format!("cannot read the bots folder {}: {e}", bots_dir.display()),
            ));
            Vec::new()
        }
    };
    let scope = BotScope {
        registry,
        adapters: &adapter_ids,
        timezone,
    };
    let mut names = HashMap::new();
    let bots = files
        .iter()
        .filter_map(|file| bots::compile_bot(file, &scope, env, &mut names, errors))
        .collect();

    Some(Config {
        file: path.to_owned(),
        timezone,
        storage_url: storage_url(&raw.storage.url, dir),
        http: raw.http.map(|h| HttpConfig { listen: h.listen }),
        adapters,
        bots_dir,
        bots,
    })
}

/// Build every adapter under `adapters:`. Returns the built ones and the ids
/// of all configured ones (built or not, so bots referring to a broken
/// adapter get no second error). Webhook paths are exclusive resources
/// (STYLE P6): a path claimed twice, or any path without an `http:`
/// listener, is an error here rather than at start-up.
fn compile_adapters(
    adapters: &Mapping,
    http: bool,
    source: &Arc<Source>,
    registry: &Registry,
    errors: &mut Errors,
) -> (Vec<AdapterEntry>, Vec<AdapterId>) {
    let mut built = Vec::new();
    let mut ids = Vec::new();
    let mut paths: HashMap<String, AdapterId> = HashMap::new();
    for (key, value) in adapters {
        let path = vec![Seg::Key("adapters".into()), Seg::Key(key_text(key))];
        let Value::String(id) = key else {
            errors
                .found
                .push(source.error_at_key(&path, "an adapter id must be text"));
            continue;
        };
        if id.contains(':') {
            errors.found.push(source.error_at_key(
                &path,
                format!("adapter id `{id}` may not contain `:` (bots write `ADAPTER:ID` to pin ids)"),
            ));
        }
        let id = AdapterId::from(id.as_str());
        ids.push(id.clone());
        match compile_adapter(&id, value, path.clone(), source, registry) {
            Ok(entry) => {
                for route in entry.adapter.routes() {
                    if !http {
                        errors.found.push(source.error_at_key(
                            &path,
                            format!(
                                "adapter `{id}` serves {} on the HTTP listener; add `http: {{listen: 127.0.0.1:8080}}` to config.yaml",
                                route.path
                            ),
                        ));
                    } else if !valid_route_path(&route.path) {
                        errors.found.push(source.error_at_key(
                            &path,
                            format!(
                                "adapter `{id}` would serve `{}`: a path is `/` and letters, digits, `_`, `-`, `.` (set `path:` or rename the adapter)",
                                route.path
                            ),
                        ));
                    } else if let Some(other) = paths.insert(route.path.clone(), id.clone()) {
                        errors.found.push(source.error_at_key(
                            &path,
                            format!(
                                "adapter `{id}` serves {}, which adapter `{other}` serves already",
                                route.path
                            ),
                        ));
                    }
                }
                built.push(entry);
            }
            Err(mut e) => errors.found.append(&mut e),
        }
    }
    (built, ids)
}

/// Whether `path` is a plain path the listener can route (no patterns,
/// nothing to escape): `/` and then segments of `A-Z a-z 0-9 _ - .`.
fn valid_route_path(path: &str) -> bool {
    path.strip_prefix('/').is_some_and(|rest| {
        rest.split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        })
    })
}

fn compile_adapter(
    id: &AdapterId,
    value: &Value,
    path: Vec<Seg>,
    source: &Arc<Source>,
    registry: &Registry,
) -> Result<AdapterEntry, Vec<ConfigError>> {
    let at = |key: &str| {
        let mut p = path.clone();
        p.push(Seg::Key(key.into()));
        p
    };
    let known = || known_kinds(registry.adapters.iter().map(|a| a.kind()));
    let mut options = match value {
        Value::Mapping(m) => m.clone(),
        Value::Null => Mapping::new(),
        _ => {
            return Err(vec![source.error_at(
                &path,
                format!("an adapter is a mapping with `kind:` ({})", known()),
            )]);
        }
    };
    let kind = options.remove("kind");
    let limits = options.remove("limits");
    let kind = match kind {
        Some(Value::String(k)) => k,
        None => {
            return Err(vec![
                source.error_at(&path, format!("missing key `kind` ({})", known())),
            ]);
        }
        Some(_) => {
            return Err(vec![
                source.error_at(&at("kind"), format!("`kind` must be text ({})", known())),
            ]);
        }
    };
    let factory = registry.adapter(&kind).ok_or_else(|| {
        vec![source.error_at(
            &at("kind"),
            format!("unknown adapter kind `{kind}` ({})", known()),
        )]
    })?;
    // Limits and options are independent: check both before failing.
    let limits: Result<LimitsConfig, _> = match limits {
        None | Some(Value::Null) => Ok(LimitsConfig::default()),
        Some(v) => deserialize_all(&v, source, &at("limits")),
    };
    let options = Options::new(Value::Mapping(options), source.clone(), path);
    match (
        limits,
        factory.build(&AdapterCx {
            id,
            options: &options,
        }),
    ) {
        (Ok(limits), Ok(adapter)) => Ok(AdapterEntry {
            id: id.clone(),
            kind,
            limits: limits.apply(adapter.limits()),
            adapter,
        }),
        (Err(mut a), Err(mut b)) => {
            a.append(&mut b);
            Err(a)
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// `known kinds: a, b, c`, for messages about an unknown kind.
pub(super) fn known_kinds<'a>(kinds: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = kinds.collect();
    format!("known kinds: {}", list.join(", "))
}

/// Resolve a relative `sqlite://PATH` against config.yaml's folder; other
/// URLs are kept as written.
fn storage_url(url: &str, dir: &Path) -> String {
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        return url.to_owned();
    }
    match url.strip_prefix("sqlite://") {
        Some(p) if Path::new(p).is_relative() => format!("sqlite://{}", dir.join(p).display()),
        _ => url.to_owned(),
    }
}

/// Every `*.yaml` / `*.yml` file in `dir`, sorted by file name.
fn bot_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn relative_sqlite_paths_resolve_against_the_config_folder() {
        let dir = Path::new("/etc/qunbot");
        assert_eq!(
            storage_url("sqlite://data/q.db", dir),
            "sqlite:///etc/qunbot/data/q.db"
        );
        assert_eq!(storage_url("sqlite:///var/q.db", dir), "sqlite:///var/q.db");
        assert_eq!(storage_url("sqlite::memory:", dir), "sqlite::memory:");
        assert_eq!(storage_url("postgres://db/q", dir), "postgres://db/q");
        assert_eq!(storage_url("sqlite://q.db", Path::new("")), "sqlite://q.db");
    }

    #[test]
    fn consequences_of_env_errors_are_dropped() {
        let at = |line, message: &str| ConfigError {
            file: "c.yaml".into(),
            line,
            col: 3,
            message: message.into(),
        };
        let errors = Errors {
            found: vec![at(2, "invalid duration \"${X}\""), at(5, "other")],
            env: vec![at(2, "environment variable X is not set")],
        };
        let messages: Vec<_> = errors.finish().into_iter().map(|e| e.message).collect();
        assert_eq!(messages, vec!["environment variable X is not set", "other"]);
    }
}
