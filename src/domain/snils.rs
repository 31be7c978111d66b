//! СНИЛС, the personal insurance account number: 11 digits, `XXX-XXX-XXX YY`, where YY
//! is a checksum of the first nine digits.

use super::Reason;

/// A valid SNILS, held as its 11 digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Snils(String);

/// Numbers up to 001-001-998 are a reserved range with no defined checksum; none of
/// them can be checked, so none is accepted.
const RESERVED_UP_TO: u64 = 1_001_998;

impl Snils {
    /// Accepts `112-233-445 95`, `11223344595` and other spacings.
    pub fn parse(input: &str) -> Result<Self, Reason> {
        let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.is_empty() {
            return Err("is required".into());
        }
        if digits.len() != 11 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err("must be 11 digits, as XXX-XXX-XXX YY".into());
        }
        let number: u64 = digits[..9].parse().map_err(|_| "must be 11 digits")?;
        let given: u32 = digits[9..].parse().map_err(|_| "must be 11 digits")?;
        if number <= RESERVED_UP_TO {
            return Err("is in the reserved range up to 001-001-998, which is never issued".into());
        }
        if checksum(&digits[..9]) != given {
            return Err("checksum does not match; check the number".into());
        }
        Ok(Self(digits))
    }

    /// The SNILS whose first nine digits are `number` (above 001-001-998), with its
    /// checksum; for seeding demonstration data.
    pub fn with_checksum(number: u32) -> Self {
        let first_nine = format!("{:09}", number.clamp(1_001_999, 999_999_999));
        let check = checksum(&first_nine);
        Self(format!("{first_nine}{check:02}"))
    }

    /// The 11 digits, for encryption and the blind index.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// `112-233-445 95`.
    pub fn formatted(&self) -> String {
        let d = &self.0;
        format!("{}-{}-{} {}", &d[0..3], &d[3..6], &d[6..9], &d[9..11])
    }

    /// `***-***-445 95`.
    pub fn masked(&self) -> String {
        let d = &self.0;
        format!("***-***-{} {}", &d[6..9], &d[9..11])
    }
}

impl std::fmt::Debug for Snils {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Snils({})", self.masked())
    }
}

fn checksum(first_nine: &str) -> u32 {
    let sum: u32 = first_nine
        .bytes()
        .zip((1..=9).rev())
        .map(|(b, weight)| u32::from(b - b'0') * weight)
        .sum();
    match sum {
        s if s < 100 => s,
        100 | 101 => 0,
        s => {
            let r = s % 101;
            if r == 100 { 0 } else { r }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_number_is_accepted_in_any_spacing() {
        for input in ["112-233-445 95", "11223344595", "112 233 445 95"] {
            assert_eq!(
                Snils::parse(input).unwrap().digits(),
                "11223344595",
                "{input}"
            );
        }
    }

    #[test]
    fn the_checksum_follows_each_rule() {
        // Sum < 100: the sum itself. 1*9+1*8+2*7+2*6+3*5+3*4+4*3+4*2+5*1 = 95.
        assert!(Snils::parse("112-233-445 95").is_ok());
        // Sum 100 or 101: 00. 0*9+0*8+0*7+0*6+0*5+0*4+... chosen digits summing to 100:
        // 9*9+1*8+1*7+0+0+0+1*3+0+1*1 = 100.
        assert!(Snils::parse("911-000-101 00").is_ok());
        // Sum > 101: mod 101. 9*(9+8+7+6+5+4+3+2+1) = 405; 405 mod 101 = 1.
        assert!(Snils::parse("999-999-999 01").is_ok());
        assert!(Snils::parse("999-999-999 02").is_err());
    }

    #[test]
    fn a_wrong_checksum_or_shape_is_refused() {
        assert!(Snils::parse("112-233-445 96").is_err());
        assert!(Snils::parse("112-233-445").is_err());
        assert!(Snils::parse("112-233-445 9a").is_err());
        assert!(Snils::parse("").is_err());
    }

    #[test]
    fn a_generated_number_carries_a_valid_checksum() {
        for n in [1_002_000, 123_456_789, 999_999_999] {
            let snils = Snils::with_checksum(n);
            assert_eq!(Snils::parse(snils.digits()).unwrap(), snils);
        }
    }

    #[test]
    fn zero_and_the_reserved_range_without_a_checksum_are_refused() {
        for reserved in ["000-000-000 00", "001-001-998 77", "000-000-001 00"] {
            assert!(Snils::parse(reserved).is_err(), "{reserved}");
        }
        assert!(Snils::parse(Snils::with_checksum(1_001_999).digits()).is_ok());
    }

    #[test]
    fn masking_shows_only_the_tail() {
        let snils = Snils::parse("11223344595").unwrap();
        assert_eq!(snils.masked(), "***-***-445 95");
        assert_eq!(snils.formatted(), "112-233-445 95");
        assert!(!format!("{snils:?}").contains("112-233"));
    }
}
