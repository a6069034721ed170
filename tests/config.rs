//! `config::load` on real files: every error located as `file:line:col`,
//! all of them reported at once, `${VAR}` substitution, adapters, limits,
//! bots and plugins compiled against the built-in registry, and schemas.

use std::path::Path;
use std::time::Duration;

use qunbot::bot::{GroupFilter, Locale, Scoped};
use qunbot::config::{self, Config, ConfigError};
use qunbot::outbox::Rate;
use qunbot::registry::Registry;
use tempfile::TempDir;

/// A folder with config.yaml and `bots/NAME` files.
fn setup(config: &str, bots: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    std::fs::create_dir(dir.path().join("bots")).unwrap();
    for (name, text) in bots {
        std::fs::write(dir.path().join("bots").join(name), text).unwrap();
    }
    dir
}

fn env(name: &str) -> Option<String> {
    match name {
        "BOT_NAME" => Some("from-env".into()),
        "SECRET_LOCALE" => Some("fr-hunter2-secret".into()),
        _ => None,
    }
}

fn load(dir: &TempDir) -> Result<Config, Vec<ConfigError>> {
    config::load_with_env(&dir.path().join("config.yaml"), &Registry::builtin(), &env)
}

/// The errors, printed, with the temporary folder's prefix removed.
fn errors(dir: &TempDir) -> Vec<String> {
    let prefix = format!("{}/", dir.path().display());
    match load(dir) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors
            .iter()
            .map(|e| e.to_string().replacen(&prefix, "", 1))
            .collect(),
    }
}

const CONFIG: &str = "\
adapters:
  console: {kind: console}
  tg: {kind: console}
";

#[test]
fn a_valid_configuration_compiles() {
    let dir = setup(
        "\
timezone: Asia/Shanghai
storage:
  url: sqlite://state/q.db
http: {}
adapters:
  zeta: {kind: console, group: lobby}
  alpha:
    kind: console
bots: bots
",
        &[
            (
                "b-second.yml",
                "adapters: [alpha]\ngroups: [\"alpha:-1001\", \"!room:matrix.org\", 42]\n",
            ),
            (
                "a-first.yaml",
                "timezone: Europe/Berlin\nlocale: en\nadmins: [\"zeta:7\", 8]\nplugins:\n  - use: autoreply\n    rules: []\n  - use: welcome\n    text: hi\n",
            ),
            ("notes.txt", "not a bot"),
        ],
    );
    let config = load(&dir).unwrap();
    assert_eq!(config.timezone, chrono_tz::Asia::Shanghai);
    assert_eq!(
        config.storage_url,
        format!("sqlite://{}", dir.path().join("state/q.db").display())
    );
    assert_eq!(config.http.unwrap().listen, "127.0.0.1:8080".parse().unwrap());
    let ids: Vec<_> = config.adapters.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["zeta", "alpha"], "file order is kept");
    assert_eq!(config.bots_dir, dir.path().join("bots"));

    let names: Vec<_> = config.bots.iter().map(|b| b.info.name.as_str()).collect();
    assert_eq!(
        names,
        ["a-first", "b-second"],
        "sorted by file name, named by stem"
    );
    let first = &config.bots[0].info;
    assert_eq!(
        first.adapters,
        vec!["zeta".into(), "alpha".into()],
        "default: every adapter"
    );
    assert_eq!(first.groups, GroupFilter::All);
    assert_eq!(first.timezone, chrono_tz::Europe::Berlin);
    assert_eq!(first.locale, Locale::En);
    assert_eq!(
        first.admins,
        vec![
            Scoped {
                adapter: Some("zeta".into()),
                id: "7".into()
            },
            Scoped {
                adapter: None,
                id: "8".into()
            }
        ]
    );
    let kinds: Vec<_> = config.bots[0].plugins.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(kinds, ["autoreply", "welcome"]);

    let second = &config.bots[1].info;
    assert_eq!(
        second.timezone,
        chrono_tz::Asia::Shanghai,
        "config.yaml's zone by default"
    );
    assert_eq!(second.locale, Locale::Zh);
    assert_eq!(
        second.groups,
        GroupFilter::Only(vec![
            Scoped {
                adapter: Some("alpha".into()),
                id: "-1001".into()
            },
            Scoped {
                adapter: None,
                id: "!room:matrix.org".into()
            },
            Scoped {
                adapter: None,
                id: "42".into()
            },
        ])
    );
}

#[test]
fn defaults_apply_to_an_empty_config() {
    let dir = setup("", &[]);
    let config = load(&dir).unwrap();
    assert_eq!(config.timezone, chrono_tz::UTC);
    assert!(config.http.is_none());
    assert!(config.adapters.is_empty());
    assert_eq!(
        config.storage_url,
        format!("sqlite://{}", dir.path().join("data/qunbot.db").display())
    );
    let memory = setup("storage: {url: \"sqlite::memory:\"}\n", &[]);
    assert_eq!(load(&memory).unwrap().storage_url, "sqlite::memory:");
}

