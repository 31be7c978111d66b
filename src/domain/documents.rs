//! Identity documents: the Russian internal passport (from 14) and the birth certificate
//! (under 14).

use super::Reason;

/// Which document a student's identity rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    BirthCertificate,
    Passport,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::BirthCertificate => "birth_certificate",
            DocumentKind::Passport => "passport",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "birth_certificate" => Some(Self::BirthCertificate),
            "passport" => Some(Self::Passport),
            _ => None,
        }
    }
}

/// A passport: series of 4 digits and number of 6, held as `1234 567890`.
#[derive(Clone, PartialEq, Eq)]
pub struct Passport(String);

impl Passport {
    pub fn parse(input: &str) -> Result<Self, Reason> {
        let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.is_empty() {
            return Err("is required".into());
        }
        if digits.len() != 10 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err("must be a series of 4 digits and a number of 6 digits".into());
        }
        Ok(Self(format!("{} {}", &digits[..4], &digits[4..])))
    }

    /// From separate series and number fields.
    pub fn from_parts(series: &str, number: &str) -> Result<Self, Reason> {
        let series = series.trim();
        let number = number.trim();
        if series.len() != 4 || !series.chars().all(|c| c.is_ascii_digit()) {
            return Err("series must be 4 digits".into());
        }
        if number.len() != 6 || !number.chars().all(|c| c.is_ascii_digit()) {
            return Err("number must be 6 digits".into());
        }
        Ok(Self(format!("{series} {number}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `**** ***890`.
    pub fn masked(&self) -> String {
        format!("**** ***{}", &self.0[8..])
    }
}

impl std::fmt::Debug for Passport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Passport({})", self.masked())
    }
}

/// A birth certificate: a series of Roman numerals and two Cyrillic capitals, and a number
/// of 6 digits, held as `IV-МЮ 123456`.
#[derive(Clone, PartialEq, Eq)]
pub struct BirthCertificate(String);

impl BirthCertificate {
    pub fn parse(input: &str) -> Result<Self, Reason> {
        let compact: String = input
            .trim()
            .to_uppercase()
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if compact.is_empty() {
            return Err("is required".into());
        }
        let invalid = || {
            "must look like IV-МЮ 123456: Roman numerals, two Cyrillic capitals, 6 digits"
                .to_owned()
        };
        let roman: String = compact
            .chars()
            .take_while(|c| "IVXLC".contains(*c))
            .collect();
        let rest: Vec<char> = compact.chars().skip(roman.chars().count()).collect();
        if roman.is_empty() || roman.len() > 6 || rest.len() != 8 {
            return Err(invalid());
        }
        let letters: String = rest[..2].iter().collect();
        let number: String = rest[2..].iter().collect();
        if !letters.chars().all(|c| matches!(c, 'А'..='Я' | 'Ё'))
            || !number.chars().all(|c| c.is_ascii_digit())
        {
            return Err(invalid());
        }
        Ok(Self(format!("{roman}-{letters} {number}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `IV-МЮ ***456`.
    pub fn masked(&self) -> String {
        let (series, number) = self.0.split_once(' ').unwrap_or((&self.0, ""));
        let tail: String = number.chars().skip(3).collect();
        format!("{series} ***{tail}")
    }
}

impl std::fmt::Debug for BirthCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BirthCertificate({})", self.masked())
    }
}

/// Masks a stored document of either kind.
pub fn masked(kind: DocumentKind, value: &str) -> String {
    match kind {
        DocumentKind::Passport => Passport::parse(value).map(|p| p.masked()),
        DocumentKind::BirthCertificate => BirthCertificate::parse(value).map(|b| b.masked()),
    }
    .unwrap_or_else(|_| "***".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passports_are_four_and_six_digits() {
        assert_eq!(
            Passport::parse("4510 123456").unwrap().as_str(),
            "4510 123456"
        );
        assert_eq!(
            Passport::parse("4510123456").unwrap().masked(),
            "**** ***456"
        );
        assert_eq!(
            Passport::from_parts("4510", "123456").unwrap().as_str(),
            "4510 123456"
        );
        for bad in ["451 123456", "4510 12345", "45a0 123456", ""] {
            assert!(Passport::parse(bad).is_err(), "{bad}");
        }
        assert!(Passport::from_parts("45101", "23456").is_err());
    }

    #[test]
    fn birth_certificates_have_roman_series_and_cyrillic_letters() {
        assert_eq!(
            BirthCertificate::parse("IV-МЮ 123456").unwrap().as_str(),
            "IV-МЮ 123456"
        );
        assert_eq!(
            BirthCertificate::parse("iv мю 123456").unwrap().as_str(),
            "IV-МЮ 123456"
        );
        assert_eq!(
            BirthCertificate::parse("XII-АБ 000001").unwrap().masked(),
            "XII-АБ ***001"
        );
        for bad in [
            "IV-MU 123456",
            "4-МЮ 123456",
            "IV-МЮ 12345",
            "IV-М 123456",
            "МЮ 123456",
        ] {
            assert!(BirthCertificate::parse(bad).is_err(), "{bad}");
        }
    }
}
