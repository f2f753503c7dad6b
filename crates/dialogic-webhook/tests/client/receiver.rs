//! An in-process webhook receiver on 127.0.0.1:0 that records every request and whose reply
//! (status, delay, body, headers) can be changed mid-test. Also serves an OAuth2 token
//! endpoint (`/token`) and a bearer-protected hook (`/protected`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::Router;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug)]
pub struct Behaviour {
    pub status: u16,
    pub delay: Duration,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct OAuthState {
    /// The token `/protected` currently accepts.
    valid: Option<String>,
    issued: u32,
    expires_in: u64,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    oauth: Arc<Mutex<OAuthState>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            addr: listener.local_addr().unwrap(),
            recorded: Arc::default(),
            behaviour: Arc::new(Mutex::new(Behaviour {
                status: 200,
                delay: Duration::ZERO,
                body: br#"{"ok":true}"#.to_vec(),
                headers: Vec::new(),
            })),
            oauth: Arc::new(Mutex::new(OAuthState {
                expires_in: 3600,
                ..Default::default()
            })),
        };
        let app = Router::new().fallback(handle).with_state(receiver.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        receiver
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }

    pub fn last(&self) -> Recorded {
        self.recorded().pop().expect("the receiver got no request")
    }

    pub fn tokens_issued(&self) -> u32 {
        self.oauth.lock().unwrap().issued
    }

    /// Make `/protected` refuse every token issued so far (a revocation).
    pub fn revoke_tokens(&self) {
        self.oauth.lock().unwrap().valid = None;
    }
}

async fn handle(State(r): State<Receiver>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    r.recorded.lock().unwrap().push(Recorded {
        path: path.clone(),
        headers: headers.clone(),
        body,
    });
    match path.as_str() {
        "/token" => {
            let mut oauth = r.oauth.lock().unwrap();
            oauth.issued += 1;
            let token = format!("tok-{}", oauth.issued);
            oauth.valid = Some(token.clone());
            let body = format!(
                r#"{{"access_token":"{token}","token_type":"bearer","expires_in":{}}}"#,
                oauth.expires_in
            );
            return Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
        }
        "/protected" => {
            let valid = r.oauth.lock().unwrap().valid.clone();
            let given = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if valid.is_none() || given != valid.map(|t| format!("Bearer {t}")) {
                return Response::builder()
                    .status(401)
                    .body(Body::from("{}"))
                    .unwrap();
            }
        }
        "/redirect" => {
            return Response::builder()
                .status(302)
                .header("location", "/elsewhere")
                .body(Body::empty())
                .unwrap();
        }
        _ => {}
    }
    let (status, delay, body, extra) = {
        let b = r.behaviour.lock().unwrap();
        (b.status, b.delay, b.body.clone(), b.headers.clone())
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    for (k, v) in extra {
        response.headers_mut().insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    response
}

/// A raw TCP receiver that accepts and then never answers.
pub async fn hanging() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// A raw TCP receiver that answers headers at once, then one body byte every `every`.
/// `chunked` sends no Content-Length (an endless chunked body) instead of a large one.
pub async fn dribbling(every: Duration, chunked: bool) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let _ = socket.read(&mut buf).await;
                let head: &[u8] = if chunked {
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n"
                };
                if socket.write_all(head).await.is_err() {
                    return;
                }
                loop {
                    tokio::time::sleep(every).await;
                    let piece: &[u8] = if chunked { b"1\r\n \r\n" } else { b" " };
                    if socket.write_all(piece).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
