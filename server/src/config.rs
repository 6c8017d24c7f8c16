//! Reading a configuration file: TOML into the caller's schema, with errors that name the file;
//! and writing one: a commented template filled with the values of a configuration.
//! Each side's schema refuses unknown fields (`#[serde(deny_unknown_fields)]`) and checks its
//! own ranges after loading.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

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

/// Fills a commented configuration template: every `{name}` or `{section.name}` is replaced by
/// the TOML form of that field of `value`, so strings and paths are quoted and escaped as TOML
/// requires and the file reads back into the same configuration. A placeholder naming no field
/// is an error (a template out of step with its schema).
pub fn fill_template<T: Serialize>(template: &str, value: &T) -> Result<String, ConfigError> {
    let table = toml::Value::try_from(value)
        .map_err(|e| ConfigError::Invalid(format!("configuration not representable: {e}")))?;
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name = after.find('}').map(|close| &after[..close]).filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
        });
        let Some(name) = name else {
            out.push('{');
            rest = after;
            continue;
        };
        let field = name
            .split('.')
            .try_fold(&table, |v, key| v.get(key))
            .ok_or_else(|| ConfigError::Invalid(format!("template names no field {name:?}")))?;
        out.push_str(&field.to_string());
        rest = &after[name.len() + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
    }

    #[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct Nested {
        path: PathBuf,
        port: u16,
        list: Vec<String>,
        inner: Sample,
    }

    #[test]
    fn a_filled_template_reads_back_and_quotes_as_toml() {
        let v = Nested {
            path: "/var/lib/a \"b\" \\ è".into(),
            port: 4433,
            list: vec!["x".into(), "y".into()],
            inner: Sample {
                name: "tab\there".into(),
            },
        };
        let t = "# a { brace } stays\npath = {path}\nport = {port}\nlist = {list}\n\n[inner]\nname = {inner.name}\n";
        let text = fill_template(t, &v).unwrap();
        assert!(text.starts_with("# a { brace } stays\n"), "{text}");
        assert_eq!(toml::from_str::<Nested>(&text).unwrap(), v, "{text}");
        let e = fill_template("x = {nope}\n", &v).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
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
