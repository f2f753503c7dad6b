//! Integration tests of the delivery worker: a real store (SQLite file; PostgreSQL when
//! DIALOGIC_TEST_POSTGRES_URL is set), the real webhook client and a real HTTP receiver,
//! driven by `run_once(now)` on a virtual clock.

mod harness;
mod receiver;

mod background;
mod headers;
mod order;
mod restart;
mod schedule;
mod shared_database;
mod targets;
