//! The CLI against a node serving HTTPS with client certificates, as
//! `serve` is configured: `https://` endpoints with `--ca-file`, and
//! `--cert-file`/`--key-file` where the node requires a certificate.

mod e2e_support;

use e2e_support::{free_port, quorate, wait_for, Server};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use std::path::Path;
use std::process::Output;

/// Writes `ca.pem` and one identity, `node.pem` and `node.key`, valid for
/// 127.0.0.1 as server and as client.
fn write_certificates(dir: &Path) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "CLI test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("node key");
    let mut node = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("node params");
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

fn run(args: &[&str]) -> Output {
    quorate().args(args).output().expect("runs quorate")
}

#[test]
fn the_cli_speaks_https_with_a_ca_and_a_client_certificate() {
    let root = tempfile::tempdir().expect("tempdir");
    write_certificates(root.path());
    let file = |name: &str| root.path().join(name).to_str().expect("utf-8").to_owned();
    let (ca, cert, key) = (file("ca.pem"), file("node.pem"), file("node.key"));
    let client_port = free_port();
    let endpoint = format!("https://127.0.0.1:{client_port}");
    let flags = [
        "--advertise-client-url",
        endpoint.as_str(),
        "--client-cert-file",
        cert.as_str(),
        "--client-key-file",
        key.as_str(),
        "--client-ca-file",
        ca.as_str(),
    ];
    let _node = Server::start(1, root.path(), free_port(), client_port, &flags);
    let tls = [
        "--endpoints",
        endpoint.as_str(),
        "--ca-file",
        ca.as_str(),
        "--cert-file",
        cert.as_str(),
        "--key-file",
        key.as_str(),
    ];
    // Retried until the node serves and has elected itself.
    let put = wait_for("an HTTPS write through the CLI", || {
        let output = run(&[&tls[..], &["kv", "put", "secure", "yes"]].concat());
        output.status.success().then_some(output)
    });
    assert!(String::from_utf8_lossy(&put.stdout).starts_with("OK"));
    let get = run(&[&tls[..], &["kv", "get", "secure"]].concat());
    assert_eq!(String::from_utf8_lossy(&get.stdout), "yes\n");

    let no_certificate = run(&[&tls[..4], &["kv", "get", "secure"]].concat());
    assert!(
        !no_certificate.status.success(),
        "a certificate is required"
    );
    let no_ca = run(&["--endpoints", endpoint.as_str(), "kv", "get", "secure"]);
    let stderr = String::from_utf8_lossy(&no_ca.stderr);
    assert!(stderr.contains("--ca-file"), "{stderr}");
}
