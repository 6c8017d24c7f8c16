//! Reading a configuration file: TOML into the caller's schema, with errors that name the file.
//! Each side's schema refuses unknown fields (`#[serde(deny_unknown_fields)]`) and checks its
//! own ranges after loading.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Errors loading a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}{hint}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
        /// What the operator may have missed (empty, or starting with a space).
        hint: &'static str,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),
}

/// Reads `path` as TOML into `T`. `hint` is appended to the message when the file cannot be
/// read (e.g. " (run `siso-node init` first)"); pass "" for none.
pub fn load_toml<T: DeserializeOwned>(path: &Path, hint: &'static str) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
        hint,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
    }

    #[test]
    fn reads_refuses_unknown_fields_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.toml");
        std::fs::write(&p, "name = \"a\"\n").unwrap();
        assert_eq!(load_toml::<Sample>(&p, "").unwrap().name, "a");

        std::fs::write(&p, "name = \"a\"\ntypo = 1\n").unwrap();
        let e = load_toml::<Sample>(&p, "").unwrap_err();
        assert!(matches!(e, ConfigError::Parse { .. }), "{e}");
        assert!(
            e.to_string().contains("x.toml") && e.to_string().contains("typo"),
            "{e}"
        );

        let missing = dir.path().join("none.toml");
        let e = load_toml::<Sample>(&missing, " (run init first)").unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }), "{e}");
        assert!(e.to_string().ends_with(" (run init first)"), "{e}");
    }
}
