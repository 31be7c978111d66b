//! Text messages through an SMS.ru-style HTTP gateway: `POST {base}/sms/send` with
//! `api_id`, `to`, `msg`, `json=1`, answered with a status and cost per number. Texts are
//! fitted to at most two segments first (GSM-7 for Latin, UCS-2 for Cyrillic), cutting the
//! body but never the link.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::transport::{self, UNAVAILABLE_RETRY};
use super::{Channel, ChannelKind, Delivered, OutboundMessage, SendError, SendResult};
use crate::settings::Secret;

/// SMS.ru's host.
pub const PRODUCTION_URL: &str = "https://sms.ru";

/// How a text is encoded on the air, which decides how many characters fit a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsEncoding {
    /// The GSM 03.38 alphabet: 160 characters in one segment, 153 per part when split.
    Gsm7,
    /// Anything else (Cyrillic included): 70 in one segment, 67 per part.
    Ucs2,
}

impl SmsEncoding {
    fn single(self) -> usize {
        match self {
            SmsEncoding::Gsm7 => 160,
            SmsEncoding::Ucs2 => 70,
        }
    }

    fn part(self) -> usize {
        match self {
            SmsEncoding::Gsm7 => 153,
            SmsEncoding::Ucs2 => 67,
        }
    }

    /// Septets (GSM-7) or UTF-16 units (UCS-2) a character takes.
    fn cost(self, c: char) -> usize {
        match self {
            SmsEncoding::Gsm7 if GSM7_EXTENSION.contains(c) => 2,
            SmsEncoding::Gsm7 => 1,
            SmsEncoding::Ucs2 => c.len_utf16(),
        }
    }

    fn cost_of(self, text: &str) -> usize {
        text.chars().map(|c| self.cost(c)).sum()
    }
}

/// The GSM 03.38 basic alphabet (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table (an escape plus one septet each).
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{c}";

/// The most segments a notice may take: each costs money, and a long text is not read.
pub const MAX_SEGMENTS: usize = 2;

/// A text ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FittedText {
    pub text: String,
    pub encoding: SmsEncoding,
    pub segments: usize,
}

/// Why no text could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    #[error("the text is empty")]
    Empty,
    #[error("the link alone does not fit in {MAX_SEGMENTS} segments")]
    LinkTooLong,
}

/// Fits `body` and `link` into at most two segments. When the whole does not fit, the body
/// is cut (at a word when one ends near the cut) and marked with an ellipsis; the link is
/// kept whole. Whitespace runs become single spaces.
pub fn fit_text(body: &str, link: Option<&str>) -> Result<FittedText, FitError> {
    let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let link = link.map(str::trim).filter(|l| !l.is_empty());
    let tail = link.map(|l| format!(" {l}")).unwrap_or_default();
    let whole = format!("{body}{tail}").trim().to_owned();
    if whole.is_empty() {
        return Err(FitError::Empty);
    }
    let encoding = if whole
        .chars()
        .all(|c| GSM7_BASIC.contains(c) || GSM7_EXTENSION.contains(c))
    {
        SmsEncoding::Gsm7
    } else {
        SmsEncoding::Ucs2
    };
    // A part boundary cannot split an escape pair or a surrogate pair, so a text holding
    // either gives up one unit of the two-part maximum to stay within two segments.
    let max_units = |text: &str| {
        let splits_badly = text.chars().any(|c| encoding.cost(c) > 1);
        MAX_SEGMENTS * encoding.part() - usize::from(splits_badly)
    };
    let segments = |units: usize| if units <= encoding.single() { 1 } else { 2 };
    let units = encoding.cost_of(&whole);
    if units <= max_units(&whole) {
        return Ok(FittedText {
            text: whole,
            encoding,
            segments: segments(units),
        });
    }
    let marker = match encoding {
        SmsEncoding::Gsm7 => "...",
        SmsEncoding::Ucs2 => "…",
    };
    let budget = max_units(&whole)
        .checked_sub(encoding.cost_of(&tail) + encoding.cost_of(marker))
        .ok_or(FitError::LinkTooLong)?;
    let mut used = 0;
    let mut cut = 0;
    for (index, c) in body.char_indices() {
        let cost = encoding.cost(c);
        if used + cost > budget {
            break;
        }
        used += cost;
        cut = index + c.len_utf8();
    }
    let mut kept = &body[..cut];
    // Cut at the last word boundary when it costs at most a fifth of the budget.
    if cut < body.len()
        && let Some(space) = kept.rfind(' ')
        && encoding.cost_of(&kept[space..]) <= budget / 5
    {
        kept = &kept[..space];
    }
    let kept = kept.trim_end_matches(|c: char| c.is_whitespace() || ",;:-–".contains(c));
    let text = format!("{kept}{marker}{tail}");
    let units = encoding.cost_of(&text);
    Ok(FittedText {
        text,
        encoding,
        segments: segments(units),
    })
}

