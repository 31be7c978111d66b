//! Typed request helpers: registering and verifying people, filling in profiles, linking
//! families and giving consent, as the mobile apps would.

use rand::Rng as _;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use super::TestApp;

/// A registered, verified person with a live session.
#[derive(Debug, Clone)]
pub struct Person {
    pub account_id: Uuid,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
    pub session_id: Uuid,
}

/// A parent linked to a child, both with profiles, and personal-data consent given.
#[derive(Debug, Clone)]
pub struct Family {
    pub parent: Person,
    pub child: Person,
    pub child_snils: String,
    /// E.164, unique per family.
    pub child_phone: String,
    pub parent_phone: String,
}

pub const PASSWORD: &str = "зелёный-слон-42";

/// A random SNILS with a correct checksum.
pub fn valid_snils() -> String {
    let mut rng = rand::thread_rng();
    let number: u64 = rng.gen_range(2_000_000..999_999_999);
    let digits = format!("{number:09}");
    let sum: u32 = digits
        .bytes()
        .zip((1..=9).rev())
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = match sum {
        s if s < 100 => s,
        100 | 101 => 0,
        s => (s % 101) % 100,
    };
    format!(
        "{}-{}-{} {:02}",
        &digits[0..3],
        &digits[3..6],
        &digits[6..9],
        check
    )
}

/// A random Russian mobile number in E.164, outside the simulators' fault prefixes.
pub fn unique_phone() -> String {
    format!("+7916{:07}", rand::thread_rng().gen_range(0..10_000_000))
}

/// A unique e-mail address.
pub fn email(tag: &str) -> String {
    format!(
        "{tag}-{}@example.ru",
        &Uuid::new_v4().simple().to_string()[..10]
    )
}

/// A valid profile of a 13-year-old seventh-grader (birth certificate).
pub fn student_profile(snils: &str) -> Value {
    let today = chrono::Utc::now().date_naive();
    let birth = today - chrono::Duration::days(13 * 365 + 100);
    json!({
        "surname": "Смирнова",
        "given_name": "Анна",
        "patronymic": "Петровна",
        "birth_date": birth.to_string(),
        "grade": 7,
        "school": "Школа № 1",
        "region": "RU-TA",
        "city": "Казань",
        "phone": "+7 (912) 345-67-89",
        "snils": snils,
        "document": "IV-МЮ 123456",
    })
}

/// A valid parent profile.
pub fn parent_profile(snils: &str) -> Value {
    json!({
        "surname": "Смирнов",
        "given_name": "Пётр",
        "patronymic": "Иванович",
        "birth_date": "1985-04-12",
        "snils": snils,
        "phone": "8 903 111 22 33",
    })
}

