//! What makes a student eligible: grade 6–11, an age plausible for the grade, and the
//! identity document their age calls for.

use chrono::{Datelike, NaiveDate};

use super::Reason;
use super::documents::DocumentKind;

/// A school grade of the program, 6 to 11.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grade(u8);

impl Grade {
    pub const MIN: u8 = 6;
    pub const MAX: u8 = 11;

    pub fn parse(value: i64) -> Result<Self, Reason> {
        u8::try_from(value)
            .ok()
            .filter(|g| (Self::MIN..=Self::MAX).contains(g))
            .map(Self)
            .ok_or_else(|| format!("must be from {} to {}", Self::MIN, Self::MAX))
    }

    pub fn value(self) -> u8 {
        self.0
    }
}

/// Full years between `birth` and `on`.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// A child usually starts grade 1 at 6–7 and grade N at N+5–N+6; a year or two either
/// way (early start, repeated year, late start) is still plausible, more is a typo.
pub fn check_age_for_grade(birth: NaiveDate, grade: Grade, today: NaiveDate) -> Result<(), Reason> {
    if birth >= today {
        return Err("must be in the past".into());
    }
    let age = age_on(birth, today);
    let low = i32::from(grade.value()) + 3;
    let high = i32::from(grade.value()) + 9;
    if (low..=high).contains(&age) {
        Ok(())
    } else {
        Err(format!(
            "the age is not plausible for the grade; expected {low} to {high} years"
        ))
    }
}

/// Under 14 a child's identity is their birth certificate; from 14, their passport.
pub fn required_document(birth: NaiveDate, today: NaiveDate) -> DocumentKind {
    if age_on(birth, today) >= 14 {
        DocumentKind::Passport
    } else {
        DocumentKind::BirthCertificate
    }
}

/// A parent or legal representative is an adult.
pub fn check_adult(birth: NaiveDate, today: NaiveDate) -> Result<(), Reason> {
    match age_on(birth, today) {
        age if age > MAX_AGE => Err(format!("must be within the last {MAX_AGE} years")),
        age if age >= 18 => Ok(()),
        _ => Err("a parent or legal representative must be at least 18".into()),
    }
}

/// No birth date lies further back than this many years.
pub const MAX_AGE: i32 = 100;

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_parent_is_from_18_to_100_years_old() {
        let today = date(2026, 11, 30);
        assert!(check_adult(date(1985, 4, 12), today).is_ok());
        assert!(check_adult(date(1926, 12, 1), today).is_ok());
        assert!(check_adult(date(1900, 1, 1), today).is_err());
        assert!(check_adult(date(9999, 12, 31), today).is_err());
        assert!(check_adult(date(2010, 1, 1), today).is_err());
    }

    #[test]
    fn grades_are_six_to_eleven() {
        assert!(Grade::parse(5).is_err());
        assert!(Grade::parse(12).is_err());
        assert_eq!(Grade::parse(6).unwrap().value(), 6);
        assert_eq!(Grade::parse(11).unwrap().value(), 11);
    }

    #[test]
    fn age_counts_full_years() {
        assert_eq!(age_on(date(2012, 11, 26), date(2026, 11, 25)), 13);
        assert_eq!(age_on(date(2012, 11, 25), date(2026, 11, 25)), 14);
    }

    #[test]
    fn an_age_far_from_the_grade_is_refused() {
        let today = date(2026, 11, 25);
        assert!(check_age_for_grade(date(2013, 3, 1), Grade::parse(7).unwrap(), today).is_ok());
        assert!(check_age_for_grade(date(2020, 3, 1), Grade::parse(7).unwrap(), today).is_err());
        assert!(check_age_for_grade(date(1990, 3, 1), Grade::parse(11).unwrap(), today).is_err());
        assert!(check_age_for_grade(date(2027, 1, 1), Grade::parse(6).unwrap(), today).is_err());
    }

    #[test]
    fn the_document_follows_the_fourteenth_birthday() {
        let today = date(2026, 11, 25);
        assert_eq!(
            required_document(date(2012, 11, 26), today),
            DocumentKind::BirthCertificate
        );
        assert_eq!(
            required_document(date(2012, 11, 25), today),
            DocumentKind::Passport
        );
    }
}
