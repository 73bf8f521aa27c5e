//! Catalog v3: `GET /v3/catalog/products` (products_catalog.v3.yml `getProducts`) and
//! `GET /v3/catalog/categories` (categories_catalog.v3.yml `getCategories`, deprecated by
//! BigCommerce but still served). Scope: `store_v2_products_read_only` (or
//! `store_v2_products`), as both files' `securitySchemes` list.
//!
//! Filters modelled: products `id`, `id:in`, `categories:in` (assigned to any of them, not
//! their subcategories), `keyword`, `name`, `sku`; categories `id`,
//! `id:in`, `name`, `name:like`, `parent_id`, `parent_id:in`; both `include_fields`,
//! `exclude_fields`, `page`, `limit`; products `sort` (`ProductsSortEnum`: `id`, `name`,
//! `sku`, `price` ordered as named, the enum's other fields by id; ties by id) and `direction`
//! (`asc`, the default, or `desc`), anything else in either refused 422 [U: the error's
//! wording]; products `include=custom_fields` (a sub-resource, added
//! whatever `include_fields` says; other `include` values are ignored). Other parameters are ignored, as BigCommerce ignores
//! unknown ones.
//!
//! [U] BigCommerce's `keyword` is a search-engine match over name, description, SKU and brand
//! name; here it is a case-insensitive substring of the name or the SKU. `name:like` is a
//! case-insensitive substring of the name. A malformed id list is 422 with the paging error's
//! shape. A product is `type: digital` when [`CatalogProduct::digital`] is set, else
//! `physical`.

use serde_json::{Map, Value, json};
use warp::http::Method;

use super::api::{Area, Auth, Paging, forbidden, method_not_allowed, not_found, paginate, paging};
use super::respond::{self, Resp};
use super::state::State;
use super::{CatalogCategory, CatalogProduct, Incoming, StoreSpec};

const READ_SCOPES: [&str; 2] = ["store_v2_products_read_only", "store_v2_products"];

/// Fixed timestamps: the demo catalog was imported once.
const CREATED: &str = "2024-01-15T10:00:00+00:00";

fn invalid(name: &str, message: &str) -> Box<Resp> {
    Box::new(respond::v3_error_detailed(
        422,
        "Invalid query parameter",
        Map::from_iter([(name.to_owned(), json!(message))]),
    ))
}

/// A non-empty query parameter (an empty one is no filter).
fn param(req: &Incoming, name: &str) -> Option<String> {
    req.query_param(name).filter(|v| !v.trim().is_empty())
}

fn id_param(req: &Incoming, name: &str) -> Result<Option<u64>, Box<Resp>> {
    match param(req, name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| invalid(name, "must be an integer")),
    }
}

/// A comma-separated list of ids (`id:in=1,2,3`).
fn id_list(req: &Incoming, name: &str) -> Result<Option<Vec<u64>>, Box<Resp>> {
    match param(req, name) {
        None => Ok(None),
        Some(v) => v
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(|_| invalid(name, "must be a comma-separated list of integers")),
    }
}

fn field_list(req: &Incoming, name: &str) -> Option<Vec<String>> {
    param(req, name).map(|v| {
        v.split(',')
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect()
    })
}

/// `include_fields` keeps `id` and the listed fields; `exclude_fields` drops the listed ones
/// except `id`.
fn select_fields(mut item: Value, include: Option<&[String]>, exclude: Option<&[String]>) -> Value {
    if let Some(obj) = item.as_object_mut() {
        if let Some(include) = include {
            obj.retain(|k, _| k == "id" || include.iter().any(|f| f == k));
        }
        if let Some(exclude) = exclude {
            obj.retain(|k, _| k == "id" || !exclude.iter().any(|f| f == k));
        }
    }
    item
}