impl TestApp {
    /// A request with the bearer token.
    pub fn authed(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.authed(Method::GET, path, token)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.authed(Method::POST, path, token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn put_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.authed(Method::PUT, path, token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete_as(&self, path: &str, token: &str) -> Response {
        self.authed(Method::DELETE, path, token)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn register(&self, email: &str, password: &str, role: &str) -> Response {
        self.post_json(
            "/v1/auth/register",
            &json!({ "email": email, "password": password, "role": role }),
        )
        .await
    }

    /// The code the verification e-mail would carry (the outbox holds it encrypted).
    pub async fn verification_code(&self, email: &str) -> String {
        let account: Uuid = sqlx::query_scalar("SELECT id FROM accounts WHERE email = $1")
            .bind(email)
            .fetch_one(&self.db)
            .await
            .expect("account exists");
        let sealed: String = sqlx::query_scalar(
            "SELECT payload->>'code_enc' FROM outbox
             WHERE kind = 'email_verification_requested' AND payload->>'account_id' = $1
             ORDER BY id DESC LIMIT 1",
        )
        .bind(account.to_string())
        .fetch_one(&self.db)
        .await
        .expect("a verification e-mail was queued");
        self.state
            .vault
            .open("outbox.verification_code", account, &sealed)
            .expect("the code decrypts")
    }

    pub async fn verify(&self, email: &str, code: &str, device: &str) -> Response {
        self.post_json(
            "/v1/auth/verify",
            &json!({ "email": email, "code": code, "device": { "name": device, "platform": "ios" } }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str, device: &str) -> Response {
        self.post_json(
            "/v1/auth/login",
            &json!({ "email": email, "password": password, "device": { "name": device, "platform": "android" } }),
        )
        .await
    }

    /// Registers and verifies a student or parent.
    pub async fn signup(&self, role: &str) -> Person {
        let email = email(role);
        let response = self.register(&email, PASSWORD, role).await;
        assert_eq!(
            response.status(),
            202,
            "register: {}",
            response.text().await.unwrap_or_default()
        );
        let code = self.verification_code(&email).await;
        let response = self.verify(&email, &code, "Телефон").await;
        assert_eq!(response.status(), 200, "verify");
        person(response.json().await.expect("tokens"), email)
    }

    /// Creates a staff account directly, as `bilet admin create-user` does, and logs in.
    pub async fn staff(&self, role: bilet::admin::StaffRole, organization: Option<&str>) -> Person {
        let email = email("staff");
        bilet::admin::create_user(
            &self.state,
            role,
            &email,
            organization,
            Some(PASSWORD.to_owned()),
        )
        .await
        .expect("staff account created");
        let response = self.login(&email, PASSWORD, "Рабочий ноутбук").await;
        assert_eq!(response.status(), 200, "staff login");
        person(response.json().await.expect("tokens"), email)
    }

    /// A student with a profile, a parent with a profile, linked by code, with the
    /// parent's personal-data consent given.
    pub async fn family(&self) -> Family {
        let child = self.signup("student").await;
        let parent = self.signup("parent").await;
        let child_snils = valid_snils();
        let (child_phone, parent_phone) = (unique_phone(), unique_phone());
        let mut profile = student_profile(&child_snils);
        profile["phone"] = json!(child_phone);
        let response = self
            .put_as("/v1/me/student-profile", &child.access, &profile)
            .await;
        assert_eq!(
            response.status(),
            200,
            "student profile: {}",
            response.text().await.unwrap_or_default()
        );
        let mut profile = parent_profile(&valid_snils());
        profile["phone"] = json!(parent_phone);
        let response = self
            .put_as("/v1/me/parent-profile", &parent.access, &profile)
            .await;
        assert_eq!(
            response.status(),
            200,
            "parent profile: {}",
            response.text().await.unwrap_or_default()
        );
        self.link(&parent, &child).await;
        self.give_consent(&parent, &child, "personal_data").await;
        Family {
            parent,
            child,
            child_snils,
            child_phone,
            parent_phone,
        }
    }

    /// Links parent and child through a code the child's app shows.
    pub async fn link(&self, parent: &Person, child: &Person) {
        let code: Value = self
            .post_as("/v1/me/link-codes", &child.access, &json!({}))
            .await
            .json()
            .await
            .expect("code");
        self.redeem_link_code(parent, &code).await;
    }

    /// Links another adult to a child who already has a parent, with a code that parent
    /// created (the linked parent's confirmation).
    pub async fn link_second_parent(&self, first: &Person, second: &Person, child: &Person) {
        let code: Value = self
            .post_as(
                &format!("/v1/children/{}/link-codes", child.account_id),
                &first.access,
                &json!({}),
            )
            .await
            .json()
            .await
            .expect("code");
        self.redeem_link_code(second, &code).await;
    }

    /// An adult types a link code into their app, and is linked at once.
    async fn redeem_link_code(&self, adult: &Person, code: &Value) {
        let response = self
            .post_as(
                "/v1/me/children",
                &adult.access,
                &json!({ "code": code["code"] }),
            )
            .await;
        assert_eq!(
            response.status(),
            201,
            "link: {}",
            response.text().await.unwrap_or_default()
        );
    }

    pub async fn give_consent(&self, parent: &Person, child: &Person, kind: &str) -> Response {
        let response = self
            .post_as(
                &format!("/v1/children/{}/consents", child.account_id),
                &parent.access,
                &json!({
                    "kind": kind,
                    "text_version": format!("{kind}/v1"),
                    "passport_series": "4510",
                    "passport_number": "123456",
                }),
            )
            .await;
        assert_eq!(response.status(), 201, "consent {kind}");
        response
    }
}

fn person(tokens: Value, email: String) -> Person {
    Person {
        account_id: tokens["account_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("account id"),
        email,
        password: PASSWORD.to_owned(),
        access: tokens["access_token"]
            .as_str()
            .expect("access token")
            .to_owned(),
        refresh: tokens["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned(),
        session_id: tokens["session_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("session id"),
    }
}

impl TestApp {
    /// A student takes Klimov's questionnaire, choosing `option` (`a` or `b`) in every pair,
    /// and finishes it; returns the attempt id.
    pub async fn finish_klimov(&self, student: &Person, option: &str) -> String {
        let attempt: Value = self
            .post_as("/v1/tests/klimov-ddo/attempts", &student.access, &json!({}))
            .await
            .json()
            .await
            .expect("attempt");
        let id = attempt["id"].as_str().expect("attempt id").to_owned();
        let answers: Vec<Value> = (1..=20)
            .map(|n| {
                json!({ "question_id": n.to_string(), "value": { "option": option }, "seq": 1,
                        "client_time": chrono::Utc::now() })
            })
            .collect();
        self.post_as(
            &format!("/v1/attempts/{id}/answers:batch"),
            &student.access,
            &json!({ "answers": answers }),
        )
        .await;
        let finished = self
            .post_as(
                &format!("/v1/attempts/{id}/finish"),
                &student.access,
                &json!({}),
            )
            .await;
        assert_eq!(finished.status(), 200, "finish");
        id
    }
}

impl TestApp {
    /// Runs the erasure job until the child's account is gone (the job waits for the
    /// domain events about the child to be fanned out first).
    pub async fn erase(&self, child: Uuid) {
        super::eventually(
            std::time::Duration::from_secs(30),
            "the child's erasure",
            || async {
                bilet::privacy::erasure::erase_due(&self.db, &self.state.index)
                    .await
                    .expect("erasure runs");
                let left: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE id = $1")
                    .bind(child)
                    .fetch_one(&self.db)
                    .await
                    .ok()?;
                (left == 0).then_some(())
            },
        )
        .await;
    }
}

/// A name of Cyrillic letters no other test uses, for searching the database for it.
pub fn canary_name(prefix: &str) -> String {
    const LETTERS: [char; 16] = [
        'а', 'б', 'в', 'г', 'д', 'ж', 'з', 'к', 'л', 'м', 'н', 'п', 'р', 'с', 'т', 'ф',
    ];
    let tail: String = Uuid::new_v4().as_bytes()[..8]
        .iter()
        .map(|b| LETTERS[usize::from(b % 16)])
        .collect();
    format!("{prefix}{tail}")
}

/// A birth certificate number no other test uses.
pub fn unique_birth_certificate() -> String {
    format!(
        "XV-ДЯ {:06}",
        rand::thread_rng().gen_range(100_000..1_000_000)
    )
}

/// A family that has used every part of the service, with the values that identify the
/// child, to look for after erasure and in the export.
#[derive(Debug, Clone)]
pub struct RichFamily {
    pub parent: Person,
    pub child: Person,
    pub child_snils: String,
    pub child_phone: String,
    pub child_document: String,
    /// Surname, given name and patronymic.
    pub child_names: [String; 3],
    pub child_device_name: String,
    pub child_token: String,
    pub parent_token: String,
    /// The `Idempotency-Key`s the child used.
    pub child_keys: Vec<String>,
    pub event_id: Uuid,
    pub signup_id: String,
    /// The child's open attempt, with an answer to question `1`.
    pub attempt_id: String,
    /// The user agent the parent gave the photo-and-video consent from.
    pub consent_user_agent: String,
    /// A student who tried to save the child's SNILS.
    pub claimant: Person,
}

impl TestApp {
    /// A child and a parent who used everything: profiles, a link code and an invitation,
    /// consents, push devices and preferences, a sign-up approved with idempotency keys
    /// (and the notices it sent), an open test attempt with an answer, a parent's read of
    /// the child's profile, and someone else's try at the child's SNILS.
    pub async fn rich_family(&self) -> RichFamily {
        let organizer = self.organizer().await;
        let event_id = self
            .publish_event(
                &organizer,
                &super::event_input(chrono::Duration::days(5), 5),
            )
            .await;

        let child_email = email("rich-child");
        let child_device_name = format!("Телефон {}", canary_name("Дим"));
        assert_eq!(
            self.register(&child_email, PASSWORD, "student")
                .await
                .status(),
            202
        );
        let code = self.verification_code(&child_email).await;
        let verified = self.verify(&child_email, &code, &child_device_name).await;
        assert_eq!(verified.status(), 200, "verify");
        let child = person(verified.json().await.expect("tokens"), child_email);

        let child_snils = valid_snils();
        let child_phone = unique_phone();
        let child_document = unique_birth_certificate();
        let child_names = [canary_name("Стёр"), canary_name("Дар"), canary_name("Тест")];
        let mut profile = student_profile(&child_snils);
        profile["surname"] = json!(child_names[0]);
        profile["given_name"] = json!(child_names[1]);
        profile["patronymic"] = json!(child_names[2]);
        profile["phone"] = json!(child_phone);
        profile["document"] = json!(child_document);
        let saved = self
            .put_as("/v1/me/student-profile", &child.access, &profile)
            .await;
        assert_eq!(
            saved.status(),
            200,
            "student profile: {}",
            saved.text().await.unwrap_or_default()
        );

        let parent = self.signup("parent").await;
        let mut profile = parent_profile(&valid_snils());
        profile["phone"] = json!(unique_phone());
        let saved = self
            .put_as("/v1/me/parent-profile", &parent.access, &profile)
            .await;
        assert_eq!(saved.status(), 200, "parent profile");
        let invited = self
            .post_as(
                "/v1/me/invitations",
                &parent.access,
                &json!({ "child_email": child.email }),
            )
            .await;
        assert_eq!(invited.status(), 202, "invitation");
        self.link(&parent, &child).await;
        self.give_consent(&parent, &child, "personal_data").await;
        // Another adult asks to join with the child's code (a request the parent has not
        // decided), and the parent makes a code for a second parent.
        let other = self.signup("parent").await;
        let code: Value = self
            .post_as("/v1/me/link-codes", &child.access, &json!({}))
            .await
            .json()
            .await
            .expect("code");
        let asked = self
            .post_as(
                "/v1/me/children",
                &other.access,
                &json!({ "code": code["code"] }),
            )
            .await;
        assert_eq!(asked.status(), 202, "link request");
        let made = self
            .post_as(
                &format!("/v1/children/{}/link-codes", child.account_id),
                &parent.access,
                &json!({}),
            )
            .await;
        assert_eq!(made.status(), 201, "a parent's link code");
        let consent_user_agent = format!("BiletTest/{} (rich family)", Uuid::new_v4().simple());
        let consent = self
            .authed(
                Method::POST,
                &format!("/v1/children/{}/consents", child.account_id),
                &parent.access,
            )
            .header("user-agent", &consent_user_agent)
            .json(&json!({
                "kind": "photo_video", "text_version": "photo_video/v1",
                "passport_series": "4510", "passport_number": "123456",
            }))
            .send()
            .await
            .expect("request sent");
        assert_eq!(consent.status(), 201, "photo-video consent");

        let child_token = format!("rich-child-{}", Uuid::new_v4().simple());
        let parent_token = format!("rich-parent-{}", Uuid::new_v4().simple());
        self.register_device(&child, &child_token, "ios").await;
        self.register_device(&parent, &parent_token, "ios").await;
        let prefs = self
            .put_as(
                "/v1/me/notification-preferences",
                &child.access,
                &json!({ "language": "ru", "time_zone": "Asia/Yekaterinburg" }),
            )
            .await;
        assert_eq!(prefs.status(), 200, "preferences");

        let child_keys = vec![
            format!("child-signup-{}", Uuid::new_v4().simple()),
            format!("child-link-{}", Uuid::new_v4().simple()),
        ];
        let signed_up = self
            .authed(
                Method::POST,
                &format!("/v1/events/{event_id}/signups"),
                &child.access,
            )
            .header("idempotency-key", &child_keys[0])
            .json(&json!({}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(signed_up.status(), 201, "sign-up");
        let signup: Value = signed_up.json().await.expect("sign-up");
        let signup_id = signup["id"].as_str().expect("sign-up id").to_owned();
        let decided = self
            .authed(
                Method::POST,
                &format!("/v1/signups/{signup_id}/decision"),
                &parent.access,
            )
            .header(
                "idempotency-key",
                format!("parent-{}", Uuid::new_v4().simple()),
            )
            .json(&json!({ "decision": "approve" }))
            .send()
            .await
            .expect("request sent");
        assert_eq!(decided.status(), 200, "decision");
        let shown = self
            .authed(Method::POST, "/v1/me/link-codes", &child.access)
            .header("idempotency-key", &child_keys[1])
            .json(&json!({}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(shown.status(), 201, "link code");

        let attempt: Value = self
            .post_as("/v1/tests/klimov-ddo/attempts", &child.access, &json!({}))
            .await
            .json()
            .await
            .expect("attempt");
        let attempt_id = attempt["id"].as_str().expect("attempt id").to_owned();
        let answered = self
            .put_as(
                &format!("/v1/attempts/{attempt_id}/answers/1"),
                &child.access,
                &json!({ "value": { "option": "a" }, "seq": 1, "client_time": chrono::Utc::now() }),
            )
            .await;
        assert_eq!(answered.status(), 200, "answer");

        let read = self
            .get_as(
                &format!("/v1/children/{}/profile", child.account_id),
                &parent.access,
            )
            .await;
        assert_eq!(read.status(), 200, "parent reads the profile");

        let claimant = self.signup("student").await;
        let taken = self
            .put_as(
                "/v1/me/student-profile",
                &claimant.access,
                &student_profile(&child_snils),
            )
            .await;
        assert_eq!(taken.status(), 409, "SNILS conflict");

        // The notices of the sign-up reached the ledger (with the child's device).
        self.settled("signup_approved").await;
        RichFamily {
            parent,
            child,
            child_snils,
            child_phone,
            child_document,
            child_names,
            child_device_name,
            child_token,
            parent_token,
            child_keys,
            event_id,
            signup_id,
            attempt_id,
            consent_user_agent,
            claimant,
        }
    }
}
