//! The Region's dashboard: server-rendered HTML in Italian, charts as inline SVG, no external
//! resources. Every number comes from the suppressed statistics cube; a suppressed value is
//! shown as «n.d.» (non divulgabile).

use std::fmt::Write;

use siso_shared::wire::{Dimension, Level, StatsQuery};
use siso_shared::AreaBisogno;

use crate::release::Release;
use crate::stats::{rows, Cube, Request, Row};

mod plan_view;

pub use plan_view::render as plan_page;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn val(r: &Row, m: &str) -> Option<Option<f64>> {
    r.measures.iter().find(|(k, _)| k == m).map(|(_, v)| *v)
}

fn label(r: &Row, k: &str) -> String {
    r.labels
        .iter()
        .find(|(l, _)| l == k)
        .map(|(_, v)| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

fn fmt_num(v: Option<Option<f64>>, decimals: usize) -> String {
    match v {
        None => "–".into(),
        Some(None) => "n.d.".into(),
        Some(Some(x)) => {
            let s = format!("{x:.decimals$}");
            // Italian style: thousands with '.', decimals with ','.
            let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
            let neg = int.starts_with('-');
            let digits: Vec<char> = int.trim_start_matches('-').chars().collect();
            let mut out = String::new();
            for (i, c) in digits.iter().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    out.push('.');
                }
                out.push(*c);
            }
            let mut r = if neg { format!("-{out}") } else { out };
            if !frac.is_empty() {
                r.push(',');
                r.push_str(frac);
            }
            r
        }
    }
}

/// A horizontal bar chart: (label, value) pairs; suppressed values drawn as an empty outline.
fn bar_chart(id: &str, title: &str, items: &[(String, Option<f64>)], percent: bool) -> String {
    let max = items
        .iter()
        .filter_map(|(_, v)| *v)
        .fold(0.0f64, f64::max)
        .max(if percent { 0.01 } else { 1.0 });
    let h = 22 * items.len() + 10;
    let mut s = format!(
        "<figure class=\"chart\" id=\"{id}\"><figcaption>{}</figcaption><svg viewBox=\"0 0 620 {h}\" role=\"img\" aria-label=\"{}\" width=\"100%\">",
        esc(title),
        esc(title)
    );
    for (i, (name, v)) in items.iter().enumerate() {
        let y = 5 + i * 22;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>",
            y + 14,
            esc(name)
        );
        match v {
            Some(x) => {
                let w = (x / max * 360.0).max(1.0);
                let shown = if percent {
                    format!("{} %", fmt_num(Some(Some(x * 100.0)), 1))
                } else {
                    fmt_num(Some(Some(*x)), 0)
                };
                let _ = write!(
                    s,
                    "<rect class=\"bar\" data-label=\"{}\" data-value=\"{x}\" x=\"190\" y=\"{y}\" width=\"{w:.1}\" height=\"16\" fill=\"#2b6cb0\"></rect><text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{}</text>",
                    esc(name),
                    195.0 + w,
                    y + 13,
                    esc(&shown)
                );
            }
            None => {
                let _ = write!(
                    s,
                    "<rect class=\"bar suppressed\" data-label=\"{}\" data-value=\"n.d.\" x=\"190\" y=\"{y}\" width=\"40\" height=\"16\" fill=\"none\" stroke=\"#999\" stroke-dasharray=\"3\"></rect><text x=\"235\" y=\"{}\" font-size=\"12\">n.d.</text>",
                    esc(name),
                    y + 13
                );
            }
        }
    }
    s.push_str("</svg></figure>");
    s
}

/// Grouped bars: demand (accesses, latent needs) against supply (households supported).
fn demand_supply(rows: &[Row]) -> String {
    let series = [
        ("accessi", "Accessi", "#c05621"),
        ("latent_need", "Bisogni latenti", "#d69e2e"),
        ("households_supported", "Nuclei sostenuti", "#2f855a"),
    ];
    let max = rows
        .iter()
        .flat_map(|r| {
            series
                .iter()
                .filter_map(move |(m, _, _)| val(r, m).flatten())
        })
        .fold(1.0f64, f64::max);
    let h = rows.len() * 40 + 30;
    let mut s = format!("<figure class=\"chart\" id=\"domanda-offerta\"><figcaption>Domanda e offerta per zona</figcaption><svg viewBox=\"0 0 620 {h}\" width=\"100%\" role=\"img\" aria-label=\"Domanda e offerta per zona\">");
    for (j, (_, name, color)) in series.iter().enumerate() {
        let _ = write!(s, "<rect x=\"{}\" y=\"2\" width=\"10\" height=\"10\" fill=\"{color}\"></rect><text x=\"{}\" y=\"11\" font-size=\"11\">{name}</text>", 190 + j * 140, 204 + j * 140);
    }
    for (i, r) in rows.iter().enumerate() {
        let y = 22 + i * 40;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>",
            y + 20,
            esc(&label(r, "zona_name"))
        );
        for (j, (m, _, color)) in series.iter().enumerate() {
            let yy = y + j * 11;
            match val(r, m).flatten() {
                Some(x) => {
                    let w = (x / max * 360.0).max(1.0);
                    let _ = write!(s, "<rect class=\"bar\" data-series=\"{m}\" data-value=\"{x}\" x=\"190\" y=\"{yy}\" width=\"{w:.1}\" height=\"9\" fill=\"{color}\"></rect>");
                }
                None => {
                    let _ = write!(s, "<rect class=\"bar suppressed\" data-series=\"{m}\" data-value=\"n.d.\" x=\"190\" y=\"{yy}\" width=\"30\" height=\"9\" fill=\"none\" stroke=\"#999\"></rect>");
                }
            }
        }
    }
    s.push_str("</svg></figure>");
    s
}

