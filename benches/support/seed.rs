//! The bulk seeder of the hub's benchmarks and drills (and of the tests that need
//! thousands of families): an organizer, one published event starting in 30 hours (urgent to cancel,
//! and past the day-before reminder, which would add a fan-out of its own), and
//! students with one parent each, all signed up and approved, written with a few `unnest`
//! statements instead of the API (which hashes every password and would take minutes).
//! Included with `#[path]` by `benches/support/mod.rs` and by `tests/api/hub_faults.rs`.

use std::collections::BTreeMap;

use bilet::privacy::Vault;
use bilet::privacy::vault::fields;
use sqlx::PgConnection;
use uuid::Uuid;

/// The hub's delivery channels, in the order reports list them.
pub const CHANNELS: [&str; 5] = ["apns", "fcm", "rustore", "sms", "email"];

/// What was seeded, and the deliveries the policy must make of it.
pub struct Population {
    pub students: usize,
    pub organization: Uuid,
    pub event: Uuid,
    /// Deliveries per channel: push per device, SMS and e-mail per person.
    pub expected: BTreeMap<&'static str, u64>,
    pub devices: u64,
    /// Every delivery the cancellation must make, as (channel, recipient): a device token,
    /// a phone number (E.164) or an e-mail address, each reached by exactly one delivery.
    pub recipients: Vec<(&'static str, String)>,
}

impl Population {
    pub fn total(&self) -> u64 {
        self.expected.values().sum()
    }
}

/// Students: 45 % FCM, 30 % iOS, 10 % RuStore, 15 % no app; parents: 50 % iOS, 30 % FCM,
/// 20 % no app. One in fifty reads in English.
fn student_platform(i: usize) -> Option<&'static str> {
    match i % 20 {
        0..=8 => Some("android-fcm"),
        9..=14 => Some("ios"),
        15..=16 => Some("android-rustore"),
        _ => None,
    }
}

fn parent_platform(i: usize) -> Option<&'static str> {
    match i % 10 {
        0..=4 => Some("ios"),
        5..=7 => Some("android-fcm"),
        _ => None,
    }
}

/// A device token of the platform's usual length (letters and digits).
fn device_token(platform: &str) -> String {
    let long: String = (0..3)
        .map(|_| Uuid::new_v4().simple().to_string())
        .collect();
    match platform {
        "ios" => long[..64].to_owned(),
        "android-fcm" => format!("f{}", &long[..95]),
        _ => format!("r{}", &long[..63]),
    }
}