/// Everything the SMS client needs.
#[derive(Clone)]
pub struct SmsConfig {
    /// `https://sms.ru` or a simulator's `http://host:port`.
    pub base_url: String,
    pub api_id: Secret,
    /// An approved sender name; the gateway's default when absent.
    pub sender: Option<String>,
    pub timeout: Duration,
}

impl fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsConfig")
            .field("base_url", &self.base_url)
            .field("sender", &self.sender)
            .finish_non_exhaustive()
    }
}

/// The SMS channel.
pub struct SmsClient {
    http: reqwest::Client,
    send_url: String,
    api_id: Secret,
    sender: Option<String>,
}

impl SmsClient {
    /// Builds the HTTP client; nothing is sent yet.
    pub fn new(config: SmsConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: transport::client(config.timeout, false)?,
            send_url: format!("{}/sms/send", config.base_url.trim_end_matches('/')),
            api_id: config.api_id,
            sender: config.sender,
        })
    }
}

/// The gateway's answer: a request status and one entry per number.
#[derive(Debug, Deserialize)]
struct GatewayAnswer {
    status: String,
    status_code: u16,
    #[serde(default)]
    sms: BTreeMap<String, NumberStatus>,
}

#[derive(Debug, Deserialize)]
struct NumberStatus {
    status_code: u16,
    #[serde(default)]
    sms_id: Option<String>,
    #[serde(default)]
    status_text: Option<String>,
}

#[async_trait::async_trait]
impl Channel for SmsClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    #[tracing::instrument(name = "sms_send", skip_all, fields(delivery_id = %message.delivery_id))]
    async fn send(&self, message: &OutboundMessage) -> SendResult {
        let result = async {
            let phone = super::recipient_for(ChannelKind::Sms, message)?;
            let digits = phone.strip_prefix('+').unwrap_or(phone);
            if !(8..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(SendError::permanent(
                    "the phone number is not in E.164 form",
                ));
            }
            let fitted = fit_text(&message.body, message.link.as_deref())
                .map_err(|err| SendError::permanent(err.to_string()))?;
            let mut form = vec![
                ("api_id", self.api_id.expose()),
                ("to", digits),
                ("msg", fitted.text.as_str()),
                ("json", "1"),
            ];
            if let Some(sender) = &self.sender {
                form.push(("from", sender));
            }
            let response = self
                .http
                .post(&self.send_url)
                .form(&form)
                .send()
                .await
                .map_err(transport::transport_failure)?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = response
                .bytes()
                .await
                .map_err(transport::transport_failure)?;
            if status != 200 {
                return Err(if status == 429 || status >= 500 {
                    SendError::retry(
                        transport::retry_after(&headers, UNAVAILABLE_RETRY),
                        format!("the SMS gateway answered {status}"),
                    )
                } else {
                    SendError::permanent(format!("the SMS gateway answered {status}"))
                });
            }
            let answer: GatewayAnswer = serde_json::from_slice(&bytes).map_err(|_| {
                SendError::retry(
                    UNAVAILABLE_RETRY,
                    "the SMS gateway's answer is not its JSON",
                )
            })?;
            if answer.status != "OK" {
                return classify(answer.status_code, None, None);
            }
            match answer.sms.get(digits) {
                Some(number) => classify(
                    number.status_code,
                    number.sms_id.clone(),
                    number.status_text.as_deref(),
                ),
                None => Err(SendError::permanent(
                    "the SMS gateway's answer does not mention the number",
                )),
            }
        }
        .await;
        super::log_result(ChannelKind::Sms, message, &result);
        result
    }
}

