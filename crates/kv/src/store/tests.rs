use super::*;

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn put(store: &mut KvStore, key: &str, value: &str) -> PutResponse {
    store.put(b(key), b(value))
}

#[test]
fn put_creates_then_updates_with_etcd_revisions() {
    let mut store = KvStore::new();
    let first = put(&mut store, "a", "1");
    assert_eq!(first.revision, 1);
    assert_eq!(first.prev, None);
    put(&mut store, "b", "x");
    let second = put(&mut store, "a", "2");
    assert_eq!(second.revision, 3);
    assert_eq!(second.prev.map(|kv| kv.value), Some(b("1")));
    let kv = store.get(b"a").expect("a is present");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (1, 3, 2));
}

#[test]
fn delete_of_absent_key_keeps_revision() {
    let mut store = KvStore::new();
    put(&mut store, "a", "1");
    let missing = store.delete(b"zz");
    assert_eq!((missing.revision, missing.prev), (1, None));
    let deleted = store.delete(b"a");
    assert_eq!(deleted.revision, 2);
    assert!(store.get(b"a").is_none());
}

#[test]
fn recreated_key_starts_a_new_version_history() {
    let mut store = KvStore::new();
    put(&mut store, "a", "1");
    put(&mut store, "a", "2");
    store.delete(b"a");
    put(&mut store, "a", "3");
    let kv = store.get(b"a").expect("a is present");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (4, 4, 1));
}

#[test]
fn range_scans_prefix_in_order_with_limit_and_more() {
    let mut store = KvStore::new();
    for key in ["app/b", "app/a", "apple", "b", "app/c"] {
        put(&mut store, key, "v");
    }
    let page = store.range(&RangeRequest::prefix(b("app/"), 2));
    let keys: Vec<_> = page.kvs.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys, vec![b("app/a"), b("app/b")]);
    assert!(page.more);
    let rest = store.range(&RangeRequest {
        prefix: b("app/"),
        start: Some(b("app/b\0")),
        limit: 10,
    });
    assert_eq!(rest.kvs.len(), 1);
    assert!(!rest.more);
    assert_eq!(store.range(&RangeRequest::prefix(b(""), 0)).kvs.len(), 5);
}

#[test]
fn compare_and_set_by_mod_revision_and_by_value() {
    let mut store = KvStore::new();
    put(&mut store, "k", "old");
    let stale = Txn::compare_and_set(b("k"), CompareTarget::ModRevision(7), b("new"));
    let refused = store.txn(&stale);
    assert!(!refused.succeeded);
    assert_eq!(store.revision(), 1, "a failed compare writes nothing");
    let OpResponse::Range(current) = &refused.responses[0] else {
        panic!("failure branch reads the key");
    };
    assert_eq!(current.kvs[0].value, b("old"));
    let fresh = Txn::compare_and_set(b("k"), CompareTarget::ModRevision(1), b("new"));
    assert!(store.txn(&fresh).succeeded);
    let by_value = Txn::compare_and_set(b("k"), CompareTarget::Value(b("new")), b("newer"));
    assert!(store.txn(&by_value).succeeded);
    assert_eq!(store.get(b"k").map(|kv| kv.value), Some(b("newer")));
}

#[test]
fn create_if_absent_compares_mod_revision_zero() {
    let mut store = KvStore::new();
    let create = Txn::compare_and_set(b("lock"), CompareTarget::ModRevision(0), b("me"));
    assert!(store.txn(&create).succeeded);
    assert!(!store.txn(&create).succeeded);
    let by_value = Txn::compare_and_set(b("absent"), CompareTarget::Value(b("")), b("x"));
    assert!(
        !store.txn(&by_value).succeeded,
        "value compares fail on absent keys"
    );
}

#[test]
fn txn_writes_share_one_revision_and_see_each_other() {
    let mut store = KvStore::new();
    put(&mut store, "x", "0");
    let txn = Txn {
        compares: vec![Compare {
            key: b("x"),
            op: CompareOp::Greater,
            target: CompareTarget::Version(0),
        }],
        success: vec![
            Op::Put {
                key: b("y"),
                value: b("1"),
            },
            Op::Delete { key: b("x") },
            Op::Range(RangeRequest::prefix(b(""), 0)),
        ],
        failure: vec![],
    };
    let response = store.txn(&txn);
    assert!(response.succeeded);
    assert_eq!(response.revision, 2);
    assert_eq!(store.get(b"y").map(|kv| kv.mod_revision), Some(2));
    let OpResponse::Range(range) = &response.responses[2] else {
        panic!("third op is a range");
    };
    let keys: Vec<_> = range.kvs.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys, vec![b("y")]);
    assert_eq!(range.revision, 2);
}

#[test]
fn read_only_txn_keeps_revision() {
    let mut store = KvStore::new();
    put(&mut store, "a", "1");
    let response = store.txn(&Txn {
        compares: vec![],
        success: vec![Op::Get { key: b("a") }, Op::Delete { key: b("none") }],
        failure: vec![],
    });
    assert_eq!(response.revision, 1);
    assert_eq!(store.revision(), 1);
}
