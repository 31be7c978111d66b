//! `bilet demo`: seeds an organization, an event with 50 students and their parents (with
//! a mix of iPhones, Android phones with and without Google services, and parents without
//! the app), cancels the event a day before it starts, and prints, live, how the
//! deliveries go out per channel as the local simulators receive them. It works in a
//! database and a Redis key prefix of its own, so it can run beside a service.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use rand::Rng as _;
use serde_json::json;
use uuid::Uuid;

use crate::domain::documents::DocumentKind;
use crate::domain::ids::{AccountId, ConsentId, EventId};
use crate::domain::roles::Role;
use crate::domain::snils::Snils;
use crate::participation::{self, Decision, organizer};
use crate::privacy::vault::{ParentProfile, StudentProfile, fields};
use crate::settings::{DatabaseSettings, Secret};
use crate::state::AppState;
use crate::store::accounts::NewAccount;
use crate::store::events::EventFields;
use crate::store::{self, StoreError};

/// Families in the demonstration.
pub const FAMILIES: usize = 50;

/// What the demonstration seeded.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub event: EventId,
    pub students: usize,
    /// Every account it created, whose notices it counts.
    pub accounts: Vec<Uuid>,
    /// When seeding began; the domain events it caused were written after.
    pub started: DateTime<Utc>,
}

/// Seeds the demonstration's organization, event and families, each signed up and
/// approved; returns the event.
pub async fn seed(state: &AppState) -> Result<Seeded, anyhow::Error> {
    let started = store::outbox::now(&state.db).await?;
    let mut accounts = Vec::with_capacity(2 * FAMILIES + 1);
    let stamp = Utc::now().format("%H%M%S").to_string();
    let mut tx = state.db.begin().await?;
    let organization = store::accounts::upsert_organization(
        &mut *tx,
        &format!("Демо-площадка «Кванториум» {stamp}"),
    )
    .await?;
    let organizer = AccountId::new();
    insert_account(
        &mut tx,
        organizer,
        &format!("organizer-{stamp}-{}", short()),
        Role::Organizer,
        Some(organization),
    )
    .await?;
    accounts.push(organizer.0);
    let event = EventId::new();
    // More than a day ahead, so no reminder mixes into the demo; within 48 hours, so the
    // cancellation is urgent.
    let starts_at = Utc::now() + chrono::Duration::hours(30);
    store::events::insert(
        &mut *tx,
        event,
        organization,
        organizer,
        &EventFields {
            title: "Проба: инженер-робототехник".into(),
            description: "Соберём и запрограммируем манипулятор.".into(),
            profession_area: "engineering".into(),
            format: "in_person".into(),
            region: Some("RU-TA".into()),
            city: Some("Казань".into()),
            address: Some("ул. Баумана, 1".into()),
            grade_min: 6,
            grade_max: 11,
            capacity: FAMILIES as i32,
            starts_at,
            ends_at: starts_at + chrono::Duration::hours(3),
            time_zone: "Europe/Moscow".into(),
            accessibility: vec!["step_free".into()],
            signup_deadline: starts_at - chrono::Duration::hours(2),
            approval_window_secs: 48 * 3600,
            what_to_bring: None,
            online_link: None,
        },
    )
    .await?;
    store::events::publish(&mut *tx, event).await?;
    tx.commit().await?;

    let mut rng = rand::thread_rng();
    for i in 0..FAMILIES {
        let (student, parent) = (AccountId::new(), AccountId::new());
        accounts.extend([student.0, parent.0]);
        let mut tx = state.db.begin().await?;
        insert_account(
            &mut tx,
            student,
            &format!("student-{stamp}-{i}"),
            Role::Student,
            None,
        )
        .await?;
        insert_account(
            &mut tx,
            parent,
            &format!("parent-{stamp}-{i}"),
            Role::Parent,
            None,
        )
        .await?;
        let profile = StudentProfile {
            surname: "Иванов".into(),
            given_name: "Пётр".into(),
            patronymic: None,
            birth_date: NaiveDate::from_ymd_opt(2012, 3, 1).expect("a valid date"),
            grade: 8,
            school: "Лицей № 1".into(),
            region: "RU-TA".into(),
            city: "Казань".into(),
            phone: format!("+7916{:07}", rng.gen_range(0..10_000_000)),
            snils: Snils::with_checksum(rng.gen_range(100_000_000..999_999_999))
                .digits()
                .to_owned(),
            document_kind: DocumentKind::Passport,
            document: "9210 123456".into(),
            health: None,
        };
        store::profiles::upsert_student(&mut *tx, &state.vault.seal_student(student, &profile))
            .await?;
        let parent_profile = ParentProfile {
            surname: "Иванова".into(),
            given_name: "Мария".into(),
            patronymic: None,
            birth_date: NaiveDate::from_ymd_opt(1984, 6, 1).expect("a valid date"),
            snils: Some(
                Snils::with_checksum(rng.gen_range(100_000_000..999_999_999))
                    .digits()
                    .to_owned(),
            ),
            phone: format!("+7903{:07}", rng.gen_range(0..10_000_000)),
        };
        store::profiles::upsert_parent(&mut *tx, &state.vault.seal_parent(parent, &parent_profile))
            .await?;
        store::families::link(
            &mut *tx,
            parent,
            student,
            store::families::LinkVia::Code,
            None,
        )
        .await?;
        let consent = ConsentId::new();
        let proof = state
            .vault
            .seal(fields::CONSENT_IDENTITY_PROOF, consent.0, "4510 123456");
        store::consents::give(
            &mut tx,
            &store::consents::NewConsent {
                id: consent,
                kind: "personal_data",
                student,
                parent,
                text_version: "personal_data/v1",
                client_address: None,
                user_agent: Some("bilet demo"),
                identity_proof_enc: &proof,
            },
        )
        .await?;
        let student_platform = ["android-fcm", "ios", "android-rustore"][i % 3];
        store::devices::upsert(
            &mut *tx,
            &format!("demo-{}", short()),
            student,
            None,
            student_platform,
            "3.4.1",
            "ru-RU",
        )
        .await?;
        // Every fourth parent has no app: they hear by SMS and e-mail.
        if i % 4 != 0 {
            let platform = if i % 2 == 0 { "ios" } else { "android-fcm" };
            store::devices::upsert(
                &mut *tx,
                &format!("demo-{}", short()),
                parent,
                None,
                platform,
                "3.4.1",
                "ru-RU",
            )
            .await?;
        }
        let signup = participation::sign_up(&mut tx, event, student).await?;
        participation::decide(&mut tx, signup.id, parent, Decision::Approve, None).await?;
        tx.commit().await?;
    }
    Ok(Seeded {
        event,
        students: FAMILIES,
        accounts,
        started,
    })
}

