//! Choosing events to recommend, without I/O.
//!
//! 1. Interests come from the latest result of each interest test (Klimov, RIASEC). Each
//!    leading scale points to profession areas, as the catalog's `scales[].areas` map
//!    says. Weights: Klimov, a strong type 3, a leading moderate type 2 (weak types
//!    count for nothing); RIASEC, the code's first letter 3, second 2, third 1 (a weak
//!    type counts for nothing). An area's weight is the sum over tests, so an interest
//!    two tests agree on ranks first.
//! 2. What happened at practical events the student attended (checked in or marked
//!    present, not merely approved) comes next, as [`weigh`] says: the student's own
//!    wish to go further or not, the mentor's level, and the try-out itself. Each adds a
//!    reason in words the family reads.
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

/// What happened at one practical event the student attended (was checked in or marked
/// present), as the mentor and the student recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trial {
    pub title: String,
    pub area: String,
    /// The mentor's level (`beginner`, `confident`, `advanced`), once assessed.
    pub level: Option<String>,
    /// The student's own answer to "would you like to go further?", once given.
    pub wants_to_continue: Option<bool>,
}

/// How much the mentor's level adds to an area, and how the family reads it.
fn level_words(level: &str) -> Option<(u32, &'static str)> {
    match level {
        "advanced" => Some((2, "продвинутый")),
        "confident" => Some((1, "уверенный")),
        _ => None,
    }
}

/// A profession area worth recommending, with every reason, strongest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaWeight {
    pub area: String,
    pub weight: u32,
    /// In Russian, for the family.
    pub reasons: Vec<String>,
}