/// A line chart of a monthly series.
fn trend(points: &[(u8, Option<f64>)], title: &str) -> String {
    let max = points.iter().filter_map(|p| p.1).fold(1.0f64, f64::max);
    let mut s = format!("<figure class=\"chart\" id=\"andamento\"><figcaption>{}</figcaption><svg viewBox=\"0 0 620 200\" width=\"100%\" role=\"img\" aria-label=\"{}\">", esc(title), esc(title));
    let x = |m: u8| 40.0 + (f64::from(m) - 1.0) * 50.0;
    let y = |v: f64| 170.0 - v / max * 150.0;
    let mut path = String::new();
    for (m, v) in points {
        if let Some(v) = v {
            let _ = write!(
                path,
                "{}{:.1},{:.1}",
                if path.is_empty() { "M" } else { " L" },
                x(*m),
                y(*v)
            );
        }
    }
    let _ = write!(
        s,
        "<path d=\"{path}\" fill=\"none\" stroke=\"#2b6cb0\" stroke-width=\"2\"></path>"
    );
    const MESI: [&str; 12] = [
        "gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic",
    ];
    for (m, v) in points {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"190\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x(*m),
            MESI[usize::from(*m - 1)]
        );
        match v {
            Some(v) => {
                let _ = write!(s, "<circle class=\"point\" data-month=\"{m}\" data-value=\"{v}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#2b6cb0\"></circle>", x(*m), y(*v));
            }
            None => {
                let _ = write!(s, "<text class=\"point suppressed\" data-month=\"{m}\" data-value=\"n.d.\" x=\"{:.1}\" y=\"165\" font-size=\"10\" text-anchor=\"middle\">n.d.</text>", x(*m));
            }
        }
    }
    s.push_str("</svg></figure>");
    s
}

const HEAD: &str = "<!DOCTYPE html><html lang=\"it\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>siso — Cruscotto regionale</title><link rel=\"stylesheet\" href=\"/static/hub.css\">";
const BODY: &str = "</head><body>";

/// The dashboard's style sheet (served at `/static/hub.css`: the pages carry no inline style,
/// so the content security policy can forbid it).
pub const CSS: &str = include_str!("static/hub.css");

/// When a release was cut, as the dashboard says it (UTC).
fn release_time(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:02}/{:02}/{} {:02}:{:02} UTC",
            t.day(),
            u8::from(t.month()),
            t.year(),
            t.hour(),
            t.minute()
        ),
        Err(_) => unix.to_string(),
    }
}

/// The page shown while an epoch has no release yet.
pub fn unreleased(epoch: u16, epochs: &[u16]) -> String {
    let mut html = String::from(HEAD);
    html.push_str(BODY);
    let _ = write!(html, "<header><h1>siso — Cruscotto regionale dei servizi sociali</h1></header><main><p role=\"status\">Nessuna statistica ancora pubblicata per l'anno {epoch}: il rilascio è in preparazione. Riprovare tra qualche secondo.</p>");
    if epochs.len() > 1 {
        html.push_str("<p>Altri anni: ");
        for e in epochs.iter().filter(|e| **e != epoch) {
            let _ = write!(html, "<a href=\"/?epoch={e}\">{e}</a> ");
        }
        html.push_str("</p>");
    }
    html.push_str("</main></body></html>");
    html
}

/// Who the dashboard is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer<'a> {
    /// User name (`analyst` for the shared token).
    pub name: &'a str,
    /// Role, as the API spells it.
    pub role: &'a str,
    /// An `ufficio_di_piano`'s zona: only its Comuni are shown one by one.
    pub zona: Option<u8>,
    /// The session's CSRF token (a named account's browser: the log-out form).
    pub csrf: Option<&'a str>,
}

