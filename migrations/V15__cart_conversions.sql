-- Which order BigCommerce turned a seQura-solicited cart into, when it was not the app's
-- (`store/cart/converted`): a shopper who paid the cart another way in another tab. The
-- orders list by `cart_id` shows that sale only while it is not archived; this record stays,
-- so an approval arriving after the merchant archived the other sale is still refused.
ALTER TABLE solicitations ADD COLUMN converted_into INTEGER;
