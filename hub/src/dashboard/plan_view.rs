//! The *Piano di zona* page (`/piano`): a zona's supply against demand by area as grouped bars,
//! the twelve zone as a grid coloured by coverage, the zona's table by area with the Region and
//! the previous epoch, the LEPS staffing line, and the downloads (CSV, spreadsheet). Every
//! number is a field of `/api/supply-demand` for the same release (`crate::plan`), drawn in
//! SVG with a `viewBox`, so the charts shrink to a phone's width instead of overflowing.

use std::fmt::Write;

use serde_json::{Map, Value};
use siso_shared::wire::Level;

use super::{esc, fmt_num, who, Viewer, BODY, HEAD};
use crate::plan::{self, Classification};
use crate::release::Release;

fn f(row: &Map<String, Value>, k: &str) -> Option<Option<f64>> {
    match row.get(k) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => Some(v.as_f64()),
    }
}

/// Grouped bars of demand (households in need) and supply (households supported) per area.
fn demand_supply_chart(rows: &[Map<String, Value>]) -> String {
    let series = [
        (
            "households_in_need",
            "Nuclei in stato di bisogno",
            "#c05621",
        ),
        ("households_supported", "Nuclei sostenuti", "#2f855a"),
        ("waiting_requests", "Richieste in attesa", "#d69e2e"),
    ];
    let areas: Vec<&Map<String, Value>> = rows.iter().filter(|r| r["area"] != "totale").collect();
    let max = areas
        .iter()
        .flat_map(|r| series.iter().filter_map(move |(m, _, _)| f(r, m).flatten()))
        .fold(1.0f64, f64::max);
    let h = areas.len() * 40 + 30;
    let mut s = format!("<figure class=\"chart\" id=\"domanda-offerta-aree\"><figcaption>Domanda e offerta per area di bisogno</figcaption><svg viewBox=\"0 0 620 {h}\" width=\"100%\" role=\"img\" aria-label=\"Domanda e offerta per area di bisogno\">");
    for (j, (_, name, color)) in series.iter().enumerate() {
        let _ = write!(s, "<rect x=\"{}\" y=\"2\" width=\"10\" height=\"10\" fill=\"{color}\"></rect><text x=\"{}\" y=\"11\" font-size=\"11\">{name}</text>", 150 + j * 160, 164 + j * 160);
    }
    for (i, r) in areas.iter().enumerate() {
        let y = 22 + i * 40;
        let area = r["area"].as_str().unwrap_or_default();
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>",
            y + 20,
            esc(area)
        );
        for (j, (m, _, color)) in series.iter().enumerate() {
            let yy = y + j * 11;
            match f(r, m) {
                Some(Some(x)) => {
                    let w = (x / max * 400.0).max(1.0);
                    let _ = write!(s, "<rect class=\"bar\" data-area=\"{}\" data-series=\"{m}\" data-value=\"{x}\" x=\"150\" y=\"{yy}\" width=\"{w:.1}\" height=\"9\" fill=\"{color}\"></rect>", esc(area));
                }
                _ => {
                    let _ = write!(s, "<rect class=\"bar suppressed\" data-area=\"{}\" data-series=\"{m}\" data-value=\"n.d.\" x=\"150\" y=\"{yy}\" width=\"30\" height=\"9\" fill=\"none\" stroke=\"#999\"></rect>", esc(area));
                }
            }
        }
    }
    s.push_str("</svg></figure>");
    s
}

