//! `bilet demo`: seeds an organization, an event with 50 students and their parents (with
//! a mix of iPhones, Android phones with and without Google services, and parents without
//! the app), cancels the event a day before it starts, and prints, live, how the
//! deliveries go out per channel as the local simulators receive them.

use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use rand::Rng as _;
use serde_json::json;
use uuid::Uuid;

use crate::domain::documents::DocumentKind;
use crate::domain::ids::{AccountId, ConsentId, EventId, SignupId};
use crate::domain::snils::Snils;
use crate::notify::providers::ChannelKind;
use crate::participation::{self, Decision, organizer};
use crate::privacy::vault::{ParentProfile, StudentProfile, fields};
use crate::startup::AppState;
use crate::store::accounts::NewAccount;
use crate::store::events::EventFields;
use crate::store::{self, StoreError};

/// Families in the demonstration.
pub const FAMILIES: usize = 50;

/// What the demonstration seeded.
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    pub event: EventId,
    pub students: usize,
}

/// Seeds the demonstration's organization, event and families, each signed up and
/// approved; returns the event.
pub async fn seed(state: &AppState) -> Result<Seeded, anyhow::Error> {
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
        "organizer",
        Some(organization),
    )
    .await?;
    let event = EventId::new();
    let starts_at = Utc::now() + chrono::Duration::hours(20);
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
        },
    )
    .await?;
    store::events::publish(&mut *tx, event).await?;
    tx.commit().await?;

    let mut rng = rand::thread_rng();
    for i in 0..FAMILIES {
        let (student, parent) = (AccountId::new(), AccountId::new());
        let mut tx = state.db.begin().await?;
        insert_account(
            &mut tx,
            student,
            &format!("student-{stamp}-{i}"),
            "student",
            None,
        )
        .await?;
        insert_account(
            &mut tx,
            parent,
            &format!("parent-{stamp}-{i}"),
            "parent",
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
        participation::decide(
            &mut tx,
            SignupId(signup.id),
            parent,
            Decision::Approve,
            None,
        )
        .await?;
        tx.commit().await?;
    }
    Ok(Seeded {
        event,
        students: FAMILIES,
    })
}

async fn insert_account(
    tx: &mut sqlx::PgConnection,
    id: AccountId,
    local: &str,
    role: &str,
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
        crate::domain::ids::OrganizationId(row.organization_id),
        "Площадка закрыта: авария водопровода",
    )
    .await?;
    tx.commit().await?;
    let outbox = store::outbox::list(&state.db, Some("event_cancelled")).await?;
    outbox
        .into_iter()
        .rev()
        .find(|e| e.payload["event_id"] == json!(event.0))
        .map(|e| e.event_id)
        .ok_or_else(|| anyhow::anyhow!("the cancellation was not announced"))
}

/// Prints the deliveries of the cancellation per channel until all are final (or a
/// minute has passed); returns whether they all were.
pub async fn watch(
    state: &AppState,
    cancellation: Uuid,
    mut out: impl FnMut(String),
) -> Result<bool, anyhow::Error> {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let counts = store::deliveries::counts_for_event(&state.db, cancellation).await?;
        let table = crate::api::notices::channel_counts(counts);
        let open: i64 = table.iter().map(|c| c.queued + c.sent).sum();
        let mut text = format!(
            "{:>6.1}s  channel   queued  sending  delivered  failed  dead\n",
            started.elapsed().as_secs_f64()
        );
        for line in &table {
            text.push_str(&format!(
                "         {:<8} {:>7} {:>8} {:>10} {:>7} {:>5}\n",
                line.channel, line.queued, line.sent, line.delivered, line.failed, line.dead
            ));
        }
        if text.split_once('\n').map(|(_, rest)| rest)
            != last.split_once('\n').map(|(_, rest)| rest)
        {
            out(text.clone());
            last = text;
        }
        if !table.is_empty() && open == 0 {
            return Ok(true);
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Where to look at what the simulators received.
pub fn inspection(state: &AppState) -> Vec<String> {
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
