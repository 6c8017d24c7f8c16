//! The plan's tables as one spreadsheet (`/api/supply-demand.xlsx`, Office Open XML, written by
//! `rust_xlsxwriter`): one sheet per table — the zona by area, its Comuni, the zona by ISTAT's
//! areas, the Region by area — and a sheet of notes on the release and on suppression. A
//! withheld figure is the text «n.d.»; every other figure is a number, so the sheets can be
//! summed and charted as they are.

use rust_xlsxwriter::{Format, Workbook, Worksheet};
use serde_json::{Map, Value};
use siso_shared::wire::Level;

use super::{column, rows, Classification, Request, COLUMNS};
use crate::release::Release;

/// The spreadsheet could not be written.
#[derive(Debug, thiserror::Error)]
#[error("spreadsheet: {0}")]
pub struct XlsxError(#[from] rust_xlsxwriter::XlsxError);

/// The text of a withheld figure.
pub const WITHHELD: &str = "n.d.";

fn sheet(
    ws: &mut Worksheet,
    name: &str,
    table: &[Map<String, Value>],
    bold: &Format,
) -> Result<(), XlsxError> {
    ws.set_name(name)?;
    ws.write_with_format(0, 0, "Unità", bold)?;
    ws.write_with_format(0, 1, "Area", bold)?;
    for (j, (_, heading)) in COLUMNS.iter().enumerate() {
        ws.write_with_format(0, j as u16 + 2, *heading, bold)?;
    }
    ws.set_column_width(0, 28)?;
    ws.set_column_width(1, 24)?;
    ws.set_freeze_panes(1, 2)?;
    for (i, row) in table.iter().enumerate() {
        let r = i as u32 + 1;
        let text = |k: &str| match row.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(v) if !v.is_null() => v.to_string(),
            _ => String::new(),
        };
        ws.write(r, 0, text("name"))?;
        ws.write(r, 1, text("area"))?;
        for (j, (c, _)) in COLUMNS.iter().enumerate() {
            let col = j as u16 + 2;
            match column(row, c) {
                Some(Value::Number(n)) => {
                    ws.write(r, col, n.as_f64().unwrap_or(0.0))?;
                }
                Some(Value::Bool(b)) => {
                    ws.write(r, col, if *b { "sì" } else { "no" })?;
                }
                Some(Value::Null) => {
                    ws.write(r, col, WITHHELD)?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The workbook of a zona (or of every zona) for an epoch, from `rel` and the previous epoch's
/// release.
pub fn workbook(
    rel: &Release,
    previous: Option<&Release>,
    epoch: u16,
    zona: Option<u8>,
) -> Result<Vec<u8>, XlsxError> {
    let req = |level, classification, area: Option<&str>| Request {
        epoch,
        level,
        month: None,
        area: area.map(str::to_owned),
        zona,
        classification,
    };
    let tables = [
        (
            "Domanda e offerta",
            req(Level::Zona, Classification::Siso, None),
        ),
        (
            "Comuni",
            req(Level::Comune, Classification::Siso, Some("totale")),
        ),
        ("Aree ISTAT", req(Level::Zona, Classification::Istat, None)),
        (
            "Regione",
            Request {
                zona: None,
                ..req(Level::Region, Classification::Siso, None)
            },
        ),
    ];
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold().set_text_wrap();
    for (name, r) in &tables {
        let table = rows(rel, previous, r);
        sheet(wb.add_worksheet(), name, &table, &bold)?;
    }
    let notes = wb.add_worksheet();
    notes.set_name("Note")?;
    notes.set_column_width(0, 120)?;
    let lines = [
        format!(
            "siso — domanda e offerta di servizi sociali, anno {epoch}{}",
            zona.map(|z| format!(", zona sociale {z}")).unwrap_or_default()
        ),
        format!(
            "Rilascio statistico n. {} ({}), impronta {}.",
            rel.meta.id,
            rel.meta.period,
            rel.meta.digest_hex()
        ),
        match previous {
            Some(p) => format!(
                "Confronto con l'anno precedente: rilascio n. {} ({}).",
                p.meta.id, p.meta.period
            ),
            None => "Nessun rilascio dell'anno precedente: nessun confronto.".to_owned(),
        },
        format!(
            "«{WITHHELD}»: non divulgabile (valore inferiore a {} unità, o da cui se ne potrebbe ricavare uno, oppure rapporto o somma con una parte non divulgabile) o non definito (rapporto con denominatore zero, per esempio la copertura dove nessun nucleo è in stato di bisogno).",
            rel.cube.k
        ),
        "Le definizioni e le formule di ogni indicatore sono in docs/indicators.md (Indicatori pubblicati dal hub).".to_owned(),
        "Copertura = nuclei sostenuti ÷ nuclei in stato di bisogno. LEPS: un assistente sociale ogni 5.000 residenti dell'ambito (L. 178/2020, art. 1 c. 797).".to_owned(),
        "Aree ISTAT: povertà e disagio adulti = povertà, abitare, lavoro, salute mentale; multiutenza = altro; le altre aree corrispondono una a una.".to_owned(),
        "Nessun dato personale: solo conteggi e importi aggregati.".to_owned(),
    ];
    for (i, l) in lines.iter().enumerate() {
        notes.write(i as u32, 0, l.as_str())?;
    }
    Ok(wb.save_to_buffer()?)
}
