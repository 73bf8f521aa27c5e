//! The `solicitations` aggregate: a shopper's checkout paid with seQura, from the Incomplete
//! BigCommerce order made for it to the seQura order's final state.

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::config::SecretString;
use crate::crypto::SecretsKey;
use crate::domain::{BcOrderId, StoreHash};

/// Where a solicitation is. Moves only forward: created → solicited → on_hold → approved, or
/// to cancelled / rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SolicitationState {
    Created,
    Solicited,
    OnHold,
    Approved,
    Cancelled,
    Rejected,
}

impl SolicitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Solicited => "solicited",
            Self::OnHold => "on_hold",
            Self::Approved => "approved",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Created,
            Self::Solicited,
            Self::OnHold,
            Self::Approved,
            Self::Cancelled,
            Self::Rejected,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Final states: nothing moves the order any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Approved | Self::Cancelled | Self::Rejected)
    }
}

/// One solicitation as stored (the checkout token stays sealed until asked for).
#[derive(Debug, Clone)]
pub struct Solicitation {
    pub id: i64,
    pub store: StoreHash,
    pub checkout_id: String,
    pub checkout_version: i64,
    pub bc_order_id: BcOrderId,
    pub environment: Option<String>,
    pub merchant_ref: Option<String>,
    pub product: Option<String>,
    pub campaign: Option<String>,
    pub method_title: Option<String>,
    pub sequra_uuid: Option<String>,
    pub state: SolicitationState,
    pub shopper_ip: Option<String>,
    pub user_agent: Option<String>,
    /// When the BigCommerce order got seQura's outcome (the IPN follow-up).
    pub placed_at: Option<String>,
    /// The state whose mapped status (and payment details) the BigCommerce order was given.
    pub status_written_for: Option<SolicitationState>,
    /// The status the app gave the order on its own (the mapping said None), while the order
    /// still has it for all the app knows.
    pub default_status_written: Option<u32>,
    /// The status the app set out to write on its own, before BigCommerce answered.
    pub default_status_intended: Option<u32>,
    /// The checkout's storefront channel (V16; `None` before it).
    pub channel_id: Option<u64>,
    /// The deployment (`sequra`, `svea`) it was solicited on, once solicited (V21): every
    /// later call for its order goes there.
    pub deployment: Option<String>,
    /// The state whose mark the BigCommerce order carries (V27; `orders::mark`).
    pub marked_for: Option<SolicitationState>,
}

fn token_context(store: &StoreHash, id: i64) -> String {
    format!("checkout-token:{store}:{id}")
}

const COLUMNS: &str = "id, store_hash, checkout_id, checkout_version, bc_order_id, environment, \
    merchant_ref, product, campaign, method_title, sequra_uuid, state, shopper_ip, user_agent, \
    placed_at, status_written_for, default_status_written, default_status_intended, channel_id, \
    deployment, marked_for";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Solicitation> {
    let store: String = r.get(1)?;
    let state: String = r.get(11)?;
    let bad = |i: usize| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            "invalid stored value".into(),
        )
    };
    Ok(Solicitation {
        id: r.get(0)?,
        store: StoreHash::parse(&store).map_err(|_| bad(1))?,
        checkout_id: r.get(2)?,
        checkout_version: r.get(3)?,
        bc_order_id: BcOrderId(r.get::<_, i64>(4)? as u64),
        environment: r.get(5)?,
        merchant_ref: r.get(6)?,
        product: r.get(7)?,
        campaign: r.get(8)?,
        method_title: r.get(9)?,
        sequra_uuid: r.get(10)?,
        state: SolicitationState::parse(&state).ok_or_else(|| bad(11))?,
        shopper_ip: r.get(12)?,
        user_agent: r.get(13)?,
        placed_at: r.get(14)?,
        status_written_for: r
            .get::<_, Option<String>>(15)?
            .map(|w| SolicitationState::parse(&w).ok_or_else(|| bad(15)))
            .transpose()?,
        default_status_written: r.get(16)?,
        default_status_intended: r.get(17)?,
        channel_id: r.get::<_, Option<i64>>(18)?.map(|c| c as u64),
        deployment: r.get(19)?,
        marked_for: r
            .get::<_, Option<String>>(20)?
            .and_then(|m| SolicitationState::parse(&m)),
    })
}

/// A solicitation to make: the checkout's version, the Incomplete order made from it, the
/// confirmation page's token and the checkout's storefront channel.
#[derive(Debug, Clone, Copy)]
pub struct NewSolicitation<'a> {
    pub checkout_id: &'a str,
    pub version: i64,
    pub order: BcOrderId,
    pub token: Option<&'a SecretString>,
    pub channel_id: Option<u64>,
}

/// The solicitation of this exact checkout version, if one was made.
pub fn for_checkout_version(
    conn: &Connection,
    store: &StoreHash,
    checkout_id: &str,
    version: i64,
) -> Result<Option<Solicitation>, DbError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM solicitations
                 WHERE store_hash = ?1 AND checkout_id = ?2 AND checkout_version = ?3"
            ),
            params![store.as_str(), checkout_id, version],
            from_row,
        )
        .optional()?)
}

