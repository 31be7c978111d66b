//! Who I am and my profile: `GET /v1/me`, the student's and the parent's profile, a
//! parent's view of their child, and the export of everything held about the caller.
//!
//! Documents are shown masked to their owner; a linked parent sees the child's profile in
//! full, and each such read is recorded in the access audit.

use chrono::{NaiveDate, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Deserialize;
use uuid::Uuid;

use super::ApiTag;
use super::body::JsonBody;
use super::fields::Fields;
use super::security::{BearerAuth, Caller, ClientInfo, Role};
use crate::domain::documents::{self, BirthCertificate, DocumentKind, Passport};
use crate::domain::ids::AccountId;
use crate::domain::names::{PersonName, ShortText};
use crate::domain::phone::Phone;
use crate::domain::region::Region;
use crate::domain::snils::Snils;
use crate::domain::student::{self, Grade};
use crate::http::problem::Problem;
use crate::privacy::vault::{Health, OpenStudent, ParentProfile, StudentProfile};
use crate::security::rate_limit;
use crate::state::AppState;
use crate::store;
use crate::store::audit::{self, AuditAction};

pub struct ProfilesApi;

/// A profile's texts, in characters; the API document states the same bounds.
pub const SCHOOL_CHARS: usize = 200;
pub const CITY_CHARS: usize = 100;
pub const HEALTH_DETAILS_CHARS: usize = 1000;

/// An accessibility need (ОВЗ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum AccessibilityNeed {
    Mobility,
    Vision,
    Hearing,
    Other,
}

impl AccessibilityNeed {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessibilityNeed::Mobility => "mobility",
            AccessibilityNeed::Vision => "vision",
            AccessibilityNeed::Hearing => "hearing",
            AccessibilityNeed::Other => "other",
        }
    }
}

/// ОВЗ status and needs. Health data: accepted only while a parent's `health_data`
/// consent stands, and erased when it is withdrawn.
#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthInput {
    /// The student has limited health capabilities (ОВЗ).
    pub disability: bool,
    #[serde(default)]
    #[oai(default)]
    pub needs: Vec<AccessibilityNeed>,
    /// What organizers should prepare for; at most 1000 characters.
    #[serde(default)]
    pub details: Option<String>,
}

/// A student's profile, replaced whole.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudentProfileInput {
    pub surname: String,
    pub given_name: String,
    #[serde(default)]
    pub patronymic: Option<String>,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// 6 to 11.
    pub grade: i64,
    pub school: String,
    /// Subject of the Russian Federation, ISO 3166-2 (e.g. `RU-MOW`).
    pub region: String,
    pub city: String,
    /// Any common notation; stored as E.164 (`+7…`).
    pub phone: String,
    /// `XXX-XXX-XXX YY`.
    pub snils: String,
    /// Under 14: the birth certificate (`IV-МЮ 123456`); from 14: the passport series and
    /// number (`4510 123456`).
    pub document: String,
    #[serde(default)]
    pub health: Option<HealthInput>,
}

/// A parent's or legal representative's profile, replaced whole.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentProfileInput {
    pub surname: String,
    pub given_name: String,
    #[serde(default)]
    pub patronymic: Option<String>,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    pub snils: String,
    pub phone: String,
}

/// ОВЗ status and needs as stored.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HealthView {
    pub disability: bool,
    pub needs: Vec<String>,
    pub details: Option<String>,
}

/// A student's profile. `snils` and `document` are masked except for a linked parent.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StudentProfileView {
    pub account_id: Uuid,
    pub surname: Option<String>,
    pub given_name: Option<String>,
    pub patronymic: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub grade: u8,
    pub school: Option<String>,
    pub region: String,
    pub region_name: String,
    pub city: Option<String>,
    pub phone: Option<String>,
    pub snils: Option<String>,
    /// `birth_certificate` or `passport`.
    pub document_kind: Option<String>,
    pub document: Option<String>,
    pub health: Option<HealthView>,
    /// The profile's personal data was erased after consent was withdrawn.
    pub erased: bool,
}

/// A parent's profile; `snils` is masked except in the parent's own export.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ParentProfileView {
    pub account_id: Uuid,
    pub surname: String,
    pub given_name: String,
    pub patronymic: Option<String>,
    pub birth_date: NaiveDate,
    pub phone: String,
    /// Absent when an administrator gave this SNILS to the person it belongs to: enter
    /// your own again.
    pub snils: Option<String>,
}

/// The organization an organizer belongs to.
#[derive(Debug, Clone, Object)]
pub struct OrganizationView {
    pub id: Uuid,
    pub name: String,
}

