//! The operators' phone app (PWA under `/app/`) in headless Chromium emulating a phone
//! (390×844): installable (manifest, service worker), log-in, the caseload, an activity
//! recorded with the node unreachable (its web listener stopped) that waits on the phone
//! encrypted and is sent when the node is back, a report for a case closed meanwhile that comes
//! back refused and stays visible, the same report sent twice recorded once, and a log-out that
//! leaves nothing in the browser's storage. Also the device API: a lost phone disconnected by
//! the manager gets no key again.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use siso_node::accounts::OperatorRole;
use siso_node::cartella::{Desk, Operator, Step};
use siso_node::import::ImportKind;
use siso_node::model::Attivita;
use siso_node::store::Kind;
use support::*;

const MARIO: &str = "RSSMRA70C01G478R";

/// Headless Chromium as a phone of 390×844.
async fn phone(driver: &Driver, profile: &std::path::Path) -> Client {
    phone_sized(driver, profile, 390, 844).await
}

/// Headless Chromium as a phone of `width`×`height` CSS pixels.
async fn phone_sized(
    driver: &Driver,
    profile: &std::path::Path,
    width: u32,
    height: u32,
) -> Client {
    let mut options = serde_json::Map::new();
    options.insert(
        "mobileEmulation".into(),
        json!({
            "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "touch": true },
            "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36"
        }),
    );
    browser_with(driver, profile, &[], options).await
}

async fn shot(c: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), c.screenshot().await.unwrap()).unwrap();
}

/// Runs an async script (`done` is its last argument) and returns what it passed to `done`.
async fn js(c: &Client, body: &str) -> Value {
    let script = format!("const done = arguments[arguments.length - 1]; (async () => {{ {body} }})().then(done, (e) => done('error: ' + e));");
    c.execute_async(&script, vec![]).await.unwrap()
}

