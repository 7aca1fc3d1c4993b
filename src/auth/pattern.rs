//! Which channels a token names: exact names and prefixes.
//!
//! A pattern is a channel name (`room.1`: that channel only), a name
//! stem ending in `*` (`room.*`: every channel whose name starts with
//! `room.`), or `*` alone (every channel). `*` cannot be part of a
//! channel name (`[A-Za-z0-9._~-]`), so a pattern is never ambiguous, and
//! a `*` anywhere but at the end is refused rather than guessed at.
//!
//! ```text
//! pattern    matches                      does not match
//! room.1     room.1                       room.10, room
//! room.*     room.1, room.10, room.       room, rooms.1
//! *          every channel
//! ```

use std::fmt;

use crate::broker::MAX_CHANNEL_NAME;

/// One pattern: a channel name, or a prefix of names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// The name, or the prefix without its `*`.
    stem: Box<str>,
    /// A trailing `*`: every name that starts with `stem`.
    prefix: bool,
}

/// Why a pattern was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatternError;

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a channel pattern is a name of [A-Za-z0-9._~-], or a stem of them ending in *")
    }
}

impl std::error::Error for PatternError {}

impl Pattern {
    /// Reads a pattern: `room.1`, `room.*` or `*`.
    ///
    /// ```
    /// use pushwire::auth::Pattern;
    ///
    /// let rooms = Pattern::parse("room.*").unwrap();
    /// assert!(rooms.matches("room.7"));
    /// assert!(!rooms.matches("lobby"));
    /// assert!(Pattern::parse("ro*m").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let (stem, prefix) = match text.strip_suffix('*') {
            Some(stem) => (stem, true),
            None => (text, false),
        };
        let name_bytes = stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'));
        // A stem may be empty (`*`); an exact name may not.
        if !name_bytes || stem.len() > MAX_CHANNEL_NAME || (!prefix && stem.is_empty()) {
            return Err(PatternError);
        }
        Ok(Pattern {
            stem: stem.into(),
            prefix,
        })
    }

    /// Whether the channel `name` is one this pattern names.
    pub fn matches(&self, name: &str) -> bool {
        match self.prefix {
            true => name.starts_with(&*self.stem),
            false => name == &*self.stem,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stem)?;
        if self.prefix {
            f.write_str("*")?;
        }
        Ok(())
    }
}

/// A set of patterns: a channel is in it when any pattern matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Patterns(Vec<Pattern>);

impl Patterns {
    /// No channel at all.
    pub fn none() -> Patterns {
        Patterns(Vec::new())
    }

    /// Reads a comma-separated list (`room.*,news`); spaces around the
    /// commas are allowed, empty items are skipped.
    ///
    /// ```
    /// use pushwire::auth::Patterns;
    ///
    /// let public = Patterns::parse_list("demo, news.*").unwrap();
    /// assert!(public.allows("news.today"));
    /// assert!(!public.allows("private"));
    /// ```
    pub fn parse_list(list: &str) -> Result<Patterns, PatternError> {
        let patterns = list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(Pattern::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Patterns(patterns))
    }

    /// Whether some pattern names the channel `name`.
    pub fn allows(&self, name: &str) -> bool {
        self.0.iter().any(|p| p.matches(name))
    }

    /// Adds a pattern.
    pub fn push(&mut self, pattern: Pattern) {
        self.0.push(pattern);
    }

    /// The patterns, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Pattern> {
        self.0.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Pattern> for Patterns {
    fn from_iter<I: IntoIterator<Item = Pattern>>(iter: I) -> Patterns {
        Patterns(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_prefix_and_everything() {
        let table: &[(&str, &str, bool)] = &[
            ("room.1", "room.1", true),
            ("room.1", "room.10", false),
            ("room.1", "room", false),
            ("room.*", "room.1", true),
            ("room.*", "room.", true),
            ("room.*", "room", false),
            ("room.*", "rooms.1", false),
            ("*", "anything", true),
            ("~-_.*", "~-_.x", true),
        ];
        for (pattern, name, expected) in table {
            let p = Pattern::parse(pattern).unwrap();
            assert_eq!(p.matches(name), *expected, "{pattern} {name}");
            assert_eq!(p.to_string(), *pattern);
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        let long = "a".repeat(MAX_CHANNEL_NAME + 1);
        for bad in ["", "**", "a*b", "*a", "a/b", "a b", "é", long.as_str()] {
            assert_eq!(Pattern::parse(bad), Err(PatternError), "{bad:?}");
        }
        assert!(Patterns::parse_list("a, b*,").unwrap().allows("bz"));
        assert!(Patterns::parse_list("a,b c").is_err());
        assert!(!Patterns::parse_list("").unwrap().allows("a"));
    }
}
