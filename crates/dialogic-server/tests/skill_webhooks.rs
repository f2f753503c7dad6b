//! Dialog webhooks (`main_webhook` node callouts) driven through real skill exports in
//! `../shared/skills/`, against the real `dialogic` binary.
//!
//! Each test starts `dialogic serve` on a free port with an assistant whose skill is one of the
//! corpus exports, and an in-process receiver (records every request's path, headers and body;
//! status, delay and reply changeable mid-test) standing in for the skill's dead webhook URL via
//! `[assistants.webhooks.dialog]`. The tests walk each skill's own dialog to its webhook node
//! over the v2 message API (stateful sessions and stateless calls) and check what Watson does:
//! the POST body is the node's evaluated `parameters`, headers come from the skill and the
//! config (plus a JWT when a secret is set), the result lands in `result_variable` and drives the
//! success response condition, and on failure the variable is null, `output.webhook_error.<var>`
//! holds the reason and the failure response fires. Every call is listed by
//! `GET /v1/webhook_calls`.
//!
//! A few tests run a temporary copy of a corpus skill with one documented edit (its own
//! `webhooks[0]` URL and headers, two callouts in one message, swapped response conditions,
//! `result_variable` prefixes); the corpus itself is never copied into the project.
//! Tests that must wait out the fixed 8 s dialog webhook budget are `#[ignore]`d (run them with
//! `--ignored`).
//!
//! Without `../shared/skills` (a fresh clone) every test prints "skipping" and returns.

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::Mac as _;
use serde_json::{json, Value};

const VERSION: &str = "version=2024-08-25";
const API_KEY: &str = "skill-webhooks-test-key";

const TWITTER: &str = "IBM-DSE__Watson-Assistant-Webhooks-Tutorial__skill-WA_Webhooks_twitter.json";
const JIRA: &str = "FelixAugenstein__watson-assistant-jira-issues__skill-create-Jira-Issues.json";
const SLACK: &str = "IBM-Cloud__slack-chatbot-database-watson__skill-TutorialSlackbot.json";
const KIF: &str = "kif01__Going-Serverless-in-Watson-Assistant__dialog.json";

/// The corpus file, or None (with a message) when `../shared` is absent.
fn skill_path(file: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/skills"
    ));
    let path = dir.join(file);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "skipping: ../shared not found ({} is missing)",
            path.display()
        );
        None
    }
}

