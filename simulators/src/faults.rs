//! Failure injection: rules that make a simulator fail for chosen recipients, matched by a
//! prefix of the device token, phone number or e-mail address. Built-in prefixes cover
//! every outcome; a TOML rules file adds more (its rules are tried first).

use bilet_channels::Latency;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

use bilet_channels::parse_duration;

/// How a simulator misbehaves for a recipient; each simulator answers in its protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The token is no longer registered (APNs 410, FCM 404 UNREGISTERED, RuStore 404).
    Unregistered,
    /// The token is malformed (APNs 400 BadDeviceToken, FCM 400 INVALID_ARGUMENT).
    BadToken,
    /// 429 with `Retry-After` (SMTP 450).
    RateLimited(Duration),
    /// 503 with `Retry-After` (SMTP 421).
    Unavailable(Duration),
    /// 500 (SMTP 451).
    ServerError,
    /// Answers normally, but only after this long.
    Slow(Duration),
    /// Closes the connection without answering.
    Drop,
    /// Rejects the credentials as expired (APNs 403 ExpiredProviderToken, FCM/RuStore 401).
    ExpiredAuth,
    /// A permanent rejection (APNs 400 TopicDisallowed, FCM 403 SENDER_ID_MISMATCH,
    /// SMTP 550).
    Reject,
    /// A temporary rejection (SMTP 451, HTTP 503).
    TempFail,
    /// A provider-specific status: an SMS gateway code, an SMTP reply code, an HTTP status.
    Status(u16),
}

/// One rule: recipients starting with `prefix` get `fault`, at most `times` times each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub prefix: String,
    pub fault: Fault,
    pub times: Option<u32>,
}

impl Rule {
    fn new(prefix: &str, fault: Fault) -> Self {
        Self {
            prefix: prefix.to_owned(),
            fault,
            times: None,
        }
    }
}

/// The retry delay the built-in `ratelimit-` rule asks for.
pub const RATE_LIMIT_RETRY: Duration = Duration::from_secs(17);
/// The retry delay the built-in `unavailable-` rule asks for.
pub const UNAVAILABLE_RETRY: Duration = Duration::from_secs(23);
/// How long the built-in `slow-` rule waits.
pub const SLOW_DELAY: Duration = Duration::from_secs(5);

/// The built-in rules (documented in the README).
pub fn builtin_rules() -> Vec<Rule> {
    let mut rules = vec![
        Rule::new("unregistered-", Fault::Unregistered),
        Rule::new("badtoken-", Fault::BadToken),
        Rule::new("ratelimit-", Fault::RateLimited(RATE_LIMIT_RETRY)),
        Rule::new("unavailable-", Fault::Unavailable(UNAVAILABLE_RETRY)),
        Rule::new("error-", Fault::ServerError),
        Rule::new("slow-", Fault::Slow(SLOW_DELAY)),
        Rule::new("drop-", Fault::Drop),
        Rule {
            times: Some(1),
            ..Rule::new("expired-", Fault::ExpiredAuth)
        },
        Rule::new("reject-", Fault::Reject),
        Rule::new("tempfail-", Fault::TempFail),
        // Phone numbers: +7999 then an SMS.ru status code, or one of these.
        Rule::new("+7999500", Fault::ServerError),
        Rule::new("+7999429", Fault::RateLimited(RATE_LIMIT_RETRY)),
        Rule::new("+7999001", Fault::Slow(SLOW_DELAY)),
        Rule::new("+7999002", Fault::Drop),
    ];
    for code in [201, 202, 206, 207, 209, 220, 230, 231] {
        rules.push(Rule::new(&format!("+7999{code}"), Fault::Status(code)));
    }
    rules
}

/// A rules file that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("fault rules {path}: {reason}")]
pub struct RulesError {
    pub path: String,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    prefix: String,
    fault: String,
    retry_after: Option<String>,
    delay: Option<String>,
    code: Option<u16>,
    times: Option<u32>,
}

/// The rules a simulator applies, and how often each has fired per recipient.
pub struct Faults {
    rules: Vec<Rule>,
    fired: Mutex<HashMap<(usize, String), u32>>,
    /// How long every provider answer takes, faults or not.
    latency: Latency,
}

impl Default for Faults {
    fn default() -> Self {
        Self::new(builtin_rules())
    }
}

impl Faults {
    /// These rules, in order, none fired yet.
    pub fn new(rules: Vec<Rule>) -> Self {
        Self {
            rules,
            fired: Mutex::default(),
            latency: Latency::default(),
        }
    }

