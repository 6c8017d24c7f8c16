//! The operators' web app over real HTTP and HTTPS on loopback: log-in and log-out through the
//! pages and the JSON API, the session cookie's flags, CSRF refusals, lock-out, the per-address
//! limit, session expiry, disabled accounts, security headers on every reply.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use siso_node::accounts;
use siso_server::clock::Clock;
use siso_shared::Role;
use support::*;
use time::Duration;

#[tokio::test]
async fn pages_log_in_and_out_with_csrf() {
    let app = start(None).await;
    let a = app.addr;
    // Without a session: to the log-in page.
    let r = call(a, "GET", "/", &[], "").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location").as_deref(), Some("/accesso"));
    assert_secure(&r);
    let r = call(a, "GET", "/accesso", &[], "").await;
    assert_eq!(r.status, 200);
    assert_secure(&r);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    for needle in [
        "<html lang=\"it\">",
        "<label for=\"username\">Nome utente</label>",
        "<label for=\"password\">Password</label>",
        "Comune di Perugia",
        "href=\"#contenuto\"",
    ] {
        assert!(r.body.contains(needle), "{needle} missing: {}", r.body);
    }
    // No inline script or style: the CSP would block them.
    assert!(!r.body.contains("<script") && !r.body.contains("style="));
    // The style sheet is compiled in and may be cached.
    let css = call(a, "GET", "/static/siso.css", &[], "").await;
    assert_eq!(css.status, 200);
    assert!(css.body.contains("--primary: #0066cc"));
    assert_eq!(
        css.header("cache-control").as_deref(),
        Some("public, max-age=3600")
    );

    // A wrong password: 401 and the form again, with the user name kept.
    let body = "username=s.verdi&password=sbagliata";
    let r = call(a, "POST", "/accesso", &[FORM], body).await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("Nome utente o password non corretti."));
    assert!(r.body.contains("value=\"s.verdi\""));
    assert!(r.header("set-cookie").is_none());
    // The right one: a session cookie, HttpOnly and SameSite=Strict (no Secure over HTTP).
    let body = "username=s.verdi&password=un%27altra+frase+lunga";
    let r = call(a, "POST", "/accesso", &[FORM], body).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let set = r.header("set-cookie").unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && !set.contains("Secure"));
    let cookie = r.session_cookie();
    let with = [("Cookie", cookie.as_str())];
    let home = call(a, "GET", "/", &with, "").await;
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains("s.verdi") && home.body.contains("Sportello (segretariato sociale)")
    );
    assert_eq!(home.header("cache-control").as_deref(), Some("no-store"));
    let csrf = home
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    // Log-out without, or with a wrong, CSRF token: refused, the session lives on.
    let form = [("Cookie", cookie.as_str()), FORM];
    for body in ["", "csrf=0000"] {
        let r = call(a, "POST", "/esci", &form, body).await;
        assert_eq!(r.status, 403, "{body}");
    }
    assert_eq!(call(a, "GET", "/", &with, "").await.status, 200);
    // With it: the session ends and the cookie is cleared.
    let r = call(a, "POST", "/esci", &form, &format!("csrf={csrf}")).await;
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(call(a, "GET", "/", &with, "").await.status, 303);
    // Unknown pages: 404 with the headers.
    let r = call(a, "GET", "/nessuna", &[], "").await;
    assert_eq!(r.status, 404);
    assert_secure(&r);
    app.shutdown.cancel();
}

