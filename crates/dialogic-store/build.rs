//! Rebuild when a migration is added or changed: `sqlx::migrate!` embeds the files at compile
//! time and cannot tell cargo about new ones by itself.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
