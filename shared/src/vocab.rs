//! The shared vocabulary: areas of need, kinds of intervention, member roles.
//!
//! Codes are the snake_case strings of docs/data-formats.md; on the wire each is its variant
//! index, so variants are only ever appended.

use std::fmt;
use std::str::FromStr;

/// An unknown vocabulary code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} code {code:?} (expected one of: {expected})")]
pub struct UnknownCode {
    /// Which vocabulary.
    pub kind: &'static str,
    /// The code found.
    pub code: String,
    /// The accepted codes, comma-separated.
    pub expected: String,
}

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $kind:literal, { $($(#[$vmeta:meta])* $variant:ident => $code:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every code, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The code as written in files and JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, UnknownCode> {
                let t = s.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(t))
                    .ok_or_else(|| UnknownCode {
                        kind: $kind,
                        code: t.to_owned(),
                        expected: $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    })
            }
        }
    };
}

vocabulary!(
    /// Area of need (`area_bisogno`).
    AreaBisogno, "area_bisogno", {
        /// Poverty, economic hardship.
        Poverta => "poverta",
        /// Disability.
        Disabilita => "disabilita",
        /// Elderly people.
        Anziani => "anziani",
        /// Minors and families.
        MinoriFamiglia => "minori_famiglia",
        /// Addictions.
        Dipendenze => "dipendenze",
        /// Mental health.
        SaluteMentale => "salute_mentale",
        /// Immigration.
        Immigrazione => "immigrazione",
        /// Housing.
        Abitare => "abitare",
        /// Work.
        Lavoro => "lavoro",
        /// Other.
        Altro => "altro",
    }
);

vocabulary!(
    /// Kind of intervention (`tipo_intervento`).
    TipoIntervento, "tipo_intervento", {
        /// Cash contribution (economic support).
        ContributoEconomico => "contributo_economico",
        /// Rent support (economic support).
        SostegnoAffitto => "sostegno_affitto",
        /// Shopping vouchers (economic support).
        BuoniSpesa => "buoni_spesa",
        /// Food parcel.
        PaccoAlimentare => "pacco_alimentare",
        /// Home care.
        AssistenzaDomiciliare => "assistenza_domiciliare",
        /// Day centre.
        CentroDiurno => "centro_diurno",
        /// Residential facility.
        StrutturaResidenziale => "struttura_residenziale",
        /// Professional social service.
        ServizioSocialeProfessionale => "servizio_sociale_professionale",
        /// Job placement.
        InserimentoLavorativo => "inserimento_lavorativo",
        /// Social transport.
        TrasportoSociale => "trasporto_sociale",
        /// Canteen.
        Mensa => "mensa",
        /// Other.
        Altro => "altro",
    }
);

impl TipoIntervento {
    /// True for economic support: the kinds whose overlap between members is double funding.
    pub fn is_economic(self) -> bool {
        matches!(
            self,
            TipoIntervento::ContributoEconomico
                | TipoIntervento::SostegnoAffitto
                | TipoIntervento::BuoniSpesa
        )
    }
}

vocabulary!(
    /// The role of a member of the federation, carried in its certificate.
    Role, "role", {
        /// A Comune node.
        Comune => "comune",
        /// An accredited third-sector entity (limited node).
        Ets => "ets",
        /// Region analysts.
        Region => "region",
        /// A health authority (USL/ASL): a limited node like a third-sector entity, submitting
        /// the households it supports with integrated social-health services.
        Asl => "asl",
    }
);

vocabulary!(
    /// Age band used in the statistics.
    AgeBand, "age_band", {
        /// 0–17 years.
        Minori => "0-17",
        /// 18–64 years.
        Adulti => "18-64",
        /// 65 years and over.
        Anziani => "65+",
    }
);

impl AgeBand {
    /// The band of an age in whole years.
    pub fn of_age(years: u32) -> AgeBand {
        match years {
            0..=17 => AgeBand::Minori,
            18..=64 => AgeBand::Adulti,
            _ => AgeBand::Anziani,
        }
    }
}

vocabulary!(
    /// Household type used in the statistics.
    HouseholdType, "household_type", {
        /// One person under 65.
        OnePerson => "one_person",
        /// Two adults, no minors.
        Couple => "couple",
        /// Two or more adults with minors.
        WithMinors => "with_minors",
        /// One adult with minors.
        OneParentWithMinors => "one_parent_with_minors",
        /// One person aged 65 or more.
        Alone65 => "alone_65",
        /// Any other composition (three or more adults, no minors).
        Other => "other",
    }
);

impl HouseholdType {
    /// Classifies a household from its members' ages in whole years.
    pub fn classify(ages: &[u32]) -> HouseholdType {
        let minors = ages.iter().filter(|&&a| a < 18).count();
        let adults = ages.len() - minors;
        match (adults, minors) {
            (1, 0) if ages[0] >= 65 => HouseholdType::Alone65,
            (1, 0) => HouseholdType::OnePerson,
            (2, 0) => HouseholdType::Couple,
            (1, m) if m > 0 => HouseholdType::OneParentWithMinors,
            (a, m) if a >= 2 && m > 0 => HouseholdType::WithMinors,
            (0, _) => HouseholdType::WithMinors,
            _ => HouseholdType::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_economic() {
        assert_eq!(AreaBisogno::ALL.len(), 10);
        assert_eq!(TipoIntervento::ALL.len(), 12);
        for a in AreaBisogno::ALL {
            assert_eq!(a.as_str().parse::<AreaBisogno>().unwrap(), *a);
        }
        for t in TipoIntervento::ALL {
            assert_eq!(t.as_str().parse::<TipoIntervento>().unwrap(), *t);
            assert_eq!(
                serde_json::to_string(t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        let economic: Vec<_> = TipoIntervento::ALL
            .iter()
            .filter(|t| t.is_economic())
            .collect();
        assert_eq!(economic.len(), 3);
        assert!(" Poverta ".parse::<AreaBisogno>().is_ok());
        let err = "povertà".parse::<AreaBisogno>().unwrap_err();
        assert!(err.to_string().contains("poverta, disabilita"));
    }

    #[test]
    fn bands_and_household_types() {
        assert_eq!(AgeBand::of_age(17), AgeBand::Minori);
        assert_eq!(AgeBand::of_age(18), AgeBand::Adulti);
        assert_eq!(AgeBand::of_age(65), AgeBand::Anziani);
        assert_eq!("65+".parse::<AgeBand>().unwrap(), AgeBand::Anziani);
        assert_eq!(HouseholdType::classify(&[40]), HouseholdType::OnePerson);
        assert_eq!(HouseholdType::classify(&[80]), HouseholdType::Alone65);
        assert_eq!(HouseholdType::classify(&[40, 38]), HouseholdType::Couple);
        assert_eq!(
            HouseholdType::classify(&[40, 10]),
            HouseholdType::OneParentWithMinors
        );
        assert_eq!(
            HouseholdType::classify(&[40, 38, 3]),
            HouseholdType::WithMinors
        );
        assert_eq!(HouseholdType::classify(&[40, 38, 19]), HouseholdType::Other);
        assert_eq!(HouseholdType::classify(&[16]), HouseholdType::WithMinors);
    }
}
