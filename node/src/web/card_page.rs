//! The card page (maud): the person, the household, cases with their plan and reviews,
//! accesses, interventions, the diary, the assessment, incomes and health facts, the hub's
//! notices — each section only when the card holds it — and the forms the operator may use.
//! Every field has a label; forms work without script; refused fields are listed in an alert
//! at the top of their form.

use maud::{html, Markup};
use siso_server::web::Session;
use siso_shared::{AreaBisogno, TipoIntervento};
use time::Date;

use super::pages::{layout, money};
use crate::cartella::card::{Card, CasoView};
use crate::cartella::{FieldError, Livello};
use crate::model::{EsitoVerifica, MotivoChiusura, TipoAttivita};

/// `GG/MM/AAAA`.
pub(super) fn data(d: Date) -> String {
    format!("{:02}/{:02}/{}", d.day(), d.month() as u8, d.year())
}

fn opt_data(d: Option<Date>) -> String {
    d.map(data).unwrap_or_else(|| "—".into())
}

/// The Italian name of an area of need.
pub(super) fn area_label(a: AreaBisogno) -> &'static str {
    match a {
        AreaBisogno::Poverta => "Povertà ed esclusione sociale",
        AreaBisogno::Disabilita => "Disabilità",
        AreaBisogno::Anziani => "Anziani",
        AreaBisogno::MinoriFamiglia => "Minori e famiglia",
        AreaBisogno::Dipendenze => "Dipendenze",
        AreaBisogno::SaluteMentale => "Salute mentale",
        AreaBisogno::Immigrazione => "Immigrazione",
        AreaBisogno::Abitare => "Abitare",
        AreaBisogno::Lavoro => "Lavoro",
        AreaBisogno::Altro => "Altro",
    }
}

fn area_of(code: &str) -> &'static str {
    code.parse::<AreaBisogno>().map(area_label).unwrap_or("—")
}

/// The Italian name of a kind of intervention.
pub(super) fn tipo_label(t: TipoIntervento) -> &'static str {
    match t {
        TipoIntervento::ContributoEconomico => "Contributo economico",
        TipoIntervento::SostegnoAffitto => "Sostegno all'affitto",
        TipoIntervento::BuoniSpesa => "Buoni spesa",
        TipoIntervento::PaccoAlimentare => "Pacco alimentare",
        TipoIntervento::AssistenzaDomiciliare => "Assistenza domiciliare",
        TipoIntervento::CentroDiurno => "Centro diurno",
        TipoIntervento::StrutturaResidenziale => "Struttura residenziale",
        TipoIntervento::ServizioSocialeProfessionale => "Servizio sociale professionale",
        TipoIntervento::InserimentoLavorativo => "Inserimento lavorativo",
        TipoIntervento::TrasportoSociale => "Trasporto sociale",
        TipoIntervento::Mensa => "Mensa",
        TipoIntervento::Altro => "Altro",
    }
}

fn stato_label(s: &str) -> &'static str {
    match s {
        "richiesta" => "Richiesta, da assegnare",
        "in_carico" => "In carico",
        _ => "Chiuso",
    }
}

/// The three outcomes of an access at the desk.
const ESITI: [&str; 3] = [
    "informazione/orientamento",
    "invio ad altro servizio",
    "richiesta di presa in carico",
];

struct Ctx<'a> {
    session: &'a Session,
    errors: Option<&'a (String, Vec<FieldError>)>,
    today: Date,
}

impl Ctx<'_> {
    fn csrf(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.session.csrf); }
    }

    fn errors_of(&self, form: &str) -> Markup {
        match self.errors {
            Some((f, errs)) if f == form => html! {
                div class="alert alert-danger" role="alert" id={"errori-" (form)} {
                    p { strong { "Nulla è stato registrato: correggere i dati." } }
                    ul { @for e in errs { li { @if !e.campo.is_empty() { strong { (e.campo) } ": " } (e.messaggio) } } }
                }
            },
            _ => html! {},
        }
    }

    fn role(&self) -> &str {
        &self.session.role
    }
}

fn select(id: &str, name: &str, label: &str, options: &[(&str, &str)], selected: &str) -> Markup {
    html! {
        div class="field" {
            label for=(id) { (label) }
            select id=(id) name=(name) required {
                @for (code, text) in options {
                    option value=(code) selected[*code == selected] { (text) }
                }
            }
        }
    }
}