/// Seeds `students` students, each with one parent (verified e-mail addresses; phones,
/// and the parents' birth dates and SNILS, sealed with `vault`, whose keys the workers
/// must be given), approved for one event, and their devices.
pub async fn seed(
    conn: &mut PgConnection,
    students: usize,
    vault: &Vault,
) -> anyhow::Result<Population> {
    let organization = Uuid::now_v7();
    let organizer = Uuid::now_v7();
    let event = Uuid::now_v7();
    sqlx::query("INSERT INTO organizations (id, name) VALUES ($1, 'Уралмашзавод')")
        .bind(organization)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO accounts (id, email, password_hash, role, organization_id, email_verified_at)
         VALUES ($1, 'organizer@bench.example.ru', '!bench', 'organizer', $2, now())",
    )
    .bind(organizer)
    .bind(organization)
    .execute(&mut *conn)
    .await?;

    let mut recipients: Vec<(&'static str, String)> = Vec::with_capacity(6 * students);
    let student_ids: Vec<Uuid> = (0..students).map(|_| Uuid::now_v7()).collect();
    let parent_ids: Vec<Uuid> = (0..students).map(|_| Uuid::now_v7()).collect();
    let mut ids = Vec::with_capacity(2 * students);
    let mut emails = Vec::with_capacity(2 * students);
    let mut roles = Vec::with_capacity(2 * students);
    let mut locales = Vec::with_capacity(2 * students);
    for (i, (student, parent)) in student_ids.iter().zip(&parent_ids).enumerate() {
        let locale = if i % 50 == 49 { "en" } else { "ru" };
        ids.extend([*student, *parent]);
        let addresses = [
            format!("student{i}@school.example.ru"),
            format!("parent{i}@mail.example.ru"),
        ];
        recipients.extend(addresses.iter().map(|a| ("email", a.clone())));
        emails.extend(addresses);
        roles.extend(["student", "parent"]);
        locales.extend([locale, locale]);
    }
    sqlx::query(
        "INSERT INTO accounts (id, email, password_hash, role, locale, email_verified_at)
         SELECT id, email, '!bench', role, locale, now()
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS t(id, email, role, locale)",
    )
    .bind(&ids)
    .bind(&emails)
    .bind(&roles)
    .bind(&locales)
    .execute(&mut *conn)
    .await?;

    let student_phones: Vec<String> = student_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let phone = format!("+7916{i:07}");
            let sealed = vault.seal(fields::STUDENT_PHONE, *id, &phone);
            recipients.push(("sms", phone));
            sealed
        })
        .collect();
    let grades: Vec<i16> = (0..students).map(|i| 8 + (i % 4) as i16).collect();
    sqlx::query(
        "INSERT INTO student_profiles (account_id, surname, given_name, grade, school, region, city, phone_enc)
         SELECT id, 'Иванов', 'Пётр', grade, 'Школа № 5', 'Свердловская область', 'Екатеринбург', phone
         FROM unnest($1::uuid[], $2::smallint[], $3::text[]) AS t(id, grade, phone)",
    )
    .bind(&student_ids)
    .bind(&grades)
    .bind(&student_phones)
    .execute(&mut *conn)
    .await?;

    let mut births = Vec::with_capacity(students);
    let mut snilses = Vec::with_capacity(students);
    let mut phones = Vec::with_capacity(students);
    for (i, id) in parent_ids.iter().enumerate() {
        let phone = format!("+7917{i:07}");
        births.push(vault.seal(fields::PARENT_BIRTH_DATE, *id, "1984-03-15"));
        snilses.push(vault.seal(fields::PARENT_SNILS, *id, &format!("{:011}", i)));
        phones.push(vault.seal(fields::PARENT_PHONE, *id, &phone));
        recipients.push(("sms", phone));
    }
    sqlx::query(
        "INSERT INTO parent_profiles (account_id, surname, given_name, birth_date_enc, snils_enc, phone_enc)
         SELECT id, 'Иванова', 'Мария', birth, snils, phone
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS t(id, birth, snils, phone)",
    )
    .bind(&parent_ids)
    .bind(&births)
    .bind(&snilses)
    .bind(&phones)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO family_links (parent_id, student_id, via)
         SELECT p, s, 'code' FROM unnest($1::uuid[], $2::uuid[]) AS t(p, s)",
    )
    .bind(&parent_ids)
    .bind(&student_ids)
    .execute(&mut *conn)
    .await?;

    let mut expected: BTreeMap<&'static str, u64> = CHANNELS.iter().map(|c| (*c, 0)).collect();
    let (mut tokens, mut owners, mut platforms) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..students {
        for (owner, platform) in [
            (student_ids[i], student_platform(i)),
            (parent_ids[i], parent_platform(i)),
        ] {
            if let Some(platform) = platform {
                let token = device_token(platform);
                let channel =
                    bilet::notify::policy::push_channel(platform).map_or("apns", |c| c.as_str());
                *expected.entry(channel).or_default() += 1;
                recipients.push((channel, token.clone()));
                tokens.push(token);
                owners.push(owner);
                platforms.push(platform);
            }
        }
    }
    *expected.entry("sms").or_default() += 2 * students as u64;
    *expected.entry("email").or_default() += 2 * students as u64;
    sqlx::query(
        "INSERT INTO devices (token, account_id, platform, app_version, locale)
         SELECT token, account, platform, '2.4.1', 'ru'
         FROM unnest($1::text[], $2::uuid[], $3::text[]) AS t(token, account, platform)",
    )
    .bind(&tokens)
    .bind(&owners)
    .bind(&platforms)
    .execute(&mut *conn)
    .await?;

    sqlx::query(
        "INSERT INTO events (id, organization_id, created_by, title, description, profession_area,
             format, region, city, address, grade_min, grade_max, capacity, seats_held,
             starts_at, ends_at, time_zone, signup_deadline, approval_window, status, published_at)
         VALUES ($1, $2, $3, 'Экскурсия на машиностроительный завод',
             'Цеха, конструкторское бюро и разговор с инженерами.', 'engineering',
             'in_person', 'Свердловская область', 'Екатеринбург', 'пл. Первой пятилетки, 1',
             8, 11, $4, $4, now() + interval '30 hours', now() + interval '33 hours',
             'Asia/Yekaterinburg', now() + interval '12 hours', interval '48 hours',
             'published', now() - interval '10 days')",
    )
    .bind(event)
    .bind(organization)
    .bind(organizer)
    .bind(students as i32)
    .execute(&mut *conn)
    .await?;
    let signups: Vec<Uuid> = (0..students).map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO signups (id, event_id, student_id, status, requested_at, decided_at, decided_by)
         SELECT id, $1, student, 'approved', now() - interval '9 days', now() - interval '8 days', parent
         FROM unnest($2::uuid[], $3::uuid[], $4::uuid[]) AS t(id, student, parent)",
    )
    .bind(event)
    .bind(&signups)
    .bind(&student_ids)
    .bind(&parent_ids)
    .execute(&mut *conn)
    .await?;
    Ok(Population {
        students,
        organization,
        event,
        devices: tokens.len() as u64,
        expected,
        recipients,
    })
}

/// Gives the seeded database what one in service has: statistics and no backlog of dirty
/// pages (`VACUUM ANALYZE`, `CHECKPOINT`), so a measurement does not start with them.
pub async fn settle(conn: &mut PgConnection) -> anyhow::Result<()> {
    sqlx::query("VACUUM ANALYZE").execute(&mut *conn).await?;
    sqlx::query("CHECKPOINT").execute(&mut *conn).await?;
    Ok(())
}

/// Cancels the seeded event as the API does (`participation::organizer::cancel_event`, in
/// one transaction: every sign-up cancelled and the `event_cancelled` outbox row written).
pub async fn cancel(conn: &mut PgConnection, population: &Population) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut tx = conn.begin().await?;
    bilet::participation::organizer::cancel_event(
        &mut tx,
        bilet::domain::ids::EventId(population.event),
        bilet::domain::ids::OrganizationId(population.organization),
        "Авария на площадке: цех закрыт до понедельника",
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
