//! The SSE ids of topic events: `<epoch>-<position>` (e.g. `3f9a1c2b7e40-17`). Opaque to clients; the epoch makes an
//! id from other data (a wiped or lost store, another server) recognisable instead of silently wrong.
//!
//! ```
//! use typed_eventsource_server::event_id;
//! let id = event_id::format("3f9a1c2b7e40", 17);
//! assert_eq!(id, "3f9a1c2b7e40-17");
//! assert_eq!(event_id::parse(&id), Some(("3f9a1c2b7e40", 17)));
//! assert_eq!(event_id::parse("17"), None);
//! assert_eq!(event_id::parse("3f9a1c2b7e40-x"), None);
//! ```

/// The id of `position` in `epoch`.
pub fn format(epoch: &str, position: u64) -> String {
    let mut out = String::with_capacity(epoch.len() + 21);
    out.push_str(epoch);
    out.push('-');
    out.push_str(&position.to_string());
    out
}

/// Splits an id into epoch and position; `None` unless it is `<hex epoch>-<decimal position>`.
pub fn parse(id: &str) -> Option<(&str, u64)> {
    let (epoch, position) = id.rsplit_once('-')?;
    let hex = !epoch.is_empty() && epoch.len() <= 32 && epoch.bytes().all(|b| b.is_ascii_hexdigit());
    let digits = !position.is_empty() && position.bytes().all(|b| b.is_ascii_digit());
    if !hex || !digits {
        return None;
    }
    Some((epoch, position.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_the_epoch_a_dash_and_the_position() {
        assert_eq!(format("ab12", 0), "ab12-0");
        assert_eq!(format("ab12", u64::MAX), "ab12-18446744073709551615");
        assert_eq!(parse(&format("ab12", u64::MAX)), Some(("ab12", u64::MAX)));
    }

    #[test]
    fn only_a_hex_epoch_of_1_to_32_digits_and_a_decimal_position_parse() {
        let epoch32 = "0123456789abcdefABCDEF0123456789";
        assert_eq!(parse(&format!("{epoch32}-7")), Some((epoch32, 7)));
        for bad in [
            "-7",                                  // no epoch
            "0123456789abcdefABCDEF01234567890-7", // 33 hex digits
            "xyz-7",                               // not hex
            "ab12-",                               // no position
            "ab12-7a",                             // not decimal
            "ab12-+7",                             // a sign
            "ab12-18446744073709551616",           // past u64
            "7",                                   // no dash
            "ab-12-7",                             // the epoch holds a dash
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