/// The twelve zone as a 4 × 3 grid, each square coloured by its coverage (`totale`).
fn coverage_grid(zone: &[Map<String, Value>], selected: Option<u8>) -> String {
    let mut s = String::from("<figure class=\"chart\" id=\"copertura-zone\"><figcaption>Copertura per zona sociale (nuclei sostenuti ÷ nuclei in stato di bisogno)</figcaption><svg viewBox=\"0 0 620 330\" width=\"100%\" role=\"img\" aria-label=\"Copertura per zona sociale\">");
    for (i, r) in zone.iter().enumerate() {
        let (col, row) = (i % 4, i / 4);
        let (x, y) = (col * 155, row * 110);
        let z = r["zona"].as_u64().unwrap_or(0);
        let cov = f(r, "coverage").flatten();
        // Three bands, each with white text at a contrast above 4.5:1 (WCAG AA).
        let fill = match cov {
            Some(c) if c < 0.5 => "#c53030",
            Some(c) if c < 0.8 => "#975a16",
            Some(_) => "#276749",
            None => "#e2e8f0",
        };
        let text_fill = if cov.is_some() { "#fff" } else { "#1a202c" };
        let nobody = f(r, "households_in_need") == Some(Some(0.0));
        let shown = match cov {
            Some(c) => format!("{} %", fmt_num(Some(Some(c * 100.0)), 1)),
            None if nobody => "nessun dato".into(),
            None => "n.d.".into(),
        };
        let stroke = if selected == Some(z as u8) {
            " stroke=\"#1a365d\" stroke-width=\"4\""
        } else {
            ""
        };
        let _ = write!(s, "<g class=\"zona-cell\" data-zona=\"{z}\" data-value=\"{}\"><rect x=\"{x}\" y=\"{y}\" width=\"150\" height=\"105\" rx=\"6\" fill=\"{fill}\"{stroke}></rect><text x=\"{}\" y=\"{}\" font-size=\"14\" fill=\"{text_fill}\">Zona {z}</text><text x=\"{}\" y=\"{}\" font-size=\"20\" font-weight=\"600\" fill=\"{text_fill}\">{shown}</text></g>",
            cov.map_or("n.d.".into(), |c| c.to_string()), x + 10, y + 24, x + 10, y + 64);
    }
    s.push_str("</svg><p class=\"legend\">Sotto il 50 %: rosso · dal 50 all'80 %: ocra · dall'80 % in su: verde · «nessun dato»: nessun nucleo in stato di bisogno segnalato · «n.d.»: non divulgabile.</p></figure>");
    s
}

const TABLE_COLUMNS: [(&str, &str, usize); 9] = [
    ("accessi", "Accessi", 0),
    ("households_in_need", "Nuclei in stato di bisogno", 0),
    ("waiting_requests", "Richieste in attesa", 0),
    ("households_supported", "Nuclei sostenuti", 0),
    ("interventions", "Interventi", 0),
    ("expenditure", "Spesa (€)", 2),
    ("activity_hours", "Ore di attività", 1),
    (
        "households_in_need_per_1000",
        "Nuclei in bisogno per 1.000 residenti",
        2,
    ),
    ("coverage", "Copertura", 4),
];

