//! The rules for one answer, without I/O: what a valid value is for each kind of question,
//! when an answer arriving after a timed test's deadline still counts, and how a
//! per-question sequence number decides between a new answer, a replay and a stale one.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::catalog::{Question, QuestionKind};
use crate::domain::Reason;

/// A checked answer, stored as JSON in this shape: `{"option": "a"}`,
/// `{"options": ["a", "c"]}` (sorted, no repeats) or `{"rating": 4}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerValue {
    Option(String),
    Options(Vec<String>),
    Rating(i32),
}

/// An answer as sent, before it is checked against its question.
#[derive(Debug, Clone, Default)]
pub struct RawValue {
    pub option: Option<String>,
    pub options: Option<Vec<String>>,
    pub rating: Option<i64>,
}

/// Checks a value against its question; the error names the field (`option`, `options`
/// or `rating`) and why.
pub fn check_value(
    question: &Question,
    raw: &RawValue,
) -> Result<AnswerValue, (&'static str, Reason)> {
    let given: Vec<&str> = [
        raw.option.as_ref().map(|_| "option"),
        raw.options.as_ref().map(|_| "options"),
        raw.rating.as_ref().map(|_| "rating"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let expected = match &question.kind {
        QuestionKind::Single { .. } => "option",
        QuestionKind::Multiple { .. } => "options",
        QuestionKind::Rating { .. } => "rating",
    };
    if given != [expected] {
        let other = given.iter().find(|g| **g != expected).copied();
        return Err((
            other.unwrap_or(expected),
            format!("this question takes exactly `{expected}`"),
        ));
    }
    match &question.kind {
        QuestionKind::Single { options } => {
            let chosen = raw.option.clone().unwrap_or_default();
            if options.iter().any(|o| o.id == chosen) {
                Ok(AnswerValue::Option(chosen))
            } else {
                Err(("option", format!("must be one of {}", ids(options))))
            }
        }
        QuestionKind::Multiple { options } => {
            let chosen: BTreeSet<String> = raw
                .options
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            if chosen.is_empty() {
                return Err(("options", "choose at least one option".to_owned()));
            }
            if chosen.iter().any(|c| !options.iter().any(|o| &o.id == c)) {
                return Err((
                    "options",
                    format!("each option must be one of {}", ids(options)),
                ));
            }
            Ok(AnswerValue::Options(chosen.into_iter().collect()))
        }
        QuestionKind::Rating { min, max, .. } => {
            let value = raw.rating.unwrap_or_default();
            match i32::try_from(value) {
                Ok(v) if (*min..=*max).contains(&v) => Ok(AnswerValue::Rating(v)),
                _ => Err((
                    "rating",
                    format!("must be a whole number from {min} to {max}"),
                )),
            }
        }
    }
}

fn ids(options: &[super::catalog::Choice]) -> String {
    options
        .iter()
        .map(|o| o.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether an answer may still be saved, judged by the server's clock `now`.
///
/// Untimed tests take answers while the attempt is open. A timed test takes every answer
/// that arrives before the deadline; after it, an answer counts only when the client made
/// it before the deadline (`client_time`) and it arrives within `grace` of the deadline,
/// so answers queued offline in the last minutes are not lost. A client that lies about
/// its clock gains at most `grace`.
pub fn admit(
    deadline: Option<DateTime<Utc>>,
    grace: Duration,
    now: DateTime<Utc>,
    client_time: DateTime<Utc>,
) -> Result<(), Late> {
    let Some(deadline) = deadline else {
        return Ok(());
    };
    if now <= deadline {
        return Ok(());
    }
    let grace = chrono::Duration::from_std(grace).unwrap_or_else(|_| chrono::Duration::zero());
    if now > deadline + grace {
        return Err(Late::AfterGrace);
    }
    if client_time < deadline {
        Ok(())
    } else {
        Err(Late::AnsweredAfterDeadline)
    }
}

/// Why an answer came too late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Late {
    /// Made (by the client's clock) at or after the deadline.
    AnsweredAfterDeadline,
    /// Arrived after the grace period that follows the deadline.
    AfterGrace,
}

impl Late {
    pub fn explain(self) -> &'static str {
        match self {
            Late::AnsweredAfterDeadline => "the answer was given after the test's time ran out",
            Late::AfterGrace => {
                "the answer arrived after the grace period that follows the test's deadline"
            }
        }
    }
}

/// What to do with an answer given the one already stored for its question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequence {
    /// Nothing stored, or the new sequence number is higher: save it.
    Apply,
    /// The same sequence number and value as stored: a retried request; answer with what
    /// is stored and change nothing.
    Replay,
    /// A lower sequence number, or the same one with another value: refuse it; a newer
    /// answer must not be overwritten by an older one.
    Stale,
}

pub fn sequence(stored: Option<(i32, &AnswerValue)>, seq: i32, value: &AnswerValue) -> Sequence {
    match stored {
        None => Sequence::Apply,
        Some((stored_seq, _)) if seq > stored_seq => Sequence::Apply,
        Some((stored_seq, stored_value)) if seq == stored_seq && stored_value == value => {
            Sequence::Replay
        }
        Some(_) => Sequence::Stale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::catalog::Choice;

    fn choice(id: &str) -> Choice {
        Choice {
            id: id.to_owned(),
            text: id.to_owned(),
        }
    }

    fn multiple() -> Question {
        Question {
            id: "q".into(),
            text: "?".into(),
            kind: QuestionKind::Multiple {
                options: vec![choice("a"), choice("b"), choice("c")],
            },
        }
    }

    fn rating() -> Question {
        Question {
            id: "r".into(),
            text: "?".into(),
            kind: QuestionKind::Rating {
                min: 1,
                max: 5,
                min_label: "-".into(),
                max_label: "+".into(),
            },
        }
    }

    #[test]
    fn multiple_choices_are_sorted_and_deduplicated() {
        let raw = RawValue {
            options: Some(vec!["c".into(), "a".into(), "c".into()]),
            ..RawValue::default()
        };
        assert_eq!(
            check_value(&multiple(), &raw),
            Ok(AnswerValue::Options(vec!["a".into(), "c".into()]))
        );
    }

    #[test]
    fn a_value_of_the_wrong_kind_or_range_names_its_field() {
        let raw = RawValue {
            option: Some("a".into()),
            ..RawValue::default()
        };
        assert_eq!(check_value(&multiple(), &raw).unwrap_err().0, "option");
        let raw = RawValue {
            rating: Some(6),
            ..RawValue::default()
        };
        assert_eq!(check_value(&rating(), &raw).unwrap_err().0, "rating");
        let raw = RawValue {
            options: Some(vec!["z".into()]),
            ..RawValue::default()
        };
        let (field, reason) = check_value(&multiple(), &raw).unwrap_err();
        assert_eq!(field, "options");
        // The rule, not the value sent.
        assert!(!reason.contains('z'), "{reason}");
        assert!(reason.starts_with("each option must be one of"), "{reason}");
        assert_eq!(
            check_value(&rating(), &RawValue::default()).unwrap_err().0,
            "rating"
        );
    }

    #[test]
    fn late_answers_count_only_when_made_in_time_and_sent_within_grace() {
        let deadline = DateTime::parse_from_rfc3339("2026-11-25T10:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let grace = Duration::from_secs(120);
        let at = |secs: i64| deadline + chrono::Duration::seconds(secs);
        assert_eq!(admit(None, grace, at(99_999), at(99_999)), Ok(()));
        assert_eq!(admit(Some(deadline), grace, at(-1), at(30)), Ok(()));
        assert_eq!(admit(Some(deadline), grace, at(60), at(-5)), Ok(()));
        assert_eq!(
            admit(Some(deadline), grace, at(60), at(0)),
            Err(Late::AnsweredAfterDeadline)
        );
        assert_eq!(
            admit(Some(deadline), grace, at(121), at(-5)),
            Err(Late::AfterGrace)
        );
    }

    #[test]
    fn sequence_numbers_keep_the_newest_answer() {
        let a = AnswerValue::Option("a".into());
        let b = AnswerValue::Option("b".into());
        assert_eq!(sequence(None, 1, &a), Sequence::Apply);
        assert_eq!(sequence(Some((1, &a)), 2, &b), Sequence::Apply);
        assert_eq!(sequence(Some((2, &b)), 2, &b), Sequence::Replay);
        assert_eq!(sequence(Some((2, &b)), 2, &a), Sequence::Stale);
        assert_eq!(sequence(Some((2, &b)), 1, &a), Sequence::Stale);
    }
}
