//! Send one signed pre-message call, as Dialogic would, and print the outcome: a quick way to
//! test a receiver.
//!
//! ```text
//! cargo run -p dialogic-webhook --example send -- http://127.0.0.1:3000/ 'purple unicorn'
//! ```
//! Local and http URLs are allowed here (development use).

use std::time::Duration;

use dialogic_webhook::watson::{envelope_bytes, pre_message_envelope, pre_outcome, PreOutcome};
use dialogic_webhook::{Auth, Client, ClientOptions, OutboundRequest, Secret, Target};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: send <url> [secret]")?;
    let auth = args
        .next()
        .map_or(Auth::None, |s| Auth::Jwt(Secret::new(s)));
    let client = Client::new(ClientOptions {
        allow_http: true,
        allow_private_addresses: true,
        ..ClientOptions::default()
    })?;
    let request = json!({
        "input": {"message_type": "text", "text": "  hello  "},
        "context": {"global": {"session_id": "example-session"}, "skills": {"main skill": {"user_defined": {}}}}
    });
    let target = Target {
        url,
        auth,
        headers: Vec::new(),
        timeout: Duration::from_secs(8),
    };
    let call = OutboundRequest::new(envelope_bytes(&pre_message_envelope(&request)));
    let result = client.post(&target, &call).await;
    match &result {
        Ok(reply) => println!("status {} in {:?}", reply.status, reply.latency),
        Err(e) => println!("call failed: {e}"),
    }
    match pre_outcome(&request, &result) {
        Ok(PreOutcome::Process(request)) => println!("request to process: {request}"),
        Ok(PreOutcome::Skip(response)) => println!("skip, respond with: {response}"),
        Err(failure) => println!("422 {}", failure.error_body()),
    }
    Ok(())
}