/// Waits until `check` (a JS expression) is true in the page, up to 30 s.
async fn until(c: &Client, what: &str, check: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let v = c
            .execute(&format!("return !!({check});"), vec![])
            .await
            .unwrap();
        if v == Value::Bool(true) {
            return;
        }
        if std::time::Instant::now() > deadline {
            let page = c
                .execute("return document.querySelector('main').innerText;", vec![])
                .await
                .unwrap();
            panic!("timed out waiting for {what}; the page says: {page}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Laid out for the phone: nothing wider than the screen, every visible control at least 44 px
/// high (WCAG 2.5.5 target size).
async fn assert_fits(c: &Client, width: u32) {
    let r = js(c, "const small = [...document.querySelectorAll('button, input, select, textarea')].filter((e) => e.offsetParent !== null && e.getBoundingClientRect().height < 44).map((e) => e.id || e.textContent.trim()); return [document.documentElement.scrollWidth, small];").await;
    assert!(
        r[0].as_u64().unwrap() <= u64::from(width),
        "wider than the screen: {r}"
    );
    assert_eq!(r[1], json!([]), "controls under 44 px");
}

/// Waits (up to 30 s) until the store holds a record of `kind`.
async fn stored(store: &siso_node::store::Store, kind: Kind, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while store.count(kind).unwrap() == 0 {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn text(c: &Client, css: &str) -> String {
    element(c, css).await.text().await.unwrap()
}

fn op(user: &str, role: OperatorRole) -> Operator {
    Operator {
        user: user.into(),
        role,
        addr: "127.0.0.1".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_offline_and_back() {
    let app = start_with(None, &[ImportKind::Anagrafe]).await;
    let a = app.addr;
    let base = format!("http://{a}");
    // The worker holds Mario Rossi's case.
    let r = api_login(a, WORKER).await;
    let (cookie, csrf) = (
        r.session_cookie(),
        r.json()["csrf"].as_str().unwrap().to_owned(),
    );
    let h = [
        ("Cookie", cookie.as_str()),
        ("X-CSRF-Token", csrf.as_str()),
        JSON,
    ];
    let body = json!({"codice_fiscale": MARIO, "data_inizio": "2026-11-20", "area_bisogno": "lavoro", "operatore": ""});
    let r = call(a, "POST", "/api/v1/prese-in-carico", &h, &body.to_string()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let case = r.json()["id"].as_str().unwrap().to_owned();
    // An appointment today (the phone's today).
    let d = time::OffsetDateTime::now_utc().date().to_string();
    let body = json!({"data": d, "ora": "10:30", "luogo": "domicilio"});
    let r = call(
        a,
        "POST",
        &format!("/api/v1/casi/{case}/appuntamento"),
        &h,
        &body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = phone(&driver, profile.path()).await;
    c.goto(&format!("{base}/app/")).await.unwrap();
    element(&c, "body[data-pronto]").await;
    // Installable: a manifest, and a service worker controlling /app/.
    let sw = js(
        &c,
        "const r = await navigator.serviceWorker.ready; return r.scope;",
    )
    .await;
    assert_eq!(sw, json!(format!("{base}/app/")));
    let m = js(&c, "const r = await fetch(document.querySelector('link[rel=manifest]').href); const j = await r.json(); return [r.status, j.display, j.start_url];").await;
    assert_eq!(m, json!([200, "standalone", "/app/"]));
    assert_eq!(js(&c, "return window.innerWidth;").await, json!(390));

    // Log in; the caseload lists the case.
    type_into(&c, "#username", WORKER.0).await;
    type_into(&c, "#password", WORKER.1).await;
    click(&c, Locator::Css("#form-accesso button")).await;
    element(&c, &format!("#casi li[data-caso='{case}']")).await;
    let list = text(&c, "#casi").await;
    assert!(
        list.contains("Rossi Mario") && list.contains("appuntamento oggi alle 10:30 · domicilio"),
        "{list}"
    );
    assert_fits(&c, 390).await;
    shot(&c, "phone-oggi.png").await;
    // The short card, read live: the household, not kept on the phone.
    click(
        &c,
        Locator::Css(&format!("#casi li[data-caso='{case}'] button")),
    )
    .await;
    until(
        &c,
        "the short card",
        "document.querySelector('#scheda-corpo .nucleo') !== null",
    )
    .await;
    let card = text(&c, "#scheda-corpo").await;
    assert!(
        card.contains("Bianchi Anna") && card.contains("lavoro"),
        "{card}"
    );
    click(&c, Locator::Css("#indietro")).await;

    // The node goes away; an activity is recorded on the phone and waits, encrypted.
    app.shutdown.cancel();
    wait_closed(a).await;
    click(&c, Locator::Css("button[data-scheda='attivita']")).await;
    element(&c, "#form-attivita")
        .await
        .select_by_value(&case)
        .await
        .ok();
    element(&c, "#att-caso")
        .await
        .select_by_value(&case)
        .await
        .unwrap();
    element(&c, "#att-tipo")
        .await
        .select_by_value("visita_domiciliare")
        .await
        .unwrap();
    // The node's clock says 1 December 2026 (the browser's may be later).
    c.execute(
        "document.querySelector('#att-data').value = '2026-11-30';",
        vec![],
    )
    .await
    .unwrap();
    type_into(&c, "#att-luogo", "domicilio").await;
    type_into(&c, "#att-note", "Visita senza rete.").await;
    shot(&c, "phone-attivita.png").await;
    click(&c, Locator::Css("#form-attivita button[type=submit]")).await;
    until(
        &c,
        "one draft waiting",
        "document.querySelector('#conta-attesa').textContent === '1'",
    )
    .await;
    click(&c, Locator::Css("button[data-scheda='attesa']")).await;
    assert!(text(&c, "#bozze").await.contains("in attesa di invio"));
    shot(&c, "phone-attesa.png").await;
    // What the phone holds is ciphertext: the note is nowhere in it.
    let stored = js(&c, "const db = await new Promise((ok) => { const r = indexedDB.open('siso-app'); r.onsuccess = () => ok(r.result); }); const all = await new Promise((ok) => { const q = db.transaction('bozze').objectStore('bozze').getAll(); q.onsuccess = () => ok(q.result); }); db.close(); return all.map((d) => new TextDecoder().decode(d.data).includes('senza rete') || JSON.stringify(d).includes('senza rete'));").await;
    assert_eq!(stored, json!([false]));
    assert_eq!(app.store.count(Kind::Attivita).unwrap(), 0);

    // The node is back (same process, same sessions): the draft goes, and is recorded.
    let back = serve_again(a, app.state.clone()).await;
    until(
        &c,
        "the draft sent",
        "document.querySelector('#conta-attesa').textContent === '0'",
    )
    .await;
    let acts: Vec<(Vec<u8>, Attivita)> = app.store.scan(Kind::Attivita, MARIO.as_bytes()).unwrap();
    assert_eq!(acts.len(), 1);
    assert_eq!(
        (acts[0].1.note.as_str(), acts[0].1.caso.as_deref()),
        ("Visita senza rete.", Some(case.as_str()))
    );

    // The same report sent twice (a reply lost on the way): one record.
    let statuses = js(&c, &format!(
        "const h = {{'Content-Type': 'application/json', 'X-CSRF-Token': state.csrf, 'Idempotency-Key': 'stessa-bozza-1'}};
         const body = JSON.stringify({{persona: state.cases[0].persona, data: '2026-11-30', tipo_attivita: 'telefonata', durata_minuti: 5, caso: '{case}'}});
         const a = await fetch('/api/v1/attivita', {{method: 'POST', headers: h, body}});
         const b = await fetch('/api/v1/attivita', {{method: 'POST', headers: h, body}});
         return [a.status, b.status];"
    )).await;
    assert_eq!(statuses, json!([201, 200]));
    assert_eq!(app.store.count(Kind::Attivita).unwrap(), 2);

    // Offline again; meanwhile the manager closes the case: the late report comes back refused
    // and stays on the phone with the reason.
    back.cancel();
    wait_closed(a).await;
    click(&c, Locator::Css("button[data-scheda='attivita']")).await;
    element(&c, "#att-caso")
        .await
        .select_by_value(&case)
        .await
        .unwrap();
    c.execute(
        "document.querySelector('#att-data').value = '2026-11-30';",
        vec![],
    )
    .await
    .unwrap();
    type_into(&c, "#att-note", "Arriva tardi.").await;
    click(&c, Locator::Css("#form-attivita button[type=submit]")).await;
    until(
        &c,
        "one draft waiting",
        "document.querySelector('#conta-attesa').textContent === '1'",
    )
    .await;
    {
        let trail = siso_node::audit::AuditTrail::open(&app.store).unwrap();
        let ids = siso_node::persons::id_key(&app.store).unwrap();
        let desk = Desk {
            store: &app.store,
            trail: &trail,
            ids: &ids,
            now: time::OffsetDateTime::now_utc(),
        };
        let close: BTreeMap<String, String> = [("motivo".to_owned(), "rinuncia".to_owned())].into();
        desk.step(
            &op(MANAGER.0, OperatorRole::Responsabile),
            &case,
            Step::Chiusura,
            &close,
        )
        .unwrap();
    }
    let back = serve_again(a, app.state.clone()).await;
    click(&c, Locator::Css("button[data-scheda='attesa']")).await;
    until(
        &c,
        "the draft refused",
        "document.querySelector('#bozze li.rifiutata') !== null",
    )
    .await;
    let refused = text(&c, "#bozze li.rifiutata").await;
    assert!(refused.contains("chiuso"), "{refused}");
    assert_eq!(app.store.count(Kind::Attivita).unwrap(), 2);
    shot(&c, "phone-rifiutata.png").await;
    click(
        &c,
        Locator::XPath("//li[contains(@class,'rifiutata')]//button[text()='Elimina']"),
    )
    .await;
    until(
        &c,
        "no drafts",
        "document.querySelector('#conta-attesa').textContent === '0'",
    )
    .await;

    // Log-out: nothing of the operator's is left in the browser.
    click(&c, Locator::Css("#esci")).await;
    until(
        &c,
        "the log-in form",
        "!document.querySelector('#accesso').hidden",
    )
    .await;
    let left = js(&c, "const dbs = (await indexedDB.databases()).map((d) => d.name); const cs = await caches.keys(); return [dbs, cs, localStorage.length];").await;
    assert_eq!(left, json!([[], [], 0]));
    c.close().await.unwrap();
    back.cancel();
}

#[tokio::test]
async fn a_lost_phone_is_disconnected_by_the_manager() {
    let app = start_with(None, &[ImportKind::Anagrafe]).await;
    let a = app.addr;
    let login = |who| async move {
        let r = api_login(a, who).await;
        (
            r.session_cookie(),
            r.json()["csrf"].as_str().unwrap().to_owned(),
        )
    };
    let (wc, wt) = login(WORKER).await;
    let post = |cookie: String, csrf: String, path: &'static str, body: Value| async move {
        let h = [
            ("Cookie", cookie.as_str()),
            ("X-CSRF-Token", csrf.as_str()),
            JSON,
        ];
        call(a, "POST", path, &h, &body.to_string()).await
    };
    let device = json!({"dispositivo": "telefono-di-prova-1"});
    let k1 = post(
        wc.clone(),
        wt.clone(),
        "/api/v1/dispositivo",
        device.clone(),
    )
    .await;
    assert_eq!(k1.status, 200);
    let key = k1.json()["chiave"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 64);
    // Same user, same device, a new session: the same key (drafts stay readable).
    let (wc2, wt2) = login(WORKER).await;
    let k2 = post(
        wc2.clone(),
        wt2.clone(),
        "/api/v1/dispositivo",
        device.clone(),
    )
    .await;
    assert_eq!(k2.json()["chiave"], key.as_str());
    assert_eq!(
        post(
            wc.clone(),
            wt.clone(),
            "/api/v1/dispositivo",
            json!({"dispositivo": "X"})
        )
        .await
        .status,
        400
    );
    // Only the manager disconnects another's phone; then every session of that user ends and
    // the key is never handed out again.
    let (dc, dt) = login(DESK).await;
    let h = [("Cookie", dc.as_str()), ("X-CSRF-Token", dt.as_str())];
    assert_eq!(
        call(
            a,
            "DELETE",
            "/api/v1/utenti/a.rossi/dispositivi/telefono-di-prova-1",
            &h,
            ""
        )
        .await
        .status,
        403
    );
    let (mc, mt) = login(MANAGER).await;
    let h = [("Cookie", mc.as_str()), ("X-CSRF-Token", mt.as_str())];
    let list = call(a, "GET", "/api/v1/utenti/a.rossi/dispositivi", &h, "").await;
    assert_eq!(list.json()["dispositivi"][0]["id"], "telefono-di-prova-1");
    assert_eq!(
        call(
            a,
            "DELETE",
            "/api/v1/utenti/a.rossi/dispositivi/telefono-di-prova-1",
            &h,
            ""
        )
        .await
        .status,
        204
    );
    assert_eq!(
        call(
            a,
            "GET",
            "/api/v1/sessione",
            &[("Cookie", wc2.as_str())],
            ""
        )
        .await
        .status,
        401
    );
    let (wc3, wt3) = login(WORKER).await;
    assert_eq!(
        post(wc3, wt3, "/api/v1/dispositivo", device).await.status,
        403
    );
    let list = call(a, "GET", "/api/v1/utenti/a.rossi/dispositivi", &h, "").await;
    assert_eq!(list.json()["dispositivi"][0]["disconnesso"], true);
    app.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_sector_operator_records_by_demographics_on_a_phone() {
    let app = start_ets().await;
    let base = format!("http://{}", app.addr);
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = phone_sized(&driver, profile.path(), 360, 640).await;
    c.goto(&format!("{base}/app/")).await.unwrap();
    element(&c, "body[data-pronto]").await;
    assert_fits(&c, 360).await;
    type_into(&c, "#username", ETS_OPERATOR.0).await;
    type_into(&c, "#password", ETS_OPERATOR.1).await;
    click(&c, Locator::Css("#form-accesso button")).await;
    // No caseload: the intervention form, by demographics.
    until(&c, "the demographic form", "!document.querySelector('#int-ets').hidden && !document.querySelector('#intervento').hidden").await;
    assert!(text(&c, "#int-ets").await.contains("omocodia"));
    assert_fits(&c, 360).await;
    type_into(&c, "#int-cognome", "Conti").await;
    type_into(&c, "#int-nome", "Sara").await;
    element(&c, "#int-sesso")
        .await
        .select_by_value("F")
        .await
        .unwrap();
    c.execute("document.querySelector('#int-nascita').value = '1985-07-07'; document.querySelector('#int-data').value = '2026-11-15';", vec![]).await.unwrap();
    // The birthplace is chosen by name from the node's reference table.
    type_into(&c, "#int-luogo", "Roma").await;
    until(
        &c,
        "the birthplaces",
        "[...document.querySelectorAll('#luoghi option')].some((o) => o.value.endsWith('H501'))",
    )
    .await;
    c.execute("const o = [...document.querySelectorAll('#luoghi option')].find((o) => o.value.endsWith('H501')); document.querySelector('#int-luogo').value = o.value;", vec![]).await.unwrap();
    element(&c, "#int-tipo")
        .await
        .select_by_value("pacco_alimentare")
        .await
        .unwrap();
    element(&c, "#int-area")
        .await
        .select_by_value("poverta")
        .await
        .unwrap();
    click(&c, Locator::Css("#form-intervento button[type=submit]")).await;
    stored(
        &app.store,
        Kind::Intervento,
        "the intervention never arrived",
    )
    .await;
    let v: Vec<(Vec<u8>, siso_node::model::Intervento)> = app
        .store
        .scan(Kind::Intervento, b"CNTSRA85L47H501X")
        .unwrap();
    assert_eq!(v.len(), 1, "the code computed from the demographics");
    assert_eq!(v[0].1.tipo, siso_shared::TipoIntervento::PaccoAlimentare);
    until(
        &c,
        "no drafts",
        "document.querySelector('#conta-attesa').textContent === '0'",
    )
    .await;
    // An access at the entity's desk, by demographics too.
    element(&c, "#int-cosa")
        .await
        .select_by_value("accessi")
        .await
        .unwrap();
    assert!(element(&c, "#int-esito")
        .await
        .is_displayed()
        .await
        .unwrap());
    type_into(&c, "#int-cognome", "Conti").await;
    type_into(&c, "#int-nome", "Sara").await;
    c.execute("document.querySelector('#int-nascita').value = '1985-07-07'; document.querySelector('#int-data').value = '2026-11-16'; document.querySelector('#int-luogo').value = 'ROMA (RM) H501';", vec![]).await.unwrap();
    element(&c, "#int-esito")
        .await
        .select_by_value("invio ad altro servizio")
        .await
        .unwrap();
    click(&c, Locator::Css("#form-intervento button[type=submit]")).await;
    stored(&app.store, Kind::Accesso, "the access never arrived").await;
    let acc: Vec<(Vec<u8>, siso_node::model::Accesso)> =
        app.store.scan(Kind::Accesso, b"CNTSRA85L47H501X").unwrap();
    assert_eq!(acc[0].1.esito, "invio ad altro servizio");
    c.close().await.unwrap();
    app.shutdown.cancel();
}

/// A minimal reverse proxy on 127.0.0.1 in front of `node`: one request per connection, the
/// phone's address (here a documentation address) appended as `X-Forwarded-For`.
async fn proxy(node: std::net::SocketAddr, phone_addr: &'static str) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut b).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let text = String::from_utf8_lossy(&head);
                let (first, rest) = text.split_once("\r\n").unwrap();
                let forwarded = format!("{first}\r\nX-Forwarded-For: {phone_addr}\r\n{rest}");
                let mut upstream = tokio::net::TcpStream::connect(node).await.unwrap();
                upstream.write_all(forwarded.as_bytes()).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn behind_the_comunes_reverse_proxy_the_phone_is_recorded_by_its_address() {
    let app = start_behind_proxy().await;
    let front = proxy(app.addr, "203.0.113.7").await;
    // Through the proxy: the app's shell, the log-in and a card read.
    let shell = call(front, "GET", "/app/", &[], "").await;
    assert_eq!(shell.status, 200);
    assert!(shell.body.contains("manifest.webmanifest"));
    let r = api_login(front, WORKER).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The audit trail names the phone, not the proxy.
    let last = app
        .store
        .audit_iter()
        .filter_map(Result::ok)
        .last()
        .unwrap();
    assert_eq!(
        (last.action.as_str(), last.addr.as_str()),
        ("accesso", "203.0.113.7")
    );
    // (A header from a peer that is not a trusted proxy is ignored: node/tests/web.rs.)
    app.shutdown.cancel();
}
