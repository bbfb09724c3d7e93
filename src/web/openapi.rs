//! The served OpenAPI document: utoipa's output from the handler annotations, finished by
//! rules that hold for every operation, so the document validates (OpenAPI 3.1, checked by
//! `openapi-spec-validator` in the tests) and client generators need no hand edits:
//!
//! - every response has a description (the annotation's, or the status's meaning);
//! - errors are `application/problem+json` (RFC 9457), as `AppError` answers them;
//! - byte bodies (images, PDFs) are `string`/`binary`, not arrays of integers;
//! - ids, dates, times and national ID numbers carry their formats, taken from the domain
//!   types' own rules (`CredentialId::LEN`, the base32 alphabet, `NationalId`'s length).

use crate::domain::CredentialId;
use serde_json::{Map, Value, json};

/// What a status code means here, for responses whose annotation gives no description.
fn meaning(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "204" => "Done; no content",
        "304" => "Not modified (the ETag matched)",
        "400" => "Bad request: the body or a parameter is malformed",
        "401" => "Authentication required (a bearer token or a console session)",
        "403" => "Not allowed for this principal or scope",
        "404" => "Not found (or not visible to this principal)",
        "409" => "Conflicts with the current state",
        "413" => "Request body too large",
        "415" => "Unsupported media type",
        "422" => "Invalid input: `field` names the member",
        "429" => "Too many requests; retry after `Retry-After` seconds",
        "503" => "Not ready",
        _ => "Response",
    }
}

/// A credential or person id: base32 (no i, l, o, u), `CredentialId::LEN` characters.
pub fn id_pattern() -> String {
    format!("^[0-9a-hjkmnp-tv-z]{{{}}}$", CredentialId::LEN)
}

/// A national ID number as accepted: 5 to 20 letters or digits, single spaces or hyphens
/// allowed between them (they are removed when stored).
pub const NATIONAL_ID_PATTERN: &str = "^[A-Za-z0-9](?:[ -]?[A-Za-z0-9]){4,19}$";

fn is_byte_array(s: &Value) -> bool {
    s["type"] == "array" && s["items"]["type"] == "integer"
}

fn is_problem_ref(s: &Value) -> bool {
    s["$ref"] == "#/components/schemas/Problem" || s["$ref"] == "#/components/schemas/VcApiProblem"
}

fn finish_content(content: &mut Map<String, Value>) {
    // Problem bodies are problem+json.
    if content
        .get("application/json")
        .is_some_and(|m| is_problem_ref(&m["schema"]))
        && let Some(m) = content.remove("application/json")
    {
        content.insert("application/problem+json".into(), m);
    }
    for (media, m) in content.iter_mut() {
        if !media.contains("json")
            && !media.starts_with("multipart/")
            && is_byte_array(&m["schema"])
        {
            m["schema"] = json!({"type": "string", "format": "binary", "contentMediaType": media});
        }
        if media.starts_with("multipart/")
            && let Some(props) = m
                .get_mut("schema")
                .and_then(|s| s.get_mut("properties"))
                .and_then(Value::as_object_mut)
        {
            for p in props.values_mut() {
                if is_byte_array(p) {
                    *p = json!({"type": "string", "format": "binary"});
                }
            }
        }
    }
}

/// Formats for properties, by the conventions every Sanad schema follows: `*_at` are RFC
/// 3339 date-times, dates are `YYYY-MM-DD`, and credential/person ids have the id pattern.
fn finish_property(schema: &str, name: &str, p: &mut Value) {
    let is_string = p["type"] == "string"
        || p["type"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("string")));
    if !is_string {
        return;
    }
    let set = |p: &mut Value, k: &str, v: Value| {
        if p.get(k).is_none() {
            p[k] = v;
        }
    };
    match name {
        n if n.ends_with("_at") => set(p, "format", json!("date-time")),
        "date_of_birth" | "issue_date" => set(p, "format", json!("date")),
        "national_id" => set(p, "pattern", json!(NATIONAL_ID_PATTERN)),
        "person_id" | "credential_id" | "result_id" | "superseded_by" => {
            set(p, "pattern", json!(id_pattern()));
        }
        "id" if matches!(
            schema,
            "PersonOut" | "CredentialOut" | "PublicCredential" | "VerifyRequest" | "VerifyUpload"
        ) =>
        {
            set(p, "pattern", json!(id_pattern()));
        }
        _ => {}
    }
}

