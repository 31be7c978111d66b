//! Choosing events to recommend, without I/O.
//!
//! 1. Interests come from the latest result of each interest test (Klimov, RIASEC). Each
//!    leading scale points to profession areas, as the catalog's `scales[].areas` map
//!    says. Weights: Klimov, a strong type 3, a leading moderate type 2 (weak types
//!    count for nothing); RIASEC, the code's first letter 3, second 2, third 1 (a weak
//!    type counts for nothing). An area's weight is the sum over tests, so an interest
//!    two tests agree on ranks first.
//! 2. Events attended deepen, not diversify: an area the student already tried at a
//!    practical event and that matches an interest gets +1, since a try-out that fits the
//!    test results is the strongest sign, and the reason says so. Attended areas with no
//!    matching interest add nothing.
//! 3. Accessibility: with ОВЗ needs, only events that meet every need are recommended
//!    (mobility → `step_free` or online, vision → `visual`, hearing → `hearing`), as the
//!    program promises to recommend only events that are safe and accessible.
//! 4. Order: weight, then the soonest start.

use std::collections::HashMap;

use super::catalog::{Scoring, TestDefinition};
use super::scoring::Scored;
use crate::store::recommendations::EventRow;

/// Recommendations returned at most.
pub const LIMIT: usize = 20;

/// An interest in a profession area, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interest {
    pub area: String,
    pub weight: u32,
    /// The strongest reason, in Russian.
    pub because: String,
}

/// Areas of interest from the latest results of interest tests, strongest first.
pub fn interests(results: &[(&TestDefinition, &Scored)]) -> Vec<Interest> {
    let mut by_area: HashMap<String, (u32, u32, String)> = HashMap::new();
    for (def, scored) in results {
        for (scale_id, weight) in leading_scales(def, scored) {
            let Some(scale) = def.scales.iter().find(|s| s.id == scale_id) else {
                continue;
            };
            let because = format!("интерес «{}» по тесту «{}»", scale.name, def.short_title);
            for area in &scale.areas {
                let entry = by_area.entry(area.clone()).or_insert((0, 0, String::new()));
                entry.0 += weight;
                if weight > entry.1 {
                    entry.1 = weight;
                    entry.2 = because.clone();
                }
            }
        }
    }
    let mut out: Vec<Interest> = by_area
        .into_iter()
        .map(|(area, (weight, _, because))| Interest {
            area,
            weight,
            because,
        })
        .collect();
    out.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.area.cmp(&b.area)));
    out
}

/// (scale id, weight) of the scales of one result that express an interest.
fn leading_scales(def: &TestDefinition, scored: &Scored) -> Vec<(String, u32)> {
    let band = |id: &str| {
        scored
            .scales
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.band.clone())
            .unwrap_or_default()
    };
    match def.scoring {
        Scoring::Klimov { .. } => scored
            .scales
            .iter()
            .filter_map(|s| match s.band.as_str() {
                "strong" => Some((s.id.clone(), 3)),
                "moderate" if scored.top.contains(&s.id) => Some((s.id.clone(), 2)),
                _ => None,
            })
            .collect(),
        Scoring::Riasec { .. } => scored
            .top
            .iter()
            .zip([3, 2, 1])
            .filter(|(id, _)| band(id) != "weak")
            .map(|(id, w)| (id.clone(), w))
            .collect(),
        Scoring::Quiz { .. } => Vec::new(),
    }
}

/// An event picked for a student, with the reason.
#[derive(Debug, Clone)]
pub struct Pick {
    pub event: EventRow,
    pub weight: u32,
    /// Short, in Russian.
    pub reason: String,
}

/// Whether an event meets an accessibility need; needs without a matching feature
/// (`other`) are left to the family.
pub fn meets(event: &EventRow, need: &str) -> bool {
    let has = |feature: &str| event.accessibility.iter().any(|f| f == feature);
    match need {
        "mobility" => event.format == "online" || has("step_free"),
        "vision" => has("visual"),
        "hearing" => has("hearing"),
        _ => true,
    }
}

