//! Push tokens, each in the shape its platform issues: a token that could never reach a
//! phone is refused when registered, not discovered when a notice fails to leave.

use super::Reason;

/// The push service a device's token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushPlatform {
    /// APNs: 32 bytes today, written as 64 hexadecimal characters; Apple says the length
    /// may grow, so up to 100 bytes are taken.
    Apns,
    /// FCM registration tokens: an instance id, a colon, and a long base64url string.
    Fcm,
    /// RuStore push tokens: a base64url-style string.
    Rustore,
}

/// The platform of a registered device, as the `devices.platform` column allows it.
pub const DEVICE_PLATFORMS: &[&str] = &["ios", "android-fcm", "android-rustore"];

/// A push token in its platform's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceToken(String);

/// What every token of every platform looks like, as the API document states it: the
/// union of the three shapes [`DeviceToken::parse`] takes (each platform's is narrower).
pub const TOKEN_PATTERN: &str = "^[A-Za-z0-9_:-]{32,4096}$";
/// The shortest and longest token of any platform.
pub const TOKEN_LENGTH: std::ops::RangeInclusive<usize> = 32..=4096;

impl DeviceToken {
    /// `simulated`: the platform's channel is served by its local simulator, which also
    /// takes the test tokens its fault injection keys on (`unregistered-…`, `slow-…`):
    /// 8–200 letters, digits, `.`, `_`, `:` or `-`, starting with a letter.
    pub fn parse(input: &str, platform: PushPlatform, simulated: bool) -> Result<Self, Reason> {
        let token = input.trim();
        let shaped = match platform {
            PushPlatform::Apns => {
                (64..=200).contains(&token.len())
                    && token.len().is_multiple_of(2)
                    && token.bytes().all(|b| b.is_ascii_hexdigit())
            }
            PushPlatform::Fcm => {
                (100..=4096).contains(&token.len())
                    && token.bytes().all(is_base64url_or_colon)
                    && token
                        .split_once(':')
                        .is_some_and(|(id, rest)| !id.is_empty() && !rest.is_empty())
            }
            PushPlatform::Rustore => {
                (32..=4096).contains(&token.len()) && token.bytes().all(is_base64url_or_colon)
            }
        };
        let test_token = simulated
            && (8..=200).contains(&token.len())
            && token.starts_with(|c: char| c.is_ascii_alphabetic())
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if shaped || test_token {
            Ok(Self(token.to_owned()))
        } else {
            Err(match platform {
                PushPlatform::Apns => "must be an APNs device token: 64 hexadecimal characters",
                PushPlatform::Fcm => {
                    "must be an FCM registration token: at least 100 base64url characters with a colon"
                }
                PushPlatform::Rustore => {
                    "must be a RuStore push token: at least 32 base64url characters"
                }
            }
            .into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_base64url_or_colon(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fcm() -> String {
        format!("cXyZ12_-{}:APA91b{}", "q".repeat(14), "Zx9_-".repeat(28))
    }

    #[test]
    fn every_platform_shape_lies_within_the_documented_pattern() {
        let within = |token: &str| {
            TOKEN_LENGTH.contains(&token.len()) && token.bytes().all(is_base64url_or_colon)
        };
        for (token, platform) in [
            ("a".repeat(0) + &"0f".repeat(32), PushPlatform::Apns),
            (fcm(), PushPlatform::Fcm),
            ("x".repeat(32), PushPlatform::Rustore),
        ] {
            assert!(DeviceToken::parse(&token, platform, false).is_ok());
            assert!(within(&token), "{token}");
        }
        assert!(DeviceToken::parse(&"0f".repeat(2049), PushPlatform::Apns, false).is_err());
        assert!(DeviceToken::parse(&"x".repeat(31), PushPlatform::Rustore, false).is_err());
    }

    #[test]
    fn each_platform_takes_its_own_shape_only() {
        let apns = "0a".repeat(32);
        let (not_hex, short) = ("g".repeat(64), "a".repeat(63));
        assert!(DeviceToken::parse(&apns, PushPlatform::Apns, false).is_ok());
        assert!(DeviceToken::parse(&fcm(), PushPlatform::Fcm, false).is_ok());
        assert!(DeviceToken::parse(&"r".repeat(48), PushPlatform::Rustore, false).is_ok());
        for (bad, platform) in [
            ("0", PushPlatform::Apns),
            (not_hex.as_str(), PushPlatform::Apns),
            (short.as_str(), PushPlatform::Apns),
            (apns.as_str(), PushPlatform::Fcm),
            ("x", PushPlatform::Rustore),
            ("unregistered-1a2b3c4d", PushPlatform::Apns),
        ] {
            assert!(DeviceToken::parse(bad, platform, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_simulated_channel_also_takes_the_simulators_test_tokens() {
        for ok in [
            "unregistered-1a2b3c4d",
            "hub-slow-0-abcdef",
            "shared-phone-token",
        ] {
            assert!(
                DeviceToken::parse(ok, PushPlatform::Apns, true).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "0",
            "x",
            "short",
            "1-starts-with-a-digit",
            "has space inside",
        ] {
            assert!(
                DeviceToken::parse(bad, PushPlatform::Apns, true).is_err(),
                "{bad}"
            );
        }
    }
}
