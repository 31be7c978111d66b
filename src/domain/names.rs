//! Personal names and other short human texts.

use super::Reason;

/// A surname, given name or patronymic: letters (Cyrillic or Latin), spaces and hyphens;
/// each word wholly Cyrillic or wholly Latin, so that no look-alike letter of the other
/// alphabet (a Latin `o` in `Иванов`) can make two names that read the same differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(input: &str) -> Result<Self, Reason> {
        let value = collapse_spaces(input);
        if value.is_empty() {
            return Err("is required".into());
        }
        if value.chars().count() > 100 {
            return Err("is longer than 100 characters".into());
        }
        if !value
            .chars()
            .all(|c| is_name_letter(c) || c == ' ' || c == '-')
        {
            return Err("may contain only letters (Cyrillic or Latin), spaces and hyphens".into());
        }
        if !value.chars().next().is_some_and(is_name_letter)
            || !value.chars().last().is_some_and(is_name_letter)
        {
            return Err("must start and end with a letter".into());
        }
        let mixed = value.split([' ', '-']).any(|word| {
            word.chars().any(|c| c.is_ascii_alphabetic())
                && word.chars().any(|c| !c.is_ascii_alphabetic())
        });
        if mixed {
            return Err(
                "each word must be written wholly in Cyrillic or wholly in Latin letters".into(),
            );
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first letter and a dot, as rosters show surnames.
    pub fn initial(&self) -> String {
        self.0
            .chars()
            .next()
            .map(|c| format!("{c}."))
            .unwrap_or_default()
    }
}

fn is_name_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, 'А'..='я' | 'Ё' | 'ё')
}

/// A free text such as a school or city name: printable, trimmed, bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortText(String);

impl ShortText {
    pub fn parse(input: &str, max_chars: usize) -> Result<Self, Reason> {
        let value = collapse_spaces(input);
        if value.is_empty() {
            return Err("is required".into());
        }
        if value.chars().count() > max_chars {
            return Err(format!("is longer than {max_chars} characters"));
        }
        if value.chars().any(is_forbidden_in_text) {
            return Err("contains control, invisible or text-direction characters".into());
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Control characters other than tab and line breaks, the bidirectional embeddings,
/// overrides, isolates and marks (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C),
/// and the other invisible format characters (zero-width space, word joiner, BOM, soft
/// hyphen, tags, fillers, …). The zero-width joiner stays: emoji sequences need it.
pub fn is_forbidden_in_text(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180e}'
        | '\u{200b}' | '\u{200c}' | '\u{200e}' | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{3164}' | '\u{feff}' | '\u{ffa0}' | '\u{fff9}'..='\u{fffb}'
        | '\u{1d173}'..='\u{1d17a}' | '\u{e0000}'..='\u{e0fff}'
        | '\u{600}'..='\u{605}' | '\u{6dd}' | '\u{70f}' | '\u{8e2}' | '\u{110bd}' | '\u{110cd}'
    )
}

fn collapse_spaces(input: &str) -> String {
    input.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyrillic_latin_and_hyphenated_names_are_accepted() {
        for ok in [
            "Иванова",
            "Салтыков-Щедрин",
            "Анна Мария",
            "O'Neil".replace('\'', "").as_str(),
            "Ёлкин",
        ] {
            assert!(PersonName::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            PersonName::parse("  Пётр   Ильич ").unwrap().as_str(),
            "Пётр Ильич"
        );
    }

    #[test]
    fn digits_symbols_and_empty_names_are_refused() {
        for bad in ["", "Иван1", "<script>", "-Иван", "Иван-", "Jo_hn", "Иван."] {
            assert!(PersonName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_word_mixing_cyrillic_and_latin_letters_is_refused() {
        for bad in ["Smirn\u{43e}v", "Иван\u{6f}в", "\u{410}nna"] {
            assert!(PersonName::parse(bad).is_err(), "{bad}");
        }
        for ok in ["Smirnov-Иванов", "Анна Maria", "Maria"] {
            assert!(PersonName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn the_initial_is_the_first_letter() {
        assert_eq!(PersonName::parse("Соколова").unwrap().initial(), "С.");
    }
}
