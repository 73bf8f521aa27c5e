//! The app's one error type and its HTTP status codes, mapped in one place. 5xx errors are
//! logged in full and answered with an opaque message; 4xx carry a message meant for people.

use warp::http::StatusCode;

use crate::bigcommerce::client::BcError;
use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed; the text says what to fix.
    #[error("{0}")]
    BadRequest(String),
    /// Not authenticated (bad or expired signed payload or session).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed (e.g. the store is not installed).
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    /// BigCommerce (or later seQura) did not do what we asked; the text is safe to show.
    #[error("{0}")]
    Upstream(String),
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
            AppError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the person sees.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => {
                "Something went wrong on our side. Please try again in a moment.".into()
            }
            AppError::NotFound => "This page does not exist.".into(),
            other => other.to_string(),
        }
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        AppError::Internal(anyhow::Error::new(e))
    }
}

impl From<BcError> for AppError {
    fn from(e: BcError) -> Self {
        AppError::Upstream(e.to_string())
    }
}
