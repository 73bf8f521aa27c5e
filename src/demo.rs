//! `sequra-bc demo`: the app and a simulated BigCommerce on loopback, with its own temporary
//! data dir, so a person can install the app into a store in the browser.

use std::path::PathBuf;

use crate::cli::{CliError, DemoArgs};

pub fn demo_command(_args: &DemoArgs, _data_dir: Option<PathBuf>) -> Result<(), CliError> {
    Err("demo is not wired yet".into())
}
