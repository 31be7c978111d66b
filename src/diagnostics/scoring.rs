//! Scoring, as pure functions from a definition and the answers to a result: per-scale
//! scores and bands, the leading types (Klimov), the Holland code (RIASEC), the total
//! (quiz), and a short explanation in Russian.
//!
//! - Klimov's ДДО: one point for the type the key gives each chosen option; bands from
//!   the definition (0–2 weak, 3–6 moderate, 7–8 strong); the leading types are all those
//!   sharing the highest count.
//! - RIASEC: the sum of the ratings of each type's items; the code is the three highest
//!   types, ties broken by the definition's fixed order (R, I, A, S, E, C: Holland's
//!   hexagon), so the same answers always give the same code.
//! - Quiz: one point per question answered exactly right. Multiple choice is
//!   all-or-nothing: the chosen set must equal the correct set; no partial credit, so that
//!   ticking every box never pays.
//!
//! Unanswered questions score nothing.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::answers::AnswerValue;
use super::catalog::{MultipleRule, Scoring, TestDefinition};

/// A scored attempt, stored as JSON in `test_results.scores`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scored {
    pub scales: Vec<ScaleScore>,
    /// Ids of the leading scales, strongest first (Klimov: every type tied at the top;
    /// RIASEC: the three letters of the code; quiz: none).
    pub top: Vec<String>,
    /// The Holland code, e.g. `SAE` (RIASEC only).
    pub code: Option<String>,
    /// Questions answered and questions in the test.
    pub answered: u32,
    pub questions: u32,
    /// A short explanation in Russian.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleScore {
    pub id: String,
    pub name: String,
    pub score: u32,
    pub max: u32,
    pub band: String,
    pub band_label: String,
}

/// Scores `answers` (question id → value) under `def`.
pub fn score(def: &TestDefinition, answers: &HashMap<String, AnswerValue>) -> Scored {
    let answered = def
        .questions
        .iter()
        .filter(|q| answers.contains_key(&q.id))
        .count();
    let mut points = vec![0u32; def.scales.len()];
    let (top, code, summary);
    match &def.scoring {
        Scoring::Klimov { key } => {
            for (question, value) in answers {
                if let AnswerValue::Option(option) = value
                    && let Some(scale) = key.get(&(question.clone(), option.clone()))
                {
                    points[*scale] += 1;
                }
            }
            let best = points.iter().copied().max().unwrap_or(0);
            let leaders: Vec<usize> = (0..points.len())
                .filter(|i| best > 0 && points[*i] == best)
                .collect();
            top = leaders.iter().map(|i| def.scales[*i].id.clone()).collect();
            code = None;
            summary = klimov_summary(def, &leaders, best);
        }
        Scoring::Riasec { items, tie_break } => {
            for (question, value) in answers {
                if let AnswerValue::Rating(rating) = value
                    && let Some(scale) = items.get(question)
                {
                    points[*scale] += u32::try_from(*rating).unwrap_or(0);
                }
            }
            let mut order = tie_break.clone();
            // A stable sort on the score keeps the tie-break order among equals.
            order.sort_by(|a, b| points[*b].cmp(&points[*a]));
            let leaders: Vec<usize> = order.into_iter().take(3).collect();
            let letters: String = leaders.iter().map(|i| def.scales[*i].id.as_str()).collect();
            top = leaders.iter().map(|i| def.scales[*i].id.clone()).collect();
            summary = riasec_summary(def, &leaders, &letters);
            code = Some(letters);
        }
        Scoring::Quiz { key, multiple } => {
            let right = def
                .questions
                .iter()
                .filter(|q| {
                    let Some(correct) = key.get(&q.id) else {
                        return false;
                    };
                    match answers.get(&q.id) {
                        Some(AnswerValue::Option(chosen)) => {
                            correct.len() == 1 && correct.contains(chosen)
                        }
                        Some(AnswerValue::Options(chosen)) => match multiple {
                            MultipleRule::AllOrNothing => {
                                chosen.len() == correct.len()
                                    && chosen.iter().all(|c| correct.contains(c))
                            }
                        },
                        _ => false,
                    }
                })
                .count();
            let right = u32::try_from(right).unwrap_or(u32::MAX);
            points[0] = right;
            top = Vec::new();
            code = None;
            let band = band(def, right);
            summary = format!(
                "Верных ответов: {right} из {} — {}.",
                def.questions.len(),
                band.1
            );
        }
    }
    let scales = def
        .scales
        .iter()
        .enumerate()
        .map(|(i, scale)| {
            let (band, band_label) = band(def, points[i]);
            ScaleScore {
                id: scale.id.clone(),
                name: scale.name.clone(),
                score: points[i],
                max: def.scale_range(i).1,
                band,
                band_label,
            }
        })
        .collect();
    Scored {
        scales,
        top,
        code,
        answered: u32::try_from(answered).unwrap_or(u32::MAX),
        questions: u32::try_from(def.questions.len()).unwrap_or(u32::MAX),
        summary,
    }
}

