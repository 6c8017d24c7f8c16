//! Fuzz target: codice fiscale parsing never panics, and what it accepts is stable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use siso_shared::CodiceFiscale;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let reference = time::Date::from_calendar_date(2026, time::Month::November, 29).unwrap();
        if let Ok(cf) = CodiceFiscale::parse(s, reference) {
            let again = CodiceFiscale::parse(cf.as_str(), reference).expect("normalised form parses");
            assert_eq!(again.as_str(), cf.as_str());
        }
    }
});
