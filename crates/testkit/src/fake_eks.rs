//! A small loopback HTTP server speaking the part of the EKS REST API that
//! moto does not implement: add-ons (and the add-on version catalogue),
//! access entries, access policy associations and pod identity
//! associations, plus tagging of those objects. Requests and responses
//! have the shapes of the AWS EKS API reference (JSON bodies, epoch-second
//! timestamps, errors as `x-amzn-ErrorType` with a `message` body). Clusters
//! are not created through it: a test declares them with
//! [`FakeEks::add_cluster`]. Requests are not authenticated.
//!
//! One thread accepts connections; each connection gets a thread and is
//! kept alive for as many requests as the client sends.
//!
//! [`FakeEks::in_front_of`] starts it as a proxy for a whole account: it
//! answers the EKS calls above itself and forwards every other request
//! (other services, and EKS clusters and node groups) unchanged to moto,
//! learning each cluster moto creates through it — so a binary pointed at
//! it with `AWS_ENDPOINT_URL` can apply configurations that mix both.

use crate::http::{self, Reply, Request};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// The add-on catalogue: name, versions (newest first) and the version that
/// is the default for every cluster version.
const CATALOGUE: &[(&str, &[&str])] = &[
    ("vpc-cni", &["v1.18.3-eksbuild.1", "v1.18.1-eksbuild.3"]),
    ("coredns", &["v1.11.1-eksbuild.9", "v1.11.1-eksbuild.4"]),
    (
        "kube-proxy",
        // The default first; the 1.30 build the shipped modules pin after it.
        &[
            "v1.29.3-eksbuild.2",
            "v1.29.1-eksbuild.2",
            "v1.30.0-eksbuild.3",
        ],
    ),
    (
        "aws-ebs-csi-driver",
        &["v1.31.0-eksbuild.1", "v1.30.0-eksbuild.1"],
    ),
    ("eks-pod-identity-agent", &["v1.3.0-eksbuild.1"]),
];

/// The cluster versions every catalogue entry is compatible with.
const CLUSTER_VERSIONS: &[&str] = &["1.28", "1.29", "1.30", "1.31"];

#[derive(Default)]
struct Cluster {
    version: String,
    addons: BTreeMap<String, Value>,
    /// Describes left before a new add-on reports ACTIVE.
    addon_pending: BTreeMap<String, u32>,
    access_entries: BTreeMap<String, Value>,
    /// principal ARN → policy ARN → associated policy.
    policies: BTreeMap<String, BTreeMap<String, Value>>,
    pod_identities: BTreeMap<String, Value>,
}

#[derive(Default)]
struct State {
    clusters: BTreeMap<String, Cluster>,
    tags: BTreeMap<String, BTreeMap<String, String>>,
    counter: u64,
    requests: Vec<String>,
    /// `host:port` of the server that gets every request the fake does not
    /// answer itself (proxy mode).
    upstream: Option<String>,
}

/// A running fake EKS endpoint. The server thread lives as long as the
/// test process.
#[derive(Clone)]
pub struct FakeEks {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl FakeEks {
    /// Start a server on a free loopback port.
    pub fn start() -> FakeEks {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let endpoint = http::serve("fake EKS", move |req| answer(&shared, req));
        FakeEks { endpoint, state }
    }

    /// Start a server that answers the EKS calls moto lacks and forwards
    /// everything else to `upstream` (an `http://host:port` endpoint).
    pub fn in_front_of(upstream: &str) -> FakeEks {
        let fake = FakeEks::start();
        fake.state.lock().unwrap().upstream = Some(http::host_of(upstream));
        fake
    }

    /// Declare a cluster (the API answers ResourceNotFoundException for
    /// any other).
    pub fn add_cluster(&self, name: &str, version: &str) {
        let mut st = self.state.lock().unwrap();
        st.clusters.entry(name.to_string()).or_default().version = version.to_string();
    }