/// The caller's account and own profile.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Me {
    pub account_id: Uuid,
    pub email: String,
    pub role: String,
    pub organization: Option<OrganizationView>,
    pub student_profile: Option<StudentProfileView>,
    pub parent_profile: Option<ParentProfileView>,
}

#[derive(ApiResponse)]
pub enum GetMeResponse {
    #[oai(status = 200)]
    Ok(Json<Me>),
}

#[derive(ApiResponse)]
pub enum StudentProfileResponse {
    /// The profile as stored.
    #[oai(status = 200)]
    Ok(Json<StudentProfileView>),
}

#[derive(ApiResponse)]
pub enum ParentProfileResponse {
    /// The profile as stored.
    #[oai(status = 200)]
    Ok(Json<ParentProfileView>),
}

/// How a profile is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disclosure {
    Masked,
    Full,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Profiles")]
impl ProfilesApi {
    /// The caller's account and profile.
    #[oai(path = "/me", method = "get", operation_id = "get_me")]
    async fn get_me(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<GetMeResponse, Problem> {
        let caller = auth.0;
        let account = store::accounts::find(&state.db, caller.account)
            .await?
            .ok_or_else(|| Problem::unauthorized("the account no longer exists"))?;
        let student_profile = match caller.role {
            Role::Student => load_student(&state, caller.account)
                .await?
                .map(|open| student_view(open, Disclosure::Masked)),
            _ => None,
        };
        let parent_profile = match caller.role {
            Role::Parent => load_parent(&state, caller.account)
                .await?
                .map(|p| parent_view(caller.account, p, Disclosure::Masked)),
            _ => None,
        };
        Ok(GetMeResponse::Ok(Json(Me {
            account_id: account.id.0,
            email: account.email,
            role: account.role.as_str().to_owned(),
            organization: account
                .organization_id
                .zip(account.organization_name)
                .map(|(id, name)| OrganizationView { id: id.0, name }),
            student_profile,
            parent_profile,
        })))
    }

    /// Create or replace the caller's student profile.
    #[oai(
        path = "/me/student-profile",
        method = "put",
        operation_id = "put_student_profile"
    )]
    async fn put_student_profile(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        client: ClientInfo,
        body: JsonBody<StudentProfileInput>,
    ) -> Result<StudentProfileResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let today = Utc::now().date_naive();
        let profile = parse_student(&body, today)?;
        let mut tx = state.db.begin().await?;
        if profile.health.is_some()
            && !store::consents::is_current(&mut *tx, caller.account, "health_data").await?
        {
            return Err(Problem::validation(vec![
                crate::http::problem::FieldError::new(
                    "health",
                    "a linked parent must first give health-data consent",
                ),
            ]));
        }
        let mut tx = claim_snils(&state, tx, &caller, &client, &profile.snils).await?;
        let row = state.vault.seal_student(caller.account, &profile);
        store::profiles::upsert_student(&mut *tx, &row).await?;
        tx.commit().await?;
        let open = state
            .vault
            .open_student(&row)
            .map_err(Problem::internal_from)?;
        Ok(StudentProfileResponse::Ok(Json(student_view(
            open,
            Disclosure::Masked,
        ))))
    }

    /// Create or replace the caller's parent profile.
    #[oai(
        path = "/me/parent-profile",
        method = "put",
        operation_id = "put_parent_profile"
    )]
    async fn put_parent_profile(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        client: ClientInfo,
        body: JsonBody<ParentProfileInput>,
    ) -> Result<ParentProfileResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Parent)?;
        let (profile, snils) = parse_parent(&body, Utc::now().date_naive())?;
        let tx = state.db.begin().await?;
        let mut tx = claim_snils(&state, tx, &caller, &client, &snils).await?;
        store::profiles::upsert_parent(
            &mut *tx,
            &state.vault.seal_parent(caller.account, &profile),
        )
        .await?;
        tx.commit().await?;
        Ok(ParentProfileResponse::Ok(Json(parent_view(
            caller.account,
            profile,
            Disclosure::Masked,
        ))))
    }

    /// A linked child's profile, in full. Recorded in the access audit.
    #[oai(
        path = "/children/:child_id/profile",
        method = "get",
        operation_id = "get_child_profile"
    )]
    async fn get_child_profile(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        client: ClientInfo,
        child_id: Path<Uuid>,
    ) -> Result<StudentProfileResponse, Problem> {
        let caller = auth.0;
        let child = linked_child(&state, &caller, child_id.0).await?;
        let open = load_student(&state, child)
            .await?
            .ok_or_else(|| Problem::not_found("the child has not filled in a profile yet"))?;
        audit::record(
            &state.db,
            caller.actor(),
            child,
            AuditAction::ReadProfile,
            client.request_id.as_deref(),
        )
        .await?;
        Ok(StudentProfileResponse::Ok(Json(student_view(
            open,
            Disclosure::Full,
        ))))
    }

    /// Set or clear a linked child's ОВЗ status and needs (needs health-data consent).
    /// Recorded in the access audit.
    #[oai(
        path = "/children/:child_id/health",
        method = "put",
        operation_id = "put_child_health"
    )]
    async fn put_child_health(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        client: ClientInfo,
        child_id: Path<Uuid>,
        body: JsonBody<HealthInput>,
    ) -> Result<StudentProfileResponse, Problem> {
        let caller = auth.0;
        let child = linked_child(&state, &caller, child_id.0).await?;
        let mut fields = Fields::new();
        let health = parse_health(&mut fields, "", &body);
        fields.finish()?;
        let mut tx = state.db.begin().await?;
        if !store::consents::is_current(&mut *tx, child, "health_data").await? {
            return Err(Problem::conflict(
                "consent-required",
                "Consent required",
                "health data is kept only while health-data consent stands; give it first",
            ));
        }
        let row = store::profiles::student_for_update(&mut *tx, child)
            .await?
            .ok_or_else(|| Problem::not_found("the child has not filled in a profile yet"))?;
        let sealed = health.map(|h| state.vault.seal_health(child, &h));
        store::profiles::set_student_health(&mut *tx, child, sealed.as_deref()).await?;
        audit::record(
            &mut *tx,
            caller.actor(),
            child,
            AuditAction::UpdateProfile,
            client.request_id.as_deref(),
        )
        .await?;
        tx.commit().await?;
        let updated = store::profiles::StudentRow {
            health_enc: sealed,
            ..row
        };
        let open = state
            .vault
            .open_student(&updated)
            .map_err(Problem::internal_from)?;
        Ok(StudentProfileResponse::Ok(Json(student_view(
            open,
            Disclosure::Full,
        ))))
    }
}

