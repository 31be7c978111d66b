//! Check-in codes: what the student's app shows as a QR at the door. A code is signed with
//! the index key (`BlindIndex::sign_token`, HMAC-SHA256), names the student, and is valid
//! for 60 seconds from its issue, so a screenshot sent to a friend soon stops working. The
//! app asks for a new one before it lapses; each carries a random nonce, so no two are alike.

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use rand::RngCore as _;

use super::blind_index::BlindIndex;
use crate::domain::ids::AccountId;

/// How long a code is valid.
pub const VALID_FOR: Duration = Duration::seconds(60);
/// Clock difference tolerated between the processes that issue and read a code.
const LEEWAY: Duration = Duration::seconds(5);
const PURPOSE: &str = "check-in-code";
const USED: &str = "check-in-code-used";
const VERSION: u8 = 1;
/// version ‖ student id ‖ issued at (Unix seconds, big-endian) ‖ nonce.
const PAYLOAD_LEN: usize = 1 + 16 + 8 + 4;

/// A freshly issued code.
#[derive(Debug, Clone)]
pub struct IssuedCode {
    /// base64url, 60 characters.
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

/// A genuine, unexpired code as read at the door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedCode {
    pub student: AccountId,
    pub issued_at: DateTime<Utc>,
    /// The keyed digest of the code: what is kept to recognise a replay.
    pub digest: Vec<u8>,
}

/// Why a scanned code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("the code was not issued by this service")]
    Forged,
    #[error("the code has expired; ask the student to show a fresh one")]
    Expired,
}

/// Issues a code for `student` at `now`.
pub fn issue(index: &BlindIndex, student: AccountId, now: DateTime<Utc>) -> IssuedCode {
    let issued_at = now.timestamp();
    let mut payload = Vec::with_capacity(PAYLOAD_LEN);
    payload.push(VERSION);
    payload.extend_from_slice(student.0.as_bytes());
    payload.extend_from_slice(&issued_at.to_be_bytes());
    let mut nonce = [0u8; 4];
    rand::thread_rng().fill_bytes(&mut nonce);
    payload.extend_from_slice(&nonce);
    IssuedCode {
        code: index.sign_token(PURPOSE, &payload),
        expires_at: Utc.timestamp_opt(issued_at, 0).single().unwrap_or(now) + VALID_FOR,
    }
}

/// Reads a scanned code at `now`: the student it names, or why it is refused.
pub fn read(index: &BlindIndex, code: &str, now: DateTime<Utc>) -> Result<ScannedCode, CodeError> {
    let payload = index
        .verify_token(PURPOSE, code.trim(), Some(PAYLOAD_LEN))
        .filter(|p| p[0] == VERSION)
        .ok_or(CodeError::Forged)?;
    let student = uuid::Uuid::from_slice(&payload[1..17]).map_err(|_| CodeError::Forged)?;
    let seconds = i64::from_be_bytes(payload[17..25].try_into().map_err(|_| CodeError::Forged)?);
    let issued_at = Utc
        .timestamp_opt(seconds, 0)
        .single()
        .ok_or(CodeError::Forged)?;
    if issued_at > now + LEEWAY || now > issued_at + VALID_FOR {
        return Err(CodeError::Expired);
    }
    Ok(ScannedCode {
        student: AccountId(student),
        issued_at,
        digest: index.digest(USED, code.trim()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::KeyList;

    #[test]
    fn a_code_names_its_student_for_sixty_seconds_and_fits_a_small_qr() {
        let index = BlindIndex::new(&KeyList::generate("i1"));
        let student = AccountId::new();
        let now = Utc::now();
        let issued = issue(&index, student, now);
        assert!(issued.code.len() < 80, "{}", issued.code.len());
        let read_back = read(&index, &issued.code, now + Duration::seconds(59)).unwrap();
        assert_eq!(read_back.student, student);
        assert_eq!(
            read(&index, &issued.code, now + Duration::seconds(62)),
            Err(CodeError::Expired)
        );
        assert_ne!(
            issue(&index, student, now).code,
            issued.code,
            "a nonce each time"
        );
    }

    #[test]
    fn a_forged_or_foreign_code_is_refused() {
        let index = BlindIndex::new(&KeyList::generate("i1"));
        let issued = issue(&index, AccountId::new(), Utc::now());
        let mut forged = issued.code.clone();
        let flipped = if forged.ends_with('A') { "B" } else { "A" };
        forged.replace_range(forged.len() - 1.., flipped);
        assert_eq!(read(&index, &forged, Utc::now()), Err(CodeError::Forged));
        let other = BlindIndex::new(&KeyList::generate("i1"));
        assert_eq!(
            read(&other, &issued.code, Utc::now()),
            Err(CodeError::Forged)
        );
        assert_eq!(read(&index, "garbage", Utc::now()), Err(CodeError::Forged));
        let approval = crate::notify::links::approval_token(&index, uuid::Uuid::now_v7());
        assert_eq!(read(&index, &approval, Utc::now()), Err(CodeError::Forged));
    }
}
