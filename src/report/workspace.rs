//! The demo's closing table: who is in the workspace, with role and title. The CLI hands over
//! each member ([`Member`]) as the emulator lists them.

use super::{terminal_safe, MAX_CELL_CHARS};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

/// One account of the workspace, as shown.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    /// userName.
    pub user_name: &'a str,
    /// In the workspace (false once removed).
    pub active: bool,
    /// Workspace role, when the account has one.
    pub role: Option<&'a str>,
    /// Title, when the account has one.
    pub title: Option<&'a str>,
}

/// The members as a table, in the order given.
pub fn workspace_table(members: &[Member<'_>]) -> String {
    let cell = |text: &str| terminal_safe(text, MAX_CELL_CHARS);
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "userName",
        "in workspace",
        "role",
        "title",
    ]);
    for m in members {
        table.add_row([
            cell(m.user_name),
            if m.active { "yes" } else { "removed" }.to_owned(),
            cell(m.role.unwrap_or_default()),
            cell(m.title.unwrap_or_default()),
        ]);
    }
    table.to_string()
}
