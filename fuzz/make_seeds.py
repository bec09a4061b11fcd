#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets into fuzz/seeds/<target>/.

The seeds are small, made here, and chosen to reach each reader's branches early: valid input,
each kind of bad row or entry, limits, escapes. Binary ones (LDAP BER messages, SCIM reply kinds)
are built by code below. SAML seeds are the repository's own fixtures (tests/fixtures/saml),
copied, plus three whose SignatureValue is the fuzz build's stub mark (src/saml/crypto.rs), so
the rules after the signature step are reached from the start. Crash inputs found later are added next to these
as `crash-<target>-<what>` and replayed by the unit test src/fuzzing/tests.rs.
"""
import json
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


# --- config: resolved against a folder holding `token` and `password` files -----------------
CONFIG_BASE = """[target]
kind = "notion"
token_file = "token"
token_owner = "it@example.com"

[[sources]]
name = "corp"
kind = "ldap"
url = "ldaps://ldap.example:636"
bind_dn = "cn=reader,dc=example"
password_file = "password"
users = { base = "ou=people,dc=example", filter = "(objectClass=inetOrgPerson)" }
groups = { base = "ou=groups,dc=example", filter = "(objectClass=groupOfNames)" }
"""
put("config", "ldap-notion.toml", CONFIG_BASE + """
[mapping]
userName = "{lower(corp.mail)}"
displayName = "{default(corp.displayName, join(\\" \\", givenName, familyName))}"

[scope]
groups = ["cn=notion,ou=groups,dc=example"]

[policy]
max_deactivations = "5%"
""")
put("config", "hr-csv-scim.toml", """[store]
url = "sqlite://idbridge.db"

[target]
kind = "scim"
url = "https://scim.example/v2"
token_file = "token"

[[sources]]
name = "hr"
kind = "hr-csv"
path = "hr.csv"
timezone = "Europe/Paris"
date_format = "%d/%m/%Y"
delimiter = ";"
status_map = { "on leave" = "active", gone = "inactive" }

[policy]
max_deactivations = 3
absence_grace = "3d"
""")
put("config", "hr-http-bamboo.toml", """[target]
kind = "notion"
token_file = "token"

[[sources]]
name = "bamboo"
kind = "hr-http"
url = "https://api.bamboohr.example/v1/reports/custom?format=json"
token_file = "token"
preset = "bamboohr"
page_param = "page"
total = "total"
timeout = "10s"
""")
put("config", "secret-in-text.toml", CONFIG_BASE.replace('token_file = "token"', 'token = "hunter2-not-shown"'))
put("config", "typo.toml", CONFIG_BASE.replace("token_file", "tokn_file") + "\n[polcy]\nmax = 1\n")
put("config", "serve-alerts.toml", CONFIG_BASE + """
[serve]
listen = "127.0.0.1:9464"
schedule = "*/15 * * * *"

