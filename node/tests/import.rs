//! Import drivers: every kind with valid and malformed files, both driver profiles and
//! encodings, atomicity, idempotent re-import, --skip-invalid, --dry-run, third-sector limits.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use siso_node::import::{import, ImportError, ImportKind, ImportOptions, Profile};
use siso_node::model::{Family, Person, Reddito};
use siso_node::store::{Kind, OpenMode, Store};
use siso_shared::Role;
use time::macros::date;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/examples")
}

fn opts() -> ImportOptions {
    ImportOptions::new(Role::Comune, date!(2026 - 11 - 29))
}

/// Imports the canonical example file of `kind`.
fn import_example(
    s: &Store,
    kind: ImportKind,
    o: &ImportOptions,
) -> Result<siso_node::import::ImportSummary, ImportError> {
    let file = examples().join(kind.file_name());
    import(s, kind, &file, &Profile::default(), o)
}

fn store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("store"), OpenMode::Create).unwrap();
    (d, s)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn every_example_imports_and_reimport_changes_nothing() {
    let (_d, s) = store();
    let p = Profile::default();
    for &kind in ImportKind::all() {
        let file = kind.file_name();
        let sum = import(&s, kind, &examples().join(&file), &p, &opts()).unwrap();
        assert!(sum.imported > 0, "{file}");
        assert_eq!(sum.rejected, 0);
    }
    let counts = |s: &Store| {
        [
            Kind::Person,
            Kind::Family,
            Kind::Sanitaria,
            Kind::Reddito,
            Kind::Immobile,
            Kind::Locazione,
            Kind::Tributo,
            Kind::Accesso,
            Kind::PresaInCarico,
            Kind::Intervento,
        ]
        .map(|k| s.count(k).unwrap())
    };
    let before = counts(&s);
    // 6 residents + 1 non-resident (Conti Sara, from accessi/interventi).
    assert_eq!(before, [7, 3, 2, 4, 3, 1, 2, 3, 1, 3]);
    let fam: Family = s.get(Kind::Family, b"1001").unwrap().unwrap();
    assert_eq!(fam.members.len(), 3);
    assert_eq!(fam.reference, "RSSMRA70C01G478R");
    let sara: Person = s.get(Kind::Person, b"CNTSRA85L47H501X").unwrap().unwrap();
    assert!(!sara.resident);
    assert_eq!(sara.cognome, "Conti");
    for &kind in ImportKind::all() {
        import(&s, kind, &examples().join(kind.file_name()), &p, &opts()).unwrap();
    }
    assert_eq!(counts(&s), before, "re-import changed the store");
}

#[test]
fn vendor_profile_windows_1252_decimal_comma() {
    let (_d, s) = store();
    let p = Profile::load(&examples().join("profiles/vendor-cp1252.toml")).unwrap();
    let anagrafe = examples().join("vendor/anagrafe-cp1252.csv");
    let sum = import(&s, ImportKind::Anagrafe, &anagrafe, &p, &opts()).unwrap();
    assert_eq!((sum.imported, sum.households), (7, 4));
    let dangelo: Vec<(Vec<u8>, Person)> =
        s.scan::<Person>(Kind::Person, b"DNGNCL60R10G478").unwrap();
    assert_eq!(dangelo.len(), 1);
    assert_eq!(dangelo[0].1.nome, "Nicolò");
    assert_eq!(dangelo[0].1.cognome, "D'Angelo");
    import(
        &s,
        ImportKind::Redditi,
        &examples().join("vendor/redditi-cp1252.csv"),
        &p,
        &opts(),
    )
    .unwrap();
    let r: Reddito = s
        .get(
            Kind::Reddito,
            &siso_node::store::cf_key("RSSMRA70C01G478R", &2025u16.to_be_bytes()),
        )
        .unwrap()
        .unwrap();
    assert_eq!(r.importo, 1_850_000);
    // The canonical profile file behaves like no profile.
    let c = Profile::load(&examples().join("profiles/canonical.toml")).unwrap();
    import(
        &s,
        ImportKind::Redditi,
        &examples().join("redditi.csv"),
        &c,
        &opts(),
    )
    .unwrap();
    // The cp1252 file read as UTF-8 is refused with a hint, and nothing is written.
    let (_d2, s2) = store();
    let mut utf8 = p.clone();
    utf8.encoding = siso_node::import::Encoding::Utf8;
    let err = import(&s2, ImportKind::Anagrafe, &anagrafe, &utf8, &opts()).unwrap_err();
    let lines = errors(err);
    let wanted = ":8: nome: not valid UTF-8";
    assert!(lines.iter().any(|l| l.contains(wanted)), "{lines:#?}");
    assert_eq!(s2.count(Kind::Person).unwrap(), 0);
}

