//! The outbound client: one pooled `reqwest::Client` (rustls, keep-alive, no redirects, no
//! proxy, the SSRF-guarding resolver) and [`Client::post`], bounded end to end by the target's
//! timeout with a capped, streamed body read.

use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use url::Url;

use crate::error::{CallError, WebhookError};
use crate::guard::{self, BlockedAddress, GuardedResolver};
use crate::headers::{self, USER_AGENT_VALUE};
use crate::oauth::{self, TokenCache, TokenKey};
use crate::secret::Secret;
use crate::target::{Auth, OutboundRequest, Reply, Target};

/// The longest deadline a call can have, whatever `Target::timeout` says (keeps the deadline
/// arithmetic in range; configuration allows at most 30 s).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Watson requires https; true for local development.
    pub allow_http: bool,
    /// SSRF guard: refuse loopback/private/link-local destinations unless true.
    pub allow_private_addresses: bool,
    /// Response body cap (default 4,000,000 bytes).
    pub max_response_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            allow_http: false,
            allow_private_addresses: false,
            max_response_bytes: 4_000_000,
        }
    }
}

/// The shared outbound client (cheap to clone: clones share the connection pool and the
/// OAuth2 token cache).
#[derive(Debug, Clone)]
pub struct Client {
    options: ClientOptions,
    http: reqwest::Client,
    tokens: Arc<TokenCache>,
}

struct OAuth2Config<'a> {
    token_url: &'a str,
    client_id: &'a str,
    client_secret: &'a Secret,
    scope: Option<&'a str>,
}

impl Client {
    pub fn new(options: ClientOptions) -> Result<Client, WebhookError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the guard.
            .no_proxy()
            .dns_resolver(GuardedResolver::new(options.allow_private_addresses))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .user_agent(USER_AGENT_VALUE)
            .build()
            .map_err(|e| WebhookError::Build(error_reason(&e)))?;
        Ok(Client {
            options,
            http,
            tokens: Arc::new(TokenCache::default()),
        })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// POST `request.body` to `target` with auth, signature and standard headers; bounded by
    /// `target.timeout` (at most [`MAX_TIMEOUT`]) end to end (token fetch + connect + headers + body), no redirects (a
    /// 3xx is returned as a [`Reply`]), body capped at `max_response_bytes`.
    pub async fn post(
        &self,
        target: &Target,
        request: &OutboundRequest,
    ) -> Result<Reply, CallError> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started) + target.timeout.min(MAX_TIMEOUT);
        let result =
            match tokio::time::timeout_at(deadline, self.post_within(target, request, started))
                .await
            {
                Ok(result) => result,
                Err(_elapsed) => Err(CallError::Timeout),
            };
        if tracing::enabled!(tracing::Level::DEBUG) {
            trace_call(target, request, started, &result);
        }
        result
    }

    async fn post_within(
        &self,
        target: &Target,
        request: &OutboundRequest,
        started: Instant,
    ) -> Result<Reply, CallError> {
        let url = guard::check_url(
            &target.url,
            self.options.allow_http,
            self.options.allow_private_addresses,
        )?;
        let Auth::OAuth2 {
            token_url,
            client_id,
            client_secret,
            scope,
        } = &target.auth
        else {
            return self.send(&url, target, request, None, started).await;
        };
        let config = OAuth2Config {
            token_url,
            client_id,
            client_secret,
            scope: scope.as_deref(),
        };
        let token = self.oauth_token(&config, None).await?;
        let reply = self
            .send(&url, target, request, Some(&token), started)
            .await?;
        if reply.status != 401 {
            return Ok(reply);
        }
        // The token may have been revoked before its expiry: refresh once and retry once.
        tracing::debug!(webhook_id = %request.webhook_id, "webhook answered 401; refreshing the OAuth2 token");
        let fresh = self.oauth_token(&config, Some(&token)).await?;
        self.send(&url, target, request, Some(&fresh), started)
            .await
    }

    async fn send(
        &self,
        url: &Url,
        target: &Target,
        request: &OutboundRequest,
        bearer: Option<&str>,
        started: Instant,
    ) -> Result<Reply, CallError> {
        let headers = headers::build(target, request, unix_now(), bearer)?;
        let response = self
            .http
            .post(url.clone())
            .headers(headers)
            .body(request.body.clone())
            .send()
            .await
            .map_err(call_error)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = read_capped(response, self.options.max_response_bytes).await?;
        Ok(Reply {
            status,
            headers,
            body,
            latency: started.elapsed(),
        })
    }

    /// A valid access token for `config`: the cached one, or a fresh one when there is none,
    /// it expired, or it is `stale` (the one a 401 just refused).
    async fn oauth_token(
        &self,
        config: &OAuth2Config<'_>,
        stale: Option<&str>,
    ) -> Result<String, CallError> {
        let key = TokenKey::new(
            config.token_url,
            config.client_id,
            config.client_secret,
            config.scope,
        );
        let slot = self.tokens.slot(&key);
        let mut cached = slot.lock().await;
        if let Some(token) = cached.as_ref() {
            let refused = stale == Some(token.access_token.expose());
            if !refused && token.expires_at > Instant::now() {
                return Ok(token.access_token.expose().to_owned());
            }
        }
        *cached = None;
        let fresh = self.fetch_token(config).await?;
        let token = fresh.access_token.expose().to_owned();
        *cached = Some(fresh);
        Ok(token)
    }

    async fn fetch_token(
        &self,
        config: &OAuth2Config<'_>,
    ) -> Result<oauth::CachedToken, CallError> {
        let url = guard::check_url(
            config.token_url,
            self.options.allow_http,
            self.options.allow_private_addresses,
        )
        .map_err(|e| match e {
            CallError::Other(reason) => CallError::Other(format!("OAuth2 token URL: {reason}")),
            other => other,
        })?;
        let mut authorization = HeaderValue::from_str(&oauth::client_authorization(
            config.client_id,
            config.client_secret,
        ))
        .map_err(|_| {
            CallError::Other("OAuth2 client id or secret is not a valid header value".into())
        })?;
        authorization.set_sensitive(true);
        let response = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(AUTHORIZATION, authorization)
            .body(oauth::token_request_body(config.scope))
            .send()
            .await
            .map_err(call_error)?;
        let status = response.status().as_u16();
        let body = read_capped(response, self.options.max_response_bytes).await?;
        if !(200..300).contains(&status) {
            return Err(CallError::Other(format!(
                "OAuth2 token endpoint responded with [{status}] status code"
            )));
        }
        oauth::parse_token_response(&body, Instant::now()).ok_or_else(|| {
            CallError::Other("OAuth2 token endpoint responded without a valid access_token".into())
        })
    }
}

