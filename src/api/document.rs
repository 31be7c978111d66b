//! The OpenAPI document as published (`mobile-contract/openapi.json`, `/openapi.json`,
//! `/docs`): what poem-openapi derives from the handlers, completed with what its derive
//! macros cannot say.
//!
//! - Every operation lists each status it can answer, and for each error status the
//!   problem `type`s it carries (an `enum` on `type`), instead of a bare `4XX`/`5XX`. The
//!   statuses that follow from the operation's shape (a body, parameters, credentials,
//!   POST's `Idempotency-Key`) are added for every operation alike; those that follow
//!   from what the handler checks are in [`HANDLER_PROBLEMS`].
//! - Request objects are closed (`additionalProperties: false`): every request object
//!   derives `#[serde(deny_unknown_fields)]`, so the server refuses unknown fields.
//! - Codes the server checks against a list in the code (regions, profession areas,
//!   time zones, languages, accessibility features) carry that list as their `enum`.
//! - `Idempotency-Key`, accepted on every signed-in POST, is declared with its shape.
//!
//! The integration tests check every response they get against this document.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::domain::devices::{TOKEN_LENGTH, TOKEN_PATTERN};
use crate::domain::events::{ACCESSIBILITY_FEATURES, ProfessionArea, TIME_ZONES};
use crate::domain::region::SUBJECTS;
use crate::http::problem::{PROBLEM_JSON, TYPE_PREFIX};

/// One error status and the problem `type` slugs it may carry.
pub type StatusProblems = (u16, &'static [&'static str]);

