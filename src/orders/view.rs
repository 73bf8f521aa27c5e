//! What the merchant sees of seQura orders: the order panel and the transaction log.
