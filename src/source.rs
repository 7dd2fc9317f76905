//! Positions in user-written files, so every load error can say file, line and column.

use std::fmt;

/// A place in a text file, 1-based.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// 1-based line and column of a byte offset (clamped to the text).
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

/// The location of a TOML table header such as `[services.checkout]`, or of the first line
/// that mentions `needle`: used to point at a value that parsed but does not make sense.
pub fn find_line(file: &str, text: &str, needle: &str) -> Location {
    let offset = text.find(needle).unwrap_or(0);
    let (line, column) = line_col(text, offset);
    Location {
        file: file.to_string(),
        line,
        column,
    }
}

/// Location of a TOML parse error.
pub fn toml_location(file: &str, text: &str, err: &toml::de::Error) -> Location {
    let (line, column) = err
        .span()
        .map(|s| line_col(text, s.start))
        .unwrap_or((1, 1));
    Location {
        file: file.to_string(),
        line,
        column,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 7), (2, 4));
        assert_eq!(line_col(text, 999), (3, 2));
    }
}