    /// Every request received so far, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn answer(state: &Mutex<State>, req: Request) -> Reply {
    let upstream = state.lock().unwrap().upstream.clone();
    if let Some(upstream) = upstream {
        let eks = req.headers.iter().any(|h| {
            h.to_ascii_lowercase().starts_with("authorization:") && h.contains("/eks/aws4_request")
        });
        if !(eks && fake_route(req.path())) {
            let Some(mut response) = http::forward(&upstream, &req) else {
                return Reply::Close(Vec::new());
            };
            if eks {
                learn_cluster(state, &req.method, req.path(), &req.body, &response);
                unique_issuer(&mut response);
            }
            return Reply::Close(response);
        }
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let mut st = state.lock().unwrap();
    st.requests.push(format!("{} {}", req.method, req.path()));
    let (status, error, out) = match handle(
        &mut st,
        &req.method,
        req.path(),
        &parse_query(req.query()),
        &body,
    ) {
        Ok(v) => (200, None, v),
        Err((status, code, message)) => (status, Some(code), json!({ "message": message })),
    };
    let extra: Vec<(&str, &str)> = error
        .iter()
        .map(|c| ("x-amzn-errortype", c.as_str()))
        .collect();
    Reply::Keep(http::response(
        status,
        "application/json",
        &extra,
        &out.to_string(),
    ))
}

/// In proxy mode, the EKS paths the fake answers itself.
fn fake_route(path: &str) -> bool {
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["addons", "supported-versions"] => true,
        ["clusters", _, kind, ..] => {
            matches!(
                *kind,
                "addons" | "access-entries" | "pod-identity-associations"
            )
        }
        ["tags", arn @ ..] => {
            let arn = arn.join("/");
            [":addon/", ":access-entry/", ":podidentityassociation/"]
                .iter()
                .any(|k| arn.contains(k))
        }
        _ => false,
    }
}

/// Proxy mode: a cluster created (or deleted) upstream is known (or
/// forgotten) here, so its add-ons and access entries can be managed.
fn learn_cluster(state: &Mutex<State>, method: &str, path: &str, request: &[u8], response: &[u8]) {
    if !response.starts_with(b"HTTP/1.1 200") && !response.starts_with(b"HTTP/1.0 200") {
        return;
    }
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let mut st = state.lock().unwrap();
    match (method, segs.as_slice()) {
        ("POST", [c]) if c == "clusters" => {
            let req: Value = serde_json::from_slice(request).unwrap_or(Value::Null);
            if let Some(name) = str_of(&req, "name") {
                let version = str_of(&req, "version").unwrap_or_else(|| "1.30".into());
                st.clusters.entry(name).or_default().version = version;
            }
        }
        ("DELETE", [c, name]) if c == "clusters" => {
            st.clusters.remove(name);
        }
        _ => {}
    }
}

/// moto draws one OIDC issuer ID per process, so every cluster it creates
/// has the same issuer URL, and a second cluster's IAM OIDC provider is
/// refused as already existing. Real EKS gives each cluster its own: the
/// proxy rewrites the ID in a cluster's description to one derived from the
/// cluster's name (of the same length, so the response's length holds).
fn unique_issuer(response: &mut [u8]) {
    let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let body = &response[split + 4..];
    let Ok(doc) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let cluster = &doc["cluster"];
    let (Some(name), Some(issuer)) = (
        cluster["name"].as_str(),
        cluster["identity"]["oidc"]["issuer"].as_str(),
    ) else {
        return;
    };
    let Some((prefix, id)) = issuer.rsplit_once("/id/") else {
        return;
    };
    // FNV-1a of the name, as upper-case hex, cut to the ID's length.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut own = format!("{hash:016X}{hash:016X}");
    own.truncate(id.len());
    let (old, new) = (issuer.to_string(), format!("{prefix}/id/{own}"));
    let text = String::from_utf8_lossy(body).replace(&old, &new);
    if text.len() == body.len() {
        response[split + 4..].copy_from_slice(text.as_bytes());
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

type Failure = (u16, String, String);

fn not_found(message: String) -> Failure {
    (404, "ResourceNotFoundException".into(), message)
}

fn invalid(message: String) -> Failure {
    (400, "InvalidParameterException".into(), message)
}

fn in_use(message: String) -> Failure {
    (409, "ResourceInUseException".into(), message)
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as f64)
        .unwrap_or(0.0)
}

fn str_of(body: &Value, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_string)
}

fn tags_of(body: &Value) -> BTreeMap<String, String> {
    body.get("tags")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// `obj` with its current tags from the tag table.
fn with_tags(st: &State, mut obj: Value, arn_key: &str) -> Value {
    let arn = obj.get(arn_key).and_then(Value::as_str).unwrap_or_default();
    let tags = st.tags.get(arn).cloned().unwrap_or_default();
    obj["tags"] = json!(tags);
    obj
}

fn default_version(addon: &str) -> Option<&'static str> {
    CATALOGUE
        .iter()
        .find(|(n, _)| *n == addon)
        .map(|(_, v)| v[0])
}

fn handle(
    st: &mut State,
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: &Value,
) -> Result<Value, Failure> {
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (method, segs.as_slice()) {
        ("GET", ["addons", "supported-versions"]) => Ok(addon_versions(query)),
        ("GET", ["clusters"]) => Ok(json!({ "clusters": st.clusters.keys().collect::<Vec<_>>() })),
        ("POST", ["tags", arn @ ..]) => {
            let arn = arn.join("/");
            st.tags.entry(arn).or_default().extend(tags_of(body));
            Ok(json!({}))
        }
        ("DELETE", ["tags", arn @ ..]) => {
            let arn = arn.join("/");
            let keys: Vec<&String> = query
                .iter()
                .filter(|(k, _)| k == "tagKeys")
                .map(|(_, v)| v)
                .collect();
            if let Some(t) = st.tags.get_mut(&arn) {
                t.retain(|k, _| !keys.contains(&k));
            }
            Ok(json!({}))
        }
        ("GET", ["tags", arn @ ..]) => {
            let arn = arn.join("/");
            Ok(json!({ "tags": st.tags.get(&arn).cloned().unwrap_or_default() }))
        }
        (_, ["clusters", cluster, rest @ ..]) => {
            let cluster = cluster.to_string();
            if !st.clusters.contains_key(&cluster) {
                return Err(not_found(format!("No cluster found for name: {cluster}.")));
            }
            match rest {
                ["addons", ..] => addons(st, method, &cluster, &rest[1..], query, body),
                ["access-entries", ..] => access(st, method, &cluster, &rest[1..], body),
                ["pod-identity-associations", ..] => {
                    pod_identity(st, method, &cluster, &rest[1..], query, body)
                }
                _ => Err(not_found(format!("no route for {method} {path}"))),
            }
        }
        _ => Err(not_found(format!("no route for {method} {path}"))),
    }
}

fn addon_versions(query: &[(String, String)]) -> Value {
    let want = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
    let (name, k8s) = (want("addonName"), want("kubernetesVersion"));
    let addons: Vec<Value> = CATALOGUE
        .iter()
        .filter(|(n, _)| name.is_none_or(|w| w == *n))
        .filter(|_| k8s.is_none_or(|v| CLUSTER_VERSIONS.contains(&v)))
        .map(|(n, versions)| {
            let vs: Vec<Value> = versions
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let compat: Vec<Value> = CLUSTER_VERSIONS
                        .iter()
                        .map(|c| {
                            json!({
                                "clusterVersion": c,
                                "platformVersions": ["*"],
                                "defaultVersion": i == 0,
                            })
                        })
                        .collect();
                    json!({
                        "addonVersion": v,
                        "architecture": ["amd64", "arm64"],
                        "compatibilities": compat,
                        "requiresConfiguration": false,
                    })
                })
                .collect();
            json!({
                "addonName": n,
                "type": "networking",
                "addonVersions": vs,
                "publisher": "eks",
                "owner": "aws",
            })
        })
        .collect();
    json!({ "addons": addons })
}

