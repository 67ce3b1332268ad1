//! Tokens (JWT HS256 signed with the server's secret) and the checks of subscriber and publisher requests.
//!
//! - A *subscriber token* has claims `sub` (the user id) and `exp`. It is read from the `Authorization: Bearer`
//!   header, the `token` query parameter and the `sse_token` cookie, in that order: the first valid one counts (an
//!   invalid header does not hide a valid cookie).
//! - `nbf` is checked when present; `--token-issuer`/`--token-audience` make `iss`/`aud` required.
//! - A *publisher token* also has `role: "publisher"` and is sent as `Authorization: Bearer`.
//!
//! Missing, malformed, badly signed or expired → 401; a valid token for another user or without the publisher role
//! → 403. Both count in `sse_auth_denied_total`. In `--dev` mode nothing is required.
//!
//! ```
//! use typed_eventsource_server::auth::{Keys, Role};
//! let keys = Keys::new("secret");
//! let token = keys.mint("alice", Role::Subscriber, 60).unwrap();
//! assert_eq!(keys.verify(&token).unwrap().sub, "alice");
//! assert!(Keys::new("other").verify(&token).is_err());
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::metrics::Metrics;

/// The subscriber token cookie.
pub const COOKIE: &str = "sse_token";
/// The `role` claim of publisher tokens.
pub const PUBLISHER_ROLE: &str = "publisher";

/// The claims of both token kinds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// `"publisher"` for publisher tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Not valid before, seconds since the epoch (checked when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issuer (required to match `--token-issuer` when that is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience (required to match `--token-audience` when that is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Which token to mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May open the streams of its own user.
    Subscriber,
    /// May publish.
    Publisher,
}

/// The signing and verifying keys.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { .. }")
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Which tokens a server accepts besides a valid signature, `exp` and `nbf`: optional required issuer and audience.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenPolicy {
    /// `iss` must be this.
    pub issuer: Option<String>,
    /// `aud` must be (or contain) this.
    pub audience: Option<String>,
}

impl Keys {
    /// Keys for an HS256 secret (no issuer or audience required).
    pub fn new(secret: &str) -> Self {
        Self::with_policy(secret, &TokenPolicy::default())
    }

    /// Keys for an HS256 secret that also require `policy`'s issuer and audience; `nbf` is checked when present.
    pub fn with_policy(secret: &str, policy: &TokenPolicy) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(iss) = &policy.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        match &policy.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Keys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Mints a token for `user` valid `ttl_secs` seconds.
    pub fn mint(&self, user: &str, role: Role, ttl_secs: u64) -> Result<String, jsonwebtoken::errors::Error> {
        self.mint_claims(&Claims {
            sub: user.to_owned(),
            exp: now_secs().saturating_add(ttl_secs),
            role: (role == Role::Publisher).then(|| PUBLISHER_ROLE.to_owned()),
            nbf: None,
            iss: None,
            aud: None,
        })
    }

    /// Mints a token with exactly these claims (tests use it for expired tokens).
    pub fn mint_claims(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Verifies signature and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims)
    }
}

/// The bearer token of the `Authorization` header, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The value of cookie `name`, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The auth policy of a running server.
#[derive(Debug)]
pub struct Auth {
    /// The keys.
    pub keys: Keys,
    /// `--dev`: nothing required.
    pub dev: bool,
}

impl Auth {
    fn deny(metrics: &Metrics, err: AppError) -> AppError {
        Metrics::inc(&metrics.auth_denied, 1);
        tracing::debug!(%err, "auth denied");
        err
    }

