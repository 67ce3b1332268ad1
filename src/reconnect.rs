//! What to do when the browser gives up on a connection.

use std::time::Duration;

/// Re-opening after a *fatal* error, beyond what the browser does.
///
/// The browser retries a dropped connection by itself (a *transient* error). It gives up for good on a non-200
/// status, a wrong content type or a failed first connection (a *fatal* error) — a 503 during a deploy stops a native
/// `EventSource` forever. With a policy the source re-opens after an exponential backoff with jitter, up to
/// `max_retries` times in a row, sending the last event id it saw as a `lastEventId` query parameter (an
/// `EventSource` cannot set headers) so the server resumes after it. A successful open resets the count.
///
/// The default retries 5 times, 1 s, 2 s, 4 s, … up to 30 s apart, each delay shortened by up to 50 % at random so
/// that many clients do not return in lockstep. [`ReconnectPolicy::never`] turns it off.
///
/// The server's `retry:` and the policy: the server's value is the browser's own reconnection delay (transient
/// errors), and on the fetch transport it also replaces [`initial_delay`](Self::initial_delay) as the base of this
/// backoff once the server has sent one — `max_delay`, `multiplier`, `jitter` and `max_retries` still apply. The
/// browser's `EventSource` does not expose `retry:`, so over it the policy's `initial_delay` stays the base.
///
/// ```
/// use std::time::Duration;
/// use typed_eventsource::ReconnectPolicy;
/// let policy = ReconnectPolicy::default().max_retries(3).initial_delay(Duration::from_millis(500));
/// assert_eq!(policy.delay(0, 1.0), Duration::from_millis(500));
/// assert_eq!(policy.delay(2, 1.0), Duration::from_millis(2000));
/// assert!(policy.allows(2) && !policy.allows(3));
/// assert!(!ReconnectPolicy::never().allows(0));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct ReconnectPolicy {
    max_retries: u32,
    initial_delay: Duration,
    max_delay: Duration,
    multiplier: f64,
    jitter: f64,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            max_retries: 5,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.5,
        }
    }
}

impl ReconnectPolicy {
    /// No re-opening: a fatal error closes the source, as a native `EventSource` does.
    ///
    /// ```
    /// assert!(!typed_eventsource::ReconnectPolicy::never().allows(0));
    /// ```
    pub fn never() -> Self {
        ReconnectPolicy { max_retries: 0, ..Self::default() }
    }

    /// How many re-opens in a row before giving up (`u32::MAX`: never give up).
    ///
    /// ```
    /// assert!(typed_eventsource::ReconnectPolicy::default().max_retries(1).allows(0));
    /// ```
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The delay before the first re-open.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = typed_eventsource::ReconnectPolicy::default().initial_delay(Duration::from_millis(10));
    /// assert_eq!(p.delay(0, 1.0), Duration::from_millis(10));
    /// ```
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest delay between re-opens.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = typed_eventsource::ReconnectPolicy::default().max_delay(Duration::from_secs(2));
    /// assert_eq!(p.delay(10, 1.0), Duration::from_secs(2));
    /// ```
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The factor between one delay and the next (at least 1).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = typed_eventsource::ReconnectPolicy::default().multiplier(3.0);
    /// assert_eq!(p.delay(1, 1.0), Duration::from_secs(3));
    /// ```
    pub fn multiplier(mut self, factor: f64) -> Self {
        self.multiplier = if factor.is_finite() { factor.max(1.0) } else { 1.0 };
        self
    }

    /// The largest share of each delay taken off at random, from 0 (none) to 1.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = typed_eventsource::ReconnectPolicy::default().jitter(0.0);
    /// assert_eq!(p.delay(0, 0.0), Duration::from_secs(1));
    /// ```
    pub fn jitter(mut self, share: f64) -> Self {
        self.jitter = if share.is_finite() { share.clamp(0.0, 1.0) } else { 0.0 };
        self
    }

