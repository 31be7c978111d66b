//! Families' calendar feeds: a secret subscription URL per student or parent, and the
//! RFC 5545 calendar it serves at `/cal/{token}.ics` (a plain route, like the approval
//! pages, outside the mobile contract) of the events the family is approved for, with the
//! same UID on every change, a SEQUENCE raised by each, and STATUS:CANCELLED once the
//! organizer cancels.
//!
//! The token is a keyed digest of the account and a random nonce (so the app can be shown
//! the same URL again), and the database keeps only the nonce and the token's SHA-256:
//! neither a database dump nor the logs (the access log names the route template, never
//! the path) yield a working URL.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{IntoResponse, Response, handler};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::api::security::ClientInfo;
use crate::domain::ids::AccountId;
use crate::http::problem::Problem;
use crate::security::rate_limit;
use crate::settings::RateLimit;
use crate::state::AppState;
use crate::store::{self, StoreError, calendar_feeds::FeedEvent};

/// Fetches of feeds per client address: calendar apps poll every few hours; this stops
/// guessing, not subscribers.
const FETCHES_PER_ADDRESS: RateLimit = RateLimit {
    count: 120,
    window: std::time::Duration::from_secs(60),
};
/// The most events a feed lists (the latest starts).
const MAX_EVENTS: i64 = 500;

/// The account's subscription URL: the one it has, or a new one when it has none (or its
/// token was made with a key since rotated away).
pub async fn feed_url(state: &AppState, account: AccountId) -> Result<String, StoreError> {
    let mut tx = state.db.begin().await?;
    let current = store::calendar_feeds::find(&mut *tx, account).await?;
    let token = match current {
        Some((nonce, digest)) if token_digest(&make_token(state, account, &nonce)) == digest => {
            make_token(state, account, &nonce)
        }
        _ => {
            let mut nonce = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut nonce);
            let token = make_token(state, account, &nonce);
            store::calendar_feeds::replace(&mut *tx, account, &nonce, &token_digest(&token))
                .await?;
            token
        }
    };
    tx.commit().await?;
    Ok(format!("{}/cal/{token}.ics", state.settings.hub.public_url))
}

/// Revokes the account's feed: its URL answers 404 from now on. False when it had none.
pub async fn revoke(state: &AppState, account: AccountId) -> Result<bool, StoreError> {
    store::calendar_feeds::revoke(&state.db, account).await
}

