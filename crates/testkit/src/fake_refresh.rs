//! A loopback Auto Scaling endpoint for the instance-refresh calls moto
//! lacks (`StartInstanceRefresh`, `CancelInstanceRefresh`,
//! `DescribeInstanceRefreshes`), in front of a moto server: those three
//! actions are answered here with the AWS query protocol's shapes (form
//! body in, XML out, errors as `<ErrorResponse>` with a 400); every other
//! request is forwarded to moto unchanged and its answer relayed, so the
//! groups themselves stay moto's. A started refresh stays `InProgress`
//! until cancelled; a cancelled one reads `Cancelling` once, then
//! `Cancelled`. [`FakeInstanceRefresh::fail_next_start`] makes the next
//! start fail with a given error code.
//!
//! The forwarding part is [`QueryProxy`]: any query-protocol service (STS,
//! Auto Scaling, EC2) behind a handler that may answer an action itself.

use crate::http::{self, Reply};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const XMLNS: &str = "http://autoscaling.amazonaws.com/doc/2011-01-01/";

/// One instance refresh the fake knows.
#[derive(Clone, Debug)]
pub struct Refresh {
    pub id: String,
    pub group: String,
    pub status: String,
    /// The form parameters of the start request (`Preferences.…`, `Strategy`).
    pub params: BTreeMap<String, String>,
}

#[derive(Default)]
struct State {
    refreshes: Vec<Refresh>,
    fail_next_start: Option<String>,
    counter: u64,
}

/// A handler of a [`QueryProxy`]: given the action and the form, an answer
/// `(status, XML body)`, or `None` to forward the request.
pub type QueryHandler =
    Arc<dyn Fn(&str, &BTreeMap<String, String>) -> Option<(u16, String)> + Send + Sync>;

/// A loopback endpoint in front of a query-protocol service: each request
/// goes to the handler first, and is forwarded to `upstream` when the
/// handler returns `None`. The server thread lives as long as the test
/// process.
#[derive(Clone)]
pub struct QueryProxy {
    pub endpoint: String,
    actions: Arc<Mutex<Vec<String>>>,
}

impl QueryProxy {
    /// Start on a free loopback port, forwarding to `upstream`
    /// (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, handler: QueryHandler) -> QueryProxy {
        let actions = Arc::new(Mutex::new(Vec::new()));
        let seen = actions.clone();
        let upstream = http::host_of(upstream);
        let endpoint = http::serve("query proxy", move |req| {
            let form: BTreeMap<String, String> =
                crate::fake_eks::parse_query(&String::from_utf8_lossy(&req.body))
                    .into_iter()
                    .collect();
            let action = form.get("Action").cloned().unwrap_or_default();
            seen.lock().unwrap().push(action.clone());
            match handler(&action, &form) {
                Some((status, xml)) => Reply::Keep(http::response(status, "text/xml", &[], &xml)),
                None => Reply::Close(http::forward(&upstream, &req).unwrap_or_default()),
            }
        });
        QueryProxy { endpoint, actions }
    }

    /// The actions received so far (forwarded ones included), in order.
    pub fn actions(&self) -> Vec<String> {
        self.actions.lock().unwrap().clone()
    }
}

/// An AWS query-protocol error answer (`<ErrorResponse>`, status 400 or
/// as given), for handlers.
pub fn query_error(status: u16, code: &str, message: &str) -> (u16, String) {
    (
        status,
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
             <Message>{message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>"
        ),
    )
}

/// A running fake; the server thread lives as long as the test process.
#[derive(Clone)]
pub struct FakeInstanceRefresh {
    pub endpoint: String,
    proxy: QueryProxy,
    state: Arc<Mutex<State>>,
}

