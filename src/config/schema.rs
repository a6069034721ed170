//! JSON Schemas (draft 2020-12) of bot files and config.yaml, for editors:
//! descriptions come from doc comments, and every struct that denies unknown
//! keys keeps `additionalProperties: false` so typos are flagged as typed.
//!
//! Plugin entries and adapter connections are a `oneOf` with one branch per
//! registered kind: the kind's options schema with the tag key (`use` or
//! `kind`) added as a required `const`. The branch is the kind's own object
//! schema with the tag merged in, not an `allOf` around a `$ref`, because a
//! referenced `additionalProperties: false` would reject the tag key.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::limits::LimitsConfig;
use super::raw::{RawBot, RawConfig};
use crate::registry::Registry;

/// The JSON Schema of a bot file: its top-level keys, and `plugins` items as
/// one `oneOf` branch per registered plugin kind.
pub fn bot_schema(registry: &Registry) -> Value {
    let mut generator = generator();
    let mut root = RawBot::json_schema(&mut generator).to_value();
    let branches: Vec<Value> = registry
        .plugins
        .iter()
        .map(|p| {
            let options = p.schema(&mut generator);
            tagged(options, "use", p.kind(), p.about(), None, &generator)
        })
        .collect();
    if let Some(plugins) = root.pointer_mut("/properties/plugins") {
        let description = plugins.get("description").cloned().unwrap_or(Value::Null);
        *plugins = json!({
            "type": "array",
            "description": description,
            "items": {"oneOf": branches},
        });
    }
    finish(root, "qunbot bot file", generator)
}

/// The JSON Schema of config.yaml; `adapters` values are one `oneOf` branch
/// per registered adapter kind, each with an optional `limits`.
pub fn config_schema(registry: &Registry) -> Value {
    let mut generator = generator();
    let mut root = RawConfig::json_schema(&mut generator).to_value();
    let limits = generator.subschema_for::<LimitsConfig>().to_value();
    let branches: Vec<Value> = registry
        .adapters
        .iter()
        .map(|a| {
            let options = a.schema(&mut generator);
            tagged(options, "kind", a.kind(), a.about(), Some(&limits), &generator)
        })
        .collect();
    if let Some(adapters) = root.pointer_mut("/properties/adapters") {
        let description = adapters.get("description").cloned().unwrap_or(Value::Null);
        *adapters = json!({
            "type": "object",
            "description": description,
            "additionalProperties": {"oneOf": branches},
        });
    }
    finish(root, "qunbot config.yaml", generator)
}

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12().into_generator()
}

/// The schema of one kind's entry: its options with `tag: kind` required
/// (and `limits` allowed, for adapters).
fn tagged(
    options: Schema,
    tag: &str,
    kind: &str,
    about: &str,
    limits: Option<&Value>,
    generator: &SchemaGenerator,
) -> Value {
    let mut schema = resolve(options.to_value(), generator);
    add_tag(&mut schema, tag, kind, about, limits, generator);
    if let Value::Object(o) = &mut schema {
        o.insert("title".into(), json!(kind));
    }
    schema
}

/// The definition a `$ref` points at (a copy), or the schema itself.
fn resolve(schema: Value, generator: &SchemaGenerator) -> Value {
    let name = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .map(str::to_owned);
    match name.and_then(|n| generator.definitions().get(&n).cloned()) {
        Some(def) => def,
        None => schema,
    }
}

fn add_tag(
    schema: &mut Value,
    tag: &str,
    kind: &str,
    about: &str,
    limits: Option<&Value>,
    generator: &SchemaGenerator,
) {
    let Value::Object(o) = schema else {
        // `true` (anything goes): an object with just the tag.
        *schema = json!({"type": "object"});
        return add_tag(schema, tag, kind, about, limits, generator);
    };
    // Enum-like options (one of several shapes): tag every branch.
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = o.get_mut(key) {
            for branch in branches.iter_mut() {
                *branch = resolve(std::mem::take(branch), generator);
                add_tag(branch, tag, kind, about, limits, generator);
            }
            return;
        }
    }
    o.insert("type".into(), json!("object"));
    let properties = o.entry("properties").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(p) = properties {
        p.insert(tag.into(), json!({"const": kind, "description": about}));
        if let Some(limits) = limits {
            p.insert("limits".into(), limits.clone());
        }
    }
    let required = o.entry("required").or_insert_with(|| json!([]));
    if let Value::Array(r) = required {
        r.insert(0, json!(tag));
    }
}

fn finish(mut root: Value, title: &str, mut generator: SchemaGenerator) -> Value {
    if let Value::Object(o) = &mut root {
        let mut head = Map::new();
        head.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        head.insert("title".into(), json!(title));
        head.append(o);
        let definitions = generator.take_definitions(true);
        if !definitions.is_empty() {
            head.insert("$defs".into(), Value::Object(definitions));
        }
        *o = head;
    }
    root
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bot_schema_has_a_branch_per_plugin_kind() {
        let registry = Registry::builtin();
        let schema = bot_schema(&registry);
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(schema["additionalProperties"], false);
        let branches = schema["properties"]["plugins"]["items"]["oneOf"]
            .as_array()
            .unwrap();
        assert_eq!(branches.len(), registry.plugins.len());
        for (branch, p) in branches.iter().zip(&registry.plugins) {
            assert_eq!(branch["properties"]["use"]["const"], p.kind());
            assert_eq!(branch["required"][0], "use");
            assert_eq!(branch["additionalProperties"], false, "{branch}");
        }
        // Descriptions come from doc comments.
        let name = &schema["properties"]["name"]["description"];
        assert!(name.as_str().unwrap().starts_with("Unique name"), "{name}");
    }

    #[test]
    fn config_schema_has_a_branch_per_adapter_kind_with_limits() {
        let registry = Registry::builtin();
        let schema = config_schema(&registry);
        assert_eq!(schema["additionalProperties"], false);
        let branches = schema["properties"]["adapters"]["additionalProperties"]["oneOf"]
            .as_array()
            .unwrap();
        assert_eq!(branches.len(), registry.adapters.len());
        let console = &branches[0];
        assert_eq!(console["properties"]["kind"]["const"], "console");
        assert_eq!(console["additionalProperties"], false);
        assert_eq!(console["properties"]["limits"]["$ref"], "#/$defs/LimitsConfig");
        assert_eq!(schema["$defs"]["LimitsConfig"]["additionalProperties"], false);
    }
}
