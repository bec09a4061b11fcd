//! `[roles]` parsing: rules by group and attribute, the default, the cap, and every refusal
//! naming its key and line.

use super::*;
use crate::mapping::RoleMatch;
use crate::plan::Threshold;
use std::path::Path;

const BASE: &str = r#"
[target]
kind = "notion"
token_file = "token"

[[sources]]
name = "hr"
kind = "hr-csv"
path = "hr.csv"
"#;

fn parse_roles(kind: &str, roles: &str) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "tok-123\n").unwrap();
    let text = format!(
        "{}\n{roles}\n",
        BASE.replace("\"notion\"", &format!("\"{kind}\""))
    )
    .replace(
        "token_file",
        if kind == "scim" {
            "url = \"https://scim.example/v2\"\ntoken_file"
        } else {
            "token_file"
        },
    );
    parse(
        &text,
        &dir.path().join("idbridge.toml"),
        dir.path() as &Path,
    )
}

fn error(kind: &str, roles: &str) -> String {
    parse_roles(kind, roles)
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[test]
fn rules_default_and_cap_resolve() {
    let s = parse_roles(
        "notion",
        "[roles]\ndefault = \"member\"\nmax_role_changes = 3\n\n\
         [[roles.rules]]\nrole = \"membership_admin\"\ngroups = [\"CN=Notion-Admins,OU=Groups\", \"it-admins\"]\n\n\
         [[roles.rules]]\nrole = \"restricted_member\"\nattribute = \"department\"\nvalue = \"Contractors\"\n",
    )
    .unwrap();
    let roles = s.roles.unwrap();
    assert_eq!(roles.default.as_deref(), Some("member"));
    assert_eq!(
        roles.rules[0].when,
        RoleMatch::Group(vec![
            "cn=notion-admins,ou=groups".into(),
            "it-admins".into()
        ])
    );
    assert_eq!(
        roles.rules[1].when,
        RoleMatch::Attribute {
            name: "department".into(),
            values: vec!["Contractors".into()]
        }
    );
    assert_eq!(roles.rules[1].label, "[[roles.rules]] #2");
    assert_eq!(s.policy.roles.max_changes, Threshold::Count(3));
    assert!(s.target.manage_roles);
    assert!(s
        .policy
        .roles
        .known
        .as_ref()
        .unwrap()
        .contains(&"owner".to_owned()));

    let none = parse_roles("notion", "").unwrap();
    assert!(none.roles.is_none() && !none.target.manage_roles);
    assert_eq!(none.policy.roles.max_changes, Threshold::Percent(10.0));

    // A generic SCIM target takes any role value and knows every value it reads.
    let scim = parse_roles(
        "scim",
        "[roles]\n[[roles.rules]]\nrole = \"editor\"\ngroup = \"eng\"\n",
    )
    .unwrap();
    assert_eq!(scim.roles.unwrap().rules[0].role, "editor");
    assert_eq!(scim.policy.roles.known, None);
}

#[test]
fn refusals_name_the_key_and_line() {
    let owner = error(
        "notion",
        "[roles]\n[[roles.rules]]\nrole = \"owner\"\ngroup = \"admins\"\n",
    );
    assert!(
        owner.contains("`roles.rules[0].role`")
            && owner.contains("never grants or removes `owner`"),
        "{owner}"
    );
    assert!(
        owner.contains("idbridge.toml:13:"),
        "the role line: {owner}"
    );
    let typo = error("notion", "[roles]\ndefault = \"admin\"\n");
    assert!(
        typo.contains("`roles.default`") && typo.contains("not a Notion workspace role"),
        "{typo}"
    );
    let both = error(
        "notion",
        "[roles]\n[[roles.rules]]\nrole = \"member\"\ngroup = \"a\"\nattribute = \"department\"\nvalues = [\"x\"]\n",
    );
    assert!(both.contains("exactly one of"), "{both}");
    let neither = error("notion", "[roles]\n[[roles.rules]]\nrole = \"member\"\n");
    assert!(neither.contains("exactly one of"), "{neither}");
    let no_values = error(
        "notion",
        "[roles]\n[[roles.rules]]\nrole = \"member\"\nattribute = \"department\"\n",
    );
    assert!(no_values.contains("`roles.rules[0].values`"), "{no_values}");
    let unknown_attr = error(
        "notion",
        "[roles]\n[[roles.rules]]\nrole = \"member\"\nattribute = \"departement\"\nvalue = \"x\"\n",
    );
    assert!(
        unknown_attr.contains("did you mean `department`"),
        "{unknown_attr}"
    );
    let empty = error("notion", "[roles]\nmax_role_changes = 2\n");
    assert!(empty.contains("no rule and no default"), "{empty}");
    let cap = error(
        "notion",
        "[roles]\ndefault = \"member\"\nmax_role_changes = \"lots\"\n",
    );
    assert!(cap.contains("`roles.max_role_changes`"), "{cap}");
    let key = error("notion", "[roles]\ndefault = \"member\"\nmax_changes = 2\n");
    assert!(key.contains("max_changes"), "{key}");
}