fn errors(e: ImportError) -> Vec<String> {
    assert!(matches!(e, ImportError::Invalid { .. }), "{e}");
    e.lines()
}

#[test]
fn malformed_rows_write_nothing_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let (_d, s) = store();
    let p = Profile::default();
    let header = "codice_fiscale;cognome;nome;sesso;data_nascita;codice_catastale_nascita;id_famiglia;rapporto_intestatario;indirizzo";
    let f = write(
        dir.path(),
        "bad.csv",
        &format!(
            "{header}\n\
             RSSMRA70C01G478R;Rossi;Mario;M;1970-03-01;G478;1;IS;x\n\
             RSSMRA70C01G478X;Rossi;Mario;M;1970-03-01;G478;1;IS;x\n\
             BNCNNA72E49A475D;Bianchi;Anna;M;1972-05-09;A475;1;MG;x\n\
             VRDGPP45A20L117B;Verdi;Giuseppe;M;31/02/1945;L117;2;IS;x\n\
             NREGLI90B42G478F;Neri;Giulia;F;1990-02-02;G478;3\n\
             RSSMRA70C01G478R;Rossi;Mario;M;1970-03-01;G478;1;IS;x\n"
        ),
    );
    let lines = errors(import(&s, ImportKind::Anagrafe, &f, &p, &opts()).unwrap_err());
    let shown = f.display().to_string();
    for want in [
        format!("{shown}:3: codice_fiscale: wrong check character 'X', expected 'R'"),
        format!("{shown}:4: codice_fiscale: encodes sex F but sesso is M"),
        format!("{shown}:5: data_nascita: \"31/02/1945\" is not a date (YYYY-MM-DD or DD/MM/YYYY)"),
        format!("{shown}:6: row: expected 9 fields, found 7"),
        format!("{shown}:7: codice_fiscale: appears twice in the file"),
    ] {
        assert!(lines.contains(&want), "missing {want:?} in {lines:#?}");
    }
    assert_eq!(
        s.count(Kind::Person).unwrap(),
        0,
        "an invalid import wrote something"
    );

    // --skip-invalid imports the valid row and writes the rejects with reasons.
    let rej = dir.path().join("rejects.csv");
    let mut o = opts();
    o.skip_invalid = Some(rej.clone());
    let sum = import(&s, ImportKind::Anagrafe, &f, &p, &o).unwrap();
    assert_eq!((sum.imported, sum.rejected), (1, 5));
    assert_eq!(s.count(Kind::Person).unwrap(), 1);
    let text = std::fs::read_to_string(&rej).unwrap();
    assert!(text.starts_with(&format!("{header};errore\n")));
    assert_eq!(text.lines().count(), 6);
    assert!(text.contains("wrong check character"));
}