/// The solicitation of the checkout (any version of its cart) that seQura approved or holds
/// in review, other than `except`: the checkout's payment, when it has one.
pub fn paid_for_checkout(
    conn: &Connection,
    store: &StoreHash,
    checkout_id: &str,
    except: Option<i64>,
) -> Result<Option<Solicitation>, DbError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM solicitations
                 WHERE store_hash = ?1 AND checkout_id = ?2 AND id IS NOT ?3
                   AND state IN ('approved', 'on_hold')
                 ORDER BY id LIMIT 1"
            ),
            params![store.as_str(), checkout_id, except],
            from_row,
        )
        .optional()?)
}

/// The checkout's newest solicitation (any version of its cart), if it has one.
pub fn latest_for_checkout(
    conn: &Connection,
    store: &StoreHash,
    checkout_id: &str,
) -> Result<Option<Solicitation>, DbError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM solicitations
                 WHERE store_hash = ?1 AND checkout_id = ?2
                 ORDER BY id DESC LIMIT 1"
            ),
            params![store.as_str(), checkout_id],
            from_row,
        )
        .optional()?)
}

/// Gives up the checkout version of a solicitation seQura cancelled or rejected, so that a
/// new one (a new Incomplete order) can pay the same cart: V3 keys solicitations by checkout
/// version, and that key is the only use of the version. The retired one keeps its id, order
/// and attempts (their late notifications are still refused) and takes its id negated as
/// version, which no checkout has. False when it is not cancelled or rejected.
pub fn retire(conn: &Connection, id: i64) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE solicitations SET checkout_version = -id, updated_at = ?2
         WHERE id = ?1 AND state IN ('cancelled', 'rejected') AND checkout_version > 0",
        params![id, now()],
    )?;
    Ok(n == 1)
}

/// Records that BigCommerce turned the checkout into `order` (`store/cart/converted`; the id as
/// the app stored it, BigCommerce's own, or in lower case: an index lookup, as this runs for
/// every sale of the store), on the
/// app's solicitations of it, unless `order` is one the app made from it (its own sale, or
/// its own Incomplete order, whose payment the orders list tells). Whether any was recorded.
pub fn record_conversion(
    conn: &Connection,
    store: &StoreHash,
    checkout_id: &str,
    order: BcOrderId,
) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE solicitations SET converted_into = ?3
         WHERE store_hash = ?1 AND checkout_id IN (?2, lower(?2))
           AND NOT EXISTS (SELECT 1 FROM solicitations o
                           WHERE o.store_hash = ?1 AND o.checkout_id IN (?2, lower(?2))
                             AND o.bc_order_id = ?3)",
        params![store.as_str(), checkout_id, order.0 as i64],
    )?;
    Ok(n > 0)
}

/// Records that the solicitation's own order was sold another way (see `record_conversion`).
pub fn mark_sold_otherwise(conn: &Connection, id: i64, order: BcOrderId) -> Result<(), DbError> {
    conn.execute(
        "UPDATE solicitations SET converted_into = ?2 WHERE id = ?1",
        params![id, order.0 as i64],
    )?;
    Ok(())
}

/// Records that the app deleted the solicitation's cart (BigCommerce said it did): a later
/// run of the approval that finds the cart gone knows whose deletion it was.
pub fn record_cart_deleted(conn: &Connection, id: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE solicitations SET cart_deleted_at = COALESCE(cart_deleted_at, ?2) WHERE id = ?1",
        params![id, now()],
    )?;
    Ok(())
}

/// Whether the app deleted the checkout's cart (on any solicitation of it).
pub fn cart_deleted_by_app(
    conn: &Connection,
    store: &StoreHash,
    checkout_id: &str,
) -> Result<bool, DbError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM solicitations
                        WHERE store_hash = ?1 AND checkout_id IN (?2, lower(?2))
                          AND cart_deleted_at IS NOT NULL)",
        params![store.as_str(), checkout_id],
        |r| r.get(0),
    )?)
}

