//! Progressive slowing of password guesses against one account, instead of a lockout:
//! the first few failures are answered at once; after them each attempt must wait a delay
//! that doubles from one second up to a bound. Guessing slows to a crawl, while the owner,
//! who waits the few seconds they are told, still gets in with the right password.
//!
//! The state lives in Redis under a digest of the e-mail (never the e-mail itself), shared
//! by every API process, and is changed by one script so that guesses sent at the same
//! moment cannot skip the delay: every admitted attempt counts as a failure until the
//! caller reports it succeeded.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::queue::Redis;

/// Failures are forgotten after this long without an attempt.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

/// The first delay once the free failures are used up; it doubles with each failure.
const FIRST_DELAY_MS: u64 = 1000;

/// Admits the attempt or says when the next one is allowed; the delay after this attempt
/// is set before it is checked, so concurrent attempts queue up behind it.
const ADMIT: &str = r"
local now = tonumber(ARGV[1])
local free = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local first = tonumber(ARGV[4])
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
local next_at = tonumber(redis.call('HGET', KEYS[1], 'next_at') or '0')
if now < next_at then
  return next_at - now
end
failures = failures + 1
local delay = 0
if failures >= free then
  local doublings = math.min(failures - free, 30)
  delay = math.min(first * 2 ^ doublings, max)
end
redis.call('HSET', KEYS[1], 'failures', string.format('%.0f', failures),
  'next_at', string.format('%.0f', now + delay))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 0
";

/// How attempts against one account are slowed.
#[derive(Debug, Clone, Copy)]
pub struct Slowdown {
    /// Failures answered without delay.
    pub free_failures: u32,
    /// The longest delay between attempts.
    pub max_delay: Duration,
}

fn key(redis: &Redis, subject: &str) -> String {
    redis.keys.key(&format!("login-slowdown:{subject}"))
}

/// Admits one attempt against `subject` (a digest of the e-mail), counting it as a failure
/// until [`succeeded`] is called; `Err(retry_after_secs)` while the delay runs.
pub async fn admit(redis: &Redis, subject: &str, slowdown: Slowdown) -> Result<(), u64> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let mut conn = redis.conn.clone();
    let waited: redis::RedisResult<u64> = redis::cmd("EVAL")
        .arg(ADMIT)
        .arg(1)
        .arg(key(redis, subject))
        .arg(now)
        .arg(slowdown.free_failures.max(1))
        .arg(slowdown.max_delay.as_millis() as u64)
        .arg(FIRST_DELAY_MS)
        .arg(FORGET_AFTER.as_millis() as u64)
        .query_async(&mut conn)
        .await;
    match waited {
        Ok(0) => Ok(()),
        Ok(wait_ms) => Err(wait_ms.div_ceil(1000).max(1)),
        Err(err) => {
            // As with the rate limits: failing open keeps the owner able to log in while
            // Redis is down; argon2 still bounds guessing.
            tracing::warn!(error = %err, "login slowdown unavailable; allowing");
            Ok(())
        }
    }
}

/// Forgets the failures of `subject` after a successful login (or a password reset).
pub async fn succeeded(redis: &Redis, subject: &str) {
    let mut conn = redis.conn.clone();
    let deleted: redis::RedisResult<()> = redis::cmd("DEL")
        .arg(key(redis, subject))
        .query_async(&mut conn)
        .await;
    if let Err(err) = deleted {
        tracing::warn!(error = %err, "could not clear the login slowdown");
    }
}
