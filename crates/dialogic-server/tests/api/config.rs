use std::path::Path;

use dialogic_server::cli::check;
use dialogic_server::config::{load, load_str, OnError};

use crate::support::temp_dir;

const EXAMPLE: &str = include_str!("../../dialogic.example.toml");

#[test]
fn the_example_config_parses_validates_and_compiles() {
    let loaded = load_str(EXAMPLE, Path::new(".")).expect("example parses");
    assert_eq!(loaded.config.validate(), vec![]);
    assert_eq!(check::problems(&loaded), vec![]);
    assert_eq!(loaded.config.server.max_body.0, 1_000_000);
    assert_eq!(loaded.config.delivery.retry_schedule.len(), 7);
}

#[test]
fn every_problem_is_reported_at_once() {
    let toml = r#"
[server]
listen = "nowhere"
[storage]
url = "mysql://x"
[delivery]
lease = "5s"
[[assistants]]
id = "bad id!"
skill = "missing.json"
session_timeout = "200h"
  [assistants.webhooks.pre_message]
  url = "http://hooks.example.com/pre"
  timeout = "31s"
  [assistants.webhooks.post_message]
  url = "not a url"
  secret = ""
  [[assistants.environments]]
  id = "x"
  [[assistants.environments]]
  id = "x"
"#;
    let loaded = load_str(toml, Path::new(".")).expect("parses");
    let problems = loaded.config.validate();
    let at: Vec<&str> = problems.iter().map(|p| p.location.as_str()).collect();
    for expected in [
        "server.listen",
        "storage.url",
        "assistants[bad id!].id",
        "assistants[bad id!].session_timeout",
        "assistants[bad id!].webhooks.pre_message.url",
        "assistants[bad id!].webhooks.pre_message.timeout",
        "assistants[bad id!].webhooks.post_message.url",
        "assistants[bad id!].webhooks.post_message.secret",
        "assistants[bad id!].environments[x].id",
        "delivery.lease",
    ] {
        assert!(at.contains(&expected), "missing {expected} in {at:?}");
    }
    // The skill problem comes from compiling, reported by `config check` with the rest.
    let all = check::problems(&loaded);
    assert!(
        all.iter()
            .any(|p| p.location.contains("skill missing.json")),
        "{all:?}"
    );
    let mut out = Vec::new();
    assert!(!check::report(&loaded, &mut out).unwrap());
    assert!(String::from_utf8(out).unwrap().contains("problem(s)"));
}

#[test]
fn unknown_keys_are_refused() {
    let err = load_str(
        "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n",
        Path::new("."),
    )
    .expect_err("unknown key");
    assert!(format!("{err:?}").contains("lisen"), "{err:?}");
}

#[test]
fn environment_variables_override_the_file_and_units_parse() {
    let dir = temp_dir();
    let file = dir.join("dialogic.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:9000\"\nmax_body = \"2MiB\"\n[[assistants]]\nid = \"a\"\nskill = \"builtin:demo\"\nsession_timeout = \"2h\"\n  [assistants.webhooks.pre_message]\n  url = \"https://h.example.com/pre\"\n  on_error = \"fail\"\n  secret = \"s3cr3t-value\"\n",
    )
    .unwrap();
    let env = [
        ("DIALOGIC_STORAGE__URL", "postgres://root@127.0.0.1/test"),
        ("DIALOGIC_SERVER__API_KEYS", "[\"k1\",\"k2\"]"),
        ("DIALOGIC_DELIVERY__CONCURRENCY", "4"),
        (
            "DIALOGIC_TEST_POSTGRES_URL",
            "ignored: not a config section",
        ),
        ("OTHER", "ignored"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let loaded = load(Some(&file), env).expect("loads");
    let c = &loaded.config;
    assert_eq!(c.server.listen, "127.0.0.1:9000");
    assert_eq!(c.server.max_body.0, 2 * 1024 * 1024);
    assert_eq!(c.storage.url, "postgres://root@127.0.0.1/test");
    assert_eq!(c.server.api_keys.len(), 2);
    assert_eq!(c.delivery.concurrency, 4);
    assert_eq!(c.assistants[0].session_timeout.0.as_secs(), 7200);
    let pre = c.assistants[0].webhooks.pre_message.as_ref().unwrap();
    assert_eq!(pre.on_error, OnError::Fail);
    assert_eq!(pre.timeout.0.as_secs(), 8);
    assert_eq!(loaded.base_dir, dir);
    // Secrets never show in Debug.
    let printed = format!("{c:?}");
    assert!(
        !printed.contains("s3cr3t-value") && !printed.contains("\"k1\""),
        "{printed}"
    );
    assert!(c.validate().is_empty(), "{:?}", c.validate());
}

#[test]
fn no_config_file_means_the_demo() {
    let loaded = load(None, Vec::<(String, String)>::new()).expect("loads");
    assert_eq!(loaded.config.assistants[0].id, "demo");
    assert_eq!(loaded.config.server.listen, "127.0.0.1:8080");
    assert_eq!(
        loaded.config.storage.url,
        "sqlite://dialogic-data/dialogic.db"
    );
    assert!(check::problems(&loaded).is_empty());
}

#[test]
fn skill_problems_name_the_assistant_environment_and_node() {
    let dir = temp_dir();
    std::fs::write(
        dir.join("broken.json"),
        r##"{"name":"b","language":"en","intents":[],"entities":[],"dialog_nodes":[{"dialog_node":"n1","conditions":"#a &&& (","output":{"text":"x"}}]}"##,
    )
    .unwrap();
    let toml = "[[assistants]]\nid = \"t\"\nskill = \"broken.json\"\n";
    let loaded = load_str(toml, &dir).unwrap();
    let problems = check::problems(&loaded);
    assert!(!problems.is_empty());
    let text = problems[0].to_string();
    assert!(
        text.contains("assistant t") && text.contains("environment draft") && text.contains("n1"),
        "{text}"
    );
}

#[test]
fn shared_skills_compile_when_present() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/skills"
    ));
    if !dir.exists() {
        eprintln!("skipping: ../shared not found");
        return;
    }
    let mut toml = String::new();
    for (i, entry) in std::fs::read_dir(dir).unwrap().enumerate() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            toml.push_str(&format!(
                "[[assistants]]\nid = \"s{i}\"\nskill = {:?}\n",
                p.display().to_string()
            ));
        }
    }
    let loaded = load_str(&toml, dir).unwrap();
    assert_eq!(check::problems(&loaded), vec![]);
}