/// Renders the plan page of `zona` (or the Region's overview) from `rel` (and the previous
/// epoch's release).
pub fn render(
    rel: &Release,
    previous: Option<&Release>,
    epoch: u16,
    zona: Option<u8>,
    viewer: &Viewer<'_>,
) -> String {
    let req = |level, zona: Option<u8>| plan::Request {
        epoch,
        level,
        month: None,
        area: None,
        zona,
        classification: Classification::Siso,
    };
    let zone_totals: Vec<Map<String, Value>> = plan::rows(rel, previous, &req(Level::Zona, None))
        .into_iter()
        .filter(|r| r["area"] == "totale")
        .collect();
    let (unit_rows, title) = match zona {
        Some(z) => (
            plan::rows(rel, previous, &req(Level::Zona, Some(z))),
            siso_shared::comuni::zona(z).map_or(format!("Zona {z}"), |x| x.name()),
        ),
        None => (
            plan::rows(rel, previous, &req(Level::Region, None)),
            "Regione Umbria".to_owned(),
        ),
    };
    let mut html = String::from(HEAD);
    html.push_str(BODY);
    let _ = write!(html, "<header>{}<h1>Piano di zona — domanda e offerta</h1><p>{} — anno {epoch}. Valori inferiori a {} unità non sono divulgati (n.d.).</p><p>Rilascio n. {} ({}){}</p></header><main>",
        who(viewer), esc(&title), rel.cube.k, rel.meta.id, rel.meta.period,
        previous.map(|p| format!("; anno precedente: rilascio n. {}", p.meta.id)).unwrap_or_default());
    html.push_str(
        "<form method=\"get\" action=\"/piano\"><input type=\"hidden\" name=\"epoch\" value=\"",
    );
    let _ = write!(html, "{epoch}\"><label>Zona <select name=\"zona\">");
    if viewer.zona.is_none() {
        html.push_str("<option value=\"\">Regione</option>");
    }
    for z in siso_shared::comuni::zone() {
        if viewer.zona.is_some_and(|v| v != z.number) {
            continue;
        }
        let _ = write!(
            html,
            "<option value=\"{}\"{}>{}</option>",
            z.number,
            if zona == Some(z.number) {
                " selected"
            } else {
                ""
            },
            esc(&z.name())
        );
    }
    html.push_str("</select></label> <button type=\"submit\">Mostra</button> <a href=\"/\">Cruscotto regionale</a></form>");
    html.push_str("<section class=\"charts\">");
    html.push_str(&demand_supply_chart(&unit_rows));
    html.push_str(&coverage_grid(&zone_totals, zona));
    html.push_str("</section>");
    if let Some(t) = unit_rows.iter().find(|r| r["area"] == "totale") {
        let sw = f(t, "social_workers").flatten();
        let res = f(t, "residents").flatten();
        let leps = match t.get("leps_met") {
            Some(Value::Bool(true)) => "raggiunto",
            Some(Value::Bool(false)) => "non raggiunto",
            _ => "non calcolabile",
        };
        let _ = write!(html, "<p id=\"leps\" data-social-workers=\"{}\">Assistenti sociali: <b>{}</b> per {} residenti ({} residenti per assistente sociale): livello essenziale di uno ogni 5.000 residenti <b>{leps}</b>.</p>",
            sw.map_or("n.d.".into(), |x| x.to_string()),
            fmt_num(Some(sw), 0), fmt_num(Some(res), 0), fmt_num(f(t, "residents_per_social_worker"), 0));
    }
    html.push_str("<div class=\"scroll\"><table id=\"piano\"><caption>Domanda e offerta per area di bisogno</caption><thead><tr><th scope=\"col\">Area</th>");
    for (_, name, _) in TABLE_COLUMNS {
        let _ = write!(html, "<th scope=\"col\">{name}</th>");
    }
    html.push_str("<th scope=\"col\">Copertura (Regione)</th><th scope=\"col\">Copertura (anno precedente)</th></tr></thead><tbody>");
    for r in &unit_rows {
        let area = r["area"].as_str().unwrap_or_default();
        let _ = write!(
            html,
            "<tr data-area=\"{}\"><th scope=\"row\">{}</th>",
            esc(area),
            esc(area)
        );
        for (k, _, dec) in TABLE_COLUMNS {
            let _ = write!(
                html,
                "<td data-field=\"{k}\">{}</td>",
                fmt_num(f(r, k), dec)
            );
        }
        let cmp = |o: &str| {
            r.get(o)
                .and_then(|x| x.get("coverage"))
                .and_then(Value::as_f64)
        };
        let _ = write!(
            html,
            "<td data-field=\"region_coverage\">{}</td><td data-field=\"previous_coverage\">{}</td></tr>",
            fmt_num(Some(cmp("region")), 4),
            fmt_num(Some(cmp("previous_epoch")), 4)
        );
    }
    html.push_str("</tbody></table></div>");
    let q = zona.map(|z| format!("&amp;zona={z}")).unwrap_or_default();
    let level = if zona.is_some() { "zona" } else { "region" };
    let _ = write!(html, "<p>Scarica: <a href=\"/api/supply-demand.xlsx?epoch={epoch}{q}\">foglio di calcolo (XLSX)</a> · <a href=\"/api/supply-demand.csv?level={level}&amp;epoch={epoch}{q}\">CSV</a> · <a href=\"/api/supply-demand.csv?level={level}&amp;epoch={epoch}{q}&amp;classification=istat\">CSV per aree ISTAT</a>. Definizioni e formule: docs/indicators.md.</p></main></body></html>");
    html
}
