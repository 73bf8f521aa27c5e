//! GraphQL Admin API, App Extensions only (spec §5): `createAppExtension`,
//! `updateAppExtension`, `deleteAppExtension` and `store { appExtensions }`.
//!
//! No GraphQL parser: the operation is picked by substring, inputs come from
//! `variables.input` (for update and delete, an inline `id: "bc/store/appExtension/N"` is
//! also found). Responses carry every field of the node, whatever the selection set.
//! Validation errors and limits are HTTP 200 with `{"errors":[{"message"}]}` [U].

use serde_json::{Map, Value, json};
use warp::http::Method;

use super::Incoming;
use super::api::{Area, Auth, forbidden, method_not_allowed};
use super::respond::{self, Resp};
use super::state::{AppExtension, State};

/// "At most 2 extensions per app per model" (spec §5), per store.
pub(crate) const MAX_PER_MODEL: usize = 2;
const CONTEXTS: [&str; 2] = ["PANEL", "LINK"];
const MODELS: [&str; 4] = ["ORDERS", "PRODUCTS", "PRODUCT_DESCRIPTION", "CUSTOMERS"];
const ID_PREFIX: &str = "bc/store/appExtension/";

fn gql_error(message: &str) -> Resp {
    respond::json(200, &json!({"errors": [{"message": message}]}))
}

pub(crate) fn handle(st: &mut State, auth: &Auth, req: &Incoming) -> Resp {
    if req.method != Method::POST {
        return method_not_allowed(Area::GraphQl);
    }
    if !auth.has("store_app_extensions_manage") {
        return forbidden(Area::GraphQl);
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return respond::json(
                400,
                &json!({"errors": [{"message": "The request body must be a JSON object {query, variables}."}]}),
            );
        }
    };
    let Some(query) = body.get("query").and_then(Value::as_str) else {
        return respond::json(
            400,
            &json!({"errors": [{"message": "The request body has no query."}]}),
        );
    };
    let variables = match body.get("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(v)) => v.clone(),
        Some(_) => return gql_error("variables must be an object"),
    };
    let input = variables.get("input").and_then(Value::as_object);

    if query.contains("createAppExtension") {
        match input {
            Some(input) => create(st, auth, input),
            None => gql_error(
                "Variable 'input' has an invalid value: CreateAppExtensionInput! was not provided",
            ),
        }
    } else if query.contains("updateAppExtension") {
        update(st, auth, input, query)
    } else if query.contains("deleteAppExtension") {
        delete(st, auth, input, query)
    } else if query.contains("appExtensions") {
        let edges: Vec<Value> = own(st, auth)
            .map(|e| json!({"node": e.to_json()}))
            .collect();
        respond::json(
            200,
            &json!({"data": {"store": {"appExtensions": {"edges": edges}}}}),
        )
    } else {
        gql_error(
            "The BigCommerce stand-in only implements createAppExtension, updateAppExtension, \
             deleteAppExtension and store.appExtensions",
        )
    }
}

fn own<'a>(st: &'a State, auth: &'a Auth) -> impl Iterator<Item = &'a AppExtension> + 'a {
    st.extensions
        .iter()
        .filter(|e| e.store_hash == auth.store_hash && e.client_id == auth.client_id)
}

fn validate_url(v: Option<&Value>) -> Result<String, String> {
    match v.and_then(Value::as_str) {
        Some(u) if u.starts_with('/') && u.chars().count() <= 255 => Ok(u.to_owned()),
        Some(_) => Err("url must be a path starting with / of at most 255 characters".into()),
        None => Err("url is required".into()),
    }
}

type Label = (String, Vec<(String, String)>);

fn validate_label(v: Option<&Value>) -> Result<Label, String> {
    let Some(label) = v.and_then(Value::as_object) else {
        return Err("label is required".into());
    };
    let default = match label.get("defaultValue").and_then(Value::as_str) {
        Some(d) if !d.trim().is_empty() && d.chars().count() <= 255 => d.to_owned(),
        _ => return Err("label.defaultValue is required (1 to 255 characters)".into()),
    };
    let mut locales = Vec::new();
    match label.get("locales") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let value = item.get("value").and_then(Value::as_str);
                let code = item.get("localeCode").and_then(Value::as_str);
                match (value, code) {
                    (Some(v), Some(c))
                        if !v.trim().is_empty() && v.chars().count() <= 255 && !c.is_empty() =>
                    {
                        locales.push((v.to_owned(), c.to_owned()));
                    }
                    _ => {
                        return Err(
                            "each label.locales item needs value (1 to 255 characters) and localeCode"
                                .into(),
                        );
                    }
                }
            }
        }
        Some(_) => return Err("label.locales must be a list".into()),
    }
    Ok((default, locales))
}

