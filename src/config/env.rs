//! `${VAR}` and `${VAR:-default}` in string values.
//!
//! Rules:
//! - Substitution applies to every string *value* of config.yaml and bot files
//!   (not to mapping keys), after YAML parsing and before deserializing, so
//!   a variable's value is never parsed as YAML: it always stays a string,
//!   whatever it contains.
//! - `VAR` is `[A-Za-z_][A-Za-z0-9_]*`. `${VAR:-default}` uses `default`
//!   when VAR is unset or empty (as the shell does); the default cannot
//!   contain `}`.
//! - `$${` writes a literal `${`. Any other `$` is kept as it is.
//! - An unset VAR without a default, an unterminated `${`, or a bad name is
//!   an error located at the string. Errors name the variable, never its value.

/// What went wrong substituting one string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum EnvError {
    /// `${VAR}` with VAR unset and no default.
    Unset(String),
    /// `${` without a closing `}`.
    Unterminated,
    /// `${…}` whose name is not a variable name.
    BadName(String),
}

impl std::fmt::Display for EnvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvError::Unset(var) => write!(f, "environment variable {var} is not set"),
            EnvError::Unterminated => f.write_str("`${` without a closing `}`"),
            EnvError::BadName(name) => write!(
                f,
                "`${{{name}}}` is not a variable reference (write `${{NAME}}` or `${{NAME:-default}}`; \
                 `$${{` for a literal `${{`)"
            ),
        }
    }
}

/// The result of substituting one string.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Substituted {
    /// The string with every reference replaced.
    pub(super) text: String,
    /// The values taken from the environment (not defaults), so errors can
    /// be scrubbed of them.
    pub(super) secrets: Vec<String>,
}

/// Whether `text` needs [`substitute`] at all.
pub(super) fn has_reference(text: &str) -> bool {
    text.contains("${")
}

/// Replace every `${VAR}` / `${VAR:-default}` in `text`, looking variables
/// up with `env`. Every problem in the string is returned.
pub(super) fn substitute(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Substituted, Vec<EnvError>> {
    let mut out = Substituted::default();
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.text.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.text.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(end) = tail.find('}') else {
                errors.push(EnvError::Unterminated);
                rest = "";
                break;
            };
            let inner = &tail[..end];
            rest = &tail[end + 1..];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if !is_name(name) {
                errors.push(EnvError::BadName(inner.to_owned()));
                continue;
            }
            match (
                env(name).filter(|v| !(v.is_empty() && default.is_some())),
                default,
            ) {
                (Some(value), _) => {
                    out.text.push_str(&value);
                    out.secrets.push(value);
                }
                (None, Some(d)) => out.text.push_str(d),
                (None, None) => errors.push(EnvError::Unset(name.to_owned())),
            }
        } else {
            out.text.push('$');
            rest = &after[1..];
        }
    }
    out.text.push_str(rest);
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn sub(text: &str) -> Result<String, Vec<EnvError>> {
        substitute(text, &env).map(|s| s.text)
    }

    #[test]
    fn replaces_variables_anywhere_in_the_string() {
        assert_eq!(sub("${TOKEN}").as_deref(), Ok("s3cret"));
        assert_eq!(sub("Bearer ${TOKEN}!").as_deref(), Ok("Bearer s3cret!"));
        assert_eq!(sub("no refs, $5 only").as_deref(), Ok("no refs, $5 only"));
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        assert_eq!(sub("${NOPE:-x:y}").as_deref(), Ok("x:y"));
        assert_eq!(sub("${EMPTY:-d}").as_deref(), Ok("d"));
        assert_eq!(sub("${EMPTY}").as_deref(), Ok(""));
        assert_eq!(sub("${NOPE:-}").as_deref(), Ok(""));
        assert_eq!(sub("${TOKEN:-d}").as_deref(), Ok("s3cret"));
    }

    #[test]
    fn reports_every_problem_naming_the_variable_only() {
        let errors = sub("${A} and ${B} and ${bad name} and ${x").unwrap_err();
        assert_eq!(
            errors,
            vec![
                EnvError::Unset("A".into()),
                EnvError::Unset("B".into()),
                EnvError::BadName("bad name".into()),
                EnvError::Unterminated,
            ]
        );
        assert_eq!(
            EnvError::Unset("TELEGRAM_BOT_TOKEN".into()).to_string(),
            "environment variable TELEGRAM_BOT_TOKEN is not set"
        );
    }

    #[test]
    fn dollar_dollar_brace_escapes() {
        assert_eq!(sub("$${TOKEN}").as_deref(), Ok("${TOKEN}"));
        assert_eq!(sub("$$ and $${").as_deref(), Ok("$$ and ${"));
    }

    #[test]
    fn records_environment_values_but_not_defaults() {
        let s = substitute("${TOKEN}${NOPE:-d}", &env).unwrap();
        assert_eq!(s.secrets, vec!["s3cret".to_owned()]);
    }
}
