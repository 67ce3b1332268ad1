//! The heartbeat watchdog's logic, pure and clock-free: the engine (`source/liveness.rs`) feeds it the time
//! (`Date.now()`) and acts on its verdicts. A wall clock rather than a monotonic one: it keeps running while the
//! machine sleeps and while the page is frozen, so the first check after a resume sees how long the stream has
//! really been silent, and a timer that fires far later than scheduled gives the same answer as one on time.

use std::time::Duration;

/// The timeout users of event-source-polyfill expect (`heartbeatTimeout`, 45 s): three missed heartbeats of our
/// server's default 15 s.
pub(crate) const DEFAULT_TIMEOUT_MS: f64 = 45_000.0;
/// The shortest timeout accepted: below it a slow network looks dead.
pub(crate) const MIN_TIMEOUT_MS: f64 = 1_000.0;
/// The event type of a heartbeat the `EventSource` transport can see (it cannot see comments). Never delivered.
pub(crate) const HEARTBEAT_EVENT: &str = "heartbeat";

/// How long a connection may stay silent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Timeout {
    /// [`DEFAULT_TIMEOUT_MS`] (or three announced heartbeat periods, if longer) where the transport can see the
    /// server's heartbeats: fetch always (it sees comments); `EventSource` once a heartbeat event has arrived.
    Default,
    /// Never.
    Off,
    /// This many milliseconds on every transport, from the first connection.
    Explicit(f64),
}

impl Timeout {
    /// `Duration::ZERO` turns it off; shorter than [`MIN_TIMEOUT_MS`] is raised to it.
    pub(crate) fn from_duration(timeout: Duration) -> Timeout {
        let ms = timeout.as_secs_f64() * 1000.0;
        if ms == 0.0 {
            Timeout::Off
        } else {
            Timeout::Explicit(if ms < MIN_TIMEOUT_MS { MIN_TIMEOUT_MS } else { ms })
        }
    }
}

/// What the watchdog says when asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    /// Nothing to watch (no connection, or no timeout in force): no timer needed.
    Idle,
    /// Alive: ask again in this many milliseconds.
    CheckIn(f64),
    /// Silent for longer than the timeout (in milliseconds): drop the connection. Said once per connection.
    Silent(f64),
}

/// One source's watchdog, across its connections.
#[derive(Debug, Clone)]
pub(crate) struct Watch {
    timeout: Timeout,
    /// Whether the transport sees every byte, comments included (fetch).
    sees_comments: bool,
    /// Whether a heartbeat event has arrived on any connection of this source.
    heartbeat_seen: bool,
    /// The heartbeat period the server announced in its heartbeat events' data, in milliseconds (0: none).
    announced_ms: f64,
    /// When the watched connection attempt started or last showed life; `None` while none is watched.
    last: Option<f64>,
}

impl Watch {
    pub(crate) fn new(timeout: Timeout, sees_comments: bool) -> Watch {
        Watch { timeout, sees_comments, heartbeat_seen: false, announced_ms: 0.0, last: None }
    }

    /// The timeout in force, in milliseconds, if any.
    pub(crate) fn timeout_ms(&self) -> Option<f64> {
        match self.timeout {
            Timeout::Off => None,
            Timeout::Explicit(ms) => Some(ms),
            Timeout::Default if self.sees_comments || self.heartbeat_seen => {
                let announced = 3.0 * self.announced_ms;
                Some(if announced > DEFAULT_TIMEOUT_MS { announced } else { DEFAULT_TIMEOUT_MS })
            }
            Timeout::Default => None,
        }
    }

    /// A connection attempt starts now: watched from here (a connection that never answers is silent too).
    pub(crate) fn start(&mut self, now: f64) {
        self.last = Some(now);
    }

    /// No connection to watch (dropped, waiting to re-open, closed).
    pub(crate) fn stop(&mut self) {
        self.last = None;
    }

