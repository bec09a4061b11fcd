//! A small company in a real directory (slapd), synced day by day into an emulated Notion
//! workspace through the `idbridge` binary: the scenario the switch matrix (`notion_matrix`) and
//! the group tests run. People and groups live under their own `ou`, so scenarios run at once
//! on the one shared slapd.

use super::slapd::{slapd, Slapd, READER_DN, READER_PW};
use super::{Workspace, OWNER};
use idbridge::emulator::Profile;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One person of the company: employee number, given name, family name, title, userName.
pub struct Person {
    pub id: &'static str,
    pub given: &'static str,
    pub family: &'static str,
    pub title: &'static str,
    pub mail: &'static str,
}

/// A company's directory subtree and the workspace it is synced into.
pub struct Company {
    pub ws: Workspace,
    ldap: &'static Slapd,
    people: String,
    groups: String,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Company {
    /// A fresh subtree and a workspace run under `profile`; `None` when slapd is not installed
    /// (the slapd helper says so loudly, and fails instead when CI requires services).
    pub async fn new(profile: Profile) -> Option<Self> {
        let ldap = slapd()?;
        let base = ldap.ou(&format!(
            "company-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let people = format!("ou=people,{base}");
        let groups = format!("ou=groups,{base}");
        ldap.add(&format!(
            "dn: {people}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: {groups}\nobjectClass: organizationalUnit\nou: groups\n"
        ));
        let ws = Workspace::with_profile(profile).await;
        std::fs::write(ws.path("ldap-pw"), format!("{READER_PW}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::Permissions::from_mode(0o600);
            std::fs::set_permissions(ws.path("ldap-pw"), mode).unwrap();
        }
        let config = format!(
            "[store]\nurl = \"{store}\"\n\n[target]\nname = \"test\"\nkind = \"notion\"\nurl = \"{scim}\"\n\
             token_file = \"token\"\ntoken_owner = \"{OWNER}\"\nrate_limit = 0\ntimeout = \"5s\"\n\n\
             [[sources]]\nname = \"corp\"\nkind = \"ldap\"\nurl = \"{url}\"\nbind_dn = \"{READER_DN}\"\n\
             password_file = \"ldap-pw\"\nusers = {{ base = \"{people}\", filter = \"(objectClass=inetOrgPerson)\" }}\n\
             groups = {{ base = \"{groups}\", filter = \"(objectClass=groupOfNames)\" }}\n\
             disabled_filter = \"(description=disabled)\"\n\n\
             [groups]\ninclude = [\"team-*\"]\n\n[policy]\nmax_deactivations = 2\n",
            store = ws.store_url,
            scim = ws.running.base_url(),
            url = ldap.url,
        );
        std::fs::write(ws.path("idbridge.toml"), config).unwrap();
        Some(Self {
            ws,
            ldap,
            people,
            groups,
        })
    }

    fn dn(&self, p: &Person) -> String {
        format!("uid={},{}", p.mail.split('@').next().unwrap(), self.people)
    }

    /// Hire `p`.
    pub fn hire(&self, p: &Person) {
        self.ldap.add(&format!(
            "dn: {}\nobjectClass: inetOrgPerson\nuid: {}\ncn: {} {}\ngivenName: {}\nsn: {}\n\
             mail: {}\nemployeeNumber: {}\ntitle: {}\n",
            self.dn(p),
            p.mail.split('@').next().unwrap(),
            p.given,
            p.family,
            p.given,
            p.family,
            p.mail,
            p.id,
            p.title
        ));
    }

    /// Replace `attr` of `p` with `value`.
    pub fn set(&self, p: &Person, attr: &str, value: &str) {
        self.ldap.modify(
            "ldapmodify",
            &format!(
                "dn: {}\nchangetype: modify\nreplace: {attr}\n{attr}: {value}\n",
                self.dn(p)
            ),
        );
    }

    /// Move `p`'s entry out of the people base into `ou={ou}` beside it (created when missing),
    /// as an admin moves a leaver or a transfer to another OU.
    pub fn move_out(&self, p: &Person, ou: &str) {
        let base = self.people.strip_prefix("ou=people,").unwrap();
        let target = format!("ou={ou},{base}");
        self.ldap.modify(
            "ldapmodify",
            &format!("dn: {target}\nchangetype: add\nobjectClass: organizationalUnit\nou: {ou}\n"),
        );
        let rdn = format!("uid={}", p.mail.split('@').next().unwrap());
        self.ldap.modify(
            "ldapmodify",
            &format!(
                "dn: {}\nchangetype: modrdn\nnewrdn: {rdn}\ndeleteoldrdn: 1\nnewsuperior: {target}\n",
                self.dn(p)
            ),
        );
    }

    /// `p` leaves (disabled in the directory), or comes back.
    pub fn disable(&self, p: &Person, disabled: bool) {
        let change = if disabled {
            "replace: description\ndescription: disabled\n"
        } else {
            "delete: description\n"
        };
        self.ldap.modify(
            "ldapmodify",
            &format!("dn: {}\nchangetype: modify\n{change}", self.dn(p)),
        );
    }

    /// Create group `name` with `members`.
    pub fn group(&self, name: &str, members: &[&Person]) {
        let dn = format!("cn={name},{}", self.groups);
        let lines: String = members
            .iter()
            .map(|p| format!("member: {}\n", self.dn(p)))
            .collect();
        self.ldap.modify(
            "ldapmodify",
            &format!("dn: {dn}\nchangetype: add\nobjectClass: groupOfNames\ncn: {name}\n{lines}"),
        );
    }

    /// Make group `name` read empty: its one member now names no user entry (`groupOfNames`
    /// needs a member, so this is how a broken export or a bad edit looks in a directory).
    pub fn vacate(&self, name: &str) {
        let dn = format!("cn={name},{}", self.groups);
        let ghost = format!("cn=ghost,{}", self.groups);
        self.ldap.modify(
            "ldapmodify",
            &format!("dn: {dn}\nchangetype: modify\nreplace: member\nmember: {ghost}\n"),
        );
    }

    /// Replace the members of group `name`.
    pub fn members(&self, name: &str, members: &[&Person]) {
        let dn = format!("cn={name},{}", self.groups);
        let lines: String = members
            .iter()
            .map(|p| format!("member: {}\n", self.dn(p)))
            .collect();
        self.ldap.modify(
            "ldapmodify",
            &format!("dn: {dn}\nchangetype: modify\nreplace: member\n{lines}"),
        );
    }
}
