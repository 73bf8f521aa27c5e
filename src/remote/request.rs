//! Reading a topic's flat request: each field typed as seQura's core types it, a field of the
//! wrong type refused by name, and the page of the three paged topics clamped as the core does.
//! A field that is absent or `null` is `None`: the topics read that as "unchanged".

use serde_json::{Map, Value};

use super::error::TopicError;
use crate::i18n::{Catalogs, Lang};
use crate::onboarding::FormErrors;

/// A field of the wrong type.
pub fn wrong_type(name: &str) -> TopicError {
    let mut e = TopicError::invalid(
        "general.errors.invalidField",
        format!("The field '{name}' has the wrong type."),
    );
    e.parameters = vec![name.to_string()];
    e
}

fn present<'a>(req: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    req.get(name).filter(|v| !v.is_null())
}

pub fn bool_field(req: &Map<String, Value>, name: &str) -> Result<Option<bool>, TopicError> {
    match present(req, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(wrong_type(name)),
    }
}

pub fn string_field(req: &Map<String, Value>, name: &str) -> Result<Option<String>, TopicError> {
    match present(req, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong_type(name)),
    }
}

/// A whole number, sent as a JSON number or a numeric string (PHP's core casts either).
pub fn int_field(req: &Map<String, Value>, name: &str) -> Result<Option<i64>, TopicError> {
    match present(req, name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| wrong_type(name)),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| wrong_type(name)),
        Some(_) => Err(wrong_type(name)),
    }
}

/// A list of at most `max` items; `None` when absent (or null: unchanged).
fn array<'a>(
    req: &'a Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Option<&'a Vec<Value>>, TopicError> {
    let Some(v) = present(req, name) else {
        return Ok(None);
    };
    let Value::Array(items) = v else {
        return Err(wrong_type(name));
    };
    if items.len() > max {
        return Err(too_many(name, max));
    }
    Ok(Some(items))
}

/// A list of strings, at most `max` of them.
pub fn string_list(
    req: &Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Option<Vec<String>>, TopicError> {
    let Some(items) = array(req, name, max)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|i| {
            i.as_str()
                .map(str::to_string)
                .ok_or_else(|| wrong_type(name))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A list of catalog ids (numbers or numeric strings, as the core's ids are strings), each
/// once, at most `max` of them.
pub fn id_list(
    req: &Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Option<Vec<u64>>, TopicError> {
    let Some(items) = array(req, name, max)? else {
        return Ok(None);
    };
    let mut out: Vec<u64> = Vec::with_capacity(items.len());
    for i in items {
        let id = match i {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            // The core's get answers `{id, name}`: an item sent back as it came is its id.
            Value::Object(o) => o.get("id").and_then(|id| match id {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }),
            _ => None,
        };
        match id {
            Some(id) if id > 0 => {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
            _ => return Err(wrong_type(name)),
        }
    }
    Ok(Some(out))
}

fn too_many(name: &str, max: usize) -> TopicError {
    let mut e = TopicError::invalid(
        "general.errors.tooManyItems",
        format!("The field '{name}' holds more than {max} items."),
    );
    e.parameters = vec![name.to_string()];
    e
}

/// The most items a page of the paged topics holds: BigCommerce pages hold 250 at most, and a
/// page of a few dozen is what seQura's pickers show.
pub const MAX_PAGE_LIMIT: u32 = 100;

/// `page` (1), `limit` (10) and `search` ("") of the paged topics: page and limit at least 1
/// (as the core clamps them), limit at most [`MAX_PAGE_LIMIT`], search cut to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    pub page: u32,
    pub limit: u32,
    pub search: String,
}

impl Paging {
    pub fn of(req: &Map<String, Value>) -> Result<Self, TopicError> {
        let clamp = |v: Option<i64>, default: i64, max: u32| {
            u32::try_from(v.unwrap_or(default).clamp(1, i64::from(max))).unwrap_or(1)
        };
        Ok(Self {
            page: clamp(int_field(req, "page")?, 1, 1_000_000),
            limit: clamp(int_field(req, "limit")?, 10, MAX_PAGE_LIMIT),
            search: string_field(req, "search")?
                .unwrap_or_default()
                .trim()
                .chars()
                .take(100)
                .collect(),
        })
    }

    /// The items of this page of `all`.
    pub fn slice<T: Clone>(&self, all: &[T]) -> Vec<T> {
        let start = (self.page as usize - 1).saturating_mul(self.limit as usize);
        all.iter()
            .skip(start)
            .take(self.limit as usize)
            .cloned()
            .collect()
    }
}

/// The page's validation errors in seQura's body: `code`, the English messages, and the
/// names of the fields at fault as seQura names them (`field_name` maps the page's names).
pub fn form_error(
    i18n: &Catalogs,
    code: &'static str,
    errors: &FormErrors,
    field_name: impl Fn(&str) -> String,
) -> TopicError {
    let tr = |m: &crate::onboarding::Msg| {
        i18n.tf(
            Lang::En,
            &m.key,
            &[("value", m.value.as_deref().unwrap_or(""))],
        )
    };
    let mut parts = Vec::new();
    let mut fields = Vec::new();
    if let Some(g) = &errors.general {
        parts.push(tr(g));
    }
    for (field, m) in &errors.fields {
        let name = field_name(field);
        parts.push(format!("{name}: {}", tr(m)));
        if !fields.contains(&name) {
            fields.push(name);
        }
    }
    let mut e = TopicError::invalid(code, parts.join(" "));
    e.parameters = fields;
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn paging_defaults_and_clamps_as_the_core_does() {
        let p = Paging::of(&req(json!({}))).unwrap();
        assert_eq!((p.page, p.limit, p.search.as_str()), (1, 10, ""));
        let p = Paging::of(&req(json!({"page": -3, "limit": 0, "search": " ES "}))).unwrap();
        assert_eq!((p.page, p.limit, p.search.as_str()), (1, 1, "ES"));
        let p = Paging::of(&req(json!({"page": "2", "limit": 100000}))).unwrap();
        assert_eq!((p.page, p.limit), (2, MAX_PAGE_LIMIT));
        assert!(Paging::of(&req(json!({"page": "two"}))).is_err());
        let p = Paging::of(&req(json!({"page": 2, "limit": 2}))).unwrap();
        assert_eq!(p.slice(&["ES", "FR", "IT", "PT", "DE"]), ["IT", "PT"]);
        let p = Paging::of(&req(json!({"page": 9, "limit": 2}))).unwrap();
        assert!(p.slice(&["ES"]).is_empty());
    }

    #[test]
    fn absent_and_null_are_unchanged_and_a_wrong_type_is_named() {
        let r = req(json!({"a": null, "ids": [3, "4", {"id": "5"}, 3], "bad": [1.5]}));
        assert_eq!(bool_field(&r, "a").unwrap(), None);
        assert_eq!(string_list(&r, "missing", 5).unwrap(), None);
        assert_eq!(id_list(&r, "ids", 10).unwrap(), Some(vec![3, 4, 5]));
        let e = id_list(&r, "bad", 10).unwrap_err();
        assert_eq!(
            (e.status, e.parameters.clone()),
            (400, vec!["bad".to_string()])
        );
        assert!(id_list(&r, "ids", 2).is_err(), "too many");
        assert!(bool_field(&req(json!({"b": "yes"})), "b").is_err());
    }
}