fn addons(
    st: &mut State,
    method: &str,
    cluster: &str,
    rest: &[&str],
    query: &[(String, String)],
    body: &Value,
) -> Result<Value, Failure> {
    match (method, rest) {
        ("GET", []) => {
            let names: Vec<&String> = st.clusters[cluster].addons.keys().collect();
            Ok(json!({ "addons": names }))
        }
        ("POST", []) => {
            let name = str_of(body, "addonName").unwrap_or_default();
            let Some(default) = default_version(&name) else {
                return Err(invalid(format!(
                    "Addon {name} specified is not supported in {} cluster version",
                    st.clusters[cluster].version
                )));
            };
            let version = str_of(body, "addonVersion").unwrap_or_else(|| default.to_string());
            check_version(&name, &version)?;
            if st.clusters[cluster].addons.contains_key(&name) {
                return Err(in_use(format!(
                    "Addon already exists with name: {name} for cluster {cluster}"
                )));
            }
            st.counter += 1;
            let arn = format!(
                "arn:aws:eks:{REGION}:{ACCOUNT}:addon/{cluster}/{name}/{:08x}-0000-0000-0000-000000000000",
                st.counter
            );
            st.tags.insert(arn.clone(), tags_of(body));
            let addon = json!({
                "addonName": name,
                "clusterName": cluster,
                "status": "CREATING",
                "addonVersion": version,
                "health": { "issues": [] },
                "addonArn": arn,
                "createdAt": now(),
                "modifiedAt": now(),
                "serviceAccountRoleArn": body.get("serviceAccountRoleArn").cloned().unwrap_or(Value::Null),
                "configurationValues": body.get("configurationValues").cloned().unwrap_or(Value::Null),
                "podIdentityAssociations": [],
            });
            let c = st.clusters.get_mut(cluster).unwrap();
            c.addons.insert(name.clone(), addon.clone());
            c.addon_pending.insert(name, 1);
            Ok(json!({ "addon": with_tags(st, addon, "addonArn") }))
        }
        ("GET", [name]) => {
            let c = st.clusters.get_mut(cluster).unwrap();
            let Some(addon) = c.addons.get_mut(*name) else {
                return Err(not_found(format!(
                    "No addon: {name} found in cluster: {cluster}"
                )));
            };
            match c.addon_pending.get_mut(*name) {
                Some(0) | None => addon["status"] = json!("ACTIVE"),
                Some(n) => *n -= 1,
            }
            let addon = addon.clone();
            Ok(json!({ "addon": with_tags(st, addon, "addonArn") }))
        }
        ("POST", [name, "update"]) => {
            let name = name.to_string();
            let version = str_of(body, "addonVersion");
            if let Some(v) = &version {
                check_version(&name, v)?;
            }
            st.counter += 1;
            let id = st.counter;
            let c = st.clusters.get_mut(cluster).unwrap();
            let Some(addon) = c.addons.get_mut(&name) else {
                return Err(not_found(format!(
                    "No addon: {name} found in cluster: {cluster}"
                )));
            };
            let mut params = Vec::new();
            if let Some(v) = version {
                addon["addonVersion"] = json!(v);
                params.push(json!({"type": "AddonVersion", "value": v}));
            }
            for (key, ty) in [
                ("serviceAccountRoleArn", "ServiceAccountRoleArn"),
                ("configurationValues", "ConfigurationValues"),
            ] {
                if let Some(v) = body.get(key) {
                    // An empty string clears the value.
                    addon[key] = if v.as_str() == Some("") {
                        Value::Null
                    } else {
                        v.clone()
                    };
                    params.push(json!({"type": ty, "value": v}));
                }
            }
            addon["status"] = json!("UPDATING");
            addon["modifiedAt"] = json!(now());
            c.addon_pending.insert(name, 1);
            Ok(json!({ "update": {
                "id": format!("{id:08x}-1111-1111-1111-111111111111"),
                "status": "InProgress",
                "type": "AddonUpdate",
                "params": params,
                "createdAt": now(),
                "errors": [],
            }}))
        }
        ("DELETE", [name]) => {
            let _preserve = query.iter().any(|(k, v)| k == "preserve" && v == "true");
            let c = st.clusters.get_mut(cluster).unwrap();
            let Some(mut addon) = c.addons.remove(*name) else {
                return Err(not_found(format!(
                    "No addon: {name} found in cluster: {cluster}"
                )));
            };
            addon["status"] = json!("DELETING");
            Ok(json!({ "addon": with_tags(st, addon, "addonArn") }))
        }
        _ => Err(not_found(format!("no add-on route for {method}"))),
    }
}

