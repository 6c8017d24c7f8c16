//! Driver profiles: how a vendor's export differs from the canonical format (column names,
//! delimiter, encoding, date format, decimal comma). TOML, unknown fields refused.
//!
//! ```toml
//! delimiter = ";"
//! encoding = "windows-1252"     # utf-8 (default) | windows-1252 | iso-8859-1
//! date_format = "DD/MM/YYYY"    # or YYYY-MM-DD (default); both are always accepted
//! decimal_comma = true          # "1.234,56" means 1234.56
//! [columns]                     # vendor column = canonical column
//! CODFISC = "codice_fiscale"
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use siso_server::config::ConfigError;

/// A text encoding of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Encoding {
    /// UTF-8 (invalid bytes are an error).
    #[default]
    #[serde(rename = "utf-8", alias = "UTF-8", alias = "utf8")]
    Utf8,
    /// Windows-1252 (common in Italian exports).
    #[serde(rename = "windows-1252", alias = "cp1252", alias = "WINDOWS-1252")]
    Windows1252,
    /// ISO-8859-1 (decoded as Windows-1252, its superset, as the WHATWG encoding standard does).
    #[serde(rename = "iso-8859-1", alias = "latin1", alias = "ISO-8859-1")]
    Iso88591,
}

/// Preferred date format (both are accepted on input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum DateFormat {
    /// `YYYY-MM-DD`.
    #[default]
    #[serde(rename = "YYYY-MM-DD")]
    Iso,
    /// `DD/MM/YYYY`.
    #[serde(rename = "DD/MM/YYYY")]
    Italian,
}

/// A driver profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    /// Field delimiter (one ASCII character).
    pub delimiter: char,
    /// Text encoding.
    pub encoding: Encoding,
    /// Preferred date format.
    pub date_format: DateFormat,
    /// Amounts use a decimal comma (and `.` as thousands separator).
    pub decimal_comma: bool,
    /// Vendor column name → canonical column name (matched case-insensitively).
    pub columns: HashMap<String, String>,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            delimiter: ';',
            encoding: Encoding::Utf8,
            date_format: DateFormat::Iso,
            decimal_comma: false,
            columns: HashMap::new(),
        }
    }
}

impl Profile {
    /// Loads a profile file.
    pub fn load(path: &Path) -> Result<Profile, ConfigError> {
        let p: Profile = siso_server::config::load_toml(path, "")?;
        if !p.delimiter.is_ascii() || p.delimiter == '"' {
            return Err(ConfigError::Invalid(format!(
                "{}: delimiter must be one ASCII character other than '\"'",
                path.display()
            )));
        }
        Ok(p)
    }

    /// The canonical name of a header cell.
    pub fn canonical(&self, header: &str) -> String {
        let h = header.trim().trim_start_matches('\u{feff}');
        for (vendor, canon) in &self.columns {
            if vendor.trim().eq_ignore_ascii_case(h) {
                return canon.trim().to_ascii_lowercase();
            }
        }
        h.to_ascii_lowercase()
    }
}
