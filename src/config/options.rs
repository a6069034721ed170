//! [`Options`]: a plugin's or adapter's YAML options, which know where they
//! came from so every error names `file:line:col`; plus the deserializing
//! helpers the compiler shares with it.

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use super::de::ValueDe;
use super::error::ConfigError;
use super::source::{self, Source};
use super::spans::{DisplayPath, Seg, parse_path};

/// A plugin's or adapter's options: a YAML subtree that knows where it came
/// from, so errors name `file:line:col`.
///
/// Cloning is cheap: the subtree, the file's span index and the path are
/// shared. Plugins read their options only through this type and never see
/// the YAML crate.
#[derive(Clone)]
pub struct Options {
    /// The subtree (a mapping for plugins and adapters); shared so clones do
    /// not copy YAML.
    value: Arc<Value>,
    /// The file and its span index, shared by every `Options` of the file.
    source: Arc<Source>,
    /// Where the subtree sits in its file (`plugins[2]`), so paths relative
    /// to it resolve to positions.
    base: Arc<[Seg]>,
}

impl Options {
    /// Options cut from a parsed file at `base`.
    pub(super) fn new(value: Value, source: Arc<Source>, base: Vec<Seg>) -> Self {
        Self {
            value: Arc::new(value),
            source,
            base: base.into(),
        }
    }

    /// Options parsed from YAML text (tests, snippets); errors name `file` as
    /// the file and point into `text`. `${VAR}` references are substituted
    /// from the process environment; an empty text is an empty mapping.
    pub fn from_yaml(file: &Path, text: &str) -> Result<Self, ConfigError> {
        let parsed = source::parse(file, text, &|name| std::env::var(name).ok())?;
        if let Some(e) = parsed.env_errors.into_iter().next() {
            return Err(e);
        }
        let value = match parsed.value {
            Value::Null => Value::Mapping(Mapping::new()),
            v => v,
        };
        Ok(Self::new(value, parsed.source, Vec::new()))
    }

    /// Deserialize the options into a plugin's or adapter's config type. The
    /// error (serde stops at the first) is located at the offending key or
    /// value; an unknown key is named.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        deserialize(&self.value, &self.source, &self.base)
    }

    /// Like [`Options::parse`], but when the options are a mapping each
    /// top-level key is checked on its own, so one error per bad key is
    /// reported instead of only the first.
    pub fn parse_all<T: DeserializeOwned>(&self) -> Result<T, Vec<ConfigError>> {
        deserialize_all(&self.value, &self.source, &self.base)
    }

    /// An error located at these options.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        self.source.error_at(&self.base, message)
    }

    /// An error located at a sub-key, written as a path such as
    /// `rules[2].match.regex` (relative to these options). A path that does
    /// not exist is located at its nearest existing ancestor.
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> ConfigError {
        self.source.error_at(&self.join(path), message)
    }

    /// The options under a sub-path (`llm`, `rules[0]`), if it exists; errors
    /// of the result stay located in the same file.
    pub fn at(&self, path: &str) -> Option<Options> {
        let rel = parse_path(path);
        let mut node = &*self.value;
        for seg in &rel {
            node = match (seg, node) {
                (Seg::Key(k), Value::Mapping(m)) => m.get(k.as_str())?,
                (Seg::Index(i), Value::Sequence(s)) => s.get(*i)?,
                _ => return None,
            };
        }
        Some(Self::new(node.clone(), self.source.clone(), self.join(path)))
    }

    /// Whether there are no options (an empty mapping or nothing at all).
    pub fn is_empty(&self) -> bool {
        match &*self.value {
            Value::Null => true,
            Value::Mapping(m) => m.is_empty(),
            _ => false,
        }
    }

    /// The file the options come from.
    pub fn file(&self) -> &Path {
        self.source.file()
    }

    /// Where the options sit in their file, written `plugins[2]` (empty for
    /// a whole file).
    pub fn path(&self) -> String {
        DisplayPath(&self.base).to_string()
    }

    fn join(&self, path: &str) -> Vec<Seg> {
        let mut full = self.base.to_vec();
        full.extend(parse_path(path));
        full
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The values stay out: they may hold secrets from `${VAR}`.
        f.debug_struct("Options")
            .field("file", &self.source.file())
            .field("path", &DisplayPath(&self.base).to_string())
            .finish_non_exhaustive()
    }
}

/// Deserialize `value`, which sits at `base` in `source`, locating the error.
pub(super) fn deserialize<T: DeserializeOwned>(
    value: &Value,
    source: &Source,
    base: &[Seg],
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(ValueDe(value)).map_err(|e| source.serde_error(base, e))
}

/// Deserialize `value`, reporting one error per bad top-level key when it is
/// a mapping (serde itself stops at the first).
///
/// Each key is tried alone; a missing required key is not held against a
/// single key. If every key passes alone but the whole still fails (a missing
/// required key), that error is reported.
pub(super) fn deserialize_all<T: DeserializeOwned>(
    value: &Value,
    source: &Source,
    base: &[Seg],
) -> Result<T, Vec<ConfigError>> {
    let first = match serde_path_to_error::deserialize(ValueDe(value)) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let Value::Mapping(map) = value else {
        return Err(vec![source.serde_error(base, first)]);
    };
    let mut errors = Vec::new();
    for (k, v) in map {
        if let Some(e) = alone_error::<T>(k, v) {
            errors.push(source.serde_error(base, e));
        }
    }
    if errors.is_empty() {
        errors.push(source.serde_error(base, first));
    }
    Err(errors)
}

