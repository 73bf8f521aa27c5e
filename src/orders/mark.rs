//! The app's record of a seQura payment on the BigCommerce order itself: its private
//! (`app_only`) metafield `sequra`/`payment`, written before seQura's notification is answered
//! and again by the placement. BigCommerce keeps it whatever becomes of the app's database, so
//! a database restored to an earlier point finds there the payments it lost
//! (`orders::recover`).

use serde::{Deserialize, Serialize};

use crate::bigcommerce::client::{BcError, StoreApi};
use crate::db;
use crate::db::solicitations::{Attempt, Solicitation, SolicitationState};
use crate::domain::StoreHash;
use crate::state::AppState;

/// The metafield's namespace and key.
pub const NAMESPACE: &str = "sequra";
pub const KEY: &str = "payment";

/// What the metafield holds (JSON): the seQura order that pays (or paid) the BigCommerce order,
/// its outcome, and what every later call for it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMark {
    /// seQura's order reference (uuid).
    pub reference: String,
    /// `approved`, `on_hold` or `cancelled`: the outcome the app confirmed to seQura (written
    /// before the confirmation is sent), or seQura's cancellation.
    pub state: String,
    pub deployment: String,
    pub environment: String,
    pub merchant_ref: String,
    pub product: String,
    #[serde(default)]
    pub campaign: Option<String>,
    /// The method's title, as the order's payment method shows it.
    pub method: String,
    /// The outcome whose status the order was given (the placement writes it after the
    /// status): a placement run again after a restore leaves the status alone.
    #[serde(default)]
    pub placed: Option<String>,
}

impl PaymentMark {
    /// The mark of attempt `a` reaching `state`.
    pub fn of(a: &Attempt, state: SolicitationState) -> Self {
        Self {
            reference: a.sequra_uuid.clone().unwrap_or_default(),
            state: state.as_str().to_string(),
            deployment: a.deployment.clone(),
            environment: a.environment.clone(),
            merchant_ref: a.merchant_ref.clone(),
            product: a.product.clone(),
            campaign: a.campaign.clone(),
            method: a.method_title.clone(),
            placed: None,
        }
    }

    /// The mark of the solicitation's own seQura order, in its state.
    pub fn of_solicitation(s: &Solicitation) -> Self {
        Self {
            reference: s.sequra_uuid.clone().unwrap_or_default(),
            state: s.state.as_str().to_string(),
            deployment: s.deployment.clone().unwrap_or_else(|| "sequra".into()),
            environment: s.environment.clone().unwrap_or_default(),
            merchant_ref: s.merchant_ref.clone().unwrap_or_default(),
            product: s.product.clone().unwrap_or_default(),
            campaign: s.campaign.clone(),
            method: s.method_title.clone().unwrap_or_default(),
            placed: None,
        }
    }

    /// The outcome it records, when it is one a payment can reach.
    pub fn outcome(&self) -> Option<SolicitationState> {
        match self.state.as_str() {
            "approved" => Some(SolicitationState::Approved),
            "on_hold" => Some(SolicitationState::OnHold),
            "cancelled" => Some(SolicitationState::Cancelled),
            _ => None,
        }
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A stored value, when it is one of the app's marks.
    pub fn parse(value: &str) -> Option<Self> {
        serde_json::from_str::<Self>(value)
            .ok()
            .filter(|m| !m.reference.is_empty() && m.outcome().is_some())
    }
}

/// Writes the mark of solicitation `s` on its BigCommerce order before seQura's outcome is
/// confirmed and its notification answered (one create, or an update when the order has one),
/// and records that the order carries it. An error means BigCommerce could not take it now:
/// the caller answers seQura "later" rather than confirm a payment nothing outside the
/// database records (the notification already needs BigCommerce, to see the cart unpaid).
pub async fn write_before_answer(
    state: &AppState,
    store: &StoreHash,
    s: &Solicitation,
    mark: &PaymentMark,
) -> Result<(), crate::error::AppError> {
    let api = crate::stores::lifecycle::store_api(state, store).await?;
    let (order, value) = (s.bc_order_id.0, mark.to_json());
    if s.marked_for.is_some() {
        // The order carries a mark already (the review's): updated, in two calls not three.
        api.put_order_metafield(order, NAMESPACE, KEY, &value)
            .await?;
    } else {
        api.create_order_metafield(order, NAMESPACE, KEY, &value)
            .await?;
    }
    recorded(state, s.id, mark).await;
    Ok(())
}

/// Writes the mark (only when the order does not carry it already), and records it.
pub async fn write(
    state: &AppState,
    api: &StoreApi,
    s: &Solicitation,
    mark: &PaymentMark,
) -> Result<(), BcError> {
    api.put_order_metafield(s.bc_order_id.0, NAMESPACE, KEY, &mark.to_json())
        .await?;
    recorded(state, s.id, mark).await;
    Ok(())
}

/// The order's mark, if it carries one of the app's.
pub async fn read(api: &StoreApi, order: u64) -> Result<Option<PaymentMark>, BcError> {
    Ok(api
        .order_metafield(order, NAMESPACE, KEY)
        .await?
        .as_deref()
        .and_then(PaymentMark::parse))
}

async fn recorded(state: &AppState, sid: i64, mark: &PaymentMark) {
    let Some(outcome) = mark.outcome() else {
        return;
    };
    if let Err(e) = state
        .db
        .call(move |c| db::solicitations::marked(c, sid, outcome))
        .await
    {
        tracing::warn!(error = %e, "could not record the payment's mark");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_reads_back_and_anything_else_is_none() {
        let mark = PaymentMark {
            reference: "d168f9bc".into(),
            state: "approved".into(),
            deployment: "sequra".into(),
            environment: "sandbox".into(),
            merchant_ref: "dummy".into(),
            product: "i1".into(),
            campaign: None,
            method: "Paga Después".into(),
            placed: None,
        };
        assert_eq!(PaymentMark::parse(&mark.to_json()), Some(mark.clone()));
        assert_eq!(mark.outcome(), Some(SolicitationState::Approved));
        // The reference metafield of earlier versions held the bare uuid.
        assert_eq!(PaymentMark::parse("d168f9bc"), None);
        let solicited = PaymentMark {
            state: "solicited".into(),
            ..mark
        };
        assert_eq!(PaymentMark::parse(&solicited.to_json()), None);
    }
}
