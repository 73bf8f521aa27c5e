//! What seQura does when a shopper completes the form (spec §6, §14.7): the IPN to
//! `merchant.notify_url`, the review outcome, and the events webhook for cancellations.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::methods::{self, Unavailable};
use super::state::OrderState;
use super::{Notification, Shared, ShopperProfile};

/// User-Agent of the events webhook (spec §6.6).
pub(crate) const EVENT_USER_AGENT: &str = "seQura-Event/1.0 (www.sequra.es)";
/// User-Agent of IPNs: undocumented [U], chosen to match the events webhook's.
pub(crate) const IPN_USER_AGENT: &str = "seQura-IPN/1.0 (www.sequra.es)";

/// How the review outcome of `ReviewApprove` / `ReviewCancel` is delivered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FollowUp {
    /// Delivered before returning (tests).
    Await,
    /// Delivered by a background task (the browser is redirected meanwhile).
    Spawn,
}

/// Why a form cannot be completed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CompleteError {
    #[error("there is no such order")]
    UnknownOrder,
    #[error("the identification form of this order was already completed")]
    AlreadyCompleted,
    #[error("the order is {0} and no longer awaits the identification form")]
    NotAwaiting(&'static str),
    #[error("the merchant does not offer product {0}")]
    UnknownProduct(String),
    #[error("product {0} is not offered for this order (amount limits or validity dates)")]
    NotForThisOrder(String),
    #[error("the order has no merchant.notify_url to notify")]
    NoNotifyUrl,
}

