//! Tables cut from a cube: the rows of a request (a level, a grouping, a month) and their JSON
//! and CSV documents — the same figures in every format.

use serde_json::{json, Map, Value};
use siso_shared::wire::{Dimension, Level, StatsQuery};
use siso_shared::AreaBisogno;

use super::{dimension_name, dimension_values, Cube, Group, Unit};

/// A statistics request: the wire's [`StatsQuery`] (epoch, level, grouping, month), and for the
/// dashboard an area of need to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What is asked.
    pub query: StatsQuery,
    /// Keep only rows of this area of need (dashboard filter; requires `by` = area).
    pub area: Option<AreaBisogno>,
    /// Keep only rows of this zona sociale: its Comuni at Comune level, its own row at zona
    /// level (the Region's row is kept).
    pub zona: Option<u8>,
}

impl Request {
    /// The whole epoch at one level, without grouping.
    pub fn total(epoch: u16, level: Level) -> Request {
        Request {
            query: StatsQuery {
                epoch,
                level,
                by: None,
                month: None,
            },
            area: None,
            zona: None,
        }
    }
}

impl From<&StatsQuery> for Request {
    fn from(q: &StatsQuery) -> Self {
        Request {
            query: q.clone(),
            area: None,
            zona: None,
        }
    }
}

/// One published row: its labels and its measures (`None` = suppressed).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Labels in order (`comune`, `zona`, the dimension).
    pub labels: Vec<(String, Value)>,
    /// Measures in order.
    pub measures: Vec<(String, Option<f64>)>,
    /// Any measure suppressed.
    pub suppressed: bool,
}

/// The units of a level with rows in `cube`, in order; with `zona`, only that zona's (its
/// Comuni at Comune level, its own row at zona level; the Region's row is kept).
pub fn units(cube: &Cube, level: Level, zona: Option<u8>) -> Vec<Unit> {
    let all: Vec<Unit> = match level {
        Level::Region => vec![Unit::Region],
        Level::Zona => siso_shared::comuni::zone()
            .iter()
            .map(|z| Unit::Zona(z.number))
            .collect(),
        Level::Comune => cube.members.iter().cloned().map(Unit::Member).collect(),
    };
    all.into_iter()
        .filter(|u| match (zona, u) {
            (None, _) | (_, Unit::Region) => true,
            (Some(z), Unit::Zona(x)) => *x == z,
            (Some(z), Unit::Member(m)) => m.zona() == Some(z),
        })
        .collect()
}

/// Cuts the rows of a request from the cube.
pub fn rows(cube: &Cube, r: &Request) -> Vec<Row> {
    let month = r.query.month.unwrap_or(0);
    let groups: Vec<Group> = match r.query.by {
        None => vec![None],
        Some(d) => dimension_values(d)
            .into_iter()
            .filter(|v| match (d, r.area) {
                (Dimension::AreaBisogno, Some(a)) => *v == a.to_string(),
                _ => true,
            })
            .map(|v| Some((d, v)))
            .collect(),
    };
    let mut out = Vec::new();
    for unit in units(cube, r.query.level, r.zona) {
        for g in &groups {
            let mut measures = Vec::new();
            let mut suppressed = false;
            for name in &cube.measures {
                let Some(v) = cube.get(&unit, month, g, name) else {
                    continue;
                };
                suppressed |= v.is_none();
                let v = v.map(|x| {
                    if name == "expenditure" {
                        x as f64 / 100.0
                    } else {
                        x as f64
                    }
                });
                measures.push((name.clone(), v));
            }
            if measures.is_empty() {
                continue;
            }
            if g.is_none() && month == 0 {
                let get = |n: &str| measures.iter().find(|(m, _)| m == n).and_then(|x| x.1);
                // The share of the unit's distinct supported households that another member
                // (inside or outside the unit, third-sector entities included) supports too;
                // withheld when either count is.
                let rate = match (
                    get("households_shared"),
                    get("households_supported_distinct"),
                ) {
                    (Some(s), Some(d)) if d > 0.0 => Some(Some(s / d)),
                    (Some(_), Some(_)) => Some(Some(0.0)),
                    _ if measures.iter().any(|(m, _)| m == "households_shared") => Some(None),
                    _ => None,
                };
                if let Some(rate) = rate {
                    measures.push((
                        "overlap_rate".into(),
                        rate.map(|x| (x * 10_000.0).round() / 10_000.0),
                    ));
                }
            }
            let mut labels = Vec::new();
            match &unit {
                Unit::Member(m) => {
                    labels.push(("comune".to_owned(), json!(m.to_string())));
                    labels.push(("zona".to_owned(), json!(m.zona())));
                }
                Unit::Zona(z) => {
                    labels.push(("zona".to_owned(), json!(z)));
                    labels.push((
                        "zona_name".to_owned(),
                        json!(siso_shared::comuni::zona(*z).map(|x| x.name())),
                    ));
                }
                Unit::Region => {}
            }
            if let Some((d, v)) = g {
                labels.push((dimension_name(*d).to_owned(), json!(v)));
            }
            out.push(Row {
                labels,
                measures,
                suppressed,
            });
        }
    }
    out
}

/// The name of a level in the API.
pub fn level_name(l: Level) -> &'static str {
    match l {
        Level::Region => "region",
        Level::Zona => "zona",
        Level::Comune => "comune",
    }
}

/// The JSON document of a request.
pub fn to_json(cube: &Cube, r: &Request) -> Value {
    let rows: Vec<Value> = rows(cube, r)
        .into_iter()
        .map(|row| {
            let mut m = Map::new();
            for (k, v) in row.labels {
                m.insert(k, v);
            }
            for (k, v) in row.measures {
                m.insert(
                    k.clone(),
                    match v {
                        None => Value::Null,
                        Some(x) if k == "expenditure" || k == "overlap_rate" => json!(x),
                        Some(x) => json!(x as i64),
                    },
                );
            }
            m.insert("suppressed".into(), json!(row.suppressed));
            Value::Object(m)
        })
        .collect();
    json!({
        "epoch": r.query.epoch,
        "level": level_name(r.query.level),
        "by": r.query.by.map(dimension_name),
        "month": r.query.month,
        "k": cube.k,
        "rows": rows,
    })
}

/// The CSV document of a request: `;`-separated, UTF-8, header row; suppressed cells empty.
pub fn to_csv(cube: &Cube, r: &Request) -> String {
    let rows = rows(cube, r);
    let mut header: Vec<String> = Vec::new();
    for row in &rows {
        for (k, _) in row
            .labels
            .iter()
            .map(|(k, v)| (k, v))
            .chain(std::iter::empty())
        {
            if !header.contains(k) {
                header.push(k.clone());
            }
        }
    }
    for row in &rows {
        for (k, _) in &row.measures {
            if !header.contains(k) {
                header.push(k.clone());
            }
        }
    }
    header.push("suppressed".into());
    let mut out = header.join(";");
    out.push('\n');
    for row in &rows {
        let cells: Vec<String> = header
            .iter()
            .map(|h| {
                if h == "suppressed" {
                    return row.suppressed.to_string();
                }
                if let Some((_, v)) = row.labels.iter().find(|(k, _)| k == h) {
                    return match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                }
                match row.measures.iter().find(|(k, _)| k == h) {
                    Some((k, Some(x))) if k == "expenditure" => format!("{x:.2}"),
                    Some((k, Some(x))) if k == "overlap_rate" => format!("{x}"),
                    Some((_, Some(x))) => format!("{}", *x as i64),
                    _ => String::new(),
                }
            })
            .collect();
        out.push_str(&cells.join(";"));
        out.push('\n');
    }
    out
}
