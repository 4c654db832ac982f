//! A loopback server speaking the part of the ECR API that moto lacks:
//! pull-through cache rules (`CreatePullThroughCacheRule`,
//! `DescribePullThroughCacheRules`, `UpdatePullThroughCacheRule`,
//! `DeletePullThroughCacheRule`), in the AWS JSON 1.1 protocol of the ECR
//! API reference (`X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.*`,
//! camelCase JSON bodies, epoch-second timestamps, errors as a 400 with
//! `__type` and `message`). Other ECR actions answer
//! `UnknownOperationException`. Requests are not authenticated. A test
//! edits or removes a rule "outside" with [`FakeEcr::set_credential`] and
//! [`FakeEcr::remove_rule`].

use crate::http::{self, Reply, Request};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const ACCOUNT: &str = "123456789012";
/// Registries the fake accepts as upstreams, and whether they need a
/// Secrets Manager credential (as Docker Hub and GitHub do).
const UPSTREAMS: &[(&str, bool)] = &[
    ("public.ecr.aws", false),
    ("registry.k8s.io", false),
    ("quay.io", false),
    ("registry-1.docker.io", true),
    ("ghcr.io", true),
];

#[derive(Default)]
struct State {
    rules: BTreeMap<String, Value>,
    actions: Vec<String>,
}

/// A running fake ECR endpoint; the server thread lives as long as the
/// test process.
#[derive(Clone)]
pub struct FakeEcr {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl FakeEcr {
    pub fn start() -> FakeEcr {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let endpoint = http::serve("fake ECR", move |req| Reply::Keep(answer(&shared, &req)));
        FakeEcr { endpoint, state }
    }

    /// The actions received so far.
    pub fn actions(&self) -> Vec<String> {
        self.state.lock().unwrap().actions.clone()
    }

    /// The rule of a prefix as the API reports it.
    pub fn rule(&self, prefix: &str) -> Option<Value> {
        self.state.lock().unwrap().rules.get(prefix).cloned()
    }

    /// Delete a rule behind terrace's back.
    pub fn remove_rule(&self, prefix: &str) {
        self.state.lock().unwrap().rules.remove(prefix);
    }

    /// Change a rule's credential behind terrace's back.
    pub fn set_credential(&self, prefix: &str, arn: &str) {
        if let Some(r) = self.state.lock().unwrap().rules.get_mut(prefix) {
            r["credentialArn"] = json!(arn);
        }
    }
}

fn answer(state: &Mutex<State>, req: &Request) -> Vec<u8> {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let target = req.header("x-amz-target").unwrap_or_default();
    let action = target.rsplit('.').next().unwrap_or_default().to_string();
    let mut st = state.lock().unwrap();
    st.actions.push(action.clone());
    let (status, out) = match handle(&mut st, &action, &body) {
        Ok(v) => (200, v),
        Err((code, message)) => (400, json!({ "__type": code, "message": message })),
    };
    http::response(status, "application/x-amz-json-1.1", &[], &out.to_string())
}

type Failure = (&'static str, String);

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as f64)
        .unwrap_or(0.0)
}

fn not_found(prefix: &str) -> Failure {
    (
        "PullThroughCacheRuleNotFoundException",
        format!(
            "The pull-through cache rule with prefix '{prefix}' does not exist in the registry with id '{ACCOUNT}'"
        ),
    )
}

fn str_of<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

fn handle(st: &mut State, action: &str, body: &Value) -> Result<Value, Failure> {
    match action {
        "CreatePullThroughCacheRule" => {
            let prefix = str_of(body, "ecrRepositoryPrefix").unwrap_or_default();
            let url = str_of(body, "upstreamRegistryUrl").unwrap_or_default();
            if prefix.is_empty() || url.is_empty() {
                return Err((
                    "InvalidParameterException",
                    "ecrRepositoryPrefix and upstreamRegistryUrl are required".into(),
                ));
            }
            let Some((_, needs_credential)) = UPSTREAMS.iter().find(|(u, _)| *u == url) else {
                return Err((
                    "UnsupportedUpstreamRegistryException",
                    format!("The specified upstream registry '{url}' is not supported"),
                ));
            };
            let credential = str_of(body, "credentialArn");
            if *needs_credential && credential.is_none() {
                return Err((
                    "InvalidParameterException",
                    format!("A credential ARN is required for the upstream registry '{url}'"),
                ));
            }
            if st.rules.contains_key(prefix) {
                return Err((
                    "PullThroughCacheRuleAlreadyExistsException",
                    format!("A pull-through cache rule with prefix '{prefix}' already exists"),
                ));
            }
            let mut rule = json!({
                "ecrRepositoryPrefix": prefix,
                "upstreamRegistryUrl": url,
                "registryId": ACCOUNT,
                "createdAt": now(),
                "updatedAt": now(),
                "upstreamRepositoryPrefix":
                    str_of(body, "upstreamRepositoryPrefix").unwrap_or("ROOT"),
            });
            for k in ["credentialArn", "customRoleArn"] {
                if let Some(v) = str_of(body, k) {
                    rule[k] = json!(v);
                }
            }
            st.rules.insert(prefix.to_string(), rule.clone());
            Ok(rule)
        }
        "DescribePullThroughCacheRules" => {
            let wanted: Vec<&str> = body
                .get("ecrRepositoryPrefixes")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for w in &wanted {
                if !st.rules.contains_key(*w) {
                    return Err(not_found(w));
                }
            }
            // Two rules a page, so paging is exercised.
            let start = str_of(body, "nextToken")
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(0);
            let all: Vec<&Value> = st
                .rules
                .iter()
                .filter(|(k, _)| wanted.is_empty() || wanted.contains(&k.as_str()))
                .map(|(_, v)| v)
                .collect();
            let page: Vec<&Value> = all.iter().skip(start).take(2).copied().collect();
            let mut out = json!({ "pullThroughCacheRules": page });
            if start + 2 < all.len() {
                out["nextToken"] = json!((start + 2).to_string());
            }
            Ok(out)
        }
        "UpdatePullThroughCacheRule" => {
            let prefix = str_of(body, "ecrRepositoryPrefix").unwrap_or_default();
            let Some(rule) = st.rules.get_mut(prefix) else {
                return Err(not_found(prefix));
            };
            for k in ["credentialArn", "customRoleArn"] {
                match str_of(body, k) {
                    Some(v) => rule[k] = json!(v),
                    None => {
                        if let Some(m) = rule.as_object_mut() {
                            m.remove(k);
                        }
                    }
                }
            }
            rule["updatedAt"] = json!(now());
            Ok(rule.clone())
        }
        "DeletePullThroughCacheRule" => {
            let prefix = str_of(body, "ecrRepositoryPrefix").unwrap_or_default();
            st.rules.remove(prefix).ok_or_else(|| not_found(prefix))
        }
        other => Err((
            "UnknownOperationException",
            format!("the fake ECR endpoint does not implement {other}"),
        )),
    }
}