fn select_optional(id: &str, name: &str, label: &str, options: &[(&str, &str)]) -> Markup {
    html! {
        div class="field" {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                option value="" { "Nessuno" }
                @for (code, text) in options { option value=(code) { (text) } }
            }
        }
    }
}

fn input(id: &str, name: &str, label: &str, kind: &str, value: &str, required: bool) -> Markup {
    html! {
        div class="field" {
            label for=(id) { (label) }
            input id=(id) name=(name) type=(kind) value=(value) required[required];
        }
    }
}

fn textarea(id: &str, name: &str, label: &str, required: bool) -> Markup {
    html! {
        div class="field" {
            label for=(id) { (label) }
            textarea id=(id) name=(name) rows="3" maxlength="4000" required[required] {}
        }
    }
}

fn areas() -> Vec<(&'static str, &'static str)> {
    AreaBisogno::ALL
        .iter()
        .map(|a| (a.as_str(), area_label(*a)))
        .collect()
}

fn iso(d: Date) -> String {
    d.to_string()
}

fn origin(o: &crate::cartella::Origine) -> Markup {
    match o {
        crate::cartella::Origine::Importazione => html! { span class="badge" { "importato" } },
        crate::cartella::Origine::App { autore, .. } => {
            html! { span class="badge badge-app" { "app · " (autore) } }
        }
    }
}

fn case_forms(cx: &Ctx<'_>, c: &CasoView, workers: &[String]) -> Markup {
    let Some(id) = &c.id else { return html! {} };
    let form = format!("caso-{id}");
    let mine = c.assegnatario.as_deref() == Some(cx.session.user.as_str());
    let manager = cx.role() == "responsabile";
    let open = c.stato != "chiuso";
    let in_charge = c.stato == "in_carico";
    let worker_opts: Vec<(&str, &str)> = workers.iter().map(|w| (w.as_str(), w.as_str())).collect();
    let today = iso(cx.today);
    html! {
        (cx.errors_of(&form))
        @if c.stato == "richiesta" && cx.role() == "assistente_sociale" {
            form method="post" action={"/casi/" (id) "/presa"} class="inline" {
                (cx.csrf())
                button type="submit" class="btn btn-primary" id={"prendi-" (id)} { "Prendi in carico" }
            }
        }
        @if manager && open && !workers.is_empty() {
            details { summary { @if in_charge { "Riassegna il caso" } @else { "Assegna il caso" } }
                form method="post" action={"/casi/" (id) "/assegnazione"} class="form" {
                    (cx.csrf())
                    (select(&format!("{form}-operatore"), "operatore", "Assistente sociale", &worker_opts, c.assegnatario.as_deref().unwrap_or("")))
                    button type="submit" class="btn btn-primary" { "Assegna" }
                }
            }
        }
        @if in_charge && (mine || manager) {
            details { summary { "Valutazione del bisogno" }
                form method="post" action={"/casi/" (id) "/valutazione"} class="form" {
                    (cx.csrf())
                    (input(&format!("{form}-val-data"), "data", "Data", "date", &today, true))
                    (textarea(&format!("{form}-val-testo"), "testo", "Bisogni rilevati e risorse", true))
                    button type="submit" class="btn btn-primary" { "Registra la valutazione" }
                }
            }
            details { summary { "Progetto personalizzato" }
                form method="post" action={"/casi/" (id) "/progetto"} class="form" {
                    (cx.csrf())
                    (input(&format!("{form}-prog-data"), "data", "Data del progetto", "date", &today, true))
                    (textarea(&format!("{form}-prog-obiettivi"), "obiettivi", "Obiettivi e impegni", true))
                    (input(&format!("{form}-prog-revisione"), "data_revisione", "Data di revisione", "date", "", true))
                    button type="submit" class="btn btn-primary" { "Registra il progetto" }
                }
            }
            details { summary { "Fissa un appuntamento" }
                form method="post" action={"/casi/" (id) "/appuntamento"} class="form" {
                    (cx.csrf())
                    (input(&format!("{form}-app-data"), "data", "Data", "date", &today, true))
                    (input(&format!("{form}-app-ora"), "ora", "Ora (facoltativa)", "time", "", false))
                    (input(&format!("{form}-app-luogo"), "luogo", "Luogo", "text", "", false))
                    (textarea(&format!("{form}-app-note"), "note", "Note", false))
                    button type="submit" class="btn btn-primary" { "Fissa l'appuntamento" }
                }
            }
            details { summary { "Monitoraggio" }
                form method="post" action={"/casi/" (id) "/monitoraggio"} class="form" {
                    (cx.csrf())
                    (input(&format!("{form}-mon-data"), "data", "Data", "date", &today, true))
                    (textarea(&format!("{form}-mon-note"), "note", "Esito della verifica", true))
                    (input(&format!("{form}-mon-prossima"), "prossima_revisione", "Prossima revisione (facoltativa)", "date", "", false))
                    button type="submit" class="btn btn-primary" { "Registra il monitoraggio" }
                }
            }
        }
        @if manager && open {
            details { summary { "Chiudi il caso" }
                form method="post" action={"/casi/" (id) "/chiusura"} class="form" {
                    (cx.csrf())
                    (input(&format!("{form}-chi-data"), "data", "Data di chiusura", "date", &today, true))
                    (select(&format!("{form}-chi-motivo"), "motivo", "Motivo", &MotivoChiusura::ALL.map(|m| (m.code(), m.label())), ""))
                    (textarea(&format!("{form}-chi-note"), "note", "Note", false))
                    button type="submit" class="btn btn-primary" { "Chiudi il caso" }
                }
            }
        }
    }
}