    /// The same rules, answering after `latency`.
    pub fn with_latency(mut self, latency: Latency) -> Self {
        self.latency = latency;
        self
    }

    /// The same rules and latency with no firing counted yet (each simulator counts its
    /// own).
    pub fn fresh(&self) -> Self {
        Self::new(self.rules.clone()).with_latency(self.latency)
    }

    /// Waits as long as a provider takes to answer (nothing when no latency is set).
    pub async fn answer_delay(&self) {
        if self.latency.is_zero() {
            return;
        }
        // Any uniform number will do; a v4 uuid is random and already at hand.
        let unit = (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64;
        tokio::time::sleep(self.latency.sample(unit)).await;
    }

    /// The rules of `path` followed by the built-in ones.
    pub fn from_file(path: &Path) -> Result<Self, RulesError> {
        let error = |reason: String| RulesError {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|err| error(err.to_string()))?;
        let file: RulesFile =
            toml::from_str(&text).map_err(|err| error(err.message().to_owned()))?;
        let mut rules = Vec::new();
        for raw in file.rule {
            let duration = |value: &Option<String>, default: Duration| match value {
                Some(text) => parse_duration(text).map_err(&error),
                None => Ok(default),
            };
            let fault = match raw.fault.as_str() {
                "unregistered" => Fault::Unregistered,
                "bad-token" => Fault::BadToken,
                "rate-limited" => Fault::RateLimited(duration(&raw.retry_after, RATE_LIMIT_RETRY)?),
                "unavailable" => Fault::Unavailable(duration(&raw.retry_after, UNAVAILABLE_RETRY)?),
                "server-error" => Fault::ServerError,
                "slow" => Fault::Slow(duration(&raw.delay, SLOW_DELAY)?),
                "drop" => Fault::Drop,
                "expired-auth" => Fault::ExpiredAuth,
                "reject" => Fault::Reject,
                "tempfail" => Fault::TempFail,
                "status" => {
                    Fault::Status(raw.code.ok_or_else(|| {
                        error(format!("rule `{}`: status needs `code`", raw.prefix))
                    })?)
                }
                other => return Err(error(format!("unknown fault `{other}`"))),
            };
            rules.push(Rule {
                prefix: raw.prefix,
                fault,
                times: raw.times,
            });
        }
        rules.extend(builtin_rules());
        Ok(Self::new(rules))
    }

    /// The fault for `recipient`, if a rule matches and has not used up its `times`.
    pub fn check(&self, recipient: &str) -> Option<Fault> {
        let (index, rule) = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, rule)| recipient.starts_with(&rule.prefix))?;
        if let Some(times) = rule.times {
            // A poisoned lock only means a handler panicked; the counts are usable.
            let mut fired = self.fired.lock().unwrap_or_else(|p| p.into_inner());
            let count = fired.entry((index, recipient.to_owned())).or_default();
            if *count >= times {
                return None;
            }
            *count += 1;
        }
        Some(rule.fault.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_pick_faults_and_times_limits_them() {
        let faults = Faults::default();
        assert_eq!(faults.check("unregistered-abc"), Some(Fault::Unregistered));
        assert_eq!(faults.check("+79992021234"), Some(Fault::Status(202)));
        assert_eq!(
            faults.check("tempfail-x@example.org"),
            Some(Fault::TempFail)
        );
        assert_eq!(faults.check("plain-token"), None);
        assert_eq!(faults.check("expired-1"), Some(Fault::ExpiredAuth));
        assert_eq!(faults.check("expired-1"), None);
        assert_eq!(faults.check("expired-2"), Some(Fault::ExpiredAuth));
    }

    #[test]
    fn a_rules_file_comes_before_the_builtins() {
        let dir = std::env::temp_dir().join(format!("bilet-rules-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rules.toml");
        std::fs::write(
            &path,
            "[[rule]]\nprefix = \"slow-\"\nfault = \"slow\"\ndelay = \"2s\"\n\
             [[rule]]\nprefix = \"+7000\"\nfault = \"status\"\ncode = 230\n",
        )
        .unwrap();
        let faults = Faults::from_file(&path).unwrap();
        assert_eq!(
            faults.check("slow-1"),
            Some(Fault::Slow(Duration::from_secs(2)))
        );
        assert_eq!(faults.check("+70001"), Some(Fault::Status(230)));
        assert_eq!(faults.check("drop-1"), Some(Fault::Drop));
        std::fs::write(&path, "[[rule]]\nprefix = \"x\"\nfault = \"explode\"\n").unwrap();
        assert!(Faults::from_file(&path).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