/// The problems each operation (by `operationId`) answers because of what its handler
/// checks; the ones every operation of its shape answers are added by [`shape_problems`].
pub const HANDLER_PROBLEMS: &[(&str, &[StatusProblems])] = &[
    ("get_health", &[]),
    ("get_ready", &[]),
    ("register", &[(429, &["rate-limited"])]),
    (
        "verify_email",
        &[(401, &["unauthorized"]), (429, &["rate-limited"])],
    ),
    (
        "login",
        &[
            (401, &["unauthorized", "second-factor-required"]),
            (429, &["rate-limited"]),
        ],
    ),
    ("refresh_tokens", &[(401, &["unauthorized"])]),
    ("logout", &[]),
    ("list_sessions", &[]),
    ("revoke_session", &[]),
    ("change_password", &[(429, &["rate-limited"])]),
    ("request_password_reset", &[(429, &["rate-limited"])]),
    (
        "confirm_password_reset",
        &[(401, &["unauthorized"]), (429, &["rate-limited"])],
    ),
    ("get_me", &[]),
    ("get_calendar_feed", &[(403, &["forbidden"])]),
    ("revoke_calendar_feed", &[(403, &["forbidden"])]),
    (
        "put_student_profile",
        &[
            (403, &["forbidden"]),
            (409, &["snils-taken"]),
            (429, &["rate-limited"]),
        ],
    ),
    (
        "put_parent_profile",
        &[
            (403, &["forbidden"]),
            (409, &["snils-taken"]),
            (429, &["rate-limited"]),
        ],
    ),
    ("get_child_profile", &[(403, &["forbidden"])]),
    (
        "put_child_health",
        &[(403, &["forbidden"]), (409, &["consent-required"])],
    ),
    ("export_my_data", &[]),
    ("create_link_code", &[(403, &["forbidden"])]),
    ("create_parent_link_code", &[(403, &["forbidden"])]),
    (
        "link_child",
        &[
            (403, &["forbidden"]),
            (409, &["too-many-parents"]),
            (429, &["rate-limited"]),
        ],
    ),
    ("list_children", &[(403, &["forbidden"])]),
    ("unlink_child", &[(403, &["forbidden"])]),
    ("list_parents", &[(403, &["forbidden"])]),
    ("invite_child", &[(403, &["forbidden"])]),
    ("list_invitations", &[(403, &["forbidden"])]),
    (
        "accept_invitation",
        &[(403, &["forbidden"]), (409, &["too-many-parents"])],
    ),
    ("decline_invitation", &[(403, &["forbidden"])]),
    ("list_link_requests", &[(403, &["forbidden"])]),
    (
        "confirm_link_request",
        &[
            (403, &["forbidden"]),
            (
                409,
                &[
                    "link-request-decided",
                    "link-request-expired",
                    "too-many-parents",
                ],
            ),
        ],
    ),
    (
        "decline_link_request",
        &[
            (403, &["forbidden"]),
            (409, &["link-request-decided", "link-request-expired"]),
        ],
    ),
    ("list_consent_texts", &[]),
    (
        "give_consent",
        &[(403, &["forbidden"]), (409, &["profile-required"])],
    ),
    ("list_child_consents", &[(403, &["forbidden"])]),
    ("list_my_consents", &[(403, &["forbidden"])]),
    ("withdraw_consent", &[(403, &["forbidden"])]),
    ("create_event", &[(403, &["forbidden"])]),
    (
        "list_events",
        &[(403, &["forbidden"]), (409, &["profile-required"])],
    ),
    (
        "list_child_events",
        &[(403, &["forbidden"]), (409, &["profile-required"])],
    ),
    (
        "update_event",
        &[
            (403, &["forbidden"]),
            (
                409,
                &[
                    "event-cancelled",
                    "use-reschedule",
                    "immutable-after-publish",
                    "capacity-below-seats",
                ],
            ),
        ],
    ),
    ("get_event", &[]),
    (
        "publish_event",
        &[(403, &["forbidden"]), (409, &["event-cancelled"])],
    ),
    (
        "cancel_event",
        &[(403, &["forbidden"]), (409, &["event-cancelled"])],
    ),
    (
        "reschedule_event",
        &[(403, &["forbidden"]), (409, &["event-cancelled"])],
    ),
    ("list_organizer_events", &[(403, &["forbidden"])]),
    ("get_event_roster", &[(403, &["forbidden"])]),
    (
        "sign_up",
        &[
            (403, &["forbidden"]),
            (
                409,
                &[
                    "event-not-open",
                    "signup-closed",
                    "grade-out-of-range",
                    "profile-required",
                    "consent-required",
                    "already-signed-up",
                    "overlapping-event",
                ],
            ),
        ],
    ),
    (
        "decide_signup",
        &[
            (403, &["forbidden"]),
            (
                409,
                &[
                    "already-decided",
                    "not-awaiting-decision",
                    "signup-ended",
                    "consent-required",
                ],
            ),
        ],
    ),
    (
        "withdraw_signup",
        &[(403, &["forbidden"]), (409, &["signup-ended"])],
    ),
    ("get_signup", &[]),
    (
        "sign_up_child",
        &[
            (403, &["forbidden"]),
            (
                409,
                &[
                    "event-not-open",
                    "signup-closed",
                    "grade-out-of-range",
                    "profile-required",
                    "consent-required",
                    "already-signed-up",
                    "overlapping-event",
                ],
            ),
        ],
    ),
    ("get_check_in_code", &[(403, &["forbidden"])]),
    (
        "check_in",
        &[
            (403, &["forbidden"]),
            (
                409,
                &["check-in-code-used", "not-approved", "check-in-closed"],
            ),
            (422, &["check-in-code-invalid", "check-in-code-expired"]),
        ],
    ),
    (
        "put_attendance",
        &[
            (403, &["forbidden"]),
            (409, &["not-approved", "attendance-closed"]),
        ],
    ),
    (
        "put_assessment",
        &[
            (403, &["forbidden"]),
            (409, &["not-attended", "assessment-closed"]),
        ],
    ),
    (
        "give_feedback",
        &[
            (403, &["forbidden"]),
            (409, &["not-attended", "event-not-over", "feedback-given"]),
        ],
    ),
    ("get_signup_outcome", &[]),
    ("get_feedback_summary", &[(403, &["forbidden"])]),
    ("list_my_signups", &[(403, &["forbidden"])]),
    ("list_my_approvals", &[(403, &["forbidden"])]),
    ("put_device", &[]),
    ("delete_device", &[]),
    ("list_notifications", &[]),
    ("read_notification", &[]),
    ("ack_notification", &[]),
    ("get_notification_preferences", &[]),
    ("put_notification_preferences", &[]),
    ("send_notice", &[(403, &["forbidden"])]),
    ("get_notice_deliveries", &[(403, &["forbidden"])]),
    ("list_event_announcements", &[(403, &["forbidden"])]),
    ("list_dead_letters", &[(403, &["forbidden"])]),
    ("replay_dead_letter", &[(403, &["forbidden"])]),
    ("list_snils_conflicts", &[(403, &["forbidden"])]),
    (
        "resolve_snils_conflict",
        &[(403, &["forbidden"]), (409, &["conflict-settled"])],
    ),
    ("list_tests", &[]),
    ("get_test", &[]),
    ("start_attempt", &[(403, &["forbidden"])]),
    ("get_attempt", &[(403, &["forbidden"])]),
    (
        "put_answer",
        &[
            (403, &["forbidden"]),
            (
                409,
                &[
                    "attempt-closed",
                    "attempt-abandoned",
                    "stale-answer",
                    "late-answer",
                ],
            ),
        ],
    ),
    (
        "post_answers_batch",
        &[
            (403, &["forbidden"]),
            (409, &["attempt-closed", "attempt-abandoned"]),
        ],
    ),
    (
        "finish_attempt",
        &[
            (403, &["forbidden"]),
            (409, &["answers-missing", "attempt-abandoned"]),
        ],
    ),
    ("get_result", &[]),
    ("list_my_results", &[(403, &["forbidden"])]),
    ("list_child_results", &[(403, &["forbidden"])]),
    (
        "list_my_recommendations",
        &[(403, &["forbidden"]), (409, &["profile-required"])],
    ),
    (
        "list_child_recommendations",
        &[(403, &["forbidden"]), (409, &["profile-required"])],
    ),
];

