//! The password policy: at least 10 characters, not one of the commonly used ones, and
//! not built from the account's e-mail address or names.

use super::Reason;

/// Shortest password accepted.
pub const MIN_CHARS: usize = 10;
/// Longest password accepted (argon2 would take more, but nobody types this much).
pub const MAX_CHARS: usize = 128;

/// Common passwords of 10 or more characters (shorter ones fail the length rule anyway).
const COMMON: &str = include_str!("common-passwords.txt");

/// A password that passed the policy; never printed.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(input: &str) -> Result<Self, Reason> {
        let chars = input.chars().count();
        if chars < MIN_CHARS {
            return Err(format!("must be at least {MIN_CHARS} characters"));
        }
        if chars > MAX_CHARS {
            return Err(format!("must be at most {MAX_CHARS} characters"));
        }
        if is_common(input) {
            return Err("is one of the most common passwords; choose another".into());
        }
        Ok(Self(input.to_owned()))
    }

    /// Like [`parse`](Self::parse), and also refuses a password built from the account's
    /// e-mail address or names: the whole address, its local part or a piece of it, a
    /// name, or names run together; whatever the case, the spaces and punctuation, and
    /// with digits or punctuation added at the end.
    pub fn parse_for(input: &str, email: &str, names: &[String]) -> Result<Self, Reason> {
        let password = Self::parse(input)?;
        if built_from(input, &personal_words(email, names)) {
            return Err("must not be built from your e-mail address or name".into());
        }
        Ok(password)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// The words a password must not be built from: the address, its local part and the
/// pieces of it, each name, and the names run together in any order.
fn personal_words(email: &str, names: &[String]) -> Vec<String> {
    let local = email.split('@').next().unwrap_or_default();
    let mut words = vec![email.to_owned(), local.to_owned()];
    words.extend(
        local
            .split(|c: char| !c.is_alphanumeric())
            .filter(|piece| piece.chars().count() >= 4)
            .map(str::to_owned),
    );
    let names: Vec<&str> = names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .collect();
    words.extend(names.iter().map(|n| (*n).to_owned()));
    for first in &names {
        for second in &names {
            if first != second {
                words.push(format!("{first}{second}"));
                for third in &names {
                    if third != first && third != second {
                        words.push(format!("{first}{second}{third}"));
                    }
                }
            }
        }
    }
    words
}

/// Lower case, `ё` as `е`, letters and digits only, without the digits at the end.
fn normalized(text: &str) -> String {
    let kept: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ё' { 'е' } else { c })
        .filter(|c| c.is_alphanumeric())
        .collect();
    kept.trim_end_matches(|c: char| c.is_ascii_digit())
        .to_owned()
}

/// Whether `password` is one of `words`, once both are normalized.
fn built_from(password: &str, words: &[String]) -> bool {
    let password = normalized(password);
    !password.is_empty()
        && words
            .iter()
            .map(|w| normalized(w))
            .any(|w| w.chars().count() >= 3 && w == password)
}

fn is_common(password: &str) -> bool {
    let lowered = password.to_lowercase();
    let first = lowered.chars().next();
    let all_same = lowered.chars().all(|c| Some(c) == first);
    all_same
        || COMMON
            .lines()
            .map(str::trim)
            .any(|common| common == lowered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_passwords_are_refused() {
        assert!(NewPassword::parse("Short1!").is_err());
        assert!(NewPassword::parse("exactly10!").is_ok());
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "1234567890",
            "qwertyuiop",
            "Password123",
            "йцукенгшщз",
            "aaaaaaaaaaaa",
        ] {
            assert!(NewPassword::parse(common).is_err(), "{common}");
        }
    }

    #[test]
    fn passwords_built_from_the_email_are_refused() {
        let email = "anna.smirnova@example.ru";
        for password in [
            "anna.smirnova@example.ru",
            "ANNA.SMIRNOVA@EXAMPLE.RU",
            "anna.smirnova",
            "Anna.Smirnova2024",
            "anna.smirnova@example.ru1",
            "smirnova2013!",
        ] {
            assert!(
                NewPassword::parse_for(password, email, &[]).is_err(),
                "{password}"
            );
        }
        assert!(NewPassword::parse_for("синий трактор едет", email, &[]).is_ok());
    }

    #[test]
    fn passwords_built_from_the_names_are_refused() {
        let names = [
            "Смирнов".to_owned(),
            "Пётр".to_owned(),
            "Иванович".to_owned(),
        ];
        for password in [
            "смирнов1985",
            "ПетрСмирнов",
            "Пётр Смирнов 1985",
            "Иванович2024!",
        ] {
            assert!(
                NewPassword::parse_for(password, "x@example.ru", &names).is_err(),
                "{password}"
            );
        }
        assert!(NewPassword::parse_for("Смирнов едет на тракторе", "x@example.ru", &names).is_ok());
    }

    #[test]
    fn a_passphrase_is_accepted() {
        assert!(NewPassword::parse("синий трактор едет в поле").is_ok());
    }
}
