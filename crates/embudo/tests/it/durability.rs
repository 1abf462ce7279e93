//! An acknowledged write survives SIGKILL: clients keep sending while the server is killed,
//! and every message that got `{"success": true}` is in the log afterwards.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use embudo_store::Store;
use serde_json::json;

use crate::support::TestDir;

#[test]
fn no_acknowledged_event_is_lost_when_the_server_is_killed() {
    let dir = TestDir::new();
    let created = dir.run(&["workspace", "create", "tienda", "--json"]);
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let write_key = created["write_key"].as_str().unwrap().to_owned();
    let mut server = dir.serve();
    let url = server.url.clone();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let senders: Vec<_> = (0..4)
        .map(|client| {
            let url = url.clone();
            let key = write_key.clone();
            let acknowledged = Arc::clone(&acknowledged);
            runtime.spawn(async move {
                let http = ::reqwest::Client::new();
                // Bounded: at most 400 batches per client, or until the server is gone.
                for batch_no in 0..400 {
                    let ids: Vec<String> = (0..50).map(|i| format!("c{client}-b{batch_no}-m{i}")).collect();
                    let batch: Vec<_> = ids
                        .iter()
                        .map(|id| json!({"type": "track", "event": "Product Viewed", "userId": format!("u{client}"),
                                         "messageId": id, "properties": {"product_id": "p1"}}))
                        .collect();
                    let sent = http
                        .post(format!("{url}/v1/batch"))
                        .basic_auth(&key, Some(""))
                        .json(&json!({"batch": batch}))
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status().is_success() => {
                            let body: serde_json::Value = response.json().await.unwrap_or_default();
                            if body["success"] == json!(true) {
                                acknowledged.lock().unwrap().extend(ids);
                            }
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    // Let the clients get going, then kill the server in the middle of their traffic.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acknowledged.lock().unwrap().len() < 5_000 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill(); // SIGKILL on Unix: no shutdown, no flush.
    runtime.block_on(async {
        for sender in senders {
            let _ = sender.await;
        }
    });
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 5_000,
        "the clients got only {} acknowledgements",
        acknowledged.len()
    );

    // Reopen the database the server was writing and look for every acknowledged message.
    let stored: HashSet<String> = runtime.block_on(async {
        let store = embudo_store_sqlite::SqliteStore::connect(&dir.database_url())
            .await
            .unwrap();
        let mut ids = HashSet::new();
        let mut after = 0;
        loop {
            let page = store.read_log(after, 10_000).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.seq;
            ids.extend(page.into_iter().map(|logged| logged.event.message_id));
        }
        ids
    });
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}
