//! The thin layer over `worker::*` (wasm32 only): the fetch entry point, bindings,
//! JS header access, host resolution I/O and upstream calls.

mod api;
mod app;
mod body;
mod call_audit;
mod d1;
mod doh;
mod env;
mod execute;
mod fast;
mod fast_proxy;
mod grants;
mod headers;
mod isolate;
mod jwks;
mod keeper_client;
mod needs;
mod outbound;
mod remote;
mod resolver;
mod rotation;
mod scheduled;
mod shared;
mod store;
mod token_keeper;
mod upstream;
mod vault;
mod verify;

use worker::{event, Context, Env};

/// Every request enters here. Errors never escape as `Err` (that would be an opaque
/// 500): `app::handle` renders them itself.
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    app::handle(req, env, ctx).await
}
