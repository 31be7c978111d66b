//! How many messages a channel's sender keeps in flight: as many as its provider can take
//! without answering more slowly, up to `BILET_HUB_CONCURRENCY`.
//!
//! A provider 40 ms away needs hundreds of sends in flight for thousands a second (Little's
//! law); a simulator on the same machine answers in a fraction of a millisecond and needs a
//! handful, and more only queue up in front of it. What is in flight is also what a
//! `kill -9` can send twice (its answers never reach the dead process), so the window is
//! kept as small as the provider's speed allows.
//!
//! Once per window's worth of answers the limit moves by the ratio of the usual answer
//! time to the window's mean, allowing answers three times as slow before it shrinks:
//! `limit × min(1, max(½, 3 × usual / mean)) + √limit`. Answers as fast as usual grow it by
//! √limit per window; answers slowed by queueing shrink it towards the point where they
//! stop slowing. A throttling answer (429, 5xx, timeout: anything to retry) halves it.
//!
//! The usual answer time is the fastest of the last two spans of [`SPAN`]. At the start of
//! each span the window narrows to [`PROBE`] until the sends in flight before have answered
//! and [`PROBE`] more have, then goes back to where it was: a provider is only seen
//! answering as fast as it can when little waits in front of it (the same reason TCP BBR
//! drains its queue now and then to measure the round trip), and without that the usual
//! time would creep up with the queue it is meant to detect. A provider that became slower
//! for good is relearned within two spans.

use std::time::{Duration, Instant};

/// How long the usual answer time is remembered, and how often it is measured afresh.
const SPAN: Duration = Duration::from_secs(5);
/// The window while the usual answer time is measured.
const PROBE: f64 = 4.0;
/// How much slower than usual the window's answers may be before the limit shrinks.
const TOLERANCE: f64 = 3.0;
/// Where a new limit starts.
const START: f64 = 8.0;
/// The limit never falls below this (nor above the ceiling).
const FLOOR: f64 = 2.0;

/// One channel's in-flight limit; owned by its sender task.
#[derive(Debug, Clone)]
pub struct InFlightLimit {
    limit: f64,
    ceiling: f64,
    /// The fastest answer in the current span and in the one before it (seconds).
    fastest: [f64; 2],
    span_started: Option<Instant>,
    /// While measuring: the limit to go back to, and the answers still to wait for.
    probing: Option<(f64, u32)>,
    window_answers: u32,
    window_total: f64,
}

impl InFlightLimit {
    /// Starts narrow ([`START`], or the ceiling if lower), so the first answers show how fast
    /// the provider is when nothing waits in front of it; a provider far away is at full
    /// width within a few dozen round trips.
    pub fn new(ceiling: usize) -> Self {
        let ceiling = (ceiling.max(1)) as f64;
        Self {
            limit: START.min(ceiling),
            ceiling,
            fastest: [f64::INFINITY; 2],
            span_started: None,
            probing: None,
            window_answers: 0,
            window_total: 0.0,
        }
    }

    /// How many sends may be in flight now.
    pub fn current(&self) -> usize {
        self.limit.round().max(1.0) as usize
    }

    /// An answer that took `took` from sending to its arrival.
    pub fn answered(&mut self, took: Duration) {
        self.answered_at(took, Instant::now());
    }

    fn answered_at(&mut self, took: Duration, now: Instant) {
        let span_started = *self.span_started.get_or_insert(now);
        if now.duration_since(span_started) >= SPAN {
            self.span_started = Some(now);
            self.fastest = [f64::INFINITY, self.fastest[0]];
            if self.probing.is_none() && self.limit > PROBE {
                // Those in flight now, then PROBE sent at the narrow width.
                let wait = self.limit.ceil() as u32 + PROBE as u32;
                self.probing = Some((self.limit, wait));
                self.limit = PROBE;
            }
        }
        let took = took.as_secs_f64();
        self.fastest[0] = self.fastest[0].min(took);
        if let Some((restore, wait)) = &mut self.probing {
            *wait = wait.saturating_sub(1);
            if *wait == 0 {
                let restore = *restore;
                self.probing = None;
                self.set(restore);
            }
            return;
        }
        self.window_answers += 1;
        self.window_total += took;
        if self.window_answers as f64 >= self.limit.floor().max(1.0) {
            let mean = self.window_total / f64::from(self.window_answers);
            let usual = self.fastest[0].min(self.fastest[1]);
            let gradient = if mean > 0.0 {
                (TOLERANCE * usual / mean).clamp(0.5, 1.0)
            } else {
                1.0
            };
            self.set(self.limit * gradient + self.limit.sqrt());
        }
    }