#[test]
fn a_misspelt_key_in_a_bot_file_is_named_at_its_position() {
    let dir = setup(
        CONFIG,
        &[("shop.yaml", "name: shop\nlocale: zh\n  # note\ntreshold: 3\n")],
    );
    let errors = errors(&dir);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .starts_with("bots/shop.yaml:4:1: unknown key `treshold` (expected one of `name`, `adapters`"),
        "{errors:?}"
    );
}

#[test]
fn a_misspelt_key_in_plugin_options_is_named_at_its_position() {
    let bot = "\
plugins:
  - use: welcome
    text: hi
  - use: autoreply
    rules: []
    colour: red
";
    let dir = setup(CONFIG, &[("shop.yaml", bot)]);
    let errors = errors(&dir);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("bots/shop.yaml:6:5: unknown key `colour`"),
        "{errors:?}"
    );
}

#[test]
fn errors_in_several_files_are_all_reported_in_order() {
    let config = "\
timezone: Mars/Olympus
adapters:
  console: {kind: console}
";
    let dir = setup(
        config,
        &[
            ("b.yaml", "plugins:\n  - use: autoreply\n    colour: red\n"),
            ("a.yaml", "locale: fr\nname: ok\nadmin: [x]\n"),
        ],
    );
    let errors = errors(&dir);
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(
        errors[0].starts_with("bots/a.yaml:1:9: unknown variant `fr`"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("bots/a.yaml:3:1: unknown key `admin`"),
        "{errors:?}"
    );
    assert!(
        errors[2].starts_with("bots/b.yaml:3:5: unknown key `colour`"),
        "{errors:?}"
    );
    assert!(
        errors[3].starts_with("config.yaml:1:11: unknown time zone `Mars/Olympus`"),
        "{errors:?}"
    );
}

#[test]
fn a_missing_variable_is_named_at_its_string() {
    let config = "\
adapters:
  console:
    kind: console
    group: \"lobby-${MISSING_GROUP}\"
";
    let dir = setup(config, &[("a.yaml", "name: ${MISSING_NAME}\n")]);
    assert_eq!(
        errors(&dir),
        vec![
            "bots/a.yaml:1:7: environment variable MISSING_NAME is not set",
            "config.yaml:4:12: environment variable MISSING_GROUP is not set",
        ]
    );
}

#[test]
fn variables_and_defaults_are_substituted() {
    let config = "timezone: ${NO_SUCH_TZ:-Asia/Tokyo}\nadapters:\n  console: {kind: console}\n";
    let dir = setup(
        config,
        &[
            ("a.yaml", "name: ${BOT_NAME}\n"),
            ("b.yaml", "name: x-${NOPE:-y}\n"),
        ],
    );
    let config = load(&dir).unwrap();
    assert_eq!(config.timezone, chrono_tz::Asia::Tokyo);
    assert_eq!(config.bots[0].info.name, "from-env");
    assert_eq!(config.bots[1].info.name, "x-y");
}

#[test]
fn errors_never_show_a_variables_value() {
    let dir = setup(CONFIG, &[("a.yaml", "locale: ${SECRET_LOCALE}\n")]);
    let errors = errors(&dir);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("bots/a.yaml:1:9: unknown variant"),
        "{errors:?}"
    );
    assert!(!errors[0].contains("hunter2"), "{errors:?}");
}

#[test]
fn unknown_kinds_are_located_and_known_ones_listed() {
    let config = "\
adapters:
  console: {kind: console}
  tg:
    kind: telegramm
";
    let bot = "plugins:\n  - use: autoreply\n    rules: []\n  - use: moderaton\n";
    let dir = setup(config, &[("a.yaml", bot)]);
    let errors = errors(&dir);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("bots/a.yaml:4:10: unknown plugin kind `moderaton`"),
        "{errors:?}"
    );
    assert!(errors[0].contains("autoreply"), "{errors:?}");
    assert!(
        errors[1].starts_with("config.yaml:4:11: unknown adapter kind `telegramm`"),
        "{errors:?}"
    );
    assert!(errors[1].contains("console"), "{errors:?}");
}

#[test]
fn a_bot_naming_an_unconfigured_adapter_is_located() {
    let bot = "adapters: [console, qq]\ngroups: [\"tg:1\"]\n";
    let dir = setup(CONFIG, &[("a.yaml", bot)]);
    let errors = errors(&dir);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("bots/a.yaml:1:21: unknown adapter `qq`"),
        "{errors:?}"
    );
    assert!(errors[0].contains("console, tg"), "{errors:?}");
    assert!(
        errors[1]
            .starts_with("bots/a.yaml:2:10: `tg:1` is pinned to adapter `tg`, which this bot does not use"),
        "{errors:?}"
    );
}

