//! E-mail addresses: trimmed, lower-cased, and plausibly deliverable.

use super::Reason;

/// A normalised e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, Reason> {
        let value = input.trim().to_lowercase();
        if value.is_empty() {
            return Err("is required".into());
        }
        if value.len() > 254 {
            return Err("is longer than 254 characters".into());
        }
        let Some((local, domain)) = value.rsplit_once('@') else {
            return Err("is not an e-mail address".into());
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(value))
        } else {
            Err("is not an e-mail address".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(
            Email::parse("  Mama@Example.RU ").unwrap().as_str(),
            "mama@example.ru"
        );
        assert!(Email::parse("ivan@почта.рф").is_ok());
    }

    #[test]
    fn non_addresses_are_refused() {
        for bad in [
            "",
            "no-at",
            "@example.ru",
            "a@b",
            "a..b@example.ru",
            "a b@example.ru",
            "a@-x.ru",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