fn success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// String→string pairs of a parameters object, in order.
fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = v
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Shared {
    /// Checks that the order awaits the form with an offered product, and marks it completed.
    fn begin(
        &self,
        uuid: &str,
        product: &str,
        campaign: Option<&str>,
    ) -> Result<(), CompleteError> {
        let mut st = self.lock();
        let order = st.order(uuid).ok_or(CompleteError::UnknownOrder)?;
        if order.completed.is_some() {
            return Err(CompleteError::AlreadyCompleted);
        }
        if order.state != OrderState::Solicited {
            return Err(CompleteError::NotAwaiting(order.state.as_str()));
        }
        if order.solicited_str("merchant", "notify_url").is_none() {
            return Err(CompleteError::NoNotifyUrl);
        }
        let categories = st
            .merchant(order.host, &order.username, &order.merchant_ref)
            .map(|m| m.methods.clone())
            .unwrap_or_default();
        let offer = methods::choose(
            &categories,
            product,
            campaign,
            order.amount,
            crate::clock::now(),
        )
        .map_err(|e| match e {
            Unavailable::Unknown => CompleteError::UnknownProduct(product.to_owned()),
            Unavailable::NotForThisOrder => CompleteError::NotForThisOrder(product.to_owned()),
        })?;
        if let Some(order) = st.order_mut(uuid) {
            order.completed = Some((offer.product, offer.campaign));
        }
        Ok(())
    }

    /// Completes the form and notifies the shop; see `SequraStandIn::complete_form`.
    pub(crate) async fn complete(
        self: &Arc<Self>,
        uuid: &str,
        product: &str,
        campaign: Option<&str>,
        profile: ShopperProfile,
        follow_up: FollowUp,
    ) -> Result<Vec<Notification>, CompleteError> {
        self.begin(uuid, product, campaign)?;
        let first = match profile {
            ShopperProfile::Approve => "approved",
            ShopperProfile::ReviewApprove | ShopperProfile::ReviewCancel => "needs_review",
        };
        let n1 = self.send_ipn(uuid, first).await;
        if !success(n1.status) || profile == ShopperProfile::Approve {
            return Ok(vec![n1]);
        }
        match follow_up {
            FollowUp::Await => {
                let mut all = vec![n1];
                all.extend(self.review_outcome(uuid, profile).await);
                Ok(all)
            }
            FollowUp::Spawn => {
                let shared = self.clone();
                let uuid = uuid.to_owned();
                tokio::spawn(async move {
                    shared.review_outcome(&uuid, profile).await;
                });
                Ok(vec![n1])
            }
        }
    }

    /// After the review delay: IPN `approved`, or cancellation with the events webhook.
    async fn review_outcome(&self, uuid: &str, profile: ShopperProfile) -> Option<Notification> {
        let delay = self.lock().review_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let has_webhook = {
            let mut st = self.lock();
            let order = st.order_mut(uuid)?;
            if order.state == OrderState::Cancelled {
                return None;
            }
            if profile == ShopperProfile::ReviewCancel {
                order.state = OrderState::Cancelled;
                order.sq_state = Some(("cancelled".to_owned(), Instant::now()));
            }
            order
                .solicited
                .get("merchant")
                .and_then(|m| m.get("events_webhook"))
                .and_then(|w| w.get("url"))
                .and_then(Value::as_str)
                .is_some()
        };
        Some(match profile {
            ShopperProfile::ReviewCancel if has_webhook => self.send_event(uuid, "cancelled").await,
            ShopperProfile::ReviewCancel => self.send_ipn(uuid, "cancelled").await,
            _ => self.send_ipn(uuid, "approved").await,
        })
    }

    /// Records a delivery on the order; a 409 or 410 answer to an IPN cancels it.
    fn record_delivery(&self, uuid: &str, n: &Notification) {
        let mut st = self.lock();
        if let Some(order) = st.order_mut(uuid) {
            if n.kind == "ipn" && matches!(n.status, 409 | 410) {
                order.state = OrderState::Cancelled;
            }
            order.notifications.push(n.clone());
        }
    }

    /// POSTs an IPN (spec §6.2): `order_ref, product_code, sq_state, {state}_since,
    /// order_ref_1` (when known) and the notification parameters (plain, or `m_`-prefixed
    /// when switched on), form-encoded, to `notify_url` with its own query kept.
    async fn send_ipn(&self, uuid: &str, sq_state: &str) -> Notification {
        let (url, fields) = {
            let mut st = self.lock();
            let prefixed = st.prefixed;
            let Some(order) = st.order_mut(uuid) else {
                return Notification {
                    kind: "ipn".into(),
                    state: sq_state.into(),
                    url: String::new(),
                    fields: Vec::new(),
                    status: 0,
                };
            };
            let since = match &order.sq_state {
                Some((s, at)) if s == sq_state => at.elapsed().as_secs(),
                _ => 0,
            };
            if order.sq_state.as_ref().is_none_or(|(s, _)| s != sq_state) {
                order.sq_state = Some((sq_state.to_owned(), Instant::now()));
            }
            let mut fields = vec![
                ("order_ref".to_owned(), order.uuid.clone()),
                (
                    "product_code".to_owned(),
                    order
                        .completed
                        .as_ref()
                        .map(|(p, _)| p.clone())
                        .unwrap_or_default(),
                ),
                ("sq_state".to_owned(), sq_state.to_owned()),
            ];
            if sq_state != "cancelled" {
                fields.push((format!("{sq_state}_since"), since.to_string()));
            }
            if let Some(r1) = &order.order_ref_1 {
                fields.push(("order_ref_1".to_owned(), r1.clone()));
            }
            let params = pairs(
                order
                    .solicited
                    .get("merchant")
                    .and_then(|m| m.get("notification_parameters")),
            );
            for (k, v) in params {
                let k = if prefixed { format!("m_{k}") } else { k };
                fields.push((k, v));
            }
            let url = order
                .solicited_str("merchant", "notify_url")
                .unwrap_or_default();
            (url, fields)
        };
        let status = self
            .http
            .post(&url)
            .header("user-agent", IPN_USER_AGENT)
            .form(&fields)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        tracing::debug!(%uuid, sq_state, status, "seQura stand-in delivered an IPN");
        let n = Notification {
            kind: "ipn".into(),
            state: sq_state.into(),
            url,
            fields,
            status,
        };
        self.record_delivery(uuid, &n);
        n
    }

    /// POSTs the events webhook (spec §6.6): `charset, utf8, event, order_ref_1, order_ref_2,
    /// order_ref` and `m_`-prefixed `events_webhook.parameters`.
    async fn send_event(&self, uuid: &str, event: &str) -> Notification {
        let (url, fields) = {
            let st = self.lock();
            let Some(order) = st.order(uuid) else {
                return Notification {
                    kind: "event".into(),
                    state: event.into(),
                    url: String::new(),
                    fields: Vec::new(),
                    status: 0,
                };
            };
            let hook = order
                .solicited
                .get("merchant")
                .and_then(|m| m.get("events_webhook"));
            let url = hook
                .and_then(|h| h.get("url"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let mut fields = vec![
                ("charset".to_owned(), "UTF-8".to_owned()),
                ("utf8".to_owned(), "√".to_owned()),
                ("event".to_owned(), event.to_owned()),
                (
                    "order_ref_1".to_owned(),
                    order.order_ref_1.clone().unwrap_or_default(),
                ),
                (
                    "order_ref_2".to_owned(),
                    order.order_ref_2.clone().unwrap_or_default(),
                ),
                ("order_ref".to_owned(), order.uuid.clone()),
            ];
            for (k, v) in pairs(hook.and_then(|h| h.get("parameters"))) {
                fields.push((format!("m_{k}"), v));
            }
            (url, fields)
        };
        let status = self
            .http
            .post(&url)
            .header("user-agent", EVENT_USER_AGENT)
            .header("accept", "application/json")
            .form(&fields)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        tracing::debug!(%uuid, event, status, "seQura stand-in delivered an event");
        let n = Notification {
            kind: "event".into(),
            state: event.into(),
            url,
            fields,
            status,
        };
        self.record_delivery(uuid, &n);
        n
    }
}
