//! The one account role: every layer that speaks of who someone is in the program uses it.

/// A role in the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Student,
    Parent,
    Organizer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Student, Role::Parent, Role::Organizer, Role::Admin];

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "student" => Some(Role::Student),
            "parent" => Some(Role::Parent),
            "organizer" => Some(Role::Organizer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Parent => "parent",
            Role::Organizer => "organizer",
            Role::Admin => "admin",
        }
    }
}

impl TryFrom<String> for Role {
    type Error = crate::domain::vocabulary::UnknownValue;

    /// A stored role (`accounts.role`) read back.
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or(crate::domain::vocabulary::UnknownValue {
            vocabulary: "role",
            value,
        })
    }
}
