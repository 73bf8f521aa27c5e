//! The store's seQura settings: selling countries, general settings, order-status mapping.

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::domain::{Country, MerchantRef, SequraStatus, StoreHash};

/// The stored general settings; JSON columns are decoded by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGeneral {
    pub allowed_ips: String,
    pub excluded_categories: String,
    pub excluded_products: String,
    pub send_order_reports: bool,
    /// A service's end date when its product names none (ISO 8601 date or duration).
    pub services_end_date: String,
    /// seQura's form on a page of its own instead of over the checkout (V29).
    pub hosted_page: bool,
}

impl Default for StoredGeneral {
    fn default() -> Self {
        Self {
            allowed_ips: "[]".into(),
            excluded_categories: "[]".into(),
            excluded_products: "[]".into(),
            send_order_reports: true,
            services_end_date: crate::domain::DEFAULT_SERVICES_END.into(),
            hosted_page: false,
        }
    }
}

/// Selling countries with their merchant refs.
pub fn countries(
    conn: &Connection,
    store: &StoreHash,
) -> Result<Vec<(Country, MerchantRef)>, DbError> {
    let mut stmt =
        conn.prepare("SELECT country, merchant_ref FROM selling_countries WHERE store_hash = ?1")?;
    let rows = stmt.query_map([store.as_str()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (country, merchant) = row?;
        if let (Some(c), Ok(m)) = (Country::parse(&country), MerchantRef::parse(&merchant)) {
            out.push((c, m));
        }
    }
    out.sort_by_key(|(c, _)| Country::ALL.iter().position(|x| x == c));
    Ok(out)
}

/// The installed stores that sell with `merchant_ref` on seQura's `environment`, the first
/// installed first. `order_ref_1` is the BigCommerce order number, which every store counts
/// from 100: two stores on one (environment, merchant ref) would send seQura the same order
/// reference, and the second order of a number would be refused and cancelled. So a ref is
/// held by one store only, and where an older database has two, the first installed keeps it.
pub fn merchant_ref_holders(
    conn: &Connection,
    environment: &str,
    merchant_ref: &MerchantRef,
) -> Result<Vec<StoreHash>, DbError> {
    // Installed stores selling with it, and every store that ever sold with it (V14),
    // installed or not: its orders are at seQura under the same numbers.
    let mut q = conn.prepare_cached(
        "SELECT s.store_hash, s.installed_at FROM selling_countries sc
         JOIN sequra_connections c ON c.store_hash = sc.store_hash
         JOIN stores s ON s.store_hash = sc.store_hash
         WHERE s.status = 'installed' AND c.environment = ?1 AND sc.merchant_ref = ?2
         UNION
         SELECT s.store_hash, s.installed_at FROM merchant_ref_claims m
         JOIN stores s ON s.store_hash = m.store_hash
         WHERE m.environment = ?1 AND m.merchant_ref = ?2
         ORDER BY 2, 1",
    )?;
    let rows = q
        .query_map(params![environment, merchant_ref.as_str()], |r| {
            r.get::<_, String>(0)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|h| StoreHash::parse(&h).ok())
        .collect())
}

/// Replaces the selling countries (in the caller's transaction: a delete and inserts).
pub fn save_countries(
    tx: &Connection,
    store: &StoreHash,
    countries: &[(Country, MerchantRef)],
) -> Result<(), DbError> {
    tx.execute(
        "DELETE FROM selling_countries WHERE store_hash = ?1",
        [store.as_str()],
    )?;
    for (c, m) in countries {
        tx.execute(
            "INSERT INTO selling_countries (store_hash, country, merchant_ref) VALUES (?1, ?2, ?3)",
            params![store.as_str(), c.code(), m.as_str()],
        )?;
    }
    Ok(())
}

/// The general settings, or the defaults when never saved.
pub fn general(conn: &Connection, store: &StoreHash) -> Result<StoredGeneral, DbError> {
    Ok(conn
        .query_row(
            "SELECT allowed_ips, excluded_categories, excluded_products, send_order_reports,
                    services_end_date, hosted_page
             FROM general_settings WHERE store_hash = ?1",
            [store.as_str()],
            |r| {
                Ok(StoredGeneral {
                    allowed_ips: r.get(0)?,
                    excluded_categories: r.get(1)?,
                    excluded_products: r.get(2)?,
                    send_order_reports: r.get(3)?,
                    services_end_date: r.get(4)?,
                    hosted_page: r.get(5)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

pub fn save_general(
    conn: &Connection,
    store: &StoreHash,
    g: &StoredGeneral,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO general_settings (store_hash, allowed_ips, excluded_categories, excluded_products,
                                       send_order_reports, services_end_date, hosted_page,
                                       updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (store_hash) DO UPDATE SET allowed_ips = excluded.allowed_ips,
             excluded_categories = excluded.excluded_categories,
             excluded_products = excluded.excluded_products,
             send_order_reports = excluded.send_order_reports,
             services_end_date = excluded.services_end_date,
             hosted_page = excluded.hosted_page, updated_at = excluded.updated_at",
        params![
            store.as_str(),
            g.allowed_ips,
            g.excluded_categories,
            g.excluded_products,
            g.send_order_reports,
            g.services_end_date,
            g.hosted_page,
            now()
        ],
    )?;
    Ok(())
}

/// Whether the checkout shows one seQura button instead of one per method (V29; off when
/// never saved).
pub fn single_button(conn: &Connection, store: &StoreHash) -> Result<bool, DbError> {
    Ok(conn
        .query_row(
            "SELECT single_button FROM payment_method_settings WHERE store_hash = ?1",
            [store.as_str()],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false))
}

pub fn save_single_button(conn: &Connection, store: &StoreHash, on: bool) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO payment_method_settings (store_hash, single_button, updated_at)
         VALUES (?1, ?2, ?3)
         ON CONFLICT (store_hash) DO UPDATE SET single_button = excluded.single_button,
             updated_at = excluded.updated_at",
        params![store.as_str(), on, now()],
    )?;
    Ok(())
}

/// The status mapping; a status never written maps to its install default.
pub fn status_mappings(
    conn: &Connection,
    store: &StoreHash,
) -> Result<Vec<(SequraStatus, Option<u32>)>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT sequra_status, bc_status_id FROM order_status_mappings WHERE store_hash = ?1",
    )?;
    let rows = stmt.query_map([store.as_str()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<u32>>(1)?))
    })?;
    let mut stored = Vec::new();
    for row in rows {
        let (s, id) = row?;
        if let Some(s) = SequraStatus::parse(&s) {
            stored.push((s, id));
        }
    }
    Ok(SequraStatus::ALL
        .into_iter()
        .map(|s| {
            let id = stored
                .iter()
                .find(|(x, _)| *x == s)
                .map(|(_, id)| *id)
                .unwrap_or(Some(s.default_bc_status()));
            (s, id)
        })
        .collect())
}

/// Writes the install defaults where nothing is set yet (a reinstall keeps the merchant's).
pub fn write_default_mappings(conn: &Connection, store: &StoreHash) -> Result<(), DbError> {
    for s in SequraStatus::ALL {
        conn.execute(
            "INSERT INTO order_status_mappings (store_hash, sequra_status, bc_status_id)
             VALUES (?1, ?2, ?3) ON CONFLICT (store_hash, sequra_status) DO NOTHING",
            params![store.as_str(), s.as_str(), s.default_bc_status()],
        )?;
    }
    Ok(())
}

/// Saves the mappings given (within the caller's transaction: all of them or none).
pub fn save_status_mappings(
    tx: &Connection,
    store: &StoreHash,
    mappings: &[(SequraStatus, Option<u32>)],
) -> Result<(), DbError> {
    for (s, id) in mappings {
        tx.execute(
            "INSERT INTO order_status_mappings (store_hash, sequra_status, bc_status_id)
             VALUES (?1, ?2, ?3)
             ON CONFLICT (store_hash, sequra_status) DO UPDATE SET bc_status_id = excluded.bc_status_id",
            params![store.as_str(), s.as_str(), id],
        )?;
    }
    Ok(())
}