/// A storefront URL segment: lowercase ASCII, Spanish accents folded, other runs → `-`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        let c = match c {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            c => c,
        };
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// `product_Full`, the modelled fields plus fixed values for the rest.
fn product_json(p: &CatalogProduct) -> Value {
    let price = p.price_cents as f64 / 100.0;
    json!({
        "id": p.id,
        "name": p.name,
        "type": if p.digital { "digital" } else { "physical" },
        "sku": p.sku,
        "description": "",
        "weight": 0.5,
        "width": 0,
        "depth": 0,
        "height": 0,
        "price": price,
        "cost_price": 0,
        "retail_price": 0,
        "sale_price": 0,
        "map_price": 0,
        "calculated_price": price,
        "tax_class_id": 0,
        "categories": p.categories,
        "brand_id": 0,
        "inventory_level": 0,
        "inventory_tracking": "none",
        "is_free_shipping": false,
        "is_visible": true,
        "is_featured": false,
        "availability": "available",
        "condition": "New",
        "custom_url": {"url": format!("/{}/", slug(&p.name)), "is_customized": false},
        "date_created": CREATED,
        "date_modified": CREATED,
    })
}

/// `productCustomField_Full`s: `id`, `name`, `value`.
fn custom_fields_json(p: &CatalogProduct) -> Value {
    Value::Array(
        p.custom_fields
            .iter()
            .zip(1u64..)
            .map(|((name, value), n)| json!({"id": p.id * 100 + n, "name": name, "value": value}))
            .collect(),
    )
}

/// `Category`, the modelled fields plus fixed values for the rest.
fn category_json(c: &CatalogCategory, all: &[CatalogCategory], sort_order: usize) -> Value {
    let parent_path = all
        .iter()
        .find(|p| p.id == c.parent_id && c.parent_id != 0)
        .map(|p| format!("/{}", slug(&p.name)))
        .unwrap_or_default();
    json!({
        "id": c.id,
        "parent_id": c.parent_id,
        "name": c.name,
        "description": "",
        "views": 0,
        "sort_order": sort_order,
        "page_title": "",
        "meta_keywords": [""],
        "meta_description": "",
        "layout_file": "category.html",
        "image_url": "",
        "is_visible": true,
        "search_keywords": "",
        "default_product_sort": "use_store_settings",
        "custom_url": {
            "url": format!("{parent_path}/{}/", slug(&c.name)),
            "is_customized": false,
        },
    })
}

/// Method, scope, paging and the store's catalog, shared by both collections.
fn guard<'a>(
    st: &'a State,
    auth: &Auth,
    req: &Incoming,
) -> Result<(&'a StoreSpec, Paging), Box<Resp>> {
    if req.method != Method::GET {
        return Err(Box::new(method_not_allowed(Area::V3)));
    }
    if !auth.has_any(&READ_SCOPES) {
        return Err(Box::new(forbidden(Area::V3)));
    }
    let paging = paging(req)?;
    let spec = st
        .stores
        .get(&auth.store_hash)
        .map(|s| &s.spec)
        .ok_or_else(|| Box::new(not_found(Area::V3)))?;
    Ok((spec, paging))
}

fn contains_ci(haystack: &str, needle_lower: &str) -> bool {
    haystack.to_lowercase().contains(needle_lower)
}

/// `GET /v3/catalog/products`.
pub(crate) fn products(st: &State, auth: &Auth, req: &Incoming) -> Resp {
    let run = || -> Result<Resp, Box<Resp>> {
        let (spec, paging) = guard(st, auth, req)?;
        let id = id_param(req, "id")?;
        let ids = id_list(req, "id:in")?;
        let categories = id_list(req, "categories:in")?;
        let keyword = param(req, "keyword").map(|k| k.trim().to_lowercase());
        let name = param(req, "name");
        let sku = param(req, "sku");
        let include = field_list(req, "include_fields");
        let exclude = field_list(req, "exclude_fields");
        let with_custom_fields =
            field_list(req, "include").is_some_and(|i| i.iter().any(|x| x == "custom_fields"));
        let mut matching: Vec<&CatalogProduct> = spec
            .products
            .iter()
            .filter(|p| id.is_none_or(|id| p.id == id))
            .filter(|p| ids.as_ref().is_none_or(|ids| ids.contains(&p.id)))
            .filter(|p| {
                categories
                    .as_ref()
                    .is_none_or(|cs| p.categories.iter().any(|c| cs.contains(c)))
            })
            .filter(|p| {
                keyword
                    .as_ref()
                    .is_none_or(|k| contains_ci(&p.name, k) || contains_ci(&p.sku, k))
            })
            .filter(|p| name.as_ref().is_none_or(|n| &p.name == n))
            .filter(|p| sku.as_ref().is_none_or(|s| &p.sku == s))
            .collect();
        sort_products(&mut matching, req)?;
        let items = matching
            .into_iter()
            .map(|p| {
                let mut item =
                    select_fields(product_json(p), include.as_deref(), exclude.as_deref());
                if with_custom_fields {
                    item["custom_fields"] = custom_fields_json(p);
                }
                item
            })
            .collect();
        Ok(respond::json(200, &paginate(items, &paging)))
    };
    run().unwrap_or_else(|resp| *resp)
}

