//! The mutual-TLS matrix against the built `siso-hub` binary (not the library): valid members
//! get their roles; no certificate, another CA, an expired certificate and a wrong or missing
//! ALPN are refused at the handshake; roles and identity are enforced per request; a revoked
//! certificate is refused once the running process gets SIGHUP, and others are unaffected.
//! As the pitfall goes, `connect` alone proves nothing: every check is the first reply.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use siso_certs_dev::Ca;
use siso_node::client::ClientError;
use time::OffsetDateTime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_enforces_the_mtls_matrix_and_reloads_the_crl_on_sighup() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let mut hub = BinaryHub::init(
        env!("CARGO_BIN_EXE_siso-hub").as_ref(),
        &pki,
        &dir.path().join("hub"),
    );
    hub.start().await;

    // Valid members, each with its role.
    assert_roles(&pki, hub.addr).await;

    // Refused at the handshake.
    assert_handshake_refusals(&pki, hub.addr).await;

    // Roles and identity, per request.
    assert_request_roles(&pki, hub.addr).await;

    // Revocation: Terni works, is revoked, and is refused once the process reloads on SIGHUP.
    let ca = Ca::load(&pki.layout.ca_dir()).unwrap();
    let (c, _) = hub.connect(&pki, TERNI).await.unwrap();
    c.close().await;
    let serial = ca
        .issued()
        .unwrap()
        .into_iter()
        .find(|(_, m)| m == TERNI)
        .unwrap()
        .0;
    ca.revoke(&serial, OffsetDateTime::now_utc(), 30, false)
        .unwrap();
    hub.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match hub.connect(&pki, TERNI).await {
            Err(ClientError::Refused(e)) => panic!("refused by protocol ({e}), expected at TLS"),
            Err(_) => break,
            Ok((c, _)) => {
                c.close().await;
                assert!(
                    std::time::Instant::now() < deadline,
                    "the revoked certificate still works after SIGHUP"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    let (c, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    c.close().await;

    // A clean stop.
    hub.signal("TERM");
    assert!(hub.wait().success());
}