/// Records when the solicitation's cart was first found gone without the app deleting it
/// (kept from the first time), and whether that was at `cutoff` or before.
pub fn cart_gone_since(conn: &Connection, id: i64, cutoff: &str) -> Result<bool, DbError> {
    conn.execute(
        "UPDATE solicitations SET cart_gone_at = ?2 WHERE id = ?1 AND cart_gone_at IS NULL",
        params![id, now()],
    )?;
    let first: Option<String> = conn
        .query_row(
            "SELECT cart_gone_at FROM solicitations WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok(first.is_some_and(|t| t.as_str() <= cutoff))
}

/// The order not the app's that BigCommerce turned the checkout into, if it said so.
pub fn converted_into(
    conn: &Connection,
    store: &StoreHash,
    checkout_id: &str,
) -> Result<Option<BcOrderId>, DbError> {
    let order: Option<i64> = conn.query_row(
        "SELECT MAX(converted_into) FROM solicitations
         WHERE store_hash = ?1 AND checkout_id IN (?2, lower(?2))",
        params![store.as_str(), checkout_id],
        |r| r.get(0),
    )?;
    Ok(order.map(|o| BcOrderId(o as u64)))
}

/// The BigCommerce orders the app made from a checkout (one per solicitation), each with its
/// solicitation's seQura order uuid once solicited.
pub fn orders_of_checkout(
    conn: &Connection,
    store: &StoreHash,
    checkout_id: &str,
) -> Result<Vec<(BcOrderId, Option<String>)>, DbError> {
    let mut q = conn.prepare_cached(
        "SELECT bc_order_id, sequra_uuid FROM solicitations
         WHERE store_hash = ?1 AND checkout_id = ?2",
    )?;
    let rows = q
        .query_map(params![store.as_str(), checkout_id], |r| {
            Ok((BcOrderId(r.get::<_, i64>(0)? as u64), r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// What became of the order-number confirmation (see migration V13): `None` while it is
/// still to be sent; else the state it was accepted for, or `superseded`.
pub fn number_confirmation(conn: &Connection, id: i64) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "SELECT number_confirmation FROM solicitations WHERE id = ?1",
            [id],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten())
}

/// seQura accepted the order-number confirmation for `state` (unless an Order Update went
/// first).
pub fn number_confirmed(
    conn: &Connection,
    id: i64,
    state: SolicitationState,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE solicitations SET number_confirmation = ?2
         WHERE id = ?1 AND number_confirmation IS NOT ?3",
        params![id, state.as_str(), SUPERSEDED],
    )?;
    Ok(())
}

/// An Order Update of the order is being sent: no order-number confirmation is sent after
/// (seQura may have taken the update in, whatever its answer).
pub fn number_confirmation_superseded(conn: &Connection, id: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE solicitations SET number_confirmation = ?2 WHERE id = ?1",
        params![id, SUPERSEDED],
    )?;
    Ok(())
}

/// Whether the order-number confirmation for `state` is not to be sent (any more).
pub fn number_confirmation_done(recorded: Option<&str>, state: SolicitationState) -> bool {
    recorded.is_some_and(|r| r == SUPERSEDED || r == state.as_str())
}

/// [`number_confirmation`]'s value once an Order Update was sent first.
const SUPERSEDED: &str = "superseded";

/// A solicitation by id, only within its store.
pub fn get(conn: &Connection, store: &StoreHash, id: i64) -> Result<Option<Solicitation>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM solicitations WHERE store_hash = ?1 AND id = ?2"),
            params![store.as_str(), id],
            from_row,
        )
        .optional()?)
}

/// Records the Incomplete order and token made for a checkout version; returns its id.
/// Without a token (BigCommerce makes none once an order of the checkout left Incomplete),
/// the shopper is shown the app's own confirmation.
pub fn create(
    conn: &Connection,
    key: &SecretsKey,
    store: &StoreHash,
    new: &NewSolicitation<'_>,
) -> Result<i64, DbError> {
    let NewSolicitation {
        checkout_id,
        version,
        order,
        token,
        channel_id,
    } = *new;
    let now = now();
    conn.execute(
        "INSERT INTO solicitations (store_hash, checkout_id, checkout_version, bc_order_id,
                                    checkout_token, created_at, updated_at, channel_id)
         VALUES (?1, ?2, ?3, ?4, x'', ?5, ?5, ?6)",
        params![
            store.as_str(),
            checkout_id,
            version,
            order.0 as i64,
            now,
            channel_id.map(|c| c as i64)
        ],
    )?;
    let id = conn.last_insert_rowid();
    if let Some(token) = token {
        let sealed = key.seal(&token_context(store, id), token.expose().as_bytes());
        conn.execute(
            "UPDATE solicitations SET checkout_token = ?2 WHERE id = ?1",
            params![id, sealed],
        )?;
    }
    Ok(id)
}

/// The decrypted checkout token of a solicitation.
pub fn checkout_token(
    conn: &Connection,
    key: &SecretsKey,
    store: &StoreHash,
    id: i64,
) -> Result<Option<SecretString>, DbError> {
    let sealed: Option<Vec<u8>> = conn
        .query_row(
            "SELECT checkout_token FROM solicitations WHERE store_hash = ?1 AND id = ?2",
            params![store.as_str(), id],
            |r| r.get(0),
        )
        .optional()?;
    sealed
        .filter(|s| !s.is_empty())
        .map(|s| {
            let plain = key.open(&token_context(store, id), &s)?;
            String::from_utf8(plain)
                .map(SecretString::new)
                .map_err(|_| DbError::Invalid("stored token is not text".into()))
        })
        .transpose()
}

