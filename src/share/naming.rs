//! The lock and channel name of a shared stream.

use js_sys::Reflect;
use wasm_bindgen::JsValue;

use crate::Transport;

/// The prefix of the lock and channel names.
const PREFIX: &str = "typed-eventsource/share/";

/// The lock and channel name of a stream: the explicit key, or a digest of the absolute URL, the credentials flag
/// and the transport options (a digest: headers may hold a token).
pub(super) fn channel_name(url: &str, with_credentials: bool, transport: &Transport, key: Option<&str>) -> String {
    let mut name = String::from(PREFIX);
    if let Some(key) = key {
        name.push_str("key/");
        name.push_str(key);
        return name;
    }
    let location = crate::interop::Global::location();
    let absolute = Reflect::get(&location, &JsValue::from_str("href"))
        .ok()
        .and_then(|href| href.as_string())
        .and_then(|base| web_sys::Url::new_with_base(url, &base).ok())
        .map_or_else(|| url.to_owned(), |u| u.href());
    let mut description = absolute;
    description.push('\n');
    description.push(if with_credentials { '1' } else { '0' });
    match transport {
        Transport::EventSource => description.push_str("\neventsource"),
        #[cfg(feature = "fetch")]
        Transport::Fetch(request) => {
            description.push_str("\nfetch\n");
            description.push_str(request.method_name());
            for (k, v) in request.headers() {
                description.push('\n');
                description.push_str(&k.to_ascii_lowercase());
                description.push(':');
                description.push_str(v);
            }
            description.push('\n');
            if let Some(body) = request.body_text() {
                description.push_str(body);
            }
        }
    }
    name.push_str("stream/");
    push_hex(&mut name, fnv1a(description.as_bytes()));
    name
}

/// 64-bit FNV-1a: a stable digest, not a secret one (the name only has to tell streams apart).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn push_hex(out: &mut String, n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(char::from(DIGITS[((n >> (shift * 4)) & 0xf) as usize]));
    }
}
