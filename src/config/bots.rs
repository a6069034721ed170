//! Compiling one bot file: its identity and reach ([`BotInfo`]) and its
//! plugins, each built by its kind's factory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono_tz::Tz;
use serde_yaml::Value;

use super::compile::{Errors, known_kinds, root_mapping};
use super::options::{Options, deserialize_lenient};
use super::raw::{IdText, RawBot};
use super::source::{Env, Source};
use super::spans::Seg;
use super::{BotEntry, PluginEntry};
use crate::bot::{BotInfo, GroupFilter, Scoped};
use crate::event::AdapterId;
use crate::plugin::BuildCx;
use crate::registry::Registry;

/// What a bot file is compiled against: config.yaml's results.
pub(super) struct BotScope<'a> {
    /// Plugin kinds.
    pub(super) registry: &'a Registry,
    /// Every adapter id config.yaml configures, in its order.
    pub(super) adapters: &'a [AdapterId],
    /// config.yaml's time zone, the bots' default.
    pub(super) timezone: Tz,
}

/// Compile the bot in `file`. `names` holds the names taken by earlier files
/// (name → file). `None` when the file cannot be read or is not a mapping;
/// otherwise the bot is compiled as far as it goes, with every problem
/// recorded in `errors`.
pub(super) fn compile_bot(
    file: &Path,
    scope: &BotScope<'_>,
    env: Env<'_>,
    names: &mut HashMap<String, PathBuf>,
    errors: &mut Errors,
) -> Option<BotEntry> {
    let parsed = errors.read(file, env)?;
    let root = root_mapping(&parsed, "a bot file", errors)?;
    let source = &parsed.source;
    let raw: RawBot = deserialize_lenient(&root, source, &[], &mut errors.found)?;
    let found = &mut errors.found;

    let name_at = [Seg::Key("name".into())];
    let name = match raw.name {
        Some(name) => name,
        None => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if name.trim().is_empty() {
        found.push(source.error_at(&name_at, "a bot name cannot be empty"));
    }
    match names.get(&name) {
        Some(other) => found.push(source.error_at(
            &name_at,
            format!(
                "duplicate bot name `{name}` (also the name of the bot in {})",
                other.display()
            ),
        )),
        None => {
            names.insert(name.clone(), file.to_owned());
        }
    }

    let adapters = match raw.adapters {
        None => scope.adapters.to_vec(),
        Some(list) => {
            let mut kept: Vec<AdapterId> = Vec::new();
            for (i, id) in list.into_iter().enumerate() {
                let id = AdapterId::from(id);
                if !scope.adapters.contains(&id) {
                    found.push(source.error_at(
                        &[Seg::Key("adapters".into()), Seg::Index(i)],
                        format!("unknown adapter `{id}` ({})", configured(scope.adapters)),
                    ));
                } else if !kept.contains(&id) {
                    kept.push(id);
                }
            }
            kept
        }
    };

    let groups = match raw.groups {
        None => GroupFilter::All,
        Some(list) if list.iter().any(|g| g.0.trim() == "*") => GroupFilter::All,
        Some(list) => GroupFilter::Only(scoped_ids(list, "groups", &adapters, scope, source, found)),
    };
    let admins = scoped_ids(raw.admins, "admins", &adapters, scope, source, found);
    let info = Arc::new(BotInfo {
        name,
        adapters,
        groups,
        admins,
        timezone: raw.timezone.map_or(scope.timezone, |z| z.0),
        locale: raw.locale.into(),
    });

    let base_dir = file.parent().unwrap_or(Path::new(""));
    let plugins = raw
        .plugins
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| {
            compile_plugin(i, item, &info, base_dir, source, scope.registry)
                .map_err(|mut e| found.append(&mut e))
                .ok()
        })
        .collect();
    Some(BotEntry {
        info,
        file: file.to_owned(),
        plugins,
    })
}

/// `configured: a, b` for messages about an unknown adapter id.
fn configured(ids: &[AdapterId]) -> String {
    if ids.is_empty() {
        return "config.yaml configures no adapters".into();
    }
    let list: Vec<&str> = ids.iter().map(AdapterId::as_str).collect();
    format!("configured in config.yaml: {}", list.join(", "))
}

/// Group or admin ids: `ADAPTER:ID` pins an id to a configured adapter;
/// anything else (Matrix ids contain `:` too) is an id on every adapter.
fn scoped_ids<T: From<String>>(
    list: Vec<IdText>,
    key: &str,
    bot_adapters: &[AdapterId],
    scope: &BotScope<'_>,
    source: &Source,
    found: &mut Vec<super::ConfigError>,
) -> Vec<Scoped<T>> {
    let mut out = Vec::new();
    for (i, IdText(text)) in list.into_iter().enumerate() {
        let pinned = text
            .split_once(':')
            .map(|(a, id)| (AdapterId::from(a), id))
            .filter(|(a, _)| scope.adapters.contains(a));
        match pinned {
            Some((adapter, id)) => {
                if !bot_adapters.contains(&adapter) {
                    found.push(source.error_at(
                        &[Seg::Key(key.into()), Seg::Index(i)],
                        format!("`{text}` is pinned to adapter `{adapter}`, which this bot does not use"),
                    ));
                }
                out.push(Scoped {
                    adapter: Some(adapter),
                    id: T::from(id.to_owned()),
                });
            }
            None => out.push(Scoped {
                adapter: None,
                id: T::from(text),
            }),
        }
    }
    out
}

fn compile_plugin(
    index: usize,
    item: Value,
    bot: &BotInfo,
    base_dir: &Path,
    source: &Arc<Source>,
    registry: &Registry,
) -> Result<PluginEntry, Vec<super::ConfigError>> {
    let path = vec![Seg::Key("plugins".into()), Seg::Index(index)];
    let mut use_at = path.clone();
    use_at.push(Seg::Key("use".into()));
    let known = || known_kinds(registry.plugins.iter().map(|p| p.kind()));
    let Value::Mapping(mut options) = item else {
        let message = format!("a plugin is a mapping with `use: KIND` ({})", known());
        return Err(vec![source.error_at(&path, message)]);
    };
    let kind = match options.remove("use") {
        Some(Value::String(kind)) => kind,
        None => {
            return Err(vec![
                source.error_at(&path, format!("missing key `use` ({})", known())),
            ]);
        }
        Some(_) => {
            return Err(vec![
                source.error_at(&use_at, format!("`use` must be text ({})", known())),
            ]);
        }
    };
    let factory = registry.plugin(&kind).ok_or_else(|| {
        vec![source.error_at(&use_at, format!("unknown plugin kind `{kind}` ({})", known()))]
    })?;
    let options = Options::new(Value::Mapping(options), source.clone(), path);
    let plugin = factory.build(&BuildCx {
        bot,
        base_dir,
        options: &options,
    })?;
    Ok(PluginEntry { kind, plugin })
}