/// Weighs profession areas by the test results (`interests`) and by what happened at
/// the practical events the student attended (`trials`, oldest first):
/// - the student's latest answer about an area decides first: "no" drops the area
///   whatever the tests say, "yes" adds 2 (and makes an area the tests did not point to
///   a candidate);
/// - a trial without an answer adds 1 to an area the tests point to ("go deeper");
/// - the mentor's best level in the area adds 2 (advanced) or 1 (confident);
/// - attendance with no interest and no wish adds nothing.
pub fn weigh(interests: &[Interest], trials: &[Trial]) -> Vec<AreaWeight> {
    let mut areas: Vec<AreaWeight> = interests
        .iter()
        .map(|i| AreaWeight {
            area: i.area.clone(),
            weight: i.weight,
            reasons: vec![i.because.clone()],
        })
        .collect();
    let mut tried: Vec<&str> = trials.iter().map(|t| t.area.as_str()).collect();
    tried.sort_unstable();
    tried.dedup();
    for area in tried {
        let in_area: Vec<&Trial> = trials.iter().filter(|t| t.area == area).collect();
        let answer = in_area.iter().rev().find(|t| t.wants_to_continue.is_some());
        let known = areas.iter().position(|a| a.area == area);
        let index = match (answer.and_then(|t| t.wants_to_continue), known) {
            (Some(false), Some(index)) => {
                areas.remove(index);
                continue;
            }
            (Some(false), None) | (None, None) => continue,
            (Some(true), None) => {
                areas.push(AreaWeight {
                    area: area.to_owned(),
                    weight: 0,
                    reasons: Vec::new(),
                });
                areas.len() - 1
            }
            (_, Some(index)) => index,
        };
        let entry = &mut areas[index];
        match answer {
            Some(liked) => {
                entry.weight += 2;
                entry.reasons.push(format!(
                    "проба «{}» понравилась, и хочется продолжить",
                    liked.title
                ));
            }
            None => {
                let latest = in_area[in_area.len() - 1];
                entry.weight += 1;
                entry.reasons.push(format!(
                    "в этой сфере уже была проба «{}» — можно пойти дальше",
                    latest.title
                ));
            }
        }
        let best = in_area
            .iter()
            .filter_map(|t| Some((level_words(t.level.as_deref()?)?, &t.title)))
            .max_by_key(|((bonus, _), _)| *bonus);
        if let Some(((bonus, words), title)) = best {
            entry.weight += bonus;
            entry.reasons.push(format!(
                "наставник отметил {words} уровень на пробе «{title}»"
            ));
        }
    }
    areas.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.area.cmp(&b.area)));
    areas
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
/// these weighed areas and accessibility needs.
pub fn rank(events: Vec<EventRow>, areas: &[AreaWeight], needs: &[String]) -> Vec<Pick> {
    let mut picks: Vec<Pick> = events
        .into_iter()
        .filter(|event| needs.iter().all(|need| meets(event, need)))
        .filter_map(|event| {
            let area = areas.iter().find(|a| a.area == event.profession_area)?;
            let mut reason = capitalise(&area.reasons.join("; "));
            if !needs.is_empty() && needs.iter().any(|n| n != "other") {
                reason.push_str("; подходит по доступности");
            }
            Some(Pick {
                weight: area.weight,
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

    fn interest(area: &str, weight: u32, because: &str) -> Interest {
        Interest {
            area: area.into(),
            weight,
            because: because.into(),
        }
    }

    fn trial(area: &str, title: &str, level: Option<&str>, wants: Option<bool>) -> Trial {
        Trial {
            title: title.into(),
            area: area.into(),
            level: level.map(Into::into),
            wants_to_continue: wants,
        }
    }

    #[test]
    fn events_are_ranked_by_interest_then_date_and_tried_areas_go_deeper() {
        let interests = vec![
            interest(
                "engineering",
                3,
                "интерес «Человек — техника» по тесту «ДДО Климова»",
            ),
            interest(
                "it",
                2,
                "интерес «Исследовательский» по тесту «Интересы по Холланду»",
            ),
        ];
        let later_engineering = event("engineering", "in_person", &[], 9);
        let it = event("it", "online", &[], 1);
        let arts = event("arts_design", "online", &[], 1);
        let areas = weigh(&interests, &[trial("it", "Python за день", None, None)]);
        let picks = rank(
            vec![it.clone(), later_engineering.clone(), arts],
            &areas,
            &[],
        );
        let ids: Vec<EventId> = picks.iter().map(|p| p.event.id).collect();
        // it: 2 + 1 (tried) = 3 ties engineering's 3, and starts sooner.
        assert_eq!(ids, [it.id, later_engineering.id]);
        assert!(
            picks[0].reason.contains("уже была проба «Python за день»"),
            "{}",
            picks[0].reason
        );
        assert!(picks[1].reason.starts_with("Интерес «Человек — техника»"));
    }

    #[test]
    fn the_students_wish_and_the_mentors_level_lead_and_say_so() {
        let interests = vec![
            interest(
                "engineering",
                3,
                "интерес «Человек — техника» по тесту «ДДО Климова»",
            ),
            interest("it", 3, "интерес «Человек — знак» по тесту «ДДО Климова»"),
        ];
        let trials = [
            // Liked 3D printing and did well: engineering goes first, with both reasons.
            trial("engineering", "3D-печать", Some("advanced"), Some(true)),
            // Tried programming and did not want more: it is dropped despite the test.
            trial("it", "Программирование", Some("confident"), Some(false)),
            // Loved a medical trial the tests did not point to: it becomes a candidate.
            trial(
                "medicine",
                "Один день в клинике",
                Some("beginner"),
                Some(true),
            ),
            // Attended arts without interest or wish: nothing.
            trial("arts_design", "Скетчинг", None, None),
        ];
        let areas = weigh(&interests, &trials);
        let weights: Vec<(&str, u32)> = areas.iter().map(|a| (a.area.as_str(), a.weight)).collect();
        assert_eq!(weights, [("engineering", 7), ("medicine", 2)]);
        assert_eq!(
            areas[0].reasons,
            [
                "интерес «Человек — техника» по тесту «ДДО Климова»",
                "проба «3D-печать» понравилась, и хочется продолжить",
                "наставник отметил продвинутый уровень на пробе «3D-печать»",
            ]
        );
        let engineering = event("engineering", "in_person", &[], 5);
        let medicine = event("medicine", "in_person", &[], 1);
        let it = event("it", "online", &[], 1);
        let picks = rank(vec![medicine.clone(), it, engineering.clone()], &areas, &[]);
        let ids: Vec<EventId> = picks.iter().map(|p| p.event.id).collect();
        assert_eq!(ids, [engineering.id, medicine.id]);
        assert_eq!(
            picks[1].reason,
            "Проба «Один день в клинике» понравилась, и хочется продолжить"
        );
    }

    #[test]
    fn the_latest_answer_about_an_area_decides() {
        let interests = vec![interest("it", 2, "интерес")];
        let changed_mind = [
            trial("it", "Первая", None, Some(false)),
            trial("it", "Вторая", None, Some(true)),
        ];
        assert_eq!(weigh(&interests, &changed_mind)[0].weight, 4);
        let went_off = [
            trial("it", "Первая", None, Some(true)),
            trial("it", "Вторая", None, Some(false)),
        ];
        assert!(weigh(&interests, &went_off).is_empty());
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
        let areas = weigh(&interests, &[]);
        let picks = rank(
            vec![stairs, step_free.clone(), online.clone()],
            &areas,
            &["mobility".to_owned()],
        );
        let ids: Vec<EventId> = picks.iter().map(|p| p.event.id).collect();
        assert_eq!(ids, [step_free.id, online.id]);
        let picks = rank(vec![step_free, online], &areas, &["hearing".to_owned()]);
        assert!(picks.is_empty());
    }
}