// ---------------------------------------------------------------------------------------------
// The receiver standing in for the skills' dead webhook URLs.

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The only value of a header (panics on a repeated header: a header must not be doubled).
    fn header(&self, name: &str) -> Option<String> {
        let all: Vec<_> = self.headers.get_all(name).iter().collect();
        assert!(all.len() <= 1, "header {name} sent {} times", all.len());
        all.first().and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

/// Computes a reply from the request's JSON body (instead of the fixed `body`).
type Responder = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

struct Behaviour {
    status: u16,
    delay: Duration,
    body: String,
    responder: Option<Responder>,
    headers: Vec<(String, String)>,
}

#[derive(Clone)]
struct Receiver {
    base: String,
    behaviour: Arc<Mutex<Behaviour>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Answers 200 with `{}` until told otherwise.
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let r = Receiver {
            base: format!("http://{addr}"),
            behaviour: Arc::new(Mutex::new(Behaviour {
                status: 200,
                delay: Duration::ZERO,
                body: "{}".into(),
                responder: None,
                headers: Vec::new(),
            })),
            received: Arc::new(Mutex::new(Vec::new())),
        };
        let app = axum::Router::new().fallback(receive).with_state(r.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        r
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answer `status` with this JSON.
    fn reply(&self, status: u16, body: &Value) {
        let mut b = self.behaviour.lock().unwrap();
        b.status = status;
        b.body = body.to_string();
        b.responder = None;
    }

    /// Answer 200 with `f(request body)`.
    fn respond_with(&self, f: impl Fn(&Value) -> Value + Send + Sync + 'static) {
        let mut b = self.behaviour.lock().unwrap();
        b.status = 200;
        b.responder = Some(Arc::new(f));
    }

    /// Extra response headers.
    fn set_headers(&self, headers: &[(&str, &str)]) {
        self.behaviour.lock().unwrap().headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    /// Answer `status` with these raw bytes.
    fn reply_raw(&self, status: u16, body: &str) {
        let mut b = self.behaviour.lock().unwrap();
        b.status = status;
        b.body = body.to_owned();
        b.responder = None;
    }

    fn set_delay(&self, d: Duration) {
        self.behaviour.lock().unwrap().delay = d;
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    fn last(&self) -> Received {
        self.received()
            .last()
            .cloned()
            .expect("the receiver got a request")
    }
}

async fn receive(
    State(r): State<Receiver>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.received.lock().unwrap().push(Received {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    });
    let (status, delay, text, extra) = {
        let b = r.behaviour.lock().unwrap();
        let text = match &b.responder {
            Some(f) => f(&request).to_string(),
            None => b.body.clone(),
        };
        (b.status, b.delay, text, b.headers.clone())
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        text,
    )
        .into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    for (k, v) in extra {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// The real server.

struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!(
        "dialogic-skill-webhooks-{tag}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    TempDir(dir)
}

/// A copy of a corpus skill (in `dir`) whose `webhooks[0]` is replaced: how a user who edited
/// the skill's webhook URL and headers would export it.
fn skill_with_webhook(original: &std::path::Path, dir: &TempDir, webhook: Value) -> PathBuf {
    skill_copy(original, dir, |skill| skill["webhooks"] = json!([webhook]))
}

/// A copy of a corpus skill (in `dir`) with `edit` applied.
fn skill_copy(original: &std::path::Path, dir: &TempDir, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let text = std::fs::read_to_string(original).expect("read the skill");
    let mut skill: Value = serde_json::from_str(&text).expect("the skill is JSON");
    edit(&mut skill);
    let path = dir.0.join("skill.json");
    std::fs::write(&path, skill.to_string()).expect("write the skill copy");
    path
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port")
}

/// The `[assistants.webhooks.dialog]` table of one assistant.
struct DialogHook<'a> {
    url: String,
    secret: Option<&'a str>,
    headers: &'a [(&'a str, &'a str)],
}

/// The global `[webhooks]` SSRF settings.
#[derive(Clone, Copy)]
struct Guards {
    allow_http: bool,
    allow_private_addresses: bool,
}

/// What local tests need: http:// to 127.0.0.1.
const OPEN: Guards = Guards {
    allow_http: true,
    allow_private_addresses: true,
};

/// Start `dialogic serve` with one assistant `id` running `skill`, its dialog webhook pointed at
/// the receiver.
async fn start_server(id: &str, skill: &std::path::Path, hook: &DialogHook<'_>) -> Server {
    start_server_with(id, skill, Some(hook), OPEN).await
}

/// Start `dialogic serve` with one assistant; `hook: None` leaves the skill's own URL in place.
async fn start_server_with(
    id: &str,
    skill: &std::path::Path,
    hook: Option<&DialogHook<'_>>,
    guards: Guards,
) -> Server {
    start_server_extra(id, skill, hook, guards, "").await
}

/// As [`start_server_with`], with `extra` TOML appended to the assistant's tables.
async fn start_server_extra(
    id: &str,
    skill: &std::path::Path,
    hook: Option<&DialogHook<'_>>,
    guards: Guards,
    extra: &str,
) -> Server {
    let dir = temp_dir(id);
    let mut config = format!(
        "[server]\napi_keys = [\"{API_KEY}\"]\n\n[storage]\nurl = \"sqlite://{db}\"\n\n\
         [webhooks]\nallow_http = {http}\nallow_private_addresses = {private}\n\n\
         [[assistants]]\nid = \"{id}\"\nskill = {skill}\n",
        db = dir.0.join("dialogic.db").display(),
        http = guards.allow_http,
        private = guards.allow_private_addresses,
        skill = toml_string(&skill.display().to_string()),
    );
    if let Some(hook) = hook {
        config.push_str(&format!(
            "\n[assistants.webhooks.dialog]\nurl = {}\n",
            toml_string(&hook.url)
        ));
        if let Some(secret) = hook.secret {
            config.push_str(&format!("secret = {}\n", toml_string(secret)));
        }
        if !hook.headers.is_empty() {
            let pairs: Vec<String> = hook
                .headers
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_string(k), toml_string(v)))
                .collect();
            config.push_str(&format!("headers = {{ {} }}\n", pairs.join(", ")));
        }
    }
    config.push_str(extra);
    let config_path = dir.0.join("dialogic.toml");
    std::fs::write(&config_path, config).expect("write the config");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_dialogic"))
        .arg("serve")
        .arg("--config")
        .arg(&config_path)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dialogic");
    let mut server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client"),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = server
            .http
            .get(format!("{}/healthz", server.base))
            .send()
            .await
        {
            if r.status() == 200 {
                return server;
            }
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("dialogic exited before becoming healthy: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "dialogic did not become healthy within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn toml_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

impl Server {
    async fn call(&self, rb: reqwest::RequestBuilder) -> (u16, Value) {
        let r = rb.bearer_auth(API_KEY).send().await.expect("send");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}?{VERSION}", self.base);
        self.call(self.http.post(url).json(&body)).await
    }

    async fn session(&self, assistant: &str) -> Session<'_> {
        let (s, b) = self
            .post(&format!("/v2/assistants/{assistant}/sessions"), json!({}))
            .await;
        assert_eq!(s, 201, "create session: {b}");
        Session {
            server: self,
            assistant: assistant.to_owned(),
            id: b["session_id"].as_str().expect("session_id").to_owned(),
        }
    }

    /// A stateless message; panics unless 200.
    async fn stateless(&self, assistant: &str, body: Value) -> Value {
        let (s, r) = self
            .post(&format!("/v2/assistants/{assistant}/message"), body)
            .await;
        assert_eq!(s, 200, "{r}");
        r
    }

    /// `GET /v1/webhook_calls?<query>` once `want` calls are listed (they are stored after the
    /// reply, in the background), newest first.
    async fn webhook_calls(&self, query: &str, want: usize) -> Vec<Value> {
        let url = format!("{}/v1/webhook_calls?{query}", self.base);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (s, b) = self.call(self.http.get(&url)).await;
            assert_eq!(s, 200, "{b}");
            let calls = b["webhook_calls"].as_array().cloned().unwrap_or_default();
            if calls.len() >= want || Instant::now() > deadline {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

struct Session<'a> {
    server: &'a Server,
    assistant: String,
    id: String,
}

impl Session<'_> {
    /// A stateful message with `return_context` and `debug`; panics unless 200.
    async fn say(&self, input: Value) -> Value {
        let mut input = input;
        input["options"] = json!({"return_context": true, "debug": true});
        let (s, r) = self
            .server
            .post(
                &format!(
                    "/v2/assistants/{}/sessions/{}/message",
                    self.assistant, self.id
                ),
                json!({ "input": input }),
            )
            .await;
        assert_eq!(s, 200, "{r}");
        r
    }

    /// An answer to a prompt, with no intent (`intents: []` skips intent recognition), so that
    /// only entities and the dialog decide where it goes.
    async fn answer(&self, text: &str) -> Value {
        self.say(json!({ "text": text, "intents": [] })).await
    }

    /// Text with the intent supplied (recognition skipped for intents; entities still found).
    async fn intent(&self, text: &str, intent: &str) -> Value {
        self.say(json!({
            "text": text,
            "intents": [{"intent": intent, "confidence": 1.0}],
        }))
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// Reading replies.

/// Texts (and option titles) of `output.generic`, in order.
fn texts(reply: &Value) -> Vec<String> {
    reply["output"]["generic"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|i| i["text"].as_str().or(i["title"].as_str()))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn response_types(reply: &Value) -> Vec<String> {
    reply["output"]["generic"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|i| i["response_type"].as_str())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn user_defined(reply: &Value) -> &Value {
    &reply["context"]["skills"]["main skill"]["user_defined"]
}

fn webhook_error<'a>(reply: &'a Value, var: &str) -> &'a str {
    reply["output"]["webhook_error"][var]
        .as_str()
        .unwrap_or_else(|| panic!("output.webhook_error.{var} is not a string: {reply}"))
}

fn visited(reply: &Value) -> Vec<String> {
    reply["output"]["debug"]["nodes_visited"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter_map(|v| v["dialog_node"].as_str().or(v.as_str()))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The JWT in Authorization verifies with `secret` (HS256, exp = iat + 300) and not with another.
fn assert_jwt(got: &Received, secret: &str) {
    let token = got.header("authorization").expect("a JWT in Authorization");
    assert!(
        !token.starts_with("Bearer"),
        "the token is bare, as Watson sends it"
    );
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    let claims = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .expect("the JWT verifies with the configured secret")
    .claims;
    let iat = claims["iat"].as_i64().expect("iat");
    let exp = claims["exp"].as_i64().expect("exp");
    assert_eq!(exp - iat, 300, "{claims}");
    assert!(jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(b"another secret"),
        &validation,
    )
    .is_err());
}

/// `webhook-signature: v1,<base64 HMAC-SHA256(secret, "id.timestamp.body")>` over the raw body.
fn assert_signature(got: &Received, secret: &str) {
    let id = got.header("webhook-id").expect("webhook-id");
    let ts = got.header("webhook-timestamp").expect("webhook-timestamp");
    let sig = got.header("webhook-signature").expect("webhook-signature");
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key size");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&got.body);
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert!(
        sig.split(' ').any(|s| s == format!("v1,{want}")),
        "signature {sig} does not verify over the raw body"
    );
}

fn assert_common_headers(got: &Received) {
    assert_eq!(got.method, "POST");
    assert_eq!(
        got.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(
        got.header("user-agent")
            .unwrap_or_default()
            .starts_with("dialogic/"),
        "{:?}",
        got.headers
    );
    assert!(got.header("webhook-id").is_some_and(|v| !v.is_empty()));
}

// ---------------------------------------------------------------------------------------------
// IBM-DSE Watson-Assistant-Webhooks-Tutorial (twitter): the smallest dialog webhook. `#twitter`
// stores `@account.literal`, jumps (condition) into "Account Specified", which calls
// `main_webhook` with `{"account": "$account"}` into `webhook_result_1`; response conditions
// `$webhook_result_1` (three tweets) / `anything_else` (failure).

const TWEETS_OK_NODE: &str = "response_8_1566980960520";
const TWEETS_FAIL_NODE: &str = "response_7_1566980961332";

fn twitter_request(account: &str) -> Value {
    json!({"input": {
        "text": format!("show me the last tweets of {account}"),
        "intents": [{"intent": "twitter", "confidence": 1.0}],
        "options": {"debug": true},
    }})
}

#[tokio::test]
async fn twitter_stateless_success_then_500_then_invalid_json() {
    let Some(skill) = skill_path(TWITTER) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "twitter",
        &skill,
        &DialogHook {
            url: hook.url("/twitter/search?source=dialog"),
            secret: Some("twitter secret"),
            headers: &[("X-Tenant", "acme")],
        },
    )
    .await;
    let tweets = json!({"response": {"result": {"result": [
        "Season 7 is out", "Behind the scenes", "Q&A tonight"
    ]}}});
    hook.reply(200, &tweets);

    // Success.
    let r = server
        .stateless("twitter", twitter_request("@blackmirror"))
        .await;
    assert_eq!(hook.count(), 1);
    let got = hook.last();
    assert_eq!(got.path, "/twitter/search", "the configured URL is used");
    assert_eq!(got.json(), json!({"account": "@blackmirror"}));
    assert_common_headers(&got);
    assert_eq!(got.header("x-tenant").as_deref(), Some("acme"));
    assert_jwt(&got, "twitter secret");
    assert_signature(&got, "twitter secret");
    assert_eq!(
        texts(&r),
        ["Last Tweets for @blackmirror:<br> - Season 7 is out <br> - Behind the scenes<br> - Q&A tonight"],
        "{r}"
    );
    assert!(visited(&r).iter().any(|n| n == TWEETS_OK_NODE), "{r}");
    assert_eq!(user_defined(&r)["webhook_result_1"], tweets, "{r}");
    assert_eq!(user_defined(&r)["account"], "@blackmirror");
    assert!(r["output"].get("webhook_error").is_none(), "{r}");

    // The receiver answers 500: the variable is null, the failure condition fires.
    hook.reply(500, &json!({"error": "twitter API is down"}));
    let r = server
        .stateless("twitter", twitter_request("@stranger_things"))
        .await;
    assert_eq!(hook.count(), 2);
    assert_eq!(hook.last().json(), json!({"account": "@stranger_things"}));
    assert_eq!(
        texts(&r),
        ["I couldn't find the account - please try again with e.g. @blackmirror @stranger_things"],
        "{r}"
    );
    assert!(visited(&r).iter().any(|n| n == TWEETS_FAIL_NODE), "{r}");
    assert_eq!(user_defined(&r)["webhook_result_1"], Value::Null, "{r}");
    assert!(
        user_defined(&r)
            .as_object()
            .is_some_and(|m| m.contains_key("webhook_result_1")),
        "the variable is set to null, not left out: {r}"
    );
    assert_eq!(
        webhook_error(&r, "webhook_result_1"),
        "Webhook responded with [500] status code"
    );

    // 200 with a body that is not JSON.
    hook.reply_raw(200, "<html>rate limited</html>");
    let r = server
        .stateless("twitter", twitter_request("@blackmirror"))
        .await;
    assert_eq!(hook.count(), 3);
    assert!(visited(&r).iter().any(|n| n == TWEETS_FAIL_NODE), "{r}");
    assert_eq!(user_defined(&r)["webhook_result_1"], Value::Null, "{r}");
    assert_eq!(
        webhook_error(&r, "webhook_result_1"),
        "Webhook responded with invalid JSON body"
    );

    // Recorded, newest first; failed=true lists only the failures.
    let calls = server
        .webhook_calls("assistant_id=twitter&kind=dialog", 3)
        .await;
    assert_eq!(calls.len(), 3, "{calls:?}");
    let statuses: Vec<_> = calls.iter().map(|c| c["status_code"].clone()).collect();
    assert_eq!(statuses, [json!(200), json!(500), json!(200)], "{calls:?}");
    assert_eq!(
        calls[0]["error"],
        "Webhook responded with invalid JSON body"
    );
    assert_eq!(
        calls[1]["error"],
        "Webhook responded with [500] status code"
    );
    assert_eq!(calls[2]["error"], Value::Null);
    for c in &calls {
        assert_eq!(c["kind"], "dialog");
        assert_eq!(c["assistant_id"], "twitter");
        assert_eq!(c["url"], hook.url("/twitter/search?source=dialog"));
        assert!(
            !c.to_string().contains("twitter secret"),
            "the secret is never recorded: {c}"
        );
    }
    let bodies: Vec<Value> = calls
        .iter()
        .map(|c| {
            serde_json::from_str(c["request_body"].as_str().unwrap_or("")).unwrap_or(Value::Null)
        })
        .collect();
    assert_eq!(
        bodies,
        [
            json!({"account": "@blackmirror"}),
            json!({"account": "@stranger_things"}),
            json!({"account": "@blackmirror"}),
        ]
    );
    let first_id = hook.received()[0].header("webhook-id");
    assert_eq!(
        calls[2]["id"].as_str(),
        first_id.as_deref(),
        "the record's id is the webhook-id the receiver saw"
    );
    let ids: std::collections::HashSet<_> = hook
        .received()
        .iter()
        .filter_map(|g| g.header("webhook-id"))
        .collect();
    assert_eq!(ids.len(), 3, "webhook-id is unique per call");
    let newest = server
        .webhook_calls("assistant_id=twitter&kind=dialog&limit=1", 1)
        .await;
    assert_eq!(newest.len(), 1, "{newest:?}");
    assert_eq!(newest[0]["id"], calls[0]["id"]);
    let failed = server
        .webhook_calls("assistant_id=twitter&kind=dialog&failed=true", 2)
        .await;
    let failed_ids: Vec<_> = failed.iter().map(|c| c["id"].clone()).collect();
    assert_eq!(
        failed_ids,
        [calls[0]["id"].clone(), calls[1]["id"].clone()],
        "{failed:?}"
    );
    // Other kinds and assistants see none of them.
    assert!(server
        .webhook_calls("assistant_id=twitter&kind=pre_message", 0)
        .await
        .is_empty());
    assert!(server
        .webhook_calls("assistant_id=another&kind=dialog", 0)
        .await
        .is_empty());
}

#[tokio::test]
async fn twitter_without_an_account_never_calls_the_webhook() {
    let Some(skill) = skill_path(TWITTER) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "twitter",
        &skill,
        &DialogHook {
            url: hook.url("/twitter"),
            secret: None,
            headers: &[],
        },
    )
    .await;
    let r = server
        .stateless(
            "twitter",
            json!({"input": {
                "text": "any news from twitter",
                "intents": [{"intent": "twitter", "confidence": 1.0}],
            }}),
        )
        .await;
    assert_eq!(
        texts(&r),
        ["Can you specify an account name? e.g. @blackmirror @stranger_things etc."],
        "{r}"
    );
    assert_eq!(
        hook.count(),
        0,
        "the webhook node's condition `$account` is false"
    );
    assert!(server
        .webhook_calls("assistant_id=twitter&kind=dialog", 0)
        .await
        .is_empty());
}

/// The dialog webhook budget is 8 s per message and not configurable, so this takes 8 s.
#[tokio::test]
#[ignore = "takes the whole 8 s dialog webhook budget (not configurable); run with --ignored"]
async fn twitter_receiver_slower_than_the_budget_times_out() {
    let Some(skill) = skill_path(TWITTER) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "twitter",
        &skill,
        &DialogHook {
            url: hook.url("/twitter"),
            secret: None,
            headers: &[],
        },
    )
    .await;
    hook.reply(200, &json!({"response": {"result": {"result": ["late"]}}}));
    hook.set_delay(Duration::from_secs(20));
    let started = Instant::now();
    let r = server
        .stateless("twitter", twitter_request("@blackmirror"))
        .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(8) && took < Duration::from_millis(9500),
        "answered after {took:?}"
    );
    assert!(visited(&r).iter().any(|n| n == TWEETS_FAIL_NODE), "{r}");
    assert_eq!(user_defined(&r)["webhook_result_1"], Value::Null, "{r}");
    assert_eq!(
        webhook_error(&r, "webhook_result_1"),
        "Webhook request timed out"
    );
    let calls = server
        .webhook_calls("assistant_id=twitter&kind=dialog&failed=true", 1)
        .await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["error"], "Webhook request timed out");
    assert_eq!(calls[0]["status_code"], Value::Null);
}

// ---------------------------------------------------------------------------------------------
// FelixAugenstein watson-assistant-jira-issues (German): `#Neues_Issue` -> a one-slot frame for
// the issue type -> summary -> description -> confirmation; `#Ja` jumps (body) to a webhook node
// that has no condition of its own. Response conditions: `$webhook_result_1` (shows
// `$webhook_result_1.message`), `anything_else`, then `output.webhook_error`.

const JIRA_FAILED_TEXT: &str = "Das hat leider nicht geklappt. Versuchen Sie es bitte nochmal.";

/// Walk a session to the confirmation; the webhook must not have been called on the way.
/// Returns the first reply.
async fn jira_to_confirmation(
    s: &Session<'_>,
    hook: &Receiver,
    summary: &str,
    description: &str,
) -> Value {
    let before = hook.count();
    let first = s
        .intent("Ich will ein neues Issue in Jira erstellen", "Neues_Issue")
        .await;
    assert_eq!(
        texts(&first),
        [
            "Gerne können Sie ein neues Issue in Jira erstellen. Dafür benötige ich nur ein paar Informationen von Ihnen.",
            "Bitte geben Sie den Issue Type an, Story, Task oder Bug.",
        ],
        "{first}"
    );
    let r = s.answer("Bug").await;
    assert_eq!(user_defined(&r)["jiraIssueType"], "10003", "{r}");
    assert!(
        texts(&r)[1].starts_with("Bitte geben Sie eine Summary"),
        "{r}"
    );
    let r = s.answer(summary).await;
    assert!(
        texts(&r)[1].starts_with("Bitte geben Sie nun noch eine Description"),
        "{r}"
    );
    let r = s.answer(description).await;
    assert_eq!(
        texts(&r)[1],
        format!(
            "Ihr Issue ist nun fast erstellt, bitte prüfen Sie die Informationen. Die Issue Summary lautet: {summary}. Die Issue Description lautet: {description}. Falls alle Informationen korrekt sind sagen Sie jetzt \"Ja\"."
        ),
        "{r}"
    );
    assert_eq!(hook.count(), before, "no callout before the confirmation");
    first
}

#[tokio::test]
async fn jira_stateful_issue_created_then_401() {
    let Some(skill) = skill_path(JIRA) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "jira",
        &skill,
        &DialogHook {
            url: hook.url("/jira/create-issue"),
            secret: None,
            headers: &[("Authorization", "Basic dXNlcjpwYXNz")],
        },
    )
    .await;
    let s = server.session("jira").await;
    let created = json!({"message": "Das Issue DIA-42 wurde erstellt.", "key": "DIA-42"});
    hook.reply(201, &created);

    jira_to_confirmation(
        &s,
        &hook,
        "Login Seite laedt nicht",
        "Der Button reagiert nicht nach dem Klick",
    )
    .await;
    let r = s.intent("Ja", "Ja").await;
    assert_eq!(hook.count(), 1);
    let got = hook.last();
    assert_eq!(got.path, "/jira/create-issue");
    assert_eq!(
        got.json(),
        json!({
            "jiraIssueType": "10003",
            "jiraIssueSummary": "Login Seite laedt nicht",
            "jiraIssueDescription": "Der Button reagiert nicht nach dem Klick",
        })
    );
    assert_common_headers(&got);
    assert_eq!(
        got.header("authorization").as_deref(),
        Some("Basic dXNlcjpwYXNz"),
        "no secret: the configured Authorization header goes out as is"
    );
    assert_eq!(texts(&r), ["Das Issue DIA-42 wurde erstellt."], "{r}");
    assert_eq!(user_defined(&r)["webhook_result_1"], created, "{r}");
    assert!(r["output"].get("webhook_error").is_none(), "{r}");

    // A second issue in the same session; Jira answers 401 this time.
    hook.reply(401, &json!({"errorMessages": ["Unauthorized"]}));
    let first = jira_to_confirmation(
        &s,
        &hook,
        "Export bricht ab",
        "Beim Export von grossen Dateien kommt ein Fehler",
    )
    .await;
    assert_eq!(
        user_defined(&first)["webhook_result_1"],
        created,
        "the session keeps the result: {first}"
    );
    let r = s.intent("Ja", "Ja").await;
    assert_eq!(hook.count(), 2);
    assert_eq!(
        hook.last().json(),
        json!({
            "jiraIssueType": "10003",
            "jiraIssueSummary": "Export bricht ab",
            "jiraIssueDescription": "Beim Export von grossen Dateien kommt ein Fehler",
        })
    );
    // `anything_else` is listed before the `output.webhook_error` condition, so it wins.
    assert_eq!(texts(&r), [JIRA_FAILED_TEXT], "{r}");
    assert!(
        visited(&r).iter().any(|n| n == "response_2_1607444299072"),
        "{r}"
    );
    assert_eq!(user_defined(&r)["webhook_result_1"], Value::Null, "{r}");
    assert_eq!(
        webhook_error(&r, "webhook_result_1"),
        "Webhook responded with [401] status code"
    );

    let calls = server
        .webhook_calls("assistant_id=jira&kind=dialog", 2)
        .await;
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0]["status_code"], 401);
    assert_eq!(calls[1]["status_code"], 201);
    for c in &calls {
        assert_eq!(c["session_id"], s.id.as_str(), "{c}");
        assert_eq!(c["environment_id"], "live", "{c}");
    }
    let failed = server
        .webhook_calls("assistant_id=jira&kind=dialog&failed=true", 1)
        .await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["id"], calls[0]["id"]);
    assert_eq!(
        failed[0]["error"],
        "Webhook responded with [401] status code"
    );
}

