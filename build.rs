//! Rebuilds when migrations change, so refinery's embed macro sees new files.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
