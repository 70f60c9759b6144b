//! The HTTP face of the sandbox: a request read once, the fault filter in front of the routes,
//! the `Date` header, and the counting of what was served.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::header;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Limited};

use super::control;
use super::doors::{self, strip_context};
use super::faults::{FaultAction, decide_fault};
use super::model::RequestRecord;
use super::pages::error_page;
use super::routes::route;
use super::shared::Shared;
use super::wire::{Reply, Req, set};

/// The service's error: hyper closes the connection without an answer, which is how the
/// sandbox drops a request on purpose.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the sandbox")]
pub(super) struct Dropped;

const BODY_LIMIT: usize = 1 << 20;

pub(super) async fn handle(
    shared: Arc<Shared>,
    request: Request<hyper::body::Incoming>,
    peer: IpAddr,
) -> Result<Reply, Dropped> {
    // Control routes are never counted, so `max_in_flight` measures the client under test alone.
    if request.uri().path().starts_with(control::PREFIX) {
        return serve(&shared, request, peer).await;
    }
    let in_flight = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(in_flight, Ordering::SeqCst);
    let result = serve(&shared, request, peer).await;
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    result
}

async fn serve(
    shared: &Arc<Shared>,
    request: Request<hyper::body::Incoming>,
    peer: IpAddr,
) -> Result<Reply, Dropped> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large",
            ));
        }
    };
    let raw_path = parts.uri.path().to_string();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let mut params: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        params.extend(form_urlencoded::parse(&body).into_owned());
    }
    let (context, front_door) = {
        let model = shared.lock();
        (model.context_path.clone(), model.front_door.clone())
    };
    let inside = strip_context(&context, &raw_path).map(str::to_string);
    let segments = inside.as_deref().and_then(decode_segments);
    let req = Req {
        method: parts.method,
        path: raw_path,
        segments: segments.clone().unwrap_or_default(),
        params,
        headers: parts.headers,
        host,
        context,
        peer,
        body,
    };
    if req.path.starts_with("/__sandbox/") {
        return Ok(control::handle(shared, &req));
    }
    // The front door stands before everything Jenkins does, faults included.
    if let Some(reply) = front_door.and_then(|door| doors::front_door(&door, &req)) {
        record(shared, &req, "front_door", &reply);
        return Ok(reply);
    }
    if inside.is_none() {
        let reply = doors::outside_context();
        record(shared, &req, "outside_context", &reply);
        return Ok(reply);
    }

    let fault = decide_fault(shared, &req);
    if !fault.latency.is_zero() {
        tokio::time::sleep(fault.latency).await;
    }
    match fault.action {
        FaultAction::DropBefore => return Err(Dropped),
        FaultAction::Error(status) => {
            let reply = error_page(status, status.canonical_reason().unwrap_or("Server Error"));
            record(shared, &req, "fault", &reply);
            return Ok(reply);
        }
        FaultAction::None | FaultAction::DropAfter => {}
    }

    let (route, reply) = if req.path.contains(';') {
        (
            "rejected",
            error_page(
                StatusCode::BAD_REQUEST,
                "Semicolons are not allowed in the request URI",
            ),
        )
    } else if segments.is_none() {
        (
            "rejected",
            error_page(StatusCode::BAD_REQUEST, "Malformed URL encoding"),
        )
    } else {
        let mut model = shared.lock();
        route(&mut model, &req)
    };
    let mut reply = reply;
    // The controller's own clock, which runs at the sandbox's speed.
    let now = shared.lock().now();
    set(&mut reply, header::DATE, &http_date(now));
    record(shared, &req, route, &reply);
    if fault.action == FaultAction::DropAfter {
        return Err(Dropped);
    }
    Ok(reply)
}

/// An IMF-fixdate (`Tue, 01 Dec 2026 05:29:48 GMT`) for epoch milliseconds.
pub(super) fn http_date(epoch_ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn decode_segments(path: &str) -> Option<Vec<String>> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        })
        .collect()
}

fn record(shared: &Shared, req: &Req, route: &str, reply: &Reply) {
    use hyper::body::Body as _;
    let bytes = reply.body().size_hint().exact().unwrap_or(0);
    let key = format!("{} {route}", req.method);
    let mut model = shared.lock();
    let second = model.now().div_euclid(1000);
    let stats = &mut model.stats;
    stats.requests += 1;
    stats.bytes += bytes;
    *stats.per_second.entry(second).or_default() += 1;
    // Reads of the JSON API that fetch whole objects instead of the fields they need.
    if req.path.ends_with("/api/json") && req.param("tree").is_none() {
        stats.reads_without_tree += 1;
    }
    let entry = stats.routes.entry(key).or_default();
    entry.count += 1;
    entry.bytes += bytes;
    if stats.log.len() >= LOG_LIMIT {
        stats.log.pop_front();
    }
    stats.log.push_back(RequestRecord {
        method: req.method.to_string(),
        path: req.path.clone(),
        status: reply.status().as_u16(),
        route: route.to_string(),
        headers: req.headers.keys().map(|k| k.as_str().to_string()).collect(),
    });
}

/// How many requests the log keeps: enough for any one test's run, bounded for long sessions.
const LOG_LIMIT: usize = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_imf_fixdates() {
        assert_eq!(
            http_date(1_796_102_988_000),
            "Tue, 01 Dec 2026 05:29:48 GMT"
        );
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn segments_are_decoded_one_by_one() {
        assert_eq!(
            decode_segments("/job/a%2Fb/job/c%20d/").unwrap(),
            vec!["job", "a/b", "job", "c d"]
        );
        assert!(decode_segments("/job/%FF/").is_none());
    }
}