/// Maps an SMS.ru status code (per request or per number).
fn classify(code: u16, sms_id: Option<String>, text: Option<&str>) -> SendResult {
    let described = || match text {
        Some(text) => format!(
            "SMS gateway status {code}: {}",
            text.chars().take(120).collect::<String>()
        ),
        None => format!("SMS gateway status {code}"),
    };
    match code {
        100..=103 => Ok(Delivered {
            provider_id: sms_id.unwrap_or_default(),
        }),
        // No such number, or no route to it: this number will not work.
        202 | 207 => Err(SendError::TokenInvalid),
        // Per-number and per-day limits.
        230 | 232 => Err(SendError::retry(Duration::from_secs(3600), described())),
        206 => Err(SendError::retry(Duration::from_secs(3600), described())),
        231 | 233 => Err(SendError::retry(Duration::from_secs(60), described())),
        // The gateway is busy or failing.
        220 | 500 => Err(SendError::retry(UNAVAILABLE_RETRY, described())),
        // Out of money: notices must wait until someone tops the account up.
        201 => Err(SendError::retry(Duration::from_secs(1800), described())),
        // Bad credentials, stop-listed number, text or sender problems, unknown codes.
        _ => Err(SendError::permanent(described())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_latin_text_is_one_gsm_segment() {
        let fitted = fit_text("Event moved to 12:00", Some("https://b.ru/e/1")).unwrap();
        assert_eq!(fitted.encoding, SmsEncoding::Gsm7);
        assert_eq!(fitted.segments, 1);
        assert_eq!(fitted.text, "Event moved to 12:00 https://b.ru/e/1");
    }

    #[test]
    fn cyrillic_is_ucs2_with_70_in_one_segment_and_67_per_part() {
        let seventy = "я".repeat(70);
        let fitted = fit_text(&seventy, None).unwrap();
        assert_eq!((fitted.encoding, fitted.segments), (SmsEncoding::Ucs2, 1));
        let seventy_one = "я".repeat(71);
        assert_eq!(fit_text(&seventy_one, None).unwrap().segments, 2);
        let full = "я".repeat(134);
        assert_eq!(fit_text(&full, None).unwrap().text, full);
        let over = "я".repeat(135);
        let fitted = fit_text(&over, None).unwrap();
        assert_eq!(fitted.text.chars().count(), 134);
        assert!(fitted.text.ends_with('…'));
    }

    #[test]
    fn gsm_texts_get_160_then_153_per_part() {
        assert_eq!(fit_text(&"a".repeat(160), None).unwrap().segments, 1);
        assert_eq!(fit_text(&"a".repeat(161), None).unwrap().segments, 2);
        assert_eq!(fit_text(&"a".repeat(306), None).unwrap().text.len(), 306);
        let cut = fit_text(&"a".repeat(400), None).unwrap();
        assert_eq!(cut.text.len(), 306);
        assert!(cut.text.ends_with("..."));
        // Extension characters take two septets.
        assert_eq!(fit_text(&"€".repeat(80), None).unwrap().segments, 1);
        assert_eq!(fit_text(&"€".repeat(81), None).unwrap().segments, 2);
    }

    #[test]
    fn a_long_body_is_cut_at_a_word_and_the_link_kept_whole() {
        let body = "Мероприятие «Экскурсия на завод» перенесено на субботу, 12:00. \
                    Подробности и подтверждение участия в приложении, раздел мероприятий \
                    вашего ребёнка, пожалуйста проверьте время и место";
        let link = "https://bilet.ru/e/7f3a";
        let fitted = fit_text(body, Some(link)).unwrap();
        assert!(
            fitted.text.ends_with(&format!("… {link}")),
            "{}",
            fitted.text
        );
        assert_eq!(fitted.segments, 2);
        assert!(fitted.text.chars().count() <= 134);
        let kept = fitted.text.trim_end_matches(&format!("… {link}"));
        assert!(body.starts_with(kept));
        assert!(body[kept.len()..].starts_with(' '), "cut mid-word: {kept}");
    }

    #[test]
    fn a_link_that_cannot_fit_and_an_empty_text_are_errors() {
        let link = format!("https://bilet.ru/{}", "ж".repeat(140));
        assert_eq!(fit_text("Текст", Some(&link)), Err(FitError::LinkTooLong));
        assert_eq!(fit_text("  ", None), Err(FitError::Empty));
    }

    #[test]
    fn gateway_codes_map_to_outcomes() {
        assert_eq!(
            classify(100, Some("1-2".into()), None),
            Ok(Delivered {
                provider_id: "1-2".into()
            })
        );
        assert_eq!(classify(202, None, None), Err(SendError::TokenInvalid));
        assert_eq!(classify(207, None, None), Err(SendError::TokenInvalid));
        for code in [220, 230, 231, 500, 201] {
            assert!(
                matches!(
                    classify(code, None, None),
                    Err(SendError::RetryAfter { .. })
                ),
                "{code}"
            );
        }
        for code in [200, 204, 209, 301, 999] {
            assert!(
                matches!(classify(code, None, None), Err(SendError::Permanent(_))),
                "{code}"
            );
        }
    }
}