async fn insert_account(
    tx: &mut sqlx::PgConnection,
    id: AccountId,
    local: &str,
    role: Role,
    organization: Option<crate::domain::ids::OrganizationId>,
) -> Result<(), StoreError> {
    store::accounts::insert(
        &mut *tx,
        &NewAccount {
            id,
            email: &format!("{local}@demo.bilet.local"),
            // No password logs in to a demonstration account.
            password_hash: "!demo",
            role,
            organization,
            verified: true,
        },
    )
    .await
}

fn short() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Cancels the event as its organizer would; returns the domain event's id.
pub async fn cancel(state: &AppState, event: EventId) -> Result<Uuid, anyhow::Error> {
    let row = store::events::find(&state.db, event)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the event is gone"))?;
    let mut tx = state.db.begin().await?;
    organizer::cancel_event(
        &mut tx,
        event,
        row.organization_id,
        "Площадка закрыта: авария водопровода",
    )
    .await?;
    tx.commit().await?;
    let outbox = store::outbox::list(&state.db, Some("event_cancelled")).await?;
    outbox
        .into_iter()
        .rev()
        .find(|e| e.payload["event_id"] == json!(event.0))
        .map(|e| e.event_id.0)
        .ok_or_else(|| anyhow::anyhow!("the cancellation was not announced"))
}

/// Where the deliveries the demonstration caused stand, per channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelLine {
    pub channel: String,
    pub queued: i64,
    pub sending: i64,
    pub delivered: i64,
    pub failed: i64,
    pub dead: i64,
    /// Not sent because their subject was settled first.
    pub skipped: i64,
}

/// Every notice the demonstration caused: the seeding's (approval requests, approvals) and
/// the cancellation's.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub channels: Vec<ChannelLine>,
    /// Deliveries per notification kind.
    pub kinds: Vec<(String, i64)>,
    /// Deliveries that fall due later (escalations, reminders): sent then, or skipped if
    /// their subject is settled by then.
    pub later: i64,
    /// Every domain event was fanned out and nothing due is still queued or sending.
    pub settled: bool,
}

impl Report {
    fn of(rows: Vec<store::deliveries::Tally>) -> Self {
        let mut report = Report::default();
        for row in rows {
            if row.later {
                report.later += row.count;
                continue;
            }
            match report.kinds.iter_mut().find(|(kind, _)| *kind == row.kind) {
                Some((_, n)) => *n += row.count,
                None => report.kinds.push((row.kind.clone(), row.count)),
            }
            let line = match report
                .channels
                .iter()
                .position(|c| c.channel == row.channel)
            {
                Some(i) => &mut report.channels[i],
                None => {
                    report.channels.push(ChannelLine {
                        channel: row.channel.clone(),
                        ..ChannelLine::default()
                    });
                    report.channels.last_mut().expect("just pushed")
                }
            };
            let cell = match row.status.as_str() {
                "pending" => &mut line.queued,
                "sending" => &mut line.sending,
                "delivered" => &mut line.delivered,
                "dead" => &mut line.dead,
                "skipped" => &mut line.skipped,
                _ => &mut line.failed,
            };
            *cell += row.count;
        }
        report
    }