#[tokio::test]
async fn the_session_api_with_its_refusals() {
    let app = start(None).await;
    let a = app.addr;
    // Malformed bodies: 400.
    for body in ["", "{", "[1]", "{\"username\": 3}"] {
        let r = call(a, "POST", "/api/v1/sessione", &[JSON], body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.json()["errore"].is_string());
    }
    // Wrong password, unknown user: 401, the same message.
    let r = api_login(a, (MANAGER.0, "sbagliata")).await;
    assert_eq!(r.status, 401);
    let r2 = api_login(a, ("nessuno", "sbagliata")).await;
    assert_eq!((r2.status, r2.json()), (401, r.json()));
    // Right: the CSRF token, the role, the cookie.
    let r = api_login(a, MANAGER).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["ruolo"], "responsabile");
    assert_eq!(v["utente"], MANAGER.0);
    let csrf = v["csrf"].as_str().unwrap().to_owned();
    assert_eq!(csrf.len(), 64);
    let cookie = r.session_cookie();
    let r = call(a, "GET", "/api/v1/sessione", &[("Cookie", &cookie)], "").await;
    assert_eq!(
        (r.status, r.json()["utente"].clone()),
        (200, MANAGER.0.into())
    );
    // No session: 401; a forged cookie: 401.
    assert_eq!(
        call(a, "GET", "/api/v1/sessione", &[], "").await.status,
        401
    );
    let forged = [("Cookie", "siso_sessione=00ff")];
    assert_eq!(
        call(a, "GET", "/api/v1/sessione", &forged, "").await.status,
        401
    );
    // Log-out: 401 without a session, 403 without or with a wrong CSRF token, 204 with it.
    assert_eq!(
        call(a, "DELETE", "/api/v1/sessione", &[], "").await.status,
        401
    );
    for token in ["", "0123"] {
        let h = [("Cookie", cookie.as_str()), ("X-CSRF-Token", token)];
        assert_eq!(
            call(a, "DELETE", "/api/v1/sessione", &h, "").await.status,
            403
        );
    }
    let h = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
    let r = call(a, "DELETE", "/api/v1/sessione", &h, "").await;
    assert_eq!(r.status, 204);
    assert_secure(&r);
    assert_eq!(
        call(a, "GET", "/api/v1/sessione", &[("Cookie", &cookie)], "")
            .await
            .status,
        401
    );
    // Unknown API paths: JSON 404.
    let r = call(a, "GET", "/api/v1/nulla", &[], "").await;
    assert_eq!(r.status, 404);
    assert!(r.json()["errore"].is_string());
    app.shutdown.cancel();
}

#[tokio::test]
async fn lock_out_expiry_disabled_accounts_and_the_address_limit() {
    let app = start(None).await;
    let a = app.addr;
    // Five wrong passwords lock the account; then even the right one is refused (429).
    for i in 1..=5 {
        let r = api_login(a, (MANAGER.0, "sbagliata")).await;
        assert_eq!(r.status, if i < 5 { 401 } else { 429 }, "attempt {i}");
    }
    let r = api_login(a, MANAGER).await;
    assert_eq!(r.status, 429);
    assert!(r.json()["errore"].as_str().unwrap().contains("bloccato"));
    // Another account is not affected; after 15 minutes the locked one works again.
    assert_eq!(api_login(a, DESK).await.status, 200);
    app.clock.advance(Duration::minutes(15));
    let r = api_login(a, MANAGER).await;
    assert_eq!(r.status, 200);
    // 30 minutes without activity end a session; activity keeps it.
    let cookie = r.session_cookie();
    let with = [("Cookie", cookie.as_str())];
    app.clock.advance(Duration::minutes(29));
    assert_eq!(
        call(a, "GET", "/api/v1/sessione", &with, "").await.status,
        200
    );
    app.clock.advance(Duration::minutes(29));
    assert_eq!(
        call(a, "GET", "/api/v1/sessione", &with, "").await.status,
        200
    );
    app.clock.advance(Duration::minutes(30));
    assert_eq!(
        call(a, "GET", "/api/v1/sessione", &with, "").await.status,
        401
    );
    // A disabled account cannot log in.
    let now = app.clock.now();
    accounts::change(
        &app.store,
        DESK.0,
        accounts::Change::Disable,
        Role::Comune,
        now,
    )
    .unwrap();
    assert_eq!(api_login(a, DESK).await.status, 401);
    // 30 attempts a minute per address; X-Forwarded-For from an untrusted peer changes nothing.
    app.clock.advance(Duration::minutes(2));
    for i in 0..30 {
        let xff = format!("198.51.100.{i}");
        let h = [JSON, ("X-Forwarded-For", xff.as_str())];
        let r = call(
            a,
            "POST",
            "/api/v1/sessione",
            &h,
            &credentials((&format!("u{i}"), "x")),
        )
        .await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let r = api_login(a, MANAGER).await;
    assert_eq!(r.status, 429);
    assert!(r.json()["errore"].as_str().unwrap().contains("indirizzo"));
    app.clock.advance(Duration::minutes(1));
    assert_eq!(api_login(a, MANAGER).await.status, 200);
    // Refused log-ins are in the audit trail, with the reason; no password anywhere.
    let refused: Vec<_> = app
        .store
        .audit_iter()
        .map(|r| r.unwrap())
        .filter(|r| r.action == "accesso_rifiutato")
        .collect();
    assert!(refused
        .iter()
        .any(|r| r.user == MANAGER.0 && r.detail == "account bloccato"));
    assert!(refused
        .iter()
        .any(|r| r.detail == "troppi tentativi dall'indirizzo"));
    assert!(refused.iter().all(|r| !r.detail.contains("sbagliata")));
    app.shutdown.cancel();
}

#[tokio::test]
async fn over_https_cookies_are_secure_and_hsts_is_sent() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, key_pem) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_pem, cert.pem()).unwrap();
    std::fs::write(&key_pem, key.serialize_pem()).unwrap();
    let tls = siso_node::web::server_config(&cert_pem, &key_pem).unwrap();
    let app = start(Some(tls)).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let https = |method: &'static str, path: &'static str, body: String| {
        let connector = connector.clone();
        let addr = app.addr;
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let tls = connector.connect(name, tcp).await.unwrap();
            exchange(tls, method, path, &[JSON], &body).await
        }
    };
    let r = https("GET", "/accesso", String::new()).await;
    assert_eq!(r.status, 200);
    assert_secure(&r);
    assert!(r
        .header("strict-transport-security")
        .unwrap()
        .starts_with("max-age="));
    let r = https("POST", "/api/v1/sessione", credentials(MANAGER)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("set-cookie").unwrap().contains("; Secure"));
    // Plain HTTP to the TLS port gets no page.
    let r = call(app.addr, "GET", "/accesso", &[], "").await;
    assert_ne!(r.status, 200);
    // A certificate file that holds no certificate is a clear error.
    std::fs::write(&cert_pem, "not pem").unwrap();
    let e = siso_node::web::server_config(&cert_pem, &key_pem).unwrap_err();
    assert!(e.to_string().contains("cert.pem"), "{e}");
    app.shutdown.cancel();
}

