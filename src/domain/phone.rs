//! Phone numbers, normalised to E.164; Russian numbers to `+7` and ten digits.
//!
//! A Russian number's ten digits start with 3, 4 or 8 (geographic and non-geographic
//! codes of the Russian numbering plan) or 9 (mobile); no code starts with 0, 1, 2, 5, 6
//! or 7 (`+7 6…` and `+7 7…` are Kazakhstan's, which the program does not serve).

use super::Reason;

/// A phone number in E.164 form, e.g. `+79123456789`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Accepts common ways of writing a number: `+7 (912) 345-67-89`, `8 912 345 67 89`,
    /// `+44 20 7946 0958`. A number without `+` is read as Russian.
    pub fn parse(input: &str) -> Result<Self, Reason> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err("is required".into());
        }
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'))
            || trimmed.rfind('+').is_some_and(|i| i > 0)
        {
            return Err("may contain only digits, spaces, `-`, `(`, `)` and a leading `+`".into());
        }
        let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
        let international = trimmed.starts_with('+');
        let normalised = match (international, digits.len(), digits.chars().next()) {
            (true, 11, Some('7')) if !is_russian_code(&digits[1..]) => {
                return Err(RUSSIAN_CODE.into());
            }
            (true, 11, Some('7')) => format!("+{digits}"),
            (true, _, Some('7')) => return Err("a Russian number is +7 and 10 digits".into()),
            (true, 8..=15, Some(first)) if first != '0' => format!("+{digits}"),
            (true, _, _) => return Err("is not an international number".into()),
            (false, 11, Some('7' | '8')) if !is_russian_code(&digits[1..]) => {
                return Err(RUSSIAN_CODE.into());
            }
            (false, 11, Some('7' | '8')) => format!("+7{}", &digits[1..]),
            (false, 10, _) if is_russian_code(&digits) => format!("+7{digits}"),
            (false, _, _) => {
                return Err("is not a Russian number; write other numbers with +".into());
            }
        };
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `+7 *** ***-**-89`: enough for a person to recognise their own number.
    pub fn masked(&self) -> String {
        let tail: String = self
            .0
            .chars()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let country = if self.0.starts_with("+7") { "+7" } else { "+" };
        format!("{country} *** ***-**-{tail}")
    }
}

const RUSSIAN_CODE: &str = "a Russian number starts with 3, 4, 8 or 9 after +7";

/// The ten national digits of a Russian number start with 3, 4, 8 or 9.
fn is_russian_code(national: &str) -> bool {
    matches!(national.as_bytes().first(), Some(b'3' | b'4' | b'8' | b'9'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_numbers_are_normalised_to_plus_seven() {
        for input in [
            "+7 (912) 345-67-89",
            "8 912 345 67 89",
            "89123456789",
            "9123456789",
            "7-912-345-67-89",
        ] {
            assert_eq!(
                Phone::parse(input).unwrap().as_str(),
                "+79123456789",
                "{input}"
            );
        }
    }

    #[test]
    fn international_numbers_keep_their_country_code() {
        assert_eq!(
            Phone::parse("+44 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
    }

    #[test]
    fn malformed_numbers_are_refused() {
        for bad in [
            "",
            "+7 912 345",
            "12345",
            "+7912345678901",
            "phone",
            "9+123",
            "+0123456789",
            "+7 000 000-00-00",
            "+7 100 123-45-67",
            "8 (512) 345-67-89",
            "+7 700 123-45-67",
            "5123456789",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masking_keeps_only_the_last_two_digits() {
        assert_eq!(
            Phone::parse("+79123456789").unwrap().masked(),
            "+7 *** ***-**-89"
        );
    }
}