/// What a solicitation was sent to seQura with.
pub struct Solicited<'a> {
    pub deployment: &'a str,
    pub environment: &'a str,
    pub merchant_ref: &'a str,
    pub product: &'a str,
    pub campaign: Option<&'a str>,
    pub method_title: &'a str,
    pub sequra_uuid: &'a str,
    pub shopper_ip: &'a str,
    pub user_agent: &'a str,
}

/// Records the seQura order made for the solicitation (a retry replaces the previous one).
/// False when the solicitation has moved on meanwhile (paid, on hold, cancelled), or another
/// one of its checkout (an earlier cart, another tab) was paid: the new seQura order must not
/// be offered.
pub fn mark_solicited(conn: &Connection, id: i64, s: &Solicited<'_>) -> Result<bool, DbError> {
    // The ref is the store's from its first use on (V14), whether or not this one goes on.
    conn.execute(
        "INSERT OR IGNORE INTO merchant_ref_claims (environment, merchant_ref, store_hash,
                                                    claimed_at)
         SELECT ?2, ?3, store_hash, ?4 FROM solicitations WHERE id = ?1",
        params![id, s.environment, s.merchant_ref, now()],
    )?;
    let n = conn.execute(
        "UPDATE solicitations SET environment = ?2, merchant_ref = ?3, product = ?4, campaign = ?5,
                method_title = ?6, sequra_uuid = ?7, state = 'solicited', updated_at = ?8,
                shopper_ip = ?9, user_agent = ?10, deployment = ?11
         WHERE id = ?1 AND state IN ('created', 'solicited')
           AND NOT EXISTS (SELECT 1 FROM solicitations AS paid
                           WHERE paid.store_hash = solicitations.store_hash
                             AND paid.checkout_id = solicitations.checkout_id
                             AND paid.id != solicitations.id
                             AND paid.state IN ('approved', 'on_hold'))",
        params![
            id,
            s.environment,
            s.merchant_ref,
            s.product,
            s.campaign,
            s.method_title,
            s.sequra_uuid,
            now(),
            s.shopper_ip,
            s.user_agent,
            s.deployment
        ],
    )?;
    Ok(n == 1)
}

/// The BigCommerce order got the status for `state` (the placement's first step); `default`
/// is the status the app chose on its own, if it did.
pub fn status_written(
    conn: &Connection,
    id: i64,
    state: SolicitationState,
    default: Option<u32>,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE solicitations SET status_written_for = ?2, default_status_written = ?3,
         default_status_intended = NULL WHERE id = ?1",
        params![id, state.as_str(), default],
    )?;
    Ok(())
}

/// Records the status the app is about to write on its own (see [`status_written`]).
pub fn status_intended(conn: &Connection, id: i64, status: u32) -> Result<(), DbError> {
    conn.execute(
        "UPDATE solicitations SET default_status_intended = ?2 WHERE id = ?1",
        params![id, status],
    )?;
    Ok(())
}

/// Moves the state forward from `from` to `to`; returns false when it was no longer `from`
/// (another notification got there first).
pub fn transition(
    conn: &Connection,
    id: i64,
    from: SolicitationState,
    to: SolicitationState,
) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE solicitations SET state = ?3, updated_at = ?4, placed_at = NULL
         WHERE id = ?1 AND state = ?2",
        params![id, from.as_str(), to.as_str(), now()],
    )?;
    Ok(n > 0)
}

/// The seQura order behind a BigCommerce order: the solicitation seQura knows of (solicited
/// or beyond) for it, an approved or on-hold one first, then the newest.
///
/// Every webhook delivery asks this, mostly about orders that are not seQura's. The choice is
/// made here rather than by `ORDER BY … LIMIT 1`, for which SQLite opens a temporary b-tree on
/// every execution, rows or none: that was most of this lookup's cost.
pub fn for_order(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
) -> Result<Option<Solicitation>, DbError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {COLUMNS} FROM solicitations
             WHERE store_hash = ?1 AND bc_order_id = ?2 AND sequra_uuid IS NOT NULL
               AND state <> 'created'"
        )
    });
    let mut stmt = conn.prepare_cached(&SQL)?;
    let rows = stmt.query_map(params![store.as_str(), order.0 as i64], from_row)?;
    let mut best: Option<Solicitation> = None;
    for row in rows {
        let s = row?;
        let rank = |s: &Solicitation| {
            let live = matches!(
                s.state,
                SolicitationState::Approved | SolicitationState::OnHold
            );
            (live, s.id)
        };
        if best.as_ref().is_none_or(|b| rank(&s) > rank(b)) {
            best = Some(s);
        }
    }
    Ok(best)
}

/// The BigCommerce order now carries seQura's outcome `placed`; false when a notification
/// moved the solicitation on meanwhile (the job queued with that leaves it to be placed).
pub fn mark_placed(conn: &Connection, id: i64, placed: SolicitationState) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE solicitations SET placed_at = ?2
         WHERE id = ?1 AND placed_at IS NULL AND state = ?3",
        params![id, now(), placed.as_str()],
    )?;
    Ok(n > 0)
}

