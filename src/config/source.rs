//! A config file read into a YAML value plus everything needed to locate
//! errors in it: its path, its [`SpanIndex`], and the environment values
//! substituted into it (so errors can be scrubbed of them).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_yaml::Value;

use super::env::{self, EnvError};
use super::error::ConfigError;
use super::spans::{NodePath, Pos, Seg, SpanIndex};

/// How variables are looked up: the process environment in the daemon, a
/// map in tests.
pub(super) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One parsed file, shared (behind `Arc`) by every [`super::Options`] cut
/// from it.
pub(super) struct Source {
    /// The file, as errors name it.
    file: PathBuf,
    /// Path → position, for every node of the file.
    spans: SpanIndex,
    /// Values taken from the environment; kept only to remove them from error
    /// messages, never printed.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of Debug output too.
        f.debug_struct("Source")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// A file after parsing and `${VAR}` substitution.
pub(super) struct Parsed {
    /// The file and its spans.
    pub(super) source: Arc<Source>,
    /// The document (`Null` for an empty file).
    pub(super) value: Value,
    /// Problems with `${…}` references; the strings concerned keep their text.
    pub(super) env_errors: Vec<ConfigError>,
}

/// Parse `text` (the contents of `file`): YAML syntax, spans, merge keys
/// (`<<: *base`), then `${VAR}` substitution in every string value.
/// A syntax error is the only error returned as `Err`: nothing else in the
/// file can be checked after one.
pub(super) fn parse(file: &Path, text: &str, env: Env<'_>) -> Result<Parsed, ConfigError> {
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| syntax_error(file, &e))?;
    let mut source = Source {
        file: file.to_owned(),
        spans: SpanIndex::build(text),
        secrets: Vec::new(),
    };
    if let Err(e) = value.apply_merge() {
        return Err(ConfigError::at_file(file, format!("merge key (`<<`): {e}")));
    }
    let mut failed = Vec::new();
    substitute_tree(&mut value, &mut Vec::new(), env, &mut source.secrets, &mut failed);
    let env_errors = failed
        .into_iter()
        .map(|(path, e)| source.error(source.spans.locate(&path), e.to_string()))
        .collect();
    Ok(Parsed {
        source: Arc::new(source),
        value,
        env_errors,
    })
}

fn syntax_error(file: &Path, e: &serde_yaml::Error) -> ConfigError {
    let mut message = e.to_string();
    let (line, col) = match e.location() {
        Some(l) => {
            // The location is ours to print; drop serde_yaml's copy of it.
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            message = message.replacen(&suffix, "", 1);
            (l.line(), l.column())
        }
        None => (1, 1),
    };
    ConfigError {
        file: file.to_owned(),
        line,
        col,
        message: format!("invalid YAML: {message}"),
    }
}

fn substitute_tree(
    value: &mut Value,
    path: &mut NodePath,
    env: Env<'_>,
    secrets: &mut Vec<String>,
    failed: &mut Vec<(NodePath, EnvError)>,
) {
    match value {
        Value::String(s) if env::has_reference(s) => match env::substitute(s, env) {
            Ok(done) => {
                *s = done.text;
                secrets.extend(done.secrets.into_iter().filter(|v| !v.is_empty()));
            }
            Err(errors) => failed.extend(errors.into_iter().map(|e| (path.clone(), e))),
        },
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                substitute_tree(item, path, env, secrets, failed);
                path.pop();
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                path.push(Seg::Key(key_text(k)));
                substitute_tree(v, path, env, secrets, failed);
                path.pop();
            }
        }
        Value::Tagged(tagged) => substitute_tree(&mut tagged.value, path, env, secrets, failed),
        _ => {}
    }
}

/// A mapping key as the span index and serde_path_to_error spell it.
pub(super) fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

impl Source {
    /// The file, as errors name it.
    pub(super) fn file(&self) -> &Path {
        &self.file
    }

