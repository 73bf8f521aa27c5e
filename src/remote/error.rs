//! seQura's error body for every refusal of the configuration webhook, and the app's own
//! failures in that shape (the lowest piece of `remote`: the webhook and every topic use it).

use std::borrow::Cow;

use serde_json::{Value, json};

use crate::error::AppError;

/// The largest body read, once the signature is good: banners carry base64 images of up to
/// 3 MiB each (seQura's limit), one per selling country (six at most), and a little more.
pub const MAX_BODY: usize = 6 * 3 * 1024 * 1024 + 1024 * 1024;

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

    /// What the request would change kept changing under it (the merchant saving meanwhile).
    pub fn conflict(code: &'static str) -> Self {
        Self::new(
            409,
            code,
            "The settings kept changing while this request was handled; send it again.",
        )
    }

    pub fn too_many() -> Self {
        Self::new(
            429,
            "general.errors.tooManyRequests",
            "Too many requests; try again in a minute.",
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
            AppError::Busy { .. } | AppError::Upstream(_) | AppError::TooManyRequests => {
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

/// Logs an internal failure (its detail stays in the log) and turns it into seQura's shape.
pub fn fault(e: AppError) -> TopicError {
    if e.is_fault() {
        tracing::error!(error = %e, "seQura remote configuration failed");
    } else {
        tracing::warn!(error = %e, "seQura remote configuration could not be answered");
    }
    TopicError::from(e)
}
