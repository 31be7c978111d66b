//! The consent texts a parent agrees to, versioned in the repository (in Russian). A new
//! version is a new file and a new entry here; records keep the version they were given
//! under.

pub use crate::domain::consents::ConsentKind;

/// One version of one consent text.
#[derive(Debug)]
pub struct ConsentText {
    pub kind: ConsentKind,
    pub version: &'static str,
    pub text: &'static str,
}

/// Every version, oldest first within a kind.
pub const TEXTS: &[ConsentText] = &[
    ConsentText {
        kind: ConsentKind::PersonalData,
        version: "personal_data/v1",
        text: include_str!("texts/personal_data.v1.md"),
    },
    ConsentText {
        kind: ConsentKind::HealthData,
        version: "health_data/v1",
        text: include_str!("texts/health_data.v1.md"),
    },
    ConsentText {
        kind: ConsentKind::PhotoVideo,
        version: "photo_video/v1",
        text: include_str!("texts/photo_video.v1.md"),
    },
];

/// The version parents agree to now.
pub fn current(kind: ConsentKind) -> &'static ConsentText {
    TEXTS
        .iter()
        .rev()
        .find(|t| t.kind == kind)
        .expect("every kind has a text")
}

/// The title: the text's first line without its `#`.
pub fn title(text: &ConsentText) -> &'static str {
    text.text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches('#')
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_current_text_with_a_title() {
        for kind in ConsentKind::ALL {
            let text = current(kind);
            assert!(text.version.starts_with(kind.as_str()));
            assert!(title(text).starts_with("Согласие"));
        }
    }
}
