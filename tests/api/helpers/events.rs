//! Helpers for events and sign-ups: an organizer, event bodies, published events, and
//! students seeded straight into the database for load-shaped tests.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Person, TestApp};

/// An event body: in person in Kazan, grades 6–9, starting in `starts_in`.
pub fn event_input(starts_in: Duration, capacity: i64) -> Value {
    let starts_at = Utc::now() + starts_in;
    json!({
        "title": "Проба: программирование роботов",
        "description": "Соберём и запрограммируем робота-манипулятора.",
        "profession_area": "engineering",
        "format": "in_person",
        "region": "RU-TA",
        "city": "Казань",
        "address": "ул. Баумана, 1",
        "grade_min": 6,
        "grade_max": 9,
        "capacity": capacity,
        "starts_at": starts_at,
        "ends_at": starts_at + Duration::hours(3),
        "time_zone": "Europe/Moscow",
        "accessibility": ["step_free"],
        "signup_deadline": starts_at - Duration::hours(1),
        "approval_window_hours": 48,
    })
}

/// A student seeded in the database with a token, as the concurrency tests need many.
#[derive(Debug, Clone)]
pub struct SeededStudent {
    pub account_id: Uuid,
    pub access: String,
}

impl TestApp {
    /// An organizer of a new organization.
    pub async fn organizer(&self) -> Person {
        let name = format!("Площадка {}", &Uuid::new_v4().simple().to_string()[..6]);
        self.staff(bilet::admin::StaffRole::Organizer, Some(&name))
            .await
    }

    /// Creates and publishes an event from `body`; returns its id.
    pub async fn publish_event(&self, organizer: &Person, body: &Value) -> Uuid {
        let created = self.post_as("/v1/events", &organizer.access, body).await;
        assert_eq!(
            created.status(),
            201,
            "create event: {}",
            created.text().await.unwrap_or_default()
        );
        let event: Value = created.json().await.expect("event");
        let id: Uuid = event["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("event id");
        let published = self
            .post_as(
                &format!("/v1/events/{id}/publish"),
                &organizer.access,
                &json!({}),
            )
            .await;
        assert_eq!(published.status(), 200, "publish");
        id
    }

    /// Signs `student` up for `event`; returns the response body, asserting `status`.
    pub async fn sign_up(&self, student: &str, event: Uuid, status: u16) -> Value {
        let response = self
            .post_as(&format!("/v1/events/{event}/signups"), student, &json!({}))
            .await;
        let got = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or_default();
        assert_eq!(got, status, "sign up: {body}");
        body
    }

    /// `n` students in grade 8 of RU-TA, each linked to a parent who gave personal-data
    /// consent, inserted directly (no argon2, no HTTP), each with a live session.
    pub async fn seed_students(&self, n: usize) -> Vec<SeededStudent> {
        let students: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        let parents: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        let sessions: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        let consents: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        let student_emails: Vec<String> = students
            .iter()
            .map(|id| format!("s-{id}@seed.example"))
            .collect();
        let parent_emails: Vec<String> = parents
            .iter()
            .map(|id| format!("p-{id}@seed.example"))
            .collect();
        let proofs: Vec<String> = consents
            .iter()
            .map(|id| {
                self.state
                    .vault
                    .seal("consent.identity_proof", *id, "4510 123456")
            })
            .collect();
        let mut tx = self.db.begin().await.expect("tx");
        for (ids, emails, role) in [
            (&students, &student_emails, "student"),
            (&parents, &parent_emails, "parent"),
        ] {
            sqlx::query(
                "INSERT INTO accounts (id, email, password_hash, role, email_verified_at)
                 SELECT id, email, '!seeded', $3, now() FROM UNNEST($1::uuid[], $2::text[]) AS t(id, email)",
            )
            .bind(ids)
            .bind(emails)
            .bind(role)
            .execute(&mut *tx)
            .await
            .expect("seed accounts");
        }
        sqlx::query(
            "INSERT INTO student_profiles (account_id, surname, given_name, grade, region, city)
             SELECT id, 'Сидоров', 'Иван', 8, 'RU-TA', 'Казань' FROM UNNEST($1::uuid[]) AS t(id)",
        )
        .bind(&students)
        .execute(&mut *tx)
        .await
        .expect("seed profiles");
        sqlx::query(
            "INSERT INTO family_links (parent_id, student_id, via)
             SELECT p, s, 'code' FROM UNNEST($1::uuid[], $2::uuid[]) AS t(p, s)",
        )
        .bind(&parents)
        .bind(&students)
        .execute(&mut *tx)
        .await
        .expect("seed links");
        sqlx::query(
            "INSERT INTO consents (id, kind, student_id, parent_id, text_version, identity_proof_enc)
             SELECT c, 'personal_data', s, p, 'personal_data/v1', proof
             FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[]) AS t(c, s, p, proof)",
        )
        .bind(&consents)
        .bind(&students)
        .bind(&parents)
        .bind(&proofs)
        .execute(&mut *tx)
        .await
        .expect("seed consents");
        sqlx::query(
            "INSERT INTO device_sessions (id, account_id, device_name, platform)
             SELECT id, a, 'Телефон', 'android' FROM UNNEST($1::uuid[], $2::uuid[]) AS t(id, a)",
        )
        .bind(&sessions)
        .bind(&students)
        .execute(&mut *tx)
        .await
        .expect("seed sessions");
        tx.commit().await.expect("commit seed");
        students
            .iter()
            .zip(&sessions)
            .map(|(student, session)| SeededStudent {
                account_id: *student,
                access: self.state.tokens.issue(
                    bilet::domain::ids::AccountId(*student),
                    bilet::domain::ids::SessionId(*session),
                    bilet::domain::roles::Role::Student,
                ),
            })
            .collect()
    }

    /// Outbox events of a kind, oldest first.
    pub async fn outbox(&self, kind: &str) -> Vec<Value> {
        sqlx::query_scalar("SELECT payload FROM outbox WHERE kind = $1 ORDER BY id")
            .bind(kind)
            .fetch_all(&self.db)
            .await
            .expect("outbox")
    }

    /// Moves a time column of sign-ups into the past, as if time had passed.
    pub async fn backdate_signup(&self, signup: &str, column: &str) {
        let sql = match column {
            "expires_at" => {
                "UPDATE signups SET expires_at = now() - interval '1 second' WHERE id = $1"
            }
            "reminder_due_at" => {
                "UPDATE signups SET reminder_due_at = now() - interval '1 second' WHERE id = $1"
            }
            other => panic!("unknown column {other}"),
        };
        sqlx::query(sql)
            .bind(signup.parse::<Uuid>().expect("signup id"))
            .execute(&self.db)
            .await
            .expect("backdate");
    }
}