/// The languages of notices and e-mails.
pub const LANGUAGES: &[&str] = &["ru", "en"];

/// `Idempotency-Key`: 1–255 visible ASCII characters (see `http::idempotency`).
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,255}$";

/// Numbers the server checks against bounds in the code: (operationId or schema, query
/// parameter or property, minimum, maximum, default when left out).
fn number_bounds() -> Vec<(&'static str, &'static str, i64, i64, Option<i64>)> {
    use super::{admin, events, notifications};
    use crate::domain::events as rules;
    use crate::domain::student::Grade;
    let seq = crate::diagnostics::attempts::SEQ_RANGE;
    let grade = (i64::from(Grade::MIN), i64::from(Grade::MAX));
    vec![
        (
            "list_dead_letters",
            "limit",
            1,
            admin::MAX_LIMIT,
            Some(admin::DEFAULT_LIMIT),
        ),
        (
            "list_snils_conflicts",
            "limit",
            1,
            admin::MAX_LIMIT,
            Some(admin::DEFAULT_LIMIT),
        ),
        (
            "list_events",
            "limit",
            1,
            events::MAX_LIMIT,
            Some(events::DEFAULT_LIMIT),
        ),
        (
            "list_child_events",
            "limit",
            1,
            events::MAX_LIMIT,
            Some(events::DEFAULT_LIMIT),
        ),
        (
            "FeedbackRequest",
            "rating",
            *crate::domain::attendance::RATING.start(),
            *crate::domain::attendance::RATING.end(),
            None,
        ),
        (
            "list_organizer_events",
            "limit",
            1,
            events::MAX_LIMIT,
            Some(events::DEFAULT_LIMIT),
        ),
        (
            "list_notifications",
            "limit",
            1,
            notifications::MAX_LIMIT,
            Some(notifications::DEFAULT_LIMIT),
        ),
        ("PutAnswerRequest", "seq", *seq.start(), *seq.end(), None),
        ("BatchAnswer", "seq", *seq.start(), *seq.end(), None),
        ("EventInput", "grade_min", grade.0, grade.1, None),
        ("EventInput", "grade_max", grade.0, grade.1, None),
        ("StudentProfileInput", "grade", grade.0, grade.1, None),
        ("EventInput", "capacity", 1, rules::MAX_CAPACITY, None),
        (
            "EventInput",
            "approval_window_hours",
            *rules::APPROVAL_WINDOW_HOURS.start(),
            *rules::APPROVAL_WINDOW_HOURS.end(),
            None,
        ),
    ]
}

