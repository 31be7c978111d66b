//! Closed vocabularies: the values a checked text column allows, as Rust enums. Each has
//! its list (`ALL`), its stored name (`as_str`), and reads back from a row through
//! `TryFrom<String>`, so that `store/` rows hold the enum (`#[sqlx(try_from = "String")]`)
//! and a value the code does not know is a decode error, never a silent default. The
//! columns keep their CHECKs; tests compare each list with its migration.

/// A stored value that is not one of its vocabulary's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a known {vocabulary}")]
pub struct UnknownValue {
    pub vocabulary: &'static str,
    pub value: String,
}

/// Declares a closed vocabulary: `Name { Variant = "stored_name", … }`.
macro_rules! vocabulary {
    (
        $(#[$doc:meta])*
        $name:ident ($what:literal) {
            $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in the order the column's check lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value stored as `name`.
            pub fn parse(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|value| value.as_str() == name)
            }

            /// Every stored name, in order (for the contract's `enum`).
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|value| value.as_str()).collect()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::domain::vocabulary::UnknownValue;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value).ok_or($crate::domain::vocabulary::UnknownValue {
                    vocabulary: $what,
                    value,
                })
            }
        }
    };
}

pub(crate) use vocabulary;