/// Read the body, refusing more than `cap` bytes as soon as they are announced or arrive.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Bytes, CallError> {
    if let Some(length) = response.content_length() {
        if length > cap as u64 {
            return Err(CallError::TooLarge);
        }
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(call_error)? {
        if body.len() + chunk.len() > cap {
            return Err(CallError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Map a reqwest error to a [`CallError`] whose text names neither the URL nor credentials.
fn call_error(err: reqwest::Error) -> CallError {
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(blocked) = cause.downcast_ref::<BlockedAddress>() {
            return CallError::Blocked(blocked.0.clone());
        }
        source = cause.source();
    }
    if err.is_timeout() {
        CallError::Timeout
    } else if err.is_connect() {
        CallError::Connect(error_reason(&err))
    } else if err.is_body() || err.is_decode() {
        CallError::Other(format!(
            "error reading the response body: {}",
            error_reason(&err)
        ))
    } else {
        CallError::Other(error_reason(&err))
    }
}

/// The innermost cause of a reqwest error: the useful part ("Connection refused (os error
/// 111)", "invalid peer certificate: UnknownIssuer"), without reqwest's URL-bearing wrapper.
fn error_reason(err: &reqwest::Error) -> String {
    let mut reason = None;
    let mut source = err.source();
    while let Some(cause) = source {
        reason = Some(cause.to_string());
        source = cause.source();
    }
    reason.unwrap_or_else(|| err.without_url_string())
}

trait WithoutUrl {
    fn without_url_string(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_string(&self) -> String {
        if self.is_timeout() {
            "timed out".into()
        } else if self.is_connect() {
            "connection failed".into()
        } else if self.is_redirect() {
            "redirect refused".into()
        } else if self.is_builder() {
            "invalid request".into()
        } else {
            "request failed".into()
        }
    }
}

/// The debug line of one call: the host only (the URL's path, query and user info may carry
/// credentials). Built only when debug logging is on: parsing the URL costs on every call.
fn trace_call(
    target: &Target,
    request: &OutboundRequest,
    started: Instant,
    result: &Result<Reply, CallError>,
) {
    let host = url::Url::parse(&target.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    match result {
        Ok(reply) => tracing::debug!(
            webhook_id = %request.webhook_id,
            host = %host,
            status = reply.status,
            latency_us = reply.latency.as_micros() as u64,
            "webhook call answered"
        ),
        Err(error) => tracing::debug!(
            webhook_id = %request.webhook_id,
            host = %host,
            latency_us = started.elapsed().as_micros() as u64,
            error = %error,
            "webhook call failed"
        ),
    }
}