fn case_detail(c: &CasoView) -> Markup {
    let Some(d) = &c.dettaglio else {
        return html! {};
    };
    html! {
        dl class="facts" {
            @if let Some(v) = &d.valutazione {
                dt { "Valutazione del bisogno" } dd { (data(v.data)) " · " (v.autore) ": " (v.testo) }
            }
            @if let Some(p) = &d.progetto {
                dt { "Progetto personalizzato" } dd { (data(p.data)) " · " (p.obiettivi) " (revisione il " (data(p.revisione)) ")" }
            }
            @for m in &d.monitoraggi {
                dt { "Monitoraggio" } dd { (data(m.nota.data)) " · " (m.nota.autore) ": " (m.nota.testo) }
            }
            @if let Some(ch) = &d.chiusura {
                dt { "Chiusura" } dd { (data(ch.data)) " · " (ch.motivo.label()) @if !ch.note.is_empty() { ": " (ch.note) } }
            }
        }
    }
}

fn cases(cx: &Ctx<'_>, card: &Card, workers: &[String]) -> Markup {
    let can_take = matches!(cx.role(), "assistente_sociale" | "responsabile");
    let worker_opts: Vec<(&str, &str)> = workers.iter().map(|w| (w.as_str(), w.as_str())).collect();
    html! {
        section id="casi" aria-labelledby="casi-titolo" {
            h2 id="casi-titolo" { "Casi" @if card.livello == Livello::Essenziale { " aperti" } }
            @if card.casi.is_empty() {
                p { "Nessun caso." }
            }
            @for c in &card.casi {
                article class="case" id={"caso-" (c.id.as_deref().unwrap_or("importato"))} {
                    h3 { (area_of(&c.area)) " — " (stato_label(c.stato)) }
                    dl class="facts" {
                        dt { "Assegnato a" } dd { (c.assegnatario.as_deref().unwrap_or("nessuno")) }
                        @if let Some(r) = c.richiesta { dt { "Richiesto il" } dd { (data(r)) } }
                        @if let Some(i) = c.inizio { dt { "In carico dal" } dd { (data(i)) } }
                        @if let Some(a) = &c.prossimo_appuntamento {
                            dt { "Prossimo appuntamento" }
                            dd { (data(a.data)) @if let Some(o) = &a.ora { " alle " (o) } @if !a.luogo.is_empty() { " · " (a.luogo) } }
                        }
                        @if c.stato != "chiuso" {
                            dt { "Prossima revisione" }
                            dd { (opt_data(c.prossima_revisione)) @if c.revisione_scaduta { " " strong class="badge badge-danger" { "revisione scaduta" } } }
                        }
                        dt { "Fonte" } dd { (origin(&c.origine)) }
                    }
                    (case_detail(c))
                    (case_forms(cx, c, workers))
                }
            }
            @if can_take && card.livello != Livello::Ets {
                details id="prese-in-carico" open[cx.errors.is_some_and(|e| e.0 == "prese-in-carico")] {
                    summary { "Nuova presa in carico" }
                    (cx.errors_of("prese-in-carico"))
                    form method="post" action={"/persone/" (card.id) "/prese-in-carico"} class="form" {
                        (cx.csrf())
                        (select("pic-area", "area_bisogno", "Area di bisogno", &areas(), ""))
                        (input("pic-inizio", "data_inizio", "Data di inizio", "date", &iso(cx.today), true))
                        @if cx.role() == "responsabile" {
                            (select("pic-operatore", "operatore", "Assistente sociale", &worker_opts, ""))
                        }
                        button type="submit" class="btn btn-primary" { "Prendi in carico" }
                    }
                }
            }
        }
    }
}

