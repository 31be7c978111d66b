//! The password policy: at least 10 characters and not one of the commonly used ones.

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

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
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
    fn a_passphrase_is_accepted() {
        assert!(NewPassword::parse("синий трактор едет в поле").is_ok());
    }
}