/// Path parameters named `id` under credential and person routes have the id pattern.
fn finish_parameters(path: &str, op: &mut Value) {
    let ids = path.starts_with("/api/v1/credentials/{id}")
        || path.starts_with("/api/v1/persons/{id}")
        || path.starts_with("/api/v1/officer/credentials/{id}")
        || path.starts_with("/v/{id}");
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for p in params {
        if ids && p["in"] == "path" && p["name"] == "id" {
            p["schema"]["pattern"] = json!(id_pattern());
        }
    }
}

/// Finish the document (see the module doc).
pub fn finish(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut v = serde_json::to_value(doc).unwrap_or_default();
    if let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for op in item.values_mut() {
                finish_parameters(path, op);
                if let Some(content) = op
                    .get_mut("requestBody")
                    .and_then(|b| b.get_mut("content"))
                    .and_then(Value::as_object_mut)
                {
                    finish_content(content);
                }
                let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                    continue;
                };
                for (status, r) in responses.iter_mut() {
                    if r.get("description")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        r["description"] = json!(meaning(status));
                    }
                    if let Some(content) = r.get_mut("content").and_then(Value::as_object_mut) {
                        finish_content(content);
                    }
                }
            }
        }
    }
    let components = v["components"]["schemas"].clone();
    if let Some(schemas) = v
        .get_mut("components")
        .and_then(|c| c.get_mut("schemas"))
        .and_then(Value::as_object_mut)
    {
        for (name, s) in schemas.iter_mut() {
            flatten_all_of(s, &components);
            walk_properties(name, s);
        }
    }
    v
}

/// Apply [`finish_property`] to every object schema inside `s` (variants of a `oneOf`
/// included).
fn walk_properties(name: &str, s: &mut Value) {
    if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
        for (pname, p) in props.iter_mut() {
            finish_property(name, pname, p);
        }
    }
    for k in ["oneOf", "anyOf", "allOf"] {
        if let Some(items) = s.get_mut(k).and_then(Value::as_array_mut) {
            for i in items {
                walk_properties(name, i);
            }
        }
    }
}

/// utoipa renders `#[serde(flatten)]` inside an enum variant as an `allOf` of objects,
/// which client generators cannot turn into a class. Merge such an `allOf` (inline objects
/// and references to object schemas) into one object schema, recursively through `oneOf`.
fn flatten_all_of(s: &mut Value, components: &Value) {
    if let Some(items) = s.get_mut("oneOf").and_then(Value::as_array_mut) {
        for i in items {
            flatten_all_of(i, components);
        }
    }
    let Some(parts) = s.get("allOf").and_then(Value::as_array) else {
        return;
    };
    let resolved: Vec<Value> = parts
        .iter()
        .map(|p| match p["$ref"].as_str() {
            Some(r) => components[r.trim_start_matches("#/components/schemas/")].clone(),
            None => p.clone(),
        })
        .collect();
    if !resolved
        .iter()
        .all(|p| p["type"] == "object" && p["properties"].is_object())
    {
        return;
    }
    let mut props = Map::new();
    let mut required: Vec<Value> = Vec::new();
    for p in &resolved {
        if let Some(o) = p["properties"].as_object() {
            props.extend(o.clone());
        }
        for r in p["required"].as_array().into_iter().flatten() {
            if !required.contains(r) {
                required.push(r.clone());
            }
        }
    }
    let mut merged = json!({"type": "object", "required": required, "properties": props});
    if let Some(d) = s.get("description") {
        merged["description"] = d.clone();
    }
    *s = merged;
}