[[alerts.webhooks]]
url = "https://hooks.example/T000/B000"
format = "slack"
""")

# --- hr_csv ----------------------------------------------------------------------------------
HEADER = "employee_id,email,first_name,last_name,title,department,manager_email,status,start_date,termination_date\n"
put("hr_csv", "valid.csv", "\ufeff" + HEADER +
    'E1,ada@example.com,Ada,Lovelace,"Engineer, Senior",R&D,,active,2020-01-01,\n'
    'E2,Bob@Example.com,Bob,"O""Brien",,,ada@example.com,Leave,,\n'
    "E3,carol@example.com,Carol,Q,,,ada@example.com,terminated,2019-05-01,2024-02-29\n")
put("hr_csv", "bad-rows.csv", HEADER +
    "E1,ada@example.com,Ada,L,,,,active,,\n"
    ",nobody@example.com,No,Id,,,,active,,\n"
    "E3,not-an-email,C,D,,,,active,,\n"
    "E4,dee@example.com,Dee,E,,,,unknown-status,31/12/2020,\n"
    "E5,eve@example.com,Eve\n")
put("hr_csv", "stray-quote.csv", HEADER +
    'E1,ada@example.com,"Ada,L,,,,active,,\n'
    "E2,bob@example.com,Bob,B,,,,active,,\n"
    "E3,carol@example.com,Carol,C,,,,active,,\n")
put("hr_csv", "crlf-duplicates.csv", HEADER.replace("\n", "\r\n") +
    "E1,ada@example.com,Ada,L,,,,active,,\r\nE1,ada@example.com,Ada,L,,,,active,,\r\n"
    "E2,ADA@example.com,Ada,Two,,,,active,,\r\n")
put("hr_csv", "no-email-column.csv", "employee_id,name\nE1,Ada\n")

# --- hr_json: consecutive pages, each one reply ------------------------------------------------
api_page = {
    "data": {"items": [
        {"id": "1", "contact": {"email": "ada@example.com"}, "firstName": "Ada", "status": "active",
         "manager": {"email": "bob@example.com"}},
        {"id": 2, "contact": {"email": "bob@example.com"}, "status": "terminated",
         "terminationDate": "2024-01-31"},
        {"id": "3", "contact": {"email": "not an email"}},
        "not an object",
    ]},
    "meta": {"total": 5},
    "links": {"next": "/v1/people?department=all&cursor=2"},
}
last_page = {"data": {"items": [{"id": "1", "contact": {"email": "ada@example.com"}},
                                {"id": "4", "contact": {"email": "dee@example.com"}}]},
             "meta": {"total": "5"}, "links": {"next": ""}}
put("hr_json", "api-two-pages.json", json.dumps(api_page) + "\n" + json.dumps(last_page))
put("hr_json", "bamboo.json", json.dumps({"total": 2, "employees": [
    {"id": "10", "workEmail": "ada@example.com", "firstName": "Ada", "lastName": "L",
     "status": "Active", "hireDate": "0000-00-00", "supervisorEmail": None},
    {"id": "11", "workEmail": "bob@example.com", "status": "Inactive", "terminationDate": "2023-12-31"},
]}) + json.dumps({"total": 2, "employees": []}))
put("hr_json", "loop.json", json.dumps({"data": {"items": []}, "links": {"next": "https://hr.example/v1/people?department=all"}}))
put("hr_json", "no-records.json", '{"data": {"items": {"id": 1}}, "meta": {"total": -1}}')


# --- ldap_entry: BER LDAPMessages holding SearchResultEntry ------------------------------------
def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + length + content


def octets(b):
    return tlv(0x04, b if isinstance(b, bytes) else b.encode())


def entry(dn, attrs, message_id=2, bare=False):
    parts = b"".join(
        tlv(0x30, octets(name) + tlv(0x31, b"".join(octets(v) for v in values)))
        for name, values in attrs)
    op = tlv(0x64, octets(dn) + tlv(0x30, parts))  # [APPLICATION 4] SearchResultEntry
    return op if bare else tlv(0x30, tlv(0x02, bytes([message_id])) + op)


GUID = bytes.fromhex("00112233445566778899aabbccddeeff")
put("ldap_entry", "openldap-people.ber",
    entry("uid=ada,ou=people,dc=example", [
        ("entryUUID", ["6f1c9f5e-0000-4000-8000-000000000001"]), ("uid", ["ada"]),
        ("mail", ["Ada@Example.com"]), ("givenName", ["Ada"]), ("sn", ["Lovelace"]),
        ("manager", ["uid=bob,ou=people,dc=example"]), ("costCenter", ["42"])])
    + entry("UID=Bob , OU=People,DC=example", [
        ("entryUUID", ["6f1c9f5e-0000-4000-8000-000000000002"]), ("mail", ["bob@example.com"])], 3)
    + entry("uid=gone,ou=people,dc=example", [
        ("entryUUID", ["6f1c9f5e-0000-4000-8000-000000000003"]), ("mail", ["gone@example.com"])], 4))
put("ldap_entry", "ad-user.ber",
    entry("CN=Smith\\, John+employeeNumber=7,OU=Users,DC=corp,DC=example", [
        ("objectGUID", [GUID]), ("sAMAccountName", ["jsmith"]), ("mail", ["john@corp.example"]),
        ("userPrincipalName", ["john@corp.example"]), ("userAccountControl", ["514"]),
        ("displayName", [b"J\xc3\xb6hn \x00 Smith"])]))
put("ldap_entry", "escapes.ber",
    entry("cn=\\23hash\\2C\\2b\\3Dx\\c3\\a9\\\\ \\ ,ou=Esc\\22apes;dc=example", [
        ("entryUUID", ["7"]), ("mail", ["esc@example.com"])], bare=True)
    + entry("#04024869,dc=example", [("entryUUID", [b"\xff\xfe"]), ("mail", [b"\x80bad"])]))
put("ldap_entry", "invalid-entries.ber",
    entry("uid=nomail,dc=example", [("entryUUID", ["8"]), ("uid", ["nomail"])])
    + entry("uid=badmail,dc=example", [("entryUUID", ["9"]), ("mail", ["not an address"])])
    + entry("", [("mail;range=0-*", ["x@example.com"])]))
put("ldap_entry", "dn-text.txt", "cn=A\\+B + sn=C ,  OU = x\\20 ;dc=example")

# --- scim_reply: kind byte, then the reply ------------------------------------------------------
users = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 3,
         "startIndex": 1, "itemsPerPage": 2, "Resources": [
             {"id": "u1", "userName": "ada@example.com", "active": True,
              "name": {"givenName": "Ada", "familyName": None},
              "emails": [{"value": "ada@example.com", "primary": "true"}],
              "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "manager": {"value": "u2"}}},
             {"id": "u2", "userName": "Bob@Example.com", "active": "False", "externalId": None}]}
page2 = {"totalResults": 3, "startIndex": 3, "Resources": [{"id": "u2", "userName": "bob@example.com"}]}
put("scim_reply", "users-two-pages.bin", b"\x00" + json.dumps(users).encode() + json.dumps(page2).encode())
put("scim_reply", "groups.bin", b"\x01" + json.dumps({"totalResults": 1, "Resources": [
    {"id": "g1", "displayName": "Team A", "members": [{"value": "u1"}, {"value": "u2", "display": "Bob"}]}]}).encode())
put("scim_reply", "error-scim.bin", b"\x02\x01\x90" + json.dumps({
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400",
    "scimType": "invalidValue", "detail": "token fz-secret-Q7x2v9 is not valid for userName"}).encode())
put("scim_reply", "error-notion.bin", b"\x02\x01\x91" + json.dumps({
    "object": "error", "status": 401, "code": "unauthorized",
    "message": "Bearer fz-secret-Q7x2v9 rejected"}).encode())
put("scim_reply", "error-text.bin", b"\x02\x01\xf7<html>502 Bad Gateway</html>")

# --- template -------------------------------------------------------------------------------------
for i, t in enumerate([
    "{lower(corp.mail)}",
    "{default(corp.displayName, join(\" \", givenName, familyName))}",
    "{givenName}.{familyName}@example.com",
    "{upper(split_first(givenName, \" \"))}{lower(trim(familyName))}",
    "{{literal}} {split_first(email, \"@\")} }}",
    "{unknown(x)}",
    "{join(\",\"",
]):
    put("template", f"t{i}.txt", t)

# --- SAML: the repository's fixtures, and stub-verified variants --------------------------------
FIXTURES = os.path.join(os.path.dirname(ROOT), "..", "tests", "fixtures", "saml")
STUB_MARK = "<ds:SignatureValue>fuzz-verified</ds:SignatureValue>"


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


for name in ["unsigned.xml", "valid-assertion-signed.xml", "valid-response-signed.xml",
             "several-assertions.xml", "duplicate-id.xml", "doctype-xxe.xml", "billion-laughs.xml",
             "valid-assertion-signed.b64"]:
    put("saml_response", name, fixture(name))
for name in ["idp-metadata.xml", "metadata-entities.xml", "metadata-rollover.xml",
             "metadata-signed.xml", "metadata-weak-key.xml"]:
    put("saml_metadata", name, fixture(name))
for source, target, name in [
        ("valid-assertion-signed.xml", "saml_response", "stub-verified-assertion.xml"),
        ("valid-both-signed.xml", "saml_response", "stub-verified-both.xml"),
        ("metadata-signed.xml", "saml_metadata", "stub-verified-signed.xml")]:
    text = fixture(source).decode()
    marked = re.sub(r"<ds:SignatureValue>.*?</ds:SignatureValue>", STUB_MARK, text, flags=re.S)
    assert marked != text, source
    put(target, name, marked)

if __name__ == "__main__":
    sys.exit(0)
