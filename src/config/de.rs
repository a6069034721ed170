//! A serde `Deserializer` over a borrowed `serde_yaml::Value`.
//!
//! serde_yaml's own `Value` deserializer reads enums only from YAML tags
//! (`!regex "a+"`), while its text deserializer also reads the map form
//! (`{regex: "a+"}`) that bot files use (`match: {keywords: [...]}`). Config
//! values are deserialized after `${VAR}` substitution, so from a `Value`;
//! this deserializer accepts both forms, so plugin options read the same way
//! from a file as from a snippet.

use serde::de::{
    self, DeserializeSeed, EnumAccess, Error as _, MapAccess, SeqAccess, Unexpected, VariantAccess, Visitor,
};
use serde_yaml::{Error, Mapping, Value};

/// Deserializes from the value it borrows.
#[derive(Clone, Copy)]
pub(super) struct ValueDe<'a>(pub(super) &'a Value);

impl<'de> de::Deserializer<'de> for ValueDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Sequence(items) => visitor.visit_seq(Seq(items.iter())),
            Value::Mapping(map) => visitor.visit_map(Map {
                iter: map.iter(),
                value: None,
            }),
            // A tagged value reads as the one-key map `{tag: value}`.
            Value::Tagged(t) => visitor.visit_map(TaggedMap {
                tag: Some(t.tag.to_string().trim_start_matches('!').to_owned()),
                value: &t.value,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(Enum {
                variant: Variant::Str(s),
                value: None,
            }),
            Value::Mapping(map) if map.len() == 1 => {
                let (k, v) = map.iter().next().ok_or_else(|| Error::custom("empty mapping"))?;
                visitor.visit_enum(Enum {
                    variant: Variant::Value(k),
                    value: Some(v),
                })
            }
            Value::Tagged(t) => visitor.visit_enum(Enum {
                variant: Variant::Owned(t.tag.to_string().trim_start_matches('!').to_owned()),
                value: Some(&t.value),
            }),
            other => Err(Error::custom(format!(
                "invalid type: {}, expected one of {} (or a mapping with one of them as its only key)",
                describe(other),
                one_of(variants)
            ))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a sequence",
        Value::Mapping(m) if m.is_empty() => "an empty mapping",
        Value::Mapping(_) => "a mapping with several keys",
        Value::Tagged(_) => "a tagged value",
    }
}

fn one_of(variants: &[&str]) -> String {
    let quoted: Vec<String> = variants.iter().map(|v| format!("`{v}`")).collect();
    quoted.join(", ")
}

struct Seq<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|v| seed.deserialize(ValueDe(v))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Map<'a> {
    iter: <&'a Mapping as IntoIterator>::IntoIter,
    value: Option<&'a Value>,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(ValueDe(k)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let v = self
            .value
            .take()
            .ok_or_else(|| Error::custom("value without a key"))?;
        seed.deserialize(ValueDe(v))
    }
}

struct TaggedMap<'a> {
    tag: Option<String>,
    value: &'a Value,
}

impl<'de> MapAccess<'de> for TaggedMap<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.tag.take() {
            Some(tag) => seed
                .deserialize(de::value::StringDeserializer::<Error>::new(tag))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(ValueDe(self.value))
    }
}

enum Variant<'a> {
    Str(&'a str),
    Value(&'a Value),
    Owned(String),
}

struct Enum<'a> {
    variant: Variant<'a>,
    value: Option<&'a Value>,
}

impl<'de> EnumAccess<'de> for Enum<'de> {
    type Error = Error;
    type Variant = VariantDe<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, VariantDe<'de>), Error> {
        let variant = match self.variant {
            Variant::Str(s) => seed.deserialize(de::value::BorrowedStrDeserializer::<Error>::new(s))?,
            Variant::Value(v) => seed.deserialize(ValueDe(v))?,
            Variant::Owned(s) => seed.deserialize(de::value::StringDeserializer::<Error>::new(s))?,
        };
        Ok((variant, VariantDe(self.value)))
    }
}

/// The content of an enum variant: `None` for the bare-string form.
struct VariantDe<'a>(Option<&'a Value>);

impl<'de> VariantAccess<'de> for VariantDe<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.0 {
            None | Some(Value::Null) => Ok(()),
            Some(v) => de::Deserialize::deserialize(ValueDe(v)),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.0 {
            Some(v) => seed.deserialize(ValueDe(v)),
            None => Err(Error::invalid_type(
                Unexpected::UnitVariant,
                &"a variant with a value",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Some(v) => de::Deserializer::deserialize_seq(ValueDe(v), visitor),
            None => Err(Error::invalid_type(
                Unexpected::UnitVariant,
                &"a variant with a sequence",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Some(v) => de::Deserializer::deserialize_map(ValueDe(v), visitor),
            None => Err(Error::invalid_type(
                Unexpected::UnitVariant,
                &"a variant with a mapping",
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Match {
        Keywords(Vec<String>),
        Regex(String),
        Any,
        Range { from: u32, to: u32 },
    }

    fn read<T: for<'a> Deserialize<'a>>(text: &str) -> Result<T, Error> {
        let v: Value = serde_yaml::from_str(text)?;
        T::deserialize(ValueDe(&v))
    }

    #[test]
    fn enums_read_from_maps_tags_and_strings() {
        assert_eq!(read::<Match>("{regex: a+}").unwrap(), Match::Regex("a+".into()));
        assert_eq!(
            read::<Match>("keywords: [a, b]").unwrap(),
            Match::Keywords(vec!["a".into(), "b".into()])
        );
        assert_eq!(read::<Match>("!regex a+").unwrap(), Match::Regex("a+".into()));
        assert_eq!(read::<Match>("any").unwrap(), Match::Any);
        assert_eq!(
            read::<Match>("range: {from: 1, to: 2}").unwrap(),
            Match::Range { from: 1, to: 2 }
        );
        let e = read::<Match>("{regex: a, any: ~}").unwrap_err().to_string();
        assert!(e.contains("a mapping with several keys"), "{e}");
        assert!(e.contains("`keywords`"), "{e}");
    }

    #[test]
    fn scalars_options_and_collections() {
        assert_eq!(read::<Option<u32>>("~").unwrap(), None);
        assert_eq!(read::<Option<i64>>("-5").unwrap(), Some(-5));
        assert_eq!(read::<f64>("3").unwrap(), 3.0);
        assert_eq!(read::<Vec<bool>>("[true, false]").unwrap(), vec![true, false]);
        let map: std::collections::BTreeMap<String, u8> = read("{a: 1, b: 2}").unwrap();
        assert_eq!(map.len(), 2);
        let e = read::<u32>("soon").unwrap_err().to_string();
        assert_eq!(e, "invalid type: string \"soon\", expected u32");
    }
}
