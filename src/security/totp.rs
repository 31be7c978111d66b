//! Time-based one-time passwords (RFC 6238) for the staff's optional second factor: an
//! HMAC-SHA1 (RFC 4226) of the 30-second step since the epoch, six digits, a code of the
//! step before or after accepted for clock drift. The HMAC is `ring`'s, the project's one
//! HMAC implementation; secrets are shown base32-encoded (RFC 4648) as authenticator apps
//! expect.

use rand::RngCore as _;
use ring::hmac;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Steps before and after the current one whose codes are accepted.
pub const SKEW: i64 = 1;
/// Bytes of a new secret: 160 bits, the size of an SHA-1 output (RFC 4226 recommends it).
const SECRET_LEN: usize = 20;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new random secret, base32-encoded.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base32_encode(&bytes)
}

/// RFC 4648 base32 without padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes base32 (case, spaces and padding ignored); `None` for any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let value = BASE32
            .iter()
            .position(|&b| char::from(b) == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The step a moment (seconds since the epoch) falls in.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The code of one step (HOTP with the step as counter), zero-padded.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(DIGITS as u32),
        width = DIGITS
    )
}

/// A code as typed: exactly six digits (`totp_code` of a login).
pub fn parse_code(code: &str) -> Result<&str, String> {
    if code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(format!("a code is {DIGITS} digits"))
    }
}

/// The step within [`SKEW`] of `unix_secs` whose code is `code`, if any. Compared in
/// constant time per candidate.
pub fn matching_step(secret: &[u8], code: &str, unix_secs: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_secs);
    (now - SKEW..=now + SKEW).find(|&step| {
        let expected = code_at(secret, step);
        expected
            .bytes()
            .zip(code.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    })
}

/// The `otpauth://` URI an authenticator app reads (usually from a QR code).
pub fn otpauth_uri(issuer: &str, account_label: &str, secret_base32: &str) -> String {
    let label: String =
        form_urlencoded::byte_serialize(format!("{issuer}:{account_label}").as_bytes())
            .collect::<String>()
            .replace('+', "%20");
    let issuer: String = form_urlencoded::byte_serialize(issuer.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!(
        "otpauth://totp/{label}?secret={secret_base32}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_the_rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B gives eight digits; six are their last six.
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(RFC_SECRET, step_at(time)), eight[2..], "T = {time}");
        }
        // RFC 4226 appendix D.
        assert_eq!(code_at(RFC_SECRET, 0), "755224");
        assert_eq!(code_at(RFC_SECRET, 9), "520489");
    }

    #[test]
    fn a_code_of_the_step_before_or_after_is_accepted_and_no_other() {
        let now = 1_111_111_111;
        let step = step_at(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_at(RFC_SECRET, step + offset);
            assert_eq!(
                matching_step(RFC_SECRET, &code, now),
                accepted.then_some(step + offset),
                "offset {offset}"
            );
        }
        assert_eq!(matching_step(RFC_SECRET, "12345", now), None);
        assert_eq!(matching_step(RFC_SECRET, "abcdef", now), None);
    }

    #[test]
    fn secrets_round_trip_through_base32() {
        assert_eq!(
            base32_encode(RFC_SECRET),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(
            base32_decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap(),
            RFC_SECRET
        );
        assert_eq!(base32_encode(b"f"), "MY");
        assert_eq!(base32_decode("MY======").unwrap(), b"f");
        assert_eq!(base32_decode("not base32!"), None);
        let secret = new_secret();
        assert_eq!(secret.len(), 32);
        assert_eq!(base32_decode(&secret).unwrap().len(), SECRET_LEN);
    }

    #[test]
    fn the_uri_names_the_algorithm_digits_and_period() {
        assert_eq!(
            otpauth_uri("bilet", "console", "GEZDGNBV"),
            "otpauth://totp/bilet%3Aconsole?secret=GEZDGNBV&issuer=bilet&algorithm=SHA1&digits=6&period=30"
        );
    }
}
