//! No token or secret in plaintext in the database file (WAL included) or in the logs.

use crate::helpers::{captured_logs, session_of, spawn_app};

fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_token_or_secret_is_stored_or_logged_in_plaintext() {
    let app = spawn_app().await;
    let (owner, html) = app.installed_store("store1").await;
    let load = app.bc.load_url("store1", &owner, "/");
    app.get(load.clone()).await;
    let token = app
        .bc
        .access_token("store1")
        .expect("stand-in issued a token");
    let hook_secret = app.bc.webhooks("store1")[0]["headers"]["X-Sequra-Webhook-Secret"]
        .as_str()
        .unwrap()
        .to_string();
    let client_secret = app.bc.client_secret();
    let jwt = load
        .query_pairs()
        .find(|(k, _)| k == "signed_payload_jwt")
        .unwrap()
        .1
        .into_owned();
    let session = session_of(&html);

    let db = app.state.db.path().to_path_buf();
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let files = [file_bytes(&db), file_bytes(std::path::Path::new(&wal))];
    assert!(files.iter().map(Vec::len).sum::<usize>() > 0);
    for bytes in &files {
        assert!(
            !contains(bytes, &token),
            "access token in the database file"
        );
        assert!(
            !contains(bytes, &hook_secret),
            "webhook secret in the database file"
        );
    }

    let logs = captured_logs();
    assert!(logs.contains("store installed"), "logs were captured");
    for (what, secret) in [
        ("access token", token.as_str()),
        ("webhook secret", hook_secret.as_str()),
        ("client secret", client_secret.as_str()),
        ("signed payload", jwt.as_str()),
        ("session token", session.as_str()),
    ] {
        assert!(!logs.contains(secret), "{what} appears in the logs");
    }
}

#[tokio::test]
async fn request_logs_carry_the_store_hash_and_status() {
    let app = spawn_app().await;
    let (owner, _) = app.installed_store("logstore").await;
    app.get(app.bc.load_url("logstore", &owner, "/")).await;
    let logs = captured_logs();
    let load_lines: Vec<&str> = logs.lines().filter(|l| l.contains("/bc/load")).collect();
    assert!(
        load_lines
            .iter()
            .any(|l| l.contains("store_hash=\"logstore\"") && l.contains("status=200")),
        "{load_lines:#?}"
    );
}
