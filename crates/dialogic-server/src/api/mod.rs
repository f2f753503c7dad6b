//! The HTTP API: Watson's v2 message API (exact shapes, codes and messages), the Node SDK's
//! environment calls, health, and the `/v1` operations API (webhook calls, deliveries).

mod environments;
mod health;
mod logs;
mod message;
mod ops;
mod request;
mod sessions;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;

use crate::envelope::ApiError;
use crate::state::SharedState;

/// The whole API.
pub fn router(state: SharedState) -> Router {
    let v2 = Router::new()
        .route("/v2/assistants/{assistant_id}/sessions", post(sessions::create))
        .route(
            "/v2/assistants/{assistant_id}/sessions/{session_id}",
            delete(sessions::delete),
        )
        .route(
            "/v2/assistants/{assistant_id}/sessions/{session_id}/message",
            post(message::stateful),
        )
        .route("/v2/assistants/{assistant_id}/message", post(message::stateless))
        .route(
            "/v2/assistants/{assistant_id}/environments/{environment_id}/sessions",
            post(sessions::create),
        )
        .route(
            "/v2/assistants/{assistant_id}/environments/{environment_id}/sessions/{session_id}",
            delete(sessions::delete),
        )
        .route(
            "/v2/assistants/{assistant_id}/environments/{environment_id}/sessions/{session_id}/message",
            post(message::stateful),
        )
        .route(
            "/v2/assistants/{assistant_id}/environments/{environment_id}/message",
            post(message::stateless),
        )
        .route(
            "/v2/assistants/{assistant_id}/environments",
            get(environments::list),
        )
        .route(
            "/v2/assistants/{assistant_id}/environments/{environment_id}",
            get(environments::get_one),
        )
        .route("/v2/assistants/{assistant_id}/logs", get(logs::list))
        .route("/v2/user_data", delete(logs::delete_user_data))
        .route("/v1/webhook_calls", get(ops::webhook_calls))
        .route("/v1/deliveries", get(ops::deliveries))
        .route("/v1/deliveries/retry", post(ops::retry_many))
        .route("/v1/deliveries/{id}/retry", post(ops::retry_one))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_api_key));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(v2)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
    )
}

/// `Authorization: Basic base64(apikey:<key>)` or `Bearer <key>`; no keys = open.
async fn require_api_key(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    if state.api_keys.is_empty() {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(request::api_key_from_header);
    match given {
        Some(k)
            if state
                .api_keys
                .iter()
                .any(|known| constant_time_eq(known, &k)) =>
        {
            next.run(req).await
        }
        _ => ApiError::unauthorized().into_response(),
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
