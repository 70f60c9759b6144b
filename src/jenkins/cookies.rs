//! The cookies the configured server sets besides Jenkins' session: a front door's session
//! cookie, a load balancer's sticky cookie. They are sent back to that server only, and never
//! printed (their values are registered as secrets).
//!
//! Jenkins' own session cookie (`JSESSIONID…`) is not kept here: a crumb is bound to the
//! session it was issued in, so that cookie travels with its crumb (see `Crumb`), and a
//! refused POST's new session must not replace it behind the crumb's back.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};

/// How many cookies are kept: a server that sets more is not one worth following further.
const MAX_COOKIES: usize = 50;
/// The longest `name=value` pair kept, as browsers cap a cookie.
const MAX_PAIR: usize = 4096;

#[derive(Default)]
pub(crate) struct Jar {
    cookies: Mutex<BTreeMap<String, String>>,
}

/// Whether a cookie belongs to Jenkins' session, which travels with the crumb instead.
fn is_session(name: &str) -> bool {
    name.starts_with("JSESSIONID")
}

impl Jar {
    /// Takes in the cookies an answer of the configured server sets.
    pub fn store(&self, headers: &HeaderMap) {
        let mut cookies = self.cookies.lock().unwrap_or_else(|e| e.into_inner());
        for cookie in headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let Some((name, value)) = cookie
                .split(';')
                .next()
                .and_then(|pair| pair.trim().split_once('='))
            else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() || is_session(name) || name.len() + value.len() > MAX_PAIR {
                continue;
            }
            let lower = cookie.to_ascii_lowercase();
            if lower.contains("max-age=0") || lower.contains("expires=thu, 01 jan 1970") {
                cookies.remove(name);
                continue;
            }
            if cookies.len() >= MAX_COOKIES && !cookies.contains_key(name) {
                continue;
            }
            crate::redact::register(value);
            cookies.insert(name.to_string(), value.to_string());
        }
    }

    /// The `Cookie` header for a request to the configured server: the kept cookies, and
    /// `session` (Jenkins' session cookie of the crumb in use), whose pairs win on a clash.
    pub fn header(&self, session: Option<HeaderValue>) -> Option<HeaderValue> {
        let cookies = self.cookies.lock().unwrap_or_else(|e| e.into_inner());
        if cookies.is_empty() {
            return session;
        }
        let session_text = session.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("");
        let in_session: Vec<&str> = session_text
            .split(';')
            .filter_map(|pair| pair.trim().split_once('=').map(|(n, _)| n))
            .collect();
        let mut pairs: Vec<String> = cookies
            .iter()
            .filter(|(name, _)| !in_session.contains(&name.as_str()))
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if !session_text.is_empty() {
            pairs.push(session_text.to_string());
        }
        let mut value = HeaderValue::from_str(&pairs.join("; ")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(cookies: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for c in cookies {
            headers.append(SET_COOKIE, HeaderValue::from_str(c).unwrap());
        }
        headers
    }

    #[test]
    fn cookies_are_kept_and_sent_back_beside_the_crumbs_session() {
        let jar = Jar::default();
        assert!(jar.header(None).is_none());
        jar.store(&answer(&[
            "_oauth2_proxy=abc; Path=/; HttpOnly",
            "AWSALB=sticky-1; Path=/",
            "JSESSIONID.1a2b3c4d=node0x; Path=/",
        ]));
        assert_eq!(
            jar.header(None).unwrap().to_str().unwrap(),
            "AWSALB=sticky-1; _oauth2_proxy=abc"
        );
        let session = HeaderValue::from_static("JSESSIONID.1a2b3c4d=node0y");
        assert_eq!(
            jar.header(Some(session)).unwrap().to_str().unwrap(),
            "AWSALB=sticky-1; _oauth2_proxy=abc; JSESSIONID.1a2b3c4d=node0y"
        );
        jar.store(&answer(&["AWSALB=; Max-Age=0"]));
        assert_eq!(
            jar.header(None).unwrap().to_str().unwrap(),
            "_oauth2_proxy=abc"
        );
    }
}
