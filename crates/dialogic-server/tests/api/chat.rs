//! `dialogic chat --url ...`: the real binary, talking to a real server, driven on stdin the way
//! a person types.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{spawn_app, DEMO};

/// Run `dialogic chat` with these arguments, type `lines`, close stdin; its stdout and status.
async fn chat(args: Vec<String>, lines: &[&str]) -> (String, String, bool) {
    let typed: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let run = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dialogic"))
            .arg("chat")
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dialogic chat");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(typed.as_bytes())
            .expect("type");
        // stdin is dropped here: end of input ends the chat like /quit does.
        child.wait_with_output().expect("chat output")
    });
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("dialogic chat finished within 60 s")
        .expect("join");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[tokio::test]
async fn chat_shows_welcome_answers_options_and_debug() {
    let app = spawn_app(DEMO).await;
    let (out, err, ok) = chat(
        vec![
            "--url".into(),
            app.base.clone(),
            "--assistant".into(),
            "demo".into(),
        ],
        &["I want a pizza", "3", "/debug", "bye", "/quit"],
    )
    .await;
    assert!(ok, "exit status; stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("Connected to assistant demo (session "),
        "{out}"
    );
    assert!(
        out.contains("bot> Hello, I'm the Dialogic demo assistant."),
        "welcome shown: {out}"
    );
    // The slot prompt is an option list, numbered; "3" picks its third option (Large).
    assert!(
        out.contains("bot> What size would you like: small, medium or large?"),
        "{out}"
    );
    assert!(out.contains("  3. Large"), "numbered options: {out}");
    assert!(
        out.contains("bot> Great, one large pizza is on its way!"),
        "choosing 3 sent the option's input: {out}"
    );
    assert!(out.contains("(debug on)"), "{out}");
    assert!(out.contains("bot> Goodbye! Come back any time."), "{out}");
    assert!(
        out.contains("[intents: #goodbye"),
        "debug shows intents: {out}"
    );
    assert!(
        out.contains("[nodes visited: ") && out.contains("goodbye"),
        "debug shows the nodes visited: {out}"
    );
    // Nothing after /quit is sent; the session was deleted on the way out.
    let (status, logs) = app.get("/v2/assistants/demo/logs").await;
    assert_eq!(status, 200);
    let turns = logs["logs"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(turns, 4, "welcome + three messages logged: {logs}");
    app.stop().await;
}

#[tokio::test]
async fn chat_uses_the_api_key_and_reports_a_refusal() {
    let app = spawn_app(&format!("[server]\napi_keys = [\"k1\"]\n{DEMO}")).await;
    let base = vec![
        "--url".to_string(),
        app.base.clone(),
        "--assistant".into(),
        "demo".into(),
    ];

    let mut with_key = base.clone();
    with_key.extend(["--api-key".to_string(), "k1".into()]);
    let (out, err, ok) = chat(with_key, &["hello"]).await;
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("Connected to assistant demo"), "{out}");

    let mut wrong = base.clone();
    wrong.extend(["--api-key".to_string(), "nope".into()]);
    let (out, err, ok) = chat(wrong, &["hello"]).await;
    assert!(!ok, "a refused key fails the command: {out}");
    assert!(
        err.contains("could not create a session (HTTP 401"),
        "the reason is shown: {err}"
    );
    assert!(!err.contains("nope"), "the key is not echoed: {err}");

    let (out, err, ok) = chat(
        vec![
            "--url".into(),
            app.base.clone(),
            "--assistant".into(),
            "no-such-assistant".into(),
            "--api-key".into(),
            "k1".into(),
        ],
        &[],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(
        err.contains("HTTP 404") && err.contains("Resource not found"),
        "{err}"
    );
    app.stop().await;
}
