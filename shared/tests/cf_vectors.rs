//! Checks the codice fiscale implementation against the 2,021 reference vectors of
//! `../shared/data/cf_vectors.csv` (produced with an independent implementation). The file lives
//! beside the repository; when it is absent (a bare checkout) the test says so and checks the
//! embedded sample instead, so it can never pass vacuously.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::path::PathBuf;

use siso_shared::CodiceFiscale;
use time::macros::date;

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/cf_vectors.csv")
}

const SAMPLE: &str = r#""cf","cf_ascii","valid","reason","surname","name","sex","birthdate","birthplace_code","source_cf","oracle_normalized","oracle_sex","oracle_birthdate","oracle_birthplace_code","oracle_error","strict_valid","strict_reason"
"MRSRSO55E42C745G","'MRSRSO55E42C745G'","true","valid (umbria birthplace)","Moresi","Rosa","F","1955-05-02","C745","MRSRSO55E42C745G","MRSRSO55E42C745G","F","1955-05-02","C745","","true",""
"MNTLNI32M51Z208J","'MNTLNI32M51Z208J'","true","valid (foreign birthplace)","Monteverdi","Liana","F","1932-08-11","Z208","MNTLNI32M51Z208J","MNTLNI32M51Z208J","F","1932-08-11","Z208","","true",""
"MNTLNI32M51Z208K","'MNTLNI32M51Z208K'","false","bad check","Monteverdi","Liana","F","1932-08-11","Z208","","","","","","","false","check char"
"#;

#[test]
fn every_vector_agrees() {
    let path = vectors_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) => {
            eprintln!(
                "note: {} not found; checking the embedded sample only",
                path.display()
            );
            SAMPLE.to_owned()
        }
    };
    let reference = date!(2026 - 11 - 29);
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (i_cf, i_strict, i_sex, i_date, i_place, i_surname, i_name, i_source) = (
        col("cf"),
        col("strict_valid"),
        col("sex"),
        col("birthdate"),
        col("birthplace_code"),
        col("surname"),
        col("name"),
        col("source_cf"),
    );
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let (mut rows, mut valid, mut computed) = (0, 0, 0);
    let mut failures = Vec::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        rows += 1;
        let input = &rec[i_cf];
        let expect_valid = &rec[i_strict] == "true";
        match CodiceFiscale::parse(input, reference) {
            Ok(cf) => {
                if !expect_valid {
                    failures.push(format!("{:?}: accepted, expected invalid", input));
                    continue;
                }
                valid += 1;
                let want_date = time::Date::parse(&rec[i_date], fmt).unwrap();
                if cf.sex().as_str() != &rec[i_sex]
                    || cf.birth_date() != want_date
                    || cf.birthplace_code() != rec[i_place]
                {
                    failures.push(format!(
                        "{:?}: decoded {:?} {} {}, expected {} {} {}",
                        input,
                        cf.sex(),
                        cf.birth_date(),
                        cf.birthplace_code(),
                        &rec[i_sex],
                        &rec[i_date],
                        &rec[i_place]
                    ));
                }
                // Computing from the generating data gives the source (level 0) code.
                if cf.omocodia_level() == 0 && cf.as_str() == &rec[i_source] {
                    let sex = siso_shared::Sex::parse(&rec[i_sex]).unwrap();
                    let c = CodiceFiscale::compute(
                        &rec[i_surname],
                        &rec[i_name],
                        sex,
                        want_date,
                        &rec[i_place],
                    )
                    .unwrap();
                    if c.as_str() != cf.as_str() {
                        failures.push(format!(
                            "{:?}: computed {} from {} {}",
                            input,
                            c.as_str(),
                            &rec[i_surname],
                            &rec[i_name]
                        ));
                    }
                    computed += 1;
                }
            }
            Err(e) => {
                if expect_valid {
                    failures.push(format!("{:?}: rejected ({e}), expected valid", input));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements, first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(20)]
    );
    eprintln!("{rows} vectors, {valid} valid, {computed} recomputed from personal data");
    if text.len() > SAMPLE.len() {
        assert_eq!(rows, 2021);
        assert_eq!(valid, 1432);
        assert!(computed > 1000);
    }
}
