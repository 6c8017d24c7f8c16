//! The development PKI: files, modes, identities, CSR signing, revocation.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use siso_certs_dev::{init, member_of_cert_pem, normalise_serial, Ca, InitOptions};
use siso_shared::MemberId;
use time::{Duration, OffsetDateTime};

fn small() -> InitOptions {
    InitOptions {
        comuni: vec!["054039".into(), "055032".into()],
        asl: vec!["usl-umbria-1".into()],
        ..InitOptions::default()
    }
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_writes_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    // By default: key service certificates, and no fingerprint secret anywhere.
    let plain = tempfile::tempdir().unwrap();
    init(plain.path(), &small(), now).unwrap();
    assert!(!plain.path().join("fingerprint.key").exists());
    for k in ["keyd-1", "keyd-2", "keyd-3"] {
        let d = plain.path().join("keyd").join(k);
        assert_eq!(mode(&d.join("key.pem")), 0o600);
        // A key service certificate is no member's: the hub refuses it as a client.
        let pem = std::fs::read_to_string(d.join("cert.pem")).unwrap();
        let e = member_of_cert_pem(&pem).unwrap_err();
        assert!(e.contains("urn:siso:keyd:"), "{e}");
    }
    // With shared_key, the secret too.
    let mut opts = small();
    opts.shared_key = true;
    let report = init(dir.path(), &opts, now).unwrap();
    assert_eq!(report.members.len(), 2 + 2 + 1 + 1);
    for f in [
        "ca/ca.pem",
        "ca/ca.key",
        "hub/cert.pem",
        "hub/key.pem",
        "fingerprint.key",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    assert_eq!(mode(&dir.path().join("ca/ca.key")), 0o600);
    assert_eq!(mode(&dir.path().join("hub/key.pem")), 0o600);
    assert_eq!(mode(&dir.path().join("fingerprint.key")), 0o600);
    for (m, _) in &report.members {
        let d = dir.path().join("members").join(m.to_string());
        assert_eq!(mode(&d.join("key.pem")), 0o600);
        let pem = std::fs::read_to_string(d.join("cert.pem")).unwrap();
        assert_eq!(&member_of_cert_pem(&pem).unwrap(), m);
    }
    let secret = std::fs::read_to_string(dir.path().join("fingerprint.key")).unwrap();
    siso_shared::FingerprintSecret::from_hex(&secret).unwrap();
    // The hub certificate carries no member identity.
    let hub = std::fs::read_to_string(dir.path().join("hub/cert.pem")).unwrap();
    assert!(member_of_cert_pem(&hub).is_err());
    // Refuses to overwrite the CA.
    let err = init(dir.path(), &small(), now).unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    let mut forced = small();
    forced.force = true;
    init(dir.path(), &forced, now).unwrap();
}

#[test]
fn rejects_unknown_comune_and_bad_slug() {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    let mut o = small();
    o.comuni = vec!["999999".into()];
    assert!(init(dir.path(), &o, now).is_err());
    let mut o = small();
    o.ets = vec!["Bad_Slug".into()];
    assert!(init(dir.path(), &o, now).is_err());
}

#[test]
fn csr_signing_takes_identity_from_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    let ca = Ca::create(&dir.path().join("ca"), now, 10, false).unwrap();
    let m: MemberId = "ets-caritas-perugia".parse().unwrap();
    let (_key, csr) = siso_certs_dev::make_csr(&m).unwrap();
    let issued = ca.sign_csr(&csr, &m, now, 30).unwrap();
    assert!(issued.key_pem.is_none());
    assert_eq!(member_of_cert_pem(&issued.cert_pem).unwrap(), m);
    // A CSR asking for another member's identity is refused.
    let other: MemberId = "054039".parse().unwrap();
    let err = ca.sign_csr(&csr, &other, now, 30).unwrap_err();
    assert!(err.to_string().contains("asks for identity"), "{err}");
    assert!(ca.sign_csr("garbage", &m, now, 30).is_err());
}

