//! What the service and its provider simulators both need, below both so that neither
//! depends on the other: the five delivery channels, where the simulators listen, and the
//! duration syntax of the settings files they read (`channels.toml`, the fault rules).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The five ways a notice leaves bilet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Apple Push Notification service (iPhones).
    Apns,
    /// Firebase Cloud Messaging, HTTP v1 (Android with Google services).
    Fcm,
    /// RuStore push (Android without Google services).
    Rustore,
    /// Text messages through an HTTP SMS gateway.
    Sms,
    /// E-mail through an SMTP relay.
    Email,
}

impl ChannelKind {
    /// Every channel, in the order startup reports them.
    pub const ALL: [ChannelKind; 5] = [
        ChannelKind::Apns,
        ChannelKind::Fcm,
        ChannelKind::Rustore,
        ChannelKind::Sms,
        ChannelKind::Email,
    ];

    /// The name used in settings, logs, metrics and the ledger's `channel` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Apns => "apns",
            ChannelKind::Fcm => "fcm",
            ChannelKind::Rustore => "rustore",
            ChannelKind::Sms => "sms",
            ChannelKind::Email => "email",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownChannel(pub String);

impl fmt::Display for UnknownChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a delivery channel", self.0)
    }
}

impl std::error::Error for UnknownChannel {}

impl FromStr for ChannelKind {
    type Err = UnknownChannel;

    /// The inverse of [`ChannelKind::as_str`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownChannel(s.to_owned()))
    }
}

impl TryFrom<String> for ChannelKind {
    type Error = UnknownChannel;

    /// A stored channel name (the ledger's `channel` column) read back.
    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

/// The `[simulators]` settings: where `bilet simulate` listens and what it writes.
#[derive(Debug, Clone)]
pub struct SimulatorSettings {
    pub binds: Binds,
    /// How long each simulator takes to answer a provider request.
    pub latency: Latency,
    /// Where `bilet simulate` keeps the credentials its simulators accept.
    pub credentials_dir: PathBuf,
    /// Extra fault rules, tried before the built-in prefixes.
    pub rules_file: Option<PathBuf>,
}

/// How long a simulator takes to answer, as a real provider does (tens of milliseconds
/// rather than microseconds): `base`, plus up to `jitter` more, at random.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    pub base: Duration,
    pub jitter: Duration,
}

impl Latency {
    /// No delay: answer at once.
    pub fn is_zero(&self) -> bool {
        self.base.is_zero() && self.jitter.is_zero()
    }

    /// One answer's delay for `unit`, a random number in [0, 1).
    pub fn sample(&self, unit: f64) -> Duration {
        self.base + self.jitter.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// The shell file `bilet simulate` writes into its credentials directory: where each of
/// its simulators listens (`BILET_SIM_SMS=http://127.0.0.1:17004`, …).
pub const SIMULATOR_ADDRESSES_FILE: &str = "simulators.env";

/// Where each simulator listens (port 0: any free port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binds {
    pub host: IpAddr,
    pub apns: u16,
    pub fcm: u16,
    pub rustore: u16,
    pub sms: u16,
    pub smtp: u16,
    /// The SMTP simulator's inspection API (HTTP).
    pub smtp_inspect: u16,
}

impl Binds {
    /// Every simulator on a free port of 127.0.0.1 (in-process simulators, tests).
    pub fn ephemeral() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            apns: 0,
            fcm: 0,
            rustore: 0,
            sms: 0,
            smtp: 0,
            smtp_inspect: 0,
        }
    }

    /// Every simulator on a free port of `host` (`bilet simulate --ports free`).
    pub fn free(host: IpAddr) -> Self {
        Self {
            host,
            ..Self::ephemeral()
        }
    }

    /// The default layout moved to `base`: APNs, FCM, RuStore and SMS on `base`+1…+4,
    /// SMTP on `base`+25 and its inspection API on `base`+26 (`bilet simulate --ports 27000`).
    pub fn from_base(host: IpAddr, base: u16) -> Result<Self, String> {
        let at = |offset: u16| {
            base.checked_add(offset).ok_or_else(|| {
                format!("--ports {base}: the ports up to {base}+26 must be below 65536")
            })
        };
        if base < 1000 {
            return Err(format!(
                "--ports {base}: choose a base of 1000 or more (ports below 1024 need root)"
            ));
        }
        Ok(Self {
            host,
            apns: at(1)?,
            fcm: at(2)?,
            rustore: at(3)?,
            sms: at(4)?,
            smtp: at(25)?,
            smtp_inspect: at(26)?,
        })
    }

    /// The port of `kind`'s simulator (for e-mail, its SMTP port).
    pub fn port(&self, kind: ChannelKind) -> u16 {
        match kind {
            ChannelKind::Apns => self.apns,
            ChannelKind::Fcm => self.fcm,
            ChannelKind::Rustore => self.rustore,
            ChannelKind::Sms => self.sms,
            ChannelKind::Email => self.smtp,
        }
    }
}

/// `30s`, `500ms`, `5m`, `1h`, `30d`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("`{s}` is not a duration like 500ms, 30s, 5m, 1h or 30d");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let duration = match unit.trim() {
        "" | "s" => Duration::from_secs(number),
        "ms" => Duration::from_millis(number),
        "m" | "min" => Duration::from_secs(number.saturating_mul(60)),
        "h" => Duration::from_secs(number.saturating_mul(3600)),
        "d" => Duration::from_secs(number.saturating_mul(86400)),
        _ => return Err(invalid()),
    };
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_base_moves_the_whole_default_layout_and_refuses_what_does_not_fit() {
        let host = IpAddr::from([127, 0, 0, 1]);
        let moved = Binds::from_base(host, 27000).unwrap();
        assert_eq!(
            [
                moved.apns,
                moved.fcm,
                moved.rustore,
                moved.sms,
                moved.smtp,
                moved.smtp_inspect
            ],
            [27001, 27002, 27003, 27004, 27025, 27026]
        );
        assert!(Binds::from_base(host, 65520).is_err());
        assert!(Binds::from_base(host, 80).is_err());
        assert_eq!(Binds::free(host).port(ChannelKind::Sms), 0);
    }

    #[test]
    fn every_channel_name_reads_back_as_its_channel() {
        for kind in ChannelKind::ALL {
            assert_eq!(kind.as_str().parse::<ChannelKind>(), Ok(kind));
        }
        assert!("APNS".parse::<ChannelKind>().is_err());
        assert!("".parse::<ChannelKind>().is_err());
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("7 weeks").is_err());
    }
}