/// The same skill driven statelessly: the client carries the context from turn to turn.
#[tokio::test]
async fn jira_stateless_with_the_context_carried_by_the_client() {
    let Some(skill) = skill_path(JIRA) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "jira",
        &skill,
        &DialogHook {
            url: hook.url("/jira"),
            secret: Some("jira secret"),
            headers: &[],
        },
    )
    .await;
    hook.reply(200, &json!({"message": "Erstellt: DIA-7"}));
    let mut context = json!({});
    let turns = [
        ("Ich will ein neues Issue erstellen", Some("Neues_Issue")),
        ("Story", None),
        ("Neue Suchfunktion", None),
        ("Die Suche soll auch Kommentare finden", None),
        ("Ja", Some("Ja")),
    ];
    let mut last = Value::Null;
    for (text, intent) in turns {
        let mut input = json!({"text": text});
        if let Some(i) = intent {
            input["intents"] = json!([{"intent": i, "confidence": 1.0}]);
        }
        last = server
            .stateless("jira", json!({"input": input, "context": context}))
            .await;
        context = last["context"].clone();
    }
    assert_eq!(hook.count(), 1, "{last}");
    let got = hook.last();
    assert_eq!(
        got.json(),
        json!({
            "jiraIssueType": "10001",
            "jiraIssueSummary": "Neue Suchfunktion",
            "jiraIssueDescription": "Die Suche soll auch Kommentare finden",
        })
    );
    assert_jwt(&got, "jira secret");
    assert_signature(&got, "jira secret");
    assert_eq!(texts(&last), ["Erstellt: DIA-7"], "{last}");
    assert_eq!(
        user_defined(&last)["webhook_result_1"],
        json!({"message": "Erstellt: DIA-7"})
    );
}

// ---------------------------------------------------------------------------------------------
// IBM-Cloud slack-chatbot-database-watson: frames call the webhook once their slots are filled,
// into custom result variables (`webhook_byName`, `webhook_insert`); the skill's webhook carries
// an `X-Require-Whisk-Auth` header (IBM Cloud Functions web action).

const SLACK_SKILL_HEADER: (&str, &str) = ("x-require-whisk-auth", "YOURSECRET");

/// "query events" frame -> `$queryPredicate` slot -> child frame "query events by shortname"
/// -> `$eventName` slot -> callout.
async fn slack_search_by_name(s: &Session<'_>, hook: &Receiver, quoted_name: &str) -> Value {
    let before = hook.count();
    let r = s
        .intent("query the event information", "showConference")
        .await;
    assert_eq!(
        texts(&r),
        ["Do you want to search by identifier or date?"],
        "{r}"
    );
    let r = s.answer("by name").await;
    assert_eq!(user_defined(&r)["queryPredicate"], "identifier", "{r}");
    assert_eq!(texts(&r), ["What is the shortname? (use quotes)"], "{r}");
    assert_eq!(hook.count(), before, "no callout while slots are open");
    let r = s.answer(quoted_name).await;
    assert_eq!(
        hook.count(),
        before + 1,
        "one callout once the slot is filled"
    );
    r
}

