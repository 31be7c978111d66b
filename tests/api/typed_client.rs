//! One whole flow driven only through the client generated from the published contract
//! (`bilet-contract-client`, progenitor), as an app built against
//! `mobile-contract/openapi.json` would: families register, verify, link and consent; a
//! student signs up; the parent approves; the organizer cancels; the parent's inbox and
//! the organizer's delivery report show it. What the test reads from the database is
//! only what reaches a person outside the API: the e-mailed codes.

use std::time::Duration;

use bilet_contract_client::{self as client, Client, Error, types};
use chrono::Utc;
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, email, eventually, spawn_app, unique_phone, valid_snils};

/// A person signed in through the generated client.
struct Signed {
    tokens: types::TokenPair,
    api: Client,
}

#[tokio::test]
async fn a_family_is_approved_and_told_of_the_cancellation_all_through_the_generated_client() {
    let app = spawn_app().await;
    let base = app.url("");
    let anonymous = client::anonymous(&base).unwrap();

    // Parent and student register and verify with the code their e-mail carries.
    let student = register_and_verify(&app, &anonymous, types::RegisterRole::Student).await;
    let parent = register_and_verify(&app, &anonymous, types::RegisterRole::Parent).await;
    assert_eq!(student.tokens.role, types::TokenPairRole::Student);
    assert_eq!(parent.tokens.role, types::TokenPairRole::Parent);

    let birth = Utc::now().date_naive() - chrono::Duration::days(13 * 365 + 100);
    let profile = student
        .api
        .put_student_profile(&types::StudentProfileInput {
            surname: "Смирнова".into(),
            given_name: "Анна".into(),
            patronymic: Some("Петровна".into()),
            birth_date: birth.to_string(),
            grade: 7,
            school: "Школа № 1".parse().unwrap(),
            region: types::StudentProfileInputRegion::RuTa,
            city: "Казань".parse().unwrap(),
            phone: unique_phone(),
            snils: valid_snils(),
            document: "IV-МЮ 123456".into(),
            health: None,
        })
        .await
        .unwrap();
    assert_eq!(profile.grade, 7);
    parent
        .api
        .put_parent_profile(&types::ParentProfileInput {
            surname: "Смирнов".into(),
            given_name: "Пётр".into(),
            patronymic: Some("Иванович".into()),
            birth_date: "1985-04-12".into(),
            snils: valid_snils(),
            phone: unique_phone(),
        })
        .await
        .unwrap();

    // The child's app shows a code; the parent types it in and is linked at once.
    let code = student.api.create_link_code(None).await.unwrap();
    assert_eq!(code.status(), 201);
    let linked = parent
        .api
        .link_child(
            None,
            &types::LinkChildRequest {
                code: code.code.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(linked.status(), 201, "the first parent is linked at once");
    match linked.into_inner() {
        types::LinkChildOutcome::FamilyMember(child) => {
            assert_eq!(child.account_id, student.tokens.account_id);
            assert_eq!(child.grade, Some(7));
        }
        other => panic!("a link request instead of a link: {other:?}"),
    }

    // The parent gives personal-data consent for the child.
    let consent = parent
        .api
        .give_consent(
            &student.tokens.account_id,
            None,
            &types::GiveConsentRequest {
                kind: types::ConsentKindParam::PersonalData,
                text_version: "personal_data/v1".into(),
                passport_series: "4510".into(),
                passport_number: "123456".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(consent.status(), 201);
    assert_eq!(consent.kind, types::ConsentViewKind::PersonalData);
    assert_eq!(consent.status, types::ConsentViewStatus::Current);
    for (person, platform) in [
        (&parent, types::DevicePlatform::Ios),
        (&student, types::DevicePlatform::AndroidFcm),
    ] {
        person
            .api
            .put_device(
                &format!("typed-device-{}", Uuid::new_v4().simple())
                    .parse()
                    .unwrap(),
                &types::DeviceInput {
                    platform,
                    app_version: "3.4.1".into(),
                    locale: "ru-RU".into(),
                },
            )
            .await
            .unwrap();
    }

    // An organizer (made as `bilet admin create-user` makes one) signs in, creates an
    // event starting within 48 hours and publishes it.
    let organizer = staff_sign_in(&app, &anonymous).await;
    assert_eq!(organizer.tokens.role, types::TokenPairRole::Organizer);
    let starts_at = Utc::now() + chrono::Duration::hours(30);
    let draft = organizer
        .api
        .create_event(
            None,
            &types::EventInput {
                title: "Проба: программирование роботов".parse().unwrap(),
                description: "Соберём и запрограммируем робота-манипулятора."
                    .parse()
                    .unwrap(),
                profession_area: types::EventInputProfessionArea::Engineering,
                format: types::EventFormat::InPerson,
                region: Some(types::EventInputRegion::RuTa),
                city: Some("Казань".parse().unwrap()),
                address: Some("ул. Баумана, 1".parse().unwrap()),
                grade_min: 6,
                grade_max: 9,
                capacity: 5.try_into().unwrap(),
                starts_at,
                ends_at: starts_at + chrono::Duration::hours(3),
                time_zone: types::EventInputTimeZone::EuropeMoscow,
                accessibility: vec![types::EventInputAccessibilityItem::StepFree],
                signup_deadline: starts_at - chrono::Duration::hours(1),
                approval_window_hours: 48.try_into().unwrap(),
                what_to_bring: None,
                online_link: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(draft.status(), 201);
    assert_eq!(draft.status, types::EventViewStatus::Draft);
    let event = organizer.api.publish_event(&draft.id, None).await.unwrap();
    assert_eq!(event.status, types::EventViewStatus::Published);
    assert_eq!(event.seats_left, 5);

    // The student signs up with an Idempotency-Key; a retry with the same key gets the
    // same sign-up back.
    let key: types::SignUpIdempotencyKey = format!("signup-{}", Uuid::new_v4()).parse().unwrap();
    let signup = student
        .api
        .sign_up(&event.id, Some(&key), &types::SignUpRequest {})
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    assert_eq!(signup.status, types::SignupViewStatus::PendingParent);
    assert_eq!(signup.event_status, types::SignupViewEventStatus::Published);
    let retried = student
        .api
        .sign_up(&event.id, Some(&key), &types::SignUpRequest {})
        .await
        .unwrap();
    assert_eq!(retried.id, signup.id, "the retry is the same sign-up");
    // Without the key, a second sign-up is refused with a typed problem.
    match student
        .api
        .sign_up(&event.id, None, &types::SignUpRequest {})
        .await
    {
        Err(Error::ErrorResponse(problem)) => {
            assert_eq!(problem.status(), 409);
            assert_eq!(problem.type_, "urn:bilet:problem:already-signed-up");
            assert_eq!(problem.status, 409);
        }
        other => panic!("a second sign-up was not refused: {other:?}"),
    }

    // The parent sees the request awaiting them and approves it.
    let approvals = parent.api.list_my_approvals().await.unwrap();
    assert!(
        approvals.iter().any(|s| s.id == signup.id),
        "the request awaits the parent: {approvals:?}"
    );
    let approved = parent
        .api
        .decide_signup(
            &signup.id,
            Some(&format!("decide-{}", Uuid::new_v4()).parse().unwrap()),
            &types::DecisionRequest {
                decision: types::DecisionKind::Approve,
                comment: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(approved.status, types::SignupViewStatus::Approved);
    assert_eq!(
        approved.decided_by_account_id,
        Some(parent.tokens.account_id)
    );

    // The organizer cancels.
    let cancelled = organizer
        .api
        .cancel_event(
            &event.id,
            None,
            &types::CancelRequest {
                reason: "Авария водопровода".parse().unwrap(),
            },
        )
        .await
        .unwrap();
    assert_eq!(cancelled.status, types::EventViewStatus::Cancelled);
    assert_eq!(
        cancelled.cancel_reason.as_deref(),
        Some("Авария водопровода")
    );
    let seen = student.api.get_signup(&signup.id).await.unwrap();
    assert_eq!(seen.status, types::SignupViewStatus::Cancelled);
    assert_eq!(seen.event_status, types::SignupViewEventStatus::Cancelled);

    // The parent's inbox shows the cancellation, urgent, about this event.
    let notice = eventually(
        Duration::from_secs(30),
        "the cancellation in the parent's inbox",
        || async {
            let inbox = parent.api.list_notifications(None, None).await.ok()?;
            inbox.into_inner().items.into_iter().find(|n| {
                n.kind == types::NotificationViewKind::EventCancelled
                    && n.data.get("event_id") == Some(&event.id.to_string())
            })
        },
    )
    .await;
    assert!(notice.urgent, "a cancellation within 48 hours is urgent");
    assert!(!notice.read);

    // The organizer's report of the cancellation shows every delivery made: push to each
    // device, SMS and e-mail to both.
    let report = eventually(
        Duration::from_secs(30),
        "the cancellation's deliveries to be made",
        || async {
            let list = organizer
                .api
                .list_event_announcements(&event.id)
                .await
                .ok()?
                .into_inner();
            let report = list
                .items
                .into_iter()
                .find(|a| a.kind == types::AnnouncementReportKind::EventCancelled)?;
            let open = report.channels.iter().any(|c| c.queued + c.sent > 0);
            (report.fanned_out_at.is_some() && !open).then_some(report)
        },
    )
    .await;
    assert_eq!(report.event_id, event.id);
    let mut delivered: Vec<(types::ChannelCountsChannel, i64)> = report
        .channels
        .iter()
        .map(|c| (c.channel, c.delivered))
        .collect();
    delivered.sort_by_key(|(channel, _)| channel.to_string());
    assert_eq!(
        delivered,
        [
            (types::ChannelCountsChannel::Apns, 1),
            (types::ChannelCountsChannel::Email, 2),
            (types::ChannelCountsChannel::Fcm, 1),
            (types::ChannelCountsChannel::Sms, 2),
        ]
    );
    assert!(
        report.channels.iter().all(|c| c.failed == 0 && c.dead == 0),
        "{:?}",
        report.channels
    );
    assert!(report.failed.is_empty(), "{:?}", report.failed);
}

#[test]
fn the_generator_needed_only_the_adaptations_the_readme_names() {
    assert_eq!(
        client::ADAPTATIONS,
        [
            "link_child: success bodies differ (201 FamilyMember, 202 LinkRequestView); \
             all read as LinkChildOutcome, the oneOf of them",
            "accept_invitation: success bodies differ (201 FamilyMember, 202 LinkRequestView); \
             all read as AcceptInvitationOutcome, the oneOf of them",
            "errors: application/problem+json read as application/json of Problem",
        ]
    );
}

/// Registers a student or parent, reads the code the verification e-mail carries, and
/// verifies: signed in on a phone.
async fn register_and_verify(
    app: &TestApp,
    anonymous: &Client,
    role: types::RegisterRole,
) -> Signed {
    let address = email(&format!("typed-{role}"));
    let accepted = anonymous
        .register(&types::RegisterRequest {
            email: address.parse().unwrap(),
            password: PASSWORD.parse().unwrap(),
            role,
            locale: None,
        })
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let code = app.verification_code(&address).await;
    let tokens = anonymous
        .verify_email(&types::VerifyRequest {
            email: address.parse().unwrap(),
            code: code.parse().unwrap(),
            device: types::DeviceInfo {
                name: "Телефон".parse().unwrap(),
                platform: types::Platform::Ios,
            },
        })
        .await
        .unwrap()
        .into_inner();
    let api = client::signed_in(&app.url(""), &tokens.access_token).unwrap();
    Signed { tokens, api }
}

/// An organizer of a new organization, created as `bilet admin create-user` does (the API
/// has no operation for it), signed in through the client.
async fn staff_sign_in(app: &TestApp, anonymous: &Client) -> Signed {
    let address = email("typed-organizer");
    let organization = format!("Площадка {}", &Uuid::new_v4().simple().to_string()[..6]);
    bilet::admin::create_user(
        &app.state,
        bilet::admin::StaffRole::Organizer,
        &address,
        Some(&organization),
        Some(PASSWORD.to_owned()),
    )
    .await
    .unwrap();
    let tokens = anonymous
        .login(&types::LoginRequest {
            email: address.parse().unwrap(),
            password: PASSWORD.into(),
            device: types::DeviceInfo {
                name: "Рабочий ноутбук".parse().unwrap(),
                platform: types::Platform::Web,
            },
            // No second factor on this organizer's account.
            totp_code: None,
        })
        .await
        .unwrap()
        .into_inner();
    let api = client::signed_in(&app.url(""), &tokens.access_token).unwrap();
    Signed { tokens, api }
}
