//! The official IBM Watson Python SDK (ibm-watson 11.x) against the real `dialogic` binary.
//!
//! Needs a Python with `ibm-watson` installed, named by `DIALOGIC_TEST_PYTHON` (.ci/run makes a
//! virtualenv and sets it). Without it the test says so and skips.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    base_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir =
        std::env::temp_dir().join(format!("dialogic-sdk-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn start(dir: &Path, api_key: Option<&str>) -> Server {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo-skill.json");
    let keys = api_key
        .map(|k| format!("[\"{k}\"]"))
        .unwrap_or_else(|| "[]".into());
    let config = format!(
        "[server]\napi_keys = {keys}\n\n[storage]\nurl = \"sqlite://{}/dialogic.db\"\n\n\
         [[assistants]]\nid = \"demo\"\nname = \"Demo\"\nskill = \"{demo}\"\n",
        dir.display()
    );
    let config_path = dir.join("dialogic.toml");
    std::fs::write(&config_path, config).expect("write config");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_dialogic"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start dialogic");
    let server = Server {
        child,
        base_url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !healthy(port) {
        assert!(
            Instant::now() < deadline,
            "dialogic did not become healthy within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

fn python() -> Option<String> {
    match std::env::var("DIALOGIC_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            eprintln!(
                "skipping the IBM Python SDK test: DIALOGIC_TEST_PYTHON is not set \
                 (.ci/run sets it to a virtualenv with ibm-watson installed)"
            );
            None
        }
    }
}

fn run_check(python: &str, server: &Server, api_key: Option<&str>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/ibm_sdk_check.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).arg(&server.base_url);
    if let Some(k) = api_key {
        cmd.arg(k);
    }
    let out = cmd.output().expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("SDK CHECK PASSED"),
        "the IBM SDK check failed:\n{stdout}\n{stderr}"
    );
}

#[test]
fn ibm_python_sdk_without_auth() {
    let Some(py) = python() else { return };
    let dir = temp_dir("noauth");
    let server = start(&dir, None);
    run_check(&py, &server, None);
}

#[test]
fn ibm_python_sdk_with_api_key() {
    let Some(py) = python() else { return };
    let dir = temp_dir("apikey");
    let server = start(&dir, Some("sdk-test-key"));
    run_check(&py, &server, Some("sdk-test-key"));
}