    /// The claims of the first valid subscriber token in the request, trying each credential in turn: the
    /// `Authorization: Bearer` header, then the `token` query parameter, then the `sse_token` cookie. An invalid one
    /// does not hide a valid one after it; when none is valid, the error is about the first one present.
    pub fn subscriber_claims(&self, headers: &HeaderMap, query_token: Option<&str>) -> Result<Claims, AppError> {
        let candidates = [bearer(headers), query_token.filter(|t| !t.is_empty()), cookie(headers, COOKIE)];
        let mut first_error = None;
        for token in candidates.into_iter().flatten() {
            match self.keys.verify(token) {
                Ok(claims) => return Ok(claims),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(match first_error {
            Some(e) => AppError::Unauthorized(format!("invalid token: {e}")),
            None => AppError::Unauthorized("missing subscriber token".into()),
        })
    }

    /// Allows opening `user`'s stream.
    pub fn check_subscriber(
        &self,
        metrics: &Metrics,
        headers: &HeaderMap,
        query_token: Option<&str>,
        user: &str,
    ) -> Result<(), AppError> {
        if self.dev {
            return Ok(());
        }
        let claims = self.subscriber_claims(headers, query_token).map_err(|e| Self::deny(metrics, e))?;
        if claims.sub != user {
            return Err(Self::deny(metrics, AppError::Forbidden("token is for another user".into())));
        }
        Ok(())
    }

    /// Allows publishing; the publisher's `sub` (`None` in `--dev` without a valid token).
    pub fn check_publisher(&self, metrics: &Metrics, headers: &HeaderMap) -> Result<Option<String>, AppError> {
        if self.dev {
            return Ok(bearer(headers).and_then(|t| self.keys.verify(t).ok()).map(|c| c.sub));
        }
        let token = bearer(headers)
            .ok_or_else(|| Self::deny(metrics, AppError::Unauthorized("missing publisher token".into())))?;
        let claims = self
            .keys
            .verify(token)
            .map_err(|e| Self::deny(metrics, AppError::Unauthorized(format!("invalid token: {e}"))))?;
        if claims.role.as_deref() != Some(PUBLISHER_ROLE) {
            return Err(Self::deny(metrics, AppError::Forbidden("not a publisher token".into())));
        }
        Ok(Some(claims.sub))
    }
}

/// Extractor (implemented in [`crate::extract`]) that allows the request only with a publisher token (or in `--dev`
/// mode). Put it before the body extractor so unauthorized requests are refused before their body is read. Holds the
/// publisher's `sub` (`None` in `--dev` without a token).
#[derive(Debug, Clone)]
pub struct Publisher(pub Option<String>);

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).expect("a header value"));
        }
        map
    }

    fn auth(dev: bool) -> Auth {
        Auth { keys: Keys::new("secret"), dev }
    }

    fn denied(metrics: &Metrics) -> u64 {
        metrics.auth_denied.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[test]
    fn minted_tokens_carry_user_role_and_expiry() {
        let keys = Keys::new("secret");
        let before = now_secs();
        let subscriber = keys.verify(&keys.mint("alice", Role::Subscriber, 60).unwrap()).unwrap();
        assert_eq!((subscriber.sub.as_str(), subscriber.role), ("alice", None));
        assert!((before + 60..=now_secs() + 60).contains(&subscriber.exp), "{}", subscriber.exp);
        let publisher = keys.verify(&keys.mint("bob", Role::Publisher, 60).unwrap()).unwrap();
        assert_eq!(publisher.role.as_deref(), Some(PUBLISHER_ROLE));
        assert!(now_secs() > 1_700_000_000, "the wall clock in seconds");
        assert_eq!(format!("{keys:?}"), "Keys { .. }", "no secret in logs");
    }

    #[test]
    fn expired_not_yet_valid_and_foreign_tokens_are_refused() {
        let keys = Keys::new("secret");
        let claims = |exp: u64, nbf: Option<u64>| Claims { sub: "a".into(), exp, nbf, ..Claims::default() };
        // Beyond the 5 s leeway either way.
        assert!(keys.verify(&keys.mint_claims(&claims(now_secs() - 60, None)).unwrap()).is_err());
        assert!(keys.verify(&keys.mint_claims(&claims(now_secs() + 60, Some(now_secs() + 60))).unwrap()).is_err());
        assert!(keys.verify(&keys.mint_claims(&claims(now_secs() + 60, Some(now_secs() - 60))).unwrap()).is_ok());
        assert!(Keys::new("other").verify(&keys.mint("a", Role::Subscriber, 60).unwrap()).is_err());
    }

    #[test]
    fn a_policy_requires_its_issuer_and_audience() {
        let policy = TokenPolicy { issuer: Some("me".into()), audience: Some("them".into()) };
        let keys = Keys::with_policy("secret", &policy);
        let exp = now_secs() + 60;
        let token = |iss: Option<&str>, aud: Option<&str>| {
            let claims = Claims {
                sub: "a".into(),
                exp,
                iss: iss.map(Into::into),
                aud: aud.map(Into::into),
                ..Claims::default()
            };
            keys.mint_claims(&claims).unwrap()
        };
        assert!(keys.verify(&token(Some("me"), Some("them"))).is_ok());
        for (iss, aud) in
            [(None, Some("them")), (Some("me"), None), (Some("you"), Some("them")), (Some("me"), Some("us"))]
        {
            assert!(keys.verify(&token(iss, aud)).is_err(), "iss {iss:?} aud {aud:?}");
        }
        // Without a policy, neither is required nor checked.
        let open = Keys::new("secret");
        assert!(open
            .verify(
                &open
                    .mint_claims(&Claims { sub: "a".into(), exp, aud: Some("any".into()), ..Claims::default() })
                    .unwrap()
            )
            .is_ok());
    }

    #[test]
    fn bearer_reads_the_authorization_scheme_case_blind() {
        assert_eq!(bearer(&headers(&[(header::AUTHORIZATION, "Bearer abc")])), Some("abc"));
        assert_eq!(bearer(&headers(&[(header::AUTHORIZATION, "bEaReR  abc ")])), Some("abc"));
        for bad in ["Basic abc", "Bearer", "Bearer  ", "abc"] {
            assert_eq!(bearer(&headers(&[(header::AUTHORIZATION, bad)])), None, "{bad:?}");
        }
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn cookie_finds_its_pair_in_any_cookie_header() {
        let map = headers(&[(header::COOKIE, "a=1; sse_token= t0k "), (header::COOKIE, "b=2")]);
        assert_eq!(cookie(&map, COOKIE), Some("t0k"));
        assert_eq!(cookie(&map, "b"), Some("2"));
        assert_eq!(cookie(&map, "sse"), None, "a whole name, not a prefix");
        assert_eq!(cookie(&headers(&[(header::COOKIE, "sse_token=")]), COOKIE), None, "empty");
    }

    #[test]
    fn a_subscriber_needs_a_valid_token_of_its_own_user() {
        let (auth, metrics) = (auth(false), Metrics::default());
        let alice = auth.keys.mint("alice", Role::Subscriber, 60).unwrap();
        let bearer_alice = headers(&[(header::AUTHORIZATION, &format!("Bearer {alice}"))]);
        assert!(auth.check_subscriber(&metrics, &bearer_alice, None, "alice").is_ok());
        assert!(auth.check_subscriber(&metrics, &HeaderMap::new(), Some(&alice), "alice").is_ok(), "query");
        let cookie_alice = headers(&[(header::COOKIE, &format!("sse_token={alice}"))]);
        assert!(auth.check_subscriber(&metrics, &cookie_alice, None, "alice").is_ok(), "cookie");
        assert_eq!(denied(&metrics), 0);

        let forbidden = auth.check_subscriber(&metrics, &bearer_alice, None, "bob");
        assert!(matches!(forbidden, Err(AppError::Forbidden(_))), "{forbidden:?}");
        let missing = auth.check_subscriber(&metrics, &HeaderMap::new(), Some(""), "alice");
        assert!(matches!(&missing, Err(AppError::Unauthorized(m)) if m == "missing subscriber token"), "{missing:?}");
        assert_eq!(denied(&metrics), 2);

        // An invalid header does not hide a valid cookie; with none valid, the first one's error is reported.
        let mixed = headers(&[(header::AUTHORIZATION, "Bearer junk"), (header::COOKIE, &format!("sse_token={alice}"))]);
        assert_eq!(auth.subscriber_claims(&mixed, Some("junk2")).ok().map(|c| c.sub), Some("alice".to_owned()));
        let invalid = auth.subscriber_claims(&headers(&[(header::AUTHORIZATION, "Bearer junk")]), None);
        assert!(matches!(&invalid, Err(AppError::Unauthorized(m)) if m.starts_with("invalid token")), "{invalid:?}");

        assert!(self::auth(true).check_subscriber(&metrics, &HeaderMap::new(), None, "anyone").is_ok(), "dev");
        assert_eq!(denied(&metrics), 2);
    }

    #[test]
    fn a_publisher_needs_a_bearer_token_with_the_publisher_role() {
        let (auth, metrics) = (auth(false), Metrics::default());
        let with = |token: &str| headers(&[(header::AUTHORIZATION, &format!("Bearer {token}"))]);
        let publisher = auth.keys.mint("svc", Role::Publisher, 60).unwrap();
        assert_eq!(auth.check_publisher(&metrics, &with(&publisher)).ok(), Some(Some("svc".to_owned())));
        assert_eq!(denied(&metrics), 0);
        let subscriber = auth.keys.mint("svc", Role::Subscriber, 60).unwrap();
        assert!(matches!(auth.check_publisher(&metrics, &with(&subscriber)), Err(AppError::Forbidden(_))));
        assert!(matches!(auth.check_publisher(&metrics, &with("junk")), Err(AppError::Unauthorized(_))));
        assert!(matches!(auth.check_publisher(&metrics, &HeaderMap::new()), Err(AppError::Unauthorized(_))));
        assert_eq!(denied(&metrics), 3);

        let dev = self::auth(true);
        assert_eq!(dev.check_publisher(&metrics, &HeaderMap::new()).ok(), Some(None));
        assert_eq!(
            dev.check_publisher(&metrics, &with(&subscriber)).ok(),
            Some(Some("svc".to_owned())),
            "the sub if valid"
        );
        assert_eq!(dev.check_publisher(&metrics, &with("junk")).ok(), Some(None));
        assert_eq!(denied(&metrics), 3);
    }
}