fn accessi(cx: &Ctx<'_>, card: &Card) -> Markup {
    let esiti: Vec<(&str, &str)> = ESITI.iter().map(|e| (*e, *e)).collect();
    html! {
        section id="accessi" aria-labelledby="accessi-titolo" {
            h2 id="accessi-titolo" { "Accessi" }
            @if card.accessi.is_empty() { p { "Nessun accesso registrato." } } @else {
                table class="table" {
                    thead { tr { th scope="col" { "Data" } th scope="col" { "Area" } th scope="col" { "Esito" } th scope="col" { "Fonte" } } }
                    tbody { @for a in &card.accessi { tr { td { (data(a.record.data)) } td { (area_label(a.record.area)) } td { (a.record.esito) } td { (origin(&a.origine)) } } } }
                }
            }
            (cx.errors_of("accessi"))
            form method="post" action={"/persone/" (card.id) "/accessi"} class="form" aria-label="Registra un accesso" {
                h3 { "Registra un accesso" }
                (cx.csrf())
                (input("acc-data", "data", "Data", "date", &iso(cx.today), true))
                (select("acc-area", "area_bisogno", "Area di bisogno", &areas(), ""))
                (select("acc-esito", "esito", "Esito", &esiti, ""))
                button type="submit" class="btn btn-primary" { "Registra l'accesso" }
            }
        }
    }
}

fn interventi(cx: &Ctx<'_>, card: &Card) -> Markup {
    let Some(list) = &card.interventi else {
        return html! {};
    };
    let tipi: Vec<(&str, &str)> = TipoIntervento::ALL
        .iter()
        .map(|t| (t.as_str(), tipo_label(*t)))
        .collect();
    html! {
        section id="interventi" aria-labelledby="interventi-titolo" {
            h2 id="interventi-titolo" { "Interventi" }
            @if list.is_empty() { p { "Nessun intervento." } } @else {
                table class="table" {
                    thead { tr { th scope="col" { "Tipo" } th scope="col" { "Area" } th scope="col" { "Dal" } th scope="col" { "Al" } th scope="col" { "Importo" } th scope="col" { "Fonte" } } }
                    tbody { @for v in list { tr {
                        td { (tipo_label(v.record.tipo)) } td { (area_label(v.record.area)) }
                        td { (data(v.record.inizio)) } td { (opt_data(v.record.fine)) }
                        td { (money(v.record.importo)) } td { (origin(&v.origine)) }
                    } } }
                }
            }
            (cx.errors_of("interventi"))
            form method="post" action={"/persone/" (card.id) "/interventi"} class="form" aria-label="Registra un intervento" {
                h3 { "Registra un intervento" }
                (cx.csrf())
                (select("int-tipo", "tipo_intervento", "Tipo di intervento", &tipi, ""))
                (select("int-area", "area_bisogno", "Area di bisogno", &areas(), ""))
                (input("int-inizio", "data_inizio", "Data di inizio", "date", &iso(cx.today), true))
                (input("int-fine", "data_fine", "Data di fine (facoltativa)", "date", "", false))
                (input("int-importo", "importo", "Importo in euro (es. 300,00; vuoto se non economico)", "text", "", false))
                button type="submit" class="btn btn-primary" { "Registra l'intervento" }
            }
        }
    }
}

