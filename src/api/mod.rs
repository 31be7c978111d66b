//! The HTTP API: one module per resource, each holding its request and response objects
//! and its handlers (no SQL). `service()` assembles them into the OpenAPI service whose
//! document is `mobile-contract/openapi.json`.

pub mod admin;
pub mod attendance;
pub mod auth;
pub mod body;
pub mod calendar;
pub mod consents;
pub mod cursor;
pub mod devices;
pub mod diagnostics;
pub mod document;
pub mod events;
pub mod export;
pub mod families;
pub mod fields;
pub mod health;
pub mod notices;
pub mod notifications;
pub mod passwords;
pub mod profiles;
pub mod recommendations;
pub mod security;
pub mod signups;

use std::sync::{Arc, LazyLock};

use poem::{Endpoint, EndpointExt, IntoResponse, Route, get, handler, web::Data};
use poem_openapi::{OpenApiService, Tags};

use crate::http::routes::RouteTable;
use crate::pages;
use crate::settings::Environment;
use crate::state::AppState;

/// Groups of operations in the OpenAPI document.
#[derive(Tags)]
pub enum ApiTag {
    /// Liveness and readiness, for load balancers and orchestrators.
    Operations,
    /// Registration, login, tokens and device sessions.
    Auth,
    /// The caller's account and profile, and a parent's view of their children.
    Profiles,
    /// Linking parents and children.
    Families,
    /// Consents a parent gives for their child.
    Consents,
    /// Practical events: publishing, browsing, rosters, cancel and reschedule.
    Events,
    /// Signing up for events and the parents' decisions.
    Signups,
    /// After the sign-up: check-in at the door, attendance, the mentor's assessment and
    /// the student's feedback.
    Attendance,
    /// Devices, the inbox, preferences and organizer notices.
    Notifications,
    /// Operators' tools.
    Admin,
    /// Online tests: the catalog, attempts that survive a lost connection, results.
    Diagnostics,
    /// Events recommended from test results.
    Recommendations,
}

/// The OpenAPI service; its document does not depend on settings, so the committed
/// contract is the same on every machine.
pub fn service() -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    // poem-openapi implements its trait for tuples of up to 16: the practical events'
    // resources are a tuple of their own.
    OpenApiService::new(
        (
            health::HealthApi,
            auth::AuthApi,
            passwords::PasswordsApi,
            profiles::ProfilesApi,
            calendar::CalendarApi,
            export::ExportApi,
            families::FamiliesApi,
            consents::ConsentsApi,
            (
                events::EventsApi,
                signups::SignupsApi,
                attendance::AttendanceApi,
            ),
            devices::DevicesApi,
            notifications::NotificationsApi,
            notices::NoticesApi,
            admin::AdminApi,
            diagnostics::DiagnosticsApi,
            recommendations::RecommendationsApi,
        ),
        "bilet",
        env!("CARGO_PKG_VERSION"),
    )
    .description(include_str!("description.md"))
}

/// The OpenAPI document as committed in `mobile-contract/openapi.json`: poem-openapi's,
/// completed by [`document::complete`].
pub fn contract() -> String {
    document::complete(&service().spec())
}

/// The methods of every route [`routes`] and [`metrics_routes`] serve, for the edge: the
/// API's from its published document, and the pages'. Built once per process.
pub fn route_table() -> Arc<RouteTable> {
    static TABLE: LazyLock<Arc<RouteTable>> = LazyLock::new(|| {
        let mut table = RouteTable::from_openapi(&contract());
        for (path, methods) in [
            ("/a/{token}", &["GET", "POST"][..]),
            ("/u/{token}", &["GET", "POST"]),
            ("/cal/{token}", &["GET"]),
            ("/openapi.json", &["GET"]),
            ("/metrics", &["GET"]),
        ] {
            table.add(path, methods);
        }
        Arc::new(table)
    });
    TABLE.clone()
}

/// Every route the public listener answers, without the edge middleware. `/metrics` is
/// among them only in development; in production it is on its own listener
/// ([`metrics_routes`]), never on the public one.
pub fn routes(state: &AppState) -> impl Endpoint + 'static {
    let service = service();
    let contract = contract();
    // Swagger UI embeds the document it shows; it shows the published one.
    let docs = crate::http::headers::docs(
        service
            .swagger_ui_html()
            .replace(&service.spec(), contract.trim_end()),
    );
    let route = Route::new()
        .at(
            "/openapi.json",
            get(poem::endpoint::make_sync(move |_| {
                contract
                    .clone()
                    .with_content_type("application/json; charset=utf-8")
            })),
        )
        .nest("/docs", docs)
        .at(
            "/a/:token",
            get(pages::show_approval)
                .post(pages::decide_approval.around(pages::same_site_posts_only)),
        )
        .at(
            "/u/:token",
            get(pages::show_unsubscribe)
                .post(pages::unsubscribe.around(pages::same_site_posts_only)),
        )
        // The families' calendar feeds (`/cal/{token}.ics`); the access log names the
        // route template, never the token.
        .at("/cal/:token", get(crate::calendar::serve_feed))
        // The organizer console: pages, not part of the mobile contract.
        .nest("/console", crate::console::routes());
    let route = if state.settings.env == Environment::Development {
        route.at("/metrics", get(get_metrics))
    } else {
        route
    };
    route.nest("/", service).map_to_response()
}

/// The metrics listener's only route.
pub fn metrics_routes() -> impl Endpoint + 'static {
    Route::new()
        .at("/metrics", get(get_metrics))
        .map_to_response()
}

/// Prometheus text exposition of this process's metrics, with the hub's streams and
/// ledger measured at scrape time.
#[handler]
async fn get_metrics(state: Data<&AppState>) -> impl IntoResponse {
    state.hub().measure().await;
    state
        .metrics
        .render()
        .with_content_type("text/plain; version=0.0.4; charset=utf-8")
}

#[cfg(test)]
mod tests {
    use poem::http::Method;

    #[test]
    fn the_edge_is_told_the_methods_of_the_api_and_the_pages() {
        let table = super::route_table();
        assert_eq!(table.allow("/health").as_deref(), Some("GET"));
        let children = table.allow("/v1/me/children").unwrap();
        assert!(
            children.contains("GET") && children.contains("POST"),
            "{children}"
        );
        assert_eq!(table.allow("/a/some-token").as_deref(), Some("GET, POST"));
        assert_eq!(table.allow("/nowhere"), None);
        assert!(table.has(&Method::POST, "/v1/me/link-codes"));
        assert!(table.has(&Method::POST, "/v1/events/abc/cancel"));
        assert!(table.has(&Method::POST, "/a/token"));
        assert!(!table.has(&Method::POST, "/v1/me"));
        assert!(!table.has(&Method::PATCH, "/v1/me/link-codes"));
    }
}