#[test]
fn revocation_writes_a_crl_with_the_serial() {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    let report = init(dir.path(), &small(), now).unwrap();
    let ca = Ca::load(&dir.path().join("ca")).unwrap();
    let (member, serial) = report.members[0].clone();
    // As openssl prints it, lower case with colons.
    let colons: Vec<String> = serial
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_lowercase())
        .collect();
    let subject = ca.revoke(&colons.join(":"), now, 30, false).unwrap();
    assert_eq!(subject.as_deref(), Some(member.to_string().as_str()));
    // Revoking twice is harmless.
    ca.revoke(&serial, now, 30, false).unwrap();
    let crl_pem = std::fs::read_to_string(dir.path().join("ca/crl.pem")).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(crl_pem.as_bytes()).unwrap();
    let (_, crl) =
        x509_parser::revocation_list::CertificateRevocationList::from_der(&pem.contents).unwrap();
    let serials: Vec<String> = crl
        .iter_revoked_certificates()
        .map(|r| format!("{:X}", r.user_certificate))
        .collect();
    assert_eq!(serials.len(), 1);
    assert_eq!(normalise_serial(&serials[0]).unwrap(), serial);
    // Unknown serials need --force.
    assert!(ca.revoke("DEADBEEF", now, 30, false).is_err());
    ca.revoke("DEADBEEF", now, 30, true).unwrap();
    assert!(ca.revoke("not-hex", now, 30, true).is_err());
}

use x509_parser::prelude::FromDer;

#[test]
fn expired_window() {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    let ca = Ca::create(&dir.path().join("ca"), now - Duration::days(10), 100, false).unwrap();
    let m: MemberId = "054039".parse().unwrap();
    let issued = ca
        .issue_member_window(&m, now - Duration::days(5), now - Duration::days(1))
        .unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(issued.cert_pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    assert!(!cert.validity().is_valid());
}

#[test]
fn serial_normalisation() {
    assert_eq!(normalise_serial("serial=0A:bc").unwrap(), "0ABC");
    assert_eq!(normalise_serial("00:7f:01").unwrap(), "7F01");
    assert_eq!(normalise_serial("abc").unwrap(), "0ABC");
    assert!(normalise_serial("").is_err());
    assert!(normalise_serial("xyz").is_err());
}

#[test]
fn cli_help_and_usage_errors() {
    let bin = env!("CARGO_BIN_EXE_siso-certs");
    let out = Command::new(bin).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["init", "issue", "sign-csr", "revoke"] {
        assert!(text.contains(sub), "{sub}");
    }
    let out = Command::new(bin)
        .args(["issue", "--member", "bad id"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A real run through the binary, JSON summary alone on stdout.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .args([
            "init", "--comuni", "054039", "--ets", "none", "--asl", "none", "--format", "json",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["members"].as_array().unwrap().len(), 2);
    // A second init without --force fails with exit 1 and a clear message.
    let out = Command::new(bin)
        .args(["init", "--comuni", "054039", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
}

#[test]
fn members_issued_in_one_batch_are_recorded_and_revocable() {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    let ca = Ca::create(&dir.path().join("ca"), now, 30, false).unwrap();
    let members: Vec<MemberId> = ["054039", "055032", "ets-caritas-perugia"]
        .iter()
        .map(|m| m.parse().unwrap())
        .collect();
    let issued = ca.issue_members(&members, now, 30).unwrap();
    assert_eq!(issued.len(), 3);
    let recorded = ca.issued().unwrap();
    assert_eq!(recorded.len(), 3);
    for ((m, i), (serial, subject)) in members.iter().zip(&issued).zip(&recorded) {
        assert_eq!(member_of_cert_pem(&i.cert_pem).unwrap(), *m);
        assert_eq!(&i.serial, serial);
        assert_eq!(subject, &m.to_string());
        assert!(i.key_pem.is_some());
    }
    // Distinct serials; each one can be revoked by name, as a single issue would be.
    assert_ne!(issued[0].serial, issued[1].serial);
    let subject = ca.revoke(&issued[2].serial, now, 30, false).unwrap();
    assert_eq!(subject.as_deref(), Some("ets-caritas-perugia"));
}