/// Orders products as `sort` and `direction` ask (by id when neither is given).
fn sort_products(products: &mut [&CatalogProduct], req: &Incoming) -> Result<(), Box<Resp>> {
    const SORTS: [&str; 9] = [
        "id",
        "name",
        "sku",
        "price",
        "date_modified",
        "date_last_imported",
        "inventory_level",
        "is_visible",
        "total_sold",
    ];
    let sort = param(req, "sort").unwrap_or_else(|| "id".to_owned());
    if !SORTS.contains(&sort.as_str()) {
        return Err(invalid(
            "sort",
            &format!("sort must be one of {}", SORTS.join(", ")),
        ));
    }
    let descending = match param(req, "direction").as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(invalid("direction", "direction must be asc or desc")),
    };
    products.sort_by(|a, b| {
        let by = match sort.as_str() {
            "name" => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
            "sku" => a.sku.cmp(&b.sku),
            "price" => a.price_cents.cmp(&b.price_cents),
            _ => std::cmp::Ordering::Equal,
        };
        by.then(a.id.cmp(&b.id))
    });
    if descending {
        products.reverse();
    }
    Ok(())
}

/// `GET /v3/catalog/categories`.
pub(crate) fn categories(st: &State, auth: &Auth, req: &Incoming) -> Resp {
    let run = || -> Result<Resp, Box<Resp>> {
        let (spec, paging) = guard(st, auth, req)?;
        let id = id_param(req, "id")?;
        let ids = id_list(req, "id:in")?;
        let parent = id_param(req, "parent_id")?;
        let parents = id_list(req, "parent_id:in")?;
        let name = param(req, "name");
        let like = param(req, "name:like").map(|n| n.trim().to_lowercase());
        let include = field_list(req, "include_fields");
        let exclude = field_list(req, "exclude_fields");
        let mut sorted: Vec<&CatalogCategory> = spec.categories.iter().collect();
        sorted.sort_by_key(|c| c.id);
        let items = sorted
            .iter()
            .enumerate()
            .filter(|(_, c)| id.is_none_or(|id| c.id == id))
            .filter(|(_, c)| ids.as_ref().is_none_or(|ids| ids.contains(&c.id)))
            .filter(|(_, c)| parent.is_none_or(|p| c.parent_id == p))
            .filter(|(_, c)| parents.as_ref().is_none_or(|ps| ps.contains(&c.parent_id)))
            .filter(|(_, c)| name.as_ref().is_none_or(|n| &c.name == n))
            .filter(|(_, c)| like.as_ref().is_none_or(|l| contains_ci(&c.name, l)))
            .map(|(i, c)| {
                select_fields(
                    category_json(c, &spec.categories, i),
                    include.as_deref(),
                    exclude.as_deref(),
                )
            })
            .collect();
        Ok(respond::json(200, &paginate(items, &paging)))
    };
    run().unwrap_or_else(|resp| *resp)
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs_fold_spanish_accents_and_collapse_separators() {
        assert_eq!(slug("Pantalón chino"), "pantalon-chino");
        assert_eq!(slug("Tarjeta regalo 50 €"), "tarjeta-regalo-50");
        assert_eq!(slug("Calcetines Blanco & Negro"), "calcetines-blanco-negro");
    }
}
