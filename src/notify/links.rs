//! Signed links for people without the app: a single-use approval link carried by SMS and
//! e-mail (opening it changes nothing; a tap on its page decides), and a one-click
//! unsubscribe link for non-essential mail.

use uuid::Uuid;

use crate::security::blind_index::BlindIndex;

const APPROVAL: &str = "approval-link";
const UNSUBSCRIBE: &str = "unsubscribe-link";

/// Signs a payload for `purpose` (see `BlindIndex::sign_token`).
fn sign(index: &BlindIndex, purpose: &str, payload: &[u8]) -> String {
    index.sign_token(purpose, payload)
}

/// The payload of a token signed for `purpose`, or `None` when forged or mangled.
fn verify(
    index: &BlindIndex,
    purpose: &str,
    token: &str,
    payload_len: Option<usize>,
) -> Option<Vec<u8>> {
    index.verify_token(purpose, token, payload_len)
}

/// The token of an approval link.
pub fn approval_token(index: &BlindIndex, link_id: Uuid) -> String {
    sign(index, APPROVAL, link_id.as_bytes())
}

/// The approval link id a token names, if the token is genuine.
pub fn approval_link_id(index: &BlindIndex, token: &str) -> Option<Uuid> {
    verify(index, APPROVAL, token, Some(16)).and_then(|bytes| Uuid::from_slice(&bytes).ok())
}

/// The token of a one-click unsubscribe link for one account and kind of notice.
pub fn unsubscribe_token(index: &BlindIndex, account: Uuid, kind: &str) -> String {
    let mut payload = account.as_bytes().to_vec();
    payload.extend_from_slice(kind.as_bytes());
    sign(index, UNSUBSCRIBE, &payload)
}

/// The account and kind an unsubscribe token names, if genuine.
pub fn unsubscribe_target(index: &BlindIndex, token: &str) -> Option<(Uuid, String)> {
    let payload = verify(index, UNSUBSCRIBE, token, None)?;
    if payload.len() < 16 {
        return None;
    }
    let (account, kind) = payload.split_at(16);
    Some((
        Uuid::from_slice(account).ok()?,
        String::from_utf8(kind.to_vec()).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::KeyList;

    #[test]
    fn a_genuine_approval_token_names_its_link_and_a_forged_one_nothing() {
        let index = BlindIndex::new(&KeyList::generate("i1"));
        let id = Uuid::now_v7();
        let token = approval_token(&index, id);
        assert_eq!(approval_link_id(&index, &token), Some(id));
        let mut forged = token.clone();
        forged.replace_range(0..2, if token.starts_with("AA") { "BB" } else { "AA" });
        assert_eq!(approval_link_id(&index, &forged), None);
        let other = BlindIndex::new(&KeyList::generate("i1"));
        assert_eq!(approval_link_id(&other, &token), None);
        assert_eq!(approval_link_id(&index, "garbage"), None);
    }

    #[test]
    fn an_unsubscribe_token_round_trips() {
        let index = BlindIndex::new(&KeyList::generate("i1"));
        let account = Uuid::now_v7();
        let token = unsubscribe_token(&index, account, "results_ready");
        assert_eq!(
            unsubscribe_target(&index, &token),
            Some((account, "results_ready".to_owned()))
        );
        assert_eq!(
            approval_link_id(&index, &token),
            None,
            "purposes do not mix"
        );
    }
}
