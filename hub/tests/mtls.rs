//! The mutual-TLS matrix over real QUIC on loopback: who gets in, who is refused, and how.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use siso_certs_dev::{Ca, InitOptions};
use siso_node::client::ClientError;
use siso_shared::wire::*;
use time::OffsetDateTime;

#[tokio::test]
async fn valid_members_get_their_roles_and_the_rest_are_refused_at_the_handshake() {
    let (pki, _data, hub) = fresh_hub().await;
    assert_roles(&pki, hub.addr()).await;
    assert_handshake_refusals(&pki, hub.addr()).await;

    // Nothing of the above reached the message log or the store as a member.
    let (c, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    c.close().await;
    hub.stop().await;
}

#[tokio::test]
async fn revoked_certificate_refused_at_start_and_after_reload() {
    let (pki, _data, hub) = fresh_hub().await;
    let ca = Ca::load(&pki.layout.ca_dir()).unwrap();
    let serial_of = |member: &str| {
        ca.issued()
            .unwrap()
            .into_iter()
            .find(|(_, s)| s == member)
            .unwrap()
            .0
    };
    // Terni is fine, then revoked; the running hub learns it on reload (what SIGHUP does).
    let (c, _) = hub.connect(&pki, TERNI).await.unwrap();
    c.close().await;
    ca.revoke(&serial_of(TERNI), OffsetDateTime::now_utc(), 30, false)
        .unwrap();
    let sc = siso_hub::tls::server_config(&hub.cfg).unwrap();
    hub.running.endpoint.set_server_config(Some(sc));
    assert_refused(hub.connect(&pki, TERNI).await, "revoked after reload");
    // Others are unaffected.
    let (c, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    c.close().await;
    let cfg = hub.cfg.clone();
    hub.stop().await;
    // A hub started with the CRL refuses it from the start.
    let hub = start_hub_with(cfg).await;
    assert_refused(hub.connect(&pki, TERNI).await, "revoked at start");
    hub.stop().await;
}

/// A CRL past its next update refuses every client (fail closed) until it is re-signed and
/// reloaded; `/metrics` shows when the certificate, the CA and the CRL run out.
#[tokio::test]
async fn an_expired_crl_refuses_everyone_until_renewed() {
    let (pki, _data, hub) = fresh_hub().await;
    let ca = Ca::load(&pki.layout.ca_dir()).unwrap();
    let now = OffsetDateTime::now_utc();
    // A CRL signed 40 days ago, valid for 30: its next update has passed.
    ca.write_crl(now - time::Duration::days(40), 30).unwrap();
    let sc = siso_hub::tls::server_config(&hub.cfg).unwrap();
    hub.running.endpoint.set_server_config(Some(sc));
    siso_hub::record_expiries(&hub.running.hub, &hub.cfg);
    assert_refused(hub.connect(&pki, PERUGIA).await, "the CRL expired");
    let (_, body) = hub.http_get("/metrics", None).await;
    let crl_at = |body: &str| -> i64 {
        body.lines()
            .find_map(|l| {
                l.strip_prefix("siso_certificate_expiry_timestamp_seconds{what=\"crl\"} ")
            })
            .unwrap_or_else(|| panic!("{body}"))
            .parse()
            .unwrap()
    };
    assert!(crl_at(&body) < now.unix_timestamp(), "{body}");
    assert!(body.contains("siso_certificate_expiry_timestamp_seconds{what=\"certificate\"}"));
    assert!(body.contains("siso_certificate_expiry_timestamp_seconds{what=\"ca\"}"));
    // Re-signed and reloaded: members get in again.
    ca.write_crl(now, 30).unwrap();
    let sc = siso_hub::tls::server_config(&hub.cfg).unwrap();
    hub.running.endpoint.set_server_config(Some(sc));
    siso_hub::record_expiries(&hub.running.hub, &hub.cfg);
    let (c, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    c.close().await;
    let (_, body) = hub.http_get("/metrics", None).await;
    assert!(crl_at(&body) > now.unix_timestamp() + 29 * 86_400, "{body}");
    hub.stop().await;
}

/// `siso-certs renew`: a node's renewed certificate is used at its next connection and the
/// hub's on reload (SIGHUP), with no restart; once the old member certificate is revoked it is
/// refused while the new one works.
#[tokio::test]
async fn renewed_certificates_are_picked_up_without_a_restart() {
    let (pki, _data, hub) = fresh_hub().await;
    let ca = Ca::load(&pki.layout.ca_dir()).unwrap();
    let now = OffsetDateTime::now_utc();
    let dir = pki.layout.member_dir(&PERUGIA.parse().unwrap());
    let old = tempfile::tempdir().unwrap();
    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(dir.join(f), old.path().join(f)).unwrap();
    }
    let r = siso_certs_dev::renew(&ca, &dir, now, 365).unwrap();
    assert_eq!(r.subject, PERUGIA);
    assert_ne!(r.old_serial, r.new_serial);
    let (c, ack) = hub.connect(&pki, PERUGIA).await.unwrap();
    assert_eq!(ack.member.to_string(), PERUGIA);
    c.close().await;

    // The hub's own certificate, renewed, is served after a reload.
    let h = siso_certs_dev::renew(&ca, &pki.layout.hub_dir(), now, 730).unwrap();
    assert_eq!(h.subject, "hub:localhost");
    let sc = siso_hub::tls::server_config(&hub.cfg).unwrap();
    hub.running.endpoint.set_server_config(Some(sc));
    let (c, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    let leaf = c
        .connection()
        .peer_identity()
        .unwrap()
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .unwrap()[0]
        .clone();
    let renewed = siso_hub::tls::load_certs(&pki.layout.hub_dir().join("cert.pem")).unwrap();
    assert_eq!(leaf, renewed[0], "the hub serves its renewed certificate");
    c.close().await;

    // The old member certificate revoked: refused; the new one still gets in.
    ca.revoke(&r.old_serial, now, 30, false).unwrap();
    let sc = siso_hub::tls::server_config(&hub.cfg).unwrap();
    hub.running.endpoint.set_server_config(Some(sc));
    let old_tls = siso_node::client::ClientTls::from_files(
        &pki.ca_pem(),
        &old.path().join("cert.pem"),
        &old.path().join("key.pem"),
    )
    .unwrap();
    assert_refused(
        hub.connect_tls(old_tls, PERUGIA).await,
        "the old certificate",
    );
    let (c, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    c.close().await;
    hub.stop().await;
}

/// A certificate within 30 days of its end is found (the warning at start and the metric).
#[test]
fn expiring_certificates_are_found() {
    let pki = Pki::new();
    let ca = Ca::load(&pki.layout.ca_dir()).unwrap();
    let now = OffsetDateTime::now_utc();
    let soon = ca
        .issue_member_window(
            &PERUGIA.parse().unwrap(),
            now - time::Duration::days(300),
            now + time::Duration::days(5),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    soon.write_to(dir.path()).unwrap();
    let list = siso_server::tls::warn_expiring(
        &dir.path().join("cert.pem"),
        &pki.ca_pem(),
        Some(&pki.layout.ca_dir().join("crl.pem")),
        now,
    );
    let cert = list.iter().find(|e| e.what == "certificate").unwrap();
    assert!((cert.at - now).whole_days() <= 5, "{list:?}");
    let ca_at = list.iter().find(|e| e.what == "ca").unwrap();
    assert!((ca_at.at - now).whole_days() > 3000, "{list:?}");
    // A file that is not a certificate: an error naming it, not a panic.
    let e = siso_server::tls::expiries(&pki.layout.ca_dir().join("ca.key"), &pki.ca_pem(), None)
        .unwrap_err();
    assert!(e.to_string().contains("ca.key"), "{e}");
}

#[tokio::test]
async fn roles_and_identity_are_enforced_per_request() {
    let (pki, _data, hub) = fresh_hub().await;
    // The Region submits nothing, an ETS reads no matrix, a body naming another member is
    // refused and the connection still serves the caller's own batch.
    assert_request_roles(&pki, hub.addr()).await;
    // An ETS asking for statistics, or submitting aggregates.
    let (ets, _) = hub.connect(&pki, CARITAS).await.unwrap();
    let r = ets.request(&stats_query(Level::Comune)).await.unwrap();
    assert_eq!(error_code(r), ErrorCode::Forbidden);
    let r = ets
        .request(&Message::SubmitAggregates(SubmitAggregates {
            member: CARITAS.parse().unwrap(),
            epoch: 2026,
            batch_id: BatchId([1; 16]),
            periods: vec![],
        }))
        .await
        .unwrap();
    assert_eq!(error_code(r), ErrorCode::Forbidden);
    // Nothing was stored for Terni.
    let (terni, _) = hub.connect(&pki, TERNI).await.unwrap();
    let r = terni
        .request(&Message::FetchOverlaps(FetchOverlaps {
            member: TERNI.parse().unwrap(),
            epoch: 2026,
        }))
        .await
        .unwrap();
    assert!(matches!(r, Message::Overlaps(o) if o.notices.is_empty()));
    // A hello claiming another identity is refused.
    let (region, _) = hub.connect(&pki, REGION).await.unwrap();
    let r = region
        .request(&Message::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            software_version: "x".into(),
            member: PERUGIA.parse().unwrap(),
        }))
        .await
        .unwrap();
    assert_eq!(error_code(r), ErrorCode::IdentityMismatch);
    // An unsupported protocol version.
    let r = region
        .request(&Message::Hello(Hello {
            protocol_version: 99,
            software_version: "x".into(),
            member: REGION.parse().unwrap(),
        }))
        .await
        .unwrap();
    assert_eq!(error_code(r), ErrorCode::UnsupportedVersion);
    // A reply type sent as a request.
    let r = region
        .request(&Message::Ack(Ack {
            batch_id: BatchId([0; 16]),
            duplicate: false,
            stored: 0,
        }))
        .await
        .unwrap();
    assert_eq!(error_code(r), ErrorCode::Unexpected);
    hub.stop().await;
}

#[tokio::test]
async fn malformed_frames_get_errors_then_the_connection_is_closed() {
    let (pki, _data, hub) = fresh_hub().await;
    let (c, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    // Garbage body with a correct header.
    let r = c
        .request_raw(&[0, 0, 0, 3, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    assert_eq!(error_code(r), ErrorCode::Malformed);
    // A header announcing more than the maximum.
    let r = c.request_raw(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
    assert_eq!(error_code(r), ErrorCode::TooLarge);
    // A header announcing more than is sent.
    let r = c.request_raw(&[0, 0, 0, 10, 1, 2]).await.unwrap();
    assert_eq!(error_code(r), ErrorCode::Malformed);
    // Still usable.
    let r = c
        .request(&one_record_batch(PERUGIA, 9, false))
        .await
        .unwrap();
    assert!(matches!(r, Message::Ack(_)));
    // Repeated abuse (limit 5 in the test config) closes the connection.
    let mut closed = false;
    for _ in 0..10 {
        match c.request_raw(&[0, 0, 0, 1, 0xee]).await {
            Ok(Message::Error(_)) => {}
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "connection not closed after repeated bad requests");
    // A new connection works.
    let (c2, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    c2.close().await;
    hub.stop().await;
}

#[tokio::test]
async fn allow_and_deny_lists() {
    let pki = Pki::new();
    let data = tempfile::tempdir().unwrap();
    let mut cfg = hub_config(&pki, data.path());
    cfg.access.deny = vec![TERNI.into()];
    let hub = start_hub_with(cfg).await;
    let err = hub.connect(&pki, TERNI).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Refused(ref e) if e.code == ErrorCode::NotAllowed),
        "{err}"
    );
    hub.connect(&pki, PERUGIA).await.unwrap();
    hub.stop().await;
    let _ = InitOptions::default();
}

/// A node's rounds reuse its TLS configuration (and so resume their TLS session) while its
/// credential files are unchanged; a renewed certificate makes a new configuration at the next
/// connection, which still identifies the member.
#[tokio::test]
async fn a_nodes_tls_configuration_is_kept_until_its_files_change() {
    use siso_node::client::{config_kept, Dialer, HubClient};
    let (pki, _data, hub) = fresh_hub().await;
    let ca_pem = pki.layout.ca_dir().join("ca.pem");
    let dir = pki.layout.member_dir(&PERUGIA.parse().unwrap());
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    // One connection as `siso-node sync` makes it: a dialer from the files, Hello, close.
    let round = || async {
        let d = Dialer::from_files(hub.addr(), &ca_pem, &cert, &key).unwrap();
        let member = PERUGIA.parse().unwrap();
        let timeout = std::time::Duration::from_secs(10);
        let (c, ack) = HubClient::connect_via(&d, hub.addr(), "localhost", &member, timeout)
            .await
            .unwrap();
        assert_eq!(ack.member.to_string(), PERUGIA);
        c.close().await;
    };
    assert!(!config_kept(&ca_pem, &cert, &key).unwrap());
    round().await;
    assert!(config_kept(&ca_pem, &cert, &key).unwrap());
    round().await;
    let ca = Ca::load(&pki.layout.ca_dir()).unwrap();
    siso_certs_dev::renew(&ca, &dir, OffsetDateTime::now_utc(), 365).unwrap();
    assert!(!config_kept(&ca_pem, &cert, &key).unwrap());
    round().await;
    assert!(config_kept(&ca_pem, &cert, &key).unwrap());
    hub.stop().await;
}
