//! What a consent covers.

use serde::{Deserialize, Serialize};

/// What a consent covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    /// The child's personal data; required to take part in practical events.
    PersonalData,
    /// ОВЗ status and needs, a special category under 152-ФЗ.
    HealthData,
    PhotoVideo,
}

impl ConsentKind {
    pub const ALL: [ConsentKind; 3] = [
        ConsentKind::PersonalData,
        ConsentKind::HealthData,
        ConsentKind::PhotoVideo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentKind::PersonalData => "personal_data",
            ConsentKind::HealthData => "health_data",
            ConsentKind::PhotoVideo => "photo_video",
        }
    }
}

/// Where a consent record stands: the one in force, one withdrawn, or one a newer record
/// replaced.
pub const CONSENT_STATUSES: &[&str] = &["current", "withdrawn", "superseded"];
