//! A fresh, isolated store per test: an SQLite temp file, or a PostgreSQL schema of its own.

use std::path::PathBuf;
use std::sync::Arc;

use dialogic_store::{open, Store};

pub const POSTGRES_ENV: &str = "DIALOGIC_TEST_POSTGRES_URL";

pub struct Harness {
    pub store: Arc<dyn Store>,
    /// The url this store was opened with (open it again to get a second "process").
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Schema { base_url: String, schema: String },
}

impl Harness {
    pub async fn sqlite() -> Harness {
        let dir = std::env::temp_dir().join(format!("dialogic-store-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}", dir.join("store.db").display());
        let store = open(&url).await.expect("open sqlite");
        Harness {
            store,
            url,
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// None (with a message) when `DIALOGIC_TEST_POSTGRES_URL` is not set.
    pub async fn postgres() -> Option<Harness> {
        let Ok(base_url) = std::env::var(POSTGRES_ENV) else {
            // Once per run, and past the test harness's output capture, so it is seen.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping PostgreSQL: {POSTGRES_ENV} not set"
                );
            });
            return None;
        };
        let schema = format!("dialogic_test_{}", uuid::Uuid::new_v4().simple());
        {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(&base_url)
                .await
                .expect("connect to DIALOGIC_TEST_POSTGRES_URL");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&mut conn)
                .await
                .expect("create test schema");
            conn.close().await.expect("close");
        }
        let sep = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{sep}options=-c%20search_path%3D{schema}");
        let store = open(&url).await.expect("open postgres");
        Some(Harness {
            store,
            url,
            cleanup: Cleanup::Schema { base_url, schema },
        })
    }

    /// A second, independent store on the same database (another process, as far as the
    /// database can tell).
    pub async fn reopen(&self) -> Arc<dyn Store> {
        open(&self.url).await.expect("reopen")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema { base_url, schema } => {
                // Runs on panics too; a runtime of its own because Drop cannot await.
                let (base_url, name) = (base_url.clone(), schema.clone());
                let dropped = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async move {
                        use sqlx::Connection as _;
                        let mut conn = sqlx::PgConnection::connect(&base_url).await?;
                        sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                            .execute(&mut conn)
                            .await?;
                        conn.close().await
                    })
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    eprintln!("warning: could not drop test schema {schema}");
                }
            }
        }
    }
}
