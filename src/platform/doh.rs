//! DNS-over-HTTPS TXT lookups (JSON API) with a deadline and a body cap enforced
//! while the body streams in; the answer is parsed by `crate::domains::doh`.

use super::shared::with_deadline;
use crate::domains::doh::{lookup_url, parse_txt_answer, DohError, MAX_ANSWER_BYTES};
use crate::domains::settings::DomainSettings;
use futures_util::StreamExt;
use worker::{Fetch, Headers, Method, Request, RequestInit};

/// The TXT strings at `name`.
pub(crate) async fn lookup_txt(
    settings: &DomainSettings,
    name: &str,
) -> Result<Vec<String>, DohError> {
    let url = lookup_url(&settings.doh_url, name);
    let headers = Headers::new();
    headers
        .set("accept", "application/dns-json")
        .map_err(|e| DohError::Network(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let req = Request::new_with_init(&url, &init).map_err(|e| DohError::Network(e.to_string()))?;
    let send = async move {
        let mut res = Fetch::Request(req)
            .send()
            .await
            .map_err(|e| DohError::Network(e.to_string()))?;
        let status = res.status_code();
        if status != 200 {
            return Err(DohError::Http(status));
        }
        let mut body: Vec<u8> = Vec::new();
        // A body-less 200 has no stream: parse it as empty (malformed).
        if let Ok(mut stream) = res.stream() {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| DohError::Network(e.to_string()))?;
                if body.len().saturating_add(chunk.len()) > MAX_ANSWER_BYTES {
                    return Err(DohError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
        }
        parse_txt_answer(&body)
    };
    with_deadline(settings.doh_timeout_ms, send)
        .await
        .unwrap_or(Err(DohError::Timeout))
}