fn diario(cx: &Ctx<'_>, card: &Card) -> Markup {
    let Some(list) = &card.attivita else {
        return html! {};
    };
    let tipi: Vec<(&str, &str)> = TipoAttivita::ALL
        .iter()
        .map(|t| (t.code(), t.label()))
        .collect();
    let labels: Vec<(String, String)> = card
        .casi
        .iter()
        .filter(|c| c.stato == "in_carico")
        .filter_map(|c| {
            Some((
                c.id.clone()?,
                format!("{} (dal {})", area_of(&c.area), opt_data(c.inizio)),
            ))
        })
        .collect();
    let open_cases: Vec<(&str, &str)> = labels
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    html! {
        section id="attivita" aria-labelledby="attivita-titolo" {
            h2 id="attivita-titolo" { "Diario delle attività" }
            @if list.is_empty() { p { "Nessuna attività." } } @else {
                table class="table" {
                    thead { tr { th scope="col" { "Data" } th scope="col" { "Attività" } th scope="col" { "Minuti" } th scope="col" { "Luogo" } th scope="col" { "Note" } th scope="col" { "Fonte" } } }
                    tbody { @for a in list { tr {
                        td { (data(a.record.data)) @if let Some(o) = &a.record.ora { " " (o) } } td { (a.record.tipo.label()) } td { (a.record.durata_minuti) } td { (a.record.luogo) }
                        td { (a.record.note) } td { (origin(&a.origine)) }
                    } } }
                }
            }
            (cx.errors_of("attivita"))
            form method="post" action={"/persone/" (card.id) "/attivita"} class="form" aria-label="Registra un'attività" {
                h3 { "Registra un'attività" }
                (cx.csrf())
                (input("att-data", "data", "Data", "date", &iso(cx.today), true))
                (select("att-tipo", "tipo_attivita", "Attività", &tipi, ""))
                (input("att-ora", "ora", "Ora (facoltativa)", "time", "", false))
                (input("att-durata", "durata_minuti", "Durata in minuti", "number", "30", true))
                (input("att-luogo", "luogo", "Luogo (facoltativo: domicilio, sede, …)", "text", "", false))
                @if !open_cases.is_empty() {
                    (select_optional("att-caso", "caso", "Caso", &open_cases))
                }
                (textarea("att-note", "note", "Note", false))
                button type="submit" class="btn btn-primary" { "Registra l'attività" }
            }
        }
    }
}

fn assessment(card: &Card) -> Markup {
    let Some(v) = &card.valutazione else {
        return html! {};
    };
    html! {
        section id="valutazione" aria-labelledby="valutazione-titolo" {
            h2 id="valutazione-titolo" { "Valutazione del nucleo" }
            dl class="facts" {
                dt { "Indicatore della situazione economica (stima)" }
                dd { @if let Some(i) = &v.indicator { (format!("{:.0}", i.value)) " €" @if let Some(y) = i.income_year { " (redditi " (y) ")" } } @else { "dati insufficienti" } }
                dt { "Requisiti per le misure" }
                dd { @if v.eligible.is_empty() { "nessuno" } @else { (v.eligible.join(", ")) } }
                dt { "Situazioni critiche (regola)" }
                dd { @if v.flags.is_empty() { "nessuna" } @else { (v.flags.join(", ")) } }
                dt { "Bisogno latente" } dd { @if v.latent_need { "sì: ha i requisiti e nessun intervento di questo ente" } @else { "no" } }
            }
        }
    }
}

fn facts(card: &Card) -> Markup {
    html! {
        @if let Some(r) = &card.redditi {
            section id="redditi" aria-labelledby="redditi-titolo" {
                h2 id="redditi-titolo" { "Redditi del nucleo" }
                @if r.is_empty() { p { "Nessun reddito registrato." } } @else {
                    table class="table" { thead { tr { th scope="col" { "Componente" } th scope="col" { "Anno" } th scope="col" { "Reddito complessivo" } } }
                        tbody { @for (who, x) in r { tr { td { (member_name(card, who)) } td { (x.anno) } td { (money(x.importo)) } } } } }
                }
            }
        }
        @if let Some(h) = &card.sanitaria {
            section id="sanitaria" aria-labelledby="sanitaria-titolo" {
                h2 id="sanitaria-titolo" { "Dati sanitari" }
                @if h.is_empty() { p { "Nessun dato sanitario." } } @else {
                    table class="table" { thead { tr { th scope="col" { "Componente" } th scope="col" { "Invalidità" } th scope="col" { "Legge 104" } th scope="col" { "Non autosufficiente" } } }
                        tbody { @for (who, x) in h { tr { td { (member_name(card, who)) } td { (x.invalidita) "%" } td { (yes(x.legge_104)) } td { (yes(x.non_autosufficiente)) } } } } }
                }
            }
        }
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "sì"
    } else {
        "no"
    }
}

