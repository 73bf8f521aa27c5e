//! What seQura changed, for the store's transaction log: one entry per setting changed, "changed
//! by seQura", with the value before and after, read in the merchant's language (the setting's
//! name and words such as "none" are catalog terms; values such as IP addresses are shown as
//! they are). Written in the same transaction as the change itself.

use crate::db;
use crate::db::transaction_log::Outcome;
use crate::domain::StoreHash;
use crate::i18n::{Catalogs, Message};
use crate::orders::{About, Record};

/// The log's event of a change made through seQura's configuration webhook.
pub const EVENT: &str = "remote_configuration";

/// The longest value shown, in characters (an exclusion list may hold hundreds of items).
const MAX_SHOWN: usize = 300;

/// A value as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// As it is in every language (addresses, codes, names).
    Text(String),
    /// The catalog's word for this key.
    Term(&'static str),
}

impl Shown {
    /// A list, or the catalog's "none".
    pub fn list<S: AsRef<str>>(items: &[S]) -> Self {
        if items.is_empty() {
            return Shown::Term("remote_none");
        }
        let mut out = String::new();
        for (n, item) in items.iter().enumerate() {
            let next = if n == 0 {
                item.as_ref().to_string()
            } else {
                format!(", {}", item.as_ref())
            };
            if out.chars().count() + next.chars().count() > MAX_SHOWN {
                out.push_str(&format!(" … (+{})", items.len() - n));
                break;
            }
            out.push_str(&next);
        }
        Shown::Text(out)
    }

    pub fn on_off(on: bool) -> Self {
        Shown::Term(if on { "remote_on" } else { "remote_off" })
    }

    /// A text, or the catalog's "none" when empty.
    pub fn text(s: &str) -> Self {
        if s.trim().is_empty() {
            Shown::Term("remote_none")
        } else {
            Shown::list(&[s])
        }
    }
}

/// One setting changed: its name (a catalog key, under an `area` key when the name alone is
/// ambiguous, e.g. a widget's "Price selector"), before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub area: Option<&'static str>,
    pub setting: &'static str,
    pub before: Shown,
    pub after: Shown,
}

impl Change {
    /// The change, when `before` and `after` differ.
    pub fn of(
        area: Option<&'static str>,
        setting: &'static str,
        before: Shown,
        after: Shown,
    ) -> Option<Self> {
        (before != after).then_some(Self {
            area,
            setting,
            before,
            after,
        })
    }

    fn message(&self) -> Message {
        let mut m = match self.area {
            Some(area) => Message::new("log_msg_remote_changed_in").term("area", area),
            None => Message::new("log_msg_remote_changed"),
        }
        .term("setting", self.setting);
        for (name, value) in [("before", &self.before), ("after", &self.after)] {
            m = match value {
                Shown::Text(t) => m.text(name, t.clone()),
                Shown::Term(k) => m.term(name, k),
            };
        }
        m
    }
}

/// Writes one "changed by seQura" entry per change, within the caller's transaction.
pub fn record(
    conn: &rusqlite::Connection,
    i18n: &Catalogs,
    store: &StoreHash,
    changes: &[Change],
) -> Result<(), db::DbError> {
    for c in changes {
        Record::new(
            i18n,
            store,
            &About::default(),
            EVENT,
            Outcome::Changed,
            &c.message(),
        )
        .write(conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn a_change_reads_in_each_language_and_long_lists_are_cut() {
        let i18n = Catalogs::load().unwrap();
        let c = Change::of(
            None,
            "nav_countries",
            Shown::list(&["ES"]),
            Shown::list(&["ES", "FR"]),
        )
        .unwrap();
        assert_eq!(
            c.message().render(&i18n, Lang::En),
            "Selling countries: ES → ES, FR"
        );
        let c = Change::of(
            None,
            "allowed_ips_label",
            Shown::list::<&str>(&[]),
            Shown::list(&["1.2.3.4"]),
        )
        .unwrap();
        for lang in [Lang::Es, Lang::Fr, Lang::It, Lang::Pt] {
            let text = c.message().render(&i18n, lang);
            assert!(text.ends_with("→ 1.2.3.4"), "{text}");
            assert!(
                !text.contains("none") && !text.contains("{"),
                "{lang:?}: {text}"
            );
        }
        assert!(Change::of(None, "x", Shown::on_off(true), Shown::on_off(true)).is_none());
        let many: Vec<String> = (0..200).map(|n| format!("Product {n}")).collect();
        let Shown::Text(t) = Shown::list(&many) else {
            panic!()
        };
        assert!(
            t.chars().count() < MAX_SHOWN + 20 && t.ends_with(")"),
            "{t}"
        );
    }
}
