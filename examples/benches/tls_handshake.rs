//! What one full TLS 1.3 handshake costs the server (rustls with ring, as both servers
//! use it): the CPU of the server side only, with an RSA-2048 certificate and with an
//! ECDSA P-256 one. Client and server run in memory; only the server's calls are timed.
//!
//! Run: `cargo bench -p examples --bench tls_handshake`. The RSA key is made with the
//! `openssl` command (rcgen on ring cannot generate RSA keys); without it the RSA case
//! is skipped with a message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion};
use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

/// A self-signed certificate for `localhost` with `key`, and configurations trusting it.
fn configs(key: KeyPair) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("self-signed certificate");
    let der = CertificateDer::from(cert.der().to_vec());
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key_der)
        .expect("server config");
    let mut roots = RootCertStore::empty();
    roots.add(der).expect("root");
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Every handshake full: no ticket or session id is kept for a resumption.
    client.resumption = Resumption::disabled();
    (Arc::new(server), Arc::new(client))
}

/// One full handshake (the client never resumes); the time the server's calls took.
fn handshake(server: &Arc<ServerConfig>, client: &Arc<ClientConfig>) -> Duration {
    let name = ServerName::try_from("localhost").expect("name");
    let mut c = ClientConnection::new(Arc::clone(client), name).expect("client");
    let mut s = ServerConnection::new(Arc::clone(server)).expect("server");
    let mut server_time = Duration::ZERO;
    let mut wire = Vec::new();
    while c.is_handshaking() || s.is_handshaking() {
        wire.clear();
        while c.wants_write() {
            c.write_tls(&mut wire).expect("client writes");
        }
        let started = Instant::now();
        let mut input = &wire[..];
        while !input.is_empty() {
            s.read_tls(&mut input).expect("server reads");
            s.process_new_packets().expect("server processes");
        }
        wire.clear();
        while s.wants_write() {
            s.write_tls(&mut wire).expect("server writes");
        }
        server_time += started.elapsed();
        let mut input = &wire[..];
        while !input.is_empty() {
            c.read_tls(&mut input).expect("client reads");
            c.process_new_packets().expect("client processes");
        }
    }
    server_time
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("tls13_full_handshake_server_cpu");
    let p256 = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
    let mut cases = vec![("ecdsa_p256", configs(p256))];
    match examples::compare::tls::rsa_key() {
        Ok(key) => cases.push(("rsa_2048", configs(key))),
        Err(e) => eprintln!("the RSA-2048 case is skipped: {e}"),
    }
    for (name, (server, client)) in &cases {
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| handshake(server, client)).sum());
        });
    }
    group.finish();
}

/// The benchmark group (in a module: `criterion_group!` makes an undocumented `pub fn`).
mod groups {
    use super::{bench, Criterion, Duration};
    criterion::criterion_group! {
        name = benches;
        config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
        targets = bench
    }
}
criterion_main!(groups::benches);