/// Like [`deserialize_all`], but on failure the keys that pass alone are
/// deserialized together, so compilation can go on with defaults in place of
/// the bad keys. `None` only when even that fails (a missing required key).
pub(super) fn deserialize_lenient<T: DeserializeOwned>(
    value: &Value,
    source: &Source,
    base: &[Seg],
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match deserialize_all(value, source, base) {
        Ok(t) => Some(t),
        Err(mut found) => {
            let Value::Mapping(map) = value else {
                errors.append(&mut found);
                return None;
            };
            let good: Mapping = map
                .iter()
                .filter(|(k, v)| alone_error::<T>(k, v).is_none())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            errors.append(&mut found);
            serde_path_to_error::deserialize(ValueDe(&Value::Mapping(good))).ok()
        }
    }
}

/// The error of deserializing a mapping holding only `key: value`, unless it
/// is only that some other, required key is missing.
fn alone_error<T: DeserializeOwned>(
    key: &Value,
    value: &Value,
) -> Option<serde_path_to_error::Error<serde_yaml::Error>> {
    let alone = Value::Mapping(Mapping::from_iter([(key.clone(), value.clone())]));
    let e = serde_path_to_error::deserialize::<_, T>(ValueDe(&alone)).err()?;
    let missing = e.path().iter().next().is_none() && e.inner().to_string().starts_with("missing field");
    (!missing).then_some(e)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rule {
        #[serde(rename = "match")]
        matcher: Match,
        reply: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase", deny_unknown_fields)]
    #[allow(dead_code)]
    enum Match {
        Regex(String),
        Exact(String),
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Opts {
        #[serde(default)]
        rules: Vec<Rule>,
        #[serde(default)]
        cooldown: Option<u32>,
    }

    const TEXT: &str = "\
rules:
  - match: {regex: \"a+\"}
    reply: hi
  - match: {exact: yo}
    reply: hey
    colour: red
cooldown: soon
";

    fn opts() -> Options {
        Options::from_yaml(Path::new("p.yaml"), TEXT).unwrap()
    }

    #[test]
    fn unknown_keys_are_named_and_located_at_the_key() {
        let e = opts().parse::<Opts>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "p.yaml:6:5: unknown key `colour` (expected `match` or `reply`)"
        );
    }

    #[test]
    fn parse_all_reports_each_bad_key() {
        let errors = opts().parse_all::<Opts>().unwrap_err();
        let at: Vec<_> = errors.iter().map(|e| (e.line, e.col)).collect();
        assert_eq!(at, vec![(6, 5), (7, 11)], "{errors:?}");
    }

    #[test]
    fn error_at_resolves_paths_and_falls_back_to_ancestors() {
        let o = opts();
        let e = o.error_at("rules[0].match.regex", "bad regex");
        assert_eq!((e.line, e.col, e.message.as_str()), (2, 20, "bad regex"));
        let e = o.error_at("rules[1].match.regex", "no such key");
        assert_eq!((e.line, e.col), (4, 5));
        assert_eq!((o.error("whole").line, o.error("whole").col), (1, 1));
    }

    #[test]
    fn sub_options_stay_located() {
        let rule = opts().at("rules[1]").unwrap();
        assert_eq!(rule.path(), "rules[1]");
        let e = rule.error_at("reply", "x");
        assert_eq!((e.line, e.col), (5, 12));
        assert!(opts().at("rules[5]").is_none());
    }

    #[test]
    fn missing_keys_and_bad_enums_are_located() {
        let o = Options::from_yaml(
            Path::new("p.yaml"),
            "rules:\n  - match: {glob: x}\n    reply: r\n",
        )
        .unwrap();
        let e = o.parse::<Opts>().unwrap_err();
        assert_eq!((e.line, e.col), (2, 13), "{e}");
        assert!(e.message.contains("glob"), "{e}");
        let o = Options::from_yaml(Path::new("p.yaml"), "rules:\n  - reply: r\n").unwrap();
        let e = o.parse::<Opts>().unwrap_err();
        assert_eq!(e.message, "missing key `match`");
        assert_eq!((e.line, e.col), (2, 5));
    }

    #[test]
    fn lenient_keeps_the_good_keys() {
        #[derive(Debug, Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        struct Top {
            #[serde(default)]
            a: u32,
            #[serde(default)]
            b: u32,
        }
        let parsed = source::parse(Path::new("t.yaml"), "a: 1\nb: x\nc: 3\n", &|_| None).unwrap();
        let mut errors = Vec::new();
        let top: Top = deserialize_lenient(&parsed.value, &parsed.source, &[], &mut errors).unwrap();
        assert_eq!((top.a, top.b), (1, 0));
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn debug_hides_values() {
        let o = Options::from_yaml(Path::new("p.yaml"), "token: abcdef\n").unwrap();
        assert!(!format!("{o:?}").contains("abcdef"));
    }
}
