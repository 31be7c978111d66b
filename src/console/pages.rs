//! The console's page frame and the pages every part of it shares: messages (not found,
//! forbidden, a refused form, a failure), problems of the rule layer shown as people read
//! them, the form body, and times shown in an event's own time zone.

use std::collections::BTreeMap;

use askama::Template;
use chrono::{DateTime, NaiveDateTime, TimeZone as _, Utc};
use poem::http::StatusCode;
use poem::web::{Html, Redirect};
use poem::{IntoResponse, Response};

use super::session::{Ctx, Staff};
use super::words::{Lang, Words};
use crate::domain::events::utc_offset;
use crate::domain::ids::OrganizationId;
use crate::domain::roles::Role;
use crate::http::problem::Problem;

/// What the frame around every page shows.
pub struct Frame {
    pub w: &'static Words,
    pub title: String,
    pub staff_email: Option<String>,
    pub organization: Option<String>,
    pub organizer: bool,
    pub admin: bool,
    pub csrf: String,
    pub switch_href: String,
    /// Without JavaScript the page reloads itself every two seconds (live progress).
    pub refresh: bool,
}

impl Frame {
    pub fn new(ctx: &Ctx, title: impl Into<String>) -> Self {
        let w = ctx.lang.words();
        Self {
            w,
            title: title.into(),
            staff_email: ctx.staff.as_ref().map(|s| s.email.clone()),
            organization: ctx.staff.as_ref().and_then(|s| s.organization_name.clone()),
            organizer: ctx
                .staff
                .as_ref()
                .is_some_and(|s| s.role == Role::Organizer),
            admin: ctx.staff.as_ref().is_some_and(|s| s.role == Role::Admin),
            csrf: ctx.csrf.clone(),
            switch_href: format!("{}?lang={}", ctx.path, w.other_language_code),
            refresh: false,
        }
    }

    /// A frame for pages shown before the guard ran (a refused form).
    fn bare(lang: Lang, title: &str) -> Self {
        let w = lang.words();
        Self {
            w,
            title: title.to_owned(),
            staff_email: None,
            organization: None,
            organizer: false,
            admin: false,
            csrf: String::new(),
            switch_href: format!("/console?lang={}", w.other_language_code),
            refresh: false,
        }
    }
}

/// A page that answers instead of the one asked for: an error page or a redirect.
pub type Answer = Result<Response, Response>;

/// Renders a template as an HTML response with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = Html(html).into_response();
            response.set_status(status);
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "a console page failed to render");
            let mut response = Html("<!doctype html><title>500</title><p>500</p>").into_response();
            response.set_status(StatusCode::INTERNAL_SERVER_ERROR);
            response
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub f: Frame,
    pub text: String,
    pub detail: Option<String>,
    pub back: Option<(String, String)>,
}

fn message(status: StatusCode, f: Frame, text: &str, detail: Option<String>) -> Response {
    let back = f
        .organizer
        .then(|| ("/console/events".to_owned(), f.w.back_to_events.to_owned()));
    render(
        status,
        &MessagePage {
            f,
            text: text.to_owned(),
            detail,
            back,
        },
    )
}

pub fn not_found(ctx: &Ctx) -> Response {
    let w = ctx.lang.words();
    message(
        StatusCode::NOT_FOUND,
        Frame::new(ctx, w.not_found),
        w.not_found_text,
        None,
    )
}

pub fn forbidden(ctx: &Ctx, text: &str) -> Response {
    let w = ctx.lang.words();
    message(
        StatusCode::FORBIDDEN,
        Frame::new(ctx, w.forbidden),
        text,
        None,
    )
}

/// A form that did not come from the console's own page, or whose token is stale.
pub fn form_expired(lang: Lang) -> Response {
    let w = lang.words();
    message(
        StatusCode::FORBIDDEN,
        Frame::bare(lang, w.forbidden),
        w.form_expired,
        None,
    )
}

/// A failure on our side: logged, and told only that it failed.
pub fn failed(lang: Lang, err: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %err, "a console page failed");
    let w = lang.words();
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        Frame::bare(lang, w.went_wrong),
        w.went_wrong_text,
        None,
    )
}

