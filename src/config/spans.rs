//! Where each node of a YAML file sits: a map from a node's path (`plugins[2].rules[0].match`)
//! to the positions of its key and its value.
//!
//! serde_yaml only locates its own syntax errors, and its `Value` forgets
//! positions, so every file is read a second time with yaml-rust2's marked
//! event parser to build this index. Errors found later (by serde, by a
//! plugin's `build`) carry a path, and the index turns it into `line:col`.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column in a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Pos {
    /// 1-based line.
    pub(super) line: usize,
    /// 1-based column, in characters.
    pub(super) col: usize,
}

impl Pos {
    /// The start of a file: where errors about a whole file point.
    pub(super) const START: Pos = Pos { line: 1, col: 1 };
}

/// One step of a path: a mapping key or a sequence index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Seg {
    /// A mapping key, as its scalar text.
    Key(String),
    /// A sequence index, from 0.
    Index(usize),
}

/// A path from a file's root to a node; empty for the root.
pub(super) type NodePath = Vec<Seg>;

/// A path written for people: `rules[2].match.regex` (empty for the root).
pub(super) struct DisplayPath<'a>(pub(super) &'a [Seg]);

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Parse a path written `rules[2].match.regex` (or `[0].id`, or empty for
/// the node itself). Keys cannot contain `.` or `[` in this notation; such
/// nodes are located at their nearest addressable ancestor.
pub(super) fn parse_path(text: &str) -> NodePath {
    let mut path = Vec::new();
    for part in text.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            path.push(Seg::Key(key.to_owned()));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else {
                path.push(Seg::Key(rest.to_owned()));
                break;
            };
            match stripped[..end].trim().parse() {
                Ok(n) => path.push(Seg::Index(n)),
                Err(_) => path.push(Seg::Key(stripped[..end].to_owned())),
            }
            rest = &stripped[end + 1..];
        }
    }
    path
}

/// Where one node sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    /// Its key, when the node is a mapping value.
    key: Option<Pos>,
    /// The node itself (for a block mapping: its first key).
    value: Pos,
    /// Whether the node is a mapping or sequence; errors about a whole
    /// container point at its key, which reads better than its first child.
    container: bool,
}

/// The positions of every node of a file's first document.
#[derive(Clone, Debug, Default)]
pub(super) struct SpanIndex {
    /// Path → span. Nodes reached only through aliases or merge keys are not
    /// in it; they are located at their nearest ancestor that is.
    spans: HashMap<NodePath, Span>,
}

impl SpanIndex {
    /// Index `text`. A syntax error ends indexing where it occurs; serde_yaml
    /// reports the error itself, so it is not repeated here.
    pub(super) fn build(text: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        // Errors are serde_yaml's to report; keep what was indexed so far.
        let _ = parser.load(&mut builder, false);
        Self { spans: builder.spans }
    }

    /// Where an error about the node at `path` should point: a scalar's
    /// value, a container's key (or its start when it has none). A path that
    /// does not exist falls back to its nearest existing ancestor.
    pub(super) fn locate(&self, path: &[Seg]) -> Pos {
        match self.nearest(path) {
            Some(s) if s.container => s.key.unwrap_or(s.value),
            Some(s) => s.value,
            None => Pos::START,
        }
    }

    /// Where an error about the key of the node at `path` should point (an
    /// unknown key); falls back like [`SpanIndex::locate`].
    pub(super) fn locate_key(&self, path: &[Seg]) -> Pos {
        match self.spans.get(path) {
            Some(s) => s.key.unwrap_or(s.value),
            None => self.locate(path),
        }
    }

    /// Whether the node at `path` exists.
    pub(super) fn contains(&self, path: &[Seg]) -> bool {
        self.spans.contains_key(path)
    }

    fn nearest(&self, path: &[Seg]) -> Option<&Span> {
        (0..=path.len()).rev().find_map(|n| self.spans.get(&path[..n]))
    }
}

/// An open mapping or sequence while indexing.
#[derive(Debug)]
enum Frame {
    /// A mapping; `key` is the key whose value comes next, if one was read.
    Map {
        path: NodePath,
        key: Option<(String, Pos)>,
    },
    /// A sequence; `next` is the index of the next item.
    Seq { path: NodePath, next: usize },
}

#[derive(Debug, Default)]
struct Builder {
    spans: HashMap<NodePath, Span>,
    stack: Vec<Frame>,
    /// Depth inside a non-scalar mapping key (`? [a, b]: …`), skipped.
    skip: usize,
    /// The first document is over; later ones are ignored.
    done: bool,
}

fn pos(mark: Marker) -> Pos {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Pos {
        line: mark.line(),
        col: mark.col() + 1,
    }
}

