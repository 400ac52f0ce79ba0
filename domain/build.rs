//! `sqlx::migrate!` embeds `../migrations` when this crate compiles; this
//! makes a new or changed migration recompile it.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
