//! Query strings and URL keys, decoded to bytes.
//!
//! Keys are bytes everywhere: a URL key or a `prefix`/`start` parameter
//! is percent-decoded without requiring UTF-8 (`%FF` is the byte 0xFF),
//! so any key a transaction names in hex can be named in a URL too. Every
//! route lists the parameters it takes; any other one, a repeated one,
//! or a malformed escape is a 400, never silently ignored.

use super::error::{BadRequest, KvError};
use super::service::Consistency;
use bytes::Bytes;
use std::collections::BTreeMap;

/// The path prefix of single-key routes.
pub const KEY_PATH_PREFIX: &str = "/v1/kv/";

/// Parameters of one request, by name, percent-decoded.
#[derive(Debug, Default)]
pub(crate) struct Params {
    values: BTreeMap<&'static str, Vec<u8>>,
}

fn query_error(detail: impl Into<String>) -> KvError {
    KvError::bad_request(BadRequest::Query, detail)
}

impl Params {
    /// Parses `query`, accepting only the names in `allowed`.
    pub(crate) fn parse(query: Option<&str>, allowed: &[&'static str]) -> Result<Params, KvError> {
        let mut values = BTreeMap::new();
        for pair in query.unwrap_or_default().split('&') {
            if pair.is_empty() {
                continue;
            }
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(raw_name, true)?;
            let Some(&known) = allowed.iter().find(|known| known.as_bytes() == name) else {
                let shown = String::from_utf8_lossy(&name);
                return Err(query_error(if allowed.is_empty() {
                    format!("unknown parameter `{shown}`: this route takes none")
                } else {
                    format!(
                        "unknown parameter `{shown}`: this route takes {}",
                        allowed.join(", ")
                    )
                }));
            };
            if values.insert(known, decode(raw_value, true)?).is_some() {
                return Err(query_error(format!("parameter `{known}` is given twice")));
            }
        }
        Ok(Params { values })
    }

    pub(crate) fn bytes(&self, name: &str) -> Option<Bytes> {
        self.values
            .get(name)
            .map(|value| Bytes::from(value.clone()))
    }

    pub(crate) fn consistency(&self) -> Result<Consistency, KvError> {
        match self.values.get("consistency").map(Vec::as_slice) {
            None | Some(b"linearizable") => Ok(Consistency::Linearizable),
            Some(b"lease") => Ok(Consistency::Lease),
            Some(b"stale") => Ok(Consistency::Stale),
            Some(other) => Err(query_error(format!(
                "consistency `{}` is not linearizable, lease or stale",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    pub(crate) fn number(&self, name: &str) -> Result<Option<usize>, KvError> {
        let Some(value) = self.values.get(name) else {
            return Ok(None);
        };
        std::str::from_utf8(value)
            .ok()
            .and_then(|text| text.parse().ok())
            .map(Some)
            .ok_or_else(|| query_error(format!("`{name}` must be a non-negative integer")))
    }
}

/// The key of a `/v1/kv/{key}` path, percent-decoded to bytes.
pub(crate) fn path_key(path: &str) -> Result<Bytes, KvError> {
    let raw = path.strip_prefix(KEY_PATH_PREFIX).unwrap_or_default();
    let key = decode(raw, false)?;
    if key.is_empty() {
        return Err(KvError::bad_request(BadRequest::EmptyKey, ""));
    }
    Ok(Bytes::from(key))
}

/// Percent-decodes `text`; `plus_is_space` for query strings (form
/// encoding), not for paths.
fn decode(text: &str, plus_is_space: bool) -> Result<Vec<u8>, KvError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => {
                let hex = bytes
                    .get(at + 1..at + 3)
                    .and_then(|pair| std::str::from_utf8(pair).ok())
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| query_error(format!("bad percent escape in {text:?}")))?;
                out.push(hex);
                at += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                at += 1;
            }
            byte => {
                out.push(byte);
                at += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_repeated_and_malformed_parameters_are_refused() {
        let allowed = ["prefix", "limit"];
        assert!(Params::parse(Some("prefix=a&limit=3"), &allowed).is_ok());
        assert!(Params::parse(None, &[]).is_ok());
        for bad in ["ttl=1", "prefix=a&prefix=b", "prefix=%zz", "limit=1&x"] {
            let error = Params::parse(Some(bad), &allowed).expect_err(bad);
            assert_eq!(error.status().as_u16(), 400, "{bad}");
        }
        let none = Params::parse(Some("prefix=true"), &[]).expect_err("no params");
        assert!(format!("{:?}", error_detail(&none)).contains("takes none"));
    }

    fn error_detail(error: &KvError) -> Option<String> {
        error.body().detail
    }

    #[test]
    fn keys_decode_to_bytes_without_requiring_utf8() {
        assert_eq!(
            path_key("/v1/kv/a%2Fb%FF%00").expect("decodes").as_ref(),
            b"a/b\xff\x00"
        );
        assert_eq!(path_key("/v1/kv/a+b").expect("decodes").as_ref(), b"a+b");
        let empty = path_key("/v1/kv/").expect_err("empty");
        assert_eq!(empty.status().as_u16(), 400);
        let params = Params::parse(Some("prefix=%FF+x"), &["prefix"]).expect("parses");
        assert_eq!(params.bytes("prefix").expect("set").as_ref(), b"\xff x");
    }
}
