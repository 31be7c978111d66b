//! The test catalog: versioned test definitions kept as JSON in `catalog/`, embedded in
//! the binary, parsed and validated at startup into typed definitions. A broken
//! definition stops the service with every problem it has, named by test and version.
//!
//! A definition has two halves: what a student may see (title, questions, options, rating
//! ranges, scales and bands) and `scoring` (the Klimov key, which RIASEC type each item
//! feeds, the quiz's correct options), which never leaves the server.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::events::ProfessionArea;

/// The definitions shipped with this build: `(file name, JSON)`.
const FILES: &[(&str, &str)] = &[
    (
        "klimov-ddo.v1.json",
        include_str!("catalog/klimov-ddo.v1.json"),
    ),
    ("riasec.v1.json", include_str!("catalog/riasec.v1.json")),
    (
        "professions-quiz.v1.json",
        include_str!("catalog/professions-quiz.v1.json"),
    ),
];

/// Klimov's key gives each of the five types exactly eight options.
pub const KLIMOV_OPTIONS_PER_TYPE: usize = 8;
/// Time limits a definition may set.
const TIME_LIMIT_RANGE: std::ops::RangeInclusive<u64> = 60..=7200;

/// Every test definition, each version kept so that attempts started under an older one
/// can still be resumed and scored.
#[derive(Debug, Clone)]
pub struct Catalog {
    tests: Vec<Arc<TestDefinition>>,
}

/// One validated version of a test.
#[derive(Debug, Clone)]
pub struct TestDefinition {
    /// Stable id, e.g. `klimov-ddo`.
    pub id: String,
    pub version: u32,
    pub title: String,
    /// A few words, for lists and reasons, e.g. `ДДО Климова`.
    pub short_title: String,
    pub measures: String,
    pub description: String,
    pub instructions: String,
    pub estimated_minutes: u32,
    /// Timed tests only: the server fixes the deadline when an attempt starts.
    pub time_limit: Option<Duration>,
    pub scales: Vec<Scale>,
    pub bands: Vec<Band>,
    pub questions: Vec<Question>,
    pub scoring: Scoring,
}

/// What a test measures, with the profession areas ([`ProfessionArea`] names, checked at
/// load) that an interest in it points to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub id: String,
    pub name: String,
    pub description: String,
    pub areas: Vec<String>,
}

/// A range of scores and what it means.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub id: String,
    pub min: u32,
    pub max: u32,
    /// In Russian, e.g. `ярко выражена`.
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct Question {
    pub id: String,
    pub text: String,
    pub kind: QuestionKind,
}

#[derive(Debug, Clone)]
pub enum QuestionKind {
    /// Pick one option.
    Single { options: Vec<Choice> },
    /// Pick one or more options.
    Multiple { options: Vec<Choice> },
    /// A whole number from `min` to `max`.
    Rating {
        min: i32,
        max: i32,
        min_label: String,
        max_label: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub id: String,
    pub text: String,
}

/// How answers become scores; server-side only.
#[derive(Debug, Clone)]
pub enum Scoring {
    /// Each chosen option counts one point for the type the key gives it.
    Klimov {
        /// (question, option) → scale index.
        key: HashMap<(String, String), usize>,
    },
    /// Each rating adds to the sum of the item's type; the code is the top three types,
    /// ties broken by `tie_break`.
    Riasec {
        /// question → scale index.
        items: HashMap<String, usize>,
        /// Scale indices in tie-break order (earlier wins).
        tie_break: Vec<usize>,
    },
    /// One point per question answered exactly right.
    Quiz {
        /// question → the set of correct options.
        key: HashMap<String, BTreeSet<String>>,
        multiple: MultipleRule,
    },
}

/// What is wrong with the catalog; every problem of every definition at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CatalogError(pub Vec<String>);

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the test catalog is invalid: {}", self.0.join("; "))
    }
}

impl Catalog {
    /// The definitions shipped in `src/diagnostics/catalog/`.
    pub fn embedded() -> Result<Self, CatalogError> {
        Self::from_sources(FILES)
    }

