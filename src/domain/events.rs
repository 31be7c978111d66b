//! Practical events: profession areas, formats, accessibility features, time zones, and
//! the rules an event's schedule and capacity must keep.

use chrono::{DateTime, Duration, Utc};

use super::Reason;
use super::vocabulary::{UnknownValue, vocabulary};

vocabulary!(
    /// The states of an event, as the `events.status` column allows them.
    EventStatus("event status") {
        Draft = "draft",
        Published = "published",
        Cancelled = "cancelled",
    }
);

vocabulary!(
    /// How an event is held, as the `events.format` column allows it.
    EventFormat("event format") {
        InPerson = "in_person",
        Online = "online",
    }
);

vocabulary!(
    /// The states of a sign-up, as the `signups.status` column allows them.
    SignupStatus("sign-up status") {
        /// Waiting for a parent's decision; holds a seat.
        PendingParent = "pending_parent",
        /// A parent approved; holds a seat.
        Approved = "approved",
        Declined = "declined",
        /// No parent decided within the approval window.
        Expired = "expired",
        Withdrawn = "withdrawn",
        /// In the queue for a seat.
        Waitlisted = "waitlisted",
        /// Ended by the event's cancellation.
        Cancelled = "cancelled",
    }
);

/// A field of work an event lets students try. The one list of them: the API's enum,
/// the check of `events.profession_area` (a test compares the migration's with it), and
/// the areas the test catalog's scales point to are all read from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProfessionArea {
    It,
    Engineering,
    Industry,
    Medicine,
    Science,
    ArtsDesign,
    Services,
    Agriculture,
    Transport,
    Education,
    Construction,
    Energy,
    Media,
    Sports,
    PublicService,
    Finance,
}

impl ProfessionArea {
    /// Every profession area, in the order the API lists them.
    pub const ALL: [ProfessionArea; 16] = [
        ProfessionArea::It,
        ProfessionArea::Engineering,
        ProfessionArea::Industry,
        ProfessionArea::Medicine,
        ProfessionArea::Science,
        ProfessionArea::ArtsDesign,
        ProfessionArea::Services,
        ProfessionArea::Agriculture,
        ProfessionArea::Transport,
        ProfessionArea::Education,
        ProfessionArea::Construction,
        ProfessionArea::Energy,
        ProfessionArea::Media,
        ProfessionArea::Sports,
        ProfessionArea::PublicService,
        ProfessionArea::Finance,
    ];

    /// The name as stored and as the API and the catalog spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfessionArea::It => "it",
            ProfessionArea::Engineering => "engineering",
            ProfessionArea::Industry => "industry",
            ProfessionArea::Medicine => "medicine",
            ProfessionArea::Science => "science",
            ProfessionArea::ArtsDesign => "arts_design",
            ProfessionArea::Services => "services",
            ProfessionArea::Agriculture => "agriculture",
            ProfessionArea::Transport => "transport",
            ProfessionArea::Education => "education",
            ProfessionArea::Construction => "construction",
            ProfessionArea::Energy => "energy",
            ProfessionArea::Media => "media",
            ProfessionArea::Sports => "sports",
            ProfessionArea::PublicService => "public_service",
            ProfessionArea::Finance => "finance",
        }
    }

    pub fn parse(input: &str) -> Result<Self, Reason> {
        Self::ALL
            .into_iter()
            .find(|area| area.as_str() == input)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|a| a.as_str()).collect();
                format!("must be one of {}", names.join(", "))
            })
    }
}

impl TryFrom<String> for ProfessionArea {
    type Error = UnknownValue;

    /// A stored area (`events.profession_area`) read back.
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).map_err(|_| UnknownValue {
            vocabulary: "profession area",
            value,
        })
    }
}

/// What an event offers people with limited health capabilities.
pub const ACCESSIBILITY_FEATURES: &[&str] = &[
    "step_free",
    "visual",
    "hearing",
    "sign_language",
    "quiet_space",
];

pub fn parse_feature(input: &str) -> Result<&'static str, Reason> {
    ACCESSIBILITY_FEATURES
        .iter()
        .find(|f| **f == input)
        .copied()
        .ok_or_else(|| format!("must be one of {}", ACCESSIBILITY_FEATURES.join(", ")))
}

/// The feature an event needs to be accessible for a given ОВЗ need; `other` needs are
/// discussed with the organizer and filter nothing.
pub fn feature_for_need(need: &str) -> Option<&'static str> {
    match need {
        "mobility" => Some("step_free"),
        "vision" => Some("visual"),
        "hearing" => Some("hearing"),
        _ => None,
    }
}

/// Time zones of the Russian Federation (IANA names) and their UTC offsets in hours; Russia
/// keeps no daylight saving time, so each offset is fixed.
pub const TIME_ZONES: &[(&str, i32)] = &[
    ("Europe/Kaliningrad", 2),
    ("Europe/Moscow", 3),
    ("Europe/Simferopol", 3),
    ("Europe/Kirov", 3),
    ("Europe/Volgograd", 3),
    ("Europe/Astrakhan", 4),
    ("Europe/Saratov", 4),
    ("Europe/Ulyanovsk", 4),
    ("Europe/Samara", 4),
    ("Asia/Yekaterinburg", 5),
    ("Asia/Omsk", 6),
    ("Asia/Novosibirsk", 7),
    ("Asia/Barnaul", 7),
    ("Asia/Tomsk", 7),
    ("Asia/Novokuznetsk", 7),
    ("Asia/Krasnoyarsk", 7),
    ("Asia/Irkutsk", 8),
    ("Asia/Chita", 9),
    ("Asia/Yakutsk", 9),
    ("Asia/Khandyga", 9),
    ("Asia/Vladivostok", 10),
    ("Asia/Ust-Nera", 10),
    ("Asia/Magadan", 11),
    ("Asia/Sakhalin", 11),
    ("Asia/Srednekolymsk", 11),
    ("Asia/Kamchatka", 12),
    ("Asia/Anadyr", 12),
];

