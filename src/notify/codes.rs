//! Codes mailed to people (e-mail verification, password reset) travel sealed from end to
//! end: the outbox payload holds the code encrypted (`code_enc`), fan-out writes the
//! notification with the template's `{code}` placeholder left unfilled, and only the
//! e-mail sender opens the code, to fill in the message it is about to send. No table
//! ever holds a code in clear, and the inbox never lists these notices.

use uuid::Uuid;

use super::hub::Hub;
use super::providers::SendError;
use crate::domain::domain_events::Kind;
use crate::privacy::vault::Vault;
use crate::store;

/// The placeholder the code replaces when the message is sent.
const PLACEHOLDER: &str = "{code}";

/// The vault field a kind's code is sealed under, for the kinds whose messages carry one.
pub fn sealed_field(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::EmailVerificationRequested => Some("outbox.verification_code"),
        Kind::PasswordResetRequested => Some("outbox.password_reset_code"),
        _ => None,
    }
}

/// Seals `code` for the outbox payload of `kind` (its `code_enc`), bound to `account`.
///
/// # Panics
/// When `kind` carries no code: a programming error, caught by the tests.
pub fn seal(vault: &Vault, kind: Kind, account: Uuid, code: &str) -> String {
    let field = sealed_field(kind).expect("only kinds with a sealed field carry a code");
    vault.seal(field, account, code)
}

/// Fills the code into a message of a kind that carries one: looks up the sealed code of
/// the notification's domain event, opens it and replaces the placeholder. Such messages
/// go by e-mail only; any other channel is refused.
pub async fn fill(
    hub: &Hub,
    kind: Kind,
    notification: Uuid,
    account: Uuid,
    is_email: bool,
    title: &mut String,
    body: &mut String,
) -> Result<(), SendError> {
    let Some(field) = sealed_field(kind) else {
        return Ok(());
    };
    if !is_email {
        return Err(SendError::permanent("a code is sent by e-mail only"));
    }
    let sealed = store::outbox::sealed_code_of_notification(&hub.db, notification)
        .await
        .map_err(|_| {
            SendError::retry(
                std::time::Duration::from_secs(5),
                "the code could not be read",
            )
        })?
        .ok_or_else(|| SendError::permanent("the notice has no code"))?;
    let code = hub
        .vault
        .open(field, account, &sealed)
        .map_err(|_| SendError::permanent("the code could not be decrypted"))?;
    *title = title.replace(PLACEHOLDER, &code);
    *body = body.replace(PLACEHOLDER, &code);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::policy::policy;

    #[test]
    fn every_kind_with_a_code_is_mailed_only_and_kept_out_of_the_inbox() {
        let sealed: Vec<Kind> = Kind::ALL
            .iter()
            .copied()
            .filter(|k| sealed_field(*k).is_some())
            .collect();
        assert_eq!(sealed.len(), 2);
        for kind in sealed {
            let policy = policy(kind);
            assert_eq!(policy.subject, Some(crate::notify::policy::Plan::EmailOnly));
            assert_eq!(policy.parent, None);
            assert!(!policy.inbox, "{kind}");
            assert!(policy.placeholders.contains(&"code"), "{kind}");
        }
    }
}