    /// Something arrived: an event, the open, or (fetch) any bytes.
    pub(crate) fn activity(&mut self, now: f64) {
        if self.last.is_some() {
            self.last = Some(now);
        }
    }

    /// A heartbeat event arrived, with its data (the server's period in milliseconds, if it says).
    pub(crate) fn heartbeat(&mut self, now: f64, data: &str) {
        self.heartbeat_seen = true;
        if let Some(ms) = whole_number(data) {
            self.announced_ms = ms;
        }
        self.activity(now);
    }

    /// Whether the watched connection has been silent longer than the timeout.
    pub(crate) fn check(&mut self, now: f64) -> Verdict {
        let (Some(last), Some(timeout)) = (self.last, self.timeout_ms()) else { return Verdict::Idle };
        let silent_for = now - last;
        if silent_for < 0.0 {
            // The wall clock went back (set by hand, NTP): count from now rather than wait out the difference.
            self.last = Some(now);
            return Verdict::CheckIn(timeout);
        }
        if silent_for >= timeout {
            // Once: the next connection attempt starts watching again.
            self.last = None;
            return Verdict::Silent(timeout);
        }
        Verdict::CheckIn(timeout - silent_for)
    }
}

/// A whole number of up to 9 digits (a heartbeat period in milliseconds), read byte by byte: `str::parse` would link
/// its error machinery into every app for this.
fn whole_number(text: &str) -> Option<f64> {
    let text = text.trim_ascii();
    if text.is_empty() || text.len() > 9 {
        return None;
    }
    let mut n = 0.0;
    for b in text.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10.0 + f64::from(b - b'0');
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: f64 = 3_000.0;

    fn explicit() -> Watch {
        Watch::new(Timeout::Explicit(T), false)
    }

    #[test]
    fn a_stream_with_heartbeats_never_times_out() {
        let mut w = explicit();
        w.start(0.0);
        // A heartbeat every second for ten timeouts; the timer checks whenever it is told to.
        let mut next_check = match w.check(0.0) {
            Verdict::CheckIn(ms) => ms,
            other => panic!("{other:?}"),
        };
        for second in 1..=30 {
            let now = f64::from(second) * 1000.0;
            while next_check <= now {
                match w.check(next_check) {
                    Verdict::CheckIn(ms) => next_check += ms,
                    other => panic!("at {next_check}: {other:?}"),
                }
            }
            w.heartbeat(now, "1000");
        }
    }

    #[test]
    fn silence_is_reported_once_per_connection() {
        let mut w = explicit();
        w.start(0.0);
        w.activity(500.0);
        assert_eq!(w.check(2_000.0), Verdict::CheckIn(1_500.0));
        assert_eq!(w.check(3_499.0), Verdict::CheckIn(1.0));
        assert_eq!(w.check(3_500.0), Verdict::Silent(T));
        assert_eq!(w.check(3_501.0), Verdict::Idle, "fired once");
        w.activity(3_600.0);
        assert_eq!(w.check(9_000.0), Verdict::Idle, "activity of a dropped connection does not re-arm it");
        w.start(10_000.0);
        assert_eq!(w.check(10_000.0), Verdict::CheckIn(T), "the next attempt is watched again");
    }

    #[test]
    fn a_connection_that_never_answers_is_silent() {
        let mut w = explicit();
        w.start(100.0);
        assert_eq!(w.check(3_100.0), Verdict::Silent(T));
    }

    #[test]
    fn sleep_or_freeze_fires_once_at_the_first_check_after_resume() {
        let mut w = explicit();
        w.start(0.0);
        assert_eq!(w.check(1_000.0), Verdict::CheckIn(2_000.0));
        // The machine sleeps (or the page is frozen) for ten minutes: no timer runs. On resume the page's listener
        // checks at once, and then the late timer fires too: one verdict between them.
        assert_eq!(w.check(601_000.0), Verdict::Silent(T));
        assert_eq!(w.check(601_002.0), Verdict::Idle);
    }

    #[test]
    fn a_timer_firing_late_while_data_kept_coming_is_not_silence() {
        let mut w = explicit();
        w.start(0.0);
        // Timers throttled in a background tab: the check scheduled at 3 s runs at 60 s, but events arrived.
        w.activity(59_000.0);
        assert_eq!(w.check(60_000.0), Verdict::CheckIn(2_000.0));
    }

    #[test]
    fn a_wall_clock_set_back_restarts_the_count() {
        let mut w = explicit();
        w.start(50_000.0);
        assert_eq!(w.check(10_000.0), Verdict::CheckIn(T));
        assert_eq!(w.check(12_999.0), Verdict::CheckIn(1.0));
        assert_eq!(w.check(13_000.0), Verdict::Silent(T));
    }

    #[test]
    fn nothing_is_watched_between_connections() {
        let mut w = explicit();
        assert_eq!(w.check(1e9), Verdict::Idle, "before the first connection");
        w.start(0.0);
        w.stop();
        assert_eq!(w.check(1e9), Verdict::Idle, "after a drop");
    }

    #[test]
    fn the_default_waits_for_a_heartbeat_on_eventsource_and_applies_at_once_on_fetch() {
        let mut es = Watch::new(Timeout::Default, false);
        es.start(0.0);
        assert_eq!(es.check(1e6), Verdict::Idle, "a comment-only server: EventSource cannot see its heartbeats");
        es.heartbeat(1e6, "15000");
        assert_eq!(es.timeout_ms(), Some(DEFAULT_TIMEOUT_MS));
        assert_eq!(es.check(1e6 + DEFAULT_TIMEOUT_MS), Verdict::Silent(DEFAULT_TIMEOUT_MS));
        es.start(2e6);
        assert_eq!(es.timeout_ms(), Some(DEFAULT_TIMEOUT_MS), "armed for every later connection of the source");

        let mut fetch = Watch::new(Timeout::Default, true);
        fetch.start(0.0);
        assert_eq!(fetch.check(0.0), Verdict::CheckIn(DEFAULT_TIMEOUT_MS));
    }

    #[test]
    fn the_default_stretches_to_three_announced_heartbeat_periods() {
        let mut w = Watch::new(Timeout::Default, true);
        w.heartbeat(0.0, "60000");
        assert_eq!(w.timeout_ms(), Some(180_000.0));
        w.heartbeat(0.0, "not a number");
        assert_eq!(w.timeout_ms(), Some(180_000.0), "kept");
        w.heartbeat(0.0, "1000");
        assert_eq!(w.timeout_ms(), Some(DEFAULT_TIMEOUT_MS), "never below the default");
        let mut explicit = Watch::new(Timeout::Explicit(T), false);
        explicit.heartbeat(0.0, "60000");
        assert_eq!(explicit.timeout_ms(), Some(T), "an explicit timeout is the user's");
    }

    #[test]
    fn zero_turns_it_off_and_tiny_timeouts_are_raised() {
        assert_eq!(Timeout::from_duration(Duration::ZERO), Timeout::Off);
        assert_eq!(Timeout::from_duration(Duration::from_millis(10)), Timeout::Explicit(MIN_TIMEOUT_MS));
        assert_eq!(Timeout::from_duration(Duration::from_secs(4)), Timeout::Explicit(4_000.0));
        let mut off = Watch::new(Timeout::Off, true);
        off.start(0.0);
        off.heartbeat(0.0, "1000");
        assert_eq!(off.check(1e12), Verdict::Idle);
    }

    #[test]
    fn heartbeat_periods_are_whole_milliseconds() {
        assert_eq!(whole_number("15000"), Some(15_000.0));
        assert_eq!(whole_number(" 15000\n"), Some(15_000.0));
        assert_eq!(whole_number("123456789"), Some(123_456_789.0), "nine digits");
        for bad in ["", "-1", "1.5", "1e3", "9999999999", "x"] {
            assert_eq!(whole_number(bad), None, "{bad:?}");
        }
    }
}
