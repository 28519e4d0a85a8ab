//! What each client subcommand sends and prints.

use super::args::{ClusterCommand, KvCommand, Output};
use super::client::{Client, ClientError, ClientRequest};
use super::output::{cluster_table, scan_table, show};
use crate::api::{
    Blob, ClusterStatus, CompareJson, CompareOpJson, Consistency, DeleteResult, KeyValueJson,
    MemberAction, MemberChange, OpJson, OpResultJson, PutResult, ScanResult, TransferLeader,
    TransferResult, TxnRequestJson, TxnResult, CREATE_REVISION_HEADER, IDEMPOTENCY_KEY_HEADER,
    MOD_REVISION_HEADER, VERSION_HEADER,
};
use axum::http::{HeaderName, HeaderValue, Method};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What a command prints, and whether it did what was asked (a failed
/// compare-and-set prints the current value and exits non-zero).
#[derive(Debug, PartialEq, Eq)]
pub struct Printed {
    pub text: String,
    pub succeeded: bool,
}

impl Printed {
    fn ok(text: String) -> Printed {
        Printed {
            text,
            succeeded: true,
        }
    }
}

pub async fn run_kv(
    client: &Client,
    command: KvCommand,
    output: Output,
) -> Result<Printed, ClientError> {
    match command {
        KvCommand::Get { key, consistency } => get(client, &key, consistency.into(), output).await,
        KvCommand::Put {
            key,
            value,
            idempotency_key,
        } => {
            let mut request = ClientRequest::new(Method::PUT, key_path(&key));
            request.body = put_value(value)?;
            with_idempotency_key(&mut request, idempotency_key)?;
            let put: PutResult = json(client.send(&request).await?.body)?;
            Ok(Printed::ok(render(output, &put, |put| {
                format!("OK (revision {})\n", put.revision)
            })?))
        }
        KvCommand::Delete {
            key,
            idempotency_key,
        } => {
            let mut request = ClientRequest::new(Method::DELETE, key_path(&key));
            with_idempotency_key(&mut request, idempotency_key)?;
            let delete: DeleteResult = json(client.send(&request).await?.body)?;
            Ok(Printed::ok(render(output, &delete, |delete| {
                let deleted = u8::from(delete.deleted);
                format!("{deleted} deleted (revision {})\n", delete.revision)
            })?))
        }
        KvCommand::Scan {
            prefix,
            limit,
            consistency,
        } => {
            let query = consistency_query(consistency.into());
            let path = format!(
                "/v1/kv?prefix={}&limit={limit}&{query}",
                encode(&prefix, false)
            );
            let response = client.send(&ClientRequest::new(Method::GET, path)).await?;
            let scan: ScanResult = json(response.body)?;
            Ok(Printed::ok(render(output, &scan, scan_table)?))
        }
        KvCommand::Cas {
            key,
            value,
            expect_value,
            expect_mod_revision,
            idempotency_key,
        } => {
            cas(
                client,
                output,
                CasArgs {
                    key,
                    value,
                    expect_value,
                    expect_mod_revision,
                    idempotency_key,
                },
            )
            .await
        }
    }
}

async fn get(
    client: &Client,
    key: &str,
    consistency: Consistency,
    output: Output,
) -> Result<Printed, ClientError> {
    let query = consistency_query(consistency);
    let request = ClientRequest::new(Method::GET, format!("{}?{query}", key_path(key)));
    let response = client.send(&request).await?;
    let text = match output {
        Output::Json => {
            let revision = |name| {
                response
                    .headers
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.parse::<u64>().ok())
                    .unwrap_or_default()
            };
            let kv = KeyValueJson {
                key: Blob::from(key),
                value: Blob(response.body.clone()),
                create_revision: revision(CREATE_REVISION_HEADER),
                mod_revision: revision(MOD_REVISION_HEADER),
                version: revision(VERSION_HEADER),
            };
            serde_json::to_string_pretty(&kv)? + "\n"
        }
        Output::Table => show(&Blob(response.body)) + "\n",
    };
    Ok(Printed::ok(text))
}

struct CasArgs {
    key: String,
    value: String,
    expect_value: Option<String>,
    expect_mod_revision: Option<u64>,
    idempotency_key: Option<String>,
}

async fn cas(client: &Client, output: Output, args: CasArgs) -> Result<Printed, ClientError> {
    let key = Blob::from(args.key.as_str());
    let txn = TxnRequestJson {
        compare: vec![CompareJson {
            key: key.clone(),
            op: CompareOpJson::Equal,
            value: args.expect_value.as_deref().map(Blob::from),
            mod_revision: args.expect_mod_revision,
            create_revision: None,
            version: None,
        }],
        success: vec![OpJson::Put {
            key: key.clone(),
            value: Blob::from(args.value.as_str()),
        }],
        failure: vec![OpJson::Get { key }],
    };
    let mut request = ClientRequest::new(Method::POST, "/v1/txn");
    request.body = Bytes::from(serde_json::to_vec(&txn)?);
    with_idempotency_key(&mut request, args.idempotency_key)?;
    let result: TxnResult = json(client.send(&request).await?.body)?;
    let text = render(output, &result, |result| {
        if result.succeeded {
            return format!("OK (revision {})\n", result.revision);
        }
        let current = match result.responses.first() {
            Some(OpResultJson::Range(range)) => range.kvs.first().map_or_else(
                || "the key does not exist".to_owned(),
                |kv| {
                    format!(
                        "current value {:?} at mod revision {}",
                        show(&kv.value),
                        kv.mod_revision
                    )
                },
            ),
            _ => "current value unknown".to_owned(),
        };
        format!("FAILED: compare did not hold; {current}\n")
    })?;
    Ok(Printed {
        text,
        succeeded: result.succeeded,
    })
}

