//! A cluster whose peers talk mutual TLS and whose clients must present a
//! certificate over HTTPS: it elects a leader, replicates a write, and
//! refuses a client without a certificate.

mod e2e_support;

use e2e_support::{exchange, free_port, wait_for, Reply, Server};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

/// Writes `ca.pem`, `node.pem` and `node.key` into `dir`: one identity,
/// valid for the DNS name `quorate` (peers) and 127.0.0.1 (client URLs
/// members call each other at), as server and as client.
fn write_certificates(dir: &Path) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("node key");
    let mut node = CertificateParams::new(vec!["quorate".to_owned(), "127.0.0.1".to_owned()])
        .expect("node params");
    node.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = node
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("node certificate");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("writes");
    std::fs::write(dir.join("node.pem"), cert.pem()).expect("writes");
    std::fs::write(dir.join("node.key"), key.serialize_pem()).expect("writes");
}

fn client_config(dir: &Path, with_certificate: bool) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("ca.pem")).expect("CA") {
        roots.add(cert.expect("CA cert")).expect("adds");
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = if with_certificate {
        let chain = CertificateDer::pem_file_iter(dir.join("node.pem"))
            .expect("chain")
            .collect::<Result<Vec<_>, _>>()
            .expect("chain");
        let key = PrivateKeyDer::from_pem_file(dir.join("node.key")).expect("key");
        builder
            .with_client_auth_cert(chain, key)
            .expect("client auth")
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(config)
}

fn https(config: &Arc<rustls::ClientConfig>, url: &str, method: &str, path: &str) -> Option<Reply> {
    let host = url.trim_start_matches("https://");
    let name = ServerName::try_from("quorate").expect("name");
    let connection = rustls::ClientConnection::new(Arc::clone(config), name).ok()?;
    let socket = TcpStream::connect(host).ok()?;
    socket.set_read_timeout(Some(e2e_support::WAIT)).ok()?;
    let mut stream = rustls::StreamOwned::new(connection, socket);
    exchange(&mut stream, method, host, path, &[], b"v")
}

/// Starts node `id` with peer and client TLS from the files in `root`,
/// advertising `https://127.0.0.1:<client>`; `start` is `--initial-cluster
/// ...` or `--join ...`.
fn tls_server(root: &Path, id: u64, (peer, client): (u16, u16), start: [&str; 2]) -> Server {
    let file = |name: &str| root.join(name).to_str().expect("utf-8").to_owned();
    let (ca, cert, key) = (file("ca.pem"), file("node.pem"), file("node.key"));
    let advertise = format!("https://127.0.0.1:{client}");
    let flags = [
        start[0],
        start[1],
        "--advertise-client-url",
        advertise.as_str(),
        "--peer-cert-file",
        cert.as_str(),
        "--peer-key-file",
        key.as_str(),
        "--peer-ca-file",
        ca.as_str(),
        "--client-cert-file",
        cert.as_str(),
        "--client-key-file",
        key.as_str(),
        "--client-ca-file",
        ca.as_str(),
    ];
    Server::start(id, root, peer, client, &flags)
}

/// Peers talk mutual TLS and clients need a certificate: the cluster
/// elects a leader, accepts an HTTPS write, redirects to an https://
/// Location, refuses a client without a certificate, collects every
/// member's client URL over HTTPS, and a fourth node joins over HTTPS.
#[test]
fn a_mutual_tls_cluster_serves_https_clients_with_certificates() {
    let root = tempfile::tempdir().expect("tempdir");
    write_certificates(root.path());
    let ports: Vec<(u16, u16)> = (1..=3).map(|_| (free_port(), free_port())).collect();
    let initial = (1..)
        .zip(&ports)
        .map(|(id, (peer, _))| format!("{id}=127.0.0.1:{peer}"))
        .collect::<Vec<_>>()
        .join(",");
    let servers: Vec<Server> = (1..)
        .zip(&ports)
        .map(|(id, &ports)| tls_server(root.path(), id, ports, ["--initial-cluster", &initial]))
        .collect();
    let trusted = client_config(root.path(), true);
    let urls: Vec<String> = ports
        .iter()
        .map(|(_, client)| format!("https://127.0.0.1:{client}"))
        .collect();
    let leader = wait_for("a leader that accepts an HTTPS write", || {
        urls.iter().find(|url| {
            https(&trusted, url, "PUT", "/v1/kv/secure").is_some_and(|r| r.status == 200)
        })
    });
    let read = https(&trusted, leader, "GET", "/v1/kv/secure").expect("answer");
    assert_eq!(read.text(), "v");
    let follower = urls.iter().find(|url| *url != leader).expect("follower");
    // 503 until the follower applied the leader's member record.
    let redirect = wait_for("a redirect from the follower", || {
        let reply = https(&trusted, follower, "PUT", "/v1/kv/secure")?;
        (reply.status != 503).then_some(reply)
    });
    assert_eq!(redirect.status, 307);
    let location = redirect.header("location").unwrap_or_default();
    assert!(location.starts_with("https://"), "{location}");
    let anonymous = client_config(root.path(), false);
    assert!(https(&anonymous, leader, "GET", "/health").is_none());
    wait_for("every member's client URL in the directory", || {
        let status = https(&trusted, leader, "GET", "/v1/cluster")?.json();
        let members = status["members"].as_array()?.clone();
        let https_urls = members.iter().all(|member| {
            member["client_url"]
                .as_str()
                .is_some_and(|url| url.starts_with("https://"))
        });
        https_urls.then_some(())
    });
    let joined = (free_port(), free_port());
    let newcomer = tls_server(root.path(), 4, joined, ["--join", follower]);
    let newcomer_url = format!("https://127.0.0.1:{}", joined.1);
    let read = wait_for("node 4 to join over TLS and apply the write", || {
        let reply = https(
            &trusted,
            &newcomer_url,
            "GET",
            "/v1/kv/secure?consistency=stale",
        )?;
        (reply.status == 200).then_some(reply)
    });
    assert_eq!(read.text(), "v", "{}", newcomer.logs());
    drop(servers);
}

/// Issue 11 item 3: a client certificate listed by fingerprint in the
/// token file gets that role; here `read`, so reads pass and writes are
/// 403.
#[test]
fn a_client_certificate_in_the_token_file_gets_its_role() {
    let root = tempfile::tempdir().expect("tempdir");
    write_certificates(root.path());
    let leaf = CertificateDer::pem_file_iter(root.path().join("node.pem"))
        .expect("node.pem")
        .next()
        .expect("a certificate")
        .expect("PEM");
    let fingerprint = quorate_kv::api::ClientCertificate::of_der(leaf.as_ref()).name();
    let tokens = root.path().join("tokens");
    std::fs::write(&tokens, format!("read {fingerprint} node\n")).expect("writes");
    let ports = (free_port(), free_port());
    let flags = ["--auth-token-file", tokens.to_str().expect("utf-8")];
    let _node = tls_server(root.path(), 1, ports, flags);
    let url = format!("https://127.0.0.1:{}", ports.1);
    let trusted = client_config(root.path(), true);
    wait_for("the node to be ready over HTTPS", || {
        let reply = https(&trusted, &url, "GET", "/ready")?;
        (reply.status == 200).then_some(())
    });
    let read = https(&trusted, &url, "GET", "/v1/kv/absent").expect("answers");
    assert_eq!(read.status, 404, "{}", read.text());
    let write = https(&trusted, &url, "PUT", "/v1/kv/a").expect("answers");
    assert_eq!(write.status, 403, "{}", write.text());
    assert_eq!(write.json()["code"], "forbidden");
}
