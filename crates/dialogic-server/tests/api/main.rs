//! Integration tests: the real server on 127.0.0.1:0 (temp SQLite; PostgreSQL for a smoke
//! subset when DIALOGIC_TEST_POSTGRES_URL is set), talked to over HTTP.

mod api_rules;
mod chat;
mod config;
mod dialog_webhooks;
mod hooks;
mod logs_and_ops;
mod postgres;
mod shared_skills;
mod stateful;
mod stateless;
mod support;
