//! The app's one error type and its HTTP status codes, mapped in one place. 5xx errors are
//! logged in full and answered with an opaque message; 4xx carry a message for people: a key
//! of the i18n catalog, translated when the page is rendered, and an optional detail.

use std::fmt;

use warp::http::StatusCode;

use crate::bigcommerce::client::BcError;
use crate::db::DbError;

/// A message meant for the person: a catalog key and a `{detail}` to fill in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Public {
    pub key: &'static str,
    pub detail: Option<String>,
}

impl Public {
    pub fn new(key: &'static str) -> Self {
        Self { key, detail: None }
    }

    pub fn with(key: &'static str, detail: impl fmt::Display) -> Self {
        Self {
            key,
            detail: Some(detail.to_string()),
        }
    }
}

impl fmt::Display for Public {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(d) => write!(f, "{} ({d})", self.key),
            None => f.write_str(self.key),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed; the message says what to fix.
    #[error("bad request: {0}")]
    BadRequest(Public),
    /// Not authenticated (bad or expired signed payload or session).
    #[error("unauthorized: {0}")]
    Unauthorized(Public),
    /// Authenticated, but not allowed (e.g. the store is not installed).
    #[error("forbidden: {0}")]
    Forbidden(Public),
    #[error("not found")]
    NotFound,
    /// Too many requests from one shopper or for one checkout.
    #[error("too many requests")]
    TooManyRequests,
    /// BigCommerce asks us to wait (its rate limit, or the store's quota is down to the job
    /// queue's reserve): 503 with `Retry-After`, a moment's wait, not a fault.
    #[error("busy upstream; retry in {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
    /// BigCommerce or seQura did not do what we asked; the detail is safe to show.
    #[error("upstream: {0}")]
    Upstream(Public),
    /// Anything else: logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            AppError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the person is told, as a catalog message.
    pub fn public(&self) -> Public {
        match self {
            AppError::BadRequest(p)
            | AppError::Unauthorized(p)
            | AppError::Forbidden(p)
            | AppError::Upstream(p) => p.clone(),
            AppError::NotFound => Public::new("err_not_found"),
            AppError::TooManyRequests => Public::new("err_too_many_requests"),
            AppError::Busy { .. } => Public::new("err_busy"),
            AppError::Internal(_) => Public::new("err_internal"),
        }
    }

    /// Whether the failure is ours to investigate (logged at ERROR): not a refusal, not an
    /// upstream's answer, not a wait we were asked for.
    pub fn is_fault(&self) -> bool {
        matches!(self, AppError::Internal(_))
    }

    /// The `Retry-After` seconds to send with the answer, when there is a known wait.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AppError::Busy { retry_after_secs } => Some(*retry_after_secs),
            // The limits' windows are a minute long: at most that.
            AppError::TooManyRequests => Some(60),
            _ => None,
        }
    }

    /// The store is not (or no longer) installed.
    pub fn not_installed() -> Self {
        AppError::Forbidden(Public::new("err_not_installed"))
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        AppError::Internal(anyhow::Error::new(e))
    }
}

impl From<BcError> for AppError {
    fn from(e: BcError) -> Self {
        match e {
            BcError::RateLimited { retry_after_ms } => AppError::Busy {
                retry_after_secs: retry_after_ms.div_ceil(1000).max(1),
            },
            BcError::CallerLimited => AppError::TooManyRequests,
            e => AppError::Upstream(Public::with("err_bigcommerce", e)),
        }
    }
}