impl FakeInstanceRefresh {
    /// Start on a free loopback port, forwarding to the moto at `upstream`
    /// (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> FakeInstanceRefresh {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let proxy = QueryProxy::start(
            upstream,
            Arc::new(move |action, form| handle(&shared, action, form)),
        );
        FakeInstanceRefresh {
            endpoint: proxy.endpoint.clone(),
            proxy,
            state,
        }
    }

    /// Every refresh started so far, oldest first.
    pub fn refreshes(&self) -> Vec<Refresh> {
        self.state.lock().unwrap().refreshes.clone()
    }

    /// The refreshes of one group.
    pub fn refreshes_of(&self, group: &str) -> Vec<Refresh> {
        self.refreshes()
            .into_iter()
            .filter(|r| r.group == group)
            .collect()
    }

    /// The actions received so far (forwarded ones included).
    pub fn actions(&self) -> Vec<String> {
        self.proxy.actions()
    }

    /// The next `StartInstanceRefresh` fails with `code` (e.g.
    /// `InstanceRefreshInProgress`).
    pub fn fail_next_start(&self, code: &str) {
        self.state.lock().unwrap().fail_next_start = Some(code.to_string());
    }
}

fn error(code: &str, message: &str) -> (u16, String) {
    query_error(400, code, message)
}

fn ok(action: &str, result: &str) -> (u16, String) {
    (
        200,
        format!(
            "<{action}Response xmlns=\"{XMLNS}\"><{action}Result>{result}</{action}Result>\
             <ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></{action}Response>"
        ),
    )
}

fn active(status: &str) -> bool {
    matches!(status, "Pending" | "InProgress" | "Cancelling")
}

/// The three refresh actions; `None` for everything else (forwarded).
fn handle(
    state: &Mutex<State>,
    action: &str,
    form: &BTreeMap<String, String>,
) -> Option<(u16, String)> {
    let mut st = state.lock().unwrap();
    let group = form
        .get("AutoScalingGroupName")
        .cloned()
        .unwrap_or_default();
    Some(match action {
        "StartInstanceRefresh" => {
            if let Some(code) = st.fail_next_start.take() {
                return Some(error(&code, "injected failure"));
            }
            if st
                .refreshes
                .iter()
                .any(|r| r.group == group && active(&r.status))
            {
                return Some(error(
                    "InstanceRefreshInProgress",
                    "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.",
                ));
            }
            st.counter += 1;
            let id = format!("00000000-0000-4000-8000-{:012}", st.counter);
            let params = form
                .iter()
                .filter(|(k, _)| *k != "Action" && *k != "Version")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            st.refreshes.push(Refresh {
                id: id.clone(),
                group,
                status: "InProgress".into(),
                params,
            });
            ok(
                action,
                &format!("<InstanceRefreshId>{id}</InstanceRefreshId>"),
            )
        }
        "CancelInstanceRefresh" => {
            match st
                .refreshes
                .iter_mut()
                .find(|r| r.group == group && active(&r.status))
            {
                Some(r) => {
                    r.status = "Cancelling".into();
                    let id = r.id.clone();
                    ok(
                        action,
                        &format!("<InstanceRefreshId>{id}</InstanceRefreshId>"),
                    )
                }
                None => error(
                    "ActiveInstanceRefreshNotFound",
                    "No in progress or pending Instance Refresh found for Auto Scaling group",
                ),
            }
        }
        "DescribeInstanceRefreshes" => {
            let ids: Vec<&String> = form
                .iter()
                .filter(|(k, _)| k.starts_with("InstanceRefreshIds.member."))
                .map(|(_, v)| v)
                .collect();
            let mut members = String::new();
            for r in st
                .refreshes
                .iter_mut()
                .filter(|r| r.group == group && (ids.is_empty() || ids.contains(&&r.id)))
            {
                members.push_str(&format!(
                    "<member><InstanceRefreshId>{}</InstanceRefreshId>\
                     <AutoScalingGroupName>{}</AutoScalingGroupName><Status>{}</Status></member>",
                    r.id, r.group, r.status
                ));
                if r.status == "Cancelling" {
                    r.status = "Cancelled".into();
                }
            }
            ok(
                action,
                &format!("<InstanceRefreshes>{members}</InstanceRefreshes>"),
            )
        }
        _ => return None,
    })
}
