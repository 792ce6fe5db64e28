//! Domain ownership (DESIGN §2.5): which names a tenant may claim (public suffixes,
//! overlaps with other tenants), and the DNS TXT proof that turns a tenant's new
//! domain from `pending` to `active`. Pure logic; I/O is in `src/platform/`.

pub mod doh;
pub mod overlap;
pub mod public_suffix;
pub mod settings;
pub mod verification;