    /// An error at `pos`, scrubbed of environment values.
    pub(super) fn error(&self, pos: Pos, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: pos.line,
            col: pos.col,
            message: self.redact(message.into()),
        }
    }

    /// An error about the node at `path` (or its nearest existing ancestor).
    pub(super) fn error_at(&self, path: &[Seg], message: impl Into<String>) -> ConfigError {
        self.error(self.spans.locate(path), message)
    }

    /// An error about the key of the node at `path` (an unknown key).
    pub(super) fn error_at_key(&self, path: &[Seg], message: impl Into<String>) -> ConfigError {
        self.error(self.spans.locate_key(path), message)
    }

    /// Locate a deserialization error of the subtree at `base`, rewording
    /// serde's messages into this format's terms (keys, not fields).
    pub(super) fn serde_error(
        &self,
        base: &[Seg],
        err: serde_path_to_error::Error<serde_yaml::Error>,
    ) -> ConfigError {
        use serde_path_to_error::Segment;
        let mut path = base.to_vec();
        for seg in err.path().iter() {
            match seg {
                Segment::Seq { index } => path.push(Seg::Index(*index)),
                Segment::Map { key } | Segment::Enum { variant: key } => path.push(Seg::Key(key.clone())),
                Segment::Unknown => break,
            }
        }
        let message = err.into_inner().to_string();
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
            let expected = expected.trim_start_matches(',').trim();
            let expected = match expected {
                "" => String::new(),
                "there are no fields" => " (no keys are allowed here)".to_owned(),
                e => format!(" ({e})"),
            };
            return self.error_at_key(&path, format!("unknown key `{key}`{expected}"));
        }
        if let Some(rest) = message.strip_prefix("unknown variant `") {
            // The map form (`{glob: x}`): point at the variant's key.
            let variant = rest.split('`').next().unwrap_or_default();
            let mut at = path.clone();
            at.push(Seg::Key(variant.to_owned()));
            if self.spans.contains(&at) {
                return self.error_at_key(&at, message);
            }
        }
        let message = match message.strip_prefix("missing field `") {
            Some(rest) => format!("missing key `{rest}"),
            None => message,
        };
        self.error_at(&path, message)
    }

    /// `message` with every environment value replaced by `***`. Values
    /// shorter than four characters are replaced only where quoted, so that
    /// a value such as `1` does not mangle the rest of the message.
    fn redact(&self, mut message: String) -> String {
        for secret in &self.secrets {
            if secret.chars().count() >= 4 {
                message = message.replace(secret.as_str(), "***");
            } else {
                for quoted in [
                    format!("{secret:?}"),
                    format!("`{secret}`"),
                    format!("'{secret}'"),
                ] {
                    message = message.replace(&quoted, "\"***\"");
                }
            }
        }
        message
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::spans::parse_path;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "hunter22".to_owned())
    }

    #[test]
    fn syntax_errors_carry_serde_yaml_location() {
        let e = parse(Path::new("c.yaml"), "a: 1\nb: [1, 2\n", &env)
            .err()
            .unwrap();
        assert_eq!(e.file, Path::new("c.yaml"));
        assert!(e.message.starts_with("invalid YAML"), "{e}");
        assert_eq!((e.line, e.col), (3, 1), "{e}");
        assert!(!e.message.contains("at line 3 column 1"), "{e}");
    }

    #[test]
    fn substitutes_and_locates_missing_variables() {
        let parsed = parse(
            Path::new("c.yaml"),
            "a:\n  token: ${TOKEN}\n  other: \"x ${MISSING_VAR} y\"\n",
            &env,
        )
        .unwrap();
        assert_eq!(parsed.value["a"]["token"], Value::from("hunter22"));
        assert_eq!(parsed.env_errors.len(), 1);
        let e = &parsed.env_errors[0];
        assert_eq!((e.line, e.col), (3, 10));
        assert_eq!(e.message, "environment variable MISSING_VAR is not set");
    }

    #[test]
    fn errors_never_show_environment_values() {
        let parsed = parse(Path::new("c.yaml"), "a: ${TOKEN}\n", &env).unwrap();
        let e = parsed
            .source
            .error_at(&parse_path("a"), "invalid type: string \"hunter22\"");
        assert_eq!(e.message, "invalid type: string \"***\"");
        assert!(!format!("{:?}", parsed.source).contains("hunter22"));
    }

    #[test]
    fn merge_keys_are_applied() {
        let parsed = parse(
            Path::new("c.yaml"),
            "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n",
            &env,
        )
        .unwrap();
        assert_eq!(parsed.value["c"]["x"], Value::from(1));
    }
}
