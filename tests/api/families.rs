//! Family links: one-time codes, invitations, and at most two parents per child.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, email, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_parent_links_a_child_with_the_code_the_childs_app_shows() {
    let app = spawn_app().await;
    let child = app.signup("student").await;
    let parent = app.signup("parent").await;
    let code: Value = app
        .post_as("/v1/me/link-codes", &child.access, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let text = code["code"].as_str().unwrap();
    assert_eq!(text.len(), 8);
    let linked = app
        .post_as(
            "/v1/me/children",
            &parent.access,
            &json!({ "code": text.to_lowercase() }),
        )
        .await;
    assert_eq!(linked.status(), 201);

    let children: Value = app
        .get_as("/v1/me/children", &parent.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(children[0]["account_id"], child.account_id.to_string());
    let parents: Value = app
        .get_as("/v1/me/parents", &child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(parents[0]["account_id"], parent.account_id.to_string());

    // Single use.
    let other = app.signup("parent").await;
    let reused = app
        .post_as("/v1/me/children", &other.access, &json!({ "code": text }))
        .await;
    assert_problem(reused, 422, "validation").await;
}

#[tokio::test]
async fn an_expired_code_does_not_link_and_a_new_code_replaces_the_old() {
    let app = spawn_app().await;
    let child = app.signup("student").await;
    let parent = app.signup("parent").await;
    let first: Value = app
        .post_as("/v1/me/link-codes", &child.access, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let second: Value = app
        .post_as("/v1/me/link-codes", &child.access, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let replaced = app
        .post_as(
            "/v1/me/children",
            &parent.access,
            &json!({ "code": first["code"] }),
        )
        .await;
    assert_problem(replaced, 422, "validation").await;

    sqlx::query("UPDATE link_codes SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    let expired = app
        .post_as(
            "/v1/me/children",
            &parent.access,
            &json!({ "code": second["code"] }),
        )
        .await;
    assert_problem(expired, 422, "validation").await;
}

#[tokio::test]
async fn code_guesses_are_rate_limited() {
    let app = spawn_app_with(|s| {
        s.auth.link_code_guesses = bilet::settings::RateLimit {
            count: 3,
            window: std::time::Duration::from_secs(60),
        };
    })
    .await;
    let parent = app.signup("parent").await;
    for guess in ["AAAAAAAA", "BBBBBBBB", "CCCCCCCC"] {
        assert_eq!(
            app.post_as("/v1/me/children", &parent.access, &json!({ "code": guess }))
                .await
                .status(),
            422
        );
    }
    let limited = app
        .post_as(
            "/v1/me/children",
            &parent.access,
            &json!({ "code": "DDDDDDDD" }),
        )
        .await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, 429, "rate-limited").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_has_at_most_two_parents_even_when_they_are_confirmed_at_once() {
    let app = spawn_app().await;
    let child = app.signup("student").await;
    let first = app.signup("parent").await;
    app.link(&first, &child).await;

    // Two more adults invite the child, who accepts both: each becomes a request.
    let (second, third) = tokio::join!(app.signup("parent"), app.signup("parent"));
    for parent in [&second, &third] {
        let sent = app
            .post_as(
                "/v1/me/invitations",
                &parent.access,
                &json!({ "child_email": child.email }),
            )
            .await;
        assert_eq!(sent.status(), 202);
    }
    let open: Value = app
        .get_as("/v1/me/invitations", &child.access)
        .await
        .json()
        .await
        .unwrap();
    let mut requests = Vec::new();
    for invitation in open.as_array().unwrap() {
        let accepted = app
            .post_as(
                &format!(
                    "/v1/invitations/{}/accept",
                    invitation["id"].as_str().unwrap()
                ),
                &child.access,
                &json!({}),
            )
            .await;
        assert_eq!(accepted.status(), 202);
        let request: Value = accepted.json().await.unwrap();
        assert_eq!(request["status"], "pending");
        requests.push(request["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(requests.len(), 2);

    // The first parent confirms both at the same moment: one joins, one is refused.
    let empty = json!({});
    let (path_a, path_b) = (
        format!("/v1/link-requests/{}/confirm", requests[0]),
        format!("/v1/link-requests/{}/confirm", requests[1]),
    );
    let (a, b) = tokio::join!(
        app.post_as(&path_a, &first.access, &empty),
        app.post_as(&path_b, &first.access, &empty),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM family_links WHERE student_id = $1")
        .bind(child.account_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 2);

    // A third by code is refused with its own type.
    let fourth = app.signup("parent").await;
    let code: Value = app
        .post_as("/v1/me/link-codes", &child.access, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let refused = app
        .post_as(
            "/v1/me/children",
            &fourth.access,
            &json!({ "code": code["code"] }),
        )
        .await;
    assert_problem(refused, 409, "too-many-parents").await;
}

#[tokio::test]
async fn a_child_accepts_a_parents_invitation() {
    let app = spawn_app().await;
    let child = app.signup("student").await;
    let parent = app.signup("parent").await;
    let sent = app
        .post_as(
            "/v1/me/invitations",
            &parent.access,
            &json!({ "child_email": child.email.to_uppercase() }),
        )
        .await;
    assert_eq!(sent.status(), 202);
    // An address with no account gets the same answer.
    let unknown = app
        .post_as(
            "/v1/me/invitations",
            &parent.access,
            &json!({ "child_email": email("nobody") }),
        )
        .await;
    assert_eq!(unknown.status(), 202);
    let (a, b): (Value, Value) = (sent.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(a, b);

    let open: Value = app
        .get_as("/v1/me/invitations", &child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(open.as_array().unwrap().len(), 1);
    let id = open[0]["id"].as_str().unwrap();
    let accepted = app
        .post_as(
            &format!("/v1/invitations/{id}/accept"),
            &child.access,
            &json!({}),
        )
        .await;
    assert_eq!(accepted.status(), 201);
    let parents: Value = app
        .get_as("/v1/me/parents", &child.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(parents[0]["account_id"], parent.account_id.to_string());
    // Accepting twice finds nothing open.
    let again = app
        .post_as(
            &format!("/v1/invitations/{id}/accept"),
            &child.access,
            &json!({}),
        )
        .await;
    assert_problem(again, 404, "not-found").await;
}

#[tokio::test]
async fn a_parent_can_unlink_a_child() {
    let app = spawn_app().await;
    let family = app.family().await;
    let path = format!("/v1/me/children/{}", family.child.account_id);
    assert_eq!(
        app.delete_as(&path, &family.parent.access).await.status(),
        204
    );
    let children: Value = app
        .get_as("/v1/me/children", &family.parent.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(children, json!([]));
    assert_problem(
        app.delete_as(&path, &family.parent.access).await,
        404,
        "not-found",
    )
    .await;
    let profile = app
        .get_as(
            &format!("/v1/children/{}/profile", family.child.account_id),
            &family.parent.access,
        )
        .await;
    assert_problem(profile, 404, "not-found").await;
}