#[test]
fn every_kind_rejects_its_malformed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (_d, s) = store();
    let p = Profile::default();
    let cases: [(ImportKind, &str, &str); 8] = [
        (ImportKind::Sanitaria, "codice_fiscale;invalidita_percentuale;legge_104;non_autosufficiente\nRSSMRA70C01G478R;150;S;N\n", "invalidita_percentuale"),
        (ImportKind::Redditi, "codice_fiscale;anno;reddito_complessivo\nRSSMRA70C01G478R;25;100\n", "anno"),
        (ImportKind::Immobili, "codice_fiscale;categoria_catastale;rendita_catastale;quota_possesso;abitazione_principale\nRSSMRA70C01G478R;A/2;abc;50;S\n", "rendita_catastale"),
        (ImportKind::Locazioni, "codice_fiscale;ruolo;canone_annuo;data_inizio;data_fine;morosita\nRSSMRA70C01G478R;conduttore;100;2026-01-01;;forse\n", "morosita"),
        (ImportKind::Tributi, "codice_fiscale;tributo;anno;importo_dovuto;importo_versato\nRSSMRA70C01G478R;TARI;2025;;0\n", "importo_dovuto"),
        (ImportKind::Accessi, "data;codice_fiscale;area_bisogno;esito\n2026-01-01;RSSMRA70C01G478R;fame;x\n", "area_bisogno"),
        (ImportKind::PreseInCarico, "codice_fiscale;data_inizio;data_fine;operatore;area_bisogno\nRSSMRA70C01G478R;2026-01-01;;;poverta\n", "operatore"),
        (ImportKind::Interventi, "codice_fiscale;tipo_intervento;area_bisogno;data_inizio;data_fine;importo\n;buoni_spesa;poverta;2026-01-01;;10\n", "codice_fiscale"),
    ];
    for (kind, text, column) in cases {
        let f = write(dir.path(), &format!("{}.csv", kind.as_str()), text);
        let lines = errors(import(&s, kind, &f, &p, &opts()).unwrap_err());
        assert!(
            lines.iter().any(|l| l.contains(&format!(":2: {column}: "))),
            "{kind:?}: {lines:#?}"
        );
    }
    // A missing column is a header error.
    let f = write(
        dir.path(),
        "h.csv",
        "codice_fiscale;anno\nRSSMRA70C01G478R;2025\n",
    );
    let e = import(&s, ImportKind::Redditi, &f, &p, &opts()).unwrap_err();
    assert!(
        e.to_string()
            .contains(":1: header: missing column(s) reddito_complessivo"),
        "{e}"
    );
    // Stray quotes, binary garbage: errors, nothing written, no panic.
    let f = write(
        dir.path(),
        "q.csv",
        "codice_fiscale;anno;reddito_complessivo\n\"RSSMRA70C01G478R;2025;1\nx\"y;2025;1\n",
    );
    assert!(import(&s, ImportKind::Redditi, &f, &p, &opts()).is_err());
    let g = dir.path().join("g.csv");
    std::fs::write(
        &g,
        (0..4096u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(import(&s, ImportKind::Redditi, &g, &p, &opts()).is_err());
    assert_eq!(s.count(Kind::Reddito).unwrap(), 0);
    assert_eq!(s.count(Kind::Sanitaria).unwrap(), 0);
}

#[test]
fn dry_run_writes_nothing() {
    let (_d, s) = store();
    let mut o = opts();
    o.dry_run = true;
    let sum = import_example(&s, ImportKind::Anagrafe, &o).unwrap();
    assert_eq!(sum.imported, 6);
    assert!(sum.dry_run);
    assert_eq!(s.count(Kind::Person).unwrap(), 0);
}

#[test]
fn anagrafe_replaces_household_composition() {
    let dir = tempfile::tempdir().unwrap();
    let (_d, s) = store();
    let p = Profile::default();
    import_example(&s, ImportKind::Anagrafe, &opts()).unwrap();
    // Giuseppe Verdi moves away; Luca Rossi forms his own family.
    let text = std::fs::read_to_string(examples().join("anagrafe.csv")).unwrap();
    let newer: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("VRDGPP45A20L117B"))
        .map(|l| {
            if l.starts_with("RSSLCU12H15G478S") {
                l.replace(";1001;FG;", ";2001;IS;")
            } else {
                l.to_owned()
            }
        })
        .collect();
    let f = write(dir.path(), "anagrafe2.csv", &(newer.join("\n") + "\n"));
    let sum = import(&s, ImportKind::Anagrafe, &f, &p, &opts()).unwrap();
    assert_eq!(sum.households, 3);
    assert!(s.get::<Family>(Kind::Family, b"1002").unwrap().is_none());
    let verdi: Person = s.get(Kind::Person, b"VRDGPP45A20L117B").unwrap().unwrap();
    assert!(!verdi.resident);
    assert_eq!(
        s.get::<Family>(Kind::Family, b"1001")
            .unwrap()
            .unwrap()
            .members
            .len(),
        2
    );
}

#[test]
fn third_sector_imports_only_interventi_and_accessi() {
    let (_d, s) = store();
    let mut o = opts();
    o.role = Role::Ets;
    let e = import_example(&s, ImportKind::Anagrafe, &o).unwrap_err();
    assert!(
        e.to_string()
            .contains("third-sector nodes import only interventi and accessi"),
        "{e}"
    );
    import_example(&s, ImportKind::Interventi, &o).unwrap();
    import_example(&s, ImportKind::Accessi, &o).unwrap();
    // The row without a codice fiscale was computed from the demographic columns.
    assert!(s
        .get::<Person>(Kind::Person, b"CNTSRA85L47H501X")
        .unwrap()
        .is_some());
}