#[tokio::test]
async fn slack_frames_call_the_webhook_after_their_slots_fill() {
    let Some(skill) = skill_path(SLACK) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "slackbot",
        &skill,
        &DialogHook {
            url: hook.url("/api/v1/web/ns/slackdemo/dispatch.json"),
            secret: None,
            headers: &[("X-Tenant", "acme")],
        },
    )
    .await;
    let s = server.session("slackbot").await;

    // Search by name.
    let found = json!({"data": "Think 2026, Las Vegas, 2026-05-05", "result": "1 event"});
    hook.reply(200, &found);
    let r = slack_search_by_name(&s, &hook, "\"Think 2026\"").await;
    let got = hook.last();
    assert_eq!(got.path, "/api/v1/web/ns/slackdemo/dispatch.json");
    assert_eq!(
        got.json(),
        json!({"eventname": "Think 2026", "actionname": "searchByName"})
    );
    assert_common_headers(&got);
    assert_eq!(
        got.header(SLACK_SKILL_HEADER.0).as_deref(),
        Some(SLACK_SKILL_HEADER.1),
        "the skill's own header"
    );
    assert_eq!(
        got.header("x-tenant").as_deref(),
        Some("acme"),
        "the config's header"
    );
    assert!(got.header("authorization").is_none(), "no secret, no JWT");
    assert_eq!(texts(&r), ["Think 2026, Las Vegas, 2026-05-05"], "{r}");
    let ud = user_defined(&r);
    assert_eq!(ud["webhook_byName"], found, "{r}");
    assert_eq!(
        ud["eventName"],
        Value::Null,
        "the success condition clears the slots: {r}"
    );
    assert_eq!(ud["queryPredicate"], Value::Null, "{r}");

    // Create an event: seven slots, then one callout with all of them in one string.
    let inserted = json!({"input": "Think 2026,London"});
    hook.reply(200, &inserted);
    let r = s.intent("create a new event", "newEvent").await;
    assert_eq!(texts(&r), ["How should I name it? (use quotes)"], "{r}");
    let prompts = [
        ("\"Think 2026\"", "At which location (city)?"),
        ("London", "Do you have an email contact or web URI?"),
        ("info@example.com", "At which date is it or does it start?"),
        ("May 4, 2026", "When does it start? (time)"),
        ("10:00", "At what date does it end?"),
        ("May 6, 2026", "And at what time does it end?"),
    ];
    for (answer, next_prompt) in prompts {
        let r = s.answer(answer).await;
        assert_eq!(texts(&r), [next_prompt], "after {answer:?}: {r}");
    }
    assert_eq!(hook.count(), 1, "no insert callout before the last slot");
    let r = s.answer("17:30").await;
    assert_eq!(hook.count(), 2);
    assert_eq!(
        hook.last().json(),
        json!({
            "actionname": "insert",
            "eventValues": "Think 2026,London,2026-05-04,10:00:00,2026-05-06, 17:30:00, info@example.com ",
        })
    );
    assert_eq!(
        hook.last().header(SLACK_SKILL_HEADER.0).as_deref(),
        Some(SLACK_SKILL_HEADER.1)
    );
    // The first (sequential) variation is `<? $webhook_insert ?>`: the JSON object as text.
    assert_eq!(texts(&r), [inserted.to_string()], "{r}");
    let ud = user_defined(&r);
    assert_eq!(ud["webhook_insert"], inserted, "{r}");
    for slot in [
        "eventName",
        "location",
        "eventDate",
        "startTime",
        "eventEndDate",
        "endTime",
        "eventContact",
    ] {
        assert_eq!(
            ud[slot],
            Value::Null,
            "{slot} cleared by the success condition: {r}"
        );
    }

    let calls = server
        .webhook_calls("assistant_id=slackbot&kind=dialog", 2)
        .await;
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0]["request_body"]
        .as_str()
        .unwrap_or("")
        .contains("\"actionname\":\"insert\""));
    assert!(calls[1]["request_body"]
        .as_str()
        .unwrap_or("")
        .contains("\"actionname\":\"searchByName\""));
    assert!(server
        .webhook_calls("assistant_id=slackbot&kind=dialog&failed=true", 0)
        .await
        .is_empty());
}

#[tokio::test]
async fn slack_failed_search_keeps_the_slots_and_reports_the_error() {
    let Some(skill) = skill_path(SLACK) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "slackbot",
        &skill,
        &DialogHook {
            url: hook.url("/dispatch.json"),
            secret: Some("slack secret"),
            // Same name as the skill's header (other case): the config's value wins.
            headers: &[("X-REQUIRE-WHISK-AUTH", "the-real-whisk-secret")],
        },
    )
    .await;
    let s = server.session("slackbot").await;
    hook.reply(500, &json!({"error": "database unavailable"}));
    let r = slack_search_by_name(&s, &hook, "\"Index 2026\"").await;
    let got = hook.last();
    assert_eq!(
        got.json(),
        json!({"eventname": "Index 2026", "actionname": "searchByName"})
    );
    assert_eq!(
        got.header(SLACK_SKILL_HEADER.0).as_deref(),
        Some("the-real-whisk-secret")
    );
    assert_jwt(&got, "slack secret");
    assert!(
        visited(&r).iter().any(|n| n == "response_7_1575995991156"),
        "the anything_else condition fires: {r}"
    );
    assert!(
        !visited(&r).iter().any(|n| n == "node_3_1516880577327"),
        "{r}"
    );
    let ud = user_defined(&r);
    assert_eq!(ud["webhook_byName"], Value::Null, "{r}");
    assert_eq!(
        ud["eventName"], "\"Index 2026\"",
        "the success condition's context is not applied: {r}"
    );
    assert_eq!(ud["queryPredicate"], "identifier", "{r}");
    assert_eq!(
        webhook_error(&r, "webhook_byName"),
        "Webhook responded with [500] status code"
    );

    let calls = server
        .webhook_calls("assistant_id=slackbot&kind=dialog&failed=true", 1)
        .await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        !calls[0].to_string().contains("the-real-whisk-secret"),
        "secret header values are not recorded: {}",
        calls[0]
    );
}

// ---------------------------------------------------------------------------------------------
// kif01 Going-Serverless-in-Watson-Assistant: two webhooks into `webhook_result_2` (plans, a
// child node reached from `#Plans` by input or by a response condition's jump) and
// `webhook_result_1` (account frame with `$number`/`$otp` slots, `skip_user_input` into a
// "Check Response" node whose conditions test the result).

#[tokio::test]
async fn kif01_plans_and_account_webhooks_stateful() {
    let Some(skill) = skill_path(KIF) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "telecom",
        &skill,
        &DialogHook {
            url: hook.url("/TeelcomAction.json"),
            secret: None,
            headers: &[],
        },
    )
    .await;
    let s = server.session("telecom").await;

    // Plans: the choice comes as the next input.
    let r = s.intent("What are your plans?", "Plans").await;
    assert_eq!(texts(&r), ["Choose a plan:"], "{r}");
    assert_eq!(hook.count(), 0);
    hook.reply(200, &json!({"response": "Plan 2: 10 GB for 25 AED"}));
    let r = s.intent("Plan 2", "Plans").await;
    assert_eq!(hook.count(), 1);
    assert_eq!(
        hook.last().json(),
        json!({"action": "service", "entity": "Plan 2"})
    );
    assert_eq!(response_types(&r), ["pause", "text"], "{r}");
    assert_eq!(texts(&r), ["Plan 2: 10 GB for 25 AED"], "{r}");
    assert_eq!(
        user_defined(&r)["webhook_result_2"],
        json!({"response": "Plan 2: 10 GB for 25 AED"})
    );

    // Account: two number slots, then the callout with the numbers as numbers.
    let r = s.intent("I want to check my account", "Account").await;
    assert_eq!(texts(&r), ["Please enter your Account Number:"], "{r}");
    let r = s.answer("12345").await;
    assert_eq!(texts(&r), ["Please enter your OTP:"], "{r}");
    assert_eq!(
        hook.count(),
        1,
        "no account callout before the slots are filled"
    );
    hook.reply(200, &json!({"result": "Welcome back, Khalil"}));
    let r = s.answer("6789").await;
    assert_eq!(hook.count(), 2);
    assert_eq!(
        hook.last().json(),
        json!({"OTP": 6789, "action": "account", "accountID": 12345})
    );
    assert_eq!(
        texts(&r),
        ["Welcome back, Khalil", "What would you like to check?"],
        "{r}"
    );
    assert_eq!(
        user_defined(&r)["webhook_result_1"],
        json!({"result": "Welcome back, Khalil"})
    );

    // Signed in: the root node that reads `$webhook_result_1.result` answers without a callout.
    let r = s.intent("I want to check my monthly plan", "MyPlan").await;
    assert_eq!(hook.count(), 2, "no new callout: {r}");
    assert!(
        texts(&r)
            .first()
            .is_some_and(|t| t.starts_with("Your Monthly Plan:")),
        "{r}"
    );

    let calls = server
        .webhook_calls("assistant_id=telecom&kind=dialog", 2)
        .await;
    let bodies: Vec<Value> = calls
        .iter()
        .map(|c| {
            serde_json::from_str(c["request_body"].as_str().unwrap_or("")).unwrap_or(Value::Null)
        })
        .collect();
    assert_eq!(
        bodies,
        [
            json!({"OTP": 6789, "action": "account", "accountID": 12345}),
            json!({"action": "service", "entity": "Plan 2"}),
        ]
    );
}

#[tokio::test]
async fn kif01_account_rejected_and_invalid_json() {
    let Some(skill) = skill_path(KIF) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "telecom",
        &skill,
        &DialogHook {
            url: hook.url("/TeelcomAction.json"),
            secret: None,
            headers: &[],
        },
    )
    .await;
    let s = server.session("telecom").await;

    // The service rejects the credentials: its result drives "Check Response".
    hook.reply(200, &json!({"result": "Incorrect credentials"}));
    s.intent("I want to check my account", "Account").await;
    s.answer("11111").await;
    let r = s.answer("2222").await;
    assert_eq!(
        hook.last().json(),
        json!({"OTP": 2222, "action": "account", "accountID": 11111})
    );
    assert_eq!(
        texts(&r),
        ["Incorrect credentials", "Invalid credentials"],
        "{r}"
    );
    let ud = user_defined(&r);
    assert_eq!(ud["number"], Value::Null, "{r}");
    assert_eq!(ud["otp"], Value::Null, "{r}");

    // The service answers garbage: the variable is null, the error is reported.
    hook.reply_raw(200, "{\"result\": ");
    s.intent("I want to check my account", "Account").await;
    s.answer("33333").await;
    let r = s.answer("4444").await;
    assert_eq!(hook.count(), 2);
    assert_eq!(
        hook.last().json(),
        json!({"OTP": 4444, "action": "account", "accountID": 33333})
    );
    assert_eq!(user_defined(&r)["webhook_result_1"], Value::Null, "{r}");
    assert_eq!(
        webhook_error(&r, "webhook_result_1"),
        "Webhook responded with invalid JSON body"
    );
    assert!(
        !visited(&r).iter().any(|n| n == "response_9_1591545310440"),
        "the success condition does not fire: {r}"
    );
    assert_eq!(texts(&r), ["What would you like to check?"], "{r}");

    let failed = server
        .webhook_calls("assistant_id=telecom&kind=dialog&failed=true", 1)
        .await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        failed[0]["error"],
        "Webhook responded with invalid JSON body"
    );
    assert_eq!(failed[0]["response_body"], "{\"result\": ");
}

