//! The one conformance suite every `Store` backend must pass.
//!
//! Each case is an async fn taking a [`Harness`]; the `conformance!` macro turns every case into
//! one test per backend: SQLite (a fresh temp file, always) and PostgreSQL (a fresh schema in
//! the database at `DIALOGIC_TEST_POSTGRES_URL`, dropped afterwards; skipped with a message when
//! the variable is not set).

mod cases;
mod harness;

pub use harness::Harness;

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let h = crate::Harness::sqlite().await;
                    crate::cases::$case(&h).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(h) = crate::Harness::postgres().await else {
                        return;
                    };
                    crate::cases::$case(&h).await;
                }
            )*
        }
    };
}

conformance!(
    backend_name_and_ping,
    session_crud,
    session_expiry_and_sweep,
    commit_turn_updates_session_and_writes_log,
    commit_turn_conflict_writes_nothing,
    commit_turn_on_deleted_session_is_a_conflict,
    concurrent_commits_exactly_one_wins,
    logs_pagination_newest_first,
    logs_pagination_oldest_first,
    logs_session_filter,
    logs_invalid_cursor,
    logs_customer_filter_and_delete_customer_data,
    delivery_sequence_per_session,
    claim_respects_session_order,
    claim_respects_lease,
    claim_respects_due_time_and_limit,
    dead_event_does_not_block_its_session,
    concurrent_claimers_never_share_a_row,
    concurrent_workers_deliver_each_session_in_order,
    record_attempt_outcomes,
    record_attempt_never_undoes_delivered,
    record_attempt_unknown_delivery,
    list_and_get_deliveries_with_attempts,
    retry_one,
    retry_batch_by_status_and_since,
    webhook_calls_filters_newest_first,
    survives_reopen,
    json_round_trips_exactly,
    concurrent_turns_with_failures_commit_the_rest,
    record_attempts_in_one_batch,
    delivery_bodies_explicit_and_from_the_log,
    concurrent_writes_of_every_kind_with_failures,
);

mod sqlite_only {
    use dialogic_store::{open, StoreError};

    #[tokio::test]
    async fn memory_url_works() {
        let store = open("sqlite::memory:").await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        store.ping().await.unwrap();
        let page = store
            .list_logs(&dialogic_store::LogQuery {
                assistant_id: "a".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.matched, 0);
    }

    #[tokio::test]
    async fn creates_missing_parent_directories() {
        let dir = std::env::temp_dir().join(format!("dialogic-store-{}", uuid::Uuid::new_v4()));
        let path = dir.join("a/b/dialogic.db");
        let store = open(&format!("sqlite://{}", path.display())).await.unwrap();
        store.ping().await.unwrap();
        assert!(path.exists());
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn simultaneous_opens_of_a_fresh_file_both_succeed() {
        let dir = std::env::temp_dir().join(format!("dialogic-store-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}", dir.join("fresh.db").display());
        let (a, b, c) = tokio::join!(open(&url), open(&url), open(&url));
        for store in [a.unwrap(), b.unwrap(), c.unwrap()] {
            store.ping().await.unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Session loads run inline on a read connection of their own: another process holding
    /// the write lock mid-transaction neither delays them nor shows them its uncommitted
    /// change, and a damaged row is an error, not a panic.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn session_reads_ignore_a_held_write_lock_and_report_damaged_rows() {
        let dir = std::env::temp_dir().join(format!("dialogic-store-{}", uuid::Uuid::new_v4()));
        let path = dir.join("reads.db");
        let store = open(&format!("sqlite://{}", path.display())).await.unwrap();
        let now = chrono::Utc::now();
        let session = dialogic_store::Session {
            id: "s1".into(),
            assistant_id: "a".into(),
            environment_id: "live".into(),
            context: serde_json::json!({"global": {"session_id": "s1"}, "skills": {}}),
            created_at: now,
            last_active: now,
            timeout_secs: 3600,
            version: 0,
        };
        store.create_session(&session).await.unwrap();

        let other = rusqlite::Connection::open(&path).unwrap();
        other
            .execute_batch("BEGIN IMMEDIATE; UPDATE sessions SET version = 7 WHERE id = 's1'")
            .unwrap();
        let started = std::time::Instant::now();
        let loaded = store.load_session("a", "s1", now).await.unwrap().unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(loaded.version, 0, "an uncommitted change must not be seen");
        assert_eq!(loaded.context, session.context);
        assert!(store.load_session("b", "s1", now).await.unwrap().is_none());
        other.execute_batch("ROLLBACK").unwrap();

        other
            .execute(
                "UPDATE sessions SET context = '{not json' WHERE id = 's1'",
                [],
            )
            .unwrap();
        let err = store.load_session("a", "s1", now).await.err();
        assert!(err.is_some(), "a damaged context must be an error");
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn bad_url_is_refused_without_leaking_it() {
        for url in [
            "mysql://user:hunter2@host/db",
            "hunter2",
            "",
            "redis://:hunter2@x",
        ] {
            let err = open(url).await.err().expect("must be refused");
            let shown = err.to_string();
            assert!(matches!(err, StoreError::BadUrl(_)), "{url}: {err:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }
}