fn create(st: &mut State, auth: &Auth, input: &Map<String, Value>) -> Resp {
    let context = match input.get("context").and_then(Value::as_str) {
        Some(c) if CONTEXTS.contains(&c) => c.to_owned(),
        _ => return gql_error("context must be one of PANEL, LINK"),
    };
    let model = match input.get("model").and_then(Value::as_str) {
        Some(m) if MODELS.contains(&m) => m.to_owned(),
        _ => {
            return gql_error(
                "model must be one of ORDERS, PRODUCTS, PRODUCT_DESCRIPTION, CUSTOMERS",
            );
        }
    };
    let url = match validate_url(input.get("url")) {
        Ok(u) => u,
        Err(e) => return gql_error(&e),
    };
    let (label_default, label_locales) = match validate_label(input.get("label")) {
        Ok(l) => l,
        Err(e) => return gql_error(&e),
    };
    if own(st, auth).filter(|e| e.model == model).count() >= MAX_PER_MODEL {
        return gql_error(&format!(
            "An app can register at most {MAX_PER_MODEL} App Extensions per model; \
             the limit for {model} has been reached"
        ));
    }
    let ext = AppExtension {
        id: format!("{ID_PREFIX}{}", st.next_extension_id),
        store_hash: auth.store_hash.clone(),
        client_id: auth.client_id.clone(),
        context,
        model,
        url,
        label_default,
        label_locales,
    };
    st.next_extension_id += 1;
    let body =
        json!({"data": {"appExtension": {"createAppExtension": {"appExtension": ext.to_json()}}}});
    st.extensions.push(ext);
    respond::json(200, &body)
}

/// The extension id from `variables.input.id`, else the first inline `"bc/store/appExtension/N"`.
fn target_id(input: Option<&Map<String, Value>>, query: &str) -> Option<String> {
    if let Some(id) = input.and_then(|i| i.get("id")).and_then(Value::as_str) {
        return Some(id.to_owned());
    }
    let start = query.find(ID_PREFIX)?;
    let rest = &query[start..];
    let end = rest.find('"').unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

fn position(st: &State, auth: &Auth, id: &str) -> Option<usize> {
    st.extensions.iter().position(|e| {
        e.id == id && e.store_hash == auth.store_hash && e.client_id == auth.client_id
    })
}

fn update(st: &mut State, auth: &Auth, input: Option<&Map<String, Value>>, query: &str) -> Resp {
    let Some(id) = target_id(input, query) else {
        return gql_error("input.id is required");
    };
    let Some(idx) = position(st, auth, &id) else {
        return gql_error(&format!("App extension with id {id} was not found"));
    };
    let Some(data) = input.and_then(|i| i.get("data")).and_then(Value::as_object) else {
        return gql_error("input.data is required");
    };
    if !data.contains_key("url") && !data.contains_key("label") {
        return gql_error("input.data needs url or label");
    }
    let url = match data.get("url") {
        None => None,
        Some(v) => match validate_url(Some(v)) {
            Ok(u) => Some(u),
            Err(e) => return gql_error(&e),
        },
    };
    let label = match data.get("label") {
        None => None,
        Some(v) => match validate_label(Some(v)) {
            Ok(l) => Some(l),
            Err(e) => return gql_error(&e),
        },
    };
    let ext = &mut st.extensions[idx];
    if let Some(u) = url {
        ext.url = u;
    }
    if let Some((default, locales)) = label {
        ext.label_default = default;
        ext.label_locales = locales;
    }
    respond::json(
        200,
        &json!({"data": {"appExtension": {"updateAppExtension": {"appExtension": ext.to_json()}}}}),
    )
}

fn delete(st: &mut State, auth: &Auth, input: Option<&Map<String, Value>>, query: &str) -> Resp {
    let Some(id) = target_id(input, query) else {
        return gql_error("input.id is required");
    };
    let Some(idx) = position(st, auth, &id) else {
        return gql_error(&format!("App extension with id {id} was not found"));
    };
    let ext = st.extensions.remove(idx);
    respond::json(
        200,
        &json!({"data": {"appExtension": {"deleteAppExtension": {"deletedAppExtensionId": ext.id}}}}),
    )
}