fn check_version(name: &str, version: &str) -> Result<(), Failure> {
    let known = CATALOGUE
        .iter()
        .any(|(n, vs)| *n == name && vs.contains(&version));
    if known {
        Ok(())
    } else {
        Err(invalid(format!(
            "Addon version specified is not supported: {version} for addon {name}"
        )))
    }
}

fn access(
    st: &mut State,
    method: &str,
    cluster: &str,
    rest: &[&str],
    body: &Value,
) -> Result<Value, Failure> {
    let missing = |p: &str| {
        not_found(format!(
            "The specified access entry resource {p} could not be found in cluster {cluster}."
        ))
    };
    match (method, rest) {
        ("GET", []) => {
            let arns: Vec<&String> = st.clusters[cluster].access_entries.keys().collect();
            Ok(json!({ "accessEntries": arns }))
        }
        ("POST", []) => {
            let principal = str_of(body, "principalArn").unwrap_or_default();
            if !principal.starts_with("arn:") {
                return Err(invalid(format!(
                    "The principalArn parameter format is not valid: {principal}"
                )));
            }
            if st.clusters[cluster].access_entries.contains_key(&principal) {
                return Err(in_use(
                    "The specified access entry resource is already in use on this cluster.".into(),
                ));
            }
            let ty = str_of(body, "type").unwrap_or_else(|| "STANDARD".into());
            st.counter += 1;
            let role = principal.rsplit('/').next().unwrap_or_default().to_string();
            let arn = format!(
                "arn:aws:eks:{REGION}:{ACCOUNT}:access-entry/{cluster}/role/{ACCOUNT}/{role}/{:08x}",
                st.counter
            );
            st.tags.insert(arn.clone(), tags_of(body));
            let username = str_of(body, "username").unwrap_or_else(|| {
                format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{{{{SessionName}}}}")
            });
            let entry = json!({
                "clusterName": cluster,
                "principalArn": principal,
                "kubernetesGroups": body.get("kubernetesGroups").cloned().unwrap_or(json!([])),
                "accessEntryArn": arn,
                "createdAt": now(),
                "modifiedAt": now(),
                "username": username,
                "type": ty,
            });
            st.clusters
                .get_mut(cluster)
                .unwrap()
                .access_entries
                .insert(principal, entry.clone());
            Ok(json!({ "accessEntry": with_tags(st, entry, "accessEntryArn") }))
        }
        ("GET", [principal]) => {
            let Some(e) = st.clusters[cluster].access_entries.get(*principal).cloned() else {
                return Err(missing(principal));
            };
            Ok(json!({ "accessEntry": with_tags(st, e, "accessEntryArn") }))
        }
        ("POST", [principal]) => {
            let c = st.clusters.get_mut(cluster).unwrap();
            let Some(e) = c.access_entries.get_mut(*principal) else {
                return Err(missing(principal));
            };
            if let Some(g) = body.get("kubernetesGroups") {
                e["kubernetesGroups"] = g.clone();
            }
            if let Some(u) = body.get("username") {
                e["username"] = u.clone();
            }
            e["modifiedAt"] = json!(now());
            let e = e.clone();
            Ok(json!({ "accessEntry": with_tags(st, e, "accessEntryArn") }))
        }
        ("DELETE", [principal]) => {
            let c = st.clusters.get_mut(cluster).unwrap();
            if c.access_entries.remove(*principal).is_none() {
                return Err(missing(principal));
            }
            c.policies.remove(*principal);
            Ok(json!({}))
        }
        (_, [principal, "access-policies", tail @ ..]) => {
            let principal = principal.to_string();
            if !st.clusters[cluster].access_entries.contains_key(&principal) {
                return Err(missing(&principal));
            }
            let c = st.clusters.get_mut(cluster).unwrap();
            let policies = c.policies.entry(principal.clone()).or_default();
            match (method, tail) {
                ("GET", []) => Ok(json!({
                    "clusterName": cluster,
                    "principalArn": principal,
                    "associatedAccessPolicies": policies.values().cloned().collect::<Vec<_>>(),
                })),
                ("POST", []) => {
                    let policy = str_of(body, "policyArn").unwrap_or_default();
                    if !policy.starts_with("arn:aws:eks::aws:cluster-access-policy/") {
                        return Err(invalid(format!(
                            "The policyArn parameter is not valid: {policy}"
                        )));
                    }
                    let scope = body.get("accessScope").cloned().unwrap_or(json!({}));
                    let created = policies
                        .get(&policy)
                        .and_then(|p| p.get("associatedAt").cloned())
                        .unwrap_or(json!(now()));
                    let assoc = json!({
                        "policyArn": policy,
                        "accessScope": scope,
                        "associatedAt": created,
                        "modifiedAt": now(),
                    });
                    policies.insert(policy, assoc.clone());
                    Ok(json!({
                        "clusterName": cluster,
                        "principalArn": principal,
                        "associatedAccessPolicy": assoc,
                    }))
                }
                ("DELETE", policy) => {
                    let policy = policy.join("/");
                    if policies.remove(&policy).is_none() {
                        return Err(not_found(format!(
                            "The specified policy {policy} is not associated with {principal}."
                        )));
                    }
                    Ok(json!({}))
                }
                _ => Err(not_found(format!("no access-policy route for {method}"))),
            }
        }
        _ => Err(not_found(format!("no access-entry route for {method}"))),
    }
}

