//! Fixed-window rate limits in Redis, shared by every API process. Keys hold a digest of
//! the subject (an e-mail, an address), never the subject itself.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::queue::Redis;
use crate::settings::RateLimit;

/// Counts one attempt of `subject` in `scope`; `Err(retry_after_secs)` once over the limit.
pub async fn hit(redis: &Redis, scope: &str, subject: &str, limit: RateLimit) -> Result<(), u64> {
    let window = limit.window.as_secs().max(1);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let bucket = now / window;
    let key = redis.keys.key(&format!("rl:{scope}:{subject}:{bucket}"));
    let mut conn = redis.conn.clone();
    let counted: redis::RedisResult<(u64,)> = redis::pipe()
        .atomic()
        .incr(&key, 1)
        .expire(&key, window as i64 + 1)
        .ignore()
        .query_async(&mut conn)
        .await;
    match counted {
        Ok((count,)) if count > u64::from(limit.count) => Err((bucket + 1) * window - now),
        Ok(_) => Ok(()),
        Err(err) => {
            // Failing open keeps people able to log in while Redis is down; the passwords
            // are still argon2-hashed, which bounds guessing on its own.
            tracing::warn!(scope, error = %err, "rate limit unavailable; allowing");
            Ok(())
        }
    }
}