    /// Parses and validates `(name, JSON)` sources.
    pub fn from_sources(files: &[(&str, &str)]) -> Result<Self, CatalogError> {
        let mut problems = Vec::new();
        let mut tests: Vec<Arc<TestDefinition>> = Vec::new();
        for (name, text) in files {
            let raw: RawTest = match serde_json::from_str(text) {
                Ok(raw) => raw,
                Err(err) => {
                    problems.push(format!("{name}: not a test definition: {err}"));
                    continue;
                }
            };
            let tag = format!("{}/{}", raw.id, raw.version);
            match validate(raw) {
                Ok(def) => {
                    if tests.iter().any(|t| t.version_tag() == def.version_tag()) {
                        problems.push(format!("{tag}: defined twice"));
                    } else {
                        tests.push(Arc::new(def));
                    }
                }
                Err(found) => problems.extend(found.into_iter().map(|p| format!("{tag}: {p}"))),
            }
        }
        if tests.is_empty() && problems.is_empty() {
            problems.push("no test definitions".to_owned());
        }
        if problems.is_empty() {
            Ok(Self { tests })
        } else {
            Err(CatalogError(problems))
        }
    }

    /// The current (highest) version of each test, in the order the files list them.
    pub fn current(&self) -> Vec<Arc<TestDefinition>> {
        let mut seen = Vec::new();
        let mut out: Vec<Arc<TestDefinition>> = Vec::new();
        for test in &self.tests {
            if seen.contains(&test.id) {
                continue;
            }
            seen.push(test.id.clone());
            if let Some(latest) = self.latest(&test.id) {
                out.push(latest);
            }
        }
        out
    }

    /// The current version of a test.
    pub fn latest(&self, id: &str) -> Option<Arc<TestDefinition>> {
        self.tests
            .iter()
            .filter(|t| t.id == id)
            .max_by_key(|t| t.version)
            .cloned()
    }

    /// A test at the version an attempt recorded, e.g. `klimov-ddo/1`.
    pub fn version(&self, tag: &str) -> Option<Arc<TestDefinition>> {
        self.tests.iter().find(|t| t.version_tag() == tag).cloned()
    }
}

impl TestDefinition {
    /// `<id>/<version>`, as attempts record it.
    pub fn version_tag(&self) -> String {
        format!("{}/{}", self.id, self.version)
    }

    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == id)
    }

    pub fn scale_index(&self, id: &str) -> Option<usize> {
        self.scales.iter().position(|s| s.id == id)
    }

    /// The band a scale score falls in; the validator made the bands cover every score.
    pub fn band(&self, score: u32) -> Option<&Band> {
        self.bands.iter().find(|b| (b.min..=b.max).contains(&score))
    }

    /// Whether the test reveals interests (and so feeds recommendations).
    pub fn measures_interests(&self) -> bool {
        matches!(
            self.scoring,
            Scoring::Klimov { .. } | Scoring::Riasec { .. }
        )
    }

    /// The lowest and highest score a scale can reach.
    pub fn scale_range(&self, scale: usize) -> (u32, u32) {
        match &self.scoring {
            Scoring::Klimov { key } => {
                let n = key.values().filter(|s| **s == scale).count();
                (0, u32::try_from(n).unwrap_or(u32::MAX))
            }
            Scoring::Riasec { items, .. } => {
                let (mut low, mut high) = (0i64, 0i64);
                for (question, _) in items.iter().filter(|(_, s)| **s == scale) {
                    if let Some(QuestionKind::Rating { min, max, .. }) =
                        self.question(question).map(|q| &q.kind)
                    {
                        low += i64::from(*min);
                        high += i64::from(*max);
                    }
                }
                (
                    u32::try_from(low).unwrap_or(0),
                    u32::try_from(high).unwrap_or(u32::MAX),
                )
            }
            Scoring::Quiz { key, .. } => (0, u32::try_from(key.len()).unwrap_or(u32::MAX)),
        }
    }
}

// ---- the file format -------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    id: String,
    version: u32,
    title: String,
    short_title: String,
    measures: String,
    description: String,
    instructions: String,
    estimated_minutes: u32,
    time_limit_seconds: Option<u64>,
    scales: Vec<Scale>,
    bands: Vec<Band>,
    questions: Vec<RawQuestion>,
    scoring: RawScoring,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