impl Builder {
    /// A node starts: a scalar, alias, or the start of a container.
    /// Returns its path if it is a value (not a key).
    fn node(&mut self, at: Pos, key_text: Option<&str>, container: bool) -> Option<NodePath> {
        let (path, key) = match self.stack.last_mut() {
            None => (Vec::new(), None),
            Some(Frame::Seq { path, next }) => {
                let mut p = path.clone();
                p.push(Seg::Index(*next));
                *next += 1;
                (p, None)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some((k, kpos)) => {
                    let mut p = path.clone();
                    p.push(Seg::Key(k));
                    (p, Some(kpos))
                }
                None => {
                    // This node is a key. yaml-rust2 marks a block mapping's
                    // start after its first key; point at that key instead.
                    if let Some(span) = self.spans.get_mut(path.as_slice())
                        && span.container
                        && at < span.value
                    {
                        span.value = at;
                    }
                    match key_text {
                        Some(text) => *key = Some((text.to_owned(), at)),
                        None if container => {
                            self.skip = 1;
                            *key = Some((String::new(), at));
                        }
                        None => *key = Some((String::new(), at)),
                    }
                    return None;
                }
            },
        };
        self.spans.insert(
            path.clone(),
            Span {
                key,
                value: at,
                container,
            },
        );
        Some(path)
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.done {
            return;
        }
        if self.skip > 0 {
            match ev {
                Event::MappingStart(..) | Event::SequenceStart(..) => self.skip += 1,
                Event::MappingEnd | Event::SequenceEnd => self.skip -= 1,
                _ => {}
            }
            return;
        }
        let at = pos(mark);
        match ev {
            Event::Scalar(text, ..) => {
                self.node(at, Some(&text), false);
            }
            Event::Alias(_) => {
                self.node(at, Some(""), false);
            }
            Event::MappingStart(..) => {
                if let Some(path) = self.node(at, None, true) {
                    self.stack.push(Frame::Map { path, key: None });
                }
            }
            Event::SequenceStart(..) => {
                if let Some(path) = self.node(at, None, true) {
                    self.stack.push(Frame::Seq { path, next: 0 });
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::DocumentEnd => self.done = true,
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(line: usize, col: usize) -> Pos {
        Pos { line, col }
    }

    const TEXT: &str = "\
name: shop
plugins:
  - use: autoreply
    rules:
      - match: {regex: \"a+\"}
        reply: hi
  - use: welcome
";

    #[test]
    fn locates_scalars_at_their_value_and_keys_at_the_key() {
        let idx = SpanIndex::build(TEXT);
        assert_eq!(idx.locate(&parse_path("name")), p(1, 7));
        assert_eq!(idx.locate_key(&parse_path("name")), p(1, 1));
        assert_eq!(idx.locate(&parse_path("plugins[0].use")), p(3, 10));
        assert_eq!(
            idx.locate(&parse_path("plugins[0].rules[0].match.regex")),
            p(5, 24)
        );
        assert_eq!(idx.locate_key(&parse_path("plugins[0].rules[0].reply")), p(6, 9));
        assert_eq!(idx.locate(&parse_path("plugins[1].use")), p(7, 10));
    }

    #[test]
    fn containers_point_at_their_key() {
        let idx = SpanIndex::build(TEXT);
        assert_eq!(idx.locate(&parse_path("plugins")), p(2, 1));
        assert_eq!(idx.locate(&parse_path("plugins[0].rules[0].match")), p(5, 9));
        // Sequence items have no key: their first key.
        assert_eq!(idx.locate(&parse_path("plugins[1]")), p(7, 5));
    }

    #[test]
    fn missing_paths_fall_back_to_the_nearest_ancestor() {
        let idx = SpanIndex::build(TEXT);
        assert_eq!(
            idx.locate(&parse_path("plugins[0].rules[0].match.exact")),
            p(5, 9)
        );
        assert_eq!(idx.locate(&parse_path("plugins[7].x")), p(2, 1));
        assert_eq!(idx.locate(&parse_path("nothing")), p(1, 1));
    }

    #[test]
    fn complex_keys_and_later_documents_are_skipped() {
        let idx = SpanIndex::build("? [a, b]\n: 1\nc: 2\n---\nc: 3\n");
        assert_eq!(idx.locate(&parse_path("c")), p(3, 4));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let idx = SpanIndex::build("x: {a: 你好, bb: 1}\n");
        assert_eq!(idx.locate_key(&parse_path("x.bb")), p(1, 12));
        let e = serde_yaml::from_str::<serde_yaml::Value>("x: {a: 你好, bb: [}\n").unwrap_err();
        let at = e.location().unwrap();
        assert_eq!(
            (at.line(), at.column()),
            (1, 17),
            "serde_yaml counts characters too: {e}"
        );
    }

    #[test]
    fn paths_parse_and_print() {
        let path = parse_path("rules[2].match.regex");
        assert_eq!(
            path,
            vec![
                Seg::Key("rules".into()),
                Seg::Index(2),
                Seg::Key("match".into()),
                Seg::Key("regex".into())
            ]
        );
        assert_eq!(DisplayPath(&path).to_string(), "rules[2].match.regex");
        assert_eq!(
            parse_path("[0][1].a"),
            vec![Seg::Index(0), Seg::Index(1), Seg::Key("a".into())]
        );
        assert!(parse_path("").is_empty());
    }
}
