//! Message templates from `push-config/templates/`: per kind, audience and language, a
//! title and a body with placeholders. Loaded and checked at startup: every kind with a
//! policy has a text for each of its audiences in Russian and English, and uses only the
//! placeholders its domain event provides.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use super::policy::{POLICIES, Plan};
use crate::domain::domain_events::Kind;
use crate::store::deliveries::Relation;

/// Languages every text exists in.
pub const LANGUAGES: [&str; 2] = ["ru", "en"];

/// One text: a title and a body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub title: String,
    pub body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    subject: BTreeMap<String, Text>,
    #[serde(default)]
    parent: BTreeMap<String, Text>,
}

/// All templates, by (kind, audience, language).
#[derive(Debug, Clone, Default)]
pub struct Templates {
    texts: HashMap<(Kind, &'static str, String), Text>,
}

#[derive(Debug, thiserror::Error)]
#[error("templates in {dir}: {problems}")]
pub struct TemplateError {
    pub dir: String,
    pub problems: String,
}

fn audience(relation: Relation) -> &'static str {
    match relation {
        Relation::Subject => "subject",
        Relation::Parent => "parent",
    }
}

impl Templates {
    /// Loads and checks every template; all problems are reported together.
    pub fn load(dir: &Path) -> Result<Self, TemplateError> {
        let mut problems = Vec::new();
        let mut texts = HashMap::new();
        for policy in POLICIES {
            let path = dir.join(format!("{}.toml", policy.kind));
            let file: File = match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| toml::from_str(&t).map_err(|e| e.message().to_owned()))
            {
                Ok(file) => file,
                Err(reason) => {
                    problems.push(format!("{}: {reason}", path.display()));
                    continue;
                }
            };
            for (relation, plan, section) in [
                (Relation::Subject, policy.subject, &file.subject),
                (Relation::Parent, policy.parent, &file.parent),
            ] {
                let Some(_plan): Option<Plan> = plan else {
                    continue;
                };
                for language in LANGUAGES {
                    let Some(text) = section.get(language) else {
                        problems.push(format!(
                            "{}: no [{}.{language}]",
                            policy.kind,
                            audience(relation)
                        ));
                        continue;
                    };
                    for placeholder in placeholders(&text.title).chain(placeholders(&text.body)) {
                        if !policy.placeholders.contains(&placeholder) {
                            problems.push(format!(
                                "{} [{}.{language}]: unknown placeholder {{{placeholder}}}",
                                policy.kind,
                                audience(relation)
                            ));
                        }
                    }
                    texts.insert(
                        (policy.kind, audience(relation), language.to_owned()),
                        text.clone(),
                    );
                }
            }
        }
        if problems.is_empty() {
            Ok(Self { texts })
        } else {
            Err(TemplateError {
                dir: dir.display().to_string(),
                problems: problems.join("; "),
            })
        }
    }

    /// The rendered text, or `None` when the kind has none for this audience.
    pub fn render(
        &self,
        kind: Kind,
        relation: Relation,
        language: &str,
        values: &HashMap<&str, String>,
    ) -> Option<Text> {
        let language = if LANGUAGES.contains(&language) {
            language
        } else {
            "ru"
        };
        let text = self
            .texts
            .get(&(kind, audience(relation), language.to_owned()))?;
        Some(Text {
            title: fill(&text.title, values),
            body: fill(&text.body, values),
        })
    }
}

fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

fn fill(text: &str, values: &HashMap<&str, String>) -> String {
    let mut out = text.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_templates_load_and_render() {
        let templates = Templates::load(Path::new("push-config/templates")).unwrap();
        let values = HashMap::from([
            ("event_title", "Робототехника".to_owned()),
            ("starts_at", "5 декабря, 14:00".to_owned()),
            ("reason", "ремонт".to_owned()),
        ]);
        let text = templates
            .render(Kind::EventCancelled, Relation::Parent, "ru", &values)
            .unwrap();
        assert_eq!(text.title, "Проба ребёнка отменена");
        assert!(text.body.contains("«Робототехника» 5 декабря, 14:00"));
        assert!(
            templates
                .render(Kind::SignupRequested, Relation::Subject, "ru", &values)
                .is_none()
        );
    }

    #[test]
    fn a_missing_language_or_an_unknown_placeholder_fails_loading() {
        let dir = std::env::temp_dir().join(format!("bilet-templates-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir("push-config/templates").unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
        std::fs::write(
            dir.join("signup_approved.toml"),
            "[subject.ru]\ntitle = \"Одобрено\"\nbody = \"Привет, {student_name}\"\n",
        )
        .unwrap();
        let err = Templates::load(&dir).unwrap_err().to_string();
        assert!(err.contains("unknown placeholder {student_name}"), "{err}");
        assert!(err.contains("no [subject.en]"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