enum RawQuestion {
    Single {
        id: String,
        text: String,
        options: Vec<Choice>,
    },
    Multiple {
        id: String,
        text: String,
        options: Vec<Choice>,
    },
    Rating {
        id: String,
        text: String,
        min: i32,
        max: i32,
        min_label: String,
        max_label: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "method", rename_all = "snake_case")]
enum RawScoring {
    /// scale id → options as `<question id><option id>`, e.g. `10a`, as Klimov's key
    /// table prints them (option ids are one letter).
    Klimov { key: BTreeMap<String, Vec<String>> },
    /// scale id → the questions that feed it; `tie_break` lists every scale id.
    Riasec {
        items: BTreeMap<String, Vec<String>>,
        tie_break: Vec<String>,
    },
    /// question id → its correct options.
    Quiz {
        key: BTreeMap<String, Vec<String>>,
        multiple: MultipleRule,
    },
}

/// How a multiple-choice question is scored; only all-or-nothing exists so far, and the
/// file must say so, so that a reader of the definition never has to guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultipleRule {
    /// The chosen set must equal the correct set.
    AllOrNothing,
}

// ---- validation ------------------------------------------------------------------------

fn validate(raw: RawTest) -> Result<TestDefinition, Vec<String>> {
    let mut problems = Vec::new();
    let valid_id = !raw.id.is_empty()
        && raw.id.len() <= 64
        && raw
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_id {
        problems.push("id must be 1–64 lowercase letters, digits or `-`".to_owned());
    }
    if raw.version == 0 {
        problems.push("version must be 1 or more".to_owned());
    }
    for (field, value) in [
        ("title", &raw.title),
        ("short_title", &raw.short_title),
        ("measures", &raw.measures),
        ("description", &raw.description),
        ("instructions", &raw.instructions),
    ] {
        if value.trim().is_empty() {
            problems.push(format!("{field} is empty"));
        }
    }
    let time_limit = match raw.time_limit_seconds {
        None => None,
        Some(secs) if TIME_LIMIT_RANGE.contains(&secs) => Some(Duration::from_secs(secs)),
        Some(secs) => {
            problems.push(format!(
                "time_limit_seconds {secs} is outside {}–{}",
                TIME_LIMIT_RANGE.start(),
                TIME_LIMIT_RANGE.end()
            ));
            None
        }
    };

    let mut scale_ids = BTreeSet::new();
    for scale in &raw.scales {
        if scale.id.is_empty() || !scale_ids.insert(scale.id.clone()) {
            problems.push(format!("scale id `{}` is empty or repeated", scale.id));
        }
        for area in &scale.areas {
            if ProfessionArea::parse(area).is_err() {
                problems.push(format!(
                    "scale `{}` names unknown profession area `{area}`",
                    scale.id
                ));
            }
        }
    }
    if raw.scales.is_empty() {
        problems.push("no scales".to_owned());
    }

    let questions = validate_questions(&raw.questions, &mut problems);
    let scale_index = |id: &str| raw.scales.iter().position(|s| s.id == id);
    let question = |id: &str| questions.iter().find(|q| q.id == id);

    let scoring = match raw.scoring {
        RawScoring::Klimov { key } => {
            let mut map = HashMap::new();
            for (scale, options) in &key {
                let Some(index) = scale_index(scale) else {
                    problems.push(format!("key names unknown scale `{scale}`"));
                    continue;
                };
                if options.len() != KLIMOV_OPTIONS_PER_TYPE {
                    problems.push(format!(
                        "key for `{scale}` has {} options, expected {KLIMOV_OPTIONS_PER_TYPE}",
                        options.len()
                    ));
                }
                for entry in options {
                    let Some(split) = entry.char_indices().last().map(|(i, _)| i) else {
                        problems.push(format!("key for `{scale}` has an empty entry"));
                        continue;
                    };
                    let (qid, oid) = entry.split_at(split);
                    let known = question(qid).is_some_and(|q| match &q.kind {
                        QuestionKind::Single { options } => options.iter().any(|o| o.id == oid),
                        _ => false,
                    });
                    if !known {
                        problems.push(format!(
                            "key entry `{entry}` for `{scale}` is not an option of a single-choice question"
                        ));
                    } else if map
                        .insert((qid.to_owned(), oid.to_owned()), index)
                        .is_some()
                    {
                        problems.push(format!("key entry `{entry}` appears twice"));
                    }
                }
            }
            for scale in &raw.scales {
                if !key.contains_key(&scale.id) {
                    problems.push(format!("key has no options for `{}`", scale.id));
                }
            }
            for q in &questions {
                match &q.kind {
                    QuestionKind::Single { options } if options.len() == 2 => {
                        for o in options {
                            if !map.contains_key(&(q.id.clone(), o.id.clone())) {
                                problems.push(format!(
                                    "option `{}{}` is missing from the key",
                                    q.id, o.id
                                ));
                            }
                        }
                    }
                    _ => problems.push(format!(
                        "question `{}` must be a pair: single choice with two options",
                        q.id
                    )),
                }
            }
            Scoring::Klimov { key: map }
        }
        RawScoring::Riasec { items, tie_break } => {
            let mut map = HashMap::new();
            let mut per_scale = BTreeMap::new();
            for (scale, qids) in &items {
                let Some(index) = scale_index(scale) else {
                    problems.push(format!("items name unknown scale `{scale}`"));
                    continue;
                };
                per_scale.insert(scale.clone(), qids.len());
                for qid in qids {
                    if !question(qid).is_some_and(|q| matches!(q.kind, QuestionKind::Rating { .. }))
                    {
                        problems.push(format!(
                            "item `{qid}` of `{scale}` is not a rating question"
                        ));
                    } else if map.insert(qid.clone(), index).is_some() {
                        problems.push(format!("item `{qid}` feeds more than one type"));
                    }
                }
            }
            for scale in &raw.scales {
                if !per_scale.contains_key(&scale.id) {
                    problems.push(format!("no items feed `{}`", scale.id));
                }
            }
            let counts: BTreeSet<usize> = per_scale.values().copied().collect();
            if counts.len() > 1 {
                problems.push(format!(
                    "types must have equal numbers of items, found {per_scale:?}"
                ));
            }
            for q in &questions {
                if !map.contains_key(&q.id) {
                    problems.push(format!("question `{}` feeds no type", q.id));
                }
            }
            let order: Vec<usize> = tie_break.iter().filter_map(|s| scale_index(s)).collect();
            let distinct: BTreeSet<usize> = order.iter().copied().collect();
            if order.len() != tie_break.len()
                || distinct.len() != order.len()
                || order.len() != raw.scales.len()
            {
                problems.push("tie_break must list every scale exactly once".to_owned());
            }
            if raw.scales.len() < 3 {
                problems.push("a Holland code needs at least three types".to_owned());
            }
            Scoring::Riasec {
                items: map,
                tie_break: order,
            }
        }
        RawScoring::Quiz { key, multiple } => {
            let mut map = HashMap::new();
            for (qid, correct) in &key {
                let Some(q) = question(qid) else {
                    problems.push(format!("key names unknown question `{qid}`"));
                    continue;
                };
                let correct: BTreeSet<String> = correct.iter().cloned().collect();
                let (options, single) = match &q.kind {
                    QuestionKind::Single { options } => (options, true),
                    QuestionKind::Multiple { options } => (options, false),
                    QuestionKind::Rating { .. } => {
                        problems.push(format!(
                            "quiz question `{qid}` must be single or multiple choice"
                        ));
                        continue;
                    }
                };
                for option in &correct {
                    if !options.iter().any(|o| &o.id == option) {
                        problems.push(format!("key for `{qid}` names unknown option `{option}`"));
                    }
                }
                if single && correct.len() != 1 {
                    problems.push(format!(
                        "single-choice `{qid}` must have exactly one correct option"
                    ));
                }
                if !single && (correct.is_empty() || correct.len() >= options.len()) {
                    problems.push(format!(
                        "multiple-choice `{qid}` must have some, but not all, options correct"
                    ));
                }
                map.insert(qid.clone(), correct);
            }
            for q in &questions {
                if !key.contains_key(&q.id) {
                    problems.push(format!("question `{}` has no key", q.id));
                }
            }
            if raw.scales.len() != 1 {
                problems.push("a quiz has exactly one scale, its total".to_owned());
            }
            Scoring::Quiz { key: map, multiple }
        }
    };

    let def = TestDefinition {
        id: raw.id,
        version: raw.version,
        title: raw.title,
        short_title: raw.short_title,
        measures: raw.measures,
        description: raw.description,
        instructions: raw.instructions,
        estimated_minutes: raw.estimated_minutes,
        time_limit,
        scales: raw.scales,
        bands: raw.bands,
        questions,
        scoring,
    };
    if problems.is_empty() {
        validate_bands(&def, &mut problems);
    }
    if problems.is_empty() {
        Ok(def)
    } else {
        Err(problems)
    }
}