/// Texts and lists the server checks against lengths in the code: (schema, property,
/// shortest, longest), in characters or items.
fn length_bounds() -> Vec<(&'static str, &'static str, usize, usize)> {
    use super::{auth, diagnostics, events, notices, profiles, signups};
    use crate::domain::attendance;
    vec![
        (
            "EventInput",
            "title",
            *events::TITLE_CHARS.start(),
            *events::TITLE_CHARS.end(),
        ),
        ("EventInput", "description", 1, events::DESCRIPTION_CHARS),
        ("EventInput", "city", 1, events::CITY_CHARS),
        ("EventInput", "address", 1, events::ADDRESS_CHARS),
        (
            "EventInput",
            "what_to_bring",
            1,
            events::WHAT_TO_BRING_CHARS,
        ),
        ("EventInput", "online_link", 1, events::ONLINE_LINK_CHARS),
        ("RescheduleRequest", "city", 1, events::CITY_CHARS),
        ("RescheduleRequest", "address", 1, events::ADDRESS_CHARS),
        (
            "CancelRequest",
            "reason",
            *events::REASON_CHARS.start(),
            *events::REASON_CHARS.end(),
        ),
        ("NoticeInput", "text", 1, notices::TEXT_CHARS),
        ("DecisionRequest", "comment", 1, signups::COMMENT_CHARS),
        ("AssessmentRequest", "comment", 1, attendance::COMMENT_CHARS),
        ("FeedbackRequest", "comment", 1, attendance::COMMENT_CHARS),
        ("DeviceInfo", "name", 1, auth::DEVICE_NAME_CHARS),
        ("StudentProfileInput", "school", 1, profiles::SCHOOL_CHARS),
        ("StudentProfileInput", "city", 1, profiles::CITY_CHARS),
        ("HealthInput", "details", 1, profiles::HEALTH_DETAILS_CHARS),
        ("BatchRequest", "answers", 1, diagnostics::MAX_BATCH),
    ]
}

fn bound(owner: &str, name: &str, schema: &mut Value) {
    for (o, n, min, max) in length_bounds() {
        if o == owner && n == name {
            let (low, high) = if schema["type"] == "array" {
                ("minItems", "maxItems")
            } else {
                ("minLength", "maxLength")
            };
            schema[low] = json!(min);
            schema[high] = json!(max);
        }
    }
    for (o, n, min, max, default) in number_bounds() {
        if o == owner && n == name {
            schema["minimum"] = json!(min);
            schema["maximum"] = json!(max);
            if let Some(default) = default {
                schema["default"] = json!(default);
            }
        }
    }
}

/// Properties (and query parameters) whose value the server checks against a list in the
/// code, with that list.
fn code_lists() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("region", SUBJECTS.iter().map(|(code, _)| *code).collect()),
        (
            "profession_area",
            ProfessionArea::ALL
                .iter()
                .map(|area| area.as_str())
                .collect(),
        ),
        (
            "time_zone",
            TIME_ZONES.iter().map(|(zone, _)| *zone).collect(),
        ),
        ("language", LANGUAGES.to_vec()),
    ]
}

