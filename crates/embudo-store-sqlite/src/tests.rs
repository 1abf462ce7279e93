use std::collections::BTreeSet;
use std::path::Path;

use embudo_core::Timestamp;
use embudo_store::Store;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection};

use super::{PAGE_SIZE, SqliteStore, chunk_sizes, chunks};

/// The page size a SQLite file's header records (bytes 16 and 17, big-endian; 1 means 65536).
fn header_page_size(path: &Path) -> u32 {
    let header = std::fs::read(path).expect("the database file");
    match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        size => u32::from(size),
    }
}

#[tokio::test]
async fn a_new_database_gets_the_adapters_page_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store
        .create_workspace("tienda", &[], Timestamp::from_millis(1))
        .await
        .unwrap();
    store.close().await;
    assert_eq!(header_page_size(&path), PAGE_SIZE);
}

#[tokio::test]
async fn a_database_made_with_other_pages_keeps_them_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let mut connection = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .page_size(4096)
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE earlier (x INTEGER)")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    assert_eq!(header_page_size(&path), 4096);

    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let workspace = store
        .create_workspace("tienda", &[], Timestamp::from_millis(1))
        .await
        .unwrap();
    assert_eq!(store.workspaces().await.unwrap(), [workspace]);
    store.close().await;
    assert_eq!(header_page_size(&path), 4096);
}

#[test]
fn chunk_sizes_cover_the_rows_with_few_distinct_sizes() {
    let mut sizes_seen = BTreeSet::new();
    for n_rows in 0..=2_000 {
        let sizes: Vec<usize> = chunk_sizes(n_rows, 500).collect();
        assert_eq!(sizes.iter().sum::<usize>(), n_rows, "{n_rows}: {sizes:?}");
        let full = n_rows / 500;
        assert!(sizes[..full].iter().all(|&size| size == 500), "{sizes:?}");
        let rest = &sizes[full..];
        assert!(
            rest.iter()
                .all(|size| size.is_power_of_two() && *size < 500),
            "{n_rows}: {sizes:?}"
        );
        assert!(rest.windows(2).all(|pair| pair[0] > pair[1]), "{sizes:?}");
        sizes_seen.extend(sizes);
    }
    // Every batch's statements come from these texts: 500 and 256, 128, …, 1.
    assert_eq!(
        sizes_seen.into_iter().collect::<Vec<_>>(),
        [1, 2, 4, 8, 16, 32, 64, 128, 256, 500]
    );
    assert_eq!(chunk_sizes(300, 500).collect::<Vec<_>>(), [256, 32, 8, 4]);
    assert_eq!(chunk_sizes(1_000, 500).collect::<Vec<_>>(), [500, 500]);
}

#[test]
fn chunks_keep_every_item_once_in_order() {
    let items: Vec<u32> = (0..1_234).collect();
    let cut: Vec<&[u32]> = chunks(&items, 500).collect();
    assert_eq!(
        cut.iter().map(|chunk| chunk.len()).collect::<Vec<_>>(),
        [500, 500, 128, 64, 32, 8, 2]
    );
    assert_eq!(cut.concat(), items);
    assert_eq!(chunks(&[] as &[u32], 500).count(), 0);
}