/// An error no console handler answered itself (an unknown path, a wrong method) as a
/// page, never as the API's problem+json.
pub fn error_page(lang: Lang, err: &poem::Error) -> Response {
    let w = lang.words();
    let status = err.status();
    if status.is_server_error() {
        return failed(lang, err);
    }
    let (title, text) = match status {
        StatusCode::NOT_FOUND => (w.not_found, w.not_found_text),
        StatusCode::FORBIDDEN => (w.forbidden, w.forbidden_text),
        _ => (w.cannot_do, w.went_wrong_text),
    };
    message(status, Frame::bare(lang, title), text, None)
}

/// A problem of the rule layer as a page: 404 and 403 as such, a 5xx as a failure, the
/// rest with their meaning in the console's language and the rule's own detail.
pub fn problem(ctx: &Ctx, problem: &Problem) -> Response {
    let w = ctx.lang.words();
    match problem.status() {
        StatusCode::NOT_FOUND => not_found(ctx),
        StatusCode::FORBIDDEN => forbidden(ctx, w.forbidden_text),
        status if status.is_server_error() => failed(ctx.lang, problem),
        status => {
            let text = w
                .problem(problem.slug())
                .unwrap_or(problem.title())
                .to_owned();
            message(
                status,
                Frame::new(ctx, w.cannot_do),
                &text,
                Some(problem.detail().to_owned()),
            )
        }
    }
}

/// The problem's field errors by field (a list's items under the list's name), and what
/// to say above the form when it is not about fields.
pub fn field_errors(ctx: &Ctx, problem: &Problem) -> (BTreeMap<String, String>, Option<String>) {
    let w = ctx.lang.words();
    let mut errors = BTreeMap::new();
    for error in problem.errors() {
        let message = w.reason(&error.message);
        let field = error
            .field
            .split('[')
            .next()
            .unwrap_or(&error.field)
            .to_owned();
        errors
            .entry(field)
            .and_modify(|m: &mut String| {
                m.push_str("; ");
                m.push_str(&message)
            })
            .or_insert_with(|| message.clone());
    }
    let alert = errors.is_empty().then(|| {
        let meaning = w.problem(problem.slug()).unwrap_or(problem.title());
        format!("{meaning} ({})", problem.detail())
    });
    (errors, alert)
}

/// The signed-in staff member, or the sign-in page.
pub fn signed_in(ctx: &Ctx) -> Result<&Staff, Response> {
    ctx.staff
        .as_ref()
        .ok_or_else(|| Redirect::see_other("/console/login").into_response())
}

/// The signed-in admin; other staff see 403.
pub fn admin(ctx: &Ctx) -> Result<&Staff, Response> {
    let staff = signed_in(ctx)?;
    if staff.role == Role::Admin {
        Ok(staff)
    } else {
        Err(forbidden(ctx, ctx.lang.words().forbidden_text))
    }
}

/// The signed-in organizer and their organization; other staff see 403.
pub fn organizer(ctx: &Ctx) -> Result<(&Staff, OrganizationId), Response> {
    let staff = signed_in(ctx)?;
    match (staff.role, staff.organization) {
        (Role::Organizer, Some(organization)) => Ok((staff, organization)),
        _ => Err(forbidden(ctx, ctx.lang.words().staff_only)),
    }
}

/// A posted form, every value of every name (check boxes repeat).
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// `2026-12-05T14:00` (a `datetime-local` value) in `zone`, as UTC.
pub fn parse_local(value: &str, zone: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    utc_offset(zone)
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// A moment as a `datetime-local` value in `zone`.
pub fn input_local(at: DateTime<Utc>, zone: &str) -> String {
    at.with_timezone(&utc_offset(zone))
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// A moment as people read it, in `zone`: `05.12.2026 14:00 (Europe/Moscow)`.
pub fn shown_local(at: DateTime<Utc>, zone: &str) -> String {
    format!(
        "{} ({zone})",
        at.with_timezone(&utc_offset(zone)).format("%d.%m.%Y %H:%M")
    )
}

/// One choice of a select, radio group or check box list.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_round_trip_in_the_events_zone() {
        let at = parse_local("2026-12-05T14:00", "Europe/Moscow").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-05T11:00:00+00:00");
        assert_eq!(input_local(at, "Asia/Vladivostok"), "2026-12-05T21:00");
        assert!(parse_local("5 декабря", "Europe/Moscow").is_none());
    }
}
