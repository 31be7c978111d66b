//! The caller's calendar subscription: a secret URL of an RFC 5545 feed of the events the
//! family is approved for (served by `calendar::serve_feed` at `/cal/{token}.ics`), and its
//! revocation.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTag;
use super::auth::NoContentResponse;
use super::security::{BearerAuth, Caller};
use crate::domain::roles::Role;
use crate::http::problem::Problem;
use crate::state::AppState;

pub struct CalendarApi;

/// A calendar subscription.
#[derive(Debug, Object)]
pub struct CalendarFeed {
    /// Secret: whoever has it sees the family's events. Add it to a calendar app as a
    /// subscription (`webcal://` works too, with the same host and path). The same URL is
    /// returned until it is revoked; after that a new one is made.
    pub url: String,
}

#[derive(ApiResponse)]
pub enum CalendarFeedResponse {
    /// The subscription URL.
    #[oai(status = 200)]
    Ok(Json<CalendarFeed>),
}

fn family_member(caller: &Caller) -> Result<(), Problem> {
    match caller.role {
        Role::Student | Role::Parent => Ok(()),
        _ => Err(Problem::forbidden(
            "calendar feeds are for students and parents",
        )),
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Profiles")]
impl CalendarApi {
    /// The caller's calendar subscription URL (a student: their own approved events; a
    /// parent: their linked children's), made on first use. Cancelled events stay in the
    /// feed as cancelled; a moved event keeps its UID with a higher SEQUENCE.
    #[oai(
        path = "/me/calendar-feed",
        method = "get",
        operation_id = "get_calendar_feed"
    )]
    async fn get_calendar_feed(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<CalendarFeedResponse, Problem> {
        family_member(&auth.0)?;
        let url = crate::calendar::feed_url(&state, auth.0.account).await?;
        Ok(CalendarFeedResponse::Ok(Json(CalendarFeed { url })))
    }

    /// Revoke the caller's calendar subscription: its URL answers 404 from now on, and the
    /// next `GET` makes a new one. Revoking when there is none changes nothing.
    #[oai(
        path = "/me/calendar-feed",
        method = "delete",
        operation_id = "revoke_calendar_feed"
    )]
    async fn revoke_calendar_feed(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<NoContentResponse, Problem> {
        family_member(&auth.0)?;
        crate::calendar::revoke(&state, auth.0.account).await?;
        Ok(NoContentResponse::Done)
    }
}