fn who(v: &Viewer<'_>) -> String {
    let mut s = format!(
        "<div class=\"who\">{} ({}{})",
        esc(v.name),
        esc(v.role),
        v.zona.map(|z| format!(", zona {z}")).unwrap_or_default()
    );
    if let Some(c) = v.csrf {
        let _ = write!(s, " <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Esci</button></form>", esc(c));
    }
    s.push_str("</div>");
    s
}

/// Renders the dashboard for an epoch (and optionally one area of need) from a release.
pub fn render(
    rel: &Release,
    epoch: u16,
    area: Option<AreaBisogno>,
    epochs: &[u16],
    viewer: &Viewer<'_>,
) -> String {
    let cube: &Cube = &rel.cube;
    let req = |level, by, month| Request {
        query: StatsQuery {
            epoch,
            level,
            by,
            month,
        },
        area,
        zona: None,
    };
    let region = rows(cube, &req(Level::Region, None, None));
    let zone = rows(cube, &req(Level::Zona, None, None));
    let comuni = rows(cube, &req(Level::Comune, None, None));
    let mut html = String::from(HEAD);
    html.push_str(BODY);
    let _ = write!(html, "<header>{}<h1>siso — Cruscotto regionale dei servizi sociali</h1><p>Anno {epoch}. Valori inferiori a {} unità non sono divulgati (n.d.), come quelli da cui si potrebbero ricavare.</p><p>Rilascio n. {} ({}) del {}, impronta <code>{}</code></p></header><main>", who(viewer), cube.k, rel.meta.id, rel.meta.period, release_time(rel.meta.created), &rel.meta.digest_hex()[..16]);
    html.push_str("<form method=\"get\" action=\"/\"><label>Anno <select name=\"epoch\">");
    for e in epochs {
        let _ = write!(
            html,
            "<option{}>{e}</option>",
            if *e == epoch { " selected" } else { "" }
        );
    }
    html.push_str("</select></label> <label>Area di bisogno <select name=\"area\"><option value=\"\">tutte</option>");
    for a in AreaBisogno::ALL {
        let _ = write!(
            html,
            "<option{}>{a}</option>",
            if Some(*a) == area { " selected" } else { "" }
        );
    }
    let _ = write!(html, "</select></label> <button type=\"submit\">Aggiorna</button> <a href=\"/piano?epoch={epoch}\">Piano di zona: domanda e offerta</a></form>");

    if let Some(r) = region.first() {
        html.push_str("<section class=\"cards\" id=\"sintesi\">");
        for (m, name, dec) in [
            ("accessi", "Accessi", 0),
            (
                "households_supported_distinct",
                "Nuclei sostenuti (distinti)",
                0,
            ),
            (
                "households_supported_sum",
                "Nuclei sostenuti (somma enti)",
                0,
            ),
            ("double_economic_support", "Doppio sostegno economico", 0),
            ("unsupported_need", "Bisogni non sostenuti", 0),
            ("latent_need", "Bisogni latenti", 0),
            ("expenditure", "Spesa (€)", 2),
        ] {
            let _ = write!(
                html,
                "<div class=\"card\" data-measure=\"{m}\">{name}<b>{}</b></div>",
                fmt_num(val(r, m), dec)
            );
        }
        html.push_str("</section>");
    }
    html.push_str("<section class=\"charts\">");
    let zname = |r: &Row| label(r, "zona_name");
    // Absent means a true zero (no records); suppressed means withheld.
    let published = |r: &Row, m: &str| val(r, m).unwrap_or(Some(0.0));
    let per_zona = |id: &str, title: &str, measure: &str, percent: bool| {
        let items: Vec<(String, Option<f64>)> = zone
            .iter()
            .map(|r| (zname(r), published(r, measure)))
            .collect();
        bar_chart(id, title, &items, percent)
    };
    html.push_str(&per_zona(
        "nuclei-per-zona",
        "Nuclei sostenuti per zona (distinti)",
        "households_supported_distinct",
        false,
    ));
    html.push_str(&per_zona(
        "sovrapposizione-per-zona",
        "Tasso di sovrapposizione per zona: nuclei sostenuti anche da un altro ente (Comune o ente del terzo settore, anche di altre zone) sul totale dei nuclei sostenuti",
        "overlap_rate",
        true,
    ));
    // Demand and supply: with an area filter, the counts of that area.
    let ds_rows = match area {
        None => zone.clone(),
        Some(_) => rows(cube, &req(Level::Zona, Some(Dimension::AreaBisogno), None))
            .into_iter()
            .map(|mut r| {
                let z = zone.iter().find(|x| label(x, "zona") == label(&r, "zona"));
                if let Some(z) = z {
                    r.labels = z.labels.clone();
                }
                r
            })
            .collect(),
    };
    html.push_str(&demand_supply(&ds_rows));
    let monthly: Vec<(u8, Option<f64>)> = (1..=12u8)
        .map(|m| {
            let r = rows(
                cube,
                &req(Level::Region, area.map(|_| Dimension::AreaBisogno), Some(m)),
            );
            // No row or no cell: a true zero; a suppressed cell: withheld.
            (
                m,
                r.first()
                    .map_or(Some(0.0), |r| val(r, "accessi").unwrap_or(Some(0.0))),
            )
        })
        .collect();
    html.push_str(&trend(
        &monthly,
        "Andamento mensile degli accessi (Regione)",
    ));
    html.push_str("</section><h2>Zone sociali e Comuni</h2>");
    let by_area = area.map(|_| {
        rows(
            cube,
            &req(Level::Comune, Some(Dimension::AreaBisogno), None),
        )
    });
    for z in zone.iter().filter(|z| {
        viewer
            .zona
            .is_none_or(|v| label(z, "zona") == v.to_string())
    }) {
        let zn = label(z, "zona");
        let _ = write!(html, "<h3>{}</h3><div class=\"scroll\"><table class=\"zona\" data-zona=\"{zn}\"><thead><tr><th>Comune</th><th>Accessi</th><th>Persone in carico</th><th>Nuclei sostenuti</th><th>Bisogni non sostenuti</th><th>Spesa (€)</th></tr></thead><tbody>", esc(&zname(z)));
        for c in comuni.iter().filter(|c| label(c, "zona") == zn) {
            let id = label(c, "comune");
            let name = siso_shared::comuni::by_istat(&id).map_or(id.clone(), |x| x.name.clone());
            let src = by_area
                .as_ref()
                .and_then(|rows| rows.iter().find(|r| label(r, "comune") == id))
                .unwrap_or(c);
            let _ = write!(
                html,
                "<tr data-comune=\"{}\"><td>{}</td>",
                esc(&id),
                esc(&name)
            );
            for (m, dec) in [
                ("accessi", 0),
                ("persone_in_carico", 0),
                ("households_supported", 0),
            ] {
                let _ = write!(
                    html,
                    "<td data-measure=\"{m}\">{}</td>",
                    fmt_num(val(src, m), dec)
                );
            }
            let _ = write!(html, "<td data-measure=\"unsupported_need\">{}</td><td data-measure=\"expenditure\">{}</td></tr>", fmt_num(val(c, "unsupported_need"), 0), fmt_num(val(src, "expenditure"), 2));
        }
        let _ = write!(html, "</tbody><tfoot><tr><th>Totale zona</th><td data-measure=\"accessi\">{}</td><td data-measure=\"persone_in_carico\">{}</td><td data-measure=\"households_supported\">{}</td><td data-measure=\"unsupported_need\">{}</td><td data-measure=\"expenditure\">{}</td></tr></tfoot></table></div>",
            fmt_num(val(z, "accessi"), 0), fmt_num(val(z, "persone_in_carico"), 0), fmt_num(val(z, "households_supported"), 0), fmt_num(val(z, "unsupported_need"), 0), fmt_num(val(z, "expenditure"), 2));
    }
    let ets: Vec<&Row> = comuni
        .iter()
        .filter(|c| label(c, "comune").starts_with("ets-"))
        .collect();
    if !ets.is_empty() && viewer.zona.is_none() {
        html.push_str("<h2>Enti del terzo settore</h2><div class=\"scroll\"><table id=\"ets\"><thead><tr><th>Ente</th><th>Nuclei sostenuti (record)</th><th>Doppio sostegno economico</th></tr></thead><tbody>");
        for e in ets {
            let _ = write!(html, "<tr data-comune=\"{}\"><td>{}</td><td data-measure=\"households_supported_sum\">{}</td><td data-measure=\"double_economic_support\">{}</td></tr>", esc(&label(e, "comune")), esc(&label(e, "comune")), fmt_num(val(e, "households_supported_sum"), 0), fmt_num(val(e, "double_economic_support"), 0));
        }
        html.push_str("</tbody></table></div>");
    }
    html.push_str("<p class=\"nd\">Dati: statistiche pubblicate dal hub siso; nessun dato personale. CSV e JSON: <code>/api/stats</code>, <code>/api/stats.csv</code>.</p></main></body></html>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn italian_numbers_and_escaping() {
        assert_eq!(fmt_num(Some(Some(1234567.0)), 0), "1.234.567");
        assert_eq!(fmt_num(Some(Some(1234.5)), 2), "1.234,50");
        assert_eq!(fmt_num(Some(None), 0), "n.d.");
        assert_eq!(esc("<a&\"'>"), "&lt;a&amp;&quot;&#39;&gt;");
    }
}