fn make_token(state: &AppState, account: AccountId, nonce: &[u8]) -> String {
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let digest = state
        .index
        .digest("calendar-feed", &format!("{}:{nonce}", account.0));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// GET `/cal/{token}.ics`: the calendar, or 404 for a token that is unknown or revoked.
#[handler]
pub async fn serve_feed(
    state: Data<&AppState>,
    Path(file): Path<String>,
    client: ClientInfo,
) -> Response {
    if let Err(wait) = rate_limit::hit(
        &state.redis,
        "calendar:address",
        &client.address_key(),
        FETCHES_PER_ADDRESS,
    )
    .await
    {
        return Problem::rate_limited(wait).to_response();
    }
    let Some(token) = file.strip_suffix(".ics").filter(|t| !t.is_empty()) else {
        return Problem::not_found("no such calendar").to_response();
    };
    let owner = match store::calendar_feeds::owner(&state.db, &token_digest(token)).await {
        Ok(Some((account, _))) => account,
        Ok(None) => return Problem::not_found("no such calendar").to_response(),
        Err(err) => return Problem::from(err).to_response(),
    };
    match store::calendar_feeds::events(&state.db, owner, MAX_EVENTS).await {
        Ok(events) => render(&events, Utc::now())
            .with_status(StatusCode::OK)
            .with_content_type("text/calendar; charset=utf-8")
            .with_header("cache-control", "private, no-store")
            .with_header("referrer-policy", "no-referrer")
            .into_response(),
        Err(err) => Problem::from(err).to_response(),
    }
}

/// The calendar of `events`, as RFC 5545 text: CRLF line ends, lines folded at 75 octets.
pub fn render(events: &[FeedEvent], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let mut line = |text: &str| fold_into(&mut out, text);
    line("BEGIN:VCALENDAR");
    line("VERSION:2.0");
    line("PRODID:-//bilet//Bilet v budushchee calendar//RU");
    line("CALSCALE:GREGORIAN");
    line("METHOD:PUBLISH");
    line("X-WR-CALNAME:Билет в будущее");
    for event in events {
        line("BEGIN:VEVENT");
        line(&format!("UID:{}@bilet", event.id.0));
        // The object's last change, so that a client compares like with like; the feed's
        // own generation time would make every fetch look like a change.
        line(&format!("DTSTAMP:{}", utc(event.updated_at.min(now))));
        line(&format!("LAST-MODIFIED:{}", utc(event.updated_at.min(now))));
        line(&format!("SEQUENCE:{}", event.sequence.max(0)));
        line(&format!("DTSTART:{}", utc(event.starts_at)));
        line(&format!("DTEND:{}", utc(event.ends_at)));
        line(&format!("SUMMARY:{}", escape(&event.title)));
        if let Some(place) = place(event) {
            line(&format!("LOCATION:{}", escape(&place)));
        }
        let mut description = event.description.clone();
        if let Some(bring) = &event.what_to_bring {
            description.push_str(&format!("\n\nС собой: {bring}"));
        }
        line(&format!("DESCRIPTION:{}", escape(&description)));
        line(if event.cancelled {
            "STATUS:CANCELLED"
        } else {
            "STATUS:CONFIRMED"
        });
        line("END:VEVENT");
    }
    line("END:VCALENDAR");
    out
}

fn place(event: &FeedEvent) -> Option<String> {
    if event.format == "online" {
        return Some(event.online_link.clone().unwrap_or_else(|| "Онлайн".into()));
    }
    match (&event.city, &event.address) {
        (Some(city), Some(address)) => Some(format!("{city}, {address}")),
        _ => None,
    }
}

/// A UTC DATE-TIME: `20261205T110000Z`.
fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// TEXT escaping (RFC 5545 §3.3.11): backslash, semicolon, comma and newlines.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("\\n");
                }
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded (RFC 5545 §3.1): no line longer than 75 octets without its CRLF,
/// continuations starting with a space, never splitting a UTF-8 character.
fn fold_into(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::EventId;

    fn event(title: &str, cancelled: bool) -> FeedEvent {
        let at = DateTime::parse_from_rfc3339("2026-12-05T11:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        FeedEvent {
            id: EventId::new(),
            title: title.into(),
            description: "Строка 1\nСтрока 2".into(),
            format: "in_person".into(),
            city: Some("Казань".into()),
            address: Some("ул. Баумана, 1".into()),
            online_link: None,
            what_to_bring: Some("сменную обувь; тетрадь".into()),
            starts_at: at,
            ends_at: at + chrono::Duration::hours(3),
            cancelled,
            sequence: 2,
            updated_at: at - chrono::Duration::days(1),
        }
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a,b;c\\d\ne\r\nf"), "a\\,b\\;c\\\\d\\ne\\nf");
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_a_character() {
        let title = "Проба: ".to_owned() + &"инженер-робототехник ".repeat(10);
        let now = DateTime::parse_from_rfc3339("2026-12-10T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let text = render(&[event(&title, true)], now);
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
        }
        assert!(!text.replace("\r\n", "").contains('\n'), "only CRLF");
        let unfolded = text.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("SUMMARY:{}", escape(&title))));
        assert!(unfolded.contains("LOCATION:Казань\\, ул. Баумана\\, 1"));
        assert!(
            unfolded
                .contains("DESCRIPTION:Строка 1\\nСтрока 2\\n\\nС собой: сменную обувь\\; тетрадь")
        );
        assert!(unfolded.contains("DTSTART:20261205T110000Z\r\nDTEND:20261205T140000Z"));
        assert!(unfolded.contains("SEQUENCE:2\r\n"));
        assert!(unfolded.contains("STATUS:CANCELLED\r\n"));
        assert!(unfolded.contains("DTSTAMP:20261204T110000Z\r\n"));
    }
}
