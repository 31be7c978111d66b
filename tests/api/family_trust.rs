//! Who may join a child's family, and who hears of it: once a child has a parent, no
//! other adult reaches the child without that parent's confirmation, and every change to
//! the family's links or consents reaches the other linked parents by push and e-mail.

use std::time::Duration;

use bilet::notify::providers::ChannelKind;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Person, TestApp, assert_matches_contract, assert_problem, eventually, parent_profile,
    push_data, spawn_app, valid_snils,
};

/// An APNs-shaped device token (64 hex digits).
fn apns_token() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// A verified parent account with a profile, unrelated to anyone.
async fn adult(app: &TestApp) -> Person {
    let person = app.signup("parent").await;
    let saved = app
        .put_as(
            "/v1/me/parent-profile",
            &person.access,
            &parent_profile(&valid_snils()),
        )
        .await;
    assert_eq!(saved.status(), 200);
    person
}

/// A parent's iPhone, registered.
async fn iphone(app: &TestApp, person: &Person) -> String {
    let token = apns_token();
    app.register_device(person, &token, "ios").await;
    token
}

/// The pushes a device received, once it has `count`, each checked against the contract.
async fn pushed_kinds(app: &TestApp, token: &str, count: usize) -> Vec<Value> {
    let pushes = app.received(ChannelKind::Apns, token, count).await;
    for push in &pushes {
        assert_matches_contract(push, "apns");
    }
    pushes.iter().map(push_data).collect()
}