/// The band of a score; a score below the lowest band (possible only with unanswered
/// rating items) takes the lowest.
fn band(def: &TestDefinition, score: u32) -> (String, String) {
    def.band(score)
        .or_else(|| def.bands.iter().min_by_key(|b| b.min))
        .map(|b| (b.id.clone(), b.label.clone()))
        .unwrap_or_default()
}

fn klimov_summary(def: &TestDefinition, leaders: &[usize], best: u32) -> String {
    let max = def.scale_range(0).1;
    let (_, label) = band(def, best);
    match leaders {
        _ if best <= 2 => "Ни один тип профессий пока не выделяется: склонности ещё \
                           складываются. Попробуйте другие тесты и профессиональные пробы."
            .to_owned(),
        [one] => {
            let scale = &def.scales[*one];
            format!(
                "Больше всего вам подходят профессии типа «{}» ({best} из {max}, склонность {label}). {}",
                scale.name, scale.description
            )
        }
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|i| format!("«{}»", def.scales[*i].name))
                .collect();
            format!(
                "Одинаково выражены типы {} (по {best} из {max}, склонность {label}). \
                 Стоит попробовать себя в каждом из них.",
                names.join(" и ")
            )
        }
    }
}

fn riasec_summary(def: &TestDefinition, leaders: &[usize], code: &str) -> String {
    let names: Vec<String> = leaders
        .iter()
        .map(|i| def.scales[*i].name.to_lowercase())
        .collect();
    let first = leaders.first().map(|i| &def.scales[*i]);
    match first {
        Some(first) => format!(
            "Ваш код Холланда — {code}: {}. Ведущий тип — {}: {}",
            names.join(", "),
            first.name.to_lowercase(),
            first.description.to_lowercase()
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::catalog::Catalog;

    fn klimov() -> std::sync::Arc<TestDefinition> {
        Catalog::embedded().unwrap().latest("klimov-ddo").unwrap()
    }

    /// Answers given as `1a 2b …`.
    fn pairs(text: &str) -> HashMap<String, AnswerValue> {
        text.split_whitespace()
            .map(|entry| {
                let (q, o) = entry.split_at(entry.len() - 1);
                (q.to_owned(), AnswerValue::Option(o.to_owned()))
            })
            .collect()
    }

    fn scores(scored: &Scored) -> Vec<(&str, u32, &str)> {
        scored
            .scales
            .iter()
            .map(|s| (s.id.as_str(), s.score, s.band.as_str()))
            .collect()
    }

    // The expected counts below were worked out by hand from the key in DOMAIN-TESTS.md:
    // природа 1а 3б 6а 10а 11а 13б 16а 20а, техника 1б 4а 7б 9а 11б 14а 17б 19а,
    // человек 2а 4б 6б 8а 12а 14б 16б 18а, знак 2б 5а 9б 10б 12б 15а 19б 20б,
    // художественный образ 3а 5б 7а 8б 13а 15б 17а 18б.

    #[test]
    fn klimov_all_first_options_lean_to_nature() {
        // а in every pair: природа 1,6,10,11,16,20 = 6; техника 4,9,14,19 = 4;
        // человек 2,8,12,18 = 4; знак 5,15 = 2; образ 3,7,13,17 = 4.
        let answers =
            pairs("1a 2a 3a 4a 5a 6a 7a 8a 9a 10a 11a 12a 13a 14a 15a 16a 17a 18a 19a 20a");
        let scored = score(&klimov(), &answers);
        assert_eq!(
            scores(&scored),
            [
                ("nature", 6, "moderate"),
                ("technology", 4, "moderate"),
                ("people", 4, "moderate"),
                ("signs", 2, "weak"),
                ("art", 4, "moderate"),
            ]
        );
        assert_eq!(scored.top, ["nature"]);
        assert_eq!((scored.answered, scored.questions), (20, 20));
    }

    #[test]
    fn klimov_all_second_options_lean_to_signs() {
        // б in every pair: природа 3,13 = 2; техника 1,7,11,17 = 4; человек 4,6,14,16 = 4;
        // знак 2,9,10,12,19,20 = 6; образ 5,8,15,18 = 4.
        let answers =
            pairs("1b 2b 3b 4b 5b 6b 7b 8b 9b 10b 11b 12b 13b 14b 15b 16b 17b 18b 19b 20b");
        let scored = score(&klimov(), &answers);
        assert_eq!(
            scores(&scored),
            [
                ("nature", 2, "weak"),
                ("technology", 4, "moderate"),
                ("people", 4, "moderate"),
                ("signs", 6, "moderate"),
                ("art", 4, "moderate"),
            ]
        );
        assert_eq!(scored.top, ["signs"]);
    }

    #[test]
    fn klimov_every_technology_option_is_a_strong_inclination() {
        // All eight техника options; then человек where a pair offers it (2,6,8,12,16,18),
        // then образ (3,5,13,15), then знак (10,20): 0 / 8 / 6 / 2 / 4.
        let answers =
            pairs("1b 4a 7b 9a 11b 14a 17b 19a 2a 6b 8a 12a 16b 18a 3a 5b 13a 15b 10b 20b");
        let scored = score(&klimov(), &answers);
        assert_eq!(
            scores(&scored),
            [
                ("nature", 0, "weak"),
                ("technology", 8, "strong"),
                ("people", 6, "moderate"),
                ("signs", 2, "weak"),
                ("art", 4, "moderate"),
            ]
        );
        assert_eq!(scored.top, ["technology"]);
        assert!(
            scored.summary.contains("«Человек — техника» (8 из 8"),
            "{}",
            scored.summary
        );
    }

    #[test]
    fn klimov_keeps_every_type_tied_at_the_top() {
        // природа and техника share only pairs 1 and 11: 1а to природа, 11б to техника,
        // the other six of each: 7 and 7; then 2а 8а 12а 18а человек (4), 5а 15а знак (2).
        let answers =
            pairs("1a 3b 6a 10a 13b 16a 20a 11b 4a 7b 9a 14a 17b 19a 2a 8a 12a 18a 5a 15a");
        let scored = score(&klimov(), &answers);
        assert_eq!(
            scores(&scored),
            [
                ("nature", 7, "strong"),
                ("technology", 7, "strong"),
                ("people", 4, "moderate"),
                ("signs", 2, "weak"),
                ("art", 0, "weak"),
            ]
        );
        assert_eq!(scored.top, ["nature", "technology"]);
        assert!(scored.summary.contains("Одинаково выражены"));
    }

    #[test]
    fn klimov_unanswered_pairs_score_nothing() {
        let scored = score(&klimov(), &pairs("1a 2a 3a 4a 5a"));
        assert_eq!(
            scored.scales.iter().map(|s| s.score).collect::<Vec<_>>(),
            [1, 1, 1, 1, 1]
        );
        assert_eq!(scored.answered, 5);
        assert!(scored.summary.contains("пока не выделяется"));
    }

    fn riasec_answers(ratings: &[(char, i32)]) -> HashMap<String, AnswerValue> {
        let mut answers = HashMap::new();
        for (letter, rating) in ratings {
            for n in 1..=5 {
                answers.insert(
                    format!("{}{n}", letter.to_ascii_lowercase()),
                    AnswerValue::Rating(*rating),
                );
            }
        }
        answers
    }

    #[test]
    fn riasec_code_is_the_top_three_types_with_a_fixed_tie_break() {
        let riasec = Catalog::embedded().unwrap().latest("riasec").unwrap();
        let answers = riasec_answers(&[('R', 1), ('I', 2), ('A', 4), ('S', 5), ('E', 4), ('C', 1)]);
        let scored = score(&riasec, &answers);
        // S = 25; A and E tie at 20 and A comes first in R-I-A-S-E-C.
        assert_eq!(scored.code.as_deref(), Some("SAE"));
        assert_eq!(scored.top, ["S", "A", "E"]);
        assert_eq!(scored.scales[3].score, 25);
        assert_eq!(scored.scales[3].band, "strong");
        assert_eq!(scored.scales[0].band, "weak");
        assert!(scored.summary.starts_with("Ваш код Холланда — SAE"));

        let flat = riasec_answers(&[('R', 3), ('I', 3), ('A', 3), ('S', 3), ('E', 3), ('C', 3)]);
        assert_eq!(score(&riasec, &flat).code.as_deref(), Some("RIA"));
    }

    #[test]
    fn quiz_multiple_choice_is_all_or_nothing() {
        let quiz = Catalog::embedded()
            .unwrap()
            .latest("professions-quiz")
            .unwrap();
        let Scoring::Quiz { key, .. } = &quiz.scoring else {
            panic!("a quiz")
        };
        let mut answers: HashMap<String, AnswerValue> = quiz
            .questions
            .iter()
            .map(|q| {
                let correct: Vec<String> = key[&q.id].iter().cloned().collect();
                let value = match &q.kind {
                    crate::diagnostics::catalog::QuestionKind::Multiple { .. } => {
                        AnswerValue::Options(correct)
                    }
                    _ => AnswerValue::Option(correct[0].clone()),
                };
                (q.id.clone(), value)
            })
            .collect();
        let all = score(&quiz, &answers);
        assert_eq!(all.scales[0].score, 15);
        assert_eq!(all.scales[0].band, "strong");
        // q05's correct set is {a, c}: half of it earns nothing, and so does everything.
        answers.insert("q05".into(), AnswerValue::Options(vec!["a".into()]));
        answers.insert(
            "q08".into(),
            AnswerValue::Options(vec!["a".into(), "b".into(), "c".into(), "d".into()]),
        );
        answers.remove("q01");
        let some = score(&quiz, &answers);
        assert_eq!(some.scales[0].score, 12);
        assert_eq!(some.answered, 14);
        assert_eq!(some.summary, "Верных ответов: 12 из 15 — отличный уровень.");
    }
}
