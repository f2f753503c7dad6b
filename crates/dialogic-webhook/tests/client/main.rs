//! Integration tests of the outbound client against in-process receivers on 127.0.0.1.

mod receiver;

use std::time::{Duration, Instant};

use dialogic_webhook::{
    sign_standard, verify_jwt, verify_signature, Auth, CallError, Client, ClientOptions,
    OutboundRequest, Secret, Target, DEFAULT_TOLERANCE, USER_AGENT_VALUE,
};
use receiver::Receiver;

fn local_client() -> Client {
    Client::new(ClientOptions {
        allow_http: true,
        allow_private_addresses: true,
        ..ClientOptions::default()
    })
    .unwrap()
}

fn target(url: String, auth: Auth) -> Target {
    Target {
        url,
        auth,
        headers: vec![("X-Tenant".into(), "acme".into())],
        timeout: Duration::from_secs(5),
    }
}

fn request(body: &str) -> OutboundRequest {
    OutboundRequest::new(body.to_owned())
}

fn header(r: &receiver::Recorded, name: &str) -> String {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn sends_standard_headers_and_body() {
    let rx = Receiver::start().await;
    let req = request(r#"{"event":{"name":"message_received"}}"#);
    let reply = local_client()
        .post(&target(rx.url("/hook"), Auth::None), &req)
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(&reply.body[..], br#"{"ok":true}"#);
    let got = rx.last();
    assert_eq!(got.body, req.body);
    assert_eq!(header(&got, "content-type"), "application/json");
    assert_eq!(header(&got, "user-agent"), USER_AGENT_VALUE);
    assert_eq!(header(&got, "webhook-id"), req.webhook_id);
    let ts: i64 = header(&got, "webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() <= 2);
    assert_eq!(header(&got, "x-tenant"), "acme");
    assert!(got.headers.get("authorization").is_none());
    assert!(got.headers.get("webhook-signature").is_none());
}

#[tokio::test]
async fn jwt_verifies_with_the_secret_and_fails_with_another() {
    let rx = Receiver::start().await;
    let t = target(rx.url("/hook"), Auth::Jwt(Secret::new("purple unicorn")));
    local_client().post(&t, &request("{}")).await.unwrap();
    let auth = header(&rx.last(), "authorization");
    assert!(!auth.starts_with("Bearer"), "the JWT is sent bare");
    let claims = verify_jwt(&auth, "purple unicorn").unwrap();
    assert_eq!(claims.exp, claims.iat + 300);
    assert!(verify_jwt(&auth, "purple unicorn!").is_err());
}

#[tokio::test]
async fn signature_verifies_over_the_raw_body() {
    let rx = Receiver::start().await;
    let t = target(rx.url("/hook"), Auth::Jwt(Secret::new("purple unicorn")));
    // Whitespace and key order matter: the signature covers the exact bytes.
    let body = "{ \"payload\" : {\"b\":1, \"a\":2} }";
    local_client().post(&t, &request(body)).await.unwrap();
    let got = rx.last();
    verify_signature("purple unicorn", &got.headers, &got.body, DEFAULT_TOLERANCE).unwrap();
    assert!(verify_signature("another", &got.headers, &got.body, DEFAULT_TOLERANCE).is_err());
    let reencoded =
        serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(&got.body).unwrap())
            .unwrap();
    assert!(verify_signature(
        "purple unicorn",
        &got.headers,
        &reencoded,
        DEFAULT_TOLERANCE
    )
    .is_err());
    let ts: i64 = header(&got, "webhook-timestamp").parse().unwrap();
    assert_eq!(
        header(&got, "webhook-signature"),
        sign_standard(
            "purple unicorn",
            &header(&got, "webhook-id"),
            ts,
            body.as_bytes()
        )
    );
}

#[tokio::test]
async fn custom_authorization_header_wins_over_the_jwt() {
    let rx = Receiver::start().await;
    let mut t = target(rx.url("/hook"), Auth::Jwt(Secret::new("purple unicorn")));
    t.headers
        .push(("Authorization".into(), "Basic dXNlcjpwYXNz".into()));
    local_client().post(&t, &request("{}")).await.unwrap();
    let got = rx.last();
    assert_eq!(header(&got, "authorization"), "Basic dXNlcjpwYXNz");
    // The body is still signed with the secret.
    verify_signature("purple unicorn", &got.headers, &got.body, DEFAULT_TOLERANCE).unwrap();
}

#[tokio::test]
async fn each_auth_mode_sends_its_header() {
    let rx = Receiver::start().await;
    let client = local_client();
    let cases = [
        (
            Auth::Basic {
                username: "user".into(),
                password: Secret::new("pass"),
            },
            "authorization",
            "Basic dXNlcjpwYXNz",
        ),
        (
            Auth::Bearer(Secret::new("tkn")),
            "authorization",
            "Bearer tkn",
        ),
        (
            Auth::ApiKey {
                header: "X-Api-Key".into(),
                key: Secret::new("k-123"),
            },
            "x-api-key",
            "k-123",
        ),
    ];
    for (auth, name, expected) in cases {
        let mut t = target(rx.url("/hook"), auth);
        // New-experience rule: a custom Authorization is ignored when auth is configured.
        t.headers.push(("Authorization".into(), "ignored".into()));
        client.post(&t, &request("{}")).await.unwrap();
        let got = rx.last();
        assert_eq!(header(&got, name), expected);
        if name != "authorization" {
            assert_eq!(
                header(&got, "authorization"),
                "",
                "custom Authorization must be ignored"
            );
        }
        assert!(got.headers.get("webhook-signature").is_none());
    }
}

#[tokio::test]
async fn oauth2_token_is_cached_and_refreshed_once_on_401() {
    let rx = Receiver::start().await;
    let client = local_client();
    let t = target(
        rx.url("/protected"),
        Auth::OAuth2 {
            token_url: rx.url("/token"),
            client_id: "client".into(),
            client_secret: Secret::new("s3cret"),
            scope: Some("hooks.write".into()),
        },
    );
    for _ in 0..3 {
        let reply = client.post(&t, &request("{}")).await.unwrap();
        assert_eq!(reply.status, 200);
    }
    assert_eq!(rx.tokens_issued(), 1, "the token is cached");
    let token_call = rx
        .recorded()
        .into_iter()
        .find(|r| r.path == "/token")
        .unwrap();
    assert_eq!(
        &token_call.body[..],
        b"grant_type=client_credentials&scope=hooks.write"
    );
    assert_eq!(
        header(&token_call, "authorization"),
        "Basic Y2xpZW50OnMzY3JldA=="
    );
    assert_eq!(header(&rx.last(), "authorization"), "Bearer tok-1");

    rx.revoke_tokens();
    let reply = client.post(&t, &request("{}")).await.unwrap();
    assert_eq!(reply.status, 200, "refreshed and retried after the 401");
    assert_eq!(rx.tokens_issued(), 2);
    assert_eq!(header(&rx.last(), "authorization"), "Bearer tok-2");
    let protected: Vec<_> = rx
        .recorded()
        .into_iter()
        .filter(|r| r.path == "/protected")
        .collect();
    assert_eq!(
        protected.len(),
        5,
        "three calls, then one refused and one retried"
    );
    // The retry carries the same webhook-id.
    assert_eq!(
        header(&protected[3], "webhook-id"),
        header(&protected[4], "webhook-id")
    );

    // A receiver that refuses even the fresh token: one refresh, one retry, then the 401.
    rx.set(|b| b.status = 401);
    let always_401 = Target {
        url: rx.url("/hook"),
        ..t.clone()
    };
    let reply = client
        .clone()
        .post(&always_401, &request("{}"))
        .await
        .unwrap();
    assert_eq!(reply.status, 401);
    assert_eq!(rx.tokens_issued(), 3);
    assert_eq!(
        rx.recorded()
            .into_iter()
            .filter(|r| r.path == "/hook")
            .count(),
        2
    );
}

#[tokio::test]
async fn oauth2_token_endpoint_failure_is_reported_without_secrets() {
    let rx = Receiver::start().await;
    let t = target(
        rx.url("/hook"),
        Auth::OAuth2 {
            token_url: format!("http://{}:1/token", "127.0.0.1"),
            client_id: "client".into(),
            client_secret: Secret::new("s3cret"),
            scope: None,
        },
    );
    let err = local_client().post(&t, &request("{}")).await.unwrap_err();
    assert!(matches!(err, CallError::Connect(_)), "{err:?}");
    assert!(!err.to_string().contains("s3cret"));
}

#[tokio::test]
async fn timeout_is_honoured_within_100ms() {
    let rx = Receiver::start().await;
    rx.set(|b| b.delay = Duration::from_secs(3));
    let mut t = target(rx.url("/hook"), Auth::None);
    t.timeout = Duration::from_millis(700);
    let started = Instant::now();
    let err = local_client().post(&t, &request("{}")).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err, CallError::Timeout);
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_millis(800),
        "took {took:?}"
    );

    // Changed mid-test: the same receiver answers in time now.
    rx.set(|b| b.delay = Duration::from_millis(100));
    assert_eq!(
        local_client()
            .post(&t, &request("{}"))
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test]
async fn a_hanging_receiver_never_holds_a_call_past_its_timeout() {
    let addr = receiver::hanging().await;
    let mut t = target(format!("http://{addr}/hook"), Auth::None);
    t.timeout = Duration::from_millis(500);
    let started = Instant::now();
    assert_eq!(
        local_client().post(&t, &request("{}")).await.unwrap_err(),
        CallError::Timeout
    );
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_byte_dribbling_receiver_never_holds_a_call_past_its_timeout() {
    for chunked in [false, true] {
        let addr = receiver::dribbling(Duration::from_millis(50), chunked).await;
        let mut t = target(format!("http://{addr}/hook"), Auth::None);
        t.timeout = Duration::from_millis(500);
        let started = Instant::now();
        assert_eq!(
            local_client().post(&t, &request("{}")).await.unwrap_err(),
            CallError::Timeout
        );
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused() {
    let rx = Receiver::start().await;
    let client = Client::new(ClientOptions {
        allow_http: true,
        allow_private_addresses: true,
        max_response_bytes: 1000,
    })
    .unwrap();
    let t = target(rx.url("/hook"), Auth::None);
    rx.set(|b| b.body = vec![b' '; 1000]);
    assert_eq!(
        client.post(&t, &request("{}")).await.unwrap().body.len(),
        1000
    );
    rx.set(|b| b.body = vec![b' '; 1001]);
    assert_eq!(
        client.post(&t, &request("{}")).await.unwrap_err(),
        CallError::TooLarge
    );
    // An endless chunked body (no Content-Length) is cut off at the cap too.
    let addr = receiver::dribbling(Duration::from_millis(1), true).await;
    let t = Target {
        url: format!("http://{addr}/hook"),
        ..t
    };
    assert_eq!(
        client.post(&t, &request("{}")).await.unwrap_err(),
        CallError::TooLarge
    );
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let rx = Receiver::start().await;
    let guarded = Client::new(ClientOptions {
        allow_http: true,
        ..ClientOptions::default()
    })
    .unwrap();
    let port = rx.addr.port();
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
    ] {
        let err = guarded
            .post(&target(url.clone(), Auth::None), &request("{}"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, CallError::Blocked(ref m) if m.contains("loopback")),
            "{url}: {err:?}"
        );
    }
    assert!(rx.recorded().is_empty(), "nothing reached the receiver");
    let reply = local_client()
        .post(
            &target(format!("http://localhost:{port}/hook"), Auth::None),
            &request("{}"),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(rx.recorded().len(), 1);
}

#[tokio::test]
async fn http_is_refused_unless_allowed() {
    let rx = Receiver::start().await;
    let https_only = Client::new(ClientOptions {
        allow_private_addresses: true,
        ..ClientOptions::default()
    })
    .unwrap();
    let err = https_only
        .post(&target(rx.url("/hook"), Auth::None), &request("{}"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::Blocked(ref m) if m.contains("http://")),
        "{err:?}"
    );
    assert!(rx.recorded().is_empty());
    assert_eq!(
        local_client()
            .post(&target(rx.url("/hook"), Auth::None), &request("{}"))
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let rx = Receiver::start().await;
    let reply = local_client()
        .post(&target(rx.url("/redirect"), Auth::None), &request("{}"))
        .await
        .unwrap();
    assert_eq!(reply.status, 302);
    assert_eq!(reply.headers["location"], "/elsewhere");
    let paths: Vec<String> = rx.recorded().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/redirect"]);
}

#[tokio::test]
async fn connection_errors_do_not_leak_credentials() {
    let t = target(
        "http://user:hunter2@127.0.0.1:1/hook?token=abc".into(),
        Auth::Bearer(Secret::new("tkn")),
    );
    let err = local_client().post(&t, &request("{}")).await.unwrap_err();
    assert!(matches!(err, CallError::Connect(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    for secret in ["hunter2", "token=abc", "tkn"] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[tokio::test]
async fn status_and_reply_headers_are_returned_as_is() {
    let rx = Receiver::start().await;
    rx.set(|b| {
        b.status = 500;
        b.body = b"oops".to_vec();
        b.headers = vec![("X-Watson-Assistant-Webhook-Return".into(), "true".into())];
    });
    let reply = local_client()
        .post(&target(rx.url("/hook"), Auth::None), &request("{}"))
        .await
        .unwrap();
    assert_eq!(reply.status, 500);
    assert_eq!(&reply.body[..], b"oops");
    assert_eq!(reply.headers["x-watson-assistant-webhook-return"], "true");
    assert!(reply.latency > Duration::ZERO);
}

#[tokio::test]
async fn concurrent_calls_share_one_oauth2_token_fetch() {
    let rx = Receiver::start().await;
    let client = local_client();
    let t = target(
        rx.url("/protected"),
        Auth::OAuth2 {
            token_url: rx.url("/token"),
            client_id: "c".into(),
            client_secret: Secret::new("s"),
            scope: None,
        },
    );
    let calls = (0..10).map(|_| {
        let (client, t) = (client.clone(), t.clone());
        tokio::spawn(async move { client.post(&t, &request("{}")).await.unwrap().status })
    });
    for call in calls.collect::<Vec<_>>() {
        assert_eq!(call.await.unwrap(), 200);
    }
    assert_eq!(rx.tokens_issued(), 1);
}

#[tokio::test]
async fn an_unbounded_timeout_does_not_overflow() {
    let rx = Receiver::start().await;
    let mut t = target(rx.url("/hook"), Auth::None);
    t.timeout = Duration::MAX;
    assert_eq!(
        local_client()
            .post(&t, &request("{}"))
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test]
async fn a_tls_failure_is_a_connection_error_without_the_url() {
    // https to a plain-HTTP receiver: the TLS handshake fails.
    let rx = Receiver::start().await;
    let client = Client::new(ClientOptions {
        allow_private_addresses: true,
        ..ClientOptions::default()
    })
    .unwrap();
    let mut t = target(
        format!("https://127.0.0.1:{}/hook?sig=topsecret", rx.addr.port()),
        Auth::None,
    );
    t.timeout = Duration::from_secs(2);
    let err = client.post(&t, &request("{}")).await.unwrap_err();
    assert!(matches!(err, CallError::Connect(_)), "{err:?}");
    assert!(!err.to_string().contains("topsecret"), "{err}");
}