/// The child, when the caller is a parent linked to them; 403 for other roles and 404
/// for anyone else's child (as if it did not exist).
pub async fn linked_child(
    state: &AppState,
    caller: &Caller,
    child: Uuid,
) -> Result<AccountId, Problem> {
    caller.require(Role::Parent)?;
    let child = AccountId(child);
    if store::families::is_linked(&state.db, caller.account, child).await? {
        Ok(child)
    } else {
        Err(Problem::not_found("no such child"))
    }
}

pub async fn load_student(state: &AppState, id: AccountId) -> Result<Option<OpenStudent>, Problem> {
    store::profiles::student(&state.db, id)
        .await?
        .map(|row| {
            state
                .vault
                .open_student(&row)
                .map_err(Problem::internal_from)
        })
        .transpose()
}

pub async fn load_parent(
    state: &AppState,
    id: AccountId,
) -> Result<Option<ParentProfile>, Problem> {
    store::profiles::parent(&state.db, id)
        .await?
        .map(|row| {
            state
                .vault
                .open_parent(&row)
                .map_err(Problem::internal_from)
        })
        .transpose()
}

/// Registers the SNILS's blind index for the caller in `tx` and hands `tx` back.
///
/// A SNILS the caller does not already hold is a check against the registry, limited per
/// account (`BILET_PRIVACY_SNILS_CHECKS`, 429) so the registry cannot be probed. When
/// another profile holds it, `tx` is rolled back, the conflict is recorded for an
/// administrator and in the holder's access audit, and the caller gets 409 `snils-taken`.
async fn claim_snils(
    state: &AppState,
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    caller: &Caller,
    client: &ClientInfo,
    snils: &str,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, Problem> {
    let account = caller.account;
    let digest = state.index.digest("snils", snils);
    let held = store::profiles::registered_snils(&mut *tx, account).await?;
    if held.as_deref() == Some(digest.as_slice()) {
        return Ok(tx);
    }
    rate_limit::hit(
        &state.redis,
        "snils-check",
        &account.to_string(),
        state.settings.privacy.snils_checks,
    )
    .await
    .map_err(Problem::rate_limited)?;
    let holder = match store::profiles::snils_holder(&mut *tx, &digest).await? {
        Some(holder) if holder != account => holder,
        _ => match store::profiles::claim_snils(&mut *tx, &digest, account).await {
            Ok(()) => return Ok(tx),
            // Claimed by someone else between the look-up and the insert.
            Err(err) if err.is_conflict_on("snils_registry_pkey") => {
                tx.rollback().await?;
                let holder = store::profiles::snils_holder(&state.db, &digest).await?;
                return match holder {
                    Some(holder) => {
                        Err(record_conflict(state, caller, client, holder, &digest).await)
                    }
                    None => Err(snils_taken()),
                };
            }
            Err(err) => return Err(err.into()),
        },
    };
    tx.rollback().await?;
    Err(record_conflict(state, caller, client, holder, &digest).await)
}

/// Records a SNILS conflict (unless an administrator already refused this claimant for
/// good) and its access-audit entry in one transaction; returns the 409 to answer with.
async fn record_conflict(
    state: &AppState,
    caller: &Caller,
    client: &ClientInfo,
    holder: AccountId,
    digest: &[u8],
) -> Problem {
    let recorded: Result<(), Problem> = async {
        let mut tx = state.db.begin().await?;
        if !store::snils_conflicts::refused_for_good(&mut *tx, caller.account, digest).await? {
            store::snils_conflicts::open_or_count(&mut *tx, caller.account, holder, digest).await?;
        }
        audit::record(
            &mut *tx,
            caller.actor(),
            holder,
            AuditAction::SnilsConflict,
            client.request_id.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    match recorded {
        Ok(()) => snils_taken(),
        Err(problem) => problem,
    }
}

fn snils_taken() -> Problem {
    Problem::conflict(
        "snils-taken",
        "SNILS already registered",
        "this SNILS belongs to another profile; one person has one profile. If it is yours, \
         an administrator will look into it",
    )
}

fn parse_date(fields: &mut Fields, field: &str, input: &str) -> Option<NaiveDate> {
    fields.check(
        field,
        NaiveDate::parse_from_str(input.trim(), "%Y-%m-%d")
            .map_err(|_| "must be a date as YYYY-MM-DD".to_owned()),
    )
}

fn parse_optional_name(
    fields: &mut Fields,
    field: &str,
    input: &Option<String>,
) -> Option<Option<String>> {
    match input.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Some(None),
        Some(value) => fields
            .check(field, PersonName::parse(value))
            .map(|n| Some(n.as_str().to_owned())),
    }
}

fn parse_health(fields: &mut Fields, prefix: &str, input: &HealthInput) -> Option<Health> {
    let field = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    let details = match input
        .details
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => Some(None),
        Some(text) => fields
            .check(
                &field("details"),
                ShortText::parse(text, HEALTH_DETAILS_CHARS),
            )
            .map(|t| Some(t.as_str().to_owned())),
    }?;
    if !input.disability && !input.needs.is_empty() {
        fields.reject(
            &field("needs"),
            "needs are given only together with disability = true",
        );
        return None;
    }
    let mut needs: Vec<String> = input.needs.iter().map(|n| n.as_str().to_owned()).collect();
    needs.sort();
    needs.dedup();
    Some(Health {
        disability: input.disability,
        needs,
        details,
    })
}

fn parse_student(input: &StudentProfileInput, today: NaiveDate) -> Result<StudentProfile, Problem> {
    let mut fields = Fields::new();
    let surname = fields.check("surname", PersonName::parse(&input.surname));
    let given_name = fields.check("given_name", PersonName::parse(&input.given_name));
    let patronymic = parse_optional_name(&mut fields, "patronymic", &input.patronymic);
    let birth_date = parse_date(&mut fields, "birth_date", &input.birth_date);
    let grade = fields.check("grade", Grade::parse(input.grade));
    let school = fields.check("school", ShortText::parse(&input.school, SCHOOL_CHARS));
    let region = fields.check("region", Region::parse(&input.region));
    let city = fields.check("city", ShortText::parse(&input.city, CITY_CHARS));
    let phone = fields.check("phone", Phone::parse(&input.phone));
    let snils = fields.check("snils", Snils::parse(&input.snils));
    if let (Some(birth), Some(grade)) = (birth_date, grade) {
        fields.check(
            "birth_date",
            student::check_age_for_grade(birth, grade, today),
        );
    }
    let document = birth_date.and_then(|birth| {
        let kind = student::required_document(birth, today);
        let parsed = match kind {
            DocumentKind::Passport => Passport::parse(&input.document)
                .map(|p| p.as_str().to_owned())
                .map_err(|r| format!("from 14 the document is the passport: {r}")),
            DocumentKind::BirthCertificate => BirthCertificate::parse(&input.document)
                .map(|b| b.as_str().to_owned())
                .map_err(|r| format!("under 14 the document is the birth certificate: {r}")),
        };
        fields
            .check("document", parsed)
            .map(|number| (kind, number))
    });
    let health = match &input.health {
        None => Some(None),
        Some(h) => parse_health(&mut fields, "health", h).map(Some),
    };
    fields.finish()?;
    match (
        surname, given_name, patronymic, birth_date, grade, school, region, city, phone, snils,
        document, health,
    ) {
        (
            Some(surname),
            Some(given_name),
            Some(patronymic),
            Some(birth_date),
            Some(grade),
            Some(school),
            Some(region),
            Some(city),
            Some(phone),
            Some(snils),
            Some((document_kind, document)),
            Some(health),
        ) => Ok(StudentProfile {
            surname: surname.as_str().to_owned(),
            given_name: given_name.as_str().to_owned(),
            patronymic,
            birth_date,
            grade: grade.value(),
            school: school.as_str().to_owned(),
            region: region.code().to_owned(),
            city: city.as_str().to_owned(),
            phone: phone.as_str().to_owned(),
            snils: snils.digits().to_owned(),
            document_kind,
            document,
            health,
        }),
        _ => Err(Problem::internal()),
    }
}

/// The parent's profile and, apart, the SNILS it carries (checked against the registry).
fn parse_parent(
    input: &ParentProfileInput,
    today: NaiveDate,
) -> Result<(ParentProfile, String), Problem> {
    let mut fields = Fields::new();
    let surname = fields.check("surname", PersonName::parse(&input.surname));
    let given_name = fields.check("given_name", PersonName::parse(&input.given_name));
    let patronymic = parse_optional_name(&mut fields, "patronymic", &input.patronymic);
    let birth_date = parse_date(&mut fields, "birth_date", &input.birth_date);
    if let Some(birth) = birth_date {
        fields.check("birth_date", student::check_adult(birth, today));
    }
    let snils = fields.check("snils", Snils::parse(&input.snils));
    let phone = fields.check("phone", Phone::parse(&input.phone));
    fields.finish()?;
    match (surname, given_name, patronymic, birth_date, snils, phone) {
        (
            Some(surname),
            Some(given_name),
            Some(patronymic),
            Some(birth_date),
            Some(snils),
            Some(phone),
        ) => Ok((
            ParentProfile {
                surname: surname.as_str().to_owned(),
                given_name: given_name.as_str().to_owned(),
                patronymic,
                birth_date,
                snils: Some(snils.digits().to_owned()),
                phone: phone.as_str().to_owned(),
            },
            snils.digits().to_owned(),
        )),
        _ => Err(Problem::internal()),
    }
}

fn mask_snils(digits: &str, disclosure: Disclosure) -> String {
    match Snils::parse(digits) {
        Ok(snils) if disclosure == Disclosure::Full => snils.formatted(),
        Ok(snils) => snils.masked(),
        Err(_) => "***".to_owned(),
    }
}

pub fn student_view(open: OpenStudent, disclosure: Disclosure) -> StudentProfileView {
    let region = Region::parse(&open.region).ok();
    StudentProfileView {
        account_id: open.account_id,
        surname: open.surname,
        given_name: open.given_name,
        patronymic: open.patronymic,
        birth_date: open.birth_date,
        grade: open.grade,
        school: open.school,
        region: open.region.clone(),
        region_name: region.map(|r| r.name().to_owned()).unwrap_or_default(),
        city: open.city,
        phone: open.phone,
        snils: open.snils.map(|s| mask_snils(&s, disclosure)),
        document_kind: open.document_kind.map(|k| k.as_str().to_owned()),
        document: match (open.document_kind, open.document) {
            (Some(kind), Some(number)) if disclosure == Disclosure::Masked => {
                Some(documents::masked(kind, &number))
            }
            (_, number) => number,
        },
        health: open.health.map(|h| HealthView {
            disability: h.disability,
            needs: h.needs,
            details: h.details,
        }),
        erased: open.erased,
    }
}

pub fn parent_view(
    id: AccountId,
    profile: ParentProfile,
    disclosure: Disclosure,
) -> ParentProfileView {
    ParentProfileView {
        account_id: id.0,
        surname: profile.surname,
        given_name: profile.given_name,
        patronymic: profile.patronymic,
        birth_date: profile.birth_date,
        phone: profile.phone,
        snils: profile.snils.map(|s| mask_snils(&s, disclosure)),
    }
}