/// Solicitations seQura approved, put on hold or cancelled whose BigCommerce order never got
/// the outcome, of the stores installed now (an uninstalled store's wait for it to come back),
/// oldest first.
pub fn unplaced(conn: &Connection, limit: usize) -> Result<Vec<Solicitation>, DbError> {
    let mut q = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM solicitations
         WHERE placed_at IS NULL AND state IN ('approved', 'on_hold', 'cancelled')
           AND store_hash IN (SELECT store_hash FROM stores WHERE status = 'installed')
         ORDER BY id LIMIT ?1"
    ))?;
    let rows = q
        .query_map([limit as i64], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The store's approved seQura orders placed since `since` that were rechecked longest ago
/// (never first), up to `limit`, each with the modification date it had at its last recheck.
pub fn recheck_candidates(
    conn: &Connection,
    store: &StoreHash,
    since: &str,
    limit: usize,
) -> Result<Vec<(BcOrderId, Option<String>)>, DbError> {
    let mut q = conn.prepare_cached(
        "SELECT bc_order_id, rechecked_modified FROM solicitations
         WHERE store_hash = ?1 AND state = 'approved' AND placed_at >= ?2
         ORDER BY rechecked_at IS NOT NULL, rechecked_at, id LIMIT ?3",
    )?;
    let rows = q
        .query_map(params![store.as_str(), since, limit as i64], |r| {
            Ok((BcOrderId(r.get::<_, i64>(0)? as u64), r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// When the store's oldest order placed since `since` was placed (unix seconds), if any: how far
/// back a store's first reconciliation must read.
pub fn oldest_placed_since(
    conn: &Connection,
    store: &StoreHash,
    since: &str,
) -> Result<Option<i64>, DbError> {
    Ok(conn.query_row(
        "SELECT CAST(strftime('%s', MIN(placed_at)) AS INTEGER) FROM solicitations
         WHERE store_hash = ?1 AND state = 'approved' AND placed_at >= ?2",
        params![store.as_str(), since],
        |r| r.get(0),
    )?)
}

/// Records that the store's orders were rechecked now, each with the modification date read
/// (None: not read, the list showed it).
pub fn mark_rechecked(
    conn: &Connection,
    store: &StoreHash,
    orders: &[(BcOrderId, Option<String>)],
) -> Result<(), DbError> {
    let mut q = conn.prepare_cached(
        "UPDATE solicitations SET rechecked_at = ?3,
         rechecked_modified = COALESCE(?4, rechecked_modified)
         WHERE store_hash = ?1 AND bc_order_id = ?2",
    )?;
    let at = now();
    for (o, modified) in orders {
        q.execute(params![store.as_str(), o.0 as i64, at, modified])?;
    }
    Ok(())
}

/// Where one seQura order started for a solicitation is. The first attempt seQura approves or
/// puts on hold becomes the solicitation's; another approved after it is a `duplicate`, refused
/// so that the shopper is not charged twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptState {
    Solicited,
    OnHold,
    Approved,
    Cancelled,
    Rejected,
    Duplicate,
}

impl AttemptState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Solicited => "solicited",
            Self::OnHold => "on_hold",
            Self::Approved => "approved",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
            Self::Duplicate => "duplicate",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Solicited,
            Self::OnHold,
            Self::Approved,
            Self::Cancelled,
            Self::Rejected,
            Self::Duplicate,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// One seQura order started for a solicitation.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: i64,
    pub solicitation_id: i64,
    pub sequra_uuid: Option<String>,
    pub environment: String,
    pub merchant_ref: String,
    pub product: String,
    pub campaign: Option<String>,
    pub method_title: String,
    pub state: AttemptState,
    /// The order as solicited (JSON): what seQura reviewed, so what is confirmed.
    pub request: Option<String>,
    /// What seQura holds once the attempt is confirmed (JSON `Holding`).
    pub holding: Option<String>,
    /// Started before attempts existed: old signature, confirmed from the order.
    pub legacy: bool,
    /// The deployment (`sequra`, `svea`) it was started on (V21; seQura's before).
    pub deployment: String,
    /// What made the order's products services when it was solicited (JSON `Services`, V24).
    pub services: Option<String>,
}

const ATTEMPT_COLUMNS: &str = "id, solicitation_id, sequra_uuid, environment, merchant_ref, \
    product, campaign, method_title, state, request, holding, legacy, \
    COALESCE(deployment, 'sequra'), services";

fn attempt_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Attempt> {
    let state: String = r.get(8)?;
    Ok(Attempt {
        id: r.get(0)?,
        solicitation_id: r.get(1)?,
        sequra_uuid: r.get(2)?,
        environment: r.get(3)?,
        merchant_ref: r.get(4)?,
        product: r.get(5)?,
        campaign: r.get(6)?,
        method_title: r.get(7)?,
        state: AttemptState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                8,
                rusqlite::types::Type::Text,
                "invalid stored value".into(),
            )
        })?,
        request: r.get(9)?,
        holding: r.get(10)?,
        legacy: r.get(11)?,
        deployment: r.get(12)?,
        services: r.get(13)?,
    })
}

/// What an attempt is started with.
pub struct NewAttempt<'a> {
    pub deployment: &'a str,
    pub environment: &'a str,
    pub merchant_ref: &'a str,
    pub product: &'a str,
    pub campaign: Option<&'a str>,
    pub method_title: &'a str,
}

