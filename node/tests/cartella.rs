//! The cartella sociale over the JSON API, on real HTTP and a real store: records written by
//! each role, the case from the desk's request to its closure, the card per role, caseloads,
//! the audit trail and its export — and every refusal: no session (401), no or wrong CSRF token
//! (403), wrong role (403), another worker's case (403, audited), malformed bodies (400 with the
//! fields, nothing written).

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use siso_node::import::ImportKind;
use siso_node::store::Kind;
use support::*;

/// A logged-in operator: cookie and CSRF token.
struct Op {
    cookie: String,
    csrf: String,
}

async fn log_in(a: std::net::SocketAddr, who: (&str, &str)) -> Op {
    let r = api_login(a, who).await;
    assert_eq!(r.status, 200, "{}", r.body);
    Op {
        cookie: r.session_cookie(),
        csrf: r.json()["csrf"].as_str().unwrap().to_owned(),
    }
}

impl Op {
    async fn get(&self, a: std::net::SocketAddr, path: &str) -> Reply {
        call(a, "GET", path, &[("Cookie", &self.cookie)], "").await
    }

    async fn post(&self, a: std::net::SocketAddr, path: &str, body: &Value) -> Reply {
        let h = [
            ("Cookie", self.cookie.as_str()),
            ("X-CSRF-Token", &self.csrf),
            JSON,
        ];
        call(a, "POST", path, &h, &body.to_string()).await
    }

    async fn post_with(
        &self,
        a: std::net::SocketAddr,
        path: &str,
        extra: (&str, &str),
        body: &Value,
    ) -> Reply {
        let h = [
            ("Cookie", self.cookie.as_str()),
            ("X-CSRF-Token", &self.csrf),
            JSON,
            extra,
        ];
        call(a, "POST", path, &h, &body.to_string()).await
    }
}

const MARIO: &str = "RSSMRA70C01G478R";
const GIULIA: &str = "NREGLI90B42G478F";

