//! What happened at a practical event: whether the student came, the level the mentor saw,
//! and the student's own rating. Closed vocabularies and the bounds the API checks.

use chrono::{DateTime, Duration, Utc};

use super::vocabulary::vocabulary;

vocabulary!(
    /// Whether a student came, as the `attendance.status` column allows it.
    AttendanceStatus("attendance status") {
        Present = "present",
        Absent = "absent",
    }
);

vocabulary!(
    /// How attendance was recorded, as the `attendance.method` column allows it.
    AttendanceMethod("attendance method") {
        /// The organizer's device scanned the student's check-in code.
        Scan = "scan",
        /// Marked by hand (a phone that died, a student without the app).
        Manual = "manual",
    }
);

vocabulary!(
    /// The level a mentor saw the student reach, as `assessments.level` allows it: a
    /// small closed scale a family can read without a key.
    AssessmentLevel("assessment level") {
        /// Tried it with the mentor's help at every step.
        Beginner = "beginner",
        /// Did the task with little help.
        Confident = "confident",
        /// Did it on their own, and went further.
        Advanced = "advanced",
    }
);

/// Check-in opens this long before the start and closes at the end.
pub const CHECK_IN_OPENS_BEFORE: Duration = Duration::hours(1);
/// The mentor may record an assessment up to this long after the end.
pub const ASSESSMENT_WINDOW: Duration = Duration::days(7);
/// The longest assessment or feedback comment, in characters (the columns check the same).
pub const COMMENT_CHARS: usize = 500;
/// Ratings run from 1 to 5.
pub const RATING: std::ops::RangeInclusive<i64> = 1..=5;
/// Fewer feedback answers than this, and an organization sees no aggregate: one or two
/// answers could be read off it.
pub const MIN_FEEDBACK_GROUP: i64 = 3;

/// Whether the door is open for check-in at `now` (from an hour before the start to the end).
pub fn check_in_open(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= starts_at - CHECK_IN_OPENS_BEFORE && now <= ends_at
}

/// Whether the mentor may record an assessment at `now` (after the end, for 7 days).
pub fn assessment_open(ends_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= ends_at && now <= ends_at + ASSESSMENT_WINDOW
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_in_runs_from_an_hour_before_the_start_to_the_end() {
        let start = Utc::now();
        let end = start + Duration::hours(3);
        assert!(!check_in_open(start, end, start - Duration::minutes(61)));
        assert!(check_in_open(start, end, start - Duration::minutes(59)));
        assert!(check_in_open(start, end, end));
        assert!(!check_in_open(start, end, end + Duration::seconds(1)));
    }

    #[test]
    fn an_assessment_is_taken_for_seven_days_after_the_end() {
        let end = Utc::now();
        assert!(!assessment_open(end, end - Duration::seconds(1)));
        assert!(assessment_open(end, end + Duration::days(6)));
        assert!(!assessment_open(
            end,
            end + Duration::days(7) + Duration::seconds(1)
        ));
    }

    #[test]
    fn the_scale_reads_back_by_name() {
        assert_eq!(
            AssessmentLevel::parse("confident"),
            Some(AssessmentLevel::Confident)
        );
        assert_eq!(AssessmentLevel::parse("expert"), None);
        assert_eq!(AttendanceStatus::names(), ["present", "absent"]);
    }
}