#[tokio::test]
async fn person_search_by_role_api_and_page() {
    let app = start(None).await;
    let a = app.addr;
    let session = |r: Reply| r.session_cookie();
    let desk = session(api_login(a, DESK).await);
    let admin = session(api_login(a, ADMIN).await);
    // The API: 401 without a session, 400 without a query, 403 for the administrator.
    assert_eq!(
        call(a, "GET", "/api/v1/persone?q=rossi", &[], "")
            .await
            .status,
        401
    );
    let get = |path: &'static str, c: String| async move {
        let h = [("Cookie", c.as_str())];
        call(a, "GET", path, &h, "").await
    };
    assert_eq!(get("/api/v1/persone", desk.clone()).await.status, 400);
    assert_eq!(
        get("/api/v1/persone?q=rossi", admin.clone()).await.status,
        403
    );
    // The reception desk finds by surname, by name and surname, by code, by family.
    let r = get("/api/v1/persone?q=rossi", desk.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_secure(&r);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let rows = r.json()["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["nome"], "Luca");
    assert_eq!(rows[1]["codice_fiscale"], "RSSMRA70C01G478R");
    assert_eq!(rows[1]["id_famiglia"], "1001");
    assert_eq!(rows[1]["id"].as_str().unwrap().len(), 32);
    for (q, n) in [
        ("/api/v1/persone?q=giulia%20neri", 1),
        ("/api/v1/persone?q=VRDGPP45A20L117B", 1),
        ("/api/v1/persone?q=1003", 2),
        ("/api/v1/persone?q=nessuno", 0),
    ] {
        let r = get(q, desk.clone()).await;
        assert_eq!(r.json()["rows"].as_array().unwrap().len(), n, "{q}");
    }
    // The page: the form, then a table of results; the administrator is refused.
    let r = get("/persone", desk.clone()).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<label for=\"q\">") && !r.body.contains("<table"));
    let r = get("/persone?q=neri", desk.clone()).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("2 persone trovate") && r.body.contains("<td>NREGLI90B42G478F</td>"));
    let r = get("/persone?q=nessuno", desk.clone()).await;
    assert!(r.body.contains("Nessuna persona trovata."));
    assert_eq!(get("/persone?q=neri", admin.clone()).await.status, 403);
    assert_eq!(call(a, "GET", "/persone?q=neri", &[], "").await.status, 303);
    // Every search is in the audit trail (who, which persons, from where; never the query),
    // which only the responsabile reads, by person.
    let rows = get("/api/v1/persone?q=rossi%20mario", desk.clone())
        .await
        .json()["rows"]
        .clone();
    let mario = rows[0]["id"].as_str().unwrap().to_owned();
    let manager = session(api_login(a, MANAGER).await);
    let trail = format!("/api/v1/audit?persona={mario}");
    let r = call(a, "GET", &trail, &[("Cookie", &manager)], "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let entries = r.json()["rows"].as_array().unwrap().clone();
    // "rossi" (API) and "rossi mario" showed him; "neri", "1003", codes of others did not.
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries
        .iter()
        .all(|e| e["utente"] == DESK.0 && e["azione"] == "ricerca"));
    assert_eq!(entries[0]["indirizzo"], "127.0.0.1");
    assert!(
        !r.body.contains("rossi") && !r.body.contains("RSSMRA"),
        "{}",
        r.body
    );
    let r = call(a, "GET", &trail, &[("Cookie", &manager)], "").await;
    let last = r.json()["rows"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["utente"].clone(), last["azione"].clone()),
        (MANAGER.0.into(), "lettura_audit".into())
    );
    assert_eq!(
        call(a, "GET", &trail, &[("Cookie", &desk)], "")
            .await
            .status,
        403
    );
    let r = call(a, "GET", "/api/v1/audit", &[("Cookie", &manager)], "").await;
    assert_eq!(r.status, 400);
    let v = siso_node::audit::verify(&app.store).unwrap();
    assert!(v.first_broken.is_none() && v.records >= 12, "{v:?}");

    // The home page links the search for those who may use it.
    assert!(get("/", desk).await.body.contains("href=\"/persone\""));
    assert!(!get("/", admin).await.body.contains("href=\"/persone\""));
    app.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_log_in_search_log_out_and_lock_out() {
    use fantoccini::Locator;
    let app = start(None).await;
    let base = format!("http://{}", app.addr);
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();

    // Without a session, to the log-in page; the page is styled (the CSP let the sheet in).
    c.goto(&base).await.unwrap();
    assert_eq!(path_of(&c).await, "/accesso");
    let header = c.find(Locator::Css(".it-header-center")).await.unwrap();
    let bg = header.css_value("background-color").await.unwrap();
    assert_eq!(bg, "rgba(0, 102, 204, 1)", "the style sheet did not apply");
    std::fs::write(
        artifacts.join("web-accesso.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Log in at the desk, search by surname, see the table.
    form_log_in(&c, &base, DESK).await;
    let user = element(&c, ".it-user").await;
    assert!(user.text().await.unwrap().contains("s.verdi"));
    click(&c, Locator::LinkText("Ricerca persone")).await;
    type_into(&c, "#q", "rossi").await;
    click(&c, Locator::Css("main button[type=submit]")).await;
    element(&c, "table").await;
    let rows = c.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[1].text().await.unwrap().contains("RSSMRA70C01G478R"));
    std::fs::write(
        artifacts.join("web-ricerca.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Log out with the header's button: the session is gone.
    click(&c, Locator::Css(".it-user button")).await;
    element(&c, "#username").await;
    c.goto(&format!("{base}/persone")).await.unwrap();
    assert_eq!(path_of(&c).await, "/accesso");

    // Five wrong passwords lock the account; the right one is then refused with the reason.
    for _ in 0..5 {
        form_log_in(&c, &base, (MANAGER.0, "sbagliata")).await;
        element(&c, "#errore-accesso").await;
    }
    form_log_in(&c, &base, MANAGER).await;
    let err = element(&c, "#errore-accesso").await;
    assert!(err.text().await.unwrap().contains("bloccato"));
    assert_eq!(path_of(&c).await, "/accesso");
    c.close().await.unwrap();
    app.shutdown.cancel();
}