    fn open(&self) -> i64 {
        self.channels.iter().map(|c| c.queued + c.sending).sum()
    }

    /// Whether every notice due went out: nothing open, failed or dead.
    pub fn all_out(&self) -> bool {
        self.settled && self.channels.iter().all(|c| c.failed == 0 && c.dead == 0)
    }

    /// The live table: one line per channel.
    pub fn table(&self) -> String {
        let mut text =
            String::from("channel   queued  sending  delivered  failed  dead  skipped\n");
        for line in &self.channels {
            text.push_str(&format!(
                "{:<8} {:>7} {:>8} {:>10} {:>7} {:>5} {:>8}\n",
                line.channel,
                line.queued,
                line.sending,
                line.delivered,
                line.failed,
                line.dead,
                line.skipped
            ));
        }
        text
    }

    /// The closing summary: one line per channel, then the notices by kind.
    pub fn summary(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .channels
            .iter()
            .map(|c| {
                let mut parts = vec![format!("{} delivered", c.delivered)];
                for (n, what) in [
                    (c.queued + c.sending, "not yet out"),
                    (c.failed, "failed"),
                    (c.dead, "dead"),
                    (c.skipped, "skipped as settled"),
                ] {
                    if n > 0 {
                        parts.push(format!("{n} {what}"));
                    }
                }
                format!("{:<8} {}", c.channel, parts.join(", "))
            })
            .collect();
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        lines.push(format!("by kind: {}", kinds.join(", ")));
        if self.later > 0 {
            lines.push(format!(
                "{} more fall due later (escalations, reminders) and are skipped if settled by then",
                self.later
            ));
        }
        lines
    }
}

/// Prints where every notice the demonstration caused stands, per channel, until all are
/// out (or `limit` has passed); returns the last count.
pub async fn watch(
    state: &AppState,
    seeded: &Seeded,
    limit: Duration,
    mut out: impl FnMut(String),
) -> Result<Report, anyhow::Error> {
    let started = Instant::now();
    let events = crate::notify::streams::Streams::new(state.redis.clone());
    let mut last = String::new();
    loop {
        let rows = store::deliveries::tally_for_accounts(&state.db, &seeded.accounts).await?;
        let cancelled = rows.iter().any(|r| r.kind == "event_cancelled");
        let mut report = Report::of(rows);
        let unrelayed = store::outbox::unrelayed_since(&state.db, seeded.started).await?;
        let stream = events.stats(&events.events()).await?;
        report.settled = cancelled
            && unrelayed == 0
            && stream.pending == 0
            && stream.lag == 0
            && report.open() == 0;
        let table = report.table();
        if table != last {
            out(format!(
                "{:>6.1}s\n{table}",
                started.elapsed().as_secs_f64()
            ));
            last = table;
        }
        if report.settled || started.elapsed() > limit {
            return Ok(report);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Where to look at what the simulators received (none in a build without them).
#[cfg(not(feature = "simulators"))]
pub fn inspection(_state: &AppState) -> Vec<String> {
    Vec::new()
}

/// Where to look at what the simulators received.
#[cfg(feature = "simulators")]
pub fn inspection(state: &AppState) -> Vec<String> {
    use crate::notify::providers::ChannelKind;
    let Some(simulators) = state.channels.simulators() else {
        return Vec::new();
    };
    ChannelKind::ALL
        .iter()
        .filter_map(|kind| simulators.get(*kind))
        .map(|sim| {
            format!(
                "{:<8} {}/sim/messages",
                sim.kind.as_str(),
                sim.inspect_url()
            )
        })
        .collect()
}

/// The demonstration's own database, `<configured>_demo` on the same server, so that its
/// families and notices never mix with those of a service running on the configured one.
pub fn database(settings: &DatabaseSettings) -> Result<DatabaseSettings, anyhow::Error> {
    let mut url = url::Url::parse(settings.url.expose())?;
    let name = url.path().trim_start_matches('/');
    let name = if name.is_empty() { "postgres" } else { name };
    if !name.ends_with("_demo") {
        let demo = format!("/{name}_demo");
        url.set_path(&demo);
    }
    Ok(DatabaseSettings {
        url: Secret::new(url.as_str()),
        ..settings.clone()
    })
}

/// The demonstration's own Redis key prefix, bound to its database's installation.
pub fn prefix(configured: &str, installation: Uuid) -> String {
    format!(
        "{configured}-demo-{}",
        &installation.simple().to_string()[..8]
    )
}
