//! Status lists of other, trusted deployments: fetched from the base URL their trust list
//! gave (never from a URL in a token), checked against their keys, cached for a few seconds.

use crate::keys::{Artefact, KeyRegistry, kind, verify_compact};
use base64::Engine as _;
use std::collections::HashMap;
use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a fetched list is used before it is fetched again.
pub const REMOTE_TTL: Duration = Duration::from_secs(5);

type Entry = (Instant, Arc<Vec<u8>>);

/// Cache of other deployments' status lists.
#[derive(Debug, Default)]
pub struct RemoteLists {
    cache: Mutex<HashMap<(String, u32), Entry>>,
}

impl RemoteLists {
    /// The 2-bit status at `idx` in `origin`'s list `list`.
    pub async fn status(
        &self,
        keys: &KeyRegistry,
        origin: &str,
        list: u32,
        idx: u32,
    ) -> Result<u8, String> {
        let key = (origin.to_owned(), list);
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .filter(|(at, _)| at.elapsed() < REMOTE_TTL)
            .map(|(_, b)| b.clone());
        let bytes = match cached {
            Some(b) => b,
            None => {
                let b = Arc::new(fetch(keys, origin, list).await?);
                self.cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, (Instant::now(), b.clone()));
                b
            }
        };
        let i = idx as usize;
        bytes
            .get(i / 4)
            .map(|b| (b >> ((i % 4) * 2)) & 3)
            .ok_or_else(|| "index beyond the issuer's status list".to_owned())
    }
}

async fn fetch(keys: &KeyRegistry, origin: &str, list: u32) -> Result<Vec<u8>, String> {
    let url = format!("{}/status/{list}", origin.trim_end_matches('/'));
    let body = crate::net::get_ok(&url).await.map_err(|e| e.to_string())?;
    let jwt = String::from_utf8(body).map_err(|_| "status list is not text".to_owned())?;
    parse_list(keys, origin, &jwt)
}

/// Check a fetched IETF status list (`statuslist+jwt` only, signed by a key trusted for
/// `origin`) and return its decompressed 2-bit entries.
pub fn parse_list(keys: &KeyRegistry, origin: &str, jwt: &str) -> Result<Vec<u8>, String> {
    let header = kind::expect(jwt.trim(), Artefact::IetfStatusList).map_err(|e| e.to_string())?;
    let key = keys
        .get(&header.kid)
        .filter(|k| k.origin.as_deref() == Some(origin))
        .ok_or_else(|| "status list signed by a key not trusted for that deployment".to_owned())?;
    let payload = verify_compact(jwt.trim(), &key.verifier).map_err(|e| e.to_string())?;
    let claims =
        kind::expect_payload(&payload, Artefact::IetfStatusList).map_err(|e| e.to_string())?;
    if claims["status_list"]["bits"] != 2 {
        return Err("status list is not 2 bits per entry".into());
    }
    let lst = claims["status_list"]["lst"].as_str().unwrap_or_default();
    let z = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(lst)
        .map_err(|_| "lst is not base64url".to_owned())?;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&z[..])
        .take(64 * 1024 * 1024)
        .read_to_end(&mut out)
        .map_err(|_| "lst is not zlib".to_owned())?;
    Ok(out)
}
