//! TLS 1.3 session resumption of [`server_tls`], driven in memory (rustls connections shuttling
//! bytes, no sockets): the second connection of a client resumes, the resumed session still
//! carries the client certificate verified at the full handshake, and a reloaded configuration
//! (a new ticket key, as at SIGHUP) makes the next connection a full handshake again.

use std::io::Cursor;
use std::sync::Arc;

use rustls::{ClientConfig, ClientConnection, HandshakeKind, ServerConfig, ServerConnection};
use siso_shared::MemberId;

use super::*;

struct Pki {
    _dir: tempfile::TempDir,
    ca_dir: std::path::PathBuf,
    server_cert: std::path::PathBuf,
    server_key: std::path::PathBuf,
    client: ClientConfig,
    client_cert: CertificateDer<'static>,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let ca_dir = dir.path().join("ca");
    let ca = siso_certs_dev::Ca::create(&ca_dir, now, 30, true).unwrap();
    ca.issue_hub("localhost", now, 30)
        .unwrap()
        .write_to(&dir.path().join("hub"))
        .unwrap();
    let member: MemberId = "054039".parse().unwrap();
    let issued = ca.issue_member(&member, now, 30).unwrap();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(issued.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(issued.key_pem.unwrap().as_bytes()).unwrap();
    let mut roots = RootCertStore::empty();
    for c in load_certs(&ca_dir.join("ca.pem")).unwrap() {
        roots.add(c).unwrap();
    }
    let mut client = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain.clone(), key)
        .unwrap();
    client.alpn_protocols = vec![b"siso/1".to_vec()];
    Pki {
        server_cert: dir.path().join("hub/cert.pem"),
        server_key: dir.path().join("hub/key.pem"),
        ca_dir,
        client,
        client_cert: chain[0].clone(),
        _dir: dir,
    }
}

/// Runs one handshake (and the server's post-handshake ticket) to completion in memory.
fn handshake(client: &Arc<ClientConfig>, server: &Arc<ServerConfig>) -> ServerConnection {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut c = ClientConnection::new(client.clone(), name).unwrap();
    let mut s = ServerConnection::new(server.clone()).unwrap();
    for _ in 0..20 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            s.read_tls(&mut Cursor::new(&buf)).unwrap();
            s.process_new_packets().unwrap();
        }
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            c.read_tls(&mut Cursor::new(&buf)).unwrap();
            c.process_new_packets().unwrap();
        }
        if !c.is_handshaking() && !s.is_handshaking() && !c.wants_write() && !s.wants_write() {
            return s;
        }
    }
    panic!("handshake did not complete");
}

/// A client configuration with a session cache of its own (a clone shares its original's).
fn fresh_client(p: &Pki) -> Arc<ClientConfig> {
    let mut c = p.client.clone();
    c.resumption = rustls::client::Resumption::in_memory_sessions(4);
    Arc::new(c)
}

fn server(p: &Pki) -> Arc<ServerConfig> {
    Arc::new(server_tls(&p.ca_dir, &p.server_cert, &p.server_key, b"siso/1").unwrap())
}

#[test]
fn a_second_connection_resumes_and_keeps_the_client_identity() {
    let p = pki();
    let server = server(&p);
    // More clients than a server-side session cache (rustls keeps 256 by default) would hold:
    // with stateless tickets every one of them resumes.
    let clients: Vec<Arc<ClientConfig>> = (0..300).map(|_| fresh_client(&p)).collect();
    for c in &clients {
        assert_eq!(
            handshake(c, &server).handshake_kind(),
            Some(HandshakeKind::Full)
        );
    }
    let mut resumed = 0;
    for c in &clients {
        let s = handshake(c, &server);
        resumed += usize::from(s.handshake_kind() == Some(HandshakeKind::Resumed));
    }
    assert_eq!(resumed, clients.len());
    let second = handshake(&clients[0], &server);
    assert_eq!(second.handshake_kind(), Some(HandshakeKind::Resumed));
    let peer = second
        .peer_certificates()
        .expect("resumed session has the client chain");
    assert_eq!(peer[0], p.client_cert);
    assert_eq!(
        siso_shared::identity::member_of_cert_der(&peer[0])
            .unwrap()
            .to_string(),
        "054039"
    );
}

#[test]
fn a_reloaded_configuration_voids_earlier_tickets() {
    let p = pki();
    let client = fresh_client(&p);
    let before = server(&p);
    assert_eq!(
        handshake(&client, &before).handshake_kind(),
        Some(HandshakeKind::Full)
    );
    // SIGHUP builds a new configuration: its ticket key is new, the client's ticket is unknown.
    let after = server(&p);
    let s = handshake(&client, &after);
    assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
    assert_eq!(s.peer_certificates().unwrap()[0], p.client_cert);
}