pub async fn run_cluster(
    client: &Client,
    command: ClusterCommand,
    output: Output,
) -> Result<Printed, ClientError> {
    let change = |action, id, peer_url, client_url| MemberChange {
        action,
        id,
        peer_url,
        client_url,
    };
    let body = match command {
        ClusterCommand::Status => {
            let status = leader_status(client).await?;
            return Ok(Printed::ok(render(output, &status, cluster_table)?));
        }
        ClusterCommand::Transfer { id } => {
            let mut request = ClientRequest::new(Method::POST, "/v1/cluster/leader");
            request.body = Bytes::from(serde_json::to_vec(&TransferLeader { target: id })?);
            let moved: TransferResult = json(client.send(&request).await?.body)?;
            return Ok(Printed::ok(render(output, &moved, |moved| {
                format!("leader is now {}\n", moved.leader_id)
            })?));
        }
        ClusterCommand::Add {
            id,
            peer_url,
            client_url,
        } => change(MemberAction::AddLearner, id, Some(peer_url), client_url),
        ClusterCommand::Promote { id } => change(MemberAction::Promote, id, None, None),
        ClusterCommand::Remove { id } => change(MemberAction::Remove, id, None, None),
    };
    let mut request = ClientRequest::new(Method::POST, "/v1/cluster/members");
    request.body = Bytes::from(serde_json::to_vec(&body)?);
    let status: ClusterStatus = json(client.send(&request).await?.body)?;
    Ok(Printed::ok(render(output, &status, cluster_table)?))
}

/// `GET /v1/cluster` as the leader answers it: only the leader tracks
/// match index, lag and last contact, so when another member answered
/// and names the leader's client URL, the leader is asked once more.
/// Its answer replaces the first; without one the first is kept.
async fn leader_status(client: &Client) -> Result<ClusterStatus, ClientError> {
    let request = ClientRequest::new(Method::GET, "/v1/cluster");
    let status: ClusterStatus = json(client.send(&request).await?.body)?;
    let leader_url = status
        .leader_id
        .filter(|&leader| leader != status.node_id)
        .and_then(|leader| status.members.iter().find(|m| m.id == leader))
        .and_then(|leader| leader.client_url.clone());
    let Some(leader_url) = leader_url else {
        return Ok(status);
    };
    let asked = async {
        let leader = client.single_try(&leader_url)?;
        json::<ClusterStatus>(leader.send(&request).await?.body)
    };
    Ok(asked.await.unwrap_or(status))
}

/// The value of `kv put`: the argument, or stdin, byte for byte, when it
/// is `-` or left out (but not from a terminal unless `-` asks for it).
fn put_value(value: Option<String>) -> Result<Bytes, ClientError> {
    use std::io::{IsTerminal, Read};
    match value {
        Some(text) if text != "-" => Ok(Bytes::from(text)),
        given => {
            let mut stdin = std::io::stdin();
            if given.is_none() && stdin.is_terminal() {
                return Err(ClientError::ValueMissing);
            }
            let mut bytes = Vec::new();
            stdin.read_to_end(&mut bytes).map_err(ClientError::Stdin)?;
            Ok(Bytes::from(bytes))
        }
    }
}

fn render<T: Serialize>(
    output: Output,
    value: &T,
    table: impl FnOnce(&T) -> String,
) -> Result<String, ClientError> {
    match output {
        Output::Json => Ok(serde_json::to_string_pretty(value)? + "\n"),
        Output::Table => Ok(table(value)),
    }
}

fn json<T: DeserializeOwned>(body: Bytes) -> Result<T, ClientError> {
    Ok(serde_json::from_slice(&body)?)
}

fn with_idempotency_key(
    request: &mut ClientRequest,
    key: Option<String>,
) -> Result<(), ClientError> {
    if let Some(key) = key {
        let value = HeaderValue::from_str(&key).map_err(|_| ClientError::InvalidHeader {
            name: IDEMPOTENCY_KEY_HEADER,
        })?;
        request
            .headers
            .push((HeaderName::from_static(IDEMPOTENCY_KEY_HEADER), value));
    }
    Ok(())
}

fn consistency_query(consistency: Consistency) -> &'static str {
    match consistency {
        Consistency::Linearizable => "consistency=linearizable",
        Consistency::Lease => "consistency=lease",
        Consistency::Stale => "consistency=stale",
    }
}

fn key_path(key: &str) -> String {
    format!("/v1/kv/{}", encode(key, true))
}

/// Percent-encodes all but unreserved characters (and `/` in paths, where
/// it is part of the key).
pub(crate) fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/');
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_encoded_but_keep_slashes_in_paths() {
        assert_eq!(key_path("a b/c?d"), "/v1/kv/a%20b/c%3Fd");
        assert_eq!(encode("a/b&c", false), "a%2Fb%26c");
        assert_eq!(encode("é", false), "%C3%A9");
    }
}