/// Stateless: one message with the plan named jumps (response condition -> `jump_to` condition)
/// into the plans webhook node.
#[tokio::test]
async fn kif01_plan_in_one_stateless_message() {
    let Some(skill) = skill_path(KIF) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "telecom",
        &skill,
        &DialogHook {
            url: hook.url("/plans"),
            secret: Some("kif secret"),
            headers: &[("X-Require-Whisk-Auth", "whisk-key")],
        },
    )
    .await;
    hook.reply(200, &json!({"response": "Plan 3: unlimited for 40 AED"}));
    let r = server
        .stateless(
            "telecom",
            json!({"input": {
                "text": "tell me about Plan 3",
                "intents": [{"intent": "Plans", "confidence": 1.0}],
                "options": {"debug": true},
            }}),
        )
        .await;
    assert_eq!(hook.count(), 1, "{r}");
    let got = hook.last();
    assert_eq!(got.json(), json!({"action": "service", "entity": "Plan 3"}));
    assert_eq!(
        got.header("x-require-whisk-auth").as_deref(),
        Some("whisk-key")
    );
    assert_jwt(&got, "kif secret");
    assert_signature(&got, "kif secret");
    assert_eq!(texts(&r), ["Plan 3: unlimited for 40 AED"], "{r}");
    assert_eq!(
        user_defined(&r)["webhook_result_2"],
        json!({"response": "Plan 3: unlimited for 40 AED"}),
        "{r}"
    );

    // Receiver fails: the failure condition has no text at all.
    hook.reply(503, &json!({"error": "maintenance"}));
    let r = server
        .stateless(
            "telecom",
            json!({"input": {
                "text": "tell me about Plan 1",
                "intents": [{"intent": "Plans", "confidence": 1.0}],
                "options": {"debug": true},
            }}),
        )
        .await;
    assert_eq!(hook.count(), 2);
    assert_eq!(
        hook.last().json(),
        json!({"action": "service", "entity": "Plan 1"})
    );
    assert_eq!(user_defined(&r)["webhook_result_2"], Value::Null, "{r}");
    assert_eq!(
        webhook_error(&r, "webhook_result_2"),
        "Webhook responded with [503] status code"
    );
    assert!(texts(&r).is_empty(), "{r}");

    let calls = server
        .webhook_calls("assistant_id=telecom&kind=dialog", 2)
        .await;
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0]["status_code"], 503);
    assert_eq!(calls[1]["status_code"], 200);
    assert!(calls
        .iter()
        .all(|c| !c.to_string().contains("whisk-key") && !c.to_string().contains("kif secret")));
}

#[tokio::test]
async fn webhook_calls_need_the_api_key() {
    let Some(skill) = skill_path(TWITTER) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "twitter",
        &skill,
        &DialogHook {
            url: hook.url("/twitter"),
            secret: None,
            headers: &[],
        },
    )
    .await;
    let r = server
        .http
        .get(format!("{}/v1/webhook_calls?kind=dialog", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
}

// ---------------------------------------------------------------------------------------------
// The skill's own `webhooks[0]` (no config override): its URL (with static query parameters)
// and its headers, whose values are expressions evaluated at call time.

#[tokio::test]
async fn twitter_skill_url_and_expression_headers_without_override() {
    let Some(original) = skill_path(TWITTER) else {
        return;
    };
    let hook = Receiver::start().await;
    let dir = temp_dir("twitter-skill");
    let skill = skill_with_webhook(
        &original,
        &dir,
        json!({
            "url": hook.url("/skill-url/twitter?static=1&lang=en"),
            "name": "main_webhook",
            "headers": [
                {"name": "X-Account", "value": "$account"},
                {"name": "X-Static", "value": "plain value"},
                {"name": "Content-Type", "value": "application/json"},
            ],
        }),
    );
    let server = start_server_with("twitter", &skill, None, OPEN).await;
    let tweets = json!({"response": {"result": {"result": ["a", "b", "c"]}}});
    hook.reply(200, &tweets);
    let r = server
        .stateless("twitter", twitter_request("@blackmirror"))
        .await;
    assert_eq!(hook.count(), 1, "{r}");
    let got = hook.last();
    assert_eq!(got.path, "/skill-url/twitter");
    assert_eq!(got.query.as_deref(), Some("static=1&lang=en"));
    assert_eq!(got.json(), json!({"account": "@blackmirror"}));
    assert_common_headers(&got);
    assert_eq!(
        got.header("x-account").as_deref(),
        Some("@blackmirror"),
        "header values are expressions"
    );
    assert_eq!(got.header("x-static").as_deref(), Some("plain value"));
    assert!(got.header("authorization").is_none());
    assert_eq!(
        texts(&r),
        ["Last Tweets for @blackmirror:<br> - a <br> - b<br> - c"],
        "{r}"
    );
    let calls = server
        .webhook_calls("assistant_id=twitter&kind=dialog", 1)
        .await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        calls[0]["url"],
        hook.url("/skill-url/twitter?static=1&lang=en")
    );
}

/// The export as published (`"url": "https://"`) with no override: the failure path, at once.
#[tokio::test]
async fn twitter_export_dead_url_takes_the_failure_path() {
    let Some(skill) = skill_path(TWITTER) else {
        return;
    };
    let server = start_server_with("twitter", &skill, None, OPEN).await;
    let started = Instant::now();
    let r = server
        .stateless("twitter", twitter_request("@blackmirror"))
        .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(visited(&r).iter().any(|n| n == TWEETS_FAIL_NODE), "{r}");
    assert_eq!(user_defined(&r)["webhook_result_1"], Value::Null, "{r}");
    assert!(!webhook_error(&r, "webhook_result_1").is_empty());
}

/// The SSRF guard applies to dialog webhooks too, whether the URL comes from the skill or the
/// config: the receiver on 127.0.0.1 is refused unless private addresses are allowed, and an
/// http:// URL in the skill is refused unless http is allowed.
#[tokio::test]
async fn kif01_guarded_receiver_is_refused_and_the_failure_path_fires() {
    let Some(original) = skill_path(KIF) else {
        return;
    };
    let hook = Receiver::start().await;
    hook.reply(200, &json!({"response": "never sent"}));
    let plan = json!({"input": {
        "text": "tell me about Plan 1",
        "intents": [{"intent": "Plans", "confidence": 1.0}],
        "options": {"debug": true},
    }});

    // Config URL, private addresses not allowed.
    let server = start_server_with(
        "telecom",
        &original,
        Some(&DialogHook {
            url: hook.url("/config-url"),
            secret: None,
            headers: &[],
        }),
        Guards {
            allow_http: true,
            allow_private_addresses: false,
        },
    )
    .await;
    let r = server.stateless("telecom", plan.clone()).await;
    assert_eq!(hook.count(), 0, "refused before connecting: {r}");
    assert_eq!(user_defined(&r)["webhook_result_2"], Value::Null, "{r}");
    let reason = webhook_error(&r, "webhook_result_2");
    assert!(
        reason.starts_with("Webhook request failed") && reason.contains("loopback"),
        "{reason}"
    );
    assert!(
        !visited(&r).iter().any(|n| n == "response_8_1591984888534"),
        "{r}"
    );
    let failed = server
        .webhook_calls("assistant_id=telecom&kind=dialog&failed=true", 1)
        .await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["error"], reason);
    assert_eq!(failed[0]["status_code"], Value::Null);
    drop(server);

    // The skill's own http:// URL, http not allowed.
    let dir = temp_dir("kif-http");
    let skill = skill_with_webhook(
        &original,
        &dir,
        json!({"url": hook.url("/skill-url"), "name": "main_webhook", "headers": []}),
    );
    let server = start_server_with(
        "telecom",
        &skill,
        None,
        Guards {
            allow_http: false,
            allow_private_addresses: true,
        },
    )
    .await;
    let r = server.stateless("telecom", plan).await;
    assert_eq!(hook.count(), 0, "{r}");
    assert_eq!(user_defined(&r)["webhook_result_2"], Value::Null, "{r}");
    let reason = webhook_error(&r, "webhook_result_2");
    assert!(
        reason.starts_with("Webhook request failed") && reason.contains("http://"),
        "{reason}"
    );
}

/// The "query event by dates" frame: two `@sys-date` slots fill one after the other, then one
/// callout with both dates in one parameter; a second search by name in the same session shows
/// the success condition's second (sequential) variation.
#[tokio::test]
async fn slack_search_by_dates_then_by_name_again() {
    let Some(skill) = skill_path(SLACK) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "slackbot",
        &skill,
        &DialogHook {
            url: hook.url("/dispatch.json"),
            secret: None,
            headers: &[],
        },
    )
    .await;
    let s = server.session("slackbot").await;
    let r = s
        .intent("query the event information", "showConference")
        .await;
    assert_eq!(
        texts(&r),
        ["Do you want to search by identifier or date?"],
        "{r}"
    );
    let r = s.answer("by date").await;
    assert_eq!(user_defined(&r)["queryPredicate"], "date", "{r}");
    assert_eq!(
        texts(&r),
        ["When is the start date of the event you are searching?"],
        "{r}"
    );
    let r = s.answer("December 1, 2026").await;
    assert_eq!(texts(&r), ["When is the end?"], "{r}");
    assert_eq!(hook.count(), 0);
    let found = json!({"data": "2 events in December", "result": "Think, Index"});
    hook.reply(200, &found);
    let r = s.answer("December 5, 2026").await;
    assert_eq!(hook.count(), 1);
    assert_eq!(
        hook.last().json(),
        json!({"actionname": "searchByDates", "eventdates": "2026-12-01,2026-12-05"})
    );
    assert_eq!(texts(&r), ["2 events in December"], "{r}");
    let ud = user_defined(&r);
    assert_eq!(ud["webhook_byDates"], found, "{r}");
    for cleared in ["eventDateBegin", "eventDateEnd", "queryPredicate"] {
        assert_eq!(ud[cleared], Value::Null, "{cleared}: {r}");
    }

    // Two searches by name: the success condition's variations in turn.
    for (i, name) in ["\"Think 2026\"", "\"Index 2026\""].into_iter().enumerate() {
        let reply = json!({"data": format!("data {i}"), "result": format!("result {i}")});
        hook.reply(200, &reply);
        let r = slack_search_by_name(&s, &hook, name).await;
        assert_eq!(
            hook.last().json(),
            json!({"eventname": name.trim_matches('"'), "actionname": "searchByName"})
        );
        let text = texts(&r).join(" | ");
        if i == 0 {
            assert_eq!(text, "data 0", "{r}");
        } else {
            assert!(
                text.starts_with("I have the following:") && text.ends_with(" result 1"),
                "{r}"
            );
        }
        assert_eq!(user_defined(&r)["webhook_byName"], reply, "{r}");
    }
    assert_eq!(hook.count(), 3);
    let calls = server
        .webhook_calls("assistant_id=slackbot&kind=dialog", 3)
        .await;
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls
        .iter()
        .all(|c| c["status_code"] == 200 && c["error"].is_null()));
}