fn validate_questions(raw: &[RawQuestion], problems: &mut Vec<String>) -> Vec<Question> {
    let mut ids = BTreeSet::new();
    let mut out = Vec::new();
    if raw.is_empty() {
        problems.push("no questions".to_owned());
    }
    for question in raw {
        let (id, text, kind) = match question {
            RawQuestion::Single { id, text, options } => (
                id,
                text,
                QuestionKind::Single {
                    options: options.clone(),
                },
            ),
            RawQuestion::Multiple { id, text, options } => (
                id,
                text,
                QuestionKind::Multiple {
                    options: options.clone(),
                },
            ),
            RawQuestion::Rating {
                id,
                text,
                min,
                max,
                min_label,
                max_label,
            } => {
                if min >= max {
                    problems.push(format!("rating `{id}` needs min < max"));
                }
                (
                    id,
                    text,
                    QuestionKind::Rating {
                        min: *min,
                        max: *max,
                        min_label: min_label.clone(),
                        max_label: max_label.clone(),
                    },
                )
            }
        };
        let valid_id = !id.is_empty()
            && id.len() <= 32
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_id {
            problems.push(format!(
                "question id `{id}` must be 1–32 letters, digits, `-` or `_`"
            ));
        }
        if !ids.insert(id.clone()) {
            problems.push(format!("question id `{id}` is repeated"));
        }
        if text.trim().is_empty() {
            problems.push(format!("question `{id}` has no text"));
        }
        if let QuestionKind::Single { options } | QuestionKind::Multiple { options } = &kind {
            if options.len() < 2 {
                problems.push(format!("question `{id}` needs at least two options"));
            }
            let mut seen = BTreeSet::new();
            for option in options {
                if option.id.chars().count() != 1
                    || !option.id.chars().all(|c| c.is_ascii_lowercase())
                {
                    problems.push(format!(
                        "option `{}` of `{id}` must be one lowercase Latin letter",
                        option.id
                    ));
                }
                if !seen.insert(option.id.clone()) {
                    problems.push(format!("option `{}` of `{id}` is repeated", option.id));
                }
                if option.text.trim().is_empty() {
                    problems.push(format!("option `{}` of `{id}` has no text", option.id));
                }
            }
        }
        out.push(Question {
            id: id.clone(),
            text: text.clone(),
            kind,
        });
    }
    out
}

