//! The admins' channel health page: per channel (APNs, FCM, RuStore, SMS, e-mail), the
//! last hour of the deliveries ledger: messages and their rate over the hour and the last
//! 15 minutes, delivered / failed / dead / still open, the errors by the provider's reason
//! and code, and the latency from the domain event's commit to the provider's acceptance
//! (p50 and p95 of the delivered messages). Read through `store::deliveries`.

use askama::Template;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Response, handler};

use super::pages::{self, Answer, Frame};
use super::session::Ctx;
use crate::notify::providers::ChannelKind;
use crate::state::AppState;
use crate::store;
use crate::store::deliveries::ChannelHealth;

/// The window the page looks back over, and the shorter one it shows the rate of too.
const WINDOW_SECS: i64 = 3600;
const RECENT_SECS: i64 = 15 * 60;
/// Rows of the errors table at most.
const ERROR_ROWS: i64 = 50;

struct ChannelLine {
    channel: &'static str,
    label: &'static str,
    h: ChannelHealth,
    hour_rate: String,
    recent_rate: String,
    p50: String,
    p95: String,
}

struct ErrorLine {
    channel: &'static str,
    reason: String,
    status: &'static str,
    count: i64,
}

#[derive(Template)]
#[template(path = "channels.html")]
struct ChannelsPage {
    f: Frame,
    rows: Vec<ChannelLine>,
    errors: Vec<ErrorLine>,
}

/// Messages per minute over `secs`, one decimal.
fn per_minute(count: i64, secs: i64) -> String {
    format!("{:.1}", count as f64 * 60.0 / secs as f64)
}

/// Milliseconds as seconds with one decimal (two under a second), or a dash.
fn latency(ms: Option<f64>, seconds: &str) -> String {
    match ms {
        Some(ms) if ms < 1000.0 => format!("{:.2} {seconds}", ms / 1000.0),
        Some(ms) => format!("{:.1} {seconds}", ms / 1000.0),
        None => "—".to_owned(),
    }
}

#[handler]
pub async fn health(state: Data<&AppState>, ctx: Data<&Ctx>) -> Response {
    show(&state, &ctx).await.unwrap_or_else(|p| p)
}

async fn show(state: &AppState, ctx: &Ctx) -> Answer {
    pages::admin(ctx)?;
    let w = ctx.lang.words();
    let failed = |err: store::StoreError| pages::failed(ctx.lang, &err);
    let by_channel = store::deliveries::channel_health(&state.db, WINDOW_SECS, RECENT_SECS)
        .await
        .map_err(failed)?;
    let errors = store::deliveries::channel_errors(&state.db, WINDOW_SECS, ERROR_ROWS)
        .await
        .map_err(failed)?;
    let rows = ChannelKind::ALL
        .iter()
        .map(|kind| {
            let h = by_channel
                .iter()
                .find(|h| h.channel == kind.as_str())
                .cloned()
                .unwrap_or_default();
            ChannelLine {
                channel: kind.as_str(),
                label: w.channel(kind.as_str()),
                hour_rate: per_minute(h.messages, WINDOW_SECS),
                recent_rate: per_minute(h.recent, RECENT_SECS),
                p50: latency(h.latency_p50_ms, w.seconds),
                p95: latency(h.latency_p95_ms, w.seconds),
                h,
            }
        })
        .collect();
    let errors = errors
        .into_iter()
        .map(|e| ErrorLine {
            channel: w.channel(&e.channel),
            reason: e.reason,
            status: match e.status.as_str() {
                "dead" => w.dead,
                "failed" => w.failed,
                _ => w.will_retry,
            },
            count: e.count,
        })
        .collect();
    Ok(pages::render(
        StatusCode::OK,
        &ChannelsPage {
            f: Frame::new(ctx, w.channels),
            rows,
            errors,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_latencies_read_as_people_read_them() {
        assert_eq!(per_minute(30, 900), "2.0");
        assert_eq!(per_minute(1, 3600), "0.0");
        assert_eq!(latency(Some(420.0), "s"), "0.42 s");
        assert_eq!(latency(Some(2345.0), "с"), "2.3 с");
        assert_eq!(latency(None, "s"), "—");
    }
}
