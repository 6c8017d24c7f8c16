//! The assessment rules (`DATA/rules.toml`): named benefits as dated threshold tables, and the
//! critical-situation flags. Shipped defaults are written by `siso-node init`; the Comune may edit
//! them. TOML, unknown fields refused; documented in docs/assessment.md.

use std::path::Path;

use serde::{Deserialize, Serialize};
use siso_server::config::ConfigError;
use time::Date;

/// A threshold that applies from a date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// First day the threshold applies.
    pub from: Date,
    /// The indicator must be below this (euro).
    pub max_indicator: f64,
}

/// A benefit's eligibility rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Benefit {
    /// Short name (used in flags and aggregates), `[a-z0-9_]+`.
    pub name: String,
    /// Display name (Italian).
    pub label: String,
    /// The household must have a frail member: a minor, a person with a disability, or a person
    /// aged `frail_min_age` or more.
    #[serde(default)]
    pub requires_frail_member: bool,
    /// Age from which a member counts as frail.
    #[serde(default = "default_frail_age")]
    pub frail_min_age: u32,
    /// Dated thresholds; the latest one whose `from` is not after the reference date applies.
    pub thresholds: Vec<Threshold>,
}

fn default_frail_age() -> u32 {
    60
}

/// Critical-situation flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Critical {
    /// Flag `morosita_con_minori`: rent arrears in a household with minors.
    pub rent_arrears_with_minors: bool,
    /// Flag `anziano_solo_non_autosufficiente`: one person aged `elderly_age`+, alone, not
    /// self-sufficient.
    pub elderly_alone_not_self_sufficient: bool,
    /// Age for the previous flag.
    pub elderly_age: u32,
    /// Flag `morosita_tributi_con_disagio`: local taxes due minus paid above `tax_arrears_min`
    /// euro, in a household eligible under the rule `tax_arrears_hardship_rule`.
    pub tax_arrears_with_hardship: bool,
    /// Minimum tax arrears (euro).
    pub tax_arrears_min: f64,
    /// The rule that defines economic hardship for the previous flag.
    pub tax_arrears_hardship_rule: String,
}

impl Default for Critical {
    fn default() -> Self {
        Critical {
            rent_arrears_with_minors: true,
            elderly_alone_not_self_sufficient: true,
            elderly_age: 75,
            tax_arrears_with_hardship: true,
            tax_arrears_min: 200.0,
            tax_arrears_hardship_rule: "disagio_economico".into(),
        }
    }
}

/// The whole rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Benefits.
    #[serde(rename = "benefit")]
    pub benefits: Vec<Benefit>,
    /// Critical flags.
    #[serde(default)]
    pub critical: Critical,
}

/// The shipped defaults, as written to `rules.toml`.
pub const DEFAULT_RULES: &str = r#"# siso assessment rules (docs/assessment.md). Edit to match the Comune's regulations.
# Thresholds apply from their date; the latest one not after the reference date is used.

[[benefit]]
name = "adi"
label = "Assegno di Inclusione (requisiti economici e familiari)"
requires_frail_member = true   # a minor, a person with a disability, or a person aged frail_min_age+
frail_min_age = 60
thresholds = [
  { from = "2024-01-01", max_indicator = 9360.0 },
  { from = "2025-01-01", max_indicator = 10140.0 },
]

[[benefit]]
name = "disagio_economico"
label = "Disagio economico"
requires_frail_member = false
thresholds = [
  { from = "2024-01-01", max_indicator = 9360.0 },
  { from = "2025-01-01", max_indicator = 10140.0 },
]

[critical]
rent_arrears_with_minors = true            # morosita_con_minori
elderly_alone_not_self_sufficient = true   # anziano_solo_non_autosufficiente
elderly_age = 75
tax_arrears_with_hardship = true           # morosita_tributi_con_disagio
tax_arrears_min = 200.0                    # euro of local taxes due and not paid
tax_arrears_hardship_rule = "disagio_economico"
"#;

impl Rules {
    /// The shipped defaults.
    pub fn defaults() -> Rules {
        // The constant is tested to parse; fall back to an empty set rather than panic.
        Rules::parse(DEFAULT_RULES, "built-in rules").unwrap_or(Rules {
            benefits: Vec::new(),
            critical: Critical::default(),
        })
    }

    /// Parses and checks a rule file's text (`path` names it in errors).
    pub fn parse(text: &str, path: &str) -> Result<Rules, ConfigError> {
        let r: Rules = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            source: Box::new(e),
        })?;
        r.check(path)
    }

    fn check(self, path: &str) -> Result<Rules, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid(format!("{path}: {reason}"));
        for b in &self.benefits {
            if b.name.is_empty()
                || !b
                    .name
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
            {
                return Err(invalid(format!(
                    "benefit name {:?} must be [a-z0-9_]+",
                    b.name
                )));
            }
            if b.thresholds.is_empty() {
                return Err(invalid(format!("benefit {} has no thresholds", b.name)));
            }
        }
        Ok(self)
    }

    /// Loads `DATA/rules.toml`, or the defaults if the file does not exist.
    pub fn load(data: &Path) -> Result<Rules, ConfigError> {
        let path = data.join("rules.toml");
        match siso_server::config::load_toml::<Rules>(&path, "") {
            Ok(r) => r.check(&path.display().to_string()),
            Err(ConfigError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(Rules::defaults())
            }
            Err(e) => Err(e),
        }
    }
}

impl Benefit {
    /// The threshold in force on `day`, if any.
    pub fn threshold_on(&self, day: Date) -> Option<f64> {
        self.thresholds
            .iter()
            .filter(|t| t.from <= day)
            .max_by_key(|t| t.from)
            .map(|t| t.max_indicator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn defaults_parse_and_thresholds_are_dated() {
        let r = Rules::parse(DEFAULT_RULES, "x").unwrap();
        assert_eq!(r, Rules::defaults());
        let adi = &r.benefits[0];
        assert_eq!(adi.threshold_on(date!(2024 - 06 - 01)), Some(9360.0));
        assert_eq!(adi.threshold_on(date!(2025 - 01 - 01)), Some(10140.0));
        assert_eq!(adi.threshold_on(date!(2023 - 12 - 31)), None);
        assert!(Rules::parse(
            "[[benefit]]\nname = \"X\"\nlabel = \"x\"\nthresholds = []\n",
            "x"
        )
        .is_err());
        assert!(Rules::parse("typo = 1\n", "x").is_err());
    }
}