/// Records an attempt before seQura is asked (its id is signed into the notifications).
pub fn create_attempt(
    conn: &Connection,
    store: &StoreHash,
    solicitation: i64,
    a: &NewAttempt<'_>,
) -> Result<i64, DbError> {
    let now = now();
    conn.execute(
        "INSERT INTO sequra_attempts (solicitation_id, store_hash, environment, merchant_ref,
                                      product, campaign, method_title, created_at, updated_at,
                                      deployment)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
        params![
            solicitation,
            store.as_str(),
            a.environment,
            a.merchant_ref,
            a.product,
            a.campaign,
            a.method_title,
            now,
            a.deployment
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The plan the shopper chose inside seQura's form for an attempt of the single button
/// (`product` was `tbs`): the first notification saying so names it for good. Returns whether
/// this call named it.
pub fn choose_plan(
    conn: &Connection,
    attempt: i64,
    product: &str,
    method_title: &str,
) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE sequra_attempts SET product = ?2, method_title = ?3, updated_at = ?4
         WHERE id = ?1 AND product = 'tbs'",
        params![attempt, product, method_title, now()],
    )?;
    Ok(n > 0)
}

/// What seQura took when it answered a start (JSON each).
pub struct Started<'a> {
    pub uuid: &'a str,
    /// The order as sent.
    pub request: &'a str,
    /// What seQura will hold once it confirms.
    pub holding: &'a str,
    /// What made the products services.
    pub services: &'a str,
}

/// seQura answered the start: records what it took.
pub fn attempt_started(conn: &Connection, id: i64, s: &Started<'_>) -> Result<(), DbError> {
    conn.execute(
        "UPDATE sequra_attempts SET sequra_uuid = ?2, request = ?3, holding = ?4, services = ?5,
                updated_at = ?6
         WHERE id = ?1 AND sequra_uuid IS NULL",
        params![id, s.uuid, s.request, s.holding, s.services, now()],
    )?;
    Ok(())
}

/// An attempt of a solicitation, by the id its notifications carry.
pub fn attempt(
    conn: &Connection,
    store: &StoreHash,
    solicitation: i64,
    id: i64,
) -> Result<Option<Attempt>, DbError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {ATTEMPT_COLUMNS} FROM sequra_attempts
                 WHERE store_hash = ?1 AND solicitation_id = ?2 AND id = ?3"
            ),
            params![store.as_str(), solicitation, id],
            attempt_from_row,
        )
        .optional()?)
}

/// A solicitation's attempt by its seQura order.
pub fn attempt_for_uuid(
    conn: &Connection,
    store: &StoreHash,
    solicitation: i64,
    uuid: &str,
) -> Result<Option<Attempt>, DbError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {ATTEMPT_COLUMNS} FROM sequra_attempts
                 WHERE store_hash = ?1 AND solicitation_id = ?2 AND sequra_uuid = ?3"
            ),
            params![store.as_str(), solicitation, uuid],
            attempt_from_row,
        )
        .optional()?)
}

/// Whether another attempt of the solicitation may still be completed by the shopper (one
/// with a seQura order not yet decided). A start still waiting for its seQura order is the
/// caller's to see: it holds the checkout's lock.
pub fn others_open(conn: &Connection, solicitation: i64, except: i64) -> Result<bool, DbError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sequra_attempts
                         WHERE solicitation_id = ?1 AND id <> ?2 AND state = 'solicited'
                           AND sequra_uuid IS NOT NULL)",
        params![solicitation, except],
        |r| r.get(0),
    )?)
}

/// Moves an attempt to `to`.
pub fn set_attempt_state(conn: &Connection, id: i64, to: AttemptState) -> Result<(), DbError> {
    conn.execute(
        "UPDATE sequra_attempts SET state = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, to.as_str(), now()],
    )?;
    Ok(())
}

/// Moves the solicitation from `from` to `to` with `winner` as its seQura order (its reference,
/// method and merchant); false when it was no longer `from`. The BigCommerce order is to be
/// given the new outcome (`placed_at` cleared).
pub fn settle(
    conn: &Connection,
    id: i64,
    from: SolicitationState,
    to: SolicitationState,
    winner: &Attempt,
) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE solicitations SET state = ?3, sequra_uuid = ?4, environment = ?5,
                merchant_ref = ?6, product = ?7, campaign = ?8, method_title = ?9,
                updated_at = ?10, placed_at = NULL, deployment = ?11
         WHERE id = ?1 AND state = ?2",
        params![
            id,
            from.as_str(),
            to.as_str(),
            winner.sequra_uuid,
            winner.environment,
            winner.merchant_ref,
            winner.product,
            winner.campaign,
            winner.method_title,
            now(),
            winner.deployment
        ],
    )?;
    Ok(n > 0)
}