async fn person_id(a: std::net::SocketAddr, op: &Op, q: &str) -> String {
    let r = op.get(a, &format!("/api/v1/persone?q={q}")).await;
    r.json()["rows"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn refusals_write_nothing() {
    let app = start_with(None, &[ImportKind::Anagrafe]).await;
    let a = app.addr;
    let desk = log_in(a, DESK).await;
    let admin = log_in(a, ADMIN).await;
    let manager = log_in(a, MANAGER).await;
    let access = json!({"data": "2026-11-30", "codice_fiscale": MARIO, "area_bisogno": "poverta", "esito": "informazione/orientamento"});
    let before = app.store.entries();
    // No session: 401. No or a wrong CSRF token: 403.
    let r = call(a, "POST", "/api/v1/accessi", &[JSON], &access.to_string()).await;
    assert_eq!(r.status, 401);
    let r = call(
        a,
        "POST",
        "/api/v1/accessi",
        &[("Cookie", &desk.cookie), JSON],
        &access.to_string(),
    )
    .await;
    assert_eq!(r.status, 403);
    let h = [
        ("Cookie", desk.cookie.as_str()),
        ("X-CSRF-Token", "sbagliato"),
        JSON,
    ];
    assert_eq!(
        call(a, "POST", "/api/v1/accessi", &h, &access.to_string())
            .await
            .status,
        403
    );
    // Wrong roles: the desk records no interventions, activities or cases; the administrator
    // nothing; only the manager assigns or closes.
    let intervention = json!({"codice_fiscale": MARIO, "tipo_intervento": "buoni_spesa", "area_bisogno": "poverta", "data_inizio": "2026-11-01", "data_fine": "", "importo": "150,00"});
    assert_eq!(
        desk.post(a, "/api/v1/interventi", &intervention)
            .await
            .status,
        403
    );
    let activity = json!({"codice_fiscale": MARIO, "data": "2026-11-30", "tipo_attivita": "colloquio", "durata_minuti": 30, "note": ""});
    assert_eq!(
        desk.post(a, "/api/v1/attivita", &activity).await.status,
        403
    );
    assert_eq!(
        desk.post(a, "/api/v1/prese-in-carico", &json!({}))
            .await
            .status,
        403
    );
    assert_eq!(admin.post(a, "/api/v1/accessi", &access).await.status, 403);
    assert_eq!(admin.get(a, "/api/v1/carico").await.status, 403);
    // Malformed bodies: 400, with the field and an Italian message.
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "/api/v1/accessi",
            json!({"data": "2026-11-30", "codice_fiscale": "RSSMRA70C01G478X", "area_bisogno": "poverta", "esito": "x"}),
            "codice_fiscale",
            "controllo",
        ),
        (
            "/api/v1/accessi",
            json!({"data": "2026-11-30", "codice_fiscale": "RSSMRA", "area_bisogno": "poverta", "esito": "x"}),
            "codice_fiscale",
            "16 caratteri",
        ),
        (
            "/api/v1/accessi",
            json!({"data": "2026-11-30", "codice_fiscale": MARIO, "area_bisogno": "fame", "esito": "x"}),
            "area_bisogno",
            "Area di bisogno sconosciuta",
        ),
        (
            "/api/v1/accessi",
            json!({"data": "30 novembre", "codice_fiscale": MARIO, "area_bisogno": "poverta", "esito": "x"}),
            "data",
            "Data non valida",
        ),
        (
            "/api/v1/accessi",
            json!({"codice_fiscale": MARIO, "area_bisogno": "poverta", "esito": "x"}),
            "data",
            "Indicare la data",
        ),
        (
            "/api/v1/accessi",
            json!({"data": "2026-11-30", "codice_fiscale": MARIO, "area_bisogno": "poverta", "esito": "x", "reddito": "0"}),
            "reddito",
            "non previsto",
        ),
        (
            "/api/v1/accessi",
            json!({"data": "2026-11-30", "codice_fiscale": MARIO, "area_bisogno": ["poverta"], "esito": "x"}),
            "area_bisogno",
            "atteso un testo",
        ),
        (
            "/api/v1/interventi",
            json!({"codice_fiscale": MARIO, "tipo_intervento": "buoni_spesa", "area_bisogno": "poverta", "data_inizio": "2026-11-01", "data_fine": "2026-10-01", "importo": "150,00"}),
            "data_fine",
            "precede",
        ),
        (
            "/api/v1/interventi",
            json!({"codice_fiscale": MARIO, "tipo_intervento": "buoni", "area_bisogno": "poverta", "data_inizio": "2026-11-01", "importo": "150,00"}),
            "tipo_intervento",
            "sconosciuto",
        ),
        (
            "/api/v1/interventi",
            json!({"codice_fiscale": MARIO, "tipo_intervento": "buoni_spesa", "area_bisogno": "poverta", "data_inizio": "2026-11-01", "importo": "tanti"}),
            "importo",
            "300,00",
        ),
        (
            "/api/v1/attivita",
            json!({"codice_fiscale": MARIO, "data": "2026-11-30", "tipo_attivita": "pranzo", "durata_minuti": 30}),
            "tipo_attivita",
            "colloquio",
        ),
        (
            "/api/v1/attivita",
            json!({"codice_fiscale": MARIO, "data": "2026-11-30", "tipo_attivita": "colloquio", "durata_minuti": 0}),
            "durata_minuti",
            "1440",
        ),
        (
            "/api/v1/prese-in-carico",
            json!({"codice_fiscale": MARIO, "data_inizio": "2026-11-30", "operatore": "nessuno", "area_bisogno": "poverta"}),
            "operatore",
            "assistente sociale",
        ),
    ];
    for (path, body, field, words) in &cases {
        let r = manager.post(a, path, body).await;
        assert_eq!(r.status, 400, "{path} {body}: {}", r.body);
        let fields = r.json()["campi"].as_array().unwrap().clone();
        let f = fields
            .iter()
            .find(|f| f["campo"] == *field)
            .unwrap_or_else(|| panic!("{field}: {}", r.body));
        assert!(
            f["messaggio"].as_str().unwrap().contains(words),
            "{}",
            r.body
        );
    }
    for raw in ["", "{", "[1]", "null", "\"x\""] {
        let h = [
            ("Cookie", manager.cookie.as_str()),
            ("X-CSRF-Token", &manager.csrf),
            JSON,
        ];
        let r = call(a, "POST", "/api/v1/accessi", &h, raw).await;
        assert_eq!(r.status, 400, "{raw:?}");
    }
    // A bad idempotency key is a 400 too.
    let long = "k".repeat(101);
    let r = manager
        .post_with(a, "/api/v1/accessi", ("Idempotency-Key", &long), &access)
        .await;
    assert_eq!(r.status, 400);
    // Unknown case, unknown step, unknown person: 404.
    assert_eq!(
        manager
            .post(
                a,
                "/api/v1/casi/00112233445566778899aabbccddeeff/valutazione",
                &json!({})
            )
            .await
            .status,
        404
    );
    assert_eq!(
        manager
            .post(a, "/api/v1/casi/xyz/volare", &json!({}))
            .await
            .status,
        404
    );
    assert_eq!(
        manager
            .get(a, "/api/v1/persone/00112233445566778899aabbccddeeff")
            .await
            .status,
        404
    );
    // Nothing was written but the audit trail (its own tree).
    assert_eq!(app.store.entries(), before);
    for k in [
        Kind::Accesso,
        Kind::Intervento,
        Kind::Attivita,
        Kind::Caso,
        Kind::AppRecord,
        Kind::Idempotency,
    ] {
        assert_eq!(app.store.count(k).unwrap(), 0, "{k:?}");
    }
    app.shutdown.cancel();
}