/// Ranks candidate events (already filtered by grade, region and date) for a student with
/// these interests, attended areas (area → count) and accessibility needs.
pub fn rank(
    events: Vec<EventRow>,
    interests: &[Interest],
    attended: &HashMap<String, i64>,
    needs: &[String],
) -> Vec<Pick> {
    let mut picks: Vec<Pick> = events
        .into_iter()
        .filter(|event| needs.iter().all(|need| meets(event, need)))
        .filter_map(|event| {
            let interest = interests.iter().find(|i| i.area == event.profession_area)?;
            let tried = attended.get(&event.profession_area).copied().unwrap_or(0) > 0;
            let mut reason = capitalise(&interest.because);
            if tried {
                reason.push_str("; в этой сфере уже была проба — можно пойти дальше");
            }
            if !needs.is_empty() && needs.iter().any(|n| n != "other") {
                reason.push_str("; подходит по доступности");
            }
            Some(Pick {
                weight: interest.weight + u32::from(tried),
                event,
                reason,
            })
        })
        .collect();
    picks.sort_by(|a, b| {
        b.weight
            .cmp(&a.weight)
            .then_with(|| a.event.starts_at.cmp(&b.event.starts_at))
            .then_with(|| a.event.id.cmp(&b.event.id))
    });
    picks.truncate(LIMIT);
    picks
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::answers::AnswerValue;
    use crate::diagnostics::catalog::Catalog;
    use crate::diagnostics::scoring::score;
    use crate::domain::ids::EventId;
    use chrono::{Duration, Utc};
    use uuid::Uuid;

    fn klimov_technology() -> (std::sync::Arc<TestDefinition>, Scored) {
        let def = Catalog::embedded().unwrap().latest("klimov-ddo").unwrap();
        let answers = "1b 4a 7b 9a 11b 14a 17b 19a 2a 6b 8a 12a 16b 18a 3a 5b 13a 15b 10b 20b"
            .split_whitespace()
            .map(|e| {
                let (q, o) = e.split_at(e.len() - 1);
                (q.to_owned(), AnswerValue::Option(o.to_owned()))
            })
            .collect();
        let scored = score(&def, &answers);
        (def, scored)
    }

    fn event(area: &str, format: &str, accessibility: &[&str], days: i64) -> EventRow {
        EventRow {
            id: EventId(Uuid::now_v7()),
            title: format!("Проба: {area}"),
            profession_area: area.to_owned(),
            format: format.to_owned(),
            region: Some("RU-TA".into()),
            city: Some("Казань".into()),
            starts_at: Utc::now() + Duration::days(days),
            ends_at: Utc::now() + Duration::days(days) + Duration::hours(2),
            accessibility: accessibility.iter().map(|s| s.to_string()).collect(),
            seats_left: 10,
        }
    }

    #[test]
    fn a_strong_klimov_type_points_to_its_areas() {
        let (def, scored) = klimov_technology();
        let found = interests(&[(&def, &scored)]);
        // техника 8 (strong) → 3; человек 6 is moderate but not leading → nothing.
        let areas: Vec<(&str, u32)> = found.iter().map(|i| (i.area.as_str(), i.weight)).collect();
        assert_eq!(
            areas,
            [
                ("construction", 3),
                ("energy", 3),
                ("engineering", 3),
                ("industry", 3),
                ("transport", 3)
            ]
        );
        assert!(found[0].because.contains("«Человек — техника»"));
    }

    #[test]
    fn events_are_ranked_by_interest_then_date_and_tried_areas_go_deeper() {
        let interests = vec![
            Interest {
                area: "engineering".into(),
                weight: 3,
                because: "интерес «Человек — техника» по тесту «ДДО Климова»".into(),
            },
            Interest {
                area: "it".into(),
                weight: 2,
                because: "интерес «Исследовательский» по тесту «Интересы по Холланду»".into(),
            },
        ];
        let later_engineering = event("engineering", "in_person", &[], 9);
        let it = event("it", "online", &[], 1);
        let arts = event("arts_design", "online", &[], 1);
        let picks = rank(
            vec![it.clone(), later_engineering.clone(), arts],
            &interests,
            &HashMap::from([("it".to_owned(), 1)]),
            &[],
        );
        let ids: Vec<EventId> = picks.iter().map(|p| p.event.id).collect();
        // it: 2 + 1 (tried) = 3 ties engineering's 3, and starts sooner.
        assert_eq!(ids, [it.id, later_engineering.id]);
        assert!(
            picks[0].reason.contains("уже была проба"),
            "{}",
            picks[0].reason
        );
        assert!(picks[1].reason.starts_with("Интерес «Человек — техника»"));
    }

    #[test]
    fn with_ovz_needs_only_events_that_meet_them_are_recommended() {
        let interests = vec![Interest {
            area: "engineering".into(),
            weight: 3,
            because: "интерес".into(),
        }];
        let stairs = event("engineering", "in_person", &[], 1);
        let step_free = event("engineering", "in_person", &["step_free"], 2);
        let online = event("engineering", "online", &[], 3);
        let picks = rank(
            vec![stairs, step_free.clone(), online.clone()],
            &interests,
            &HashMap::new(),
            &["mobility".to_owned()],
        );
        let ids: Vec<EventId> = picks.iter().map(|p| p.event.id).collect();
        assert_eq!(ids, [step_free.id, online.id]);
        let picks = rank(
            vec![step_free, online],
            &interests,
            &HashMap::new(),
            &["hearing".to_owned()],
        );
        assert!(picks.is_empty());
    }
}