// ---------------------------------------------------------------------------------------------
// More receiver behaviour through the kif01 plans webhook (stateless: one message per call).

fn plan_request(plan: &str) -> Value {
    json!({"input": {
        "text": format!("tell me about {plan}"),
        "intents": [{"intent": "Plans", "confidence": 1.0}],
        "options": {"debug": true},
    }})
}

async fn kif_server(hook: &Receiver) -> Option<Server> {
    let skill = skill_path(KIF)?;
    Some(
        start_server(
            "telecom",
            &skill,
            &DialogHook {
                url: hook.url("/plans"),
                secret: None,
                headers: &[],
            },
        )
        .await,
    )
}

/// Concurrent messages, each waiting on its own slow callout, get their own results.
#[tokio::test]
async fn kif01_concurrent_callouts_do_not_mix_results() {
    let hook = Receiver::start().await;
    let Some(server) = kif_server(&hook).await else {
        return;
    };
    hook.respond_with(
        |req| json!({"response": format!("details of {}", req["entity"].as_str().unwrap_or("?"))}),
    );
    hook.set_delay(Duration::from_millis(150));
    let plans = [
        "Plan 1", "Plan 2", "Plan 3", "Plan 1", "Plan 2", "Plan 3", "Plan 1", "Plan 2",
    ];
    let started = Instant::now();
    let replies = futures_join_all(
        plans
            .iter()
            .map(|p| server.stateless("telecom", plan_request(p))),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(150 * plans.len() as u64),
        "callouts of different messages run concurrently ({:?})",
        started.elapsed()
    );
    for (plan, r) in plans.iter().zip(&replies) {
        assert_eq!(texts(r), [format!("details of {plan}")], "{r}");
        assert_eq!(
            user_defined(r)["webhook_result_2"],
            json!({"response": format!("details of {plan}")})
        );
    }
    assert_eq!(hook.count(), plans.len());
    let calls = server
        .webhook_calls("assistant_id=telecom&kind=dialog", plans.len())
        .await;
    assert_eq!(calls.len(), plans.len(), "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| c["latency_ms"].as_i64().unwrap_or(0) >= 150),
        "{calls:?}"
    );
}

/// Join without a futures dependency: spawn nothing, poll all on this task.
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// An empty 200 body is a successful empty-string result (Watson: test it with `.size() == 0`).
#[tokio::test]
async fn kif01_empty_body_is_an_empty_string_result() {
    let hook = Receiver::start().await;
    let Some(server) = kif_server(&hook).await else {
        return;
    };
    hook.reply_raw(200, "");
    let r = server.stateless("telecom", plan_request("Plan 1")).await;
    assert_eq!(hook.count(), 1);
    assert_eq!(user_defined(&r)["webhook_result_2"], "", "{r}");
    assert!(r["output"].get("webhook_error").is_none(), "{r}");
    let calls = server
        .webhook_calls("assistant_id=telecom&kind=dialog", 1)
        .await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["error"], Value::Null);
    assert!(server
        .webhook_calls("assistant_id=telecom&kind=dialog&failed=true", 0)
        .await
        .is_empty());
}

/// A redirect is a failure, never followed.
#[tokio::test]
async fn kif01_redirect_is_not_followed() {
    let hook = Receiver::start().await;
    let Some(server) = kif_server(&hook).await else {
        return;
    };
    hook.reply_raw(302, "");
    hook.set_headers(&[("location", &hook.url("/elsewhere"))]);
    let r = server.stateless("telecom", plan_request("Plan 2")).await;
    let paths: Vec<String> = hook.received().iter().map(|g| g.path.clone()).collect();
    assert_eq!(paths, ["/plans"], "the Location was not followed");
    assert_eq!(user_defined(&r)["webhook_result_2"], Value::Null, "{r}");
    assert_eq!(
        webhook_error(&r, "webhook_result_2"),
        "Webhook responded with [302] status code"
    );
}

/// A reply over the 4 MB webhook response cap is a failure.
#[tokio::test]
async fn kif01_oversized_reply_is_a_failure() {
    let hook = Receiver::start().await;
    let Some(server) = kif_server(&hook).await else {
        return;
    };
    let big = format!("{{\"response\":\"{}\"}}", "x".repeat(4_200_000));
    hook.reply_raw(200, &big);
    let r = server.stateless("telecom", plan_request("Plan 3")).await;
    assert_eq!(hook.count(), 1);
    assert_eq!(user_defined(&r)["webhook_result_2"], Value::Null, "{r}");
    let reason = webhook_error(&r, "webhook_result_2");
    assert!(!reason.is_empty() && reason.len() < 200, "{reason}");
    let failed = server
        .webhook_calls("assistant_id=telecom&kind=dialog&failed=true", 1)
        .await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]["response_body"].as_str().map_or(0, str::len) <= 20 * 1024,
        "recorded bodies are capped at 20 KB"
    );
}

/// Per-environment dialog webhook: `draft` overrides the URL, `live` keeps the assistant's;
/// the calls are recorded with their environment.
#[tokio::test]
async fn kif01_environment_overrides_the_dialog_webhook() {
    let Some(skill) = skill_path(KIF) else {
        return;
    };
    let hook = Receiver::start().await;
    hook.reply(200, &json!({"response": "ok"}));
    let extra = format!(
        "\n[[assistants.environments]]\nid = \"draft\"\n\n\
         [assistants.environments.webhooks.dialog]\nurl = {}\nheaders = {{ \"X-Env\" = \"draft\" }}\n",
        toml_string(&hook.url("/draft"))
    );
    let server = start_server_extra(
        "telecom",
        &skill,
        Some(&DialogHook {
            url: hook.url("/live"),
            secret: None,
            headers: &[],
        }),
        OPEN,
        &extra,
    )
    .await;
    let r = server.stateless("telecom", plan_request("Plan 1")).await;
    assert_eq!(texts(&r), ["ok"], "{r}");
    let (s, r) = server
        .post(
            "/v2/assistants/telecom/environments/draft/message",
            plan_request("Plan 2"),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(texts(&r), ["ok"], "{r}");
    let got = hook.received();
    let paths: Vec<&str> = got.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(paths, ["/live", "/draft"]);
    assert_eq!(got[0].header("x-env"), None);
    assert_eq!(got[1].header("x-env").as_deref(), Some("draft"));
    assert_eq!(
        got[1].json(),
        json!({"action": "service", "entity": "Plan 2"})
    );
    let calls = server
        .webhook_calls("assistant_id=telecom&kind=dialog", 2)
        .await;
    let envs: Vec<&str> = calls
        .iter()
        .map(|c| c["environment_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(envs, ["draft", "live"], "{calls:?}");
}

/// "Start over" while the new-event frame is collecting: the frame's generic handler
/// (`skip_all_slots`) goes straight to the node response, so the insert callout still runs,
/// with the unfilled slots rendering as empty strings.
#[tokio::test]
async fn slack_start_over_skips_the_slots_and_still_calls_out() {
    let Some(skill) = skill_path(SLACK) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "slackbot",
        &skill,
        &DialogHook {
            url: hook.url("/dispatch.json"),
            secret: None,
            headers: &[],
        },
    )
    .await;
    let s = server.session("slackbot").await;
    hook.reply(200, &json!({"input": "partial"}));
    s.intent("create a new event", "newEvent").await;
    let r = s.answer("\"Think 2026\"").await;
    assert_eq!(texts(&r), ["At which location (city)?"], "{r}");
    assert_eq!(hook.count(), 0);
    let r = s.intent("Please reset", "Bot_Control_Start_Over").await;
    assert_eq!(hook.count(), 1, "{r}");
    assert_eq!(
        hook.last().json(),
        json!({"actionname": "insert", "eventValues": "Think 2026,,,,, ,  "})
    );
    assert_eq!(
        texts(&r),
        [
            "ok, exiting",
            json!({"input": "partial"}).to_string().as_str()
        ],
        "{r}"
    );
    assert_eq!(
        user_defined(&r)["webhook_insert"],
        json!({"input": "partial"})
    );

    // Start over before naming the event: `$eventName.substring(...)` fails on null, which is
    // logged (without values); that part renders empty and the callout still runs.
    s.intent("create a new event", "newEvent").await;
    let r = s.intent("Please reset", "Bot_Control_Start_Over").await;
    assert_eq!(hook.count(), 2, "{r}");
    assert_eq!(
        hook.last().json(),
        json!({"actionname": "insert", "eventValues": ",,,,, ,  "})
    );
    let logs = r["output"]["debug"]["log_messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(logs.len(), 1, "logged once, not once per replay: {r}");
    assert_eq!(logs[0]["level"], "error", "{r}");
}

/// With a secret configured, an Authorization header set in the config wins over the JWT;
/// the Standard Webhooks signature is still sent.
#[tokio::test]
async fn jira_configured_authorization_header_wins_over_the_jwt() {
    let Some(skill) = skill_path(JIRA) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "jira",
        &skill,
        &DialogHook {
            url: hook.url("/jira"),
            secret: Some("jira secret"),
            headers: &[("Authorization", "Basic amlyYTp0b2tlbg==")],
        },
    )
    .await;
    let s = server.session("jira").await;
    hook.reply(200, &json!({"message": "ok"}));
    jira_to_confirmation(&s, &hook, "Kurz", "Lang und breit").await;
    let r = s.intent("Ja", "Ja").await;
    assert_eq!(texts(&r), ["ok"], "{r}");
    let got = hook.last();
    assert_eq!(
        got.header("authorization").as_deref(),
        Some("Basic amlyYTp0b2tlbg==")
    );
    assert_signature(&got, "jira secret");
    let calls = server
        .webhook_calls("assistant_id=jira&kind=dialog", 1)
        .await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        !calls[0].to_string().contains("amlyYTp0b2tlbg=="),
        "{}",
        calls[0]
    );
}

/// Nothing listens at the URL: a connection error, reported, and gone from the next turn's
/// output while the null variable stays in the session.
#[tokio::test]
async fn jira_connection_refused_then_the_error_is_per_turn() {
    let Some(skill) = skill_path(JIRA) else {
        return;
    };
    let hook = Receiver::start().await; // only counts that nothing arrives
    let dead = format!("http://127.0.0.1:{}/jira", free_port());
    let server = start_server(
        "jira",
        &skill,
        &DialogHook {
            url: dead.clone(),
            secret: Some("jira secret"),
            headers: &[],
        },
    )
    .await;
    let s = server.session("jira").await;
    jira_to_confirmation(&s, &hook, "Kurz", "Lang").await;
    let r = s.intent("Ja", "Ja").await;
    assert_eq!(texts(&r), [JIRA_FAILED_TEXT], "{r}");
    let reason = webhook_error(&r, "webhook_result_1").to_owned();
    assert!(reason.starts_with("Webhook request failed"), "{reason}");
    assert!(!reason.contains("jira secret"), "{reason}");
    assert_eq!(user_defined(&r)["webhook_result_1"], Value::Null, "{r}");

    let r = s.answer("Hallo").await;
    assert!(r["output"].get("webhook_error").is_none(), "{r}");
    assert!(
        user_defined(&r)
            .as_object()
            .is_some_and(|m| m.get("webhook_result_1") == Some(&Value::Null)),
        "{r}"
    );
    let failed = server
        .webhook_calls("assistant_id=jira&kind=dialog&failed=true", 1)
        .await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["url"], dead);
    assert_eq!(failed[0]["error"], reason.as_str());
    assert_eq!(failed[0]["status_code"], Value::Null);
    assert_eq!(hook.count(), 0);
}