/// Completes poem-openapi's document (see the module's documentation).
pub fn complete(spec: &str) -> String {
    let mut doc: Value = serde_json::from_str(spec).expect("poem-openapi writes JSON");
    let request_schemas = request_schemas(&doc);
    let lists = code_lists();
    let closed = closed_lists();
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas.iter_mut() {
            if request_schemas.contains(name) && schema["type"] == "object" {
                schema["additionalProperties"] = Value::Bool(false);
            }
            if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                for (property, value) in properties.iter_mut() {
                    restrict(property, value, &lists);
                    bound(name, property, value);
                    if request_schemas.contains(name) {
                        shape(name, property, value);
                        password_bounds(name, property, value);
                    }
                    if let Some((.., list)) = closed
                        .iter()
                        .find(|(o, p, _)| *o == name.as_str() && *p == property.as_str())
                        && value["type"] == "string"
                    {
                        value["enum"] = json!(list);
                    }
                }
            }
        }
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        close_disabled_kinds(schemas);
    }
    let handler: BTreeMap<&str, &[StatusProblems]> = HANDLER_PROBLEMS.iter().copied().collect();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                complete_operation(path, method, operation, &handler, &lists);
            }
        }
    }
    let mut text = serde_json::to_string_pretty(&doc).expect("a document serializes");
    text.push('\n');
    text
}

/// Response properties that hold a closed vocabulary, with the code's list of it: what a
/// database column's check allows, or an enum of the code.
fn closed_lists() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    use crate::domain::attendance::{AssessmentLevel, AttendanceMethod, AttendanceStatus};
    use crate::domain::consents::{CONSENT_STATUSES, ConsentKind};
    use crate::domain::deliveries::DeliveryStatus;
    use crate::domain::devices::DEVICE_PLATFORMS;
    use crate::domain::domain_events::Kind;
    use crate::domain::events::{EventFormat, EventStatus, SignupStatus};
    use crate::domain::roles::Role;
    use crate::notify::providers::ChannelKind;
    let inbox_kinds = Kind::ALL
        .iter()
        .filter(|kind| crate::notify::policy::policy(**kind).inbox)
        .map(|kind| kind.as_str())
        .collect();
    vec![
        ("SignupView", "status", SignupStatus::names()),
        ("AttendanceView", "status", AttendanceStatus::names()),
        ("AttendanceView", "method", AttendanceMethod::names()),
        ("AssessmentView", "level", AssessmentLevel::names()),
        ("SignupView", "event_status", EventStatus::names()),
        ("EventView", "status", EventStatus::names()),
        ("EventView", "format", EventFormat::names()),
        ("DeviceView", "platform", DEVICE_PLATFORMS.to_vec()),
        (
            "ChannelCounts",
            "channel",
            ChannelKind::ALL.iter().map(|c| c.as_str()).collect(),
        ),
        (
            "FailedDeliveryView",
            "channel",
            ChannelKind::ALL.iter().map(|c| c.as_str()).collect(),
        ),
        (
            "FailedDeliveryView",
            "status",
            [DeliveryStatus::Failed, DeliveryStatus::Dead]
                .iter()
                .map(|s| s.as_str())
                .collect(),
        ),
        (
            "AnnouncementReport",
            "kind",
            super::notices::ANNOUNCEMENT_KINDS
                .iter()
                .map(|kind| kind.as_str())
                .collect(),
        ),
        ("NotificationView", "kind", inbox_kinds),
        (
            "ConsentView",
            "kind",
            ConsentKind::ALL.iter().map(|k| k.as_str()).collect(),
        ),
        ("ConsentView", "status", CONSENT_STATUSES.to_vec()),
        ("Me", "role", Role::ALL.iter().map(|r| r.as_str()).collect()),
        (
            "TokenPair",
            "role",
            Role::ALL.iter().map(|r| r.as_str()).collect(),
        ),
    ]
}

/// The shapes of the values a request carries under these names, as the server checks
/// them: an address (`domain::email`, at most 254 characters), the six-digit code of an
/// e-mail (not a link code, which has letters and may be typed with spaces or hyphens), a
/// refresh token (`brt_` and 43 base64url characters). The server's own checks stay the
/// truth; these only keep the document from promising more than it accepts.
fn shape(owner: &str, name: &str, schema: &mut Value) {
    if schema["type"] != "string" || (owner, name) == ("LinkChildRequest", "code") {
        return;
    }
    match name {
        "email" => {
            schema["format"] = json!("email");
            schema["minLength"] = json!(3);
            schema["maxLength"] = json!(254);
        }
        "code" => {
            schema["pattern"] = json!("^[0-9]{6}$");
        }
        "refresh_token" => {
            schema["pattern"] = json!("^brt_[A-Za-z0-9_-]{43}$");
        }
        "quiet_from" | "quiet_to" => {
            schema["pattern"] = json!(super::notifications::HHMM_PATTERN);
        }
        _ => {}
    }
}

