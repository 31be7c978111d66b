//! The organizer console at `/console`: server-rendered pages (askama templates checked at
//! compile time, in `templates/`) where organizers sign in, publish events, read rosters,
//! cancel and move events with a preview, and follow the deliveries live; where admins
//! handle dead letters, staff accounts, SNILS conflicts and see the channels' health; and
//! where any staff member may turn on a second factor for signing in.
//!
//! The console is not part of the mobile contract: it calls the same rule functions as
//! the API handlers (`api::events`, `api::notices`, `api::auth::check_login`) and renders
//! their problems as pages. Its one script and stylesheet are compiled into the binary
//! and served from `/console/static/`; every page works without the script except the
//! live progress, which then reloads itself. See `session` for sign-in, CSRF and headers.

// A handler's early answer (a redirect to sign-in, a 404 page, the form again with its
// errors) is a whole `Response`, returned as `Err` and passed up with `?`.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod changes;
pub mod channels;
pub mod conflicts;
pub mod events;
pub mod notices;
pub mod pages;
pub mod second_factor;
pub mod session;
pub mod signin;
pub mod staff;
pub mod words;

use poem::http::header;
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route, get, handler, post};

/// The console's script: the live progress (and nothing a page needs to work).
const SCRIPT: &str = include_str!("static/console.js");
/// The console's stylesheet.
const STYLE: &str = include_str!("static/console.css");

/// Every route under `/console`, behind the guard.
pub fn routes() -> impl Endpoint<Output = Response> + 'static {
    Route::new()
        .at("/", get(signin::home))
        .at("/login", get(signin::show_login).post(signin::login))
        .at(
            "/login/code",
            get(second_factor::show_code).post(second_factor::submit_code),
        )
        .at("/logout", post(signin::logout))
        .at("/static/console.js", get(script))
        .at("/static/console.css", get(style))
        .at("/events", get(events::list))
        .at("/events/new", get(events::new).post(events::create))
        .at("/events/:id", get(events::show))
        .at("/events/:id/edit", get(events::edit).post(events::update))
        .at("/events/:id/publish", post(events::publish))
        .at("/events/:id/roster", get(events::roster))
        .at(
            "/events/:id/cancel",
            get(changes::cancel_form).post(changes::cancel),
        )
        .at("/events/:id/cancel/preview", post(changes::cancel_preview))
        .at(
            "/events/:id/reschedule",
            get(changes::reschedule_form).post(changes::reschedule),
        )
        .at(
            "/events/:id/reschedule/preview",
            post(changes::reschedule_preview),
        )
        .at(
            "/events/:id/notice",
            get(notices::show_form).post(notices::send),
        )
        .at("/events/:id/notice/preview", post(notices::preview_notice))
        .at("/events/:id/notice/size", get(notices::show_size))
        .at("/announcements/:id", get(changes::progress))
        .at("/announcements/:id/stream", get(changes::stream))
        .at("/announcements/:id/report", get(changes::report))
        .at("/history", get(changes::history))
        .at("/second-factor", get(second_factor::show))
        .at("/second-factor/start", post(second_factor::start))
        .at("/second-factor/confirm", post(second_factor::confirm))
        .at("/second-factor/off", post(second_factor::off))
        .at("/admin/dead-letters", get(admin::dead_letters))
        .at("/admin/dead-letters/:id/replay", post(admin::replay))
        .at("/admin/staff", get(staff::list).post(staff::create))
        .at("/admin/staff/:id/disable", post(staff::disable))
        .at("/admin/staff/:id/enable", post(staff::enable))
        .at("/admin/snils-conflicts", get(conflicts::list))
        .at("/admin/snils-conflicts/:id/settle", post(conflicts::settle))
        .at("/admin/channels", get(channels::health))
        .around(session::guard)
        .map_to_response()
}

#[handler]
fn script() -> Response {
    SCRIPT
        .with_content_type("text/javascript; charset=utf-8")
        .into_response()
}

#[handler]
fn style() -> Response {
    STYLE
        .with_content_type("text/css; charset=utf-8")
        .with_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .into_response()
}
