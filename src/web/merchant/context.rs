//! Who is asking: the merchant behind a session token, and the context every page shares.

use serde::Serialize;
use warp::http::StatusCode;

use crate::bigcommerce::signed_payload::unix_now;
use crate::db::{stores, users};
use crate::domain::{StoreHash, UserId};
use crate::error::{AppError, Public};
use crate::i18n::Lang;
use crate::state::AppState;
use crate::web::respond::{Page, html_page};

/// An authenticated merchant user, with a fresh session token for the links of the page.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub store: StoreHash,
    pub lang: Lang,
    pub store_name: String,
    /// A newly issued token: every rendered page extends the session.
    pub session: String,
    /// A translated notice to show once (after a redirect: "saved", "connected", …).
    pub notice: Option<String>,
}

impl Merchant {
    /// Checks the token, then that its store is still installed and its user not removed.
    pub async fn authenticate(state: &AppState, token: Option<String>) -> Result<Self, AppError> {
        let token = token.ok_or_else(|| AppError::Unauthorized(Public::new("err_no_session")))?;
        let session = state
            .sessions
            .verify(&token, unix_now())
            .map_err(|e| AppError::Unauthorized(Public::new(e.message_key())))?;
        Self::for_user(state, &session.store, session.user)
            .await?
            .ok_or_else(|| AppError::Unauthorized(Public::new("err_session_gone")))
    }

    /// The merchant context of a known user of an installed store (after a verified load or
    /// install), or None when either is gone.
    pub async fn for_user(
        state: &AppState,
        store: &StoreHash,
        user: UserId,
    ) -> Result<Option<Self>, AppError> {
        tracing::Span::current().record("store_hash", store.as_str());
        let hash = store.clone();
        let found = state
            .db
            .call(move |conn| {
                let Some(s) = stores::get_installed(conn, &hash)? else {
                    return Ok(None);
                };
                let user = users::get(conn, &hash, user)?;
                Ok(user.map(|u| (s, u)))
            })
            .await?;
        Ok(found.map(|(s, u)| Merchant {
            store: store.clone(),
            lang: Lang::from_locale(u.locale.as_deref()),
            store_name: s.store_name.unwrap_or_else(|| store.to_string()),
            session: state.sessions.issue(store, user, unix_now()),
            notice: None,
        }))
    }

    /// Renders a merchant page: the shared context (catalog, session, store, active nav item)
    /// merged with the page's own.
    pub fn render(
        &self,
        state: &AppState,
        status: StatusCode,
        template: &str,
        active: &str,
        page: impl Serialize,
    ) -> Page {
        let ctx = minijinja::context! {
            i18n => minijinja::value::Serde(state.i18n.catalog(self.lang)),
            lang => self.lang.code(),
            session => &self.session,
            store_name => &self.store_name,
            active => active,
            notice => &self.notice,
            ..minijinja::Value::from(minijinja::value::Serde(page))
        };
        html_page(state, status, template, ctx)
    }

    /// Shows the notice named by `?notice=` (unknown names show nothing).
    pub fn with_notice(mut self, state: &AppState, name: Option<&str>) -> Self {
        let key = match name {
            Some("saved") => "notice_saved",
            Some("connected") => "notice_connected",
            Some("disconnected") => "notice_disconnected",
            Some("refreshed") => "notice_refreshed",
            _ => return self,
        };
        self.notice = Some(state.i18n.t(self.lang, key).to_string());
        self
    }
}
