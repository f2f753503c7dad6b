//! What a receiver gets: the exact body, `webhook-id` = the log id, `webhook-sequence`, the
//! Standard Webhooks timestamp and signature, Watson's JWT and the custom headers; and what is
//! recorded about the attempt.

use chrono::Utc;
use dialogic_delivery::SEQUENCE_HEADER;
use dialogic_store::DeliveryStatus;

use crate::harness::*;
use crate::on_both_backends;
use crate::receiver::{Answer, Receiver};

on_both_backends!(headers_signature_and_body, response_body_is_capped);

fn header<'a>(h: &'a crate::receiver::Hit, name: &str) -> &'a str {
    h.headers
        .get(name)
        .unwrap_or_else(|| panic!("header {name} missing"))
        .to_str()
        .unwrap()
}

async fn headers_signature_and_body(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    let w = worker(&store, &Resolver::with(target(&rx.url)), config());
    let t0 = Utc::now();
    let ids = enqueue(&store, "s1", 2, t0).await;
    let s = w.run_once(t0).await.unwrap();
    assert_eq!(s.delivered, 2);
    let hits = rx.hits();
    assert_eq!(hits.len(), 2);
    for (i, (hit, id)) in hits.iter().zip(&ids).enumerate() {
        let (d, attempts) = delivery(&store, id).await;
        assert_eq!(d.status, DeliveryStatus::Delivered);
        assert_eq!(header(hit, "webhook-id"), id);
        assert_eq!(header(hit, SEQUENCE_HEADER), (i + 1).to_string());
        assert_eq!(hit.json, body_of(&d), "the stored envelope, unchanged");
        assert_eq!(hit.json["event"]["name"], "message_logged");
        assert_eq!(hit.json["payload"]["log_id"], id.as_str());
        assert_eq!(header(hit, "x-tenant"), "acme");
        assert!(header(hit, "content-type").starts_with("application/json"));
        let ts: i64 = header(hit, "webhook-timestamp").parse().unwrap();
        assert!((ts - Utc::now().timestamp()).abs() < 300, "timestamp {ts}");
        // The Standard Webhooks signature over exactly the bytes received.
        let sig = header(hit, "webhook-signature");
        let expected = dialogic_webhook::sign_standard(SECRET, id, ts, &hit.raw);
        assert!(sig.split(' ').any(|s| s == expected), "signature {sig}");
        // Watson's bare HS256 JWT, checked with an independent JWT library.
        let jwt = header(hit, "authorization");
        assert!(!jwt.starts_with("Bearer"));
        let key = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes());
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            jwt,
            &key,
            &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
        )
        .expect("the JWT verifies with the secret");
        assert!(claims.claims["iat"].is_i64());
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].status_code, Some(200));
        assert_eq!(attempts[0].response_body.as_deref(), Some("ok"));
        assert_eq!(attempts[0].error, None);
    }
    db.cleanup().await;
}

async fn response_body_is_capped(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.open().await;
    let rx = Receiver::start().await;
    rx.answer_all(Answer::status(500).body("x".repeat(100_000)));
    let w = worker(&store, &Resolver::with(target(&rx.url)), config());
    let t0 = Utc::now();
    let id = enqueue(&store, "s1", 1, t0).await.remove(0);
    assert_eq!(w.run_once(t0).await.unwrap().retried, 1);
    let (_, attempts) = delivery(&store, &id).await;
    assert_eq!(
        attempts[0].response_body.as_ref().map(String::len),
        Some(20 * 1024)
    );
    db.cleanup().await;
}
