//! Recommendations: upcoming practical events that match a student's leading interests
//! (from the latest results of the interest tests), grade, region and accessibility
//! needs, each with the reason it was picked. For the student, and for a linked parent
//! per child. How events are chosen is in `diagnostics::recommendations`.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::ApiTag;
use super::profiles::{linked_child, load_student};
use super::security::{BearerAuth, Role};
use crate::diagnostics::recommendations::{self, Interest, Trial};
use crate::diagnostics::scoring::Scored;
use crate::domain::domain_events::{DomainEvent, RecommendationsReady};
use crate::domain::ids::{AccountId, EventId};
use crate::http::problem::Problem;
use crate::state::AppState;
use crate::store;

/// Candidate events read before ranking.
const CANDIDATES: i64 = 200;

pub struct RecommendationsApi;

/// An event recommended to the student.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RecommendationView {
    pub event_id: Uuid,
    pub title: String,
    pub profession_area: String,
    /// `in_person` or `online`.
    pub format: String,
    pub region: Option<String>,
    pub city: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Features such as `step_free`, `visual`, `hearing`.
    pub accessibility: Vec<String>,
    pub seats_left: i32,
    /// Why it was picked, in Russian.
    pub reason: String,
}

/// A profession area the results point to.
#[derive(Debug, Object)]
pub struct InterestView {
    pub area: String,
    /// Higher is stronger; the sum over the tests that agree.
    pub strength: u32,
    /// In Russian.
    pub reason: String,
}

/// What the recommendations were drawn from.
#[derive(Debug, Object)]
pub struct BasisView {
    /// Attempts whose results were used (the latest of each interest test).
    pub attempt_ids: Vec<Uuid>,
    pub interests: Vec<InterestView>,
    /// Profession areas of practical events already attended.
    pub attended_areas: Vec<String>,
    /// The practical events attended, oldest first, with the mentor's level and the
    /// student's wish to go further where recorded.
    pub trials: Vec<TrialView>,
}

/// A practical event the student attended, as it counts for recommendations.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TrialView {
    pub event_id: Uuid,
    pub title: String,
    pub profession_area: String,
    /// The mentor's level: `beginner`, `confident` or `advanced`.
    pub level: Option<String>,
    /// The student's answer to "would you like to go further?".
    pub wants_to_continue: Option<bool>,
}

/// Recommended events, best first, and what they were drawn from. Empty until an
/// interest test has been finished.
#[derive(Debug, Object)]
pub struct Recommendations {
    pub items: Vec<RecommendationView>,
    pub basis: BasisView,
}

#[derive(ApiResponse)]
pub enum RecommendationsResponse {
    #[oai(status = 200)]
    Ok(Json<Recommendations>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Recommendations")]
impl RecommendationsApi {
    /// Events recommended to the calling student. 409 `profile-required` until the
    /// student has filled in a profile (grade and region).
    #[oai(
        path = "/me/recommendations",
        method = "get",
        operation_id = "list_my_recommendations"
    )]
    async fn list_my_recommendations(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<RecommendationsResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        Ok(RecommendationsResponse::Ok(Json(
            recommend(&state, caller.account).await?,
        )))
    }

    /// Events recommended to a linked child.
    #[oai(
        path = "/children/:child_id/recommendations",
        method = "get",
        operation_id = "list_child_recommendations"
    )]
    async fn list_child_recommendations(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        child_id: Path<Uuid>,
    ) -> Result<RecommendationsResponse, Problem> {
        let child = linked_child(&state, &auth.0, child_id.0).await?;
        Ok(RecommendationsResponse::Ok(Json(
            recommend(&state, child).await?,
        )))
    }
}

