//! seQura's configuration webhook: `POST {public_url}/sequra/configuration?storeId=…&signature=…`,
//! a flat JSON object whose `topic` names what seQura asks for. Checked in seQura's core's
//! order: the signature (before anything else is read: the body is not even received), then
//! `topic` present, then known, then the topic's own validation. Every refusal is seQura's
//! four-field error body with a 4xx; a topic that writes does so atomically or not at all.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::{signature, topics};
use crate::db;
use crate::domain::StoreHash;
use crate::error::AppError;
use crate::state::AppState;

/// The largest body read, once the signature is good: banners carry base64 images of up to
/// 3 MiB each (seQura's limit), one per selling country.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// A refusal in seQura's shape: `{statusCode, errorCode, errorMessage, errorParameters}`,
/// answered with `status`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicError {
    /// The HTTP status (seQura's core leaves it to the platform; ours are always 4xx but for
    /// our own faults).
    pub status: u16,
    pub code: Cow<'static, str>,
    pub message: String,
    pub parameters: Vec<String>,
}

impl TopicError {
    /// A domain validation failure: seQura's `general.errors.…` code and its message.
    pub fn invalid(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    fn new(status: u16, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            parameters: Vec::new(),
        }
    }

    /// No connection of the store signs this URL (or no such store).
    pub fn signature() -> Self {
        Self::new(
            401,
            "webhook.signature.validation.failed",
            "Webhook signature validation failed.",
        )
    }

    /// The merchant turned remote configuration off for the store.
    pub fn disabled() -> Self {
        Self::new(
            403,
            "webhook.remote.configuration.disabled",
            "The merchant has turned remote configuration off for this store.",
        )
    }

    /// No `topic`, or a body that is not a JSON object (read as an empty one, as seQura's
    /// plugins do).
    pub fn topic_missing() -> Self {
        Self::new(400, "TOPIC_MISSING", "The topic field is required.")
    }

    pub fn unknown_topic(topic: &str) -> Self {
        Self::new(
            400,
            "UNKNOWN_TOPIC",
            format!("Unknown or unsupported topic: {}", escape_html(topic)),
        )
    }

    pub fn too_large() -> Self {
        Self::new(
            413,
            "general.errors.requestTooLarge",
            format!("The request body is larger than {MAX_BODY} bytes."),
        )
    }

    /// seQura's error body.
    pub fn body(&self) -> Value {
        json!({
            "statusCode": 0,
            "errorCode": self.code,
            "errorMessage": self.message,
            "errorParameters": self.parameters,
        })
    }
}

impl From<AppError> for TopicError {
    /// The app's own failures: a wait BigCommerce asked for is a 503 seQura can retry; a fault
    /// is logged by the caller and answered without its detail.
    fn from(e: AppError) -> Self {
        let status = e.status().as_u16();
        let message = match &e {
            AppError::Busy { .. } | AppError::Upstream(_) => {
                "The store's platform is busy or unavailable; try again later."
            }
            _ => "Unhandled error occurred.",
        };
        Self::new(status, "general.errors.unknown", message)
    }
}

/// The topic named in an error message is seQura's text shown in an admin page.
fn escape_html(s: &str) -> String {
    let s: String = s.chars().take(100).collect();
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#039;")
}

/// The store the URL names, when one of its seQura connections signs it and its merchant lets
/// seQura configure it. Nothing else is read before this passes.
pub async fn authorise(
    state: &AppState,
    store_id: Option<&str>,
    given: Option<&str>,
) -> Result<StoreHash, TopicError> {
    let (Some(store_id), Some(given)) = (store_id, given) else {
        return Err(TopicError::signature());
    };
    let Ok(store) = StoreHash::parse(store_id) else {
        return Err(TopicError::signature());
    };
    let key = state.key.clone();
    let hash = store.clone();
    let found = state
        .db
        .call(move |conn| {
            if db::stores::get_installed(conn, &hash)?.is_none() {
                return Ok(None);
            }
            let mut passwords = Vec::new();
            for c in db::sequra::connections(conn, &hash)? {
                if let Some(p) = db::sequra::password(conn, &key, &hash, &c.deployment)? {
                    passwords.push(p);
                }
            }
            Ok(Some((passwords, db::remote::enabled(conn, &hash)?)))
        })
        .await
        .map_err(|e| fault(AppError::from(e)))?;
    let Some((passwords, enabled)) = found else {
        return Err(TopicError::signature());
    };
    if !signature::verify(&store, given, &passwords) {
        return Err(TopicError::signature());
    }
    if !enabled {
        return Err(TopicError::disabled());
    }
    Ok(store)
}

/// What the authorised `store`'s request asks for, answered.
pub async fn answer(state: &AppState, store: &StoreHash, body: &[u8]) -> Result<Value, TopicError> {
    // Anything but a JSON object reads as an empty one: no topic.
    let request: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let topic = match request.get("topic") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.trim().to_string(),
        _ => return Err(TopicError::topic_missing()),
    };
    let outcome = topics::dispatch(state, store, &topic, &request).await;
    match &outcome {
        Ok(_) => tracing::info!(
            topic = topic.as_str(),
            "seQura remote configuration answered"
        ),
        Err(e) if e.status >= 500 => {}
        Err(e) => tracing::info!(
            topic = topic.as_str(),
            error = e.code.as_ref(),
            "seQura remote configuration refused"
        ),
    }
    outcome
}

/// Logs an internal failure (its detail stays in the log) and turns it into seQura's shape.
pub fn fault(e: AppError) -> TopicError {
    if e.is_fault() {
        tracing::error!(error = %e, "seQura remote configuration failed");
    } else {
        tracing::warn!(error = %e, "seQura remote configuration could not be answered");
    }
    TopicError::from(e)
}
