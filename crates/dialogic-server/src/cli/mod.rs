//! The CLI commands besides `serve`: `config check`, `chat` and `nlu eval`.

pub mod chat;
pub mod check;
pub mod nlu_eval;