/// `disabled` in the preferences: an object whose keys are the kinds of notice a person
/// may configure (those that show in the inbox), each a list of channel groups.
fn close_disabled_kinds(schemas: &mut Map<String, Value>) {
    let Some(disabled) = schemas
        .get_mut("Preferences")
        .and_then(|p| p.pointer_mut("/properties/disabled"))
    else {
        return;
    };
    let Some(groups) = disabled.get("additionalProperties").cloned() else {
        return;
    };
    let kinds: Map<String, Value> = super::notifications::configurable_kinds()
        .map(|kind| (kind.as_str().to_owned(), groups.clone()))
        .collect();
    disabled["properties"] = Value::Object(kinds);
    disabled["additionalProperties"] = Value::Bool(false);
}

/// A password being set (registration, reset, change), as `domain::password` checks its
/// length; a password given to log in is only compared.
fn password_bounds(owner: &str, name: &str, schema: &mut Value) {
    let being_set = matches!(
        (owner, name),
        ("RegisterRequest", "password") | (_, "new_password")
    );
    if being_set && schema["type"] == "string" {
        schema["minLength"] = json!(crate::domain::password::MIN_CHARS);
        schema["maxLength"] = json!(crate::domain::password::MAX_CHARS);
    }
}

/// Puts the code's list on a property or parameter named after it (or on the items of
/// an array of them).
fn restrict(name: &str, schema: &mut Value, lists: &[(&str, Vec<&str>)]) {
    if name == "accessibility" && schema["type"] == "array" {
        schema["items"]["enum"] = json!(ACCESSIBILITY_FEATURES);
        return;
    }
    if let Some((_, list)) = lists.iter().find(|(property, _)| *property == name)
        && schema["type"] == "string"
    {
        schema["enum"] = json!(list);
    }
}

fn complete_operation(
    path: &str,
    method: &str,
    operation: &mut Value,
    handler: &BTreeMap<&str, &[StatusProblems]>,
    lists: &[(&str, Vec<&str>)],
) {
    let id = operation["operationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut problems = shape_problems(path, method, operation);
    let listed = handler.get(id.as_str()).unwrap_or_else(|| {
        panic!("{method} {path} ({id}) is missing from HANDLER_PROBLEMS in api/document.rs")
    });
    for (status, types) in listed.iter() {
        problems
            .entry(*status)
            .or_default()
            .extend(types.iter().copied());
    }
    if method == "post" && signed_in(operation) {
        declare_idempotency_key(operation);
    }
    if let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    {
        for parameter in parameters {
            let name = parameter["name"].as_str().unwrap_or_default().to_owned();
            restrict(&name, &mut parameter["schema"], lists);
            bound(&id, &name, &mut parameter["schema"]);
            if name == "token" && id.ends_with("_device") {
                let schema = &mut parameter["schema"];
                schema["pattern"] = json!(TOKEN_PATTERN);
                schema["minLength"] = json!(TOKEN_LENGTH.start());
                schema["maxLength"] = json!(TOKEN_LENGTH.end());
                parameter["description"] = json!(
                    "The push token: APNs 64–200 hexadecimal characters; FCM a registration \
                     token (100 or more base64url characters with a colon); RuStore 32 or more \
                     base64url characters. Where a channel is served by its local simulator \
                     (development), its test tokens are taken too."
                );
            }
        }
    }
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    responses.remove("4XX");
    responses.remove("5XX");
    for (status, types) in problems {
        responses.insert(status.to_string(), problem_response(status, &types));
    }
}

/// What every operation of this shape can answer, whatever its handler does.
fn shape_problems(
    path: &str,
    method: &str,
    operation: &Value,
) -> BTreeMap<u16, BTreeSet<&'static str>> {
    let mut problems: BTreeMap<u16, BTreeSet<&'static str>> = BTreeMap::new();
    let mut add = |status: u16, slug: &'static str| {
        problems.entry(status).or_default().insert(slug);
    };
    if path == "/health" {
        // Liveness touches nothing and cannot fail short of a crash.
        return problems;
    }
    add(500, "internal");
    add(503, "dependency-unavailable");
    let secured = operation["security"]
        .as_array()
        .is_some_and(|s| !s.is_empty());
    if secured {
        add(401, "unauthorized");
    }
    let parameters = operation["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if parameters.iter().any(|p| p["in"] == "path") {
        // An unknown id, or one the caller may not see, and an unparsable one alike.
        add(404, "not-found");
    }
    if parameters
        .iter()
        .any(|p| p["in"] == "query" || p["in"] == "header")
    {
        add(422, "validation");
    }
    if operation.get("requestBody").is_some() {
        add(400, "malformed-json");
        add(415, "unsupported-media-type");
        add(422, "validation");
    }
    if matches!(method, "post" | "put" | "patch") || operation.get("requestBody").is_some() {
        add(413, "payload-too-large");
        // The body could not be read (the connection broke mid-body).
        add(400, "bad-request");
    }
    if method == "post" {
        add(422, "validation");
    }
    if method == "post" && signed_in(operation) {
        add(409, "idempotency-in-flight");
        add(422, "idempotency-key-reused");
    }
    problems
}

