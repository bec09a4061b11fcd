//! Secrets come only from environment variables or files, never from the config text, and are held
//! as `SecretString` so `Debug` redacts them. A secret file is read like the config: a regular
//! file of at most [`MAX_SECRET_BYTES`].

use secrecy::SecretString;
use std::path::Path;

/// The most a secret file may hold: 64 KiB, far above any token, password or store URL.
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Where a secret was configured to come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable name.
    Env(String),
    /// A file path.
    File(std::path::PathBuf),
}

impl std::fmt::Display for SecretSource {
    /// Where the secret is kept, for messages that tell an admin what to update (never the value).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "the environment variable {name}"),
            SecretSource::File(path) => write!(f, "the file {}", path.display()),
        }
    }
}

/// Why a secret could not be read. Messages name the variable or file, never the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// The variable is unset or empty.
    #[error("environment variable {0} is not set or is empty; export it before running idbridge")]
    EnvMissing(String),
    /// The variable is not UTF-8.
    #[error("environment variable {0} is not valid UTF-8")]
    EnvNotUnicode(String),
    /// The file cannot be read.
    #[error("cannot read secret file {path}: {reason}")]
    File {
        /// The path.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The file is empty.
    #[error("secret file {0} is empty")]
    FileEmpty(String),
}

/// Read the secret.
pub fn read(source: &SecretSource) -> Result<SecretString, SecretError> {
    match source {
        SecretSource::Env(name) => match std::env::var(name) {
            Ok(value) if !value.trim().is_empty() => {
                Ok(SecretString::from(value.trim().to_owned()))
            }
            Ok(_) | Err(std::env::VarError::NotPresent) => {
                Err(SecretError::EnvMissing(name.clone()))
            }
            Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::EnvNotUnicode(name.clone())),
        },
        SecretSource::File(path) => {
            warn_if_readable_by_others(path);
            let text =
                super::read_bounded(path, MAX_SECRET_BYTES, "a secret file").map_err(|reason| {
                    SecretError::File {
                        path: path.display().to_string(),
                        reason,
                    }
                })?;
            // Files written by editors or `echo` end with a newline that is not part of the token.
            let value = text.trim();
            if value.is_empty() {
                return Err(SecretError::FileEmpty(path.display().to_string()));
            }
            Ok(SecretString::from(value.to_owned()))
        }
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{mode:o}"),
                "secret file is readable by other users; chmod 600 it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn file_secret_is_trimmed_and_empty_file_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cr3t\n").unwrap();
        let secret = read(&SecretSource::File(path.clone())).unwrap();
        assert_eq!(secret.expose_secret(), "s3cr3t");
        assert!(!format!("{secret:?}").contains("s3cr3t"));
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            read(&SecretSource::File(path)),
            Err(SecretError::FileEmpty(_))
        ));
    }

    #[test]
    fn a_secret_file_is_bounded_and_regular() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::File::create(&big)
            .and_then(|f| f.set_len(MAX_SECRET_BYTES + 1))
            .unwrap();
        let err = read(&SecretSource::File(big)).unwrap_err().to_string();
        assert!(err.contains("larger than 64 KiB"), "{err}");
        let err = read(&SecretSource::File(dir.path().to_owned()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn a_source_names_the_variable_or_the_file() {
        assert_eq!(
            SecretSource::Env("NOTION_SCIM_TOKEN".into()).to_string(),
            "the environment variable NOTION_SCIM_TOKEN"
        );
        assert_eq!(
            SecretSource::File("/etc/idbridge/token".into()).to_string(),
            "the file /etc/idbridge/token"
        );
    }

    #[test]
    fn missing_env_names_the_variable() {
        let err = read(&SecretSource::Env("IDBRIDGE_TEST_SURELY_UNSET_VAR".into())).unwrap_err();
        assert!(err.to_string().contains("IDBRIDGE_TEST_SURELY_UNSET_VAR"));
    }
}
