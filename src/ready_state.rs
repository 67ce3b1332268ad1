//! The connection state, as the browser reports it.

/// The state of a connection: the [`EventSource.readyState`] values.
///
/// ```
/// use typed_eventsource::ReadyState;
/// assert_eq!(ReadyState::from(2), ReadyState::Closed);
/// assert_eq!(ReadyState::Open as u16, 1);
/// ```
///
/// [`EventSource.readyState`]: https://developer.mozilla.org/en-US/docs/Web/API/EventSource/readyState
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ReadyState {
    /// `0`: connecting, or waiting to reconnect (the browser's or the [`ReconnectPolicy`](crate::ReconnectPolicy)'s).
    Connecting = 0,
    /// `1`: the connection is open and events arrive.
    Open = 1,
    /// `2`: closed for good; nothing more arrives.
    Closed = 2,
}

impl From<u16> for ReadyState {
    /// Any value other than 0 or 1 reads as [`ReadyState::Closed`].
    fn from(value: u16) -> Self {
        match value {
            0 => ReadyState::Connecting,
            1 => ReadyState::Open,
            _ => ReadyState::Closed,
        }
    }
}

impl std::fmt::Display for ReadyState {
    /// ```
    /// assert_eq!(typed_eventsource::ReadyState::Closed.to_string(), "closed");
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReadyState::Connecting => "connecting",
            ReadyState::Open => "open",
            ReadyState::Closed => "closed",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_values_match_the_spec() {
        for (n, s) in [(0, ReadyState::Connecting), (1, ReadyState::Open), (2, ReadyState::Closed)] {
            assert_eq!(ReadyState::from(n), s);
            assert_eq!(s as u16, n);
        }
        assert_eq!(ReadyState::from(7), ReadyState::Closed);
    }

    #[test]
    fn displays_as_the_lowercase_state() {
        let shown: Vec<String> =
            [ReadyState::Connecting, ReadyState::Open, ReadyState::Closed].iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["connecting", "open", "closed"]);
    }
}