#[test]
fn limits_override_the_adapters_own() {
    let config = "\
adapters:
  console:
    kind: console
    limits:
      per_group: [\"1/3s\", \"20/1m\"]
      daily_cap: 500
      jitter: 200ms
";
    let dir = setup(config, &[]);
    let config = load(&dir).unwrap();
    let limits = &config.adapters[0].limits;
    let rate = |count, secs| Rate {
        count,
        per: Duration::from_secs(secs),
    };
    assert_eq!(limits.per_group, vec![rate(1, 3), rate(20, 60)]);
    assert!(
        limits.per_account.is_empty(),
        "absent keys keep the adapter's own"
    );
    assert_eq!(limits.daily_cap, Some(500));
    assert_eq!(limits.jitter, Duration::from_millis(200));
}

#[test]
fn bad_limits_are_located() {
    let config = "\
adapters:
  console:
    kind: console
    limits:
      per_group: [\"1/3s\", \"twenty a minute\"]
      burst: 3
";
    let dir = setup(config, &[]);
    let errors = errors(&dir);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("config.yaml:5:27: invalid rate \"twenty a minute\""),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("config.yaml:6:7: unknown key `burst`"),
        "{errors:?}"
    );
}

#[test]
fn duplicate_bot_names_are_reported_at_the_second() {
    let dir = setup(
        CONFIG,
        &[("a.yaml", "name: shop\n"), ("b.yaml", "locale: en\nname: shop\n")],
    );
    let errors = errors(&dir);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("bots/b.yaml:2:7: duplicate bot name `shop`"),
        "{errors:?}"
    );
    assert!(errors[0].contains("a.yaml"), "{errors:?}");
}

#[test]
fn a_bad_time_zone_is_located() {
    let dir = setup(CONFIG, &[("a.yaml", "name: a\ntimezone: Asia/Shanghia\n")]);
    let errors = errors(&dir);
    assert_eq!(
        errors,
        vec![
            "bots/a.yaml:2:11: unknown time zone `Asia/Shanghia` (use an IANA name such as Asia/Shanghai or UTC)"
        ]
    );
}

#[test]
fn a_syntax_error_does_not_hide_other_files() {
    let dir = setup(
        CONFIG,
        &[("a.yaml", "name: [unclosed\n"), ("b.yaml", "nmae: b\n")],
    );
    let errors = errors(&dir);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("bots/a.yaml:2:1: invalid YAML"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("bots/b.yaml:1:1: unknown key `nmae`"),
        "{errors:?}"
    );
}

#[test]
fn an_explicit_missing_bots_folder_is_an_error() {
    let dir = setup("bots: robots\n", &[]);
    let errors = errors(&dir);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("config.yaml:1:7: cannot read the bots folder"),
        "{errors:?}"
    );
}

#[test]
fn bot_schema_has_a_branch_per_plugin_kind_and_denies_unknown_keys() {
    let registry = Registry::builtin();
    let schema = config::bot_schema(&registry);
    assert_eq!(schema["additionalProperties"], false);
    let branches = schema["properties"]["plugins"]["items"]["oneOf"]
        .as_array()
        .unwrap();
    let kinds: Vec<_> = branches
        .iter()
        .map(|b| b["properties"]["use"]["const"].clone())
        .collect();
    let expected: Vec<_> = registry
        .plugins
        .iter()
        .map(|p| serde_json::json!(p.kind()))
        .collect();
    assert_eq!(kinds, expected);
    for branch in branches {
        assert_eq!(branch["additionalProperties"], false, "{branch}");
        assert!(
            branch["required"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("use"))
        );
    }
    let config = config::config_schema(&registry);
    assert_eq!(config["additionalProperties"], false);
    let adapters = &config["properties"]["adapters"]["additionalProperties"]["oneOf"];
    assert_eq!(adapters[0]["properties"]["kind"]["const"], "console");
}

#[test]
fn options_locate_errors_in_snippets() {
    let opts =
        config::Options::from_yaml(Path::new("snippet.yaml"), "rules:\n  - match: {regex: \"(\"}\n").unwrap();
    let e = opts.error_at("rules[0].match.regex", "unclosed group");
    assert_eq!(e.to_string(), "snippet.yaml:2:20: unclosed group");
    let e = opts.error_at("rules[0].reply", "missing reply");
    assert_eq!(
        (e.line, e.col),
        (2, 5),
        "falls back to the nearest existing ancestor"
    );
}