/// Whether an operation needs a bearer token. Keys are kept per account, so only these
/// take an `Idempotency-Key`; the public ones (register, log in, reset a password) ignore
/// it and do not declare it.
fn signed_in(operation: &Value) -> bool {
    operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|schemes| !schemes.is_empty())
}

/// The response of one error status: a problem document whose `type` is one of `types`.
fn problem_response(status: u16, types: &BTreeSet<&str>) -> Value {
    let uris: Vec<String> = types.iter().map(|t| format!("{TYPE_PREFIX}{t}")).collect();
    let listed: Vec<String> = types.iter().map(|t| format!("`{t}`")).collect();
    json!({
        "description": format!("A problem document; `type` is one of {}.", listed.join(", ")),
        "content": {
            PROBLEM_JSON: {
                "schema": {
                    "allOf": [
                        { "$ref": "#/components/schemas/Problem" },
                        {
                            "type": "object",
                            "properties": {
                                "type": { "type": "string", "enum": uris },
                                "status": { "type": "integer", "enum": [status] },
                            },
                        },
                    ],
                },
            },
        },
    })
}

/// Declares (or completes) the `Idempotency-Key` header every signed-in POST accepts.
fn declare_idempotency_key(operation: &mut Value) {
    let declared = json!({
        "name": "Idempotency-Key",
        "in": "header",
        "description": "Makes a retry safe: the first response is kept for 24 hours and \
                        replayed to a retry with the same key and body; the same key with \
                        another body is 422 `idempotency-key-reused`, a retry while the \
                        first still runs 409 `idempotency-in-flight`. A UUID is a good key.",
        "required": false,
        "deprecated": false,
        "explode": true,
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": IDEMPOTENCY_KEY_PATTERN,
        },
    });
    let parameters = operation
        .as_object_mut()
        .expect("an operation is an object")
        .entry("parameters")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(parameters) = parameters.as_array_mut() else {
        return;
    };
    match parameters
        .iter_mut()
        .find(|p| p["in"] == "header" && p["name"] == "Idempotency-Key")
    {
        Some(existing) => {
            let description = existing.get("description").cloned();
            *existing = declared;
            if let Some(description) = description {
                existing["description"] = description;
            }
        }
        None => parameters.push(declared),
    }
}