/// Order within one message: pre-message -> the skill's callout -> post-message. The pre hook
/// rewrites the text, so the callout gets the account it put there; the post hook sees the
/// result in the full context.
#[tokio::test]
async fn twitter_pre_message_rewrite_reaches_the_dialog_callout() {
    let Some(skill) = skill_path(TWITTER) else {
        return;
    };
    let hook = Receiver::start().await;
    let extra = format!(
        "\n[assistants.webhooks.pre_message]\nurl = {}\n\n[assistants.webhooks.post_message]\nurl = {}\n",
        toml_string(&hook.url("/pre")),
        toml_string(&hook.url("/post"))
    );
    let server = start_server_extra(
        "twitter",
        &skill,
        Some(&DialogHook {
            url: hook.url("/dialog"),
            secret: None,
            headers: &[],
        }),
        OPEN,
        &extra,
    )
    .await;
    let tweets = json!({"response": {"result": {"result": ["x", "y", "z"]}}});
    let dialog_reply = tweets.clone();
    hook.respond_with(move |body| match body["event"]["name"].as_str() {
        Some("message_received") => {
            let mut payload = body["payload"].clone();
            payload["input"]["text"] = json!("show me the last tweets of @stranger_things");
            json!({ "payload": payload })
        }
        Some(_) => json!({ "payload": body["payload"] }),
        None => dialog_reply.clone(),
    });
    let s = server.session("twitter").await;
    let r = s
        .intent("show me the last tweets of @blackmirror", "twitter")
        .await;
    let got = hook.received();
    let paths: Vec<&str> = got.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(paths, ["/pre", "/dialog", "/post"], "{r}");
    assert_eq!(got[1].json(), json!({"account": "@stranger_things"}));
    assert_eq!(
        got[2].json()["payload"]["context"]["skills"]["main skill"]["user_defined"]
            ["webhook_result_1"],
        tweets
    );
    assert_eq!(
        texts(&r),
        ["Last Tweets for @stranger_things:<br> - x <br> - y<br> - z"],
        "{r}"
    );
    let dialog = server
        .webhook_calls("assistant_id=twitter&kind=dialog", 1)
        .await;
    assert_eq!(dialog.len(), 1, "{dialog:?}");
    let all = server.webhook_calls("assistant_id=twitter", 3).await;
    let kinds: Vec<&str> = all.iter().filter_map(|c| c["kind"].as_str()).collect();
    assert_eq!(kinds.len(), 3, "{all:?}");
    for k in ["pre_message", "dialog", "post_message"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
}

/// The Jira skill with its two failure conditions swapped, as its author meant them: the
/// `output.webhook_error` condition sees the reason in the same turn and renders it.
#[tokio::test]
async fn jira_webhook_error_condition_renders_the_reason() {
    let Some(original) = skill_path(JIRA) else {
        return;
    };
    let dir = temp_dir("jira-swapped");
    let skill = skill_copy(&original, &dir, |skill| {
        for node in skill["dialog_nodes"].as_array_mut().into_iter().flatten() {
            match node["dialog_node"].as_str() {
                Some("response_2_1607444477380") => {
                    node["previous_sibling"] = json!("response_5_1607444297523")
                }
                Some("response_2_1607444299072") => {
                    node["previous_sibling"] = json!("response_2_1607444477380")
                }
                _ => {}
            }
        }
    });
    let hook = Receiver::start().await;
    let server = start_server_with(
        "jira",
        &skill,
        Some(&DialogHook {
            url: hook.url("/jira"),
            secret: None,
            headers: &[],
        }),
        OPEN,
    )
    .await;
    let s = server.session("jira").await;
    hook.reply(500, &json!({"errorMessages": ["boom"]}));
    jira_to_confirmation(&s, &hook, "Kurz", "Lang").await;
    let r = s.intent("Ja", "Ja").await;
    assert_eq!(
        texts(&r),
        ["Leider gab es einen Fehler: Webhook responded with [500] status code."],
        "{r}"
    );
    assert!(
        visited(&r).iter().any(|n| n == "response_2_1607444477380"),
        "{r}"
    );

    // And success still takes the first condition.
    hook.reply(200, &json!({"message": "Erstellt."}));
    jira_to_confirmation(&s, &hook, "Kurz", "Lang").await;
    let r = s.intent("Ja", "Ja").await;
    assert_eq!(texts(&r), ["Erstellt."], "{r}");
}

/// Two callouts in one message (the twitter skill with a lookup added to the node that jumps):
/// they run in order, the first lands in a nested `context.` path, and the second's parameters
/// read it.
#[tokio::test]
async fn twitter_two_callouts_in_one_message_chain_their_results() {
    let Some(original) = skill_path(TWITTER) else {
        return;
    };
    let dir = temp_dir("twitter-two");
    let skill = twitter_with_lookup(&original, &dir);
    let hook = Receiver::start().await;
    let server = start_server_with(
        "twitter",
        &skill,
        Some(&DialogHook {
            url: hook.url("/twitter"),
            secret: None,
            headers: &[],
        }),
        OPEN,
    )
    .await;
    hook.respond_with(|body| {
        if body["step"] == "lookup" {
            json!({"id": 42, "name": "Black Mirror"})
        } else {
            json!({"response": {"result": {"result": [
                format!("tweet for user {}", body["user_id"]), "two", "three"
            ]}}})
        }
    });
    let r = server
        .stateless("twitter", twitter_request("@blackmirror"))
        .await;
    let bodies: Vec<Value> = hook.received().iter().map(Received::json).collect();
    assert_eq!(
        bodies,
        [
            json!({"step": "lookup", "account": "@blackmirror"}),
            json!({"account": "@blackmirror", "user_id": 42}),
        ],
        "{r}"
    );
    assert_eq!(
        user_defined(&r)["lookup"],
        json!({"user": {"id": 42, "name": "Black Mirror"}}),
        "{r}"
    );
    assert_eq!(
        texts(&r),
        ["Last Tweets for @blackmirror:<br> - tweet for user 42 <br> - two<br> - three"],
        "{r}"
    );
    let calls = server
        .webhook_calls("assistant_id=twitter&kind=dialog", 2)
        .await;
    assert_eq!(calls.len(), 2, "{calls:?}");
}

/// The twitter skill with a lookup callout (into `context.lookup.user`) added to the node that
/// jumps to the tweets callout, whose parameters then read `$lookup.user.id`.
fn twitter_with_lookup(original: &std::path::Path, dir: &TempDir) -> PathBuf {
    skill_copy(original, dir, |skill| {
        for node in skill["dialog_nodes"].as_array_mut().into_iter().flatten() {
            match node["dialog_node"].as_str() {
                Some("node_9_1566983058682") => {
                    node["actions"] = json!([{
                        "name": "main_webhook",
                        "type": "webhook",
                        "parameters": {"step": "lookup", "account": "$account"},
                        "result_variable": "context.lookup.user",
                    }]);
                }
                Some("node_3_1566980911557") => {
                    node["actions"][0]["parameters"] =
                        json!({"account": "$account", "user_id": "$lookup.user.id"});
                }
                _ => {}
            }
        }
    })
}

/// All callouts of one message share one 8 s budget: a 5 s lookup leaves 3 s for the second.
#[tokio::test]
#[ignore = "takes the whole 8 s dialog webhook budget (not configurable); run with --ignored"]
async fn twitter_two_callouts_share_the_8s_budget() {
    let Some(original) = skill_path(TWITTER) else {
        return;
    };
    let dir = temp_dir("twitter-budget");
    let skill = twitter_with_lookup(&original, &dir);
    let hook = Receiver::start().await;
    let server = start_server_with(
        "twitter",
        &skill,
        Some(&DialogHook {
            url: hook.url("/twitter"),
            secret: None,
            headers: &[],
        }),
        OPEN,
    )
    .await;
    hook.respond_with(|_| json!({"id": 7}));
    hook.set_delay(Duration::from_secs(5));
    let started = Instant::now();
    let r = server
        .stateless("twitter", twitter_request("@blackmirror"))
        .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(8) && took < Duration::from_millis(9000),
        "answered after {took:?}"
    );
    assert_eq!(hook.count(), 2);
    assert_eq!(
        user_defined(&r)["lookup"],
        json!({"user": {"id": 7}}),
        "{r}"
    );
    assert_eq!(user_defined(&r)["webhook_result_1"], Value::Null, "{r}");
    assert_eq!(
        webhook_error(&r, "webhook_result_1"),
        "Webhook request timed out"
    );
    assert!(visited(&r).iter().any(|n| n == TWEETS_FAIL_NODE), "{r}");
}

/// Two messages sent at once to one session while callouts are slow: they are processed one
/// after the other (the second sees the first's turn), each with its own callout.
#[tokio::test]
async fn kif01_same_session_messages_with_slow_callouts_are_serialised() {
    let hook = Receiver::start().await;
    let Some(server) = kif_server(&hook).await else {
        return;
    };
    let s = server.session("telecom").await;
    let r = s.intent("What are your plans?", "Plans").await;
    assert_eq!(texts(&r), ["Choose a plan:"], "{r}");
    hook.respond_with(
        |req| json!({"response": format!("about {}", req["entity"].as_str().unwrap_or("?"))}),
    );
    hook.set_delay(Duration::from_millis(300));
    let started = Instant::now();
    let (a, b) = tokio::join!(s.intent("Plan 1", "Plans"), s.intent("Plan 2", "Plans"));
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "the second message waited for the first ({:?})",
        started.elapsed()
    );
    let mut turns = Vec::new();
    for (plan, r) in [("Plan 1", &a), ("Plan 2", &b)] {
        assert_eq!(texts(r), [format!("about {plan}")], "{r}");
        assert_eq!(
            user_defined(r)["webhook_result_2"],
            json!({"response": format!("about {plan}")})
        );
        turns.push(
            r["context"]["global"]["system"]["turn_count"]
                .as_i64()
                .unwrap_or(0),
        );
    }
    turns.sort_unstable();
    assert_eq!(turns, [2, 3], "{a}\n{b}");
    assert_eq!(hook.count(), 2, "one callout per message");
}