    /// The provider asked to slow down, or failed in a way worth retrying.
    pub fn throttled(&mut self) {
        if let Some((restore, _)) = self.probing.take() {
            self.limit = restore;
        }
        self.set(self.limit / 2.0);
    }

    fn set(&mut self, limit: f64) {
        self.limit = limit.clamp(FLOOR.min(self.ceiling), self.ceiling);
        self.window_answers = 0;
        self.window_total = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a limit against a provider whose answer time is `answer(in_flight)`, one
    /// window at a time (each taking one answer time on a clock of its own), and returns the
    /// limit after `windows`.
    fn drive(limit: &mut InFlightLimit, windows: usize, mut answer: impl FnMut(usize) -> Duration) {
        let mut now = limit.span_started.unwrap_or_else(Instant::now);
        for _ in 0..windows {
            let in_flight = limit.current();
            let mut longest = Duration::ZERO;
            for _ in 0..in_flight {
                let took = answer(in_flight);
                longest = longest.max(took);
                limit.answered_at(took, now);
            }
            now += longest;
        }
    }

    #[test]
    fn a_provider_far_away_that_answers_steadily_gets_the_full_width() {
        let mut limit = InFlightLimit::new(256);
        assert_eq!(limit.current(), 8);
        // 40 ms, with up to 10 ms of jitter that does not grow with the load.
        let mut n = 0u64;
        drive(&mut limit, 60, |_| {
            n += 7;
            Duration::from_micros(40_000 + (n * 7919) % 10_000)
        });
        assert_eq!(limit.current(), 256);
    }

    #[test]
    fn a_provider_that_queues_what_it_is_sent_gets_a_narrow_window() {
        // Answers in 0.2 ms alone, and each message in flight adds 0.2 ms of waiting (at
        // most 5,000 a second however many are sent): past a couple of dozen in flight,
        // answers only come later.
        let mut limit = InFlightLimit::new(256);
        drive(&mut limit, 400, |in_flight| {
            Duration::from_micros(200 + 200 * in_flight as u64)
        });
        let settled = limit.current();
        assert!(
            (8..=32).contains(&settled),
            "a queueing provider should leave a narrow window, got {settled}"
        );
    }

    #[test]
    fn throttling_halves_the_limit_down_to_the_floor() {
        let mut limit = InFlightLimit::new(64);
        drive(&mut limit, 50, |_| Duration::from_millis(1));
        assert_eq!(limit.current(), 64);
        limit.throttled();
        assert_eq!(limit.current(), 32);
        for _ in 0..10 {
            limit.throttled();
        }
        assert_eq!(limit.current(), 2);
        let mut one = InFlightLimit::new(1);
        one.throttled();
        assert_eq!(one.current(), 1, "never above the ceiling");
    }

    #[test]
    fn a_provider_that_became_slower_for_good_is_relearned() {
        let mut limit = InFlightLimit::new(128);
        drive(&mut limit, 50, |_| Duration::from_micros(500));
        assert_eq!(limit.current(), 128);
        // Now 40 ms for every answer, however many are in flight: at first that looks like
        // queueing and the limit shrinks; once the fast answers are two spans old, the new
        // answer time is the usual one and the limit grows back to the ceiling.
        drive(&mut limit, 3, |_| Duration::from_millis(40));
        assert!(limit.current() < 128);
        drive(&mut limit, 2_000, |_| Duration::from_millis(40));
        assert_eq!(limit.current(), 128);
    }
}