/// The names of the schemas reachable from a request body.
fn request_schemas(doc: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending: Vec<Value> = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for item in paths.values() {
            for operation in item.as_object().into_iter().flat_map(Map::values) {
                if let Some(body) = operation.get("requestBody") {
                    pending.push(body.clone());
                }
            }
        }
    }
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref")
                    && let Some(name) = reference.strip_prefix("#/components/schemas/")
                    && found.insert(name.to_owned())
                {
                    pending.push(doc["components"]["schemas"][name].clone());
                }
                pending.extend(map.into_iter().map(|(_, v)| v));
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closed_lists_are_what_the_database_columns_allow() {
        let migrations: String = [
            include_str!("../../migrations/20261125000002_families.sql"),
            include_str!("../../migrations/20261125000003_events.sql"),
            include_str!("../../migrations/20261125000005_hub.sql"),
            include_str!("../../migrations/20261201000100_after_the_signup.sql"),
        ]
        .concat()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
        let quoted = |list: &[&str]| {
            list.iter()
                .map(|v| format!("'{v}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        use crate::domain::attendance::{AssessmentLevel, AttendanceMethod, AttendanceStatus};
        use crate::domain::deliveries::DeliveryStatus;
        use crate::domain::devices::DEVICE_PLATFORMS;
        use crate::domain::events::{EventFormat, EventStatus, SignupStatus};
        use crate::domain::roles::Role;
        use crate::notify::providers::ChannelKind;
        let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        let channels: Vec<&str> = ChannelKind::ALL.iter().map(|c| c.as_str()).collect();
        for (column, list) in [
            ("status", EventStatus::names()),
            ("format", EventFormat::names()),
            ("status", SignupStatus::names()),
            ("status", DeliveryStatus::names()),
            ("channel", channels),
            ("platform", DEVICE_PLATFORMS.to_vec()),
            ("role", roles),
            ("status", AttendanceStatus::names()),
            ("method", AttendanceMethod::names()),
            ("level", AssessmentLevel::names()),
        ] {
            let check = format!("CHECK ({column} IN ( {})", quoted(&list));
            let check_tight = format!("CHECK ({column} IN ({})", quoted(&list));
            assert!(
                migrations.contains(&check) || migrations.contains(&check_tight),
                "no column check lists {list:?}"
            );
        }
    }

    #[test]
    fn every_operation_is_in_the_handler_table_and_every_entry_is_an_operation() {
        let spec = super::super::service().spec();
        let doc: Value = serde_json::from_str(&spec).unwrap();
        let mut ids = BTreeSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                ids.insert(operation["operationId"].as_str().unwrap().to_owned());
            }
        }
        let listed: BTreeSet<String> = HANDLER_PROBLEMS
            .iter()
            .map(|(id, _)| (*id).to_owned())
            .collect();
        let missing: Vec<_> = ids.iter().filter(|id| !listed.contains(*id)).collect();
        let stale: Vec<_> = listed.iter().filter(|id| !ids.contains(*id)).collect();
        assert!(missing.is_empty(), "not in HANDLER_PROBLEMS: {missing:?}");
        assert!(stale.is_empty(), "not operations: {stale:?}");
    }

    #[test]
    fn no_operation_is_left_with_a_status_range() {
        let doc: Value = serde_json::from_str(&super::super::contract()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for status in operation["responses"].as_object().unwrap().keys() {
                    assert!(
                        status.parse::<u16>().is_ok(),
                        "{method} {path} documents {status}"
                    );
                }
            }
        }
    }

    #[test]
    fn request_objects_are_closed_and_codes_carry_their_lists() {
        let doc: Value = serde_json::from_str(&super::super::contract()).unwrap();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["EventInput"]["additionalProperties"], false);
        assert_eq!(schemas["DeviceInfo"]["additionalProperties"], false);
        assert!(schemas["EventView"].get("additionalProperties").is_none());
        let zones = schemas["EventInput"]["properties"]["time_zone"]["enum"]
            .as_array()
            .unwrap();
        assert_eq!(zones.len(), TIME_ZONES.len());
        assert!(zones.contains(&json!("Europe/Moscow")));
    }
}