/// The BigCommerce order carries the mark of `state` (`orders::mark`).
pub fn marked(conn: &Connection, id: i64, state: SolicitationState) -> Result<(), DbError> {
    conn.execute(
        "UPDATE solicitations SET marked_for = ?2 WHERE id = ?1",
        params![id, state.as_str()],
    )?;
    Ok(())
}

/// The solicitation of `order` with an attempt that is seQura order `uuid`, and that attempt.
pub fn for_order_uuid(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
    uuid: &str,
) -> Result<Option<(Solicitation, Attempt)>, DbError> {
    let found: Option<(i64, i64)> = conn
        .query_row(
            "SELECT s.id, a.id FROM solicitations s
               JOIN sequra_attempts a ON a.solicitation_id = s.id
             WHERE s.store_hash = ?1 AND s.bc_order_id = ?2 AND a.sequra_uuid = ?3",
            params![store.as_str(), order.0 as i64, uuid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((sid, aid)) = found else {
        return Ok(None);
    };
    Ok(get(conn, store, sid)?.zip(attempt(conn, store, sid, aid)?))
}

/// The solicitations of the store's BigCommerce `order`, newest first.
pub fn of_order(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
) -> Result<Vec<Solicitation>, DbError> {
    let mut q = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM solicitations WHERE store_hash = ?1 AND bc_order_id = ?2
         ORDER BY id DESC"
    ))?;
    let rows = q
        .query_map(params![store.as_str(), order.0 as i64], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A solicitation the app lost and found again (a restore): its BigCommerce order, made from
/// checkout `checkout_id` (the order's cart), on storefront `channel_id`.
pub struct Recovered<'a> {
    pub checkout_id: &'a str,
    pub order: BcOrderId,
    pub channel_id: Option<u64>,
}

/// Records a solicitation found again; returns its id. Its checkout version is the order's
/// number, negated: no checkout of BigCommerce's has it, so a start of the same cart makes an
/// order of its own (and finds this one paid). No checkout token: the shopper is long gone.
pub fn insert_recovered(
    conn: &Connection,
    store: &StoreHash,
    r: &Recovered<'_>,
) -> Result<i64, DbError> {
    let now = now();
    conn.execute(
        "INSERT INTO solicitations (store_hash, checkout_id, checkout_version, bc_order_id,
                                    checkout_token, created_at, updated_at, channel_id)
         VALUES (?1, ?2, ?3, ?4, x'', ?5, ?5, ?6)",
        params![
            store.as_str(),
            r.checkout_id,
            -(r.order.0 as i64),
            r.order.0 as i64,
            now,
            r.channel_id.map(|c| c as i64)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Records seQura order `uuid` as an attempt of solicitation `sid`, found again (a restore):
/// what it was solicited with is not known any more (its confirmation is rebuilt from the
/// order, as for attempts from before V8).
pub fn insert_recovered_attempt(
    conn: &Connection,
    store: &StoreHash,
    sid: i64,
    uuid: &str,
    a: &NewAttempt<'_>,
) -> Result<i64, DbError> {
    let id = create_attempt(conn, store, sid, a)?;
    conn.execute(
        "UPDATE sequra_attempts SET sequra_uuid = ?2 WHERE id = ?1",
        params![id, uuid],
    )?;
    Ok(id)
}

/// The store's solicitations not yet decided for all the app knows (created, solicited, in
/// review) made since `since` (RFC 3339), with their BigCommerce orders, oldest first: after
/// a restore, seQura may have decided them in the time the restore lost.
pub fn undecided_since(
    conn: &Connection,
    store: &StoreHash,
    since: &str,
    limit: usize,
) -> Result<Vec<Solicitation>, DbError> {
    let mut q = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM solicitations
         WHERE store_hash = ?1 AND state IN ('created', 'solicited', 'on_hold')
           AND created_at >= ?2
         ORDER BY id LIMIT ?3"
    ))?;
    let rows = q
        .query_map(params![store.as_str(), since, limit as i64], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The newest BigCommerce order the store's solicitations are made for.
pub fn newest_order(conn: &Connection, store: &StoreHash) -> Result<Option<BcOrderId>, DbError> {
    let id: Option<i64> = conn.query_row(
        "SELECT MAX(bc_order_id) FROM solicitations WHERE store_hash = ?1",
        [store.as_str()],
        |r| r.get(0),
    )?;
    Ok(id.map(|i| BcOrderId(i as u64)))
}

/// Whether some solicitation of the store is made for BigCommerce `order`.
pub fn knows_order(
    conn: &Connection,
    store: &StoreHash,
    order: BcOrderId,
) -> Result<bool, DbError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM solicitations WHERE store_hash = ?1 AND bc_order_id = ?2)",
        params![store.as_str(), order.0 as i64],
        |r| r.get(0),
    )?)
}