#[tokio::test]
async fn from_the_desk_to_the_closure() {
    let app = start_with(
        None,
        &[
            ImportKind::Anagrafe,
            ImportKind::Redditi,
            ImportKind::Sanitaria,
            ImportKind::PreseInCarico,
        ],
    )
    .await;
    let a = app.addr;
    let desk = log_in(a, DESK).await;
    let worker = log_in(a, WORKER).await;
    let other = log_in(a, OTHER_WORKER).await;
    let manager = log_in(a, MANAGER).await;
    let mario = person_id(a, &desk, "rossi%20mario").await;

    // The desk records an access asking for a case, twice with the same idempotency key.
    let access = json!({"data": "2026-11-30", "codice_fiscale": MARIO, "area_bisogno": "poverta", "esito": "richiesta di presa in carico"});
    let r = desk
        .post_with(
            a,
            "/api/v1/accessi",
            ("Idempotency-Key", "sportello-1"),
            &access,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(r.json()["persona"], mario.as_str());
    let again = desk
        .post_with(
            a,
            "/api/v1/accessi",
            ("Idempotency-Key", "sportello-1"),
            &access,
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["id"], id.as_str());
    assert_eq!(app.store.count(Kind::Accesso).unwrap(), 1);

    // The desk's card: household, accesses, open cases; no incomes, health or assessment.
    let card = desk.get(a, &format!("/api/v1/persone/{mario}")).await;
    assert_eq!(card.status, 200, "{}", card.body);
    assert_eq!(card.header("cache-control").as_deref(), Some("no-store"));
    let c = card.json();
    assert_eq!(c["livello"], "essenziale");
    assert_eq!(c["famiglia"].as_array().unwrap().len(), 3);
    assert_eq!(c["accessi"][0]["fonte"], "app");
    assert_eq!(c["accessi"][0]["autore"], DESK.0);
    assert_eq!(c["casi"][0]["stato"], "richiesta");
    for hidden in [
        "redditi",
        "sanitaria",
        "valutazione",
        "interventi",
        "attivita",
        "indirizzo",
    ] {
        assert!(c.get(hidden).is_none(), "{hidden} shown to the desk: {c}");
    }
    assert!(!card.body.contains("18500") && !card.body.contains("1850000"));
    let case = c["casi"][0]["id"].as_str().unwrap().to_owned();

    // A social worker sees the request in the caseload and takes it in charge.
    let load = worker.get(a, "/api/v1/carico").await.json();
    assert_eq!(load["richieste"][0]["id"], case.as_str());
    assert!(load["casi"].as_array().unwrap().is_empty());
    let r = worker
        .post(a, &format!("/api/v1/casi/{case}/presa"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Twice: 409; the other worker too.
    assert_eq!(
        worker
            .post(a, &format!("/api/v1/casi/{case}/presa"), &json!({}))
            .await
            .status,
        409
    );
    // Now the full card: incomes and the assessment of the household.
    let c = worker
        .get(a, &format!("/api/v1/persone/{mario}"))
        .await
        .json();
    assert_eq!(c["livello"], "completa");
    assert_eq!(c["redditi"].as_array().unwrap().len(), 2);
    assert!(c["valutazione"]["indicator"]["value"].as_f64().unwrap() > 12_000.0);
    assert_eq!(c["casi"][0]["assegnatario"], WORKER.0);
    // An intervention and an activity.
    let r = worker.post(a, "/api/v1/interventi", &json!({"codice_fiscale": MARIO, "tipo_intervento": "contributo_economico", "area_bisogno": "poverta", "data_inizio": "2026-11-30", "importo": "300,00"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = worker.post(a, "/api/v1/attivita", &json!({"codice_fiscale": "BNCNNA72E49A475D", "data": "2026-11-30", "tipo_attivita": "visita_domiciliare", "durata_minuti": "45", "note": "Casa in ordine."})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let c = worker
        .get(a, &format!("/api/v1/persone/{mario}"))
        .await
        .json();
    assert_eq!(c["interventi"][0]["importo"], 30_000);
    assert_eq!(c["interventi"][0]["autore"], WORKER.0);
    assert_eq!(c["attivita"][0]["tipo"], "visita_domiciliare");
    // Linked to the case, with time and place; a bad time or another's case is refused.
    let linked = json!({"codice_fiscale": MARIO, "data": "2026-11-30", "tipo_attivita": "colloquio",
                        "durata_minuti": 20, "ora": "10:30", "luogo": "sede", "caso": case});
    let r = worker.post(a, "/api/v1/attivita", &linked).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut bad = linked.clone();
    bad["ora"] = json!("25:00");
    let r = worker.post(a, "/api/v1/attivita", &bad).await;
    assert_eq!(
        (r.status, r.json()["campi"][0]["campo"].clone()),
        (400, json!("ora"))
    );
    let c = worker
        .get(a, &format!("/api/v1/persone/{mario}"))
        .await
        .json();
    let with_case = c["attivita"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["caso"] == case.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (with_case["ora"].clone(), with_case["luogo"].clone()),
        (json!("10:30"), json!("sede"))
    );
    let load = worker.get(a, "/api/v1/carico").await.json();
    assert_eq!(load["casi"][0]["persona"], mario.as_str());
    assert_eq!(load["casi"][0]["ultima_attivita"], "2026-11-30");
    assert!(load["richieste"].as_array().unwrap().is_empty());

    // Another social worker: the card and any write on it are refused, and recorded.
    let r = other.get(a, &format!("/api/v1/persone/{mario}")).await;
    assert_eq!(r.status, 403);
    assert!(!r.body.contains(MARIO));
    let r = other.post(a, "/api/v1/attivita", &json!({"codice_fiscale": MARIO, "data": "2026-11-30", "tipo_attivita": "telefonata", "durata_minuti": 5})).await;
    assert_eq!(r.status, 403);
    let r = other
        .post(
            a,
            &format!("/api/v1/casi/{case}/monitoraggio"),
            &json!({"note": "x"}),
        )
        .await;
    assert_eq!(r.status, 403);
    // Giulia Neri's imported case is held by "A. Marchetti": refused to both workers too.
    let giulia = person_id(a, &desk, GIULIA).await;
    assert_eq!(
        worker
            .get(a, &format!("/api/v1/persone/{giulia}"))
            .await
            .status,
        403
    );

    // The plan, a review, then the manager closes the case.
    let plan = format!("/api/v1/casi/{case}/progetto");
    let r = worker
        .post(
            a,
            &plan,
            &json!({"data": "2026-11-30", "obiettivi": "Lavoro", "data_revisione": "2026-11-01"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["campi"][0]["campo"], "data_revisione");
    let r = worker.post(a, &plan, &json!({"data": "2026-11-30", "obiettivi": "Ricerca di lavoro", "data_revisione": "2027-01-31"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // An appointment: from today on; shown on the card and in the caseload.
    let appt = format!("/api/v1/casi/{case}/appuntamento");
    let r = worker.post(a, &appt, &json!({"data": "2026-11-30"})).await;
    assert_eq!(
        (r.status, r.json()["campi"][0]["campo"].clone()),
        (400, json!("data"))
    );
    let r = worker
        .post(
            a,
            &appt,
            &json!({"data": "2026-12-03", "ora": "10:30", "luogo": "domicilio"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let load = worker.get(a, "/api/v1/carico").await.json();
    assert_eq!(
        load["casi"][0]["prossimo_appuntamento"]["data"],
        "2026-12-03"
    );
    assert_eq!(load["casi"][0]["prossimo_appuntamento"]["ora"], "10:30");
    let r = worker
        .post(
            a,
            &format!("/api/v1/casi/{case}/valutazione"),
            &json!({"testo": "Disoccupazione recente."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = worker.post(a, &format!("/api/v1/casi/{case}/monitoraggio"), &json!({"data": "2026-11-30", "note": "Primo colloquio fatto.", "prossima_revisione": "2026-12-15"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        worker
            .post(
                a,
                &format!("/api/v1/casi/{case}/chiusura"),
                &json!({"motivo": "rinuncia"})
            )
            .await
            .status,
        403
    );
    let service = manager.get(a, "/api/v1/servizio").await.json();
    assert_eq!(service["per_operatore"][WORKER.0]["aperti"], 1);
    assert_eq!(service["per_operatore"]["A. Marchetti"]["aperti"], 1);
    assert_eq!(desk.get(a, "/api/v1/servizio").await.status, 403);
    let r = manager
        .post(
            a,
            &format!("/api/v1/casi/{case}/chiusura"),
            &json!({"motivo": "per sempre"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = manager
        .post(
            a,
            &format!("/api/v1/casi/{case}/chiusura"),
            &json!({"motivo": "obiettivi_raggiunti", "note": "Assunto."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        worker
            .post(
                a,
                &plan,
                &json!({"obiettivi": "x", "data_revisione": "2027-01-31"})
            )
            .await
            .status,
        409
    );
    // An activity linked to the closed case (a report sent late from a phone): 409.
    let late = json!({"codice_fiscale": MARIO, "data": "2026-11-30", "tipo_attivita": "telefonata",
                      "durata_minuti": 10, "caso": case});
    let r = worker.post(a, "/api/v1/attivita", &late).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("chiuso"));
    let c = manager
        .get(a, &format!("/api/v1/persone/{mario}"))
        .await
        .json();
    let detail = &c["casi"][0]["dettaglio"];
    assert_eq!(detail["stato"], "chiuso");
    assert_eq!(detail["chiusura"]["motivo"], "obiettivi_raggiunti");
    assert_eq!(detail["progetto"]["obiettivi"], "Ricerca di lavoro");
    // The desk's card no longer lists the closed case.
    let c = desk
        .get(a, &format!("/api/v1/persone/{mario}"))
        .await
        .json();
    assert!(c["casi"].as_array().unwrap().is_empty());
    // The case in charge was a presa in carico of the store, now ended.
    let prese: Vec<(Vec<u8>, siso_node::model::PresaInCarico)> = app
        .store
        .scan(Kind::PresaInCarico, MARIO.as_bytes())
        .unwrap();
    assert_eq!(prese.len(), 1);
    assert_eq!(prese[0].1.operatore, WORKER.0);
    assert_eq!(
        prese[0].1.fine.map(|d| d.to_string()).as_deref(),
        Some("2026-12-01")
    );

    // The monthly report equals what was written, to the unit and to the cent.
    let nov = manager
        .get(a, "/api/v1/rendiconto?mese=2026-11")
        .await
        .json();
    let w = &nov["per_operatore"][WORKER.0];
    assert_eq!(
        w["attivita"]["visita_domiciliare"],
        json!({"numero": 1, "minuti": 45})
    );
    assert_eq!(
        w["attivita"]["colloquio"],
        json!({"numero": 1, "minuti": 20})
    );
    assert_eq!(
        w["interventi"]["contributo_economico"],
        json!({"numero": 1, "importo": 30_000})
    );
    assert_eq!(
        nov["per_operatore"][DESK.0]["accessi"]["richiesta di presa in carico"],
        1
    );
    assert_eq!(
        nov["per_area"]["poverta"]["attivita"]["colloquio"]["numero"],
        1
    );
    assert_eq!(
        nov["per_area"]["non_indicata"]["attivita"]["visita_domiciliare"]["minuti"],
        45
    );
    assert_eq!(
        (
            nov["totale"]["casi_aperti"].clone(),
            nov["totale"]["casi_chiusi"].clone()
        ),
        (json!(0), json!(0))
    );
    let dec = manager
        .get(a, "/api/v1/rendiconto?mese=2026-12")
        .await
        .json();
    assert_eq!(dec["per_operatore"][WORKER.0]["casi_aperti"], 1);
    assert_eq!(dec["per_operatore"][WORKER.0]["casi_chiusi"], 1);
    assert!(dec["totale"]["attivita"].as_object().unwrap().is_empty());
    let jan = manager
        .get(a, "/api/v1/rendiconto?mese=2026-01")
        .await
        .json();
    assert_eq!(
        jan["per_operatore"]["importazione"]["casi_aperti"],
        json!(null)
    );
    assert_eq!(jan["per_operatore"]["A. Marchetti"]["casi_aperti"], 1);
    let csv = manager
        .get(a, "/api/v1/rendiconto?mese=2026-11&formato=csv")
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with('\u{feff}'), "no byte-order mark");
    for line in [
        "2026-11;operatore;a.rossi;interventi;contributo_economico;1;;;300,00",
        "2026-11;operatore;a.rossi;attivita;colloquio;1;20;0,33;",
        "2026-11;totale;;accessi;richiesta di presa in carico;1;;;",
    ] {
        assert!(
            csv.body.lines().any(|l| l == line),
            "{line} missing:\n{}",
            csv.body
        );
    }
    assert_eq!(
        worker
            .get(a, "/api/v1/rendiconto?mese=2026-11")
            .await
            .status,
        403
    );
    assert_eq!(
        manager
            .get(a, "/api/v1/rendiconto?mese=novembre")
            .await
            .status,
        400
    );
    let page = manager.get(a, "/rendiconto?mese=2026-11").await;
    assert!(page.body.contains("<svg") && page.body.contains("Ore di attività per operatore"));

    // The audit trail: every read and write, the refusals, by person id; never the code.
    let r = manager
        .get(a, &format!("/api/v1/audit?persona={mario}"))
        .await;
    let rows = r.json()["rows"].as_array().unwrap().clone();
    let actions: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["utente"].as_str().unwrap().to_owned(),
                r["azione"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for want in [
        (DESK.0, "registrazione"),
        (DESK.0, "lettura_scheda"),
        (WORKER.0, "lettura_carico"),
        (WORKER.0, "registrazione"),
        (OTHER_WORKER.0, "accesso_negato"),
        (MANAGER.0, "registrazione"),
    ] {
        assert!(
            actions.iter().any(|(u, x)| u == want.0 && x == want.1),
            "{want:?} missing: {actions:?}"
        );
    }
    assert!(!r.body.contains(MARIO));
    let csv = manager
        .get(a, &format!("/api/v1/audit/esportazione?persona={mario}"))
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv
        .header("content-disposition")
        .unwrap()
        .contains("attachment"));
    assert!(csv
        .body
        .starts_with("seq;quando;utente;ruolo;azione;dettaglio;indirizzo"));
    assert!(csv.body.lines().count() > rows.len());
    assert_eq!(
        worker
            .get(a, &format!("/api/v1/audit/esportazione?persona={mario}"))
            .await
            .status,
        403
    );
    let v = siso_node::audit::verify(&app.store).unwrap();
    assert!(v.first_broken.is_none(), "{v:?}");
    app.shutdown.cancel();
}

#[tokio::test]
async fn a_new_person_at_the_desk_is_found_at_once() {
    let app = start_with(None, &[ImportKind::Anagrafe]).await;
    let a = app.addr;
    let desk = log_in(a, DESK).await;
    assert!(desk.get(a, "/api/v1/persone?q=conti").await.json()["rows"]
        .as_array()
        .unwrap()
        .is_empty());
    let r = desk.post(a, "/api/v1/accessi", &json!({"data": "2026-11-30", "codice_fiscale": "CNTSRA85L47H501X", "cognome": "Conti", "nome": "Sara", "area_bisogno": "abitare", "esito": "invio ad altro servizio"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rows = desk.get(a, "/api/v1/persone?q=conti%20sara").await.json()["rows"].clone();
    assert_eq!(rows[0]["codice_fiscale"], "CNTSRA85L47H501X");
    assert_eq!(rows[0]["id"], r.json()["persona"]);
    // Not a request for a case: no case was opened.
    assert_eq!(app.store.count(Kind::Caso).unwrap(), 0);
    app.shutdown.cancel();
}

/// Saves a screenshot in `test-artifacts/`.
async fn shot(c: &fantoccini::Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), c.screenshot().await.unwrap()).unwrap();
}

async fn choose(c: &fantoccini::Client, css: &str, value: &str) {
    element(c, css).await.select_by_value(value).await.unwrap();
}

async fn log_out(c: &fantoccini::Client) {
    click(c, fantoccini::Locator::Css(".it-user button")).await;
    element(c, "#username").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_from_the_desk_to_the_caseload() {
    use fantoccini::Locator;
    let app = start_with(
        None,
        &[
            ImportKind::Anagrafe,
            ImportKind::Redditi,
            ImportKind::Sanitaria,
        ],
    )
    .await;
    let base = format!("http://{}", app.addr);
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;

    // The desk: search, open the card (no incomes), record an access asking for a case.
    form_log_in(&c, &base, DESK).await;
    element(&c, ".it-user").await;
    click(&c, Locator::LinkText("Ricerca persone")).await;
    type_into(&c, "#q", "rossi mario").await;
    click_when(&c, "main button[type=submit]").await;
    click_when(&c, "tbody tr a").await;
    element(&c, "#anagrafica").await;
    let card_url = c.current_url().await.unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("Scheda essenziale") && page.contains("RSSMRA70C01G478R"));
    assert!(
        !page.contains("Redditi del nucleo") && !page.contains("18.500,00"),
        "the desk sees incomes"
    );
    choose(&c, "#acc-area", "poverta").await;
    choose(&c, "#acc-esito", "richiesta di presa in carico").await;
    click(
        &c,
        Locator::Css("form[action$='/accessi'] button[type=submit]"),
    )
    .await;
    element(&c, "#accessi tbody tr").await;
    let page = c.source().await.unwrap();
    assert!(
        page.contains("Richiesta, da assegnare"),
        "no request on the card"
    );
    shot(&c, "web-scheda-sportello.png").await;
    log_out(&c).await;

    // A social worker: the request in the caseload, taken in charge from the card.
    form_log_in(&c, &base, WORKER).await;
    element(&c, ".it-user").await;
    click(&c, Locator::LinkText("Carico di lavoro e richieste")).await;
    click_when(&c, "table tbody tr a").await;
    click_when(&c, "button[id^=prendi-]").await;
    element(&c, "#redditi").await;
    let page = c.source().await.unwrap();
    assert!(page.contains("Scheda completa") && page.contains("18.500,00 €"));
    // An intervention and an activity, seen on the card.
    choose(&c, "#int-tipo", "contributo_economico").await;
    type_into(&c, "#int-importo", "300,00").await;
    click(
        &c,
        Locator::Css("form[action$='/interventi'] button[type=submit]"),
    )
    .await;
    element(&c, "#interventi tbody tr").await;
    choose(&c, "#att-tipo", "visita_domiciliare").await;
    type_into(&c, "#att-note", "Primo incontro a casa.").await;
    click(
        &c,
        Locator::Css("form[action$='/attivita'] button[type=submit]"),
    )
    .await;
    element(&c, "#attivita tbody tr").await;
    let page = c.source().await.unwrap();
    for needle in [
        "300,00 €",
        "Contributo economico",
        "Visita domiciliare",
        "Primo incontro a casa.",
        "app · a.rossi",
    ] {
        assert!(page.contains(needle), "{needle} missing from the card");
    }
    c.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    shot(&c, "web-scheda.png").await;
    // A bad amount: 400, the error at its form, nothing written.
    type_into(&c, "#int-importo", "tanti").await;
    click(
        &c,
        Locator::Css("form[action$='/interventi'] button[type=submit]"),
    )
    .await;
    let err = element(&c, "#errori-interventi").await;
    assert!(err.text().await.unwrap().contains("Importo non valido"));
    assert_eq!(app.store.count(Kind::Intervento).unwrap(), 1);
    // The caseload lists the case with its last activity.
    c.goto(&format!("{base}/carico")).await.unwrap();
    let row = element(&c, "table tbody tr").await.text().await.unwrap();
    assert!(
        row.contains("Rossi Mario") && row.contains("01/12/2026"),
        "{row}"
    );
    shot(&c, "web-carico.png").await;
    log_out(&c).await;

    // Another social worker who changes nothing but the URL: 403, and it is recorded.
    form_log_in(&c, &base, OTHER_WORKER).await;
    element(&c, ".it-user").await;
    c.goto(card_url.as_str()).await.unwrap();
    let h1 = element(&c, "h1").await.text().await.unwrap();
    assert_eq!(h1, "Accesso non consentito");
    let src = c.source().await.unwrap();
    assert!(!src.contains("RSSMRA70C01G478R"));
    assert!(src.contains("it-user"), "{src}");
    let denied = app
        .store
        .audit_iter()
        .filter_map(Result::ok)
        .filter(|r| r.action == "accesso_negato" && r.user == OTHER_WORKER.0)
        .count();
    assert_eq!(denied, 1);
    log_out(&c).await;
    c.close().await.unwrap();
    app.shutdown.cancel();
}

#[tokio::test]
async fn a_third_sector_operator_records_the_entitys_own_support() {
    let app = start_ets().await;
    let a = app.addr;
    let ets = log_in(a, ETS_OPERATOR).await;
    // An intervention without a codice fiscale (the demographic columns compute it), and an
    // access; cases and activities are not the entity's to record.
    let r = ets
        .post(
            a,
            "/api/v1/interventi",
            &json!({"codice_fiscale": "", "cognome": "Conti", "nome": "Sara", "sesso": "F",
                    "data_nascita": "1985-07-07", "codice_catastale_nascita": "H501",
                    "tipo_intervento": "pacco_alimentare", "area_bisogno": "poverta",
                    "data_inizio": "2026-11-15", "importo": ""}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sara = r.json()["persona"].as_str().unwrap().to_owned();
    let r = ets
        .post(
            a,
            "/api/v1/accessi",
            &json!({"data": "2026-11-15", "codice_fiscale": "CNTSRA85L47H501X", "area_bisogno": "poverta", "esito": "orientamento"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["persona"], sara.as_str());
    let activity = json!({"codice_fiscale": "CNTSRA85L47H501X", "data": "2026-11-15", "tipo_attivita": "colloquio", "durata_minuti": 10});
    assert_eq!(ets.post(a, "/api/v1/attivita", &activity).await.status, 403);
    let case = json!({"codice_fiscale": "CNTSRA85L47H501X", "data_inizio": "2026-11-15", "operatore": ETS_OPERATOR.0, "area_bisogno": "poverta"});
    assert_eq!(
        ets.post(a, "/api/v1/prese-in-carico", &case).await.status,
        403
    );
    assert_eq!(ets.get(a, "/api/v1/carico").await.status, 403);
    // The entity's card: the person, its accesses and interventions; no household, no cases.
    let rows = ets.get(a, "/api/v1/persone?q=conti").await.json()["rows"].clone();
    assert_eq!(rows[0]["id"], sara.as_str());
    let c = ets.get(a, &format!("/api/v1/persone/{sara}")).await.json();
    assert_eq!(c["livello"], "ets");
    assert_eq!(c["interventi"][0]["tipo"], "pacco_alimentare");
    assert_eq!(c["accessi"].as_array().unwrap().len(), 1);
    assert!(
        c["famiglia"].as_array().unwrap().is_empty() && c["casi"].as_array().unwrap().is_empty()
    );
    assert!(c.get("redditi").is_none() && c.get("attivita").is_none());
    // The administrator reads no persons' data here either.
    let admin = log_in(a, ADMIN).await;
    assert_eq!(
        admin
            .get(a, &format!("/api/v1/persone/{sara}"))
            .await
            .status,
        403
    );
    app.shutdown.cancel();
}