fn pod_identity(
    st: &mut State,
    method: &str,
    cluster: &str,
    rest: &[&str],
    query: &[(String, String)],
    body: &Value,
) -> Result<Value, Failure> {
    let missing = |id: &str| {
        not_found(format!(
            "The specified pod identity association {id} could not be found in cluster {cluster}."
        ))
    };
    let summary = |a: &Value| {
        json!({
            "clusterName": a["clusterName"],
            "namespace": a["namespace"],
            "serviceAccount": a["serviceAccount"],
            "associationArn": a["associationArn"],
            "associationId": a["associationId"],
            "ownerArn": Value::Null,
        })
    };
    match (method, rest) {
        ("GET", []) => {
            let want = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.clone());
            let (ns, sa) = (want("namespace"), want("serviceAccount"));
            let list: Vec<Value> = st.clusters[cluster]
                .pod_identities
                .values()
                .filter(|a| ns.as_deref().is_none_or(|n| a["namespace"] == n))
                .filter(|a| sa.as_deref().is_none_or(|s| a["serviceAccount"] == s))
                .map(summary)
                .collect();
            Ok(json!({ "associations": list }))
        }
        ("POST", []) => {
            let ns = str_of(body, "namespace").unwrap_or_default();
            let sa = str_of(body, "serviceAccount").unwrap_or_default();
            let role = str_of(body, "roleArn").unwrap_or_default();
            if !role.starts_with("arn:") {
                return Err(invalid(format!("roleArn is not a valid ARN: {role}")));
            }
            let taken = st.clusters[cluster]
                .pod_identities
                .values()
                .any(|a| a["namespace"] == ns.as_str() && a["serviceAccount"] == sa.as_str());
            if taken {
                return Err(in_use(format!(
                    "Association already exists for service account {sa} in namespace {ns}"
                )));
            }
            st.counter += 1;
            let id = format!("a-{:017x}", st.counter);
            let arn =
                format!("arn:aws:eks:{REGION}:{ACCOUNT}:podidentityassociation/{cluster}/{id}");
            st.tags.insert(arn.clone(), tags_of(body));
            let assoc = json!({
                "clusterName": cluster,
                "namespace": ns,
                "serviceAccount": sa,
                "roleArn": role,
                "associationArn": arn,
                "associationId": id,
                "createdAt": now(),
                "modifiedAt": now(),
                "disableSessionTags": body.get("disableSessionTags").cloned().unwrap_or(json!(false)),
                "targetRoleArn": body.get("targetRoleArn").cloned().unwrap_or(Value::Null),
            });
            st.clusters
                .get_mut(cluster)
                .unwrap()
                .pod_identities
                .insert(id, assoc.clone());
            Ok(json!({ "association": with_tags(st, assoc, "associationArn") }))
        }
        ("GET", [id]) => {
            let Some(a) = st.clusters[cluster].pod_identities.get(*id).cloned() else {
                return Err(missing(id));
            };
            Ok(json!({ "association": with_tags(st, a, "associationArn") }))
        }
        ("POST", [id]) => {
            let c = st.clusters.get_mut(cluster).unwrap();
            let Some(a) = c.pod_identities.get_mut(*id) else {
                return Err(missing(id));
            };
            for key in ["roleArn", "disableSessionTags", "targetRoleArn"] {
                if let Some(v) = body.get(key) {
                    a[key] = v.clone();
                }
            }
            a["modifiedAt"] = json!(now());
            let a = a.clone();
            Ok(json!({ "association": with_tags(st, a, "associationArn") }))
        }
        ("DELETE", [id]) => {
            let c = st.clusters.get_mut(cluster).unwrap();
            let Some(a) = c.pod_identities.remove(*id) else {
                return Err(missing(id));
            };
            Ok(json!({ "association": with_tags(st, a, "associationArn") }))
        }
        _ => Err(not_found(format!("no pod identity route for {method}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes_in_paths() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fadmin"),
            "arn:aws:iam::1:role/admin"
        );
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn unknown_cluster_is_not_found() {
        let mut st = State::default();
        let err = handle(&mut st, "GET", "/clusters/x/addons", &[], &Value::Null).unwrap_err();
        assert_eq!(err.0, 404);
        assert_eq!(err.1, "ResourceNotFoundException");
    }

    #[test]
    fn proxy_answers_only_what_moto_lacks() {
        assert!(fake_route("/clusters/c/addons"));
        assert!(fake_route(
            "/clusters/c/access-entries/arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa"
        ));
        assert!(fake_route("/addons/supported-versions"));
        assert!(fake_route(
            "/tags/arn%3Aaws%3Aeks%3Aus-east-1%3A1%3Aaddon%2Fc%2Fvpc-cni%2Fx"
        ));
        assert!(!fake_route("/clusters"));
        assert!(!fake_route("/clusters/c"));
        assert!(!fake_route("/clusters/c/node-groups"));
        assert!(!fake_route(
            "/tags/arn%3Aaws%3Aeks%3Aus-east-1%3A1%3Acluster%2Fc"
        ));
    }

    #[test]
    fn each_cluster_gets_its_own_issuer() {
        let reply = |name: &str| {
            let body = format!(
                r#"{{"cluster":{{"name":"{name}","identity":{{"oidc":{{"issuer":"https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEFGHIJ"}}}}}}}}"#
            );
            let mut r = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes();
            unique_issuer(&mut r);
            String::from_utf8(r).unwrap()
        };
        let (a, b) = (reply("a"), reply("b"));
        assert_ne!(a, b);
        assert_eq!(a.len(), b.len());
        assert!(!a.contains("ABCDEFGHIJ"), "{a}");
        assert_eq!(a, reply("a"), "stable for one cluster");
    }
}
