//! Test certificates: a cluster CA and node identities it signs, made with
//! rcgen at test time, and the `TlsConfig` built from them.

#![allow(dead_code)]

use quorate::transport::TlsConfig;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

pub const SERVER_NAME: &str = "quorate.test";

pub struct Ca {
    pub cert: Certificate,
    pub key: KeyPair,
}

pub struct Identity {
    pub chain_pem: String,
    pub key_pem: String,
}

pub fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("CA certificate");
    Ca { cert, key }
}

pub fn issue(ca: &Ca, node: &str) -> Identity {
    let key = KeyPair::generate().expect("node key");
    let mut params = CertificateParams::new(vec![SERVER_NAME.to_owned()]).expect("node params");
    params.distinguished_name.push(DnType::CommonName, node);
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params
        .signed_by(&key, &ca.cert, &ca.key)
        .expect("node certificate");
    Identity {
        chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

pub fn tls(identity: &Identity, ca: &Ca) -> TlsConfig {
    TlsConfig::from_pem(
        identity.chain_pem.as_bytes(),
        identity.key_pem.as_bytes(),
        ca.cert.pem().as_bytes(),
        SERVER_NAME,
    )
    .expect("TLS config")
}
