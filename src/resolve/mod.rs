//! Host resolution policy: cache freshness windows and the isolate-memory tier.
//! The async orchestration over D1 and the Cache API lives in the platform layer.

pub mod cache;
pub mod remote;
pub mod settings;

pub use cache::{Freshness, MemoryCache};
pub use settings::CacheTtls;