/// Whether an e-mail with this subject reached the address.
async fn mailed(app: &TestApp, address: &str, subject: &str) -> bool {
    let inbox = app.simulator(ChannelKind::Email);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if inbox
            .messages(Some(address))
            .iter()
            .any(|m| m.headers.get("subject").map(String::as_str) == Some(subject))
        {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The kinds in a person's inbox, once it holds `kind`.
async fn inbox_has(app: &TestApp, person: &Person, kind: &str) {
    eventually(Duration::from_secs(20), kind, || async {
        let inbox: Value = app
            .get_as("/v1/notifications", &person.access)
            .await
            .json()
            .await
            .ok()?;
        inbox["items"]
            .as_array()?
            .iter()
            .any(|n| n["kind"] == kind)
            .then_some(())
    })
    .await;
}

async fn accept_invitation_from(
    app: &TestApp,
    adult: &Person,
    child: &Person,
) -> reqwest::Response {
    let sent = app
        .post_as(
            "/v1/me/invitations",
            &adult.access,
            &json!({ "child_email": child.email }),
        )
        .await;
    assert_eq!(sent.status(), 202);
    let open: Value = app
        .get_as("/v1/me/invitations", &child.access)
        .await
        .json()
        .await
        .unwrap();
    let id = open[0]["id"].as_str().unwrap();
    app.post_as(
        &format!("/v1/invitations/{id}/accept"),
        &child.access,
        &json!({}),
    )
    .await
}

#[tokio::test]
async fn a_stranger_whose_invitation_the_child_accepts_reaches_nothing_until_the_parent_confirms() {
    let app = spawn_app().await;
    let family = app.family().await;
    let token = iphone(&app, &family.parent).await;
    let stranger = adult(&app).await;

    let accepted = accept_invitation_from(&app, &stranger, &family.child).await;
    assert_eq!(accepted.status(), 202, "a request, not a link");
    let request: Value = accepted.json().await.unwrap();
    assert_eq!(request["status"], "pending");
    assert_eq!(
        request["requester_account_id"],
        stranger.account_id.to_string()
    );
    let request_id = request["id"].as_str().unwrap().to_owned();

    // The stranger sees nothing of the child and can change nothing.
    let child = family.child.account_id;
    assert_problem(
        app.get_as(&format!("/v1/children/{child}/profile"), &stranger.access)
            .await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.delete_as(
            &format!("/v1/children/{child}/consents/personal_data"),
            &stranger.access,
        )
        .await,
        404,
        "not-found",
    )
    .await;
    let children: Value = app
        .get_as("/v1/me/children", &stranger.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(children, json!([]));

    // The linked parent is told at once, by push and by e-mail, and sees what waits.
    let pushes = pushed_kinds(&app, &token, 1).await;
    assert_eq!(pushes[0]["kind"], "family_link_requested");
    assert_eq!(pushes[0]["request_id"], request_id.as_str());
    assert_eq!(pushes[0]["student_id"], child.to_string());
    assert!(
        mailed(
            &app,
            &family.parent.email,
            "Запрос на доступ к аккаунту ребёнка"
        )
        .await
    );
    let waiting: Value = app
        .get_as("/v1/me/link-requests", &family.parent.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(waiting.as_array().unwrap().len(), 1);
    assert_eq!(waiting[0]["awaiting_me"], true);
    let mine: Value = app
        .get_as("/v1/me/link-requests", &stranger.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine[0]["awaiting_me"], false);

    // The parent declines: still nothing, a change of mind is refused, the stranger is told.
    let declined = app
        .post_as(
            &format!("/v1/link-requests/{request_id}/decline"),
            &family.parent.access,
            &json!({}),
        )
        .await;
    assert_eq!(declined.status(), 200);
    let declined: Value = declined.json().await.unwrap();
    assert_eq!(declined["status"], "declined");
    assert_problem(
        app.post_as(
            &format!("/v1/link-requests/{request_id}/confirm"),
            &family.parent.access,
            &json!({}),
        )
        .await,
        409,
        "link-request-decided",
    )
    .await;
    assert_problem(
        app.get_as(&format!("/v1/children/{child}/profile"), &stranger.access)
            .await,
        404,
        "not-found",
    )
    .await;
    inbox_has(&app, &stranger, "family_link_declined").await;
}

#[tokio::test]
async fn an_adult_with_the_childs_code_joins_only_when_a_linked_parent_confirms() {
    let app = spawn_app().await;
    let family = app.family().await;
    let newcomer = adult(&app).await;
    let code: Value = app
        .post_as("/v1/me/link-codes", &family.child.access, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let pending = app
        .post_as(
            "/v1/me/children",
            &newcomer.access,
            &json!({ "code": code["code"] }),
        )
        .await;
    assert_eq!(pending.status(), 202);
    let request: Value = pending.json().await.unwrap();
    let confirm = format!(
        "/v1/link-requests/{}/confirm",
        request["id"].as_str().unwrap()
    );

    // Only a parent linked to the child decides: not the requester, not another parent,
    // not the child.
    let outsider = adult(&app).await;
    for person in [&newcomer, &outsider] {
        assert_problem(
            app.post_as(&confirm, &person.access, &json!({})).await,
            404,
            "not-found",
        )
        .await;
    }
    assert_problem(
        app.post_as(&confirm, &family.child.access, &json!({}))
            .await,
        403,
        "forbidden",
    )
    .await;
    let outsider_view: Value = app
        .get_as("/v1/me/link-requests", &outsider.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(outsider_view, json!([]));

    let confirmed = app
        .post_as(&confirm, &family.parent.access, &json!({}))
        .await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(
        confirmed.json::<Value>().await.unwrap()["status"],
        "confirmed"
    );
    // Confirming again answers the same.
    let again = app
        .post_as(&confirm, &family.parent.access, &json!({}))
        .await;
    assert_eq!(again.status(), 200);
    let profile = app
        .get_as(
            &format!("/v1/children/{}/profile", family.child.account_id),
            &newcomer.access,
        )
        .await;
    assert_eq!(profile.status(), 200);
    inbox_has(&app, &newcomer, "family_link_added").await;
}

#[tokio::test]
async fn a_code_the_linked_parent_made_links_the_other_parent_at_once_and_the_first_is_told() {
    let app = spawn_app().await;
    let family = app.family().await;
    let token = iphone(&app, &family.parent).await;
    let other = adult(&app).await;

    // Only the linked parent can make such a code.
    let path = format!("/v1/children/{}/link-codes", family.child.account_id);
    assert_problem(
        app.post_as(&path, &other.access, &json!({})).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.post_as(&path, &family.child.access, &json!({})).await,
        403,
        "forbidden",
    )
    .await;

    app.link_second_parent(&family.parent, &other, &family.child)
        .await;
    let pushes = pushed_kinds(&app, &token, 1).await;
    assert_eq!(pushes[0]["kind"], "family_link_added");
    assert!(
        mailed(
            &app,
            &family.parent.email,
            "К аккаунту ребёнка привязан ещё один взрослый"
        )
        .await
    );
    let confirmed_by: Option<Uuid> = sqlx::query_scalar(
        "SELECT confirmed_by FROM family_links WHERE parent_id = $1 AND student_id = $2",
    )
    .bind(other.account_id)
    .bind(family.child.account_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(confirmed_by, Some(family.parent.account_id));

    // Leaving the family is announced too.
    let left = app
        .delete_as(
            &format!("/v1/me/children/{}", family.child.account_id),
            &other.access,
        )
        .await;
    assert_eq!(left.status(), 204);
    let pushes = pushed_kinds(&app, &token, 2).await;
    assert_eq!(pushes[1]["kind"], "family_link_removed");
}

#[tokio::test]
async fn consent_withdrawn_by_the_other_parent_reaches_the_first_who_can_object_before_erasure() {
    let app = spawn_app().await;
    let family = app.family().await;
    // The consent the family was made with has been announced (to nobody) before a
    // second parent joins.
    app.settled("consent_given").await;
    let first_phone = iphone(&app, &family.parent).await;
    let second = adult(&app).await;
    app.link_second_parent(&family.parent, &second, &family.child)
        .await;
    let second_phone = iphone(&app, &second).await;
    let child = family.child.account_id;

    // The second parent, who did not give it, withdraws the personal-data consent.
    let withdrawn = app
        .delete_as(
            &format!("/v1/children/{child}/consents/personal_data"),
            &second.access,
        )
        .await;
    assert_eq!(withdrawn.status(), 200);

    // The first parent hears of it by push and e-mail; the one who acted does not.
    let pushes = pushed_kinds(&app, &first_phone, 2).await;
    let kinds: Vec<&Value> = pushes.iter().map(|p| &p["kind"]).collect();
    assert_eq!(
        kinds,
        [
            &json!("family_link_added"),
            &json!("personal_data_consent_withdrawn")
        ]
    );
    assert!(mailed(&app, &family.parent.email, "Данные ребёнка будут удалены").await);
    app.settled("personal_data_consent_withdrawn").await;
    assert_eq!(
        app.ledger_of(second.account_id, "personal_data_consent_withdrawn")
            .await,
        []
    );

    // The first parent objects within the erasure delay by giving consent again: the
    // erasure is called off, and the second parent is told.
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM erasures WHERE student_id = $1")
        .bind(child)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(pending, 1);
    let given = app
        .give_consent(&family.parent, &family.child, "personal_data")
        .await;
    assert_eq!(given.status(), 201);
    let pushes = pushed_kinds(&app, &second_phone, 1).await;
    assert_eq!(pushes[0]["kind"], "consent_given");
    sqlx::query("UPDATE erasures SET due_at = now() - interval '1 hour' WHERE student_id = $1")
        .bind(child)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        bilet::privacy::erasure::erase_due(&app.db, &app.state.index)
            .await
            .unwrap(),
        0
    );
    let kept: bool = sqlx::query_scalar(
        "SELECT snils_enc IS NOT NULL AND erased_at IS NULL FROM student_profiles WHERE account_id = $1",
    )
    .bind(child)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(kept, "the child's data was not erased");
}