pub fn parse_time_zone(input: &str) -> Result<&'static str, Reason> {
    TIME_ZONES
        .iter()
        .find(|(z, _)| *z == input)
        .map(|(z, _)| *z)
        .ok_or_else(|| "must be a time zone of Russia, e.g. Europe/Moscow".into())
}

/// The fixed offset of a Russian time zone; Moscow time for an unknown name.
pub fn utc_offset(zone: &str) -> chrono::FixedOffset {
    let hours = TIME_ZONES
        .iter()
        .find(|(z, _)| *z == zone)
        .map(|(_, h)| *h)
        .unwrap_or(3);
    chrono::FixedOffset::east_opt(hours * 3600).expect("offsets of Russian zones are valid")
}

/// A change within this long of the start is urgent: families hear of it on every channel.
pub const URGENT_WITHIN: Duration = Duration::hours(48);

/// True when `starts_at` is within [`URGENT_WITHIN`] of `now` (or already past).
pub fn is_urgent(starts_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    starts_at - now <= URGENT_WITHIN
}

/// Largest capacity an event may have.
pub const MAX_CAPACITY: i64 = 10_000;

/// Parents' approval window, in hours.
pub const APPROVAL_WINDOW_HOURS: std::ops::RangeInclusive<i64> = 1..=168;

/// An event's schedule, checked as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub signup_deadline: DateTime<Utc>,
}

/// How far ahead an event may be scheduled.
pub const MAX_AHEAD: Duration = Duration::days(3 * 365);

/// Field-named reasons a schedule is refused; with `now`, it must also start after it and
/// within [`MAX_AHEAD`] of it.
pub fn check_schedule(
    schedule: &Schedule,
    now: Option<DateTime<Utc>>,
) -> Vec<(&'static str, Reason)> {
    let mut problems = Vec::new();
    if now.is_some_and(|now| schedule.starts_at <= now) {
        problems.push(("starts_at", "must be in the future".to_owned()));
    } else if now.is_some_and(|now| schedule.starts_at > now + MAX_AHEAD) {
        problems.push(("starts_at", "must be within 3 years from now".to_owned()));
    }
    if schedule.ends_at <= schedule.starts_at {
        problems.push(("ends_at", "must be after starts_at".to_owned()));
    } else if schedule.ends_at - schedule.starts_at > Duration::days(14) {
        problems.push(("ends_at", "an event lasts at most 14 days".to_owned()));
    }
    if schedule.signup_deadline > schedule.starts_at {
        problems.push(("signup_deadline", "must not be after starts_at".to_owned()));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_and_features_parse_from_their_names() {
        assert_eq!(ProfessionArea::parse("it").unwrap().as_str(), "it");
        assert!(ProfessionArea::parse("astrology").is_err());
        assert_eq!(parse_feature("step_free"), Ok("step_free"));
        assert!(parse_feature("ramp").is_err());
        assert_eq!(feature_for_need("mobility"), Some("step_free"));
        assert_eq!(feature_for_need("other"), None);
    }

    #[test]
    fn a_schedule_must_start_in_the_future_and_end_after_it_starts() {
        let now = Utc::now();
        let ok = Schedule {
            starts_at: now + Duration::days(3),
            ends_at: now + Duration::days(3) + Duration::hours(2),
            signup_deadline: now + Duration::days(2),
        };
        assert!(check_schedule(&ok, Some(now)).is_empty());
        let bad = Schedule {
            starts_at: now - Duration::hours(1),
            ends_at: now - Duration::hours(2),
            signup_deadline: now + Duration::days(1),
        };
        let fields: Vec<&str> = check_schedule(&bad, Some(now))
            .iter()
            .map(|(f, _)| *f)
            .collect();
        assert_eq!(fields, ["starts_at", "ends_at", "signup_deadline"]);
        let fields: Vec<&str> = check_schedule(&bad, None).iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["ends_at", "signup_deadline"]);
    }

    #[test]
    fn a_schedule_starts_within_three_years() {
        let now = Utc::now();
        let far = Schedule {
            starts_at: now + Duration::days(4 * 365),
            ends_at: now + Duration::days(4 * 365) + Duration::hours(2),
            signup_deadline: now + Duration::days(2),
        };
        let fields: Vec<&str> = check_schedule(&far, Some(now))
            .iter()
            .map(|(f, _)| *f)
            .collect();
        assert_eq!(fields, ["starts_at"]);
    }

    #[test]
    fn russian_time_zones_have_fixed_offsets() {
        assert_eq!(utc_offset("Asia/Vladivostok").local_minus_utc(), 10 * 3600);
        assert_eq!(utc_offset("Europe/Kaliningrad").local_minus_utc(), 2 * 3600);
        assert_eq!(utc_offset("Nowhere/Else").local_minus_utc(), 3 * 3600);
        assert!(parse_time_zone("Europe/Moscow").is_ok());
    }

    #[test]
    fn urgency_is_within_forty_eight_hours_of_the_start() {
        let now = Utc::now();
        assert!(is_urgent(now + Duration::hours(47), now));
        assert!(!is_urgent(now + Duration::hours(49), now));
    }
}
