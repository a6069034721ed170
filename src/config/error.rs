//! [`ConfigError`]: one located problem in a config file.

use std::fmt;
use std::path::PathBuf;

/// One problem in a config file, located. It prints as
/// `file:line:col: message`, the shape editors and CI annotate.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigError {
    /// The file, as given on the command line or found in the bots folder.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// What is wrong, naming the key or variable (never a variable's value).
    pub message: String,
}

impl ConfigError {
    /// An error about a whole file (it cannot be read, it is not YAML…),
    /// located at its start.
    pub fn at_file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: 1,
            col: 1,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// Sort errors by file, then position, and drop exact repeats.
pub(super) fn sort(errors: &mut Vec<ConfigError>) {
    errors.sort();
    errors.dedup();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn prints_file_line_col_message() {
        let e = ConfigError {
            file: "bots/shop.yaml".into(),
            line: 7,
            col: 5,
            message: "unknown key `treshold`".into(),
        };
        assert_eq!(e.to_string(), "bots/shop.yaml:7:5: unknown key `treshold`");
    }

    #[test]
    fn sorts_by_file_then_position() {
        let e = |f: &str, line, col| ConfigError {
            file: f.into(),
            line,
            col,
            message: String::new(),
        };
        let mut v = vec![
            e("b", 1, 1),
            e("a", 10, 1),
            e("a", 2, 5),
            e("a", 2, 5),
            e("a", 2, 1),
        ];
        sort(&mut v);
        assert_eq!(v, vec![e("a", 2, 1), e("a", 2, 5), e("a", 10, 1), e("b", 1, 1)]);
    }
}
