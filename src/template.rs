//! Message templates: `{{user.name}}`, `{{group}}`, `{{pools.ID.remaining}}`,
//! rendered by minijinja (Jinja syntax), compiled once when a bot loads.

use std::sync::Arc;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// A compiled template.
#[derive(Clone)]
pub struct Template {
    /// An environment holding just this template, shared by clones.
    env: Arc<Environment<'static>>,
    /// The source, for debugging and for templates without markup.
    source: Arc<str>,
}

const NAME: &str = "t";

impl Template {
    /// Compile `source`; the error names the problem and its line.
    pub fn compile(source: &str) -> Result<Self, String> {
        let mut env = Environment::new();
        // A typo in a variable name should fail loudly at render time, not
        // post an empty string to thousands of members.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|e| format!("invalid template: {e}"))?;
        Ok(Self {
            env: Arc::new(env),
            source: Arc::from(source),
        })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Render with `vars`.
    pub fn render(&self, vars: impl Serialize) -> Result<String, String> {
        let t = self.env.get_template(NAME).map_err(|e| e.to_string())?;
        t.render(vars)
            .map_err(|e| format!("template {:?}: {e}", self.source))
    }
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Template").field(&self.source).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_nested_variables() {
        let t = Template::compile("欢迎 {{user.name}} 加入 {{group}}！").unwrap();
        let s = t.render(json!({"user": {"name": "Bob"}, "group": "g1"})).unwrap();
        assert_eq!(s, "欢迎 Bob 加入 g1！");
    }

    #[test]
    fn unknown_variable_is_an_error_not_an_empty_string() {
        let t = Template::compile("hi {{user.nmae}}").unwrap();
        assert!(t.render(json!({"user": {"name": "Bob"}})).is_err());
    }

    #[test]
    fn syntax_errors_are_caught_at_compile() {
        assert!(Template::compile("hi {{user.name").is_err());
    }
}
