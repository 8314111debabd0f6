//! JSON Web Tokens: short-lived tokens this server issues for an API key
//! (`POST /api/v1/auth/token`, HS256), and tokens of an external identity provider
//! (an issuer with a JWKS URL or a shared secret) whose claims name the tenant, the
//! permission and the namespaces. `alg: none` and any algorithm the key does not
//! name are refused by the decoder.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    decode, decode_header, encode, jwk::JwkSet, Algorithm, DecodingKey, EncodingKey, Header,
    Validation,
};
use omnex_core::{
    model::{Permission, Principal, Tenant},
    Error, Result,
};
use serde::{Deserialize, Serialize};

use crate::config::{JwtProvider, ServerOptions};

/// The issuer and audience of the tokens this server makes.
pub(crate) const ISSUER: &str = "omnex";

/// How long fetched JWKS keys are trusted before they are fetched again.
const JWKS_TTL: Duration = Duration::from_secs(600);

/// A token naming a key id the JWKS lacks makes the server fetch the JWKS again (the
/// provider may have rotated its keys), but not sooner than this after the last fetch:
/// tokens with made-up key ids never turn into a stream of requests to the provider.
const JWKS_REFETCH: Duration = Duration::from_secs(30);

/// The claims of a token this server issues (and, by name, what a provider's may carry).
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    exp: u64,
    iat: u64,
    tenant: String,
    permission: Permission,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespaces: Option<Vec<String>>,
}

/// What this server needs to issue and check tokens.
pub(crate) struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
    provider: Option<Provider>,
}

struct Provider {
    config: JwtProvider,
    secret: Option<DecodingKey>,
    jwks: tokio::sync::Mutex<Option<(Instant, JwkSet)>>,
    http: reqwest::Client,
}

/// A token this server issued, as `POST /auth/token` answers it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct IssuedToken {
    /// The token: send it as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

fn refused(why: impl std::fmt::Display) -> Error {
    Error::unauthorized(format!("the token is not valid: {why}"))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Tokens {
    pub(crate) fn new(opts: &ServerOptions) -> Arc<Self> {
        let secret: Vec<u8> = match opts.token_secret.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => s.as_bytes().to_vec(),
            None => {
                let mut b = vec![0u8; 32];
                // Without randomness every token would share a guessable key: refuse
                // them all (an empty secret never verifies a token signed elsewhere).
                if getrandom::fill(&mut b).is_err() {
                    tracing::error!("no random source: issued tokens are disabled");
                }
                b
            }
        };
        Arc::new(Self {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            ttl: Duration::from_secs(opts.token_ttl_secs.max(1)),
            provider: opts.jwt.clone().map(|config| Provider {
                secret: config
                    .secret
                    .as_deref()
                    .map(|s| DecodingKey::from_secret(s.as_bytes())),
                config,
                jwks: tokio::sync::Mutex::new(None),
                http: reqwest::Client::new(),
            }),
        })
    }

    /// A token for `principal`, valid for the configured time.
    pub(crate) fn issue(&self, principal: &Principal) -> Result<IssuedToken> {
        let now = unix_now();
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: ISSUER.to_owned(),
            sub: principal.subject.clone(),
            exp: now + self.ttl.as_secs(),
            iat: now,
            tenant: principal.tenant.to_string(),
            permission: principal.permission,
            namespaces: principal.namespaces.clone(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::internal("tokens", e))?;
        Ok(IssuedToken {
            access_token: token,
            token_type: "Bearer".to_owned(),
            expires_in: self.ttl.as_secs(),
        })
    }

    /// The principal of a token: one this server issued, or one of the configured
    /// provider. Anything else, expired, tampered or of another audience is refused.
    pub(crate) async fn verify(&self, token: &str) -> Result<Principal> {
        let header = decode_header(token).map_err(refused)?;
        let unverified_iss = unverified_issuer(token);
        if unverified_iss.as_deref() == Some(ISSUER) {
            let mut v = Validation::new(Algorithm::HS256);
            v.set_issuer(&[ISSUER]);
            v.set_audience(&[ISSUER]);
            v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            v.leeway = 0;
            let data = decode::<Claims>(token, &self.decoding, &v).map_err(refused)?;
            let c = data.claims;
            let mut p = Principal::new(Tenant::new(&c.tenant)?, c.permission, c.sub);
            p.namespaces = c.namespaces;
            return Ok(p);
        }
        let provider = self.provider.as_ref().ok_or_else(|| {
            refused("it is not from this server and no identity provider is configured")
        })?;
        provider.verify(token, &header).await
    }
}