/// The deployment each of the store's seQura orders (`uuids`) was solicited on.
pub fn deployments_of(
    conn: &Connection,
    store: &StoreHash,
    uuids: &[String],
) -> Result<Vec<(String, String)>, DbError> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT deployment FROM sequra_attempts
         WHERE store_hash = ?1 AND sequra_uuid = ?2 AND deployment IS NOT NULL",
    )?;
    for uuid in uuids {
        let found: Option<String> = stmt
            .query_row(params![store.as_str(), uuid], |r| r.get(0))
            .optional()?;
        if let Some(d) = found {
            out.push((uuid.clone(), d));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    fn started(uuid: &str) -> Started<'_> {
        Started {
            uuid,
            request: "{}",
            holding: "{}",
            services: "{}",
        }
    }

    /// A migrated database with store `abc123` installed.
    fn store_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        db.migrate().unwrap();
        db.call_blocking(|conn| {
            conn.execute(
                "INSERT INTO stores (store_hash, status, installed_at) VALUES ('abc123', 'installed', 'now')",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        (dir, db)
    }

    fn solicitation(conn: &Connection, order: i64, version: i64, uuid: &str, state: &str) {
        conn.execute(
            "INSERT INTO solicitations (store_hash, checkout_id, checkout_version, bc_order_id,
                                        checkout_token, sequra_uuid, state, created_at, updated_at)
             VALUES ('abc123', 'cart', ?1, ?2, x'', ?3, ?4, 'now', 'now')",
            params![version, order, uuid, state],
        )
        .unwrap();
    }

    #[test]
    fn an_orders_sequra_order_is_the_live_one_else_the_newest_known_to_sequra() {
        let (_dir, db) = store_db();
        let store = StoreHash::parse("abc123").unwrap();
        db.call_blocking(|conn| {
            // Order 1: approved, then a newer cancelled attempt.
            solicitation(conn, 1, 1, "u1", "approved");
            solicitation(conn, 1, 2, "u2", "cancelled");
            // Order 2: two attempts seQura knows, neither live, and one it never saw.
            solicitation(conn, 2, 3, "u3", "rejected");
            solicitation(conn, 2, 4, "u4", "cancelled");
            conn.execute(
                "INSERT INTO solicitations (store_hash, checkout_id, checkout_version, bc_order_id,
                                            checkout_token, created_at, updated_at)
                 VALUES ('abc123', 'cart', 5, 2, x'', 'now', 'now')",
                [],
            )?;
            let uuid = |order| {
                for_order(conn, &store, BcOrderId(order)).map(|s| s.and_then(|s| s.sequra_uuid))
            };
            assert_eq!(uuid(1)?.as_deref(), Some("u1"));
            assert_eq!(uuid(2)?.as_deref(), Some("u4"));
            assert_eq!(uuid(3)?, None);
            let other = StoreHash::parse("zzz999").unwrap();
            assert!(for_order(conn, &other, BcOrderId(1))?.is_none());
            Ok(())
        })
        .unwrap();
    }

    /// A1, two tabs: a start whose solicitation was paid (or cancelled) meanwhile is told so,
    /// and another attempt with a seQura order keeps the solicitation open for a cancel.
    #[test]
    fn a_start_finishing_after_the_payment_is_told_and_a_started_attempt_counts_as_open() {
        let (_dir, db) = store_db();
        let store = StoreHash::parse("abc123").unwrap();
        db.call_blocking(|conn| {
            solicitation(conn, 1, 1, "u1", "solicited");
            let sid = conn.last_insert_rowid();
            let new = NewAttempt {
                deployment: "sequra",
                environment: "sandbox",
                merchant_ref: "m",
                product: "i1",
                campaign: None,
                method_title: "t",
            };
            let a = create_attempt(conn, &store, sid, &new)?;
            attempt_started(conn, a, &started("u1"))?;
            let b = create_attempt(conn, &store, sid, &new)?;
            assert!(!others_open(conn, sid, a)?, "b has no seQura order yet");
            attempt_started(conn, b, &started("u2"))?;
            assert!(others_open(conn, sid, a)?, "b may be completed");
            let solicited = Solicited {
                deployment: "sequra",
                environment: "sandbox",
                merchant_ref: "m",
                product: "i1",
                campaign: None,
                method_title: "t",
                sequra_uuid: "u2",
                shopper_ip: "",
                user_agent: "",
            };
            assert!(mark_solicited(conn, sid, &solicited)?);
            conn.execute(
                "UPDATE solicitations SET state = 'approved' WHERE id = ?1",
                [sid],
            )?;
            assert!(!mark_solicited(conn, sid, &solicited)?, "paid meanwhile");
            Ok(())
        })
        .unwrap();
    }
}