    /// Whether a re-open may follow after `attempts` re-opens in a row.
    ///
    /// ```
    /// assert!(typed_eventsource::ReconnectPolicy::default().allows(4));
    /// ```
    pub fn allows(&self, attempts: u32) -> bool {
        attempts < self.max_retries
    }

    /// The limit set by [`max_retries`](Self::max_retries).
    ///
    /// ```
    /// assert_eq!(typed_eventsource::ReconnectPolicy::never().retries(), 0);
    /// ```
    pub fn retries(&self) -> u32 {
        self.max_retries
    }

    /// The delay before re-open number `attempt` (from 0), given `random` in `[0, 1]` (1 = no jitter taken off).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = typed_eventsource::ReconnectPolicy::default();
    /// assert_eq!(p.delay(1, 1.0), Duration::from_secs(2));
    /// assert_eq!(p.delay(1, 0.0), Duration::from_secs(1)); // at most 50 % off
    /// ```
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        // In milliseconds through `as` casts (saturating, NaN → 0): no float-to-Duration panic path in wasm; and as
        // `f64` from the start: `as_millis` is a u128, whose arithmetic links helper functions into every app. Nor
        // `powi`, `round` or `f64::min`: each is a helper function in wasm, linked into every app for this line.
        let max = self.max_delay.as_secs_f64() * 1000.0;
        let mut base = self.initial_delay.as_secs_f64() * 1000.0;
        // The multiplier is at least 1: once at the cap, further attempts stay there.
        for _ in 0..attempt.min(64) {
            if base >= max {
                break;
            }
            base *= self.multiplier;
        }
        let capped = if base < max { base } else { max };
        let random = if random.is_finite() { random.clamp(0.0, 1.0) } else { 1.0 };
        let factor = 1.0 - self.jitter * (1.0 - random);
        // Rounded half up: the product is never negative.
        Duration::from_millis((capped * factor + 0.5) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = ReconnectPolicy::default().jitter(0.0);
        let delays: Vec<_> = (0..7).map(|a| p.delay(a, 0.3).as_millis()).collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(p.delay(u32::MAX, 0.5), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let p = ReconnectPolicy::default();
        for r in [0.0, 0.25, 0.5, 1.0, -3.0, 7.0, f64::NAN] {
            let d = p.delay(2, r).as_millis();
            assert!((2000..=4000).contains(&d), "{r} gave {d}");
        }
    }

    #[test]
    fn retry_count_is_a_limit() {
        let p = ReconnectPolicy::default().max_retries(2);
        assert!(p.allows(0) && p.allows(1) && !p.allows(2));
        assert!(ReconnectPolicy::default().max_retries(u32::MAX).allows(1_000_000));
    }

    #[test]
    fn never_allows_no_retry_and_keeps_the_other_defaults() {
        let never = ReconnectPolicy::never();
        assert!(!never.allows(0));
        assert_eq!(never.retries(), 0);
        assert_eq!(never, ReconnectPolicy::default().max_retries(0));
        assert_eq!(ReconnectPolicy::default().max_retries(7).retries(), 7);
    }

    #[test]
    fn each_setting_shapes_the_delays() {
        let p = ReconnectPolicy::default().jitter(0.0).initial_delay(Duration::from_millis(10));
        assert_eq!(p.delay(0, 1.0), Duration::from_millis(10));
        let p = p.max_delay(Duration::from_millis(25));
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(20));
        assert_eq!(p.delay(2, 1.0), Duration::from_millis(25), "capped");
        assert_eq!(p.clone().multiplier(3.0).delay(1, 1.0), Duration::from_millis(25));
        assert_eq!(p.max_delay(Duration::from_secs(1)).multiplier(3.0).delay(2, 1.0), Duration::from_millis(90));
    }

    #[test]
    fn nonsense_settings_are_clamped() {
        let p = ReconnectPolicy::default().multiplier(0.1).jitter(5.0);
        assert_eq!(p.delay(3, 1.0), Duration::from_secs(1));
        assert_eq!(p.delay(3, 0.0), Duration::ZERO);
    }
}
