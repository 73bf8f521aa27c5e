//! Integration tests: the real app on port 0 with a temp data dir, against the BigCommerce
//! stand-in, over real HTTP.

mod helpers;

mod app_lifecycle;
mod attack;
mod attack14;
mod attack15;
mod attack16;
mod attack17;
mod attack32;
mod attack_recovery;
mod banners;
mod browser;
mod browser_banners;
mod browser_layout;
mod browser_remote;
mod browser_widgets;
mod checkout;
mod checkout_layout;
mod crash;
mod deployments;
mod diagnostics;
mod isolation;
mod limits;
mod load;
mod metrics;
mod money_safety;
mod network;
mod onboarding;
mod one_payment;
mod order_sync;
mod pages;
mod remote_config;
mod remote_registration;
mod remote_topics;
mod review;
mod secrets;
mod services;
mod storefronts;
mod transaction_log;
mod way_back;
mod webhooks;
mod widgets;
