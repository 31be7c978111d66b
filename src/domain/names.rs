//! Personal names and other short human texts.

use super::Reason;

/// A surname, given name or patronymic: letters (Cyrillic or Latin), spaces and hyphens.
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
        if value.chars().any(char::is_control) {
            return Err("contains control characters".into());
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
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
    fn the_initial_is_the_first_letter() {
        assert_eq!(PersonName::parse("Соколова").unwrap().initial(), "С.");
    }
}
