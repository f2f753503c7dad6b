//! `dialogic chat`: a terminal conversation over the v2 API (a remote server, or one started
//! in this process on an ephemeral port). Shows text, numbered options, pauses; `/debug`
//! toggles nodes visited and intents; `/quit` ends.

use std::io::{BufRead, Write};
use std::time::Duration;

use serde_json::{json, Value};

/// The API version the chat sends.
const VERSION: &str = "2024-08-25";

/// Where to talk.
pub struct ChatTarget {
    pub base_url: String,
    pub assistant: String,
    pub environment: Option<String>,
    pub api_key: Option<String>,
}

struct Session {
    http: reqwest::Client,
    target: ChatTarget,
    session_id: String,
    debug: bool,
    /// The values of the last numbered choices shown.
    choices: Vec<Value>,
}

impl Session {
    fn url(&self, tail: &str) -> String {
        let env = self
            .target
            .environment
            .as_ref()
            .map(|e| format!("/environments/{e}"))
            .unwrap_or_default();
        format!(
            "{}/v2/assistants/{}{env}{tail}?version={VERSION}",
            self.target.base_url.trim_end_matches('/'),
            self.target.assistant
        )
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.target.api_key {
            Some(k) => rb.basic_auth("apikey", Some(k)),
            None => rb,
        }
    }

    async fn send(&self, input: Value) -> anyhow::Result<Value> {
        let mut input = input;
        if let Value::Object(m) = &mut input {
            m.insert(
                "options".into(),
                json!({"debug": self.debug, "alternate_intents": self.debug}),
            );
        }
        let url = self.url(&format!("/sessions/{}/message", self.session_id));
        let res = self
            .auth(self.http.post(url))
            .json(&json!({"input": input}))
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            anyhow::bail!(
                "HTTP {status}: {}",
                body["error"].as_str().unwrap_or("error")
            );
        }
        Ok(body)
    }
}

/// Run the conversation on stdin/stdout.
pub async fn run(target: ChatTarget) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut s = Session {
        http,
        target,
        session_id: String::new(),
        debug: false,
        choices: Vec::new(),
    };
    let res = s.auth(s.http.post(s.url("/sessions"))).send().await?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let Some(sid) = body["session_id"].as_str() else {
        anyhow::bail!(
            "could not create a session (HTTP {status}: {})",
            body["error"].as_str().unwrap_or("no session_id")
        );
    };
    s.session_id = sid.to_owned();
    println!(
        "Connected to assistant {} (session {sid}). Type /debug, /quit.",
        s.target.assistant
    );
    let first = s.send(json!({"text": ""})).await?;
    show(&mut s, &first).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    loop {
        print!("you> ");
        let _ = std::io::stdout().flush();
        let Some(line) = rx.recv().await else { break };
        let line = line.trim().to_owned();
        match line.as_str() {
            "/quit" | "/exit" => break,
            "/debug" => {
                s.debug = !s.debug;
                println!("(debug {})", if s.debug { "on" } else { "off" });
                continue;
            }
            _ => {}
        }
        let input = match line.parse::<usize>() {
            Ok(n) if n >= 1 && n <= s.choices.len() => s.choices[n - 1]
                .get("input")
                .cloned()
                .unwrap_or_else(|| json!({"text": line})),
            _ => json!({"text": line}),
        };
        match s.send(input).await {
            Ok(reply) => show(&mut s, &reply).await,
            Err(e) => println!("(error: {e})"),
        }
    }
    let _ = s
        .auth(s.http.delete(s.url(&format!("/sessions/{}", s.session_id))))
        .send()
        .await;
    Ok(())
}

async fn show(s: &mut Session, reply: &Value) {
    s.choices.clear();
    let empty = vec![];
    for item in reply["output"]["generic"].as_array().unwrap_or(&empty) {
        match item["response_type"].as_str().unwrap_or("") {
            "text" => println!("bot> {}", item["text"].as_str().unwrap_or("")),
            "pause" => {
                let ms = item["time"].as_u64().unwrap_or(0).min(10_000);
                println!("bot> ...");
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            "option" => {
                println!("bot> {}", item["title"].as_str().unwrap_or(""));
                for o in item["options"].as_array().unwrap_or(&empty) {
                    s.choices.push(o["value"].clone());
                    println!(
                        "  {}. {}",
                        s.choices.len(),
                        o["label"].as_str().unwrap_or("")
                    );
                }
            }
            "suggestion" => {
                println!("bot> {}", item["title"].as_str().unwrap_or(""));
                for o in item["suggestions"].as_array().unwrap_or(&empty) {
                    s.choices.push(o["value"].clone());
                    println!(
                        "  {}. {}",
                        s.choices.len(),
                        o["label"].as_str().unwrap_or("")
                    );
                }
            }
            "image" | "video" | "audio" | "iframe" => println!(
                "bot> [{}] {} {}",
                item["response_type"].as_str().unwrap_or(""),
                item["title"].as_str().unwrap_or(""),
                item["source"].as_str().unwrap_or("")
            ),
            other => println!("bot> [{other}] {item}"),
        }
    }
    if s.debug {
        let intents: Vec<String> = reply["output"]["intents"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|i| {
                format!(
                    "#{} {:.2}",
                    i["intent"].as_str().unwrap_or(""),
                    i["confidence"].as_f64().unwrap_or(0.0)
                )
            })
            .collect();
        let entities: Vec<String> = reply["output"]["entities"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|e| {
                format!(
                    "@{}:{}",
                    e["entity"].as_str().unwrap_or(""),
                    e["value"].as_str().unwrap_or("")
                )
            })
            .collect();
        let nodes: Vec<String> = reply["output"]["debug"]["nodes_visited"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|n| {
                n["title"]
                    .as_str()
                    .or(n["dialog_node"].as_str())
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        println!("  [intents: {}]", intents.join(", "));
        println!("  [entities: {}]", entities.join(", "));
        println!("  [nodes visited: {}]", nodes.join(" -> "));
        for m in reply["output"]["debug"]["log_messages"]
            .as_array()
            .unwrap_or(&empty)
        {
            println!(
                "  [{}: {}]",
                m["level"].as_str().unwrap_or(""),
                m["message"].as_str().unwrap_or("")
            );
        }
    }
}