async fn recommend(state: &AppState, student: AccountId) -> Result<Recommendations, Problem> {
    let profile = load_student(state, student).await?.ok_or_else(|| {
        Problem::conflict(
            "profile-required",
            "Profile required",
            "recommendations need the student's grade and region; fill in the profile first",
        )
    })?;
    let mut used = Vec::new();
    for row in store::diagnostics::latest_results(&state.db, student).await? {
        let Some(def) = state.catalog.version(&row.test_version) else {
            continue;
        };
        if !def.measures_interests() {
            continue;
        }
        let scored: Scored = serde_json::from_value(row.scores).map_err(Problem::internal_from)?;
        used.push((row.attempt_id, def, scored));
    }
    let found: Vec<Interest> = recommendations::interests(
        &used
            .iter()
            .map(|(_, def, scored)| (def.as_ref(), scored))
            .collect::<Vec<_>>(),
    );
    // The events attended and over, oldest first (the latest answer about an area counts).
    let now = Utc::now();
    let mut trials = store::attendance::attended(&state.db, student).await?;
    trials.retain(|t| t.ends_at < now);
    trials.reverse();
    let areas = recommendations::weigh(
        &found,
        &trials
            .iter()
            .map(|t| Trial {
                title: t.event_title.clone(),
                area: t.profession_area.as_str().to_owned(),
                level: t.level.clone(),
                wants_to_continue: t.wants_to_continue,
            })
            .collect::<Vec<_>>(),
    );
    let picks = if areas.is_empty() {
        Vec::new()
    } else {
        let wanted: Vec<String> = areas.iter().map(|a| a.area.clone()).collect();
        let events = store::recommendations::upcoming_events(
            &state.db,
            student,
            i16::from(profile.grade),
            &profile.region,
            &wanted,
            CANDIDATES,
        )
        .await?;
        let needs: Vec<String> = profile
            .health
            .filter(|h| h.disability)
            .map(|h| h.needs)
            .unwrap_or_default();
        recommendations::rank(events, &areas, &needs)
    };
    let mut attended_areas: Vec<String> = trials
        .iter()
        .map(|t| t.profession_area.as_str().to_owned())
        .collect();
    attended_areas.sort();
    attended_areas.dedup();
    Ok(Recommendations {
        items: picks
            .into_iter()
            .map(|pick| RecommendationView {
                event_id: pick.event.id.0,
                title: pick.event.title,
                profession_area: pick.event.profession_area,
                format: pick.event.format,
                region: pick.event.region,
                city: pick.event.city,
                starts_at: pick.event.starts_at,
                ends_at: pick.event.ends_at,
                accessibility: pick.event.accessibility,
                seats_left: pick.event.seats_left,
                reason: pick.reason,
            })
            .collect(),
        basis: BasisView {
            attempt_ids: used.iter().map(|(id, _, _)| id.0).collect(),
            interests: found
                .into_iter()
                .map(|i| InterestView {
                    area: i.area,
                    strength: i.weight,
                    reason: i.because,
                })
                .collect(),
            attended_areas,
            trials: trials
                .into_iter()
                .map(|t| TrialView {
                    event_id: t.event_id.0,
                    title: t.event_title,
                    profession_area: t.profession_area.as_str().to_owned(),
                    level: t.level,
                    wants_to_continue: t.wants_to_continue,
                })
                .collect(),
        },
    })
}

/// Tells the family of recommendations that appeared after `event` (its attendance,
/// assessment or feedback changed what is recommended): one `recommendations_ready`
/// notice naming how many recommended events are new to them, raised in the transaction
/// that records them as announced, so racing calls raise it once. Returns that number;
/// nothing is raised when nothing is new.
pub async fn announce_new(
    state: &AppState,
    student: AccountId,
    event: EventId,
) -> Result<u32, Problem> {
    if load_student(state, student).await?.is_none() {
        // No profile yet: nothing can be recommended, so nothing is new.
        return Ok(0);
    }
    let found = recommend(state, student).await?;
    let ids: Vec<EventId> = found.items.iter().map(|i| EventId(i.event_id)).collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let mut tx = state.db.begin().await?;
    let new = store::recommendations::mark_announced(&mut *tx, student, &ids).await?;
    let new_count = u32::try_from(new.len()).unwrap_or(u32::MAX);
    if new_count > 0 {
        store::outbox::append(
            &mut *tx,
            &DomainEvent::RecommendationsReady(RecommendationsReady {
                student_id: student,
                event_id: event,
                new_count,
            }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(new_count)
}