fn member_name(card: &Card, id: &str) -> String {
    card.famiglia
        .iter()
        .find(|m| m.id == id)
        .map(|m| format!("{} {}", m.cognome, m.nome))
        .unwrap_or_else(|| format!("{} {}", card.cognome, card.nome))
}

fn notices(cx: &Ctx<'_>, card: &Card) -> Markup {
    let Some(list) = &card.segnalazioni else {
        return html! {};
    };
    let esiti: Vec<(&str, &str)> = EsitoVerifica::ALL
        .iter()
        .map(|e| (e.code(), e.label()))
        .collect();
    html! {
        section id="segnalazioni" aria-labelledby="segnalazioni-titolo" {
            h2 id="segnalazioni-titolo" { "Segnalazioni della Regione" }
            (cx.errors_of("segnalazioni"))
            @if list.is_empty() { p { "Nessuna segnalazione." } }
            @for n in list {
                article class="notice" {
                    h3 { @if n.risolta { "Verificata" } @else { "Da verificare" } }
                    ul { @for t in &n.testo { li { (t) } } }
                    @for v in &n.verifiche { p { (data(v.data)) " · " (v.autore) ": " (v.esito.label()) @if !v.note.is_empty() { " — " (v.note) } } }
                    @if !n.risolta {
                        form method="post" action={"/segnalazioni/" (n.chiave) "/verifica"} class="form" {
                            (cx.csrf())
                            input type="hidden" name="persona" value=(card.id);
                            (select(&format!("ver-{}", &n.chiave[..12]), "esito", "Esito della verifica", &esiti, ""))
                            (textarea(&format!("ver-note-{}", &n.chiave[..12]), "note", "Note", false))
                            button type="submit" class="btn btn-primary" { "Registra la verifica" }
                        }
                    }
                }
            }
        }
    }
}

/// The card page.
pub(super) fn card(
    member: &str,
    s: &Session,
    card: &Card,
    workers: &[String],
    errors: Option<&(String, Vec<FieldError>)>,
    today: Date,
) -> Markup {
    let cx = Ctx {
        session: s,
        errors,
        today,
    };
    let title = format!("{} {}", card.cognome, card.nome);
    let title = if title.trim().is_empty() {
        card.codice_fiscale.clone()
    } else {
        title
    };
    layout(
        member,
        &title,
        Some(s),
        html! {
            nav aria-label="Percorso" { a href="/persone" { "Ricerca persone" } " · " a href="/carico" { "Carico di lavoro" } }
            p class="lead" {
                @match card.livello {
                    Livello::Completa => "Scheda completa.",
                    Livello::Essenziale => "Scheda essenziale dello sportello: composizione del nucleo, accessi e casi aperti.",
                    Livello::Ets => "Scheda del terzo settore: accessi e interventi registrati dall'ente.",
                }
            }
            dl class="facts" id="anagrafica" {
                dt { "Codice fiscale" } dd { (card.codice_fiscale) }
                dt { "Data di nascita" } dd { (data(card.data_nascita)) " (" (card.eta) " anni)" }
                dt { "Residente nel Comune" } dd { (yes(card.residente)) }
                @if let Some(i) = &card.indirizzo { dt { "Indirizzo" } dd { (i) } }
                @if let Some(f) = &card.id_famiglia { dt { "Famiglia anagrafica" } dd { (f) } }
            }
            @if card.famiglia.len() > 1 {
                section aria-labelledby="nucleo-titolo" {
                    h2 id="nucleo-titolo" { "Nucleo familiare" }
                    table class="table" {
                        thead { tr { th scope="col" { "Componente" } th scope="col" { "Rapporto" } th scope="col" { "Età" } } }
                        tbody { @for m in &card.famiglia { tr {
                            td { @if m.id == card.id { (m.cognome) " " (m.nome) } @else { a href={"/persone/" (m.id)} { (m.cognome) " " (m.nome) } } }
                            td { (m.rapporto) } td { (m.eta) }
                        } } }
                    }
                }
            }
            @if card.livello != Livello::Ets { (cases(&cx, card, workers)) }
            (accessi(&cx, card))
            (interventi(&cx, card))
            (diario(&cx, card))
            (assessment(card))
            (facts(card))
            (notices(&cx, card))
            @if s.role == "responsabile" {
                p { a href={"/registro?persona=" (card.id)} { "Chi ha consultato i dati di questa persona" } }
            }
        },
    )
}