/// The `iss` claim, read without checking the signature (only to choose the key).
fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(str::to_owned)
}

impl Provider {
    async fn verify(&self, token: &str, header: &Header) -> Result<Principal> {
        let c = &self.config;
        let (key, alg) = match &self.secret {
            Some(k) => (k.clone(), Algorithm::HS256),
            None => self.jwks_key(header).await?,
        };
        if header.alg != alg {
            return Err(refused(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let mut v = Validation::new(alg);
        v.set_issuer(&[&c.issuer]);
        match &c.audience {
            Some(aud) => v.set_audience(&[aud]),
            None => v.validate_aud = false,
        }
        v.set_required_spec_claims(&["exp", "iss"]);
        v.leeway = 30;
        let data =
            decode::<HashMap<String, serde_json::Value>>(token, &key, &v).map_err(refused)?;
        let claims = data.claims;
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let tenant = text(&c.tenant_claim)
            .ok_or_else(|| refused(format!("it has no {:?} claim", c.tenant_claim)))?;
        let permission = match text(&c.permission_claim) {
            Some(p) => p
                .parse()
                .map_err(|_| refused(format!("{p:?} is not a permission")))?,
            None => text("scope")
                .and_then(|scope| {
                    scope
                        .split(' ')
                        .filter_map(|s| s.strip_prefix("omnex:"))
                        .filter_map(|s| s.parse::<Permission>().ok())
                        .max()
                })
                .ok_or_else(|| refused("it names no permission"))?,
        };
        let namespaces = claims
            .get("namespaces")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            });
        let sub = text("sub").unwrap_or_else(|| "token".to_owned());
        let mut p = Principal::new(
            Tenant::new(&tenant).map_err(|_| refused("its tenant is not a valid name"))?,
            permission,
            format!("{}:{sub}", c.issuer),
        );
        p.namespaces = namespaces;
        Ok(p)
    }

    /// The JWKS key the token's `kid` names (fetched again when unknown or old).
    async fn jwks_key(&self, header: &Header) -> Result<(DecodingKey, Algorithm)> {
        let url =
            self.config.jwks_url.as_deref().ok_or_else(|| {
                refused("the identity provider has neither a JWKS URL nor a secret")
            })?;
        let mut cached = self.jwks.lock().await;
        let find = |set: &JwkSet| match &header.kid {
            Some(kid) => set.find(kid).cloned(),
            None => set.keys.first().cloned(),
        };
        let age = cached.as_ref().map(|(at, _)| at.elapsed());
        let mut jwk = cached
            .as_ref()
            .and_then(|(_, set)| find(set))
            .filter(|_| age.is_some_and(|a| a < JWKS_TTL));
        if jwk.is_none() && age.is_none_or(|a| a >= JWKS_REFETCH) {
            let set: JwkSet = self
                .http
                .get(url)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| Error::unavailable("identity provider", e))?
                .json()
                .await
                .map_err(|e| Error::unavailable("identity provider", e))?;
            jwk = find(&set);
            *cached = Some((Instant::now(), set));
        }
        let jwk = jwk.ok_or_else(|| refused("its key id is not in the provider's JWKS"))?;
        let alg = match jwk.common.key_algorithm {
            Some(a) => a
                .to_string()
                .parse::<Algorithm>()
                .map_err(|_| refused("the JWKS key names an unknown algorithm"))?,
            None => Algorithm::RS256,
        };
        Ok((DecodingKey::from_jwk(&jwk).map_err(refused)?, alg))
    }
}