#[test]
fn imported_persons_are_found_by_code_name_and_family_with_opaque_ids() {
    use siso_node::persons::{id_key, PersonIndex};
    let (_d, s) = store();
    let p = Profile::load(&examples().join("profiles/vendor-cp1252.toml")).unwrap();
    let anagrafe = examples().join("vendor/anagrafe-cp1252.csv");
    import(&s, ImportKind::Anagrafe, &anagrafe, &p, &opts()).unwrap();
    import_example(&s, ImportKind::Interventi, &opts()).unwrap();
    let mut ix = PersonIndex::build(&s, id_key(&s).unwrap()).unwrap();
    let names = |ix: &PersonIndex, q: &str| -> Vec<String> {
        ix.search(&s, q)
            .unwrap()
            .into_iter()
            .map(|r| format!("{} {}", r.cognome, r.nome))
            .collect()
    };
    // By surname prefix, "surname name", "name surname", accents and case ignored.
    assert_eq!(names(&ix, "ross"), ["Rossi Luca", "Rossi Mario"]);
    assert_eq!(names(&ix, "ROSSI mar"), ["Rossi Mario"]);
    assert_eq!(names(&ix, "mario rossi"), ["Rossi Mario"]);
    assert_eq!(names(&ix, "nicolo d'angelo"), ["D'Angelo Nicolò"]);
    assert_eq!(names(&ix, "d angelo"), ["D'Angelo Nicolò"]);
    assert!(
        names(&ix, "zzz").is_empty() && names(&ix, "  ").is_empty() && names(&ix, "'").is_empty()
    );
    // By codice fiscale or its beginning; by family.
    assert_eq!(names(&ix, "rssmra70c01g478r"), ["Rossi Mario"]);
    assert_eq!(names(&ix, "RSSLCU12"), ["Rossi Luca"]);
    assert_eq!(names(&ix, "1001").len(), 3);
    assert!(names(&ix, "9999").is_empty());
    // A person outside the anagrafe, written by the interventi import, is found too.
    assert_eq!(names(&ix, "conti sara"), ["Conti Sara"]);
    // Ids: opaque, stable across a re-import and a rebuilt index, and they lead back.
    let id = ix.search(&s, "rossi mario").unwrap()[0].id.clone();
    assert_eq!(id.len(), 32);
    assert!(!id.to_ascii_uppercase().contains("RSSMRA"));
    import(&s, ImportKind::Anagrafe, &anagrafe, &p, &opts()).unwrap();
    let rebuilt = PersonIndex::build(&s, id_key(&s).unwrap()).unwrap();
    assert_eq!(rebuilt.search(&s, "rossi mario").unwrap()[0].id, id);
    assert_eq!(
        rebuilt.by_id(&s, &id).unwrap().unwrap().cf,
        "RSSMRA70C01G478R"
    );
    for bad in ["", "zz", &"0".repeat(32), &id[..30]] {
        assert!(rebuilt.by_id(&s, bad).unwrap().is_none(), "{bad}");
    }
    // A name changed in a later anagrafe: the old index no longer shows the old name (each
    // hit is read back), a rebuilt one finds the new name, and so does one updated in place.
    let text = std::fs::read_to_string(examples().join("anagrafe.csv"))
        .unwrap()
        .replace(";Verdi;Giuseppe;", ";Verdi Bianchi;Giuseppe;");
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "anagrafe.csv", &text);
    import(&s, ImportKind::Anagrafe, &f, &Profile::default(), &opts()).unwrap();
    assert!(names(&ix, "verdi giuseppe").is_empty());
    let renamed: Person = s.get(Kind::Person, b"VRDGPP45A20L117B").unwrap().unwrap();
    ix.insert(&renamed);
    assert_eq!(names(&ix, "verdi bianchi"), ["Verdi Bianchi Giuseppe"]);
    assert_eq!(names(&ix, "giuseppe verdi b"), ["Verdi Bianchi Giuseppe"]);
    let rebuilt = PersonIndex::build(&s, id_key(&s).unwrap()).unwrap();
    assert_eq!(names(&rebuilt, "verdi"), ["Verdi Bianchi Giuseppe"]);
    assert_eq!(rebuilt.len(), s.count(Kind::Person).unwrap());
}
