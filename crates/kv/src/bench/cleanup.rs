//! Removing the keys a benchmark wrote, so that loading a real cluster
//! leaves its data as it was (but for the revisions spent).

use super::key_name;
use axum::http::Method;
use bytes::Bytes;
use quorate_kv::api::{Blob, OpJson, TxnRequestJson, TXN_OPS_MAX_DEFAULT};
use quorate_kv::cli::{Client, ClientError, ClientRequest};

/// Deletes `bench/00000000` up to the last of `keys` in transactions of
/// at most the server's default op limit. Returns how many requests were
/// sent.
pub async fn delete_quorate(client: &Client, keys: u64) -> Result<u64, ClientError> {
    let chunk = u64::try_from(TXN_OPS_MAX_DEFAULT).unwrap_or(u64::MAX);
    let mut requests = 0;
    let mut first = 0;
    while first < keys {
        let last = (first + chunk).min(keys);
        let txn = TxnRequestJson {
            compare: Vec::new(),
            success: (first..last)
                .map(|key| OpJson::Delete {
                    key: Blob::from(key_name(key).as_str()),
                })
                .collect(),
            failure: Vec::new(),
        };
        let mut request = ClientRequest::new(Method::POST, "/v1/txn");
        request.body = Bytes::from(serde_json::to_vec(&txn)?);
        client.send(&request).await?;
        requests += 1;
        first = last;
    }
    Ok(requests)
}

/// Deletes every `bench/` key from etcd in one range delete.
pub async fn delete_etcd(client: &Client) -> Result<(), ClientError> {
    use base64::Engine;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    // The range [bench/, bench0) holds exactly the keys that start with
    // "bench/" ('0' follows '/').
    let body = format!(
        r#"{{"key":"{}","range_end":"{}"}}"#,
        encode(b"bench/"),
        encode(b"bench0")
    );
    let mut request = ClientRequest::new(Method::POST, "/v3/kv/deleterange");
    request.body = Bytes::from(body);
    client.send(&request).await.map(|_| ())
}