/// Bands must cover every score a scale can reach, without gaps or overlaps.
fn validate_bands(def: &TestDefinition, problems: &mut Vec<String>) {
    let mut bands = def.bands.clone();
    bands.sort_by_key(|b| b.min);
    if bands.is_empty() {
        problems.push("no bands".to_owned());
        return;
    }
    for pair in bands.windows(2) {
        if pair[0].max + 1 != pair[1].min {
            problems.push(format!(
                "bands `{}` and `{}` leave a gap or overlap",
                pair[0].id, pair[1].id
            ));
        }
    }
    for band in &bands {
        if band.min > band.max {
            problems.push(format!("band `{}` has min > max", band.id));
        }
    }
    for (index, scale) in def.scales.iter().enumerate() {
        let (low, high) = def.scale_range(index);
        let covered = bands.first().is_some_and(|b| b.min <= low)
            && bands.last().is_some_and(|b| b.max >= high);
        if !covered {
            problems.push(format!(
                "bands do not cover the scores {low}–{high} of `{}`",
                scale.id
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// A shipped definition as JSON, changed by `edit`, then validated alone.
    fn edited(file: usize, edit: impl FnOnce(&mut Value)) -> CatalogError {
        let mut value: Value = serde_json::from_str(FILES[file].1).unwrap();
        edit(&mut value);
        let text = value.to_string();
        Catalog::from_sources(&[(FILES[file].0, &text)]).unwrap_err()
    }

    #[test]
    fn the_shipped_catalog_points_to_every_profession_area_and_no_other() {
        let catalog = Catalog::embedded().unwrap();
        let named: BTreeSet<ProfessionArea> = catalog
            .current()
            .iter()
            .flat_map(|test| test.scales.iter().flat_map(|scale| scale.areas.iter()))
            .map(|area| ProfessionArea::parse(area).unwrap())
            .collect();
        let all: BTreeSet<ProfessionArea> = ProfessionArea::ALL.into_iter().collect();
        assert_eq!(named, all);
    }

    #[test]
    fn the_shipped_catalog_is_valid() {
        let catalog = Catalog::embedded().unwrap();
        let ids: Vec<String> = catalog.current().iter().map(|t| t.id.clone()).collect();
        assert_eq!(ids, ["klimov-ddo", "riasec", "professions-quiz"]);
        let klimov = catalog.version("klimov-ddo/1").unwrap();
        assert_eq!(klimov.questions.len(), 20);
        assert_eq!(klimov.scales.len(), 5);
        let riasec = catalog.latest("riasec").unwrap();
        assert_eq!(riasec.questions.len(), 30);
        let quiz = catalog.latest("professions-quiz").unwrap();
        assert_eq!(quiz.questions.len(), 15);
        assert_eq!(quiz.time_limit, Some(Duration::from_secs(600)));
    }

    #[test]
    fn a_klimov_key_with_a_missing_option_fails_with_a_clear_message() {
        let err = edited(0, |v| {
            v["scoring"]["key"]["nature"]
                .as_array_mut()
                .unwrap()
                .retain(|o| o != "1a");
        });
        let text = err.to_string();
        assert!(
            text.contains("klimov-ddo/1: key for `nature` has 7 options, expected 8"),
            "{text}"
        );
        assert!(
            text.contains("option `1a` is missing from the key"),
            "{text}"
        );
    }

    #[test]
    fn a_repeated_question_id_and_an_unknown_area_are_both_reported() {
        let err = edited(0, |v| {
            v["questions"][1]["id"] = json!("1");
            v["scales"][0]["areas"][0] = json!("astrology");
        });
        let text = err.to_string();
        assert!(text.contains("question id `1` is repeated"), "{text}");
        assert!(
            text.contains("unknown profession area `astrology`"),
            "{text}"
        );
    }

    #[test]
    fn a_quiz_key_naming_a_missing_option_is_refused() {
        let err = edited(2, |v| v["scoring"]["key"]["q02"] = json!(["z"]));
        assert!(
            err.to_string()
                .contains("key for `q02` names unknown option `z`"),
            "{err}"
        );
    }

    #[test]
    fn riasec_types_must_have_equal_numbers_of_items() {
        let err = edited(1, |v| {
            v["scoring"]["items"]["R"]
                .as_array_mut()
                .unwrap()
                .push(json!("i5"));
        });
        let text = err.to_string();
        assert!(text.contains("feeds more than one type"), "{text}");
        assert!(text.contains("equal numbers of items"), "{text}");
    }

    #[test]
    fn an_absurd_time_limit_and_unknown_fields_are_refused() {
        let err = edited(2, |v| v["time_limit_seconds"] = json!(5));
        assert!(err.to_string().contains("time_limit_seconds 5"), "{err}");
        let err = edited(2, |v| v["colour"] = json!(3));
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn bands_with_a_gap_are_refused() {
        let err = edited(0, |v| v["bands"][1]["min"] = json!(4));
        assert!(err.to_string().contains("leave a gap or overlap"), "{err}");
    }

    #[test]
    fn the_same_version_twice_is_refused() {
        let source = FILES[0].1;
        let err = Catalog::from_sources(&[("a.json", source), ("b.json", source)]).unwrap_err();
        assert!(
            err.to_string().contains("klimov-ddo/1: defined twice"),
            "{err}"
        );
    }
}
