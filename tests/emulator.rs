//! Integration tests: the Notion SCIM emulator, over real HTTP on a loopback port.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use idbridge::clock::FixedClock;
use idbridge::emulator::{
    DuplicatePost, Emulator, ErrorShape, Fault, FaultKind, MaxCount, Profile, RateLimit,
    RemovedUser, Running, SeedGroup, SeedUser, Switches, ENTERPRISE_SCHEMA, NOTION_SCHEMA,
    USER_SCHEMA,
};
use serde_json::{json, Value};

const TOKEN: &str = "tok-owner";
const OWNER: &str = "owner@example.com";

struct Env {
    emu: Emulator,
    run: Running,
    http: reqwest::Client,
}

fn now_ms() -> i64 {
    Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7)
        .unwrap()
        .timestamp_millis()
}

async fn start_with(profile: Profile) -> Env {
    let clock = Arc::new(FixedClock::new(Utc.timestamp_millis_opt(now_ms()).unwrap()));
    let emu = Emulator::new(profile, clock);
    emu.add_token(TOKEN, OWNER);
    let run = emu.clone().spawn(true).await.unwrap();
    Env {
        emu,
        run,
        http: reqwest::Client::new(),
    }
}

async fn start() -> Env {
    start_with(Profile::default()).await
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.run.base_url())
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send_as(TOKEN, method, path, body).await
    }

    async fn send_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(token)
            .header("accept", "application/scim+json");
        if let Some(body) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None).await
    }

    async fn create(&self, user_name: &str) -> String {
        let (status, body) = self
            .send(
                "POST",
                "/Users",
                Some(json!({"schemas": [USER_SCHEMA], "userName": user_name,
                            "name": {"givenName": "New", "familyName": "User"}})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    fn seed(&self, user_name: &str, given: &str, family: &str) -> String {
        self.emu
            .seed_user(SeedUser::member(user_name, given, family))
    }
}

fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

fn ids(page: &Value) -> Vec<String> {
    page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn switches(f: impl FnOnce(&mut Switches)) -> Switches {
    let mut s = Switches::default();
    f(&mut s);
    s
}

#[tokio::test]
async fn discovery_is_public_and_everything_else_needs_a_token() {
    let env = start().await;
    let spc: Value = env
        .http
        .get(env.url("/ServiceProviderConfig"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spc["patch"]["supported"], json!(true));
    assert_eq!(spc["filter"]["maxResults"], json!(100));
    for off in ["sort", "bulk", "etag", "changePassword"] {
        assert_eq!(spc[off]["supported"], json!(false), "{off}");
    }
    let rt = env
        .http
        .get(env.url("/ResourceTypes"))
        .send()
        .await
        .unwrap();
    assert_eq!(rt.status().as_u16(), 200);
    let rt: Value = rt.json().await.unwrap();
    assert_eq!(
        rt["Resources"][0]["schemaExtensions"][1]["schema"],
        json!(NOTION_SCHEMA)
    );
    let schemas = env.http.get(env.url("/Schemas")).send().await.unwrap();
    assert_eq!(schemas.status().as_u16(), 404);

    let anon = env.http.get(env.url("/Users")).send().await.unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    let body: Value = anon.json().await.unwrap();
    assert_eq!(body["status"], json!("401"));
    assert_eq!(
        body["schemas"][0],
        json!("urn:ietf:params:scim:api:messages:2.0:Error")
    );
    assert_eq!(env.send_as("nope", "GET", "/Users", None).await.0, 401);
    // Plain application/json is accepted too.
    let plain = env
        .http
        .get(env.url("/Users?count=1"))
        .bearer_auth(TOKEN)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status().as_u16(), 200);

    env.emu
        .set_switches(switches(|s| s.auth_failure_status = 403));
    assert_eq!(env.send_as("nope", "GET", "/Users", None).await.0, 403);
    env.emu.revoke_token(TOKEN);
    assert_eq!(env.get("/Users").await.0, 403);
}

#[tokio::test]
async fn pages_are_one_based_and_capped_at_100() {
    let env = start().await;
    for i in 1..250 {
        env.seed(&format!("user{i:03}@example.com"), "U", &format!("N{i}"));
    }
    let mut seen = Vec::new();
    for (start, expect) in [(1, 100), (101, 100), (201, 50)] {
        let (status, page) = env
            .get(&format!("/Users?startIndex={start}&count=100"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            page["schemas"][0],
            json!("urn:ietf:params:scim:api:messages:2.0:ListResponse")
        );
        assert_eq!(page["totalResults"], json!(250));
        assert_eq!(page["startIndex"], json!(start));
        assert_eq!(page["itemsPerPage"], json!(expect));
        seen.extend(ids(&page));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 250);
    let (_, page) = env.get("/Users?count=500").await;
    assert_eq!(page["itemsPerPage"], json!(100));
    let (_, page) = env.get("/Users").await;
    assert_eq!(page["itemsPerPage"], json!(100));
    let (_, page) = env.get("/Users?startIndex=0&count=2").await;
    assert_eq!(page["startIndex"], json!(1));
    assert_eq!(page["itemsPerPage"], json!(2));

    env.emu
        .set_switches(switches(|s| s.max_count = MaxCount::Reject));
    let (status, body) = env.get("/Users?count=500").await;
    assert_eq!(status, 400);
    assert_eq!(body["scimType"], json!("invalidValue"));
}

#[tokio::test]
async fn user_filters_follow_notion_case_rules() {
    let env = start().await;
    let ada = env.seed("ada@example.com", "Ada", "Lovelace");
    env.seed("alan@example.com", "Alan", "Turing");
    let q = |f: &str| format!("/Users?filter={}", urlencode(f));
    let cases: [(&str, Vec<&str>); 9] = [
        ("email eq \"ada@example.com\"", vec![&ada]),
        ("email eq \"ADA@Example.com\"", vec![&ada]),
        ("email eq ada@example.com", vec![&ada]),
        ("userName eq \"Ada@Example.COM\"", vec![&ada]),
        ("given_name eq \"Ada\"", vec![&ada]),
        ("given_name eq Ada", vec![&ada]),
        ("given_name eq \"ada\"", vec![]),
        ("family_name eq \"Lovelace\"", vec![&ada]),
        ("family_name eq \"LOVELACE\"", vec![]),
    ];
    for (filter, expected) in cases {
        let (status, page) = env.get(&q(filter)).await;
        assert_eq!(status, 200, "{filter}");
        assert_eq!(ids(&page), expected, "{filter}");
        assert_eq!(page["totalResults"], json!(expected.len()), "{filter}");
    }
    for bad in [
        "email co \"ada\"",
        "email eq \"a\" and given_name eq \"b\"",
        "name.givenName eq \"Ada\"",
        "externalId eq \"x\"",
        "nonsense",
    ] {
        let (status, body) = env.get(&q(bad)).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["scimType"], json!("invalidFilter"), "{bad}");
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn guests_are_invisible_until_posted_as_members() {
    let env = start().await;
    let guest = env.emu.seed_user(SeedUser {
        user_name: "guest@outside.com".into(),
        guest: true,
        ..SeedUser::default()
    });
    let (_, page) = env.get("/Users").await;
    assert!(!ids(&page).contains(&guest));
    let filter = urlencode("email eq \"guest@outside.com\"");
    let (_, page) = env.get(&format!("/Users?filter={filter}")).await;
    assert_eq!(page["totalResults"], json!(0));
    assert_eq!(env.get(&format!("/Users/{guest}")).await.0, 404);
    assert!(env.emu.members().iter().all(|m| m.id != guest));
    // A guest turned restricted member keeps its account
    // (docs/notion.md, "Creating, removing and re-adding").
    let (status, body) = env
        .send(
            "POST",
            "/Users",
            Some(json!({"userName": "guest@outside.com",
                        NOTION_SCHEMA: {"role": "restricted_member"}})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(body["id"], json!(guest));
    assert_eq!(body[NOTION_SCHEMA]["role"], json!("restricted_member"));
}

#[tokio::test]
async fn create_looks_like_notion_and_duplicates_follow_the_switch() {
    let env = start().await;
    let (status, user) = env
        .send(
            "POST",
            "/Users",
            Some(json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
                "userName": "Grace@Example.com",
                "externalId": "hr-7",
                "name": {"givenName": "Grace", "familyName": "Hopper"},
                "emails": [{"value": "GRACE@example.com", "primary": true, "type": "work"}],
                "phoneNumbers": [{"value": "+1 1", "type": "home"},
                                 {"value": "+1 2", "type": "work", "primary": true}],
                "photos": [{"value": "https://x/p.png", "type": "photo"}],
                ENTERPRISE_SCHEMA: {"department": "Navy"}
            })),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["schemas"], json!([USER_SCHEMA]));
    assert_eq!(user["userName"], json!("grace@example.com"));
    assert_eq!(user["emails"][0]["value"], json!("grace@example.com"));
    assert_eq!(user["active"], json!(true));
    assert_eq!(user["externalId"], json!("hr-7"));
    assert_eq!(user[NOTION_SCHEMA]["role"], json!("member"));
    assert_eq!(user[ENTERPRISE_SCHEMA]["department"], json!("Navy"));
    assert_eq!(
        user["phoneNumbers"],
        json!([{"value": "+1 2", "type": "work", "primary": true}])
    );
    assert_eq!(user["photos"][0]["value"], json!("https://x/p.png"));
    assert!(user["name"].get("formatted").is_none());
    let id = user["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    let meta = &user["meta"];
    assert_eq!(meta["resourceType"], json!("User"));
    assert_eq!(meta["created"], json!(now_ms().to_string()));
    assert_eq!(meta["lastModified"], json!(now_ms().to_string()));
    assert_eq!(
        meta["location"],
        json!(format!("https://app.notion.com/scim/v2/Users/{id}"))
    );

    let dup = json!({"userName": "grace@EXAMPLE.com"});
    let (status, body) = env.send("POST", "/Users", Some(dup.clone())).await;
    assert_eq!(status, 409);
    assert_eq!(body["scimType"], json!("uniqueness"));
    env.emu.set_switches(switches(|s| {
        s.duplicate_post = DuplicatePost::ReturnExisting;
        s.create_status = 200;
    }));
    let (status, body) = env.send("POST", "/Users", Some(dup)).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], json!(id));
    let (status, _) = env
        .send(
            "POST",
            "/Users",
            Some(json!({"userName": "new@example.com"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = env
        .send("POST", "/Users", Some(json!({"name": {"givenName": "X"}})))
        .await;
    assert_eq!(status, 400);
    let (status, _) = env
        .send(
            "POST",
            "/Users",
            Some(json!({"userName": "k@example.com", NOTION_SCHEMA: {"role": "king"}})),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn seeded_users_without_extension_or_formatted_name() {
    let profile = Profile::from_toml_str(
        r#"
[[seed.users]]
user_name = "plain@example.com"
given_name = "Plain"
role = ""
[[seed.users]]
user_name = "formal@example.com"
formatted = "Dr Formal"
title = "Doctor"
"#,
    )
    .unwrap();
    let env = start_with(profile).await;
    let filter = urlencode("email eq \"plain@example.com\"");
    let (_, page) = env.get(&format!("/Users?filter={filter}")).await;
    let plain = &page["Resources"][0];
    assert!(plain.get(NOTION_SCHEMA).is_none());
    assert_eq!(plain["name"], json!({"givenName": "Plain"}));
    let filter = urlencode("email eq \"formal@example.com\"");
    let (_, page) = env.get(&format!("/Users?filter={filter}")).await;
    // Notion's one name (the default name model): never `formatted`, the name re-split.
    let formal = &page["Resources"][0];
    assert_eq!(
        formal["name"],
        json!({"givenName": "Dr", "familyName": "Formal"})
    );
    assert_eq!(formal["displayName"], json!("Dr Formal"));
    assert_eq!(formal[NOTION_SCHEMA]["role"], json!("member"));

    // Echoed as sent under `name_model = "as-sent"`.
    let profile = Profile::from_toml_str(
        r#"
[switches]
name_model = "as-sent"
[[seed.users]]
user_name = "formal@example.com"
formatted = "Dr Formal"
"#,
    )
    .unwrap();
    let env = start_with(profile).await;
    let (_, page) = env.get(&format!("/Users?filter={filter}")).await;
    assert_eq!(
        page["Resources"][0]["name"],
        json!({"formatted": "Dr Formal"})
    );
}

#[tokio::test]
async fn patch_accepts_object_and_path_forms() {
    let env = start().await;
    let id = env.seed("ada@example.com", "Ada", "Lovelace");
    env.seed("boss@example.com", "Big", "Boss");
    let path = format!("/Users/{id}");
    let (status, user) = env
        .send(
            "PATCH",
            &path,
            Some(patch(json!([
                {"op": "Replace", "value": {NOTION_SCHEMA: {"role": "membership_admin"}}},
                {"op": "replace", "path": "name.givenName", "value": "Augusta"},
                {"op": "add", "path": "title", "value": "Countess"},
                {"op": "add", "path": "displayName", "value": "Augusta Ada"},
                {"op": "add", "path": "externalId", "value": "emp-1"},
                {"op": "add", "path": format!("{ENTERPRISE_SCHEMA}:department"), "value": "Math"},
                {"op": "add", "path": format!("{ENTERPRISE_SCHEMA}:manager"),
                 "value": {"value": "boss@example.com"}},
                {"op": "replace", "path": "emails",
                 "value": [{"value": "Ada@Example.com", "primary": true},
                           {"value": "ada.l@example.com"}]},
                {"op": "replace", "path": "photos", "value": [{"value": "ignored"}]},
            ]))),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user[NOTION_SCHEMA]["role"], json!("membership_admin"));
    assert_eq!(user["name"]["givenName"], json!("Augusta"));
    assert_eq!(user["name"]["familyName"], json!("Lovelace"));
    assert_eq!(user["title"], json!("Countess"));
    // Notion has one name: `displayName` is that name, not a field of its own.
    assert_eq!(user["displayName"], json!("Augusta Lovelace"));
    assert_eq!(user["externalId"], json!("emp-1"));
    assert_eq!(user[ENTERPRISE_SCHEMA]["department"], json!("Math"));
    assert_eq!(
        user[ENTERPRISE_SCHEMA]["manager"]["value"],
        json!("boss@example.com")
    );
    assert_eq!(user["emails"][0]["value"], json!("ada@example.com"));
    assert_eq!(user["photos"], json!([]));
    let view = env.emu.members().into_iter().find(|m| m.id == id).unwrap();
    assert_eq!(view.department.as_deref(), Some("Math"));
    assert_eq!(view.manager.as_deref(), Some("boss@example.com"));
    assert_eq!(view.emails, ["ada@example.com", "ada.l@example.com"]);

    let (status, user) = env
        .send(
            "PATCH",
            &path,
            Some(patch(json!([{"op": "remove", "path": "title"},
                              {"op": "Remove", "path": format!("{ENTERPRISE_SCHEMA}:manager")}]))),
        )
        .await;
    assert_eq!(status, 200);
    assert!(user.get("title").is_none());
    assert!(user[ENTERPRISE_SCHEMA].get("manager").is_none());

    let (status, _) = env
        .send(
            "PATCH",
            &path,
            Some(patch(
                json!([{"op": "replace", "path": format!("{NOTION_SCHEMA}:role"), "value": "czar"}]),
            )),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = env
        .send(
            "PATCH",
            &path,
            Some(patch(json!([{"op": "frobnicate", "path": "title"}]))),
        )
        .await;
    assert_eq!(status, 400);

    // PUT replaces everything but keeps the role when it is not sent.
    let (status, user) = env
        .send(
            "PUT",
            &path,
            Some(json!({"userName": "ada@example.com", "name": {"formatted": "Ada L"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(user["name"], json!({"givenName": "Ada", "familyName": "L"}));
    assert_eq!(user["displayName"], json!("Ada L"));
    assert!(user.get("externalId").is_none());
    assert_eq!(user[NOTION_SCHEMA]["role"], json!("membership_admin"));
    assert_eq!(
        env.send("PATCH", "/Users/unknown", Some(patch(json!([]))))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn external_id_is_dropped_when_switched_off() {
    let env = start_with(Profile {
        switches: switches(|s| s.keep_external_id = false),
        ..Profile::default()
    })
    .await;
    let (_, user) = env
        .send(
            "POST",
            "/Users",
            Some(json!({"userName": "x@example.com", "externalId": "e1"})),
        )
        .await;
    assert!(user.get("externalId").is_none());
}

#[tokio::test]
async fn verified_domains_guard_name_changes_by_default() {
    // The default profile is as strict as Notion: example.com is verified, nothing else is.
    let env = start_with(Profile::default()).await;
    let inside = env.seed("in@example.com", "In", "Side");
    let outside = env.seed("out@elsewhere.org", "Out", "Side");
    let rename = patch(json!([{"op": "replace", "path": "name.givenName", "value": "Z"}]));
    let retitle = patch(json!([{"op": "replace", "path": "title", "value": "Z"}]));
    let p = |id: &str| format!("/Users/{id}");
    assert_eq!(
        env.send("PATCH", &p(&inside), Some(rename.clone())).await.0,
        200
    );
    assert_eq!(env.send("PATCH", &p(&outside), Some(rename)).await.0, 403);
    assert_eq!(env.send("PATCH", &p(&outside), Some(retitle)).await.0, 200);
    let reemail = patch(json!([{"op": "replace", "path": "userName", "value": "o@elsewhere.org"}]));
    let (status, body) = env.send("PATCH", &p(&outside), Some(reemail)).await;
    assert_eq!(status, 403);
    assert!(
        body.to_string().contains("not in a verified domain"),
        "{body}"
    );
}

#[tokio::test]
async fn active_false_removes_and_post_readds() {
    let env = start().await;
    let id = env.seed("leaver@example.com", "Lee", "Ver");
    let group = env.emu.seed_group(SeedGroup {
        display_name: "Eng".into(),
        members: vec![id.clone()],
        ..SeedGroup::default()
    });
    let (status, user) = env
        .send(
            "PATCH",
            &format!("/Users/{id}"),
            Some(patch(
                json!([{"op": "Replace", "value": {"active": false}}]),
            )),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(user["active"], json!(false));
    assert_eq!(env.get(&format!("/Users/{id}")).await.0, 404);
    let (_, page) = env.get("/Users").await;
    assert!(!ids(&page).contains(&id));
    assert!(env.emu.groups()[0].members.is_empty());
    let (_, g) = env.get(&format!("/Groups/{group}")).await;
    assert_eq!(g["members"], json!([]));
    assert_eq!(
        env.send("DELETE", &format!("/Users/{id}"), None).await.0,
        404
    );

    env.emu
        .set_switches(switches(|s| s.removed_user = RemovedUser::Inactive));
    let (status, user) = env.get(&format!("/Users/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(user["active"], json!(false));
    let (_, page) = env.get("/Users").await;
    assert!(ids(&page).contains(&id));

    // Re-adding by POST keeps the id by default.
    let (status, user) = env
        .send(
            "POST",
            "/Users",
            Some(json!({"userName": "leaver@example.com"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(user["id"], json!(id));
    assert_eq!(user["active"], json!(true));

    // PUT with active:false removes too; then a re-add with the switch off gets a new id.
    let (status, _) = env
        .send(
            "PUT",
            &format!("/Users/{id}"),
            Some(json!({"userName": "leaver@example.com", "active": false})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(!env.emu.members().iter().any(|m| m.id == id && m.active));
    env.emu.set_switches(switches(|s| s.readd_keeps_id = false));
    let (status, user) = env
        .send(
            "POST",
            "/Users",
            Some(json!({"userName": "leaver@example.com"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_ne!(user["id"], json!(id));
    assert_eq!(env.get(&format!("/Users/{id}")).await.0, 404);
}

#[tokio::test]
async fn delete_protects_the_token_owner_and_revokes_other_owners() {
    let env = start().await;
    let owner_id = env
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == OWNER)
        .unwrap()
        .id;
    let (status, _) = env
        .send("DELETE", &format!("/Users/{owner_id}"), None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = env
        .send(
            "PATCH",
            &format!("/Users/{owner_id}"),
            Some(patch(
                json!([{"op": "replace", "path": "active", "value": false}]),
            )),
        )
        .await;
    assert_eq!(status, 403);

    env.emu.add_token("tok-other", "other.owner@example.com");
    let other = env
        .emu
        .members()
        .into_iter()
        .find(|m| m.user_name == "other.owner@example.com")
        .unwrap();
    assert_eq!(other.role.as_deref(), Some("owner"));
    assert_eq!(env.send_as("tok-other", "GET", "/Users", None).await.0, 200);
    let (status, body) = env
        .send("DELETE", &format!("/Users/{}", other.id), None)
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(env.send_as("tok-other", "GET", "/Users", None).await.0, 401);
    assert_eq!(env.send("DELETE", "/Users/no-such-id", None).await.0, 404);

    env.emu.set_switches(switches(|s| s.delete_status = 200));
    let plain = env.seed("p@example.com", "P", "Q");
    assert_eq!(
        env.send("DELETE", &format!("/Users/{plain}"), None).await.0,
        200
    );

    // Changing the token owner's own role cuts the token off (docs/notion.md, "Tokens").
    let (status, _) = env
        .send(
            "PATCH",
            &format!("/Users/{owner_id}"),
            Some(patch(
                json!([{"op": "replace", "value": {NOTION_SCHEMA: {"role": "member"}}}]),
            )),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(env.get("/Users").await.0, 401);
}

#[tokio::test]
async fn group_membership_in_okta_and_entra_forms() {
    let env = start().await;
    let a = env.seed("a@example.com", "A", "A");
    let b = env.seed("b@example.com", "B", "B");
    let c = env.seed("c@example.com", "C", "C");
    let guest = env.emu.seed_user(SeedUser {
        user_name: "g@outside.com".into(),
        guest: true,
        ..SeedUser::default()
    });
    let (status, group) = env
        .send(
            "POST",
            "/Groups",
            Some(json!({"displayName": "Design Team", "members": [{"value": a}]})),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_owned();
    let path = format!("/Groups/{gid}");
    let members = |g: &Value| -> Vec<String> {
        g["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, g) = env
        .send(
            "PATCH",
            &path,
            Some(patch(json!([{"op": "Add", "path": "members",
                               "value": [{"value": b}, {"value": c}]}]))),
        )
        .await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(members(&g), [a.clone(), b.clone(), c.clone()]);
    let (_, g) = env
        .send(
            "PATCH",
            &path,
            Some(patch(
                json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]),
            )),
        )
        .await;
    assert_eq!(members(&g), [b.clone(), c.clone()]);
    let (_, g) = env
        .send(
            "PATCH",
            &path,
            Some(patch(
                json!([{"op": "Remove", "path": "members", "value": [{"value": b}]},
                              {"op": "replace", "path": "displayName", "value": "Designers"}]),
            )),
        )
        .await;
    assert_eq!(members(&g), vec![c.clone()]);
    assert_eq!(g["displayName"], json!("Designers"));

    for bad in [&guest, &"unknown-id".to_owned()] {
        let (status, _) = env
            .send(
                "PATCH",
                &path,
                Some(patch(
                    json!([{"op": "add", "path": "members", "value": [{"value": bad}]}]),
                )),
            )
            .await;
        assert_eq!(status, 400);
    }

    for filter in ["displayName eq Designers", "displayName eq \"Designers\""] {
        let (_, page) = env
            .get(&format!("/Groups?filter={}", urlencode(filter)))
            .await;
        assert_eq!(ids(&page), vec![gid.clone()], "{filter}");
    }
    let (status, _) = env
        .get(&format!("/Groups?filter={}", urlencode("id eq \"x\"")))
        .await;
    assert_eq!(status, 400);

    let (status, g) = env
        .send(
            "PUT",
            &path,
            Some(json!({"displayName": "Designers", "members": [{"value": a}, {"value": b}]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(members(&g), [a.clone(), b.clone()]);

    env.emu
        .set_switches(switches(|s| s.group_members_per_patch_cap = Some(1)));
    let (status, body) = env
        .send(
            "PATCH",
            &path,
            Some(patch(json!([{"op": "add", "path": "members",
                               "value": [{"value": c}, {"value": a}]}]))),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["scimType"], json!("tooMany"));

    env.emu.set_sole_full_access(&gid, true);
    let (status, _) = env.send("DELETE", &path, None).await;
    assert_eq!(status, 409);
    env.emu.set_sole_full_access(&gid, false);
    assert_eq!(env.send("DELETE", &path, None).await.0, 204);
    assert_eq!(env.get(&path).await.0, 404);
}

#[tokio::test]
async fn notion_error_shape() {
    let env = start_with(Profile {
        switches: switches(|s| s.error_shape = ErrorShape::Notion),
        ..Profile::default()
    })
    .await;
    let (status, body) = env.get("/Users/missing").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"object": "error", "status": 404, "code": "object_not_found",
               "message": "User missing was not found."})
    );
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let env = start_with(Profile {
        rate_limit: Some(RateLimit {
            per_second: 0.5,
            burst: 2,
        }),
        ..Profile::default()
    })
    .await;
    assert_eq!(env.get("/Users?count=1").await.0, 200);
    assert_eq!(env.get("/Users?count=1").await.0, 200);
    let resp = env
        .http
        .get(env.url("/Users?count=1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let secs: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&secs), "{secs}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], json!("429"));
    env.emu.set_rate_limit(None);
    assert_eq!(env.get("/Users?count=1").await.0, 200);
}

#[tokio::test]
async fn status_faults_fire_once_on_the_nth_match() {
    let env = start().await;
    env.emu.push_fault(Fault {
        nth: 2,
        method: Some("get".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::Status500,
    });
    env.emu.push_fault(Fault {
        nth: 1,
        method: Some("POST".into()),
        path_prefix: Some("/scim/v2/Users".into()),
        kind: FaultKind::Status503,
    });
    env.emu.push_fault(Fault {
        nth: 1,
        method: None,
        path_prefix: Some("/Groups".into()),
        kind: FaultKind::Status429 {
            retry_after_secs: 7,
        },
    });
    assert_eq!(env.get("/Users").await.0, 200);
    assert_eq!(env.get("/Users").await.0, 500);
    assert_eq!(env.get("/Users").await.0, 200);
    let resp = env
        .http
        .post(env.url("/Users"))
        .bearer_auth(TOKEN)
        .json(&json!({"userName": "x@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.headers().get("retry-after").is_none());
    assert!(env
        .emu
        .members()
        .iter()
        .all(|m| m.user_name != "x@example.com"));
    let resp = env
        .http
        .get(env.url("/Groups"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(env.get("/Groups").await.0, 200);
}

#[tokio::test]
async fn commit_then_drop_commits_but_the_client_sees_an_error() {
    let env = start().await;
    env.emu.push_fault(Fault {
        nth: 1,
        method: Some("POST".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::CommitThenDrop,
    });
    let result = async {
        let resp = env
            .http
            .post(env.url("/Users"))
            .bearer_auth(TOKEN)
            .json(&json!({"userName": "lost@example.com"}))
            .send()
            .await?;
        resp.json::<Value>().await
    }
    .await;
    assert!(result.is_err(), "{result:?}");
    assert!(env
        .emu
        .members()
        .iter()
        .any(|m| m.user_name == "lost@example.com" && m.active));
    assert_eq!(env.emu.write_count(), 1);
}

#[tokio::test]
async fn commit_then_revoke_answers_the_write_and_refuses_the_token_after_it() {
    let env = start().await;
    env.emu.set_switches(Switches {
        auth_failure_status: 403,
        ..Switches::default()
    });
    env.emu.push_fault(Fault {
        nth: 1,
        method: Some("POST".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::CommitThenRevoke { stall_millis: 0 },
    });
    let created = env
        .send(
            "POST",
            "/Users",
            Some(json!({"userName": "last@example.com"})),
        )
        .await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_eq!(env.get("/Users?count=1").await.0, 403);
    let refused = env
        .send(
            "POST",
            "/Users",
            Some(json!({"userName": "next@example.com"})),
        )
        .await;
    assert_eq!(refused.0, 403);
    assert_eq!(env.emu.write_count(), 1);
}

#[tokio::test]
async fn stall_outlasts_a_client_timeout() {
    let env = start().await;
    env.emu.push_fault(Fault {
        nth: 1,
        method: None,
        path_prefix: None,
        kind: FaultKind::Stall { millis: 1500 },
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client
        .post(env.url("/Users"))
        .bearer_auth(TOKEN)
        .json(&json!({"userName": "slow@example.com"}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    // The stalled write was committed before the answer was held back.
    assert!(env
        .emu
        .members()
        .iter()
        .any(|m| m.user_name == "slow@example.com"));
    assert_eq!(env.get("/Users?count=1").await.0, 200);
}

#[tokio::test]
async fn overload_529_has_no_retry_after() {
    let env = start().await;
    env.emu.push_fault(Fault {
        nth: 1,
        method: None,
        path_prefix: None,
        kind: FaultKind::Status529,
    });
    let resp = env
        .http
        .get(env.url("/Users"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 529);
    assert!(resp.headers().get("retry-after").is_none());
}

#[tokio::test]
async fn entra_string_active_and_excluded_members() {
    let env = start().await;
    let id = env.seed("s@example.com", "S", "S");
    let (status, user) = env
        .send(
            "PATCH",
            &format!("/Users/{id}"),
            Some(patch(
                json!([{"op": "Replace", "path": "active", "value": "False"}]),
            )),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["active"], json!(false));
    let keep = env.seed("k@example.com", "K", "K");
    env.emu.seed_group(SeedGroup {
        display_name: "G".into(),
        members: vec![keep],
        ..SeedGroup::default()
    });
    let (_, page) = env.get("/Groups?excludedAttributes=members").await;
    assert!(page["Resources"][0].get("members").is_none());
    let (_, page) = env.get("/Groups").await;
    assert_eq!(page["Resources"][0]["members"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn truncated_page_does_not_add_up() {
    let env = start().await;
    for i in 0..5 {
        env.seed(&format!("t{i}@example.com"), "T", "T");
    }
    env.emu.push_fault(Fault {
        nth: 1,
        method: Some("GET".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::TruncatedPage,
    });
    let (_, page) = env.get("/Users").await;
    assert_eq!(page["totalResults"], json!(6));
    assert_eq!(page["Resources"].as_array().unwrap().len(), 5);
    let (_, page) = env.get("/Users").await;
    assert_eq!(page["Resources"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn unstable_order_and_insert_during_read() {
    let env = start_with(Profile {
        switches: switches(|s| s.unstable_order = true),
        ..Profile::default()
    })
    .await;
    for i in 0..40 {
        env.seed(&format!("o{i}@example.com"), "O", "O");
    }
    let (_, first) = env.get("/Users").await;
    let (_, second) = env.get("/Users").await;
    let (mut a, mut b) = (ids(&first), ids(&second));
    assert_ne!(a, b, "the order should change between calls");
    a.sort();
    b.sort();
    assert_eq!(a, b);

    env.emu
        .set_switches(switches(|s| s.insert_during_read = true));
    let (_, page1) = env.get("/Users?startIndex=1&count=20").await;
    let (_, page2) = env.get("/Users?startIndex=21&count=20").await;
    assert_eq!(page1["totalResults"], json!(41));
    assert_eq!(page2["totalResults"], json!(42));
    // The newcomer sits first, so page 2 starts with page 1's last entry.
    assert_eq!(ids(&page2)[0], ids(&page1)[19]);
}

#[tokio::test]
async fn request_log_and_write_count() {
    let env = start().await;
    env.get("/Users").await;
    env.create("w@example.com").await;
    env.send_as(
        "bad",
        "POST",
        "/Users",
        Some(json!({"userName": "z@example.com"})),
    )
    .await;
    let log = env.emu.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/scim/v2/Users");
    assert!(!log[0].is_write);
    assert_eq!(log[1].status, 201);
    assert!(log[1].is_write && log[1].handled);
    assert_eq!(log[2].status, 401);
    assert!(log[2].is_write && !log[2].handled);
    assert_eq!(env.emu.write_count(), 1);
    env.emu.clear_requests();
    assert_eq!(env.emu.write_count(), 0);
    assert!(env.emu.requests().is_empty());
}

#[tokio::test]
async fn control_routes_seed_switch_and_report() {
    let env = start().await;
    let root = env.run.root_url();
    let http = &env.http;
    let resp = http
        .post(format!("{root}/_emulator/tokens"))
        .json(&json!({"token": "cli-token", "owner": "cli.owner@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let id: Value = http
        .post(format!("{root}/_emulator/users"))
        .json(&json!({"user_name": "seeded@example.com", "given_name": "S"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = id["id"].as_str().unwrap().to_owned();
    let group: Value = http
        .post(format!("{root}/_emulator/groups"))
        .json(&json!({"display_name": "Ops", "members": ["seeded@example.com"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(group["id"].is_string());
    let resp = http
        .put(format!("{root}/_emulator/switches"))
        .json(&json!({"error_shape": "notion"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(env.emu.switches().error_shape, ErrorShape::Notion);
    assert_eq!(env.emu.switches().create_status, 201);
    let resp = http
        .post(format!("{root}/_emulator/faults"))
        .json(&json!({"nth": 1, "kind": {"type": "status500"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(env.send_as("cli-token", "GET", "/Users", None).await.0, 500);
    let (status, user) = env
        .send_as("cli-token", "GET", &format!("/Users/{id}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(user["userName"], json!("seeded@example.com"));

    let log: Value = http
        .get(format!("{root}/_emulator/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log.as_array().unwrap().len(), 2);
    assert_eq!(log[0]["status"], json!(500));
    let resp = http
        .delete(format!("{root}/_emulator/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert!(env.emu.requests().is_empty());
    let state: Value = http
        .get(format!("{root}/_emulator/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["groups"][0]["displayName"], json!("Ops"));
    assert_eq!(state["groups"][0]["members"], json!([id]));
    assert!(state["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["userName"] == json!("cli.owner@example.com") && m["role"] == json!("owner")));
    let resp = http
        .put(format!("{root}/_emulator/rate-limit"))
        .json(&json!({"per_second": 1.0, "burst": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(env.get("/Users?count=1").await.0, 200);
    assert_eq!(env.get("/Users?count=1").await.0, 429);
}

#[tokio::test]
async fn ids_are_reproducible_from_the_rng_seed() {
    let make = || {
        let clock = Arc::new(FixedClock::new(Utc.timestamp_millis_opt(0).unwrap()));
        let emu = Emulator::new(Profile::default(), clock);
        emu.seed_user(SeedUser::member("a@example.com", "A", "B"))
    };
    assert_eq!(make(), make());
}

/// Chaos over HTTP, set through the control route: what the workspace holds afterwards is the
/// ground truth, and `executed_writes` must count exactly the writes that made it so, none of
/// the refused ones (429, 5xx, 409, 404). Removals are logged whichever way they came.
#[tokio::test]
async fn chaos_counts_exactly_the_writes_it_executed() {
    let env = start().await;
    let root = env.run.root_url();
    let chaos = json!({"seed": 11, "throttle": 0.4, "server_error": 0.2,
                       "commit_then_drop": 0.3, "slow": 0.1, "slow_millis": 5});
    let resp = env
        .http
        .put(format!("{root}/_emulator/chaos"))
        .json(&chaos)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(env.emu.chaos().unwrap().throttle, 0.4);
    let bad = json!({"throttle": 0.8, "server_error": 0.3});
    let resp = env
        .http
        .put(format!("{root}/_emulator/chaos"))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        400,
        "the shares add up to more than 1"
    );

    for i in 0..80 {
        let body = json!({"schemas": [USER_SCHEMA], "userName": format!("c{i}@example.com")});
        // A lost reply is an error here; the log and the workspace say what happened.
        let _ = env
            .http
            .post(env.url("/Users"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await;
    }
    let created = env.emu.members().len() - 1;
    let log = env.emu.requests();
    let count = |name: &str| log.iter().filter(|r| r.injected.contains(&name)).count();
    assert!(
        count("status429") > 20 && count("commit-then-drop") > 5,
        "{log:?}"
    );
    assert!(count("stall") > 0);
    assert!(log
        .iter()
        .filter(|r| r.injected.contains(&"status429"))
        .all(|r| r.status == 429 && !r.executed));
    assert!(created > 10 && created < 60, "{created} of 80 got through");
    assert_eq!(env.emu.executed_writes(), created);

    env.emu.set_chaos(None);
    env.emu.clear_requests();
    let existed = env
        .emu
        .members()
        .iter()
        .any(|m| m.user_name == "c0@example.com");
    let (status, _) = env
        .send(
            "POST",
            "/Users",
            Some(json!({"userName": "c0@example.com"})),
        )
        .await;
    assert_eq!(status, if existed { 409 } else { 201 });
    let a = env.seed("leaver.a@example.com", "A", "Leaver");
    let b = env.seed("leaver.b@example.com", "B", "Leaver");
    let off = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    assert_eq!(
        env.send("PATCH", &format!("/Users/{a}"), Some(off)).await.0,
        200
    );
    assert_eq!(
        env.send("DELETE", &format!("/Users/{b}"), None).await.0,
        204
    );
    assert_eq!(
        env.send("DELETE", &format!("/Users/{b}"), None).await.0,
        404
    );
    let executed = 2 + usize::from(!existed);
    assert_eq!(env.emu.executed_writes(), executed);
    assert_eq!(
        env.emu.write_count(),
        4,
        "the 409 or 404 reached the handler"
    );
    let removed: Vec<String> = env
        .emu
        .removals()
        .into_iter()
        .map(|r| r.user_name)
        .collect();
    assert_eq!(removed, ["leaver.a@example.com", "leaver.b@example.com"]);
}

/// A client that gives up on a slow reply closes its connection while the emulator still waits
/// to answer, and the server then drops the request: the write it already carried out must still
/// be in the log, or `executed_writes` would miss it (it did, in the crash soak: one create short
/// of the workspace's count).
#[tokio::test]
async fn a_write_is_logged_when_the_client_gives_up_on_its_slow_reply() {
    let env = start().await;
    env.emu.push_fault(Fault {
        nth: 1,
        method: Some("POST".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::Stall { millis: 1_500 },
    });
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let sent = impatient
        .post(env.url("/Users"))
        .bearer_auth(TOKEN)
        .json(&json!({"userName": "gave.up@example.com"}))
        .send()
        .await;
    assert!(sent.is_err(), "the client timed out: {sent:?}");
    drop(impatient);
    tokio::time::sleep(Duration::from_millis(1_800)).await;
    assert!(env
        .emu
        .members()
        .iter()
        .any(|m| m.user_name == "gave.up@example.com"));
    let log = env.emu.requests();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!((log[0].status, log[0].executed), (201, true));
    assert_eq!(log[0].injected, ["stall"]);
    assert_eq!(env.emu.executed_writes(), 1);
}
