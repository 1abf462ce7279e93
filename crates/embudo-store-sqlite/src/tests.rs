use std::collections::BTreeSet;

use super::{chunk_sizes, chunks};

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
