//! The `banners` aggregate: the banners seQura pushed for a store, one per country (V32). The
//! image files themselves live in the data directory (see `crate::remote::banners`).

use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, now};
use crate::domain::{Country, DisplayLocation, StoreHash};

/// One stored banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    pub country: Country,
    pub link_url: String,
    pub location: DisplayLocation,
    /// The image's file name in the store's banner folder.
    pub file: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
}

/// The store's banners, by country.
pub fn list(conn: &Connection, store: &StoreHash) -> Result<Vec<Banner>, DbError> {
    let mut q = conn.prepare_cached(
        "SELECT country, link_url, display_location, file, content_type, width, height
         FROM banners WHERE store_hash = ?1 ORDER BY country",
    )?;
    let rows = q.query_map([store.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, u32>(5)?,
            r.get::<_, u32>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (country, link_url, location, file, content_type, width, height) = row?;
        // Written by `replace` from parsed values only.
        let (Some(country), Some(location)) =
            (Country::parse(&country), DisplayLocation::parse(&location))
        else {
            return Err(DbError::Invalid(format!(
                "banner of {store} has country {country:?} or location {location:?} unknown"
            )));
        };
        out.push(Banner {
            country,
            link_url,
            location,
            file,
            content_type,
            width,
            height,
        });
    }
    Ok(out)
}

/// The store's banners become `banners`, within the caller's transaction.
pub fn replace(conn: &Connection, store: &StoreHash, banners: &[Banner]) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM banners WHERE store_hash = ?1",
        [store.as_str()],
    )?;
    let at = now();
    let mut q = conn.prepare_cached(
        "INSERT INTO banners (store_hash, country, link_url, display_location, file,
                              content_type, width, height, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for b in banners {
        q.execute(params![
            store.as_str(),
            b.country.code(),
            b.link_url,
            b.location.wire(),
            b.file,
            b.content_type,
            b.width,
            b.height,
            at
        ])?;
    }
    Ok(())
}

/// The content type of the store's banner image `file`, when a banner of the store has it.
pub fn content_type_of(
    conn: &Connection,
    store: &StoreHash,
    file: &str,
) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "SELECT content_type FROM banners WHERE store_hash = ?1 AND file = ?2 LIMIT 1",
            params![store.as_str(), file],
            |r| r.get(0),
        )
        .optional()?)
}

/// Every store's hash (installed or not): the banner folders of any other are orphans.
pub fn all_stores(conn: &Connection) -> Result<Vec<String>, DbError> {
    let mut q = conn.prepare_cached("SELECT store_hash FROM stores")?;
    let rows = q.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banner(country: Country, file: &str) -> Banner {
        Banner {
            country,
            link_url: "https://www.sequra.com/".into(),
            location: DisplayLocation::Home,
            file: file.into(),
            content_type: "image/png".into(),
            width: 600,
            height: 100,
        }
    }

    #[test]
    fn a_replacement_is_the_whole_set_and_stays_with_its_store() {
        let (_dir, conn) = crate::db::test_db(&["abc123", "zzz999"]);
        let a = StoreHash::parse("abc123").unwrap();
        let z = StoreHash::parse("zzz999").unwrap();
        replace(
            &conn,
            &a,
            &[
                banner(Country::FR, "FR-1.png"),
                banner(Country::ES, "ES-1.png"),
            ],
        )
        .unwrap();
        replace(&conn, &z, &[banner(Country::ES, "ES-2.png")]).unwrap();
        let listed: Vec<Country> = list(&conn, &a).unwrap().iter().map(|b| b.country).collect();
        assert_eq!(listed, vec![Country::ES, Country::FR]);
        replace(&conn, &a, &[banner(Country::PT, "PT-1.png")]).unwrap();
        assert_eq!(
            list(&conn, &a).unwrap(),
            vec![banner(Country::PT, "PT-1.png")]
        );
        assert_eq!(
            content_type_of(&conn, &a, "PT-1.png").unwrap().as_deref(),
            Some("image/png")
        );
        assert_eq!(
            content_type_of(&conn, &a, "ES-2.png").unwrap(),
            None,
            "another store's"
        );
        assert_eq!(
            content_type_of(&conn, &a, "ES-1.png").unwrap(),
            None,
            "replaced"
        );
        assert_eq!(list(&conn, &z).unwrap().len(), 1);
    }
}
