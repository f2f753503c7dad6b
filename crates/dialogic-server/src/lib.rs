//! # dialogic-server
//!
//! The `dialogic` binary's library: configuration, the Watson v2 message API (axum), the
//! message pipeline (pre_message hook -> NLU + dialog turn with dialog webhooks ->
//! post_message hook -> one commit -> reply), the log-delivery worker wiring, the session
//! sweeper, and the CLI commands (`serve`, `config check`, `chat`, `nlu eval`).
//!
//! Must never: hold business rules that belong to the library crates (expressions, dialog,
//! NLU, webhook protocol, storage), let a webhook change a session id or the dialog state,
//! make a client wait for a log webhook, print a secret.
//!
//! Modules:
//! - [`config`]: the typed config, human units, layering (defaults -> file -> env), validation.
//! - [`registry`]: assistants and environments with compiled skills, NLU and webhook targets.
//! - [`server`]: [`run`], the entry point used by `main` and the tests.
//! - [`api`]: routes, request reading (version, auth, body limit), the v2 and v1 handlers.
//! - [`pipeline`]: the life of a message (`context`, `hooks`, `dialog_turn`, `log_record`, `record`).
//! - [`schema`]: v2 request/response shape checks with JSON Pointer paths.
//! - [`envelope`]: Watson's error envelope.
//! - [`session_locks`]: the per-session async mutex.
//! - [`sweeper`]: deletes expired sessions.
//! - [`cli`]: `config check`, `chat`, `nlu eval`.

pub mod api;
pub mod cli;
pub mod config;
pub mod envelope;
pub mod error;
pub mod pipeline;
pub mod registry;
pub mod schema;
pub mod server;
pub mod session_locks;
pub mod state;
pub mod sweeper;

pub use error::ServerError;
pub use server::run;