/// A receiver that sends its headers and then one byte every 200 ms never holds the message
/// past the 8 s budget.
#[tokio::test]
#[ignore = "takes the whole 8 s dialog webhook budget (not configurable); run with --ignored"]
async fn twitter_dribbling_receiver_is_cut_at_the_budget() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(skill) = skill_path(TWITTER) else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if sock.write_all(b" ").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let server = start_server(
        "twitter",
        &skill,
        &DialogHook {
            url: format!("http://{addr}/dribble"),
            secret: None,
            headers: &[],
        },
    )
    .await;
    let started = Instant::now();
    let r = server
        .stateless("twitter", twitter_request("@blackmirror"))
        .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(8) && took < Duration::from_millis(9000),
        "answered after {took:?}"
    );
    assert_eq!(user_defined(&r)["webhook_result_1"], Value::Null, "{r}");
    assert_eq!(
        webhook_error(&r, "webhook_result_1"),
        "Webhook request timed out"
    );
}

/// The welcome node presets `webhook_result_1 = {"result": null}`; the callout's result replaces
/// the variable whole (no merge with the preset object).
#[tokio::test]
async fn kif01_result_replaces_the_preset_variable_whole() {
    let hook = Receiver::start().await;
    let Some(server) = kif_server(&hook).await else {
        return;
    };
    let s = server.session("telecom").await;
    let r = s.say(json!({"text": ""})).await;
    assert!(
        texts(&r)
            .first()
            .is_some_and(|t| t.starts_with("Hello 👋 I'm your T-Com assistant")),
        "{r}"
    );
    assert_eq!(
        user_defined(&r)["webhook_result_1"],
        json!({"result": null}),
        "{r}"
    );
    s.intent("I want to check my account", "Account").await;
    s.answer("12345").await;
    hook.reply(200, &json!({"status": "ok", "name": "Khalil"}));
    let r = s.answer("6789").await;
    assert_eq!(hook.count(), 1);
    assert_eq!(
        user_defined(&r)["webhook_result_1"],
        json!({"status": "ok", "name": "Khalil"}),
        "{r}"
    );
}

/// Credentials in the configured URL are sent as Basic auth and never reach the call records.
#[tokio::test]
async fn kif01_url_credentials_are_not_recorded() {
    let Some(skill) = skill_path(KIF) else {
        return;
    };
    let hook = Receiver::start().await;
    let url = hook
        .url("/plans")
        .replace("http://", "http://fn-user:fn-pass-1234@");
    let server = start_server(
        "telecom",
        &skill,
        &DialogHook {
            url,
            secret: None,
            headers: &[],
        },
    )
    .await;
    hook.reply(200, &json!({"response": "ok"}));
    let r = server.stateless("telecom", plan_request("Plan 1")).await;
    assert_eq!(texts(&r), ["ok"], "{r}");
    let basic = base64::engine::general_purpose::STANDARD.encode("fn-user:fn-pass-1234");
    assert_eq!(
        hook.last().header("authorization"),
        Some(format!("Basic {basic}")),
        "URL user info goes out as Basic auth"
    );
    let calls = server
        .webhook_calls("assistant_id=telecom&kind=dialog", 1)
        .await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        !calls[0].to_string().contains("fn-pass-1234"),
        "{}",
        calls[0]
    );
    assert_eq!(calls[0]["url"], hook.url("/plans"));
}

/// A header value computed from client-supplied context can carry CR/LF (input text cannot:
/// it is refused with 400, as Watson does): no header is injected, nothing crashes, and the turn
/// still answers.
#[tokio::test]
async fn jira_client_context_in_a_header_expression_cannot_inject_headers() {
    let Some(original) = skill_path(JIRA) else {
        return;
    };
    let hook = Receiver::start().await;
    let dir = temp_dir("jira-header");
    let skill = skill_with_webhook(
        &original,
        &dir,
        json!({
            "url": hook.url("/jira"),
            "name": "main_webhook",
            "headers": [{"name": "X-Reporter", "value": "$reporter"}],
        }),
    );
    let server = start_server_with("jira", &skill, None, OPEN).await;
    hook.reply(200, &json!({"message": "ok"}));
    let s = server.session("jira").await;
    jira_to_confirmation(&s, &hook, "Kurz", "Lang").await;
    let (st, r) = server
        .post(
            &format!("/v2/assistants/jira/sessions/{}/message", s.id),
            json!({
                "input": {
                    "text": "Ja",
                    "intents": [{"intent": "Ja", "confidence": 1.0}],
                    "options": {"return_context": true},
                },
                "context": {"skills": {"main skill": {"user_defined": {
                    "reporter": "eve\r\nX-Evil: 1"
                }}}},
            }),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    for g in hook.received() {
        assert!(g.headers.get("x-evil").is_none(), "{:?}", g.headers);
        if let Some(v) = g.header("x-reporter") {
            assert!(!v.contains('\n') && !v.contains('\r'), "{v:?}");
        }
    }
    // Either the value was made safe and the call made, or the call failed cleanly.
    let ok = texts(&r) == ["ok"];
    let failed = texts(&r) == [JIRA_FAILED_TEXT]
        && r["output"]["webhook_error"]["webhook_result_1"].is_string();
    assert!(ok || failed, "{r}");
    let (st, health) = server
        .call(server.http.get(format!("{}/healthz", server.base)))
        .await;
    assert_eq!(st, 200, "{health}");
}

/// With `debug: true`, a failed callout is also reported in `output.debug.log_messages`, as
/// pre/post-message failures are (issue 8: "Either way the failure is recorded and, with
/// `debug: true`, reported in `output.debug.log_messages`").
#[tokio::test]
async fn twitter_failed_callout_is_reported_in_debug_log_messages() {
    let Some(skill) = skill_path(TWITTER) else {
        return;
    };
    let hook = Receiver::start().await;
    let server = start_server(
        "twitter",
        &skill,
        &DialogHook {
            url: hook.url("/twitter"),
            secret: None,
            headers: &[],
        },
    )
    .await;
    hook.reply(500, &json!({"error": "down"}));
    let r = server
        .stateless("twitter", twitter_request("@blackmirror"))
        .await;
    assert_eq!(
        webhook_error(&r, "webhook_result_1"),
        "Webhook responded with [500] status code"
    );
    let logs = r["output"]["debug"]["log_messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        logs.iter().any(|l| l["level"] == "error"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("Webhook responded with [500] status code"))),
        "{r}"
    );
}

/// `result_variable` prefixes: `output.` puts the result in the response's output (not in the
/// context), `$` is optional.
#[tokio::test]
async fn kif01_result_variable_prefixes() {
    let Some(original) = skill_path(KIF) else {
        return;
    };
    let dir = temp_dir("kif-prefix");
    let skill = skill_copy(&original, &dir, |skill| {
        for node in skill["dialog_nodes"].as_array_mut().into_iter().flatten() {
            match node["dialog_node"].as_str() {
                Some("node_6_1591984888534") => {
                    node["actions"][0]["result_variable"] = json!("output.plan_info");
                }
                Some("node_7_1591542163028") => {
                    node["actions"][0]["result_variable"] = json!("$webhook_result_1");
                }
                _ => {}
            }
        }
    });
    let hook = Receiver::start().await;
    let server = start_server_with(
        "telecom",
        &skill,
        Some(&DialogHook {
            url: hook.url("/plans"),
            secret: None,
            headers: &[],
        }),
        OPEN,
    )
    .await;
    hook.reply(200, &json!({"response": "Plan 1 details"}));
    let r = server.stateless("telecom", plan_request("Plan 1")).await;
    assert_eq!(hook.count(), 1);
    assert_eq!(
        r["output"]["plan_info"],
        json!({"response": "Plan 1 details"}),
        "{r}"
    );
    assert!(user_defined(&r).get("plan_info").is_none(), "{r}");
    assert!(user_defined(&r).get("webhook_result_2").is_none(), "{r}");

    hook.reply(500, &json!({}));
    let r = server.stateless("telecom", plan_request("Plan 2")).await;
    assert_eq!(r["output"]["plan_info"], Value::Null, "{r}");
    assert!(r["output"].get("plan_info").is_some(), "set to null: {r}");
    assert_eq!(
        webhook_error(&r, "plan_info"),
        "Webhook responded with [500] status code"
    );

    let s = server.session("telecom").await;
    hook.reply(200, &json!({"result": "Hi"}));
    s.intent("I want to check my account", "Account").await;
    s.answer("12345").await;
    let r = s.answer("6789").await;
    assert_eq!(
        user_defined(&r)["webhook_result_1"],
        json!({"result": "Hi"}),
        "{r}"
    );
    assert_eq!(texts(&r).first().map(String::as_str), Some("Hi"), "{r}");
}

/// The skill's own `Authorization` header (what Watson's "Add authorization" stores) is the
/// user's header: with a config secret it still wins over the JWT.
#[tokio::test]
async fn kif01_skill_authorization_header_wins_over_the_config_jwt() {
    let Some(original) = skill_path(KIF) else {
        return;
    };
    let hook = Receiver::start().await;
    let dir = temp_dir("kif-basic");
    let skill = skill_with_webhook(
        &original,
        &dir,
        json!({
            "url": "https://eu-gb.functions.appdomain.cloud/api/v1/web/ns/default/TeelcomAction.json",
            "name": "main_webhook",
            "headers": [{"name": "Authorization", "value": "Basic dXNlcjpwYXNz"}],
        }),
    );
    let server = start_server_with(
        "telecom",
        &skill,
        Some(&DialogHook {
            url: hook.url("/plans"),
            secret: Some("kif secret"),
            headers: &[],
        }),
        OPEN,
    )
    .await;
    hook.reply(200, &json!({"response": "ok"}));
    let r = server.stateless("telecom", plan_request("Plan 1")).await;
    assert_eq!(texts(&r), ["ok"], "{r}");
    let got = hook.last();
    assert_eq!(got.path, "/plans", "the config URL replaces the skill's");
    assert_eq!(
        got.header("authorization").as_deref(),
        Some("Basic dXNlcjpwYXNz")
    );
    assert_signature(&got, "kif secret");
}
