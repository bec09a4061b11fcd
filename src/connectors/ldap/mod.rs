//! LDAP / Active Directory source (being written).

use super::SourceRead;
use crate::config::LdapSettings;

/// Why the directory could not be read completely.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Placeholder until the connector lands.
    #[error("LDAP source `{0}`: the LDAP connector is not available in this build yet")]
    Unavailable(String),
}

/// Read people and groups from the directory.
pub async fn read(settings: &LdapSettings) -> Result<SourceRead, Error> {
    Err(Error::Unavailable(settings.name.clone()))
}
